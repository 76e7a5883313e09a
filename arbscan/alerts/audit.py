"""Reading the journal's ``alerts`` table: counts per destination and the latest failures, as lines of text."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

__all__ = ["alerts_summary", "AUDIT_STATUSES"]

AUDIT_STATUSES = ("sent", "retried", "failed", "dropped")
"""The values of ``alerts.status``: delivered at once, delivered after a retry, given up, dropped from a full queue."""


def alerts_summary(conn: Any, run_id: int | None = None, *, failures: int = 5) -> list[str]:
    """Lines saying how many alerts each destination got by status, then the latest ``failures`` failures.

    ``conn``: a ``sqlite3.Connection`` or a sqlite-utils ``Database`` on the journal (read-only is
    fine). ``run_id``: one run, else every run. An empty list when nothing was alerted, or the journal
    predates the table.
    """
    where, args = ("WHERE run_id = ?", (run_id,)) if run_id is not None else ("", ())
    try:
        rows = conn.execute(f"SELECT destination, status, COUNT(*) FROM alerts {where} "  # noqa: S608 - fixed text
                            "GROUP BY destination, status ORDER BY destination", args).fetchall()
    except sqlite3.OperationalError:  # no such table: a journal from before alerts
        return []
    if not rows:
        return []
    by_dest: dict[str, dict[str, int]] = {}
    for dest, status, n in rows:
        by_dest.setdefault(dest, {})[status] = n
    totals = {s: sum(c.get(s, 0) for c in by_dest.values()) for s in AUDIT_STATUSES}
    lines = ["alerts: " + _counts(totals)]
    for dest, counts in by_dest.items():
        lines.append(f"  {dest}: {_counts(counts)}")
    fail_where = f"{where} AND" if where else "WHERE"
    failed = conn.execute(f"SELECT finished, event, destination, status, attempts, detail FROM alerts {fail_where} "  # noqa: S608
                          "status IN ('failed', 'dropped') ORDER BY finished DESC, id DESC LIMIT ?",
                          (*args, failures)).fetchall()
    if failed:
        lines.append(f"  latest failures and drops (newest first, at most {failures}):")
    for finished, event, dest, status, attempts, detail in failed:
        try:
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(finished or 0)))
        except (TypeError, ValueError, OverflowError, OSError):  # a value another tool wrote: shown as it is
            when = str(finished)
        tries = f" after {attempts} attempt{'s' if attempts != 1 else ''}" if attempts else ""
        lines.append(f"    {when} {event} to {dest}: {status}{tries}" + (f" ({detail})" if detail else ""))
    return lines


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts.get(s, 0)} {s}" for s in AUDIT_STATUSES)
