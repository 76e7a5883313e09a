"""The page state of a running scan or replay: routes, venues and episodes as people read them.

:class:`ScanState` reads the scanner (and, for ``scan``, the feed driver's venue states) when the server
asks for a snapshot, a few times a second, never per event: it costs the scanner nothing between
snapshots except one deque append per closed episode (it is an episode listener). Every figure is
formatted by ``arbscan.report.format``. The latest net bps, amount and profit of a live route are
``spread.evaluate`` on the route's current books (the books the scanner last evaluated it on); why a
route is not live is the funnel counter that grew most since the previous snapshot.

:class:`WorkersState` is the same for the parent of ``scan --workers N``: venues, books and open
episodes from the shards' status reports, route funnels and closed episodes from the run's journal.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from arbscan import spread
from arbscan.funding.transfers import figures
from arbscan.model import BookSnapshot, Market, Route
from arbscan.report.format import age, amount, bps, money, utc, when
from arbscan.web.journal import NOT_LIVE_REASONS, episode_row, quote_of

__all__ = ["ScanState", "WorkersState", "venue_rows", "episode_of", "shard_rows", "heartbeat_rows"]

_BPS = Decimal(10000)
_ONE = Decimal(1)


def _gross(buy: BookSnapshot | None, sell: BookSnapshot | None) -> Decimal | None:
    if buy is None or sell is None or not buy.asks or not sell.bids:
        return None
    ask = buy.asks[0][0]
    return _BPS * (sell.bids[0][0] - ask) / ask


def _top_net(buy: BookSnapshot | None, sell: BookSnapshot | None, bm: Market | None, sm: Market | None) -> Decimal | None:
    """Net bps of the best levels after both taker fees (negative: how far the route is from paying)."""
    if buy is None or sell is None or bm is None or sm is None or not buy.asks or not sell.bids:
        return None
    cost = buy.asks[0][0] * (_ONE + bm.taker_fee)
    return _BPS * (sell.bids[0][0] * (_ONE - sm.taker_fee) - cost) / cost


def episode_of(ep: Any, now: float) -> dict[str, Any]:
    """An open or closed ``Episode`` as the Episodes page lists it."""
    end = ep.closed_at if ep.closed_at is not None else now
    return episode_row(ep.symbol, ep.buy_exchange, ep.sell_exchange, ep.first_seen, end, ep.peak.net_bps,
                       ep.peak.net_profit, ep.observations, ep.close_reason or "", ep.close_detail or "", now)


def venue_rows(venues: Mapping[str, Any], books: Iterable[tuple[tuple[str, str], float]], feeds: Mapping[tuple[str, str], Any],
               now: float, adapters: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """One row per venue: state, each book's age, reconnects, checksum failures, untrue lines refused,
    rate-limit headroom (when the adapter tells it), the last error in one line."""
    per_book: dict[str, list[dict[str, Any]]] = {}
    for (ex, sym), ts in sorted(books):
        feed = feeds.get((ex, sym))
        per_book.setdefault(ex, []).append({"symbol": sym, "age": age(now - ts),
                                            "events": f"{feed.events:,}" if feed is not None else ""})
    refused: dict[str, int] = {}
    for (ex, _), feed in feeds.items():
        refused[ex] = refused.get(ex, 0) + getattr(feed, "rejected", 0)
    names = sorted(set(venues) | set(per_book))
    rows = []
    for name in names:
        st = venues.get(name)
        state = "replaying" if st is None else ("up" if st.reachable else "unreachable" if st.reachable is False
                                                else "connecting")
        headroom = ""
        adapter = (adapters or {}).get(name)
        ask = getattr(adapter, "rate_limit_headroom", None)
        if callable(ask):
            try:
                told = ask()
                headroom = str(told) if told else ""
            except Exception:  # noqa: BLE001 - a figure the adapter cannot give is left out, never the page
                headroom = ""
        limited = getattr(st, "rate_limited", 0) if st is not None else 0
        error = (getattr(st, "last_error", None) or "") if st is not None else ""
        rows.append({
            "name": name, "state": state, "books": per_book.get(name, []),
            "reconnects": getattr(st, "failures", 0) if st is not None else 0,
            "checksum_failures": getattr(st, "checksum_failures", 0) if st is not None else 0,
            "untrue_refused": refused.get(name, 0),
            "rate_limit": headroom or (f"limited {limited} times" if limited else "not reported"),
            "last_error": error.splitlines()[0][:300] if error else "",
            "down_for": age(time.monotonic() - st.down_since) if st is not None and st.down_since else "",
        })
    return rows


def shard_rows(statuses: Mapping[int, Any], count: int | None = None) -> list[dict[str, Any]]:
    """One row per shard of ``scan --workers N`` (its latest status report): what the Venues page's Shards table shows.

    With ``count`` (the N), a shard that has not reported (starting, or started again after it died) has its row
    too, saying so, rather than missing from the table."""
    of = max(count or 0, len(statuses), max(statuses, default=-1) + 1)
    rows = []
    for index in range(of):
        st = statuses.get(index)
        figures = {"events": "", "books": "", "open_episodes": ""} if st is None else {
            "events": f"{st.events:,}", "books": f"{len(st.books):,}", "open_episodes": f"{len(st.open_episodes):,}"}
        rows.append({"shard": f"{index + 1}/{of}", "run": "", "host": "this host", "pid": "",
                     "mode": "no report yet" if st is None else "scan", "up": "", **figures, "held": ""})
    return rows


def heartbeat_rows(beats: Iterable[Mapping[str, Any]], now: float) -> list[dict[str, Any]]:
    """One row per shard alive on the bus (its heartbeat, as ``arbscan status --bus`` reads them)."""
    rows = []
    for b in beats:
        since = b.get("since")
        rows.append({"shard": f"{b.get('shard', '?')}/{b.get('of', '?')}", "run": str(b.get("run", "")),
                     "host": str(b.get("host", "")), "pid": str(b.get("pid", "")), "mode": str(b.get("mode", "")),
                     "up": age(max(0.0, now - float(since))) if isinstance(since, (int, float)) else "",
                     "events": f"{int(b.get('events', 0) or 0):,}", "books": "", "open_episodes": "",
                     "held": f"{int(b.get('held_rows', 0) or 0):,}"})
    return rows


class ScanState:
    """The routes, venues and episodes of one process's scanner, on demand (``pages``).

    ``driver`` (a ``LiveDriver``, None for a replay) gives the venues' states and the clock; a replay's
    clock is its file's. ``adapters`` may tell their rate-limit headroom (``rate_limit_headroom()``).
    """

    def __init__(self, scanner: Any, driver: Any = None, adapters: Mapping[str, Any] | None = None,
                 recent: int = 200) -> None:
        self.scanner = scanner
        self.driver = driver
        self.adapters = adapters or {}
        self.recent: deque[Any] = deque(maxlen=recent)
        self._counts: dict[Route, tuple[int, ...]] = {}
        self._reason: dict[Route, str] = {}
        scanner.episode_listeners.append(self)

    # the scanner's episode listener: only closed episodes are kept, for the timeline
    def episode_opened(self, episode: Any, t: float) -> None:
        """Nothing: open episodes are read from the scanner at snapshot time."""

    def episode_peak(self, episode: Any, t: float) -> None:
        """Nothing: the peak is read from the episode at snapshot time."""

    def episode_closed(self, episode: Any, t: float) -> None:
        """Keep the closed episode for the Episodes page's timeline (the newest ``recent``)."""
        self.recent.append(episode)

    def now(self) -> float:
        """The event clock (the driver's, advanced by local time; a replay's latest event time)."""
        if self.driver is not None:
            return self.driver.now()
        return self.scanner.clock if self.scanner.clock is not None else time.time()

    def _why(self, route: Route, funnel: Any) -> str:
        counts = tuple(getattr(funnel, c) for c in NOT_LIVE_REASONS)
        prev = self._counts.get(route)
        self._counts[route] = counts
        if prev is None:
            if any(counts):
                self._reason[route] = NOT_LIVE_REASONS[max(range(len(counts)), key=counts.__getitem__)]
        elif counts != prev:
            grown = [c - p for c, p in zip(counts, prev)]
            self._reason[route] = NOT_LIVE_REASONS[max(range(len(grown)), key=grown.__getitem__)]
        return self._reason.get(route, "")

    def routes(self, now: float) -> list[dict[str, Any]]:
        """Every route: latest gross and net bps, net after transfer, executable amount, profit, why not live, book ages."""
        s = self.scanner
        books = dict(list(s.books.items()))  # one C-level copy: atomic under the GIL (replay serves from a thread)
        markets = dict(list(s.markets.items()))
        open_eps = dict(list(s.episodes.items()))
        balances = s.balances
        rows = []
        for route, funnel in list(s.funnels.items()):
            symbol, buy_ex, sell_ex = route
            buy, sell = books.get((buy_ex, symbol)), books.get((sell_ex, symbol))
            bm, sm = markets.get((buy_ex, symbol)), markets.get((sell_ex, symbol))
            live = route in open_eps
            reason = "" if live else self._why(route, funnel)
            if live:
                self._why(route, funnel)
            quote = bm.quote if bm is not None else quote_of(symbol)
            net = _top_net(buy, sell, bm, sm)
            opp = None
            if (live or reason in ("below_min_bps", "transfer_blocked")) and None not in (buy, sell, bm, sm):
                opp = spread.evaluate(buy, sell, bm, sm, balances.get(buy_ex, {}).get(bm.quote),
                                      balances.get(sell_ex, {}).get(sm.base))
            after = ""
            if opp is not None:
                net = opp.net_bps
                if s.funding:
                    fig = figures(s.transfers.verdict(route), opp, s.rebalance_batch)
                    after = money(fig.net_after_transfer, quote) if fig.net_after_transfer is not None else "unknown"
            step = max(bm.amount_step, sm.amount_step) if bm is not None and sm is not None else None
            rows.append({
                "symbol": symbol, "buy": buy_ex, "sell": sell_ex, "live": live,
                "gross_bps": bps(_gross(buy, sell)), "gross_label": "latest",
                "net_bps": bps(net), "net_after_transfer": after,
                "amount": amount(opp.amount, step) if opp is not None else "",
                "profit": money(opp.net_profit, quote) if opp is not None else "",
                "reason": reason.replace("_", " "),
                "buy_age": age(now - buy.ts) if buy is not None else "",
                "sell_age": age(now - sell.ts) if sell is not None else "",
                "evaluated": funnel.evaluated, "live_count": funnel.live, "episodes": funnel.episodes,
            })
        rows.sort(key=lambda r: (not r["live"], r["symbol"], r["buy"], r["sell"]))
        return rows

    def venues(self, now: float) -> list[dict[str, Any]]:
        """The Venues page's rows."""
        s = self.scanner
        venues = dict(self.driver.venues) if self.driver is not None else {}
        books = [(k, b.ts) for k, b in list(s.books.items())]
        return venue_rows(venues, books, dict(list(s.feeds.items())), now, self.adapters)

    def episodes(self, now: float) -> dict[str, Any]:
        """Open episodes (longest first) and the recent closed ones (newest first)."""
        open_eps = sorted(list(self.scanner.episodes.values()), key=lambda e: e.first_seen)
        return {"open": [episode_of(e, now) for e in open_eps],
                "recent": [episode_of(e, now) for e in reversed(list(self.recent))]}

    def pages(self) -> dict[str, Any]:
        """Everything the scanner pages show, taken now."""
        now = self.now()
        s = self.scanner
        return {"clock": when(now, time.time()) if self.driver is not None else utc(now),
                "counts": {"events": f"{s.events:,}", "live_evaluations": f"{s.live_evaluations:,}",
                           "open_episodes": f"{len(s.episodes):,}", "closed_episodes": f"{s.episodes_closed:,}"},
                "routes": self.routes(now), "venues": self.venues(now), "episodes": self.episodes(now)}


