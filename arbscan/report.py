"""Reports over the SQLite journal: route profitability, episode durations, the funnel, feed quality, trading.

The only module that imports pandas. :func:`build_report` reads a journal read-only (it works
while a scanner is still writing it: WAL, one read transaction for a consistent snapshot) and
returns a :class:`Report`: one ``pandas.DataFrame`` per table (columns fixed by :data:`TABLES`)
and the charts (:class:`Chart`, PNG bytes plus the plotted series). :func:`render_text`,
:func:`write_csv` and :func:`render_html` turn it into the terminal report, one CSV per table and
one self-contained HTML page with the charts embedded as base64 PNGs (opportunities and peak net
bps over time per route, episode durations, the route funnel, cumulative paper/live PnL).

Definitions (also in ``docs/readme-parts/report.md``):

- an episode's *duration* is ``last_seen - first_seen``: the time from its first to its last live
  evaluation, so a lower bound of how long the route stayed live (one observation: 0 s);
- *covered* time of a route is, per run, the overlap of its two books' event spans
  (``venue_stats.first_ts .. last_ts``) clipped to the ``--since``/``--until`` window, summed over
  runs; ``live_share = live_s / covered_s`` where ``live_s`` sums the episodes' durations (clipped
  to the window);
- money figures are exact ``Decimal`` sums of the journal's TEXT decimals, printed without exponent;
  route bps figures are rounded half-even to 0.01 bps, ``fee_share`` to 4 decimals;
- ``p90`` interpolates linearly between closest ranks (pandas' default).

Funnel counts and feed statistics are per-run totals that cannot be split in time: ``--since`` /
``--until`` select the runs whose event span overlaps the window for them, episodes by their
``first_seen``, trades by ``opened``.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import logging
import math
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arbscan.errors import BadInput
from arbscan.store import Store

if TYPE_CHECKING:  # pandas is imported on first use, so other commands and `--help` do not pay for it
    import pandas as pd

__all__ = [
    "TABLES",
    "TRADE_STATUSES",
    "HTML_MAX_ROWS",
    "ReportFilter",
    "Chart",
    "Report",
    "parse_time",
    "build_report",
    "render_text",
    "write_csv",
    "render_html",
    "write_html",
    "add_arguments",
    "run",
    "main",
]

logger = logging.getLogger(__name__)

from arbscan.store import TRADE_STATUSES  # noqa: E402 - one status_<value> column each in the trading table

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
"""Every report table and its columns, in order: the CSV headers (documented in docs/readme-parts/report.md)."""

_TITLES = {
    "runs": "Runs",
    "routes": "Routes: episodes, peak net profit, durations, live share",
    "funnel": "Route funnel: evaluated, crossed before fees, live after fees, why not",
    "venues": "Venues: book feeds, gaps and staleness",
    "episodes": "Episodes",
    "trading": "Paper and live trading",
    "imbalances": "Leg imbalances and how they were flattened",
    "balances": "Balances per venue (start and final)",
}
_KEYS = {
    "runs": ("run_id",),
    "routes": ("symbol", "buy_exchange", "sell_exchange"),
    "funnel": ("symbol", "buy_exchange", "sell_exchange"),
    "venues": ("exchange", "symbol"),
    "episodes": ("run_id", "symbol", "buy_exchange", "sell_exchange"),
    "trading": ("mode", "strategy", "symbol"),
    "imbalances": ("trade_id",),
    "balances": ("run_id", "mode", "strategy", "exchange", "asset"),
}
_TIME_COLS = {"started", "ended", "first_event", "last_event", "first_seen", "last_seen", "opened", "closed", "as_of"}
_SECONDS_COLS = {"duration_median_s", "duration_p90_s", "duration_max_s", "live_s", "covered_s", "span_s",
                 "duration_s"}
_MS_COLS = {"mean_gap_ms", "max_gap_ms"}
_RATIO_COLS = {"live_share", "events_per_s"}
_TEXT_TABLES_SKIPPED = ("episodes",)  # too long for a terminal: CSV and HTML only

HTML_MAX_ROWS = 1000
"""Rows per table in the HTML page (a long scan has many episodes); the CSVs always hold every row."""

_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22", "#17becf")
_FEE_SHARE_STEP = Decimal("0.0001")
_BPS_STEP = Decimal("0.01")


# -- inputs ------------------------------------------------------------------------------------


def parse_time(text: str, what: str = "time") -> float:
    """Unix seconds from ISO-8601 (naive means UTC) or a plain number of unix seconds; else BadInput."""
    raw = text.strip()
    try:
        value = float(raw)
    except ValueError:
        pass
    else:
        try:
            datetime.fromtimestamp(value, timezone.utc)
        except (ValueError, OverflowError, OSError):
            raise BadInput(f"{what}: {text!r} is not a time arbscan can represent") from None
        return value
    iso = raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        raise BadInput(f"{what}: cannot read {text!r} as ISO-8601 (2019-04-01T00:00:30Z) or unix seconds") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


@dataclass(frozen=True, slots=True)
class ReportFilter:
    """What to report on: a time window (unix seconds, ``until`` exclusive), one symbol, one run or 'latest'."""

    since: float | None = None
    until: float | None = None
    symbol: str | None = None
    run: int | str | None = None  # None: every run; an id; or "latest"

    def __post_init__(self) -> None:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise BadInput(f"--since ({_iso(self.since)}) must be before --until ({_iso(self.until)})")
        if isinstance(self.run, str) and self.run != "latest":
            raise BadInput(f"--run: {self.run!r} is neither a run id nor 'latest'")

    def describe(self) -> str:
        """The filter in one line for report headers."""
        parts = [f"runs: {'all' if self.run is None else self.run}"]
        if self.since is not None or self.until is not None:
            parts.append(f"window: {_iso(self.since) if self.since is not None else '-'} .. "
                         f"{_iso(self.until) if self.until is not None else '-'}")
        parts.append(f"symbol: {self.symbol or 'all'}")
        return "; ".join(parts)


@dataclass(slots=True)
class Chart:
    """One embedded chart: its PNG and the series plotted (label -> {"x", "y", "color"}), for checks."""

    name: str
    title: str
    series: dict[str, dict[str, Any]]
    png: bytes


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


def _iso(ts: float | None) -> str:
    if ts is None or (isinstance(ts, float) and math.isnan(ts)):
        return ""
    try:
        return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    except (ValueError, OverflowError, OSError):  # a corrupt time in the journal: show the number
        return repr(ts)


def _dec(value: Any, what: str) -> Decimal | None:
    """A journal TEXT decimal as Decimal; NULL -> None; a malformed value is logged and read as None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        logger.warning("journal: %s holds %r, not a decimal; skipped", what, value)
        return None
    if not d.is_finite():
        logger.warning("journal: %s holds %r, not a finite decimal; skipped", what, value)
        return None
    return d


