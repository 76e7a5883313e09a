"""The web view's pages read from a journal: trading and alerts of a run (live or ended), and for
``arbscan serve`` the routes, venues and episodes too.

Every function takes a read-only ``sqlite3`` connection and a run id and returns plain, JSON-ready
values with every number already formatted by ``arbscan.report.format`` (the raw float beside it only
where a chart needs a coordinate). Nothing here reads the ``runs.settings`` JSON, alert destinations'
URLs or any other secret: only counts, names and amounts.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from arbscan.journal.schema import FUNNEL_COUNTS, TRADE_STATUSES
from arbscan.report.format import age, amount, bps, money, route_label, utc, when

__all__ = ["connect", "latest_run", "event_clock", "run_info", "trading", "alerts", "journal_routes", "journal_venues",
           "journal_episodes", "quote_of", "NOT_LIVE_REASONS"]

NOT_LIVE_REASONS = tuple(c for c in FUNNEL_COUNTS if c not in ("evaluated", "crossed_before_fees", "live", "episodes"))
"""The funnel counters that say why a route was not live (``stale``, ``fees``, ``below_min_bps``, ...)."""

RECENT_EPISODES = 200
"""How many closed episodes the Episodes page lists (newest first)."""

CHART_POINTS = 500
"""At most this many points per realised-PnL line (the page draws them; older trades are thinned out)."""


def connect(path: str | Path) -> sqlite3.Connection:
    """A read-only connection (usable from any thread) to a journal another process may be writing (WAL)."""
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=5)
    conn.row_factory = sqlite3.Row
    return conn


def _has(conn: sqlite3.Connection, table: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone() is not None


def _dec(text: Any) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(str(text))
    except (InvalidOperation, ValueError):
        return None


def quote_of(symbol: str) -> str:
    """'USD' of 'BTC/USD' ('' when the symbol has no quote)."""
    return symbol.split("/", 1)[1].split(":", 1)[0] if "/" in symbol else ""


def latest_run(conn: sqlite3.Connection) -> int | None:
    """The newest run in the journal (None when there is none)."""
    if not _has(conn, "runs"):
        return None
    row = conn.execute("SELECT max(id) FROM runs").fetchone()
    return row[0] if row else None


def event_clock(conn: sqlite3.Connection, run_id: int) -> float:
    """The run's latest event time as the journal knows it (a replay's is its file's clock); wall time for a running
    scan, its end for an ended one."""
    r = conn.execute("SELECT mode, status, ended, started FROM runs WHERE id = ?", (run_id,)).fetchone()
    if r is None:
        return time.time()
    if r["mode"] != "replay":
        return time.time() if r["status"] == "running" or not r["ended"] else r["ended"]
    latest = [r["started"] or 0.0]
    for table, col in (("venue_stats", "last_ts"), ("opportunities", "last_seen"), ("trades", "closed")):
        if _has(conn, table):
            v = conn.execute(f"SELECT max({col}) FROM {table} WHERE run_id = ?", (run_id,)).fetchone()[0]
            if v is not None:
                latest.append(v)
    return max(latest[1:]) if len(latest) > 1 else latest[0]


def run_info(conn: sqlite3.Connection, run_id: int, now: float) -> dict[str, Any]:
    """The run's mode, status, start and end, as people read them (never its settings JSON)."""
    r = conn.execute("SELECT id, mode, source, status, started, ended, events FROM runs WHERE id = ?", (run_id,)).fetchone()
    if r is None:
        return {"id": run_id, "mode": "", "status": "unknown"}
    return {"id": r["id"], "mode": r["mode"], "source": r["source"] or "", "status": r["status"] or "",
            "started": when(r["started"], now), "ended": when(r["ended"], now) if r["ended"] else "",
            "events": f"{r['events']:,}" if r["events"] is not None else ""}


# -- trading -------------------------------------------------------------------------------------


def _thin(points: list[list[float]]) -> list[list[float]]:
    if len(points) <= CHART_POINTS:
        return points
    step = len(points) / CHART_POINTS
    return [points[int(i * step)] for i in range(CHART_POINTS - 1)] + [points[-1]]


