"""Reading the journal for a report: time arguments, the filter, one read-only snapshot as typed frames.

Every value the report uses is read as what its column should hold (:data:`COLUMNS`): a time, a
count, a decimal, a name. A value that is not (text in a REAL column, 'NaN', a time no calendar
has, bytes that are not UTF-8, ...) is read as missing and counted in :attr:`Snapshot.problems`,
which names the column and the first row holding one; so the tables and charts downstream only
ever see the types they expect, and any journal gives a report. pandas is imported inside the
functions that need it, so importing this module (the ``report`` command's parser does) stays cheap.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arbscan.errors import BadInput
from arbscan.journal.schema import CROSS_FUNNEL_COUNTS
from arbscan.journal.store import Store

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["parse_time", "ReportFilter", "COLUMNS", "Snapshot", "iso", "isnull", "read_journal"]

logger = logging.getLogger(__name__)


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
    text_iso = raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw
    try:
        dt = datetime.fromisoformat(text_iso)
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
            raise BadInput(f"--since ({iso(self.since)}) must be before --until ({iso(self.until)})")
        if isinstance(self.run, str) and self.run != "latest":
            raise BadInput(f"--run: {self.run!r} is neither a run id nor 'latest'")

    def describe(self) -> str:
        """The filter in one line for report headers."""
        parts = [f"runs: {'all' if self.run is None else self.run}"]
        if self.since is not None or self.until is not None:
            parts.append(f"window: {iso(self.since) if self.since is not None else '-'} .. "
                         f"{iso(self.until) if self.until is not None else '-'}")
        parts.append(f"symbol: {self.symbol or 'all'}")
        return "; ".join(parts)


# -- what each journal column should hold ------------------------------------------------------

_TIME = "time"  # unix seconds, finite, between the years 1 and 9999: float
_NUMBER = "number"  # any finite real: float
_COUNT = "count"  # a whole number below 10**30 in magnitude: int
_DECIMAL = "decimal"  # an exact finite decimal stored as TEXT: Decimal
_NAME = "name"  # a symbol, venue, mode, ...: str, '' for NULL
_TEXT = "text"  # free text: str or None

_DESCRIBED = {_TIME: ("a time", "times"), _NUMBER: ("a finite number", "finite numbers"),
              _COUNT: ("a whole number", "whole numbers"), _DECIMAL: ("a finite decimal", "finite decimals")}
_OPP_DECIMALS = ("amount", "buy_vwap", "sell_vwap", "buy_fee", "sell_fee", "net_profit", "net_bps")
_TRADE_DECIMALS = ("buy_filled", "sell_filled", "expected_profit", "flatten_amount", "flatten_pnl", "realised_pnl",
                   "imbalance")
FUNNEL_COUNTS = ("evaluated", "crossed_before_fees", "live", "not_crossed", "fees", "depth_or_minimums", "balance",
                 "below_min_bps", "stale", "episodes")
"""The funnel's counters this report knows (documented in funnel.csv); further INTEGER columns are extras."""

FUNNEL_COUNTS_LATER = ("transfer_blocked", "untrue_book")
"""Counters added to the funnel later: documented too, appended after ``main_reason_not_live`` in funnel.csv."""