def _dsum(values: Iterable[Decimal | None]) -> Decimal:
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


def _quote(symbol: str) -> str:
    return symbol.split("/", 1)[1] if "/" in symbol else ""


def _isnull(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _overlap(a0: float, a1: float, b0: float | None, b1: float | None) -> float:
    lo = a0 if b0 is None else max(a0, b0)
    hi = a1 if b1 is None else min(a1, b1)
    return max(0.0, hi - lo)


def _route_label(symbol: str, buy: str, sell: str) -> str:
    return f"{symbol} buy {buy} sell {sell}"


# -- reading -----------------------------------------------------------------------------------


def _tables_in(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _query(conn: sqlite3.Connection, present: set[str], table: str, sql: str, params: Sequence[Any] = ()
           ) -> pd.DataFrame:
    import pandas as pd

    if table not in present:
        return pd.DataFrame()
    return pd.read_sql_query(sql, conn, params=list(params))


def _in(column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    return f"{column} IN ({', '.join('?' for _ in values)})", list(values)


def _read_journal(path: str | Path, flt: ReportFilter) -> tuple[dict[str, pd.DataFrame], list[int] | None, bool]:
    """The raw rows the report needs, read in one transaction: (frames, run ids chosen by --run, empty)."""
    import pandas as pd

    try:
        db = Store.open_readonly(path)
    except sqlite3.Error as exc:
        raise BadInput(f"cannot open journal {str(path)!r}: {exc}") from None
    conn = db.conn
    try:
        conn.execute("BEGIN")  # one snapshot of every table, even while a scanner commits
        present = _tables_in(conn)
        runs = _query(conn, present, "runs", "SELECT * FROM runs ORDER BY id")
        raw: dict[str, pd.DataFrame] = {"runs": runs}
        rows = 0
        for t in ("runs", "opportunities", "trades", "funnel", "venue_stats"):
            if t in present:
                rows += conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        if rows == 0:
            return raw, None, True
        run_ids: list[int] | None = None
        if flt.run == "latest":
            run_ids = [int(runs["id"].max())] if len(runs) else []
        elif flt.run is not None:
            if not len(runs) or int(flt.run) not in {int(i) for i in runs["id"]}:
                raise BadInput(f"--run: no run {flt.run} in journal {str(path)!r}")
            run_ids = [int(flt.run)]

        def where(since_col: str | None, until_col: str | None, symbol: bool = True) -> tuple[str, list[Any]]:
            conds: list[str] = []
            params: list[Any] = []
            if run_ids is not None:
                c, p = _in("run_id", run_ids)
                conds.append(c)
                params += p
            if symbol and flt.symbol is not None:
                conds.append("symbol = ?")
                params.append(flt.symbol)
            if since_col and flt.since is not None:
                conds.append(f"{since_col} >= ?")
                params.append(flt.since)
            if until_col and flt.until is not None:
                conds.append(f"{until_col} < ?")
                params.append(flt.until)
            return (" WHERE " + " AND ".join(conds)) if conds else "", params

        w, p = where("first_seen", "first_seen")
        raw["opportunities"] = _query(conn, present, "opportunities",
                                      f"SELECT * FROM opportunities{w} ORDER BY first_seen, id", p)
        w, p = where(None, None)
        raw["funnel"] = _query(conn, present, "funnel", f"SELECT * FROM funnel{w}", p)
        raw["venue_stats"] = _query(conn, present, "venue_stats", f"SELECT * FROM venue_stats{w}", p)
        w, p = where("opened", "opened")
        raw["trades"] = _query(conn, present, "trades", f"SELECT * FROM trades{w} ORDER BY opened, id", p)
        w, p = where(None, None)
        raw["orders"] = _query(conn, present, "orders", f"SELECT client_id, trade_id FROM orders{w}", p)
        raw["fills"] = _query(conn, present, "fills", f"SELECT exchange, trade_id, client_id FROM fills{w}", p)
        # balances as of the window's end: --since does not hide the starting balances
        w, p = where(None, "ts", symbol=False)
        raw["balances"] = _query(conn, present, "balances", f"SELECT * FROM balances{w} ORDER BY ts, id", p)
        return raw, run_ids, False
    except sqlite3.DatabaseError as exc:
        raise BadInput(f"journal {str(path)!r} cannot be read: {exc}") from None
    finally:
        try:
            conn.rollback()
        finally:
            conn.close()


# -- tables ------------------------------------------------------------------------------------


def _frame(name: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(rows, columns=list(TABLES[name]))


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
            "run_id": int(r.run_id) if not _isnull(r.run_id) else None,
            "symbol": r.symbol, "buy_exchange": r.buy_exchange, "sell_exchange": r.sell_exchange,
            "first_seen": float(r.first_seen), "last_seen": float(r.last_seen),
            "duration_s": float(r.last_seen) - float(r.first_seen),
            "observations": int(r.observations),
            "amount": _dec(r.amount, "opportunities.amount"),
            "buy_vwap": _dec(r.buy_vwap, "opportunities.buy_vwap"),
            "sell_vwap": _dec(r.sell_vwap, "opportunities.sell_vwap"),
            "net_profit": _dec(r.net_profit, "opportunities.net_profit"),
            "net_bps": _dec(r.net_bps, "opportunities.net_bps"),
            "close_reason": r.close_reason, "close_detail": r.close_detail,
        })
    return _frame("episodes", rows)


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
        if int(v.run_id) in runs and not _isnull(v.first_ts) and not _isnull(v.last_ts):
            feeds[(int(v.run_id), v.exchange, v.symbol)] = (float(v.first_ts), float(v.last_ts))
    rows = []
    for symbol, buy, sell in sorted(routes):
        mine = opps[(opps["symbol"] == symbol) & (opps["buy_exchange"] == buy) & (opps["sell_exchange"] == sell)] \
            if len(opps) else opps
        profits = [d for d in (_dec(v, "opportunities.net_profit") for v in mine.get("net_profit", ())) if d is not None]
        bps = [d for d in (_dec(v, "opportunities.net_bps") for v in mine.get("net_bps", ())) if d is not None]
        fees: list[Decimal] = []
        gross: list[Decimal] = []
        for r in mine.itertuples(index=False):
            bf, sf = _dec(r.buy_fee, "opportunities.buy_fee"), _dec(r.sell_fee, "opportunities.sell_fee")
            np_ = _dec(r.net_profit, "opportunities.net_profit")
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
        gross_total, fee_total = _dsum(gross), _dsum(fees)
        rows.append({
            "symbol": symbol, "buy_exchange": buy, "sell_exchange": sell, "quote": _quote(symbol),
            "episodes": len(mine),
            "observations": int(mine["observations"].sum()) if len(mine) else 0,
            "net_profit_total": _dsum(profits),
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
    return _frame("routes", rows)


def _funnel_table(funnel: pd.DataFrame, runs: set[int]) -> pd.DataFrame:
    if not len(funnel):
        return _frame("funnel", [])
    f = funnel[funnel["run_id"].isin(list(runs))]
    rows = []
    for (symbol, buy, sell), g in sorted(f.groupby(["symbol", "buy_exchange", "sell_exchange"]), key=lambda kv: kv[0]):
        row: dict[str, Any] = {"symbol": symbol, "buy_exchange": buy, "sell_exchange": sell}
        for name in _FUNNEL:
            row[name] = int(g[name].fillna(0).sum()) if name in g else 0
        worst = max(_NOT_LIVE, key=lambda n: (row[n], -_NOT_LIVE.index(n)))  # ties: the earlier reason
        row["main_reason_not_live"] = worst if row[worst] > 0 else None
        rows.append(row)
    return _frame("funnel", rows)


def _venues_table(venue_stats: pd.DataFrame, runs: set[int]) -> pd.DataFrame:
    if not len(venue_stats):
        return _frame("venues", [])
    v = venue_stats[venue_stats["run_id"].isin(list(runs))]
    rows = []
    for (exchange, symbol), g in sorted(v.groupby(["exchange", "symbol"]), key=lambda kv: kv[0]):
        events = int(g["events"].fillna(0).sum())
        spans = [(float(a), float(b), int(e)) for a, b, e in zip(g["first_ts"], g["last_ts"], g["events"])
                 if not _isnull(a) and not _isnull(b)]
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
    return _frame("venues", rows)


def _trading_tables(raw: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    import pandas as pd

    trades = raw.get("trades", pd.DataFrame())
    if not len(trades):
        return _frame("trading", []), _frame("imbalances", [])
    orders, fills = raw.get("orders", pd.DataFrame()), raw.get("fills", pd.DataFrame())
    fills_per_trade: dict[str, int] = {}
    if len(orders) and len(fills):
        trade_of = dict(zip(orders["client_id"], orders["trade_id"]))
        for cid in fills["client_id"]:
            tid = trade_of.get(cid)
            if tid is not None:
                fills_per_trade[tid] = fills_per_trade.get(tid, 0) + 1
    decs = ("buy_filled", "sell_filled", "expected_profit", "flatten_amount", "flatten_pnl", "realised_pnl",
            "imbalance")
    rows: list[dict[str, Any]] = []
    for r in trades.to_dict("records"):
        d = {k: _dec(r.get(k), f"trades.{k}") for k in decs}
        d.update({k: None if _isnull(r.get(k)) else r.get(k)
                  for k in ("id", "run_id", "mode", "strategy", "symbol", "opened", "closed", "status",
                            "imbalance_action", "detail")})
        rows.append(d)
    trading, imbalances = [], []
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for d in rows:
        groups.setdefault((d["mode"] or "", d["strategy"] or "", d["symbol"] or ""), []).append(d)
    for (mode, strategy, symbol), ts in sorted(groups.items()):
        row: dict[str, Any] = {"mode": mode, "strategy": strategy, "symbol": symbol, "quote": _quote(symbol),
                               "trades": len(ts)}
        for s in TRADE_STATUSES:
            row[f"status_{s}"] = sum(1 for t in ts if t["status"] == s)
        row["fills"] = sum(fills_per_trade.get(t["id"], 0) for t in ts)
        row["buy_filled_total"] = _dsum(t["buy_filled"] for t in ts)
        row["sell_filled_total"] = _dsum(t["sell_filled"] for t in ts)
        row["expected_profit_total"] = _dsum(t["expected_profit"] for t in ts)
        row["realised_pnl_total"] = _dsum(t["realised_pnl"] for t in ts)
        row["legs_imbalanced"] = sum(1 for t in ts if _leg_diff(t) != 0)
        row["flattened"] = sum(1 for t in ts if t["imbalance_action"] == "flattened")
        row["kept"] = sum(1 for t in ts if t["imbalance_action"] == "kept")
        row["flatten_amount_total"] = _dsum(t["flatten_amount"] for t in ts)
        row["flatten_pnl_total"] = _dsum(t["flatten_pnl"] for t in ts)
        row["inventory_left"] = _dsum(t["imbalance"] for t in ts)
        trading.append(row)
    for t in rows:
        diff = _leg_diff(t)
        if diff == 0 and t["imbalance_action"] in (None, "none") and not t["flatten_amount"] and not t["imbalance"]:
            continue
        imbalances.append({
            "trade_id": t["id"], "run_id": t["run_id"], "mode": t["mode"], "strategy": t["strategy"],
            "symbol": t["symbol"], "opened": t["opened"], "closed": t["closed"], "status": t["status"],
            "buy_filled": t["buy_filled"], "sell_filled": t["sell_filled"], "leg_difference": diff,
            "imbalance_action": t["imbalance_action"], "flatten_amount": t["flatten_amount"],
            "flatten_pnl": t["flatten_pnl"], "imbalance": t["imbalance"], "realised_pnl": t["realised_pnl"],
            "detail": t["detail"],
        })
    return _frame("trading", trading), _frame("imbalances", imbalances)


def _leg_diff(t: dict[str, Any]) -> Decimal:
    return (t["buy_filled"] or Decimal(0)) - (t["sell_filled"] or Decimal(0))


def _balances_table(balances: pd.DataFrame, flt: ReportFilter) -> pd.DataFrame:
    if not len(balances):
        return _frame("balances", [])
    b = balances
    if flt.symbol is not None and "/" in flt.symbol:
        b = b[b["asset"].isin(flt.symbol.split("/", 1))]
    rows = []
    keys = ["run_id", "mode", "strategy", "exchange", "asset"]
    b = b.fillna({"mode": "", "strategy": ""})
    # a strategy that journaled starting balances (trade_id NULL) held nothing of an asset it has no
    # starting row for; without any starting rows the start is unknown
    with_starts = {k for k, g in b.groupby(keys[:3]) if g["trade_id"].isna().any()}
    for key, g in sorted(b.groupby(keys), key=lambda kv: kv[0]):
        g = g.sort_values(["ts", "id"])
        starts = g[g["trade_id"].isna()]
        last = g.iloc[-1]
        if len(starts):
            start = _dec(starts.iloc[0]["free"], "balances.free")
        else:
            start = Decimal(0) if tuple(key[:3]) in with_starts else None
        final = _dec(last["free"], "balances.free")
        rows.append({
            "run_id": int(key[0]), "mode": key[1], "strategy": key[2], "exchange": key[3], "asset": key[4],
            "start": start, "final": final,
            "change": (final - start) if start is not None and final is not None else None,
            "updates": len(g) - (1 if len(starts) else 0), "as_of": float(last["ts"]),
        })
    return _frame("balances", rows)


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
            "events": None if _isnull(x.get("events")) else int(x["events"]),
            "first_event": span[0] if span else None, "last_event": span[1] if span else None,
            "episodes": int((episodes["run_id"] == rid).sum()) if len(episodes) else 0,
            "trades": int((trades["run_id"] == rid).sum()) if len(trades) else 0,
        })
    return _frame("runs", rows)


# -- charts ------------------------------------------------------------------------------------


def _figure(height: float = 4.2) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _time_axis(ax: Any) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(tz=timezone.utc)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=timezone.utc))


def _dt(xs: Iterable[float]) -> list[datetime]:
    return [datetime.fromtimestamp(x, timezone.utc) for x in xs]


def _route_charts(episodes: pd.DataFrame) -> list[Chart]:
    if not len(episodes):
        return []
    routes = sorted(set(zip(episodes["symbol"], episodes["buy_exchange"], episodes["sell_exchange"])))
    colors = {r: _PALETTE[i % len(_PALETTE)] for i, r in enumerate(routes)}
    fig = _figure(6.0)
    top, bottom = fig.subplots(2, 1, sharex=True)
    over_time: dict[str, dict[str, Any]] = {}
    for route in routes:
        e = episodes[(episodes["symbol"] == route[0]) & (episodes["buy_exchange"] == route[1])
                     & (episodes["sell_exchange"] == route[2])].sort_values("first_seen", kind="stable")
        label = _route_label(*route)
        xs = [float(x) for x in e["first_seen"]]
        counts = list(range(1, len(xs) + 1))
        bps = list(e["net_bps"])
        over_time[label] = {"x": xs, "y": counts, "bps": bps, "color": colors[route]}
        top.step(_dt(xs), counts, where="post", color=colors[route], linewidth=2, label=label)
        bottom.plot(_dt(xs), [float(b) if b is not None else math.nan for b in bps], color=colors[route],
                    linestyle="none", marker="o", markersize=5, label=label)  # episodes are separate: no line
    from matplotlib.ticker import MaxNLocator

    top.yaxis.set_major_locator(MaxNLocator(integer=True))
    top.set_ylabel("episodes (cumulative)")
    top.set_title("Opportunities over time per route")
    top.legend(fontsize="small", loc="upper left")
    bottom.set_ylabel("peak net bps")
    bottom.set_xlabel("time (UTC), episode start")
    bottom.grid(True, alpha=0.3)
    top.grid(True, alpha=0.3)
    _time_axis(bottom)
    fig.tight_layout()
    charts = [Chart("routes_over_time", "Opportunities and peak net bps over time per route", over_time, _png(fig))]

    fig = _figure()
    ax = fig.add_subplot()
    hist: dict[str, dict[str, Any]] = {}
    data, labels, cols = [], [], []
    for route in routes:
        e = episodes[(episodes["symbol"] == route[0]) & (episodes["buy_exchange"] == route[1])
                     & (episodes["sell_exchange"] == route[2])]
        durations = [float(d) for d in e["duration_s"]]
        label = _route_label(*route)
        hist[label] = {"x": durations, "y": None, "color": colors[route]}
        data.append(durations)
        labels.append(label)
        cols.append(colors[route])
    import numpy as np

    every = [d for ds in data for d in ds]
    edges = np.histogram_bin_edges(every, bins="auto")
    if not 6 <= len(edges) <= 41:  # between 5 and 40 bars
        edges = np.histogram_bin_edges(every, bins=min(40, max(5, len(edges) - 1)))
    ax.hist(data, bins=edges, stacked=True, color=cols, label=labels)
    ax.set_xlabel("episode duration (s): last_seen - first_seen")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("episodes")
    ax.set_title("Episode durations")
    ax.legend(fontsize="small")
    fig.tight_layout()
    for label in hist:
        counts, _ = np.histogram(hist[label]["x"], bins=edges)
        hist[label]["y"] = [int(c) for c in counts]
        hist[label]["edges"] = [float(x) for x in edges]
    charts.append(Chart("duration_histogram", "Episode-duration histogram", hist, _png(fig)))
    return charts


_FUNNEL_COLOURS = {"live": "#2ca02c", "not_crossed": "#7f7f7f", "fees": "#d62728", "depth_or_minimums": "#9467bd",
                   "balance": "#8c564b", "below_min_bps": "#bcbd22", "stale": "#17becf"}


def _funnel_chart(funnel: pd.DataFrame) -> list[Chart]:
    """Per route, what each book event touching it came to: live, each reason not to be, or stale books."""
    if not len(funnel):
        return []
    labels = [_route_label(s, b, x) for s, b, x in zip(funnel["symbol"], funnel["buy_exchange"], funnel["sell_exchange"])]
    fig = _figure(max(3.0, 1.4 + 0.45 * len(labels)))
    ax = fig.add_subplot()
    series: dict[str, dict[str, Any]] = {}
    left = [0] * len(labels)
    ys = list(range(len(labels)))[::-1]  # first route at the top
    for reason, colour in _FUNNEL_COLOURS.items():
        counts = [int(c) for c in funnel[reason]]
        series[reason] = {"x": labels, "y": counts, "color": colour}
        if any(counts):
            ax.barh(ys, counts, left=left, color=colour, label=reason, height=0.6)
        left = [a + b for a, b in zip(left, counts)]
    ax.set_yticks(ys, labels, fontsize="small")
    ax.set_xlabel("events touching the route")
    ax.set_title("Route funnel: live after fees, or why not")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return [Chart("funnel", "Route funnel per route", series, _png(fig))]


def _pnl_chart(raw_trades: pd.DataFrame) -> list[Chart]:
    if not len(raw_trades):
        return []
    groups: dict[str, list[tuple[float, Decimal]]] = {}
    for r in raw_trades.to_dict("records"):
        pnl = _dec(r.get("realised_pnl"), "trades.realised_pnl")
        when = r.get("closed")
        if pnl is None or _isnull(when):
            continue  # open trades have no realised PnL yet
        label = f"{r.get('mode')} {r.get('strategy')} {r.get('symbol')}"
        groups.setdefault(label, []).append((float(when), pnl))
    if not groups:
        return []
    fig = _figure()
    ax = fig.add_subplot()
    series: dict[str, dict[str, Any]] = {}
    for i, label in enumerate(sorted(groups)):
        pts = sorted(groups[label], key=lambda p: p[0])
        total = Decimal(0)
        cum = []
        with localcontext() as ctx:
            ctx.prec = 120
            for _, p in pts:
                total += p
                cum.append(total)
        color = _PALETTE[i % len(_PALETTE)]
        xs = [p[0] for p in pts]
        series[label] = {"x": xs, "y": cum, "color": color}
        ax.step(_dt(xs), [float(c) for c in cum], where="post", color=color, linewidth=2, marker="o",
                markersize=4, label=label)
    ax.axhline(0, color="#444444", linewidth=0.8)
    ax.set_title("Cumulative realised PnL after fees (paper / live)")
    ax.set_ylabel("PnL (quote)")
    ax.set_xlabel("time (UTC), trade settled")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="upper left")
    _time_axis(ax)
    fig.tight_layout()
    return [Chart("cumulative_pnl", "Cumulative paper/live PnL", series, _png(fig))]


