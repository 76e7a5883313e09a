"""The journal writer process of ``--workers N``: batches from every shard (and the executor), committed in order.

:func:`run_writer` is the role: it reads the producers' channels together (an ``arbscan.transport.Mux``),
gathers what they send up to ``batch_rows`` rows or ``flush_interval`` seconds, and commits it with
``arbscan.store.BatchCommitter`` in one transaction. Each producer's batches are committed in the
order it sent them, so an upsert never overtakes an earlier one of the same row. It is the only
process that writes journal rows besides the parent's ``runs`` row and a live executor's own
committed journal.

The control channel from the parent says when new producers join (a restarted shard) and when the
run ends; the writer then commits everything still arriving and exits once every producer has
closed its channel. When the parent dies (the control channel ends, or SIGTERM from the kernel), it
keeps reading for at most ``drain_s`` seconds, commits what it has and exits.
"""

from __future__ import annotations

import logging
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from arbscan.processes import ChildLog, child_start
from arbscan.transport import CLOSED, Mux, Outbox, PipeMux

__all__ = ["WriterSpec", "run_writer", "writer_main", "CONTROL"]

logger = logging.getLogger(__name__)

CONTROL = "control"
"""The key of the parent's control channel in the writer's mux."""


@dataclass(frozen=True, slots=True)
class WriterSpec:
    """What the writer needs: the journal file and its batching."""

    path: str
    batch_rows: int = 500
    flush_interval: float = 0.2
    drain_s: float = 2.0


@dataclass(slots=True)
class WriterReport:
    """What the writer sends the parent when it ends: rows committed, and the first failure (rows lost)."""

    rows: int
    batches: int
    error: str | None


def _connect(path: str) -> tuple[sqlite3.Connection, Any]:
    from sqlite_utils import Database

    conn = sqlite3.connect(path, check_same_thread=False, timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn, Database(conn)


def run_writer(spec: WriterSpec, mux: Mux, report: Outbox | None = None) -> WriterReport:
    """Commit every batch the producers in ``mux`` send until the run ends (see the module docstring).

    ``mux`` holds the producers and, under :data:`CONTROL`, the parent's control channel: it sends
    ``("producer", key, inbox)`` to add a producer and ``("end",)`` when no new one will come.
    """
    from arbscan.store import BatchCommitter

    conn, db = _connect(spec.path)
    committer = BatchCommitter(conn, db, threading.Lock())
    stop = threading.Event()  # SIGTERM: the parent died (PR_SET_PDEATHSIG) or someone asked us to stop
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    pending: list[Any] = []
    rows = 0
    first: float | None = None
    committed = batches = 0
    ending = False
    drain_until: float | None = None

    def commit() -> None:
        nonlocal pending, rows, first, committed, batches
        if pending:
            committer.commit(pending)
            committed += rows
            batches += 1
        pending, rows, first = [], 0, None

    try:
        while True:
            producers = [k for k in mux.keys() if k != CONTROL]
            if ending and not producers:
                break
            if drain_until is None and stop.is_set():
                drain_until = time.monotonic() + spec.drain_s
            if drain_until is not None and time.monotonic() >= drain_until:
                break
            timeout = 0.05 if drain_until is not None else spec.flush_interval
            for key, item in mux.wait(timeout):
                if key == CONTROL:
                    if item is CLOSED:  # the parent is gone: take what is still arriving, briefly
                        ending = True
                        drain_until = drain_until or time.monotonic() + spec.drain_s
                    elif item[0] == "producer":
                        mux.add(item[1], item[2])
                    elif item[0] == "end":
                        ending = True
                elif item is not CLOSED:
                    pending.extend(item)
                    rows += sum(len(w[2]) for w in item)
                    if first is None:
                        first = time.monotonic()
            if rows >= spec.batch_rows or (first is not None and time.monotonic() - first >= spec.flush_interval):
                commit()
        commit()
    finally:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:  # pragma: no cover - best effort
            pass
        conn.close()
    error = None if committer.error is None else f"journal writer failed, rows were lost: {committer.error}"
    result = WriterReport(committed, batches, error)
    if report is not None:
        try:
            report.put(result)
        except Exception:  # noqa: BLE001 - the parent is gone; nothing left to tell
            pass
    return result


def writer_main(spec: WriterSpec, parent_pid: int, log: ChildLog, control: Any, producers: dict[Hashable, Any],
                report: Outbox) -> None:
    """Entry point of the writer process: local pipes from the parent (control) and the producers.

    This process never uses pandas or numpy, which sqlite-utils imports when they are installed (about
    0.4 s of CPU at every start, taken from the shards starting beside it): they are kept out.
    """
    for unused in ("pandas", "numpy"):
        sys.modules.setdefault(unused, None)  # type: ignore[arg-type]  # import now raises ImportError
    child_start("arbscan-writer", parent_pid, signal.SIGTERM, log, "writer")
    mux = PipeMux()
    mux.add(CONTROL, control)
    for key, inbox in producers.items():
        mux.add(key, inbox)
    try:
        run_writer(spec, mux, report)
    except Exception:
        logger.exception("journal writer failed")
        raise
