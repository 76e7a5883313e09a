// arbscan web view: reads /api/state once, then follows /api/events (server-sent events) and redraws the page.
// Everything is drawn with DOM calls and textContent: no HTML from the state is ever parsed.
"use strict";

(function () {
  var page = document.body.getAttribute("data-page");
  var state = null;
  var filterText = "";
  var SVG = "http://www.w3.org/2000/svg";

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function signClass(text) {
    if (typeof text !== "string" || !text) return "";
    if (text.charAt(0) === "-") return "neg";
    if (text.charAt(0) === "+") return "pos";
    return "";
  }

  function fillTable(id, rows, cells, rowClass) {
    var table = document.getElementById(id);
    if (!table) return;
    var body = table.tBodies[0];
    var fresh = document.createElement("tbody");
    if (!rows || rows.length === 0) {
      var tr = el("tr");
      var td = el("td", "none yet", "empty");
      td.colSpan = table.tHead.rows[0].cells.length;
      tr.appendChild(td);
      fresh.appendChild(tr);
    }
    (rows || []).forEach(function (row) {
      var tr = el("tr");
      if (rowClass) tr.className = rowClass(row) || "";
      cells(row).forEach(function (c) {
        var td = (c && typeof c === "object") ? el("td", c.text, c.cls) : el("td", c, signClass(c));
        tr.appendChild(td);
      });
      fresh.appendChild(tr);
    });
    table.replaceChild(fresh, body);
  }

  function chart(container, series, opts) {
    // series: [{name, points: [[t, y], ...]}]; a line per series, time on x
    var box = typeof container === "string" ? document.getElementById(container) : container;
    if (!box) return;
    while (box.firstChild) box.removeChild(box.firstChild);
    var all = [];
    series.forEach(function (s) { s.points.forEach(function (p) { all.push(p); }); });
    if (all.length === 0) { box.appendChild(el("p", opts.empty || "nothing to draw yet", "empty")); return; }
    var W = 720, H = 200, L = 60, R = 10, T = 10, B = 24;
    var t0 = Math.min.apply(null, all.map(function (p) { return p[0]; }));
    var t1 = Math.max.apply(null, all.map(function (p) { return p[0] + (p[2] || 0); }));
    var y0 = Math.min(0, Math.min.apply(null, all.map(function (p) { return p[1]; })));
    var y1 = Math.max(0, Math.max.apply(null, all.map(function (p) { return p[1]; })));
    if (t1 === t0) t1 = t0 + 1;
    if (y1 === y0) y1 = y0 + 1;
    function x(t) { return L + (W - L - R) * (t - t0) / (t1 - t0); }
    function y(v) { return T + (H - T - B) * (1 - (v - y0) / (y1 - y0)); }
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.setAttribute("width", W);
    svg.setAttribute("height", H);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", opts.label || "chart");
    function line(x1, y1_, x2, y2, color, width) {
      var l = document.createElementNS(SVG, "line");
      l.setAttribute("x1", x1); l.setAttribute("y1", y1_); l.setAttribute("x2", x2); l.setAttribute("y2", y2);
      l.setAttribute("stroke", color); l.setAttribute("stroke-width", width || 1);
      svg.appendChild(l);
    }
    function text(tx, ty, s, anchor) {
      var t = document.createElementNS(SVG, "text");
      t.setAttribute("x", tx); t.setAttribute("y", ty); t.setAttribute("text-anchor", anchor || "start");
      t.textContent = s;
      svg.appendChild(t);
    }
    line(L, y(0), W - R, y(0), "#999");
    text(L - 4, y(y1) + 4, y1.toFixed(2), "end");
    text(L - 4, y(y0) + 4, y0.toFixed(2), "end");
    text(L, H - 6, new Date(t0 * 1000).toISOString().slice(11, 19) + " UTC");
    text(W - R, H - 6, new Date(t1 * 1000).toISOString().slice(11, 19) + " UTC", "end");
    var colors = ["#1f5fbf", "#c4461a", "#2a8a3e", "#7b3fa6", "#a67c00"];
    series.forEach(function (s, i) {
      var c = colors[i % colors.length];
      if (opts.bars) {
        s.points.forEach(function (p) {
          var r = document.createElementNS(SVG, "rect");
          var w = Math.max(2, x(p[0] + (p[2] || 0)) - x(p[0]));
          r.setAttribute("x", x(p[0])); r.setAttribute("width", w);
          r.setAttribute("y", Math.min(y(p[1]), y(0))); r.setAttribute("height", Math.max(1, Math.abs(y(p[1]) - y(0))));
          r.setAttribute("fill", c); r.setAttribute("opacity", "0.7");
          svg.appendChild(r);
        });
      } else {
        var poly = document.createElementNS(SVG, "polyline");
        poly.setAttribute("fill", "none"); poly.setAttribute("stroke", c); poly.setAttribute("stroke-width", "2");
        poly.setAttribute("points", s.points.map(function (p) { return x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1); }).join(" "));
        svg.appendChild(poly);
      }
      text(L + 8 + i * 90, T + 12, s.name);
    });
    box.appendChild(svg);
  }

  function renderSummary() {
    var s = document.getElementById("summary");
    var parts = [state.title || ""];
    if (state.run) parts.push("run " + state.run.id + " (" + state.run.status + ")");
    if (state.clock) parts.push("clock " + state.clock);
    if (state.counts) {
      parts.push(state.counts.events + " book events");
      parts.push(state.counts.open_episodes + " open episodes");
      if (state.counts.shards) parts.push(state.counts.shards + " shards");
    }
    s.textContent = parts.filter(function (p) { return p; }).join(" · ");
  }

  function renderRoutes() {
    var f = filterText.toLowerCase();
    var rows = (state.routes || []).filter(function (r) {
      return !f || r.symbol.toLowerCase().indexOf(f) >= 0 || r.buy.toLowerCase().indexOf(f) >= 0 ||
        r.sell.toLowerCase().indexOf(f) >= 0;
    });
    fillTable("routes", rows, function (r) {
      return [{text: r.symbol + " buy " + r.buy + " sell " + r.sell}, {text: r.live ? "live" : ""}, r.gross_bps,
        r.net_bps, r.net_after_transfer, r.amount, r.profit, {text: r.reason, cls: "text"}, r.buy_age, r.sell_age];
    }, function (r) { return r.live ? "live" : ""; });
  }

  function renderVenues() {
    fillTable("venues", state.venues, function (v) {
      var books = v.books.map(function (b) { return b.symbol + " " + b.age; }).join(", ");
      return [{text: v.name}, {text: v.state + (v.down_for ? " for " + v.down_for : "")}, {text: books, cls: "text"},
        String(v.reconnects), String(v.checksum_failures), String(v.untrue_refused), {text: v.rate_limit},
        {text: v.last_error, cls: "text"}];
    }, function (v) { return v.state; });
    var box = document.getElementById("shards-box");
    var shards = state.shards;
    box.hidden = !shards;
    if (!shards) return;
    document.getElementById("shards-note").textContent =
      state.shards_note || (shards.length ? "" : "no shard alive (no heartbeat in the last 5 s)");
    fillTable("shards", shards, function (r) {
      return [{text: r.shard}, {text: r.run}, {text: r.host}, r.pid, {text: r.mode}, r.up, r.events, r.books,
        r.open_episodes, r.held];
    });
  }

  function renderEpisodes() {
    var ep = state.episodes || {open: [], recent: []};
    var recent = (ep.recent || []).concat(ep.open || []);
    chart("episode-chart", [{name: "peak net bps", points: recent.map(function (e) { return [e.t, e.b, e.d]; })}],
      {bars: true, label: "episodes: peak net bps over time", empty: "no episode yet"});
    fillTable("open-episodes", ep.open, function (e) {
      return [{text: e.route}, e.opened, e.duration, e.peak_bps, e.peak_profit, e.observations];
    });
    fillTable("recent-episodes", ep.recent, function (e) {
      return [{text: e.route}, e.opened, e.duration, e.peak_bps, e.peak_profit, e.observations, {text: e.closed, cls: "text"}];
    });
  }

  function smallTable(headers, rows, cells) {
    var t = el("table");
    var head = el("thead");
    var tr = el("tr");
    headers.forEach(function (h) { tr.appendChild(el("th", h)); });
    head.appendChild(tr);
    t.appendChild(head);
    var body = el("tbody");
    if (!rows.length) {
      var r0 = el("tr"); var td = el("td", "none", "empty"); td.colSpan = headers.length; r0.appendChild(td); body.appendChild(r0);
    }
    rows.forEach(function (row) {
      var r = el("tr");
      cells(row).forEach(function (c) { r.appendChild(el("td", c, signClass(c))); });
      body.appendChild(r);
    });
    t.appendChild(body);
    return t;
  }

  function renderTrading() {
    var box = document.getElementById("strategies");
    var fresh = el("div");
    fresh.id = "strategies";
    var strategies = state.trading || [];
    if (!strategies.length) fresh.appendChild(el("p", "no strategy is trading in this run", "empty"));
    strategies.forEach(function (s) {
      var sec = el("section", null, "strategy");
      sec.setAttribute("data-strategy", s.strategy);
      sec.appendChild(el("h2", s.strategy + " (" + s.mode + ")"));
      var line = s.realised.map(function (r) { return r.pnl + " " + r.quote; }).join(", ") || "nothing realised yet";
      sec.appendChild(el("p", "Realised PnL after all fees: " + line + " · " + s.trades + " trades", "bottom-line"));
      var c = el("div", null, "chart");
      sec.appendChild(c);
      chart(c, Object.keys(s.pnl_series).map(function (q) { return {name: q, points: s.pnl_series[q]}; }),
        {label: "realised PnL over time", empty: "no settled trade yet"});
      sec.appendChild(el("h3", "Outcomes"));
      sec.appendChild(smallTable(["Outcome", "Trades"], s.outcomes, function (o) { return [o.status, String(o.count)]; }));
      sec.appendChild(el("h3", "Balances"));
      sec.appendChild(smallTable(["Venue", "Asset", "Free", "As of"], s.balances, function (b) { return [b.exchange, b.asset, b.free, b.ts]; }));
      sec.appendChild(el("h3", "Imbalances (inventory left by trades)"));
      sec.appendChild(smallTable(["Asset", "Amount"], s.imbalances, function (b) { return [b.asset, b.amount]; }));
      sec.appendChild(el("h3", "Halts"));
      sec.appendChild(smallTable(["Set", "Reason", "Cleared", "By"], s.halts, function (h) { return [h.set_at, h.reason, h.cleared, h.cleared_by]; }));
      sec.appendChild(el("h3", "Recent trades"));
      sec.appendChild(smallTable(["Route", "Opened", "Outcome", "Amount", "Expected", "Realised"], s.recent,
        function (t) { return [t.route, t.opened, t.status, t.amount, t.expected, t.realised]; }));
      fresh.appendChild(sec);
    });
    box.parentNode.replaceChild(fresh, box);
    var a = state.alerts || {destinations: []};
    fillTable("alerts", a.destinations, function (d) { return [{text: d.name}, String(d.sent), String(d.failed), String(d.dropped)]; });
  }

  function render() {
    if (!state) return;
    renderSummary();
    if (page === "routes") renderRoutes();
    else if (page === "venues") renderVenues();
    else if (page === "episodes") renderEpisodes();
    else if (page === "trading") renderTrading();
  }

  function setStatus(text, down) {
    var s = document.getElementById("status");
    s.textContent = text;
    s.className = down ? "status down" : "status";
  }

  function take(data) {
    state = JSON.parse(data);
    render();
    setStatus("updated " + new Date(state.taken * 1000).toISOString().slice(11, 19) + " UTC", false);
  }

  function follow() {
    if (!window.EventSource) return;
    var es = new EventSource("/api/events");
    es.onmessage = function (e) { take(e.data); };
    es.onerror = function () { setStatus("disconnected; retrying…", true); };
  }

  document.addEventListener("DOMContentLoaded", function () {
    var section = document.getElementById(page + "-page");
    if (section) section.hidden = false;
    var nav = document.querySelector('[data-nav="' + page + '"]');
    if (nav) nav.className = "current";
    var f = document.getElementById("filter");
    if (f) f.addEventListener("input", function () { filterText = f.value.trim(); render(); });
    fetch("/api/state", {credentials: "same-origin"}).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.text();
    }).then(take).catch(function (e) { setStatus("state not read (" + e.message + ")", true); });
    follow();
  });
})();