# -- the report --------------------------------------------------------------------------------


def build_report(db: str | Path, flt: ReportFilter | None = None, *, charts: bool = True) -> Report:
    """Read the journal at ``db`` read-only and compute every table (and, with ``charts``, the charts)."""
    flt = flt or ReportFilter()
    path = Path(db)
    if path.is_dir():
        raise BadInput(f"journal {str(path)!r} is a directory, not a SQLite file")
    raw, run_ids, empty = _read_journal(path, flt)
    if empty:
        return Report(str(path), flt, {name: _frame(name, []) for name in TABLES}, [], True,
                      [f"nothing journaled yet in {path}: run `arbscan replay` or `arbscan scan` first"])
    spans = _run_spans(raw["venue_stats"])
    runs = _selected_runs(raw, run_ids, flt, spans)
    opps = raw["opportunities"]
    episodes = _episodes_table(opps)
    trading, imbalances = _trading_tables(raw)
    tables = {
        "runs": _runs_table(raw, spans, runs, episodes, raw["trades"]),
        "routes": _routes_table(opps, raw["funnel"], raw["venue_stats"], runs, flt),
        "funnel": _funnel_table(raw["funnel"], runs),
        "venues": _venues_table(raw["venue_stats"], runs),
        "episodes": episodes,
        "trading": trading,
        "imbalances": imbalances,
        "balances": _balances_table(raw["balances"], flt),
    }
    notes = []
    if not len(episodes):
        notes.append("no episodes in the selection")
    if not len(trading):
        notes.append("no paper or live trades in the selection")
    report = Report(str(path), flt, tables, [], False, notes)
    if charts:
        report.charts = _route_charts(episodes) + _funnel_chart(tables["funnel"]) + _pnl_chart(raw["trades"])
    return report