COLUMNS: dict[str, dict[str, str]] = {
    "runs": {"id": _COUNT, "started": _TIME, "ended": _TIME, "mode": _TEXT, "source": _TEXT, "status": _TEXT,
             "events": _COUNT},
    "opportunities": {"id": _COUNT, "run_id": _COUNT, "symbol": _NAME, "buy_exchange": _NAME, "sell_exchange": _NAME,
                      "first_seen": _TIME, "last_seen": _TIME, "observations": _COUNT,
                      **dict.fromkeys(_OPP_DECIMALS, _DECIMAL), "close_reason": _TEXT, "close_detail": _TEXT,
                      "transfer": _TEXT, "net_after_transfer": _DECIMAL},
    "cross_episodes": {"run_id": _COUNT, "symbol": _NAME, "buy_exchange": _NAME, "sell_symbol": _NAME,
                       "sell_exchange": _NAME, "conversion": _NAME, "net_profit": _DECIMAL, "net_bps": _DECIMAL,
                       "conversion_rate": _DECIMAL, "conversion_age_ms": _NUMBER},
    "cross_funnel": {"run_id": _COUNT, "symbol": _NAME, "buy_exchange": _NAME, "sell_symbol": _NAME,
                     "sell_exchange": _NAME, "conversion": _NAME, **dict.fromkeys(CROSS_FUNNEL_COUNTS, _COUNT),
                     "max_edge_bps": _DECIMAL},
    "funnel": {"run_id": _COUNT, "symbol": _NAME, "buy_exchange": _NAME, "sell_exchange": _NAME,
               **dict.fromkeys(FUNNEL_COUNTS + FUNNEL_COUNTS_LATER, _COUNT)},
    "venue_stats": {"run_id": _COUNT, "exchange": _NAME, "symbol": _NAME, "events": _COUNT, "first_ts": _TIME,
                    "last_ts": _TIME, "max_gap_ms": _NUMBER, "gaps_over_max_age": _COUNT, "max_book_age_ms": _COUNT,
                    "rejected": _COUNT, "off_step": _COUNT},
    "trades": {"id": _NAME, "run_id": _COUNT, "mode": _NAME, "strategy": _NAME, "symbol": _NAME,
               "buy_exchange": _NAME, "sell_exchange": _NAME, "opened": _TIME,
               "closed": _TIME, "status": _TEXT, **dict.fromkeys(_TRADE_DECIMALS, _DECIMAL), "imbalance_action": _TEXT,
               "detail": _TEXT},
    "orders": {"client_id": _NAME, "trade_id": _TEXT},
    "fills": {"exchange": _NAME, "trade_id": _NAME, "client_id": _TEXT},
    "balances": {"id": _COUNT, "run_id": _COUNT, "mode": _NAME, "strategy": _NAME, "exchange": _NAME, "asset": _NAME,
                 "free": _DECIMAL, "ts": _TIME, "trade_id": _TEXT},
}
"""The journal columns the report reads, per table, and what each should hold: a time, number, count, decimal,
name or text (the kinds above); any other value is read as missing and counted as a problem of its column."""

_EXTRA_COUNTS_IN = ("funnel", "venue_stats")  # tables whose unknown INTEGER columns are shown as counts
_KNOWN_UNREAD = {"funnel": {"updated", "max_gross_bps"}}  # known columns the report does not show

_FIRST_DAY, _LAST_DAY = -62135596800.0, 253402300799.0  # 0001-01-01 .. 9999-12-31T23:59:59 UTC
_BAD = object()


def _time(v: Any) -> Any:
    t = _number(v)
    return t if t is None or t is _BAD or _FIRST_DAY <= t <= _LAST_DAY else _BAD


def _number(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        try:
            f = float(v)
        except OverflowError:
            return _BAD
    elif isinstance(v, str):
        try:
            f = float(v)
        except ValueError:
            return _BAD
    else:
        return _BAD
    return f if math.isfinite(f) else _BAD


def _count(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, int) and not isinstance(v, bool):
        n = v
    else:
        d = _decimal(v if isinstance(v, str) else repr(v) if isinstance(v, float) else None)
        if d is None or d is _BAD or d != d.to_integral_value() or d.adjusted() > 40:
            return _BAD
        n = int(d)
    return n if abs(n) < 10**30 else _BAD


def _decimal(v: Any) -> Any:
    if v is None:
        return None
    if not isinstance(v, (str, int)) or isinstance(v, bool):
        return _BAD
    try:
        d = Decimal(v.strip() if isinstance(v, str) else v)
    except (InvalidOperation, ValueError):
        return _BAD
    return d if d.is_finite() else _BAD


def _name(v: Any) -> str:
    return "" if v is None else v if isinstance(v, str) else str(v)


def _text(v: Any) -> str | None:
    return None if v is None else v if isinstance(v, str) else str(v)


_READERS: dict[str, Callable[[Any], Any]] = {_TIME: _time, _NUMBER: _number, _COUNT: _count, _DECIMAL: _decimal,
                                             _NAME: _name, _TEXT: _text}


def iso(ts: float | None) -> str:
    """Unix seconds as UTC ISO-8601 with milliseconds; missing -> ''; a time out of range -> the number."""
    if ts is None or (isinstance(ts, float) and math.isnan(ts)):
        return ""
    try:
        return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    except (ValueError, OverflowError, OSError):  # not a time a calendar has: show the number
        return repr(ts)


def isnull(v: Any) -> bool:
    """A missing value: NULL from SQLite or NaN from pandas."""
    return v is None or (isinstance(v, float) and math.isnan(v))


# -- one snapshot of the journal ---------------------------------------------------------------


@dataclass(slots=True)
class Snapshot:
    """What one read of the journal gave: typed frames, the runs and symbols chosen, extras and problems."""

    frames: dict[str, pd.DataFrame]
    run_ids: list[int] | None = None  # chosen by --run; None: every run
    symbols: tuple[str, ...] | None = None  # the journal's spelling of --symbol; None: every symbol
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict)  # unknown count columns of funnel, venue_stats
    problems: list[str] = field(default_factory=list)  # one line per column holding values that could not be read
    empty: bool = False  # nothing journaled at all