class WorkersState:
    """The parent of ``scan --workers N``: every shard's venues, books and open episodes (their status reports),
    and the routes' funnels from the journal the shards write (``journal_routes``, passed in by the server)."""

    def __init__(self, view: Any, journal_routes: Callable[[float], list[dict[str, Any]]] | None = None) -> None:
        self.view = view
        self.journal_routes = journal_routes

    def now(self) -> float:
        return self.view.now()

    def pages(self) -> dict[str, Any]:
        """The shards' merged view, taken now."""
        v = self.view
        v.refresh()
        now = v.now()
        totals = v.scanner
        open_eps = list(totals.episodes.values())
        live_routes = {(e.symbol, e.buy_exchange, e.sell_exchange): e for e in open_eps}
        routes = self.journal_routes(now) if self.journal_routes is not None else []
        known = {(r["symbol"], r["buy"], r["sell"]) for r in routes}
        for r in routes:
            key = (r["symbol"], r["buy"], r["sell"])
            if key in live_routes:
                ep = live_routes[key]
                quote = quote_of(ep.symbol)
                r.update(live=True, reason="", net_bps=bps(ep.peak.net_bps), amount=amount(ep.peak.amount),
                         profit=money(ep.peak.net_profit, quote))
        for key, ep in live_routes.items():
            if key not in known:
                routes.append({"symbol": ep.symbol, "buy": ep.buy_exchange, "sell": ep.sell_exchange, "live": True,
                               "gross_bps": "", "gross_label": "", "net_bps": bps(ep.peak.net_bps),
                               "net_after_transfer": "", "amount": amount(ep.peak.amount),
                               "profit": money(ep.peak.net_profit, quote_of(ep.symbol)), "reason": "",
                               "buy_age": "", "sell_age": "", "evaluated": 0, "live_count": ep.observations,
                               "episodes": 0})
        ts = {k: b.ts for k, b in totals.books.items()}
        for r in routes:
            b, s = ts.get((r["buy"], r["symbol"])), ts.get((r["sell"], r["symbol"]))
            r["buy_age"] = age(now - b) if b is not None else r["buy_age"]
            r["sell_age"] = age(now - s) if s is not None else r["sell_age"]
        routes.sort(key=lambda r: (not r["live"], r["symbol"], r["buy"], r["sell"]))
        return {"clock": when(now, time.time()),
                "counts": {"events": f"{totals.events:,}", "live_evaluations": f"{totals.live_evaluations:,}",
                           "open_episodes": f"{len(open_eps):,}", "closed_episodes": f"{totals.episodes_closed:,}",
                           "shards": f"{len(v.statuses):,}"},
                "routes": routes, "venues": venue_rows(v.venues, list(ts.items()), {}, now),
                "shards": shard_rows(v.statuses, v.count),
                "episodes": {"open": [episode_of(e, now) for e in sorted(open_eps, key=lambda e: e.first_seen)],
                             "recent": None}}
