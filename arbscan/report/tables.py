"""The scanner's report tables, computed from the journal's typed frames: runs, routes, funnel, venues, episodes.

Every table is a ``pandas.DataFrame`` whose columns are :data:`TABLES`' list for it, followed by
any count column the journal has and this report does not know (funnel and venues). Money is
summed exactly as ``Decimal`` from the journal's TEXT values, in :data:`WIDE`, a context in which
no journal value can overflow or trap.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import TYPE_CHECKING, Any

from arbscan.journal.schema import TRADE_STATUSES
from arbscan.model import Route
from arbscan.report.format import WIDE, num
from arbscan.report.read import FUNNEL_COUNTS, FUNNEL_COUNTS_LATER, ReportFilter, Snapshot
from arbscan.funding.transfers import ranking_edge

if TYPE_CHECKING:
    import pandas as pd

    from arbscan.report.charts import Chart

__all__ = ["TABLES", "TRADE_STATUSES", "Report", "build_tables", "empty_tables", "frame", "dsum", "round_to", "quote"]

_FUNNEL = FUNNEL_COUNTS
_NOT_LIVE = ("not_crossed", "fees", "depth_or_minimums", "balance", "below_min_bps")

TABLES: dict[str, tuple[str, ...]] = {
    "runs": ("run_id", "mode", "source", "status", "started", "ended", "events", "first_event", "last_event",
             "episodes", "trades"),
    "routes": ("symbol", "buy_exchange", "sell_exchange", "quote", "episodes", "observations",
               "net_profit_total", "net_profit_median", "net_profit_max", "net_bps_median", "net_bps_max",
               "gross_profit_total", "fees_total", "fee_share", "duration_median_s", "duration_p90_s",
               "duration_max_s", "live_s", "covered_s", "live_share", "trades", "realised_pnl_total",
               "net_after_transfer_total", "transfer_blocked_episodes"),
    "funnel": ("symbol", "buy_exchange", "sell_exchange", *_FUNNEL, "main_reason_not_live", *FUNNEL_COUNTS_LATER),
    "venues": ("exchange", "symbol", "runs", "events", "first_event", "last_event", "span_s", "events_per_s",
               "mean_gap_ms", "max_gap_ms", "gaps_over_max_age", "max_book_age_ms", "rejected", "off_step"),
    "episodes": ("run_id", "symbol", "buy_exchange", "sell_exchange", "first_seen", "last_seen", "duration_s",
                 "observations", "amount", "buy_vwap", "sell_vwap", "net_profit", "net_bps", "close_reason",
                 "close_detail", "transfer", "net_after_transfer"),
    "trading": ("mode", "strategy", "symbol", "quote", "trades", *(f"status_{s}" for s in TRADE_STATUSES),
                "fills", "buy_filled_total", "sell_filled_total", "expected_profit_total", "realised_pnl_total",
                "legs_imbalanced", "flattened", "kept", "flatten_amount_total", "flatten_pnl_total",
                "inventory_left"),
    "imbalances": ("trade_id", "run_id", "mode", "strategy", "symbol", "opened", "closed", "status", "buy_filled",
                   "sell_filled", "leg_difference", "imbalance_action", "flatten_amount", "flatten_pnl",
                   "imbalance", "realised_pnl", "detail"),
    "balances": ("run_id", "mode", "strategy", "exchange", "asset", "start", "final", "change", "updates",
                 "as_of"),
    "cross": ("symbol", "buy_exchange", "sell_symbol", "sell_exchange", "conversion", "evaluated", "live", "episodes",
              "net_profit_total", "net_bps_max", "conversion_rate_median", "conversion_age_ms_max", "no_edge",
              "parity_only", "depth_or_minimums", "balance", "below_min_bps", "stale", "conversion_stale",
              "untrue_book", "max_edge_bps"),
}
"""Every report table and its columns, in order: the CSV headers (documented in docs/reports.md)."""

_FEE_SHARE_STEP = Decimal("0.0001")
_BPS_STEP = Decimal("0.01")



@dataclass(slots=True)
class Report:
    """Everything a report shows: one DataFrame per table of :data:`TABLES` and the charts."""

    db: str
    filter: ReportFilter
    tables: dict[str, pd.DataFrame]
    charts: list[Chart] = field(default_factory=list)
    empty: bool = False  # nothing journaled at all
    notes: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)  # arbscan.alerts.alerts_summary's lines


# -- small helpers -----------------------------------------------------------------------------


def dsum(values: Iterable[Decimal | None]) -> Decimal:
    """The exact sum of the values that are not None (in :data:`WIDE`)."""
    with localcontext(WIDE):
        total = Decimal(0)
        for v in values:
            if v is not None:
                total += v
        return total


def _dmedian(values: Sequence[Decimal]) -> Decimal | None:
    if not values:
        return None
    s = sorted(values)
    n = len(s)
    if n % 2:
        return s[n // 2]
    with localcontext(WIDE):
        return (s[n // 2 - 1] + s[n // 2]) / 2


def round_to(value: Decimal | None, step: Decimal) -> Decimal | None:
    """``value`` rounded half-even to a multiple of ``step``; a value too large for its fraction to matter as is."""
    if value is None or not value.is_finite() or value.adjusted() > 100:
        return value
    with localcontext(WIDE):
        return value.quantize(step, ROUND_HALF_EVEN)


def _ratio(a: float, b: float) -> float | None:
    try:
        return a / b if b else None
    except OverflowError:  # a count too large for a float: no ratio to show
        return None


def quote(symbol: str) -> str:
    """The quote currency of a unified symbol ('BTC/USD' -> 'USD'); '' when it has none."""
    return symbol.split("/", 1)[1] if "/" in symbol else ""


def _overlap(a0: float, a1: float, b0: float | None, b1: float | None) -> float:
    lo = a0 if b0 is None else max(a0, b0)
    hi = a1 if b1 is None else min(a1, b1)
    return max(0.0, hi - lo)


def _union_length(spans: Iterable[tuple[float, float]]) -> float:
    """The time covered by the union of ``spans`` (overlapping spans count once)."""
    total, end = 0.0, None
    for a, b in sorted(spans):
        if end is None or a > end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total


def _by(records: Iterable[dict[str, Any]], *keys: str) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    return groups


def _total(rows: Iterable[dict[str, Any]], column: str) -> int:
    return sum(r[column] for r in rows if r.get(column) is not None)


def frame(name: str, rows: list[dict[str, Any]], extra: Sequence[str] = ()) -> pd.DataFrame:
    """Rows as table ``name`` of :data:`TABLES` (then the ``extra`` columns), in that order, whatever the rows hold."""
    import pandas as pd

    return pd.DataFrame(rows, columns=[*TABLES[name], *extra])


def empty_tables() -> dict[str, pd.DataFrame]:
    """Every table of :data:`TABLES` with its columns and no rows."""
    return {name: frame(name, []) for name in TABLES}


# -- tables ------------------------------------------------------------------------------------


def _run_spans(venue_stats: list[dict[str, Any]]) -> dict[int, tuple[float, float]]:
    spans: dict[int, tuple[float, float]] = {}
    for (run_id,), g in _by(venue_stats, "run_id").items():
        first = [t for t in (num(v["first_ts"]) for v in g) if t is not None]
        last = [t for t in (num(v["last_ts"]) for v in g) if t is not None]
        if run_id is not None and first and last:
            spans[run_id] = (min(first), max(last))
    return spans


def _selected_runs(snap: Snapshot, flt: ReportFilter, spans: dict[int, tuple[float, float]]) -> set[int]:
    """Runs the per-run totals (funnel, venue stats) come from: chosen by --run, event span touching the window."""
    f = snap.frames
    ids = {i for i in f["runs"]["id"] if i is not None}
    ids |= {i for name in ("funnel", "venue_stats") for i in f[name]["run_id"] if i is not None}
    if snap.run_ids is not None:
        ids &= set(snap.run_ids)
    if snap.symbols is not None:  # only the runs that saw the symbol (the frames hold its rows only)
        ids &= {i for name in ("funnel", "venue_stats", "opportunities", "trades") for i in f[name]["run_id"]}
    out = set()
    for rid in ids:
        span = spans.get(rid)  # unknown span (no feed stats written yet): kept
        if span is None or ((flt.since is None or span[1] >= flt.since) and (flt.until is None or span[0] < flt.until)):
            out.add(rid)
    return out


def _episodes_table(opps: list[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for r in opps:
        first, last = num(r["first_seen"]), num(r["last_seen"])
        rows.append({
            "run_id": r["run_id"], "symbol": r["symbol"], "buy_exchange": r["buy_exchange"],
            "sell_exchange": r["sell_exchange"], "first_seen": first, "last_seen": last,
            "duration_s": last - first if first is not None and last is not None else None,
            "observations": r["observations"], "amount": r["amount"], "buy_vwap": r["buy_vwap"],
            "sell_vwap": r["sell_vwap"], "net_profit": r["net_profit"], "net_bps": r["net_bps"],
            "close_reason": r["close_reason"], "close_detail": r["close_detail"],
            "transfer": r["transfer"], "net_after_transfer": r["net_after_transfer"],
        })
    return frame("episodes", rows)


def _route_row(route: Route, mine: list[dict[str, Any]], trades: list[dict[str, Any]],
               feeds: dict[tuple[int, str, str], tuple[float, float]], runs: set[int], flt: ReportFilter
               ) -> dict[str, Any]:
    import numpy as np

    symbol, buy, sell = route
    profits = [r["net_profit"] for r in mine if r["net_profit"] is not None]
    bps = [r["net_bps"] for r in mine if r["net_bps"] is not None]
    fees: list[Decimal] = []
    gross: list[Decimal] = []
    with localcontext(WIDE):
        for r in mine:
            bf, sf, np_ = r["buy_fee"], r["sell_fee"], r["net_profit"]
            if bf is not None and sf is not None and np_ is not None:
                fees.append(bf + sf)
                gross.append(np_ + bf + sf)  # (sell_proceeds + sell_fee) - (buy_cost - buy_fee)
    spans = [(a, b) for a, b in ((num(r["first_seen"]), num(r["last_seen"])) for r in mine)
             if a is not None and b is not None]
    durations = [b - a for a, b in spans]
    live_s = sum(_overlap(a, b, flt.since, flt.until) for a, b in spans)
    covered = 0.0
    live_covered = 0.0  # live time inside the covered windows: live_share's numerator, never above covered
    known = False
    for rid in sorted(runs):
        fb, fs = feeds.get((rid, buy, symbol)), feeds.get((rid, sell, symbol))
        if fb is None or fs is None:
            continue
        known = True
        lo, hi = max(fb[0], fs[0]), min(fb[1], fs[1])
        if hi > lo:
            covered += _overlap(lo, hi, flt.since, flt.until)
            lo = lo if flt.since is None else max(lo, flt.since)
            hi = hi if flt.until is None else min(hi, flt.until)
            clipped = [(max(a, lo), min(b, hi)) for r in mine if r["run_id"] == rid
                       for a, b in [(num(r["first_seen"]), num(r["last_seen"]))]
                       if a is not None and b is not None and min(b, hi) > max(a, lo)]
            live_covered += _union_length(clipped)
    gross_total, fee_total = dsum(gross), dsum(fees)
    with localcontext(WIDE):
        fee_share = round_to(fee_total / gross_total, _FEE_SHARE_STEP) if gross_total > 0 else None
    return {
        "symbol": symbol, "buy_exchange": buy, "sell_exchange": sell, "quote": quote(symbol),
        "episodes": len(mine), "observations": _total(mine, "observations"),
        "net_profit_total": dsum(profits), "net_profit_median": _dmedian(profits),
        "net_profit_max": max(profits) if profits else None,
        "net_bps_median": round_to(_dmedian(bps), _BPS_STEP),
        "net_bps_max": round_to(max(bps), _BPS_STEP) if bps else None,
        "gross_profit_total": gross_total, "fees_total": fee_total, "fee_share": fee_share,
        "duration_median_s": float(np.median(durations)) if durations else None,
        "duration_p90_s": float(np.quantile(durations, 0.9)) if durations else None,  # linear, as pandas'
        "duration_max_s": max(durations) if durations else None,
        "live_s": live_s, "covered_s": covered if known else None,
        "live_share": _ratio(live_covered, covered) if known else None,
        "trades": len(trades), "realised_pnl_total": dsum(t["realised_pnl"] for t in trades) if trades else None,
        # what the episodes earned once the inventory is moved back (an episode without the figure counts its net profit)
        "net_after_transfer_total": (dsum(ranking_edge(r["net_profit"], r["net_after_transfer"]) for r in mine
                                          if r["net_profit"] is not None)
                                     if any(r["net_after_transfer"] is not None for r in mine) else None),
        "transfer_blocked_episodes": sum(1 for r in mine if r["transfer"] == "blocked"),
    }


def _routes_table(opps: list[dict[str, Any]], funnel: list[dict[str, Any]], venue_stats: list[dict[str, Any]],
                  trades: list[dict[str, Any]], runs: set[int], flt: ReportFilter) -> pd.DataFrame:
    keys = ("symbol", "buy_exchange", "sell_exchange")
    by_route = _by(opps, *keys)
    traded = _by(trades, *keys)  # paper and live trades of the route, both modes
    routes = set(by_route) | set(traded) | {tuple(f[k] for k in keys) for f in funnel if f["run_id"] in runs}
    feeds: dict[tuple[int, str, str], tuple[float, float]] = {}
    for v in venue_stats:
        first, last = num(v["first_ts"]), num(v["last_ts"])
        if v["run_id"] in runs and first is not None and last is not None:
            feeds[(v["run_id"], v["exchange"], v["symbol"])] = (first, last)
    rows = [_route_row(route, by_route.get(route, []), traded.get(route, []), feeds, runs, flt) for route in sorted(routes)]
    return frame("routes", rows)


def _funnel_table(funnel: list[dict[str, Any]], runs: set[int], extra: Sequence[str]) -> pd.DataFrame:
    rows = []
    groups = _by((f for f in funnel if f["run_id"] in runs), "symbol", "buy_exchange", "sell_exchange")
    for (symbol, buy, sell), g in sorted(groups.items()):
        row: dict[str, Any] = {"symbol": symbol, "buy_exchange": buy, "sell_exchange": sell}
        for name in _FUNNEL:
            row[name] = _total(g, name)
        worst = max(_NOT_LIVE, key=lambda n: (row[n], -_NOT_LIVE.index(n)))  # ties: the earlier reason
        row["main_reason_not_live"] = worst if row[worst] > 0 else None
        row.update({name: _total(g, name) for name in FUNNEL_COUNTS_LATER})
        row.update({name: _total(g, name) for name in extra})
        rows.append(row)
    return frame("funnel", rows, extra)


def _venues_table(venue_stats: list[dict[str, Any]], runs: set[int], extra: Sequence[str]) -> pd.DataFrame:
    rows = []
    groups = _by((v for v in venue_stats if v["run_id"] in runs), "exchange", "symbol")
    for (exchange, symbol), g in sorted(groups.items()):
        events = _total(g, "events")
        spans = [(a, b, v["events"] or 0) for a, b, v in ((num(v["first_ts"]), num(v["last_ts"]), v) for v in g)
                 if a is not None and b is not None]
        span_s = sum(b - a for a, b, _ in spans)
        intervals = sum(max(e - 1, 0) for _, _, e in spans)  # gaps inside runs; none across runs
        gaps = [x for x in (num(v["max_gap_ms"]) for v in g) if x is not None]
        ages = [v["max_book_age_ms"] for v in g if v["max_book_age_ms"] is not None]
        row = {
            "exchange": exchange, "symbol": symbol, "runs": len({v["run_id"] for v in g}), "events": events,
            "first_event": min((a for a, _, _ in spans), default=None),
            "last_event": max((b for _, b, _ in spans), default=None),
            "span_s": span_s if spans else None,
            "events_per_s": _ratio(events, span_s) if span_s > 0 else None,
            "mean_gap_ms": _ratio(1000.0 * span_s, intervals) if intervals else None,
            "max_gap_ms": max(gaps, default=None),
            "gaps_over_max_age": _total(g, "gaps_over_max_age"),
            "max_book_age_ms": max(ages, default=None),
            "rejected": _total(g, "rejected"),
            "off_step": _total(g, "off_step"),
        }
        row.update({name: _total(g, name) for name in extra})
        rows.append(row)
    return frame("venues", rows, extra)


def _runs_table(runs_frame: list[dict[str, Any]], spans: dict[int, tuple[float, float]], runs: set[int],
                episodes: pd.DataFrame, trades: list[dict[str, Any]]) -> pd.DataFrame:
    episode_runs = Counter(i for i in episodes["run_id"] if i is not None)
    trade_runs = Counter(t["run_id"] for t in trades if t["run_id"] is not None)
    ids = set(runs) | set(episode_runs) | set(trade_runs)
    by_id = {x["id"]: x for x in runs_frame}
    rows = []
    for rid in sorted(ids):
        x = by_id.get(rid, {})
        span = spans.get(rid)
        rows.append({
            "run_id": rid, "mode": x.get("mode"), "source": x.get("source"), "status": x.get("status"),
            "started": num(x.get("started")), "ended": num(x.get("ended")), "events": x.get("events"),
            "first_event": span[0] if span else None, "last_event": span[1] if span else None,
            "episodes": episode_runs.get(rid, 0), "trades": trade_runs.get(rid, 0),
        })
    return frame("runs", rows)


def build_tables(snap: Snapshot, flt: ReportFilter) -> dict[str, pd.DataFrame]:
    """The scanner's tables (runs, routes, funnel, venues, episodes) from a journal :class:`Snapshot`."""
    records = {name: f.to_dict("records") for name, f in snap.frames.items()}
    spans = _run_spans(records["venue_stats"])
    runs = _selected_runs(snap, flt, spans)
    episodes = _episodes_table(records["opportunities"])
    return {
        "runs": _runs_table(records["runs"], spans, runs, episodes, records["trades"]),
        "routes": _routes_table(records["opportunities"], records["funnel"], records["venue_stats"], records["trades"],
                                runs, flt),
        "funnel": _funnel_table(records["funnel"], runs, snap.extra.get("funnel", ())),
        "venues": _venues_table(records["venue_stats"], runs, snap.extra.get("venue_stats", ())),
        "episodes": episodes,
        "cross": _cross_table(records.get("cross_episodes", []), records.get("cross_funnel", [])),
    }