def trading(conn: sqlite3.Connection, run_id: int, now: float) -> list[dict[str, Any]]:
    """Per strategy of the run: trades by outcome, realised PnL per quote (total and over time), balances,
    imbalances (base left as inventory) and halts.

    Realised PnL is the sum of ``trades.realised_pnl`` of the settled trades (after all fees), per quote.
    """
    if not _has(conn, "trades"):
        return []
    out: dict[tuple[str, str], dict[str, Any]] = {}
    pnl: dict[tuple[str, str], dict[str, Decimal]] = {}
    series: dict[tuple[str, str], dict[str, list[list[float]]]] = {}
    inventory: dict[tuple[str, str], dict[str, Decimal]] = {}
    statuses: dict[tuple[str, str], Counter[str]] = {}
    recent: dict[tuple[str, str], list[dict[str, Any]]] = {}
    rows = conn.execute("SELECT strategy, mode, symbol, buy_exchange, sell_exchange, opened, closed, status, "
                        "planned_amount, realised_pnl, imbalance, expected_profit FROM trades WHERE run_id = ? "
                        "ORDER BY coalesce(closed, opened), id", (run_id,)).fetchall()
    for r in rows:
        key = (r["strategy"] or "", r["mode"] or "")
        statuses.setdefault(key, Counter())[r["status"] or "unknown"] += 1
        quote = quote_of(r["symbol"] or "")
        realised = _dec(r["realised_pnl"])
        if realised is not None and r["status"] != "open":
            total = pnl.setdefault(key, {}).get(quote, Decimal(0)) + realised
            pnl[key][quote] = total
            series.setdefault(key, {}).setdefault(quote, []).append([r["closed"] or r["opened"], float(total)])
        imb = _dec(r["imbalance"])
        if imb:
            base = (r["symbol"] or "").split("/")[0]
            inventory.setdefault(key, {})[base] = inventory.setdefault(key, {}).get(base, Decimal(0)) + imb
        recent.setdefault(key, []).append({
            "route": route_label(r["symbol"] or "", r["buy_exchange"] or "", r["sell_exchange"] or ""),
            "opened": when(r["opened"], now), "status": r["status"] or "",
            "amount": amount(_dec(r["planned_amount"])), "expected": money(_dec(r["expected_profit"]), quote),
            "realised": money(realised, quote, sign=True), "quote": quote})
    balances: dict[tuple[str, str], dict[tuple[str, str], tuple[Decimal | None, float | None]]] = {}
    if _has(conn, "balances"):
        for b in conn.execute("SELECT strategy, mode, exchange, asset, free, ts FROM balances WHERE run_id = ? "
                              "ORDER BY id", (run_id,)):
            key = (b["strategy"] or "", b["mode"] or "")
            balances.setdefault(key, {})[(b["exchange"], b["asset"])] = (_dec(b["free"]), b["ts"])
    halts: list[dict[str, Any]] = []
    if _has(conn, "halts"):
        halts = [{"set_at": when(h["set_at"], now), "reason": h["reason"] or "",
                  "cleared": when(h["cleared_at"], now) if h["cleared_at"] else "",
                  "cleared_by": h["cleared_by"] or ""}
                 for h in conn.execute("SELECT set_at, reason, cleared_at, cleared_by FROM halts WHERE run_id = ? "
                                       "ORDER BY set_at DESC LIMIT 50", (run_id,))]
    for key in list(statuses) + [k for k in balances if k not in statuses]:
        strategy, mode = key
        counts = statuses.get(key, Counter())
        out[key] = {
            "strategy": strategy, "mode": mode, "trades": sum(counts.values()),
            "outcomes": [{"status": s, "count": counts[s]} for s in TRADE_STATUSES if counts[s]],
            "realised": [{"quote": q, "pnl": money(v, q, sign=True)} for q, v in sorted(pnl.get(key, {}).items())],
            "pnl_series": {q: _thin(p) for q, p in sorted(series.get(key, {}).items())},
            "balances": [{"exchange": ex, "asset": asset, "free": balance_text(free, asset), "ts": utc(ts)}
                         for (ex, asset), (free, ts) in sorted(balances.get(key, {}).items())],
            "imbalances": [{"asset": a, "amount": amount(v)} for a, v in sorted(inventory.get(key, {}).items()) if v],
            "recent": list(reversed(recent.get(key, [])[-20:])),
            "halts": halts,
        }
    return list(out.values())


