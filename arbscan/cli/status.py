"""``arbscan status``: the journal at a glance — runs, halts, open trades, latest balances, last episodes.

Read-only: it opens the journal the way ``arbscan report`` does and works while a scan is writing.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from arbscan.journal.schema import JOURNAL_FAILED

__all__ = ["overview_lines", "decode_text", "LAST_EPISODES", "LAST_RUNS"]

LAST_RUNS = 5
LAST_EPISODES = 5


def _when(ts: Any) -> str:
    try:
        return datetime.fromtimestamp(float(ts), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return "-"


def _num(text: Any) -> str:
    try:
        d = Decimal(str(text))
    except (InvalidOperation, ValueError):
        return str(text)
    if not d.is_finite():
        return str(d)
    return "0" if d == 0 else f"{d.normalize():f}"


def _bps(text: Any) -> str:
    try:
        d = Decimal(str(text))
        return f"{d:.2f}" if d.is_finite() and abs(d) < Decimal("1e12") else str(d)
    except (InvalidOperation, ValueError):
        return str(text)


def _text(value: Any) -> str:
    """Any journal value as text: '-' for NULL (another tool may have written anything)."""
    return "-" if value is None else str(value)


def _count(value: Any) -> str:
    """A whole-number column (``runs.events``) with thousands separators, or the odd value as it is."""
    if value is None:
        return "0"
    try:
        return f"{int(value):,}" if int(value) == value else str(value)
    except (TypeError, ValueError, OverflowError):  # 'many', NaN, infinity: shown as they are
        return str(value)


def decode_text(raw: bytes) -> str:
    """The connection's ``text_factory``: text that is not UTF-8 (another tool wrote it) shown, not fatal."""
    return raw.decode("utf-8", "replace")


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def overview_lines(conn: sqlite3.Connection) -> list[str]:
    """What ``arbscan status`` prints, from an open (read-only) journal connection (its ``text_factory`` is set
    to :func:`decode_text`); an odd value in any column is shown as it is."""
    conn.text_factory = decode_text
    tables = _tables(conn)
    out: list[str] = []
    runs = conn.execute(f"SELECT id, mode, status, started, ended, events FROM runs ORDER BY id DESC LIMIT {LAST_RUNS}"
                        ).fetchall() if "runs" in tables else []
    counts = dict(conn.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall()) if runs else {}
    out.append("runs: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda c: _text(c[0])))
                           or "none yet"))
    for rid, mode, status, started, ended, events in runs:
        end = "still running" if status == "running" else f"ended {_when(ended)}"
        out.append(f"  #{rid} {_text(mode):<7} {_text(status):<11} started {_when(started)}, {end}, "
                   f"{_count(events)} book events")
    failed = [rid for rid, _, status, *_ in runs if status == JOURNAL_FAILED]
    if failed:
        out.append(f"  run{'s' if len(failed) > 1 else ''} {', '.join(f'#{r}' for r in failed)} lost rows: a journal write "
                   "failed (a full disk?) and the run stopped there; nothing after that moment was journaled")
    halts = conn.execute("SELECT id, set_at, reason FROM halts WHERE cleared_at IS NULL ORDER BY id").fetchall() \
        if "halts" in tables else []
    out.append(f"live trading: {'HALTED' if halts else 'not halted'}")
    for hid, set_at, reason in halts:
        out.append(f"  halt #{hid} since {_when(set_at)}: {reason} (clear with 'arbscan resume')")
    if "trades" in tables:
        open_trades = conn.execute("SELECT id, mode, strategy, symbol, buy_exchange, sell_exchange, status, opened "
                                   "FROM trades WHERE status IN ('open', 'unknown') ORDER BY opened").fetchall()
        out.append(f"open trades: {len(open_trades)}")
        for tid, mode, strategy, symbol, buy, sell, status, opened in open_trades:
            out.append(f"  {tid} ({mode}, {strategy}) {symbol} {buy} -> {sell}: {status} since {_when(opened)}")
    if "balances" in tables:
        rows = conn.execute(
            "SELECT mode, strategy, exchange, asset, free, ts FROM balances WHERE id IN "
            "(SELECT max(id) FROM balances WHERE run_id = (SELECT max(run_id) FROM balances) "
            "GROUP BY mode, strategy, exchange, asset) ORDER BY mode, strategy, exchange, asset").fetchall()
        if rows:
            out.append("latest balances (last run that journaled any):")
            for mode, strategy, exchange, asset, free, ts in rows:
                out.append(f"  {_text(mode):<5} {_text(strategy):<12} {_text(exchange):<12} {_text(asset):<6} "
                           f"{_num(free):>20}  at {_when(ts)}")
    if "opportunities" in tables:
        eps = conn.execute("SELECT symbol, buy_exchange, sell_exchange, first_seen, last_seen, observations, "
                           f"net_profit, net_bps FROM opportunities ORDER BY id DESC LIMIT {LAST_EPISODES}").fetchall()
        (total,) = conn.execute("SELECT count(*) FROM opportunities").fetchone()
        out.append(f"episodes: {total:,}" + (f"; the last {len(eps)}:" if eps else ""))
        for sym, buy, sell, first, last, obs, profit, bps in eps:
            out.append(f"  {sym} {buy} -> {sell}: {_when(first)}, {obs} observations, peak {_num(profit)} "
                       f"({_bps(bps)} bps)")
    return out