class _Reader:
    """Reads tables of one connection into typed frames, counting what cannot be read per column."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        self.bad: dict[tuple[str, str], list[Any]] = {}  # (table, column) -> [count, first rowid, first value]

    def columns(self, table: str) -> list[tuple[str, str]]:
        """(name, declared type) of every column ``table`` has."""
        return [(r[1], (r[2] or "").upper()) for r in self.conn.execute(f"PRAGMA table_info({table})")]

    def extras(self, table: str) -> tuple[str, ...]:
        """INTEGER columns of ``table`` this report does not know: counters added by a later arbscan."""
        if table not in self.present or table not in _EXTRA_COUNTS_IN:
            return ()
        known = set(COLUMNS[table]) | _KNOWN_UNREAD.get(table, set())
        return tuple(c for c, t in self.columns(table) if c not in known and "INT" in t)

    def frame(self, table: str, where: str = "", params: Sequence[Any] = (), order: str = "",
              extra: Sequence[str] = (), columns: str | None = None) -> pd.DataFrame:
        """Rows of ``table`` with the columns of :data:`COLUMNS` (of ``columns`` when given; and ``extra``
        counts), each value typed."""
        import pandas as pd

        kinds = dict(COLUMNS[columns or table], **dict.fromkeys(extra, _COUNT))
        if table not in self.present:
            return pd.DataFrame({c: pd.Series([], dtype=_dtype(k)) for c, k in kinds.items()})
        have = {c for c, _ in self.columns(table)}
        cols = [c for c in kinds if c in have]
        sql = f"SELECT rowid, {', '.join(cols)} FROM {table}{where}{order}" if cols else f"SELECT rowid FROM {table}{where}"
        rows = self.conn.execute(sql, list(params)).fetchall()
        data: dict[str, pd.Series] = {}
        for c, kind in kinds.items():
            if c not in have:  # an older journal: the column is missing, its values too
                data[c] = pd.Series([None] * len(rows), dtype=_dtype(kind))
                continue
            i, read, values = cols.index(c) + 1, _READERS[kind], []
            for row in rows:
                v = read(row[i])
                if v is _BAD:
                    self._bad(table, c, row[0], row[i])
                    v = None
                values.append(v)
            data[c] = pd.Series(values, dtype=_dtype(kind))
        return pd.DataFrame(data)

    def _bad(self, table: str, column: str, rowid: Any, value: Any) -> None:
        seen = self.bad.setdefault((table, column), [0, rowid, value])
        seen[0] += 1

    def problems(self) -> list[str]:
        """One line per column that held values the report could not read, naming the first such row."""
        out = []
        for (table, column), (n, rowid, value) in self.bad.items():
            one, many = _DESCRIBED[COLUMNS.get(table, {}).get(column, _COUNT)]
            shown = repr(value)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            what = f"1 value that is not {one}" if n == 1 else f"{n:,} values that are not {many}"
            out.append(f"journal: {table}.{column} holds {what} (first: rowid {rowid}, {shown}); read as missing")
        for line in out:  # the report shows them as notes; the log (-v) keeps them with the run's other lines
            logger.info("%s", line)
        return out


def _dtype(kind: str) -> str:
    return "float64" if kind in (_TIME, _NUMBER) else "object"


def _in(column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    return f"{column} IN ({', '.join('?' for _ in values)})", list(values)


def _journal_symbols(r: _Reader) -> list[str]:
    names: set[str] = set()
    for t in ("opportunities", "funnel", "venue_stats", "trades"):
        if t in r.present:
            names |= {_name(v) for (v,) in r.conn.execute(f"SELECT DISTINCT symbol FROM {t}")}
    return sorted(names)


def _match_symbol(r: _Reader, wanted: str, path: str | Path) -> tuple[str, ...]:
    """The journal's spellings of ``wanted``, compared without case; none: BadInput listing the journal's symbols."""
    known = _journal_symbols(r)
    found = tuple(s for s in known if s.casefold() == wanted.strip().casefold())
    if found:
        return found
    shown = ", ".join(known[:20]) + (f" and {len(known) - 20:,} more" if len(known) > 20 else "")
    raise BadInput(f"--symbol: no symbol {wanted!r} in journal {str(path)!r}; "
                   f"its symbols: {shown or 'none'}")


def read_journal(path: str | Path, flt: ReportFilter) -> Snapshot:
    """The rows the report needs, typed (see :data:`COLUMNS`), read in one transaction; BadInput when unreadable."""
    try:
        db = Store.open_readonly(path)
    except sqlite3.Error as exc:
        raise BadInput(f"cannot open journal {str(path)!r}: {exc}") from None
    conn = db.conn
    conn.text_factory = lambda b: b.decode("utf-8", "replace")  # text another tool wrote as bytes: shown, not fatal
    try:
        conn.execute("BEGIN")  # one snapshot of every table, even while a scanner commits
        r = _Reader(conn)
        runs = r.frame("runs", order=" ORDER BY id")
        rows = sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                   for t in ("runs", "opportunities", "trades", "funnel", "venue_stats") if t in r.present)
        if rows == 0:
            return Snapshot({"runs": runs}, empty=True)
        run_ids: list[int] | None = None
        ids = [int(i) for i in runs["id"] if i is not None]
        if flt.run == "latest":
            run_ids = [max(ids)] if ids else []
        elif flt.run is not None:
            if int(flt.run) not in ids:
                raise BadInput(f"--run: no run {flt.run} in journal {str(path)!r}")
            run_ids = [int(flt.run)]
        symbols = _match_symbol(r, flt.symbol, path) if flt.symbol is not None else None

        def where(since_col: str | None, until_col: str | None, symbol: bool = True) -> tuple[str, list[Any]]:
            conds: list[str] = []
            params: list[Any] = []
            if run_ids is not None:
                c, p = _in("run_id", run_ids)
                conds.append(c)
                params += p
            if symbol and symbols is not None:
                c, p = _in("symbol", symbols)
                conds.append(c)
                params += p
            for col, op, bound in ((since_col, ">=", flt.since), (until_col, "<", flt.until)):
                if col and bound is not None:  # a time that is not a number has no place in a window
                    conds.append(f"typeof({col}) IN ('integer', 'real') AND {col} {op} ?")
                    params.append(bound)
            return (" WHERE " + " AND ".join(conds)) if conds else "", params

        extra = {t: r.extras(t) for t in _EXTRA_COUNTS_IN}
        frames = {"runs": runs}
        w, p = where("first_seen", "first_seen")
        cross = "opportunities" in r.present and "conversion" in {c for c, _ in r.columns("opportunities")}
        same = (w + " AND " if w else " WHERE ") + "conversion IS NULL" if cross else w
        frames["opportunities"] = r.frame("opportunities", same, p, " ORDER BY first_seen, id")
        # cross-quote episodes (migration cross_quote) have their own table in the report, never mixed with routes
        if cross:
            frames["cross_episodes"] = r.frame("opportunities", (w + " AND " if w else " WHERE ") +
                                               "conversion IS NOT NULL", p, " ORDER BY first_seen, id",
                                               columns="cross_episodes")
        else:
            frames["cross_episodes"] = r.frame("cross_episodes")
        w, p = where(None, None)
        frames["cross_funnel"] = r.frame("cross_funnel", w, p)
        w, p = where(None, None)
        frames["funnel"] = r.frame("funnel", w, p, extra=extra["funnel"])
        frames["venue_stats"] = r.frame("venue_stats", w, p, extra=extra["venue_stats"])
        w, p = where("opened", "opened")
        frames["trades"] = r.frame("trades", w, p, " ORDER BY opened, id")
        w, p = where(None, None)
        frames["orders"] = r.frame("orders", w, p)
        frames["fills"] = r.frame("fills", w, p)
        # balances as of the window's end: --since does not hide the starting balances
        w, p = where(None, "ts", symbol=False)
        frames["balances"] = r.frame("balances", w, p, " ORDER BY ts, id")
        return Snapshot(frames, run_ids, symbols, extra, r.problems())
    except sqlite3.DatabaseError as exc:
        raise BadInput(f"journal {str(path)!r} cannot be read: {exc}") from None
    finally:
        try:
            conn.rollback()
        finally:
            conn.close()