_CASH = frozenset({"USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "USDT", "USDC", "DAI"})


def balance_text(free: Decimal | None, asset: str) -> str:
    """A balance: to the cent in a fiat or fiat-pegged asset, else every digit the journal holds."""
    return money(free, asset) if asset.upper() in _CASH else amount(free)


def alerts(conn: sqlite3.Connection, run_id: int) -> dict[str, Any]:
    """Alerts of the run by destination name: sent (also after a retry), failed, dropped. Names only, no URL."""
    if not _has(conn, "alerts"):
        return {"sent": 0, "failed": 0, "dropped": 0, "destinations": []}
    per: dict[str, Counter[str]] = {}
    for r in conn.execute("SELECT destination, status, COUNT(*) AS n FROM alerts WHERE run_id = ? "
                          "GROUP BY destination, status", (run_id,)):
        per.setdefault(r["destination"] or "", Counter())[r["status"] or ""] += r["n"]
    def sent(c: Counter[str]) -> int:
        return c["sent"] + c["retried"]
    return {"sent": sum(sent(c) for c in per.values()), "failed": sum(c["failed"] for c in per.values()),
            "dropped": sum(c["dropped"] for c in per.values()),
            "destinations": [{"name": n, "sent": sent(c), "failed": c["failed"], "dropped": c["dropped"]}
                             for n, c in sorted(per.items())]}


# -- the scanner's pages from a journal (arbscan serve, and the parent of --workers) ------------


def journal_routes(conn: sqlite3.Connection, run_id: int, now: float) -> list[dict[str, Any]]:
    """Every route's funnel of the run with its last episode's peak figures; the reason is its largest not-live count."""
    if not _has(conn, "funnel"):
        return []
    cols = {r[1] for r in conn.execute("PRAGMA table_info(funnel)")}
    last_ep: dict[tuple[str, str, str], sqlite3.Row] = {}
    if _has(conn, "opportunities"):
        for e in conn.execute("SELECT * FROM opportunities WHERE run_id = ? ORDER BY id", (run_id,)):
            last_ep[(e["symbol"], e["buy_exchange"], e["sell_exchange"])] = e
    out = []
    for f in conn.execute("SELECT * FROM funnel WHERE run_id = ?", (run_id,)):
        route = (f["symbol"], f["buy_exchange"], f["sell_exchange"])
        counts = {c: (f[c] or 0) for c in NOT_LIVE_REASONS if c in cols}
        reason = max(counts, key=lambda c: counts[c]) if any(counts.values()) else ""
        e = last_ep.get(route)
        quote = quote_of(f["symbol"])
        ep_cols = e.keys() if e is not None else ()
        out.append({
            "symbol": f["symbol"], "buy": f["buy_exchange"], "sell": f["sell_exchange"], "live": False,
            "gross_bps": bps(_dec(f["max_gross_bps"])) if "max_gross_bps" in cols else "",
            "gross_label": "max",
            "net_bps": bps(_dec(e["net_bps"])) if e is not None else "",
            "net_after_transfer": money(_dec(e["net_after_transfer"]), quote) if "net_after_transfer" in ep_cols else "",
            "amount": amount(_dec(e["amount"])) if e is not None else "",
            "profit": money(_dec(e["net_profit"]), quote) if e is not None else "",
            "reason": reason.replace("_", " "), "buy_age": "", "sell_age": "",
            "evaluated": f["evaluated"] or 0, "live_count": f["live"] or 0, "episodes": f["episodes"] or 0,
        })
    out.sort(key=lambda r: (-r["live_count"], r["symbol"], r["buy"], r["sell"]))
    return out


def journal_venues(conn: sqlite3.Connection, run_id: int, now: float) -> list[dict[str, Any]]:
    """Each venue's books of the run from ``venue_stats``: events, untrue lines refused, the last book's age."""
    if not _has(conn, "venue_stats"):
        return []
    cols = {r[1] for r in conn.execute("PRAGMA table_info(venue_stats)")}
    venues: dict[str, dict[str, Any]] = {}
    for v in conn.execute("SELECT * FROM venue_stats WHERE run_id = ? ORDER BY exchange, symbol", (run_id,)):
        d = venues.setdefault(v["exchange"], {"name": v["exchange"], "state": "ended", "books": [], "reconnects": "",
                                              "checksum_failures": "", "untrue_refused": 0, "rate_limit": "",
                                              "last_error": "", "events": 0})
        d["books"].append({"symbol": v["symbol"], "age": age(now - v["last_ts"]) if v["last_ts"] else "",
                           "events": f"{v['events'] or 0:,}", "max_gap": age((v["max_gap_ms"] or 0) / 1000)})
        d["untrue_refused"] += (v["rejected"] or 0) if "rejected" in cols else 0
        d["events"] += v["events"] or 0
    return list(venues.values())


def journal_episodes(conn: sqlite3.Connection, run_id: int, now: float, limit: int = RECENT_EPISODES) -> list[dict[str, Any]]:
    """The run's closed episodes, newest first: route, when, how long, peak net bps and profit, why it ended."""
    if not _has(conn, "opportunities"):
        return []
    rows = conn.execute("SELECT * FROM opportunities WHERE run_id = ? ORDER BY id DESC LIMIT ?", (run_id, limit))
    return [episode_row(e["symbol"], e["buy_exchange"], e["sell_exchange"], e["first_seen"], e["closed_at"] or e["last_seen"],
                        _dec(e["net_bps"]), _dec(e["net_profit"]), e["observations"], e["close_reason"] or "",
                        e["close_detail"] or "", now) for e in rows]


def episode_row(symbol: str, buy: str, sell: str, first: float, last: float | None, net_bps: Decimal | None,
                profit: Decimal | None, observations: int, reason: str, detail: str, now: float) -> dict[str, Any]:
    """One episode as the Episodes page lists it (and the chart's coordinates: start, duration, peak bps)."""
    quote = quote_of(symbol)
    end = last if last is not None else now
    return {"route": route_label(symbol, buy, sell), "symbol": symbol, "opened": when(first, now),
            "duration": age(end - first), "peak_bps": bps(net_bps), "peak_profit": money(profit, quote),
            "observations": f"{observations:,}", "closed": (reason + (f" ({detail.replace('_', ' ')})" if detail else "")),
            "t": first, "d": max(0.0, end - first), "b": float(net_bps) if net_bps is not None else 0.0}
