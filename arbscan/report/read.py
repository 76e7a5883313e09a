"""Reading the journal for a report: time arguments, the filter, journal values, one read-only snapshot as frames.

pandas is imported inside the functions that need it, so importing this module (the ``report``
command's argument parser does) stays cheap.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arbscan.errors import BadInput
from arbscan.store import Store

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["parse_time", "ReportFilter", "iso", "dec", "isnull", "read_journal"]

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


# -- journal values ----------------------------------------------------------------------------


def iso(ts: float | None) -> str:
    """Unix seconds as UTC ISO-8601 with milliseconds; missing -> ''; a time out of range -> the number."""
    if ts is None or (isinstance(ts, float) and math.isnan(ts)):
        return ""
    try:
        return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    except (ValueError, OverflowError, OSError):  # a corrupt time in the journal: show the number
        return repr(ts)


def dec(value: Any, what: str) -> Decimal | None:
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


def isnull(v: Any) -> bool:
    """A missing value: NULL from SQLite or NaN from pandas."""
    return v is None or (isinstance(v, float) and math.isnan(v))


# -- one snapshot of the journal ---------------------------------------------------------------


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


def read_journal(path: str | Path, flt: ReportFilter) -> tuple[dict[str, pd.DataFrame], list[int] | None, bool]:
    """The raw rows the report needs, read in one transaction: (frames, run ids chosen by --run, empty)."""
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