def _cross_table(episodes: list[dict[str, Any]], funnels: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per cross-quote route: its funnel summed over runs, its episodes' figures (profit in the buy quote)."""
    key_cols = ("symbol", "buy_exchange", "sell_symbol", "sell_exchange", "conversion")
    rows: dict[tuple, dict[str, Any]] = {}
    counts = ("evaluated", "live", "episodes", "no_edge", "parity_only", "depth_or_minimums", "balance",
              "below_min_bps", "stale", "conversion_stale", "untrue_book")
    for f in funnels:
        row = rows.setdefault(tuple(f[c] for c in key_cols), {c: f[c] for c in key_cols} | dict.fromkeys(counts, 0))
        for c in counts:
            row[c] += f.get(c) or 0
        edge = f.get("max_edge_bps")
        if edge is not None and (row.get("max_edge_bps") is None or edge > row["max_edge_bps"]):
            row["max_edge_bps"] = edge
    per: dict[tuple, list[dict[str, Any]]] = {}
    for e in episodes:
        per.setdefault(tuple(e[c] for c in key_cols), []).append(e)
    for key, eps in per.items():
        row = rows.setdefault(key, dict(zip(key_cols, key)) | dict.fromkeys(counts, 0))
        row["net_profit_total"] = dsum(e["net_profit"] for e in eps)
        bps = [e["net_bps"] for e in eps if e["net_bps"] is not None]
        row["net_bps_max"] = max(bps) if bps else None
        rates = sorted(e["conversion_rate"] for e in eps if e["conversion_rate"] is not None)
        row["conversion_rate_median"] = _dmedian(rates)
        ages = [e["conversion_age_ms"] for e in eps if e["conversion_age_ms"] is not None]
        row["conversion_age_ms_max"] = max(ages) if ages else None
    return frame("cross", [rows[k] for k in sorted(rows)])
