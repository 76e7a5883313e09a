"""The report tables, computed from the journal's frames: runs, routes, funnel, venues, episodes, trading.

Every table is a ``pandas.DataFrame`` whose columns are :data:`TABLES`' list for it. Money is
summed exactly as ``Decimal`` from the journal's TEXT values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import TYPE_CHECKING, Any

from arbscan.report.read import ReportFilter, dec, isnull
from arbscan.store import TRADE_STATUSES

if TYPE_CHECKING:
    import pandas as pd

    from arbscan.report.charts import Chart

__all__ = ["TABLES", "TRADE_STATUSES", "Report", "build_tables", "empty_tables", "frame", "dsum", "quote"]

_FUNNEL = ("evaluated", "crossed_before_fees", "live", "not_crossed", "fees", "depth_or_minimums", "balance",
           "below_min_bps", "stale", "episodes")
_NOT_LIVE = ("not_crossed", "fees", "depth_or_minimums", "balance", "below_min_bps")

TABLES: dict[str, tuple[str, ...]] = {
    "runs": ("run_id", "mode", "source", "status", "started", "ended", "events", "first_event", "last_event",
             "episodes", "trades"),
    "routes": ("symbol", "buy_exchange", "sell_exchange", "quote", "episodes", "observations",
               "net_profit_total", "net_profit_median", "net_profit_max", "net_bps_median", "net_bps_max",
               "gross_profit_total", "fees_total", "fee_share", "duration_median_s", "duration_p90_s",
               "duration_max_s", "live_s", "covered_s", "live_share"),
    "funnel": ("symbol", "buy_exchange", "sell_exchange", *_FUNNEL, "main_reason_not_live"),
    "venues": ("exchange", "symbol", "runs", "events", "first_event", "last_event", "span_s", "events_per_s",
               "mean_gap_ms", "max_gap_ms", "gaps_over_max_age", "max_book_age_ms"),
    "episodes": ("run_id", "symbol", "buy_exchange", "sell_exchange", "first_seen", "last_seen", "duration_s",
                 "observations", "amount", "buy_vwap", "sell_vwap", "net_profit", "net_bps", "close_reason",
                 "close_detail"),
    "trading": ("mode", "strategy", "symbol", "quote", "trades", *(f"status_{s}" for s in TRADE_STATUSES),
                "fills", "buy_filled_total", "sell_filled_total", "expected_profit_total", "realised_pnl_total",
                "legs_imbalanced", "flattened", "kept", "flatten_amount_total", "flatten_pnl_total",
                "inventory_left"),
    "imbalances": ("trade_id", "run_id", "mode", "strategy", "symbol", "opened", "closed", "status", "buy_filled",
                   "sell_filled", "leg_difference", "imbalance_action", "flatten_amount", "flatten_pnl",
                   "imbalance", "realised_pnl", "detail"),
    "balances": ("run_id", "mode", "strategy", "exchange", "asset", "start", "final", "change", "updates",
                 "as_of"),
}
"""Every report table and its columns, in order: the CSV headers (documented in the README's report section)."""

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


# -- small helpers -----------------------------------------------------------------------------


def dsum(values: Iterable[Decimal | None]) -> Decimal:
    """The exact sum of the values that are not None (120 digits: no journal figure comes near)."""
    with localcontext() as ctx:
        ctx.prec = 120  # far beyond any journal figure: sums stay exact
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
    with localcontext() as ctx:
        ctx.prec = 120
        return (s[n // 2 - 1] + s[n // 2]) / 2


def _bps(value: Decimal | None) -> Decimal | None:
    """Basis points shown to 0.01 bps (half-even): the journal keeps them to 28 digits."""
    return None if value is None else value.quantize(_BPS_STEP, ROUND_HALF_EVEN)


def quote(symbol: str) -> str:
    """The quote currency of a unified symbol ('BTC/USD' -> 'USD'); '' when it has none."""
    return symbol.split("/", 1)[1] if "/" in symbol else ""


def _overlap(a0: float, a1: float, b0: float | None, b1: float | None) -> float:
    lo = a0 if b0 is None else max(a0, b0)
    hi = a1 if b1 is None else min(a1, b1)
    return max(0.0, hi - lo)


# -- tables ------------------------------------------------------------------------------------


def _run_spans(venue_stats: pd.DataFrame) -> dict[int, tuple[float, float]]:
    spans: dict[int, tuple[float, float]] = {}
    if not len(venue_stats):
        return spans
    for run_id, g in venue_stats.groupby("run_id"):
        first = g["first_ts"].dropna()
        last = g["last_ts"].dropna()
        if len(first) and len(last):
            spans[int(run_id)] = (float(first.min()), float(last.max()))
    return spans


def _selected_runs(raw: dict[str, pd.DataFrame], run_ids: list[int] | None, flt: ReportFilter,
                   spans: dict[int, tuple[float, float]]) -> set[int]:
    """Runs the per-run totals (funnel, venue stats) come from: chosen by --run, event span touching the window."""
    ids: set[int] = set()
    for frame, col in (("runs", "id"), ("funnel", "run_id"), ("venue_stats", "run_id")):
        f = raw.get(frame)
        if f is not None and len(f):
            ids |= {int(i) for i in f[col].dropna()}
    if run_ids is not None:
        ids &= set(run_ids)
    if flt.symbol is not None:  # only the runs that saw the symbol
        seen: set[int] = set()
        for frame in ("funnel", "venue_stats", "opportunities", "trades"):
            f = raw.get(frame)
            if f is not None and len(f):
                seen |= {int(i) for i in f["run_id"].dropna()}
        ids &= seen
    out = set()
    for rid in ids:
        span = spans.get(rid)  # unknown span (no feed stats written yet): kept
        if span is None or ((flt.since is None or span[1] >= flt.since) and (flt.until is None or span[0] < flt.until)):
            out.add(rid)
    return out


def _episodes_table(opps: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for r in opps.itertuples(index=False):
        rows.append({
            "run_id": int(r.run_id) if not isnull(r.run_id) else None,
            "symbol": r.symbol, "buy_exchange": r.buy_exchange, "sell_exchange": r.sell_exchange,
            "first_seen": float(r.first_seen), "last_seen": float(r.last_seen),
            "duration_s": float(r.last_seen) - float(r.first_seen),
            "observations": int(r.observations),
            "amount": dec(r.amount, "opportunities.amount"),
            "buy_vwap": dec(r.buy_vwap, "opportunities.buy_vwap"),
            "sell_vwap": dec(r.sell_vwap, "opportunities.sell_vwap"),
            "net_profit": dec(r.net_profit, "opportunities.net_profit"),
            "net_bps": dec(r.net_bps, "opportunities.net_bps"),
            "close_reason": r.close_reason, "close_detail": r.close_detail,
        })
    return frame("episodes", rows)


def _routes_table(opps: pd.DataFrame, funnel: pd.DataFrame, venue_stats: pd.DataFrame, runs: set[int],
                  flt: ReportFilter) -> pd.DataFrame:
    import pandas as pd

    routes: set[tuple[str, str, str]] = set()
    if len(opps):
        routes |= set(zip(opps["symbol"], opps["buy_exchange"], opps["sell_exchange"]))
    if len(funnel):
        f = funnel[funnel["run_id"].isin(list(runs))]
        routes |= set(zip(f["symbol"], f["buy_exchange"], f["sell_exchange"]))
    feeds: dict[tuple[int, str, str], tuple[float, float]] = {}
    for v in venue_stats.itertuples(index=False) if len(venue_stats) else ():
        if int(v.run_id) in runs and not isnull(v.first_ts) and not isnull(v.last_ts):
            feeds[(int(v.run_id), v.exchange, v.symbol)] = (float(v.first_ts), float(v.last_ts))
    rows = []
    for symbol, buy, sell in sorted(routes):
        mine = opps[(opps["symbol"] == symbol) & (opps["buy_exchange"] == buy) & (opps["sell_exchange"] == sell)] \
            if len(opps) else opps
        profits = [d for d in (dec(v, "opportunities.net_profit") for v in mine.get("net_profit", ())) if d is not None]
        bps = [d for d in (dec(v, "opportunities.net_bps") for v in mine.get("net_bps", ())) if d is not None]
        fees: list[Decimal] = []
        gross: list[Decimal] = []
        for r in mine.itertuples(index=False):
            bf, sf = dec(r.buy_fee, "opportunities.buy_fee"), dec(r.sell_fee, "opportunities.sell_fee")
            np_ = dec(r.net_profit, "opportunities.net_profit")
            if bf is None or sf is None or np_ is None:
                continue
            fees.append(bf + sf)
            gross.append(np_ + bf + sf)  # (sell_proceeds + sell_fee) - (buy_cost - buy_fee)
        durations = pd.Series([float(a) - float(b) for a, b in zip(mine.get("last_seen", ()), mine.get("first_seen", ()))],
                              dtype=float)
        live_s = 0.0
        for a, b in zip(mine.get("first_seen", ()), mine.get("last_seen", ())):
            live_s += _overlap(float(a), float(b), flt.since, flt.until)
        covered = 0.0
        known = False
        for rid in sorted(runs):
            fb, fs = feeds.get((rid, buy, symbol)), feeds.get((rid, sell, symbol))
            if fb is None or fs is None:
                continue
            known = True
            lo, hi = max(fb[0], fs[0]), min(fb[1], fs[1])
            if hi > lo:
                covered += _overlap(lo, hi, flt.since, flt.until)
        gross_total, fee_total = dsum(gross), dsum(fees)
        rows.append({
            "symbol": symbol, "buy_exchange": buy, "sell_exchange": sell, "quote": quote(symbol),
            "episodes": len(mine),
            "observations": int(mine["observations"].sum()) if len(mine) else 0,
            "net_profit_total": dsum(profits),
            "net_profit_median": _dmedian(profits),
            "net_profit_max": max(profits) if profits else None,
            "net_bps_median": _bps(_dmedian(bps)),
            "net_bps_max": _bps(max(bps)) if bps else None,
            "gross_profit_total": gross_total,
            "fees_total": fee_total,
            "fee_share": (fee_total / gross_total).quantize(_FEE_SHARE_STEP, ROUND_HALF_EVEN) if gross_total > 0 else None,
            "duration_median_s": float(durations.median()) if len(durations) else None,
            "duration_p90_s": float(durations.quantile(0.9)) if len(durations) else None,
            "duration_max_s": float(durations.max()) if len(durations) else None,
            "live_s": live_s,
            "covered_s": covered if known else None,
            "live_share": (live_s / covered) if known and covered > 0 else None,
        })
    return frame("routes", rows)


def _funnel_table(funnel: pd.DataFrame, runs: set[int]) -> pd.DataFrame:
    if not len(funnel):
        return frame("funnel", [])
    f = funnel[funnel["run_id"].isin(list(runs))]
    rows = []
    for (symbol, buy, sell), g in sorted(f.groupby(["symbol", "buy_exchange", "sell_exchange"]), key=lambda kv: kv[0]):
        row: dict[str, Any] = {"symbol": symbol, "buy_exchange": buy, "sell_exchange": sell}
        for name in _FUNNEL:
            row[name] = int(g[name].fillna(0).sum()) if name in g else 0
        worst = max(_NOT_LIVE, key=lambda n: (row[n], -_NOT_LIVE.index(n)))  # ties: the earlier reason
        row["main_reason_not_live"] = worst if row[worst] > 0 else None
        rows.append(row)
    return frame("funnel", rows)


def _venues_table(venue_stats: pd.DataFrame, runs: set[int]) -> pd.DataFrame:
    if not len(venue_stats):
        return frame("venues", [])
    v = venue_stats[venue_stats["run_id"].isin(list(runs))]
    rows = []
    for (exchange, symbol), g in sorted(v.groupby(["exchange", "symbol"]), key=lambda kv: kv[0]):
        events = int(g["events"].fillna(0).sum())
        spans = [(float(a), float(b), int(e)) for a, b, e in zip(g["first_ts"], g["last_ts"], g["events"])
                 if not isnull(a) and not isnull(b)]
        span_s = sum(b - a for a, b, _ in spans)
        intervals = sum(max(e - 1, 0) for _, _, e in spans)  # gaps inside runs; none across runs
        rows.append({
            "exchange": exchange, "symbol": symbol, "runs": int(g["run_id"].nunique()), "events": events,
            "first_event": min((a for a, _, _ in spans), default=None),
            "last_event": max((b for _, b, _ in spans), default=None),
            "span_s": span_s if spans else None,
            "events_per_s": events / span_s if span_s > 0 else None,
            "mean_gap_ms": 1000.0 * span_s / intervals if intervals else None,
            "max_gap_ms": float(g["max_gap_ms"].max()) if g["max_gap_ms"].notna().any() else None,
            "gaps_over_max_age": int(g["gaps_over_max_age"].fillna(0).sum()),
            "max_book_age_ms": int(g["max_book_age_ms"].max()) if g["max_book_age_ms"].notna().any() else None,
        })
    return frame("venues", rows)


def _runs_table(raw: dict[str, pd.DataFrame], spans: dict[int, tuple[float, float]], runs: set[int],
                episodes: pd.DataFrame, trades: pd.DataFrame) -> pd.DataFrame:
    r = raw["runs"]
    ids = set(runs)
    if len(episodes):
        ids |= {int(i) for i in episodes["run_id"].dropna()}
    if len(trades):
        ids |= {int(i) for i in trades["run_id"].dropna()}
    by_id = {int(x["id"]): x for x in r.to_dict("records")} if len(r) else {}
    rows = []
    for rid in sorted(ids):
        x = by_id.get(rid, {})
        span = spans.get(rid)
        rows.append({
            "run_id": rid, "mode": x.get("mode"), "source": x.get("source"), "status": x.get("status"),
            "started": x.get("started"), "ended": x.get("ended"),
            "events": None if isnull(x.get("events")) else int(x["events"]),
            "first_event": span[0] if span else None, "last_event": span[1] if span else None,
            "episodes": int((episodes["run_id"] == rid).sum()) if len(episodes) else 0,
            "trades": int((trades["run_id"] == rid).sum()) if len(trades) else 0,
        })
    return frame("runs", rows)


def build_tables(raw: dict[str, pd.DataFrame], run_ids: list[int] | None, flt: ReportFilter) -> dict[str, pd.DataFrame]:
    """The scanner's tables (runs, routes, funnel, venues, episodes) from :func:`~arbscan.report.read.read_journal`'s frames."""
    spans = _run_spans(raw["venue_stats"])
    runs = _selected_runs(raw, run_ids, flt, spans)
    opps = raw["opportunities"]
    episodes = _episodes_table(opps)
    return {
        "runs": _runs_table(raw, spans, runs, episodes, raw["trades"]),
        "routes": _routes_table(opps, raw["funnel"], raw["venue_stats"], runs, flt),
        "funnel": _funnel_table(raw["funnel"], runs),
        "venues": _venues_table(raw["venue_stats"], runs),
        "episodes": episodes,
    }


def frame(name: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows as table ``name`` of :data:`TABLES`: its columns in order, whatever the rows hold."""
    import pandas as pd

    return pd.DataFrame(rows, columns=list(TABLES[name]))


def empty_tables() -> dict[str, pd.DataFrame]:
    """Every table of :data:`TABLES` with its columns and no rows."""
    return {name: frame(name, []) for name in TABLES}