# -- rendering ---------------------------------------------------------------------------------


def _cell(column: str, value: Any) -> str:
    """One value as the report shows it (terminal, CSV and HTML alike); missing -> ''."""
    if _isnull(value):
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if column in _TIME_COLS:
        return _iso(float(value))
    if column in _SECONDS_COLS:
        return f"{float(value):.3f}"
    if column in _MS_COLS:
        return f"{float(value):.1f}"
    if column in _RATIO_COLS:
        return f"{float(value):.4f}"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))  # counts and ids (pandas makes them float next to a NULL)
    return str(value)


def _formatted(name: str, df: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    cols = list(TABLES[name])
    data = {c: [_cell(c, v) for v in df[c].tolist()] for c in cols}
    return pd.DataFrame(data, columns=cols)


def _text_table(name: str, df: pd.DataFrame, width: int = 120) -> list[str]:
    """A table as aligned text: columns two spaces apart, numbers right-aligned, '-' for missing; wide
    tables are split into blocks of columns, each repeating the row's key columns."""
    f = _formatted(name, df)
    keys = [c for c in _KEYS[name] if c in f.columns]
    others = [c for c in f.columns if c not in keys]
    cells = {c: [v if v != "" else "-" for v in f[c]] for c in f.columns}
    widths = {c: max([len(c)] + [len(v) for v in cells[c]]) for c in f.columns}
    numeric = {c: all(v == "-" or _is_number(v) for v in cells[c]) for c in f.columns}
    chunks: list[list[str]] = []
    base = sum(widths[c] + 2 for c in keys)
    cur: list[str] = []
    used = base
    for c in others:
        if cur and used + widths[c] + 2 > width:
            chunks.append(cur)
            cur, used = [], base
        cur.append(c)
        used += widths[c] + 2
    if cur or not chunks:
        chunks.append(cur)
    lines: list[str] = []
    for i, chunk in enumerate(chunks):
        cols = keys + chunk
        if i:
            lines.append("")

        def fmt(c: str, v: str) -> str:
            return v.rjust(widths[c]) if numeric[c] else v.ljust(widths[c])

        lines.append("  ".join(fmt(c, c) for c in cols).rstrip())
        for r in range(len(f)):
            lines.append("  ".join(fmt(c, cells[c][r]) for c in cols).rstrip())
    return lines


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True


def render_text(report: Report, width: int = 120) -> str:
    """The terminal report: a header, then each table (wide ones split into column blocks keyed by row)."""
    out = [f"arbscan report: {report.db}", report.filter.describe(), ""]
    if report.empty:
        out.extend(report.notes)
        return "\n".join(out) + "\n"
    for name in TABLES:
        if name in _TEXT_TABLES_SKIPPED:
            continue
        df = report.tables[name]
        if name in ("trading", "imbalances", "balances") and not len(df):
            continue
        out.append(f"== {_TITLES[name]} ==")
        if not len(df):
            out.append("(none)")
        else:
            out.extend(_text_table(name, df, width))
        out.append("")
    out.extend(f"note: {n}" for n in report.notes)
    out.append("durations: last_seen - first_seen (s); live_share = live_s / covered_s; "
               "money in the route's quote currency; episodes: see --csv or --html")
    return "\n".join(out) + "\n"


def write_csv(report: Report, directory: str | Path) -> list[Path]:
    """Write ``<table>.csv`` for every table of :data:`TABLES` into ``directory``; returns the paths."""
    d = Path(directory)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"--csv: cannot create directory {str(d)!r}: {exc.strerror}") from None
    paths = []
    for name in TABLES:
        p = d / f"{name}.csv"
        _formatted(name, report.tables[name]).to_csv(p, index=False, lineterminator="\n")
        paths.append(p)
    return paths


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
p.meta{color:#555;margin:2px 0} table{border-collapse:collapse;font-size:12px;margin:6px 0}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:right;white-space:nowrap}
th{background:#f3f5f8} td:first-child,th:first-child{text-align:left} img{max-width:100%;border:1px solid #eee}
figure{margin:12px 0} figcaption{color:#555;font-size:12px} .wrap{overflow-x:auto}
"""


def render_html(report: Report) -> str:
    """One self-contained HTML page: header, charts as embedded base64 PNGs, every table. No external links."""
    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>arbscan report: {e(report.db)}</title>", f"<style>{_CSS}</style></head><body>",
             f"<h1>arbscan report</h1><p class=\"meta\">journal: {e(report.db)}</p>",
             f"<p class=\"meta\">{e(report.filter.describe())}</p>"]
    for n in report.notes:
        parts.append(f"<p class=\"meta\">{e(n)}</p>")
    if not report.empty:
        if report.charts:
            parts.append("<h2>Charts</h2>")
        for c in report.charts:
            data = base64.b64encode(c.png).decode("ascii")
            parts.append(f'<figure id="chart-{e(c.name)}"><img alt="{e(c.title)}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{e(c.title)}</figcaption></figure>")
        for name in TABLES:
            df = report.tables[name]
            parts.append(f'<h2 id="table-{name}">{e(_TITLES[name])}</h2>')
            if not len(df):
                parts.append("<p>(none)</p>")
                continue
            shown = df.head(HTML_MAX_ROWS)
            parts.append('<div class="wrap">' + _formatted(name, shown).to_html(index=False, border=0, escape=True)
                         + "</div>")
            if len(df) > len(shown):
                parts.append(f'<p class="meta">first {len(shown):,} of {len(df):,} rows; all of them are in '
                             f"{name}.csv (--csv DIR)</p>")
        parts.append("<p class=\"meta\">durations: last_seen - first_seen in seconds; live_share = live_s / "
                     "covered_s; money in the route's quote currency, exact decimals from the journal.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_html(report: Report, path: str | Path) -> Path:
    """Write :func:`render_html` to ``path``; returns it."""
    p = Path(path)
    try:
        p.write_text(render_html(report), encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"--html: cannot write {str(p)!r}: {exc.strerror}") from None
    return p


# -- command line ------------------------------------------------------------------------------


def _run_arg(text: str) -> int | str:
    if text == "latest":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a run id nor 'latest'") from None


def add_arguments(parser: argparse.ArgumentParser, *, with_db: bool = True) -> None:
    """Add the ``arbscan report`` options to ``parser`` (``with_db=False`` when the caller has ``--db``)."""
    if with_db:
        parser.add_argument("--db", required=True, metavar="PATH", help="journal file (SQLite) written by scan or replay")
    parser.add_argument("--since", metavar="TIME",
                        help="report from this time: ISO-8601 (UTC when no offset) or unix seconds")
    parser.add_argument("--until", metavar="TIME", help="report up to (not including) this time")
    parser.add_argument("--symbol", help="only this unified symbol, e.g. BTC/USD")
    parser.add_argument("--run", type=_run_arg, metavar="ID", help="only run ID, or 'latest' (default: every run)")
    parser.add_argument("--csv", metavar="DIR", help="also write one CSV per table into DIR")
    parser.add_argument("--html", metavar="FILE", help="also write one self-contained HTML report with charts")


def run(args: argparse.Namespace, db: str | Path | None = None) -> int:
    """Run ``arbscan report`` (journal ``db``, else ``args.db``); prints the report, returns 0; BadInput raises."""
    import shutil

    path = db if db is not None else args.db
    flt = ReportFilter(
        since=parse_time(args.since, "--since") if args.since is not None else None,
        until=parse_time(args.until, "--until") if args.until is not None else None,
        symbol=args.symbol, run=args.run,
    )
    if not Path(path).exists():
        raise BadInput(f"journal {str(path)!r} does not exist (give --db PATH, or run `arbscan replay` first)")
    report = build_report(path, flt, charts=bool(args.html))
    done = []  # files first: a bad --csv / --html is one error line, not a report followed by one
    if args.csv:
        paths = write_csv(report, args.csv)
        done.append(f"wrote {len(paths)} CSV files to {args.csv}")
    if args.html:
        write_html(report, args.html)
        done.append(f"wrote {args.html}")
    width = max(80, shutil.get_terminal_size((120, 24)).columns)
    print(render_text(report, width=width), end="")
    for line in done:
        print(line)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry (``python -c 'from arbscan.report import main; main()'``): BadInput -> one line, exit 2."""
    import sys

    parser = argparse.ArgumentParser(prog="arbscan report", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except BadInput as exc:
        print(f"arbscan report: error: {exc}", file=sys.stderr)
        return 2
