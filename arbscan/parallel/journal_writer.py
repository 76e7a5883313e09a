"""The journal writer process of ``--workers N``: batches from every shard (and the executor), committed in order.

:func:`run_writer` is the role: it reads the producers' channels together (an ``arbscan.parallel.transport.Mux``),
gathers what they send up to ``batch_rows`` rows or ``flush_interval`` seconds, and commits it in one
transaction (:class:`FastCommitter`: prepared statements, sqlite-utils for anything new) on a thread of
its own, so the pipes are read while a batch commits and a producer is only held up when the writer
is about two batches behind. Each producer's batches are committed in the
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
import queue
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from arbscan.parallel.processes import ChildLog, child_start
from arbscan.parallel.transport import CLOSED, Mux, Outbox, PipeMux

__all__ = ["WriterSpec", "run_writer", "writer_main", "CONTROL"]

logger = logging.getLogger(__name__)

CONTROL = "control"
"""The key of the parent's control channel in the writer's mux."""


@dataclass(frozen=True, slots=True)
class WriterSpec:
    """What the writer needs: the journal file and its batching."""

    path: str
    batch_rows: int = 500  # a batch is offered for commit at this many rows, or after flush_interval
    flush_interval: float = 0.2
    drain_s: float = 2.0
    gather_limit: int = 1000  # rows gathered while a batch waits; beyond it reading stops until it is taken


@dataclass(slots=True)
class WriterReport:
    """What the writer sends the parent when it ends: rows committed, and the first failure (rows lost)."""

    rows: int
    batches: int
    error: str | None
    ended_at: float = 0.0  # unix time everything was committed


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class FastCommitter:
    """Commits a batch with prepared statements when every row's table and columns exist (the journal's own tables).

    The statements are the ones sqlite-utils would issue (``INSERT``, ``INSERT OR IGNORE``,
    ``INSERT ... ON CONFLICT(pk) DO UPDATE SET`` each given column), without its per-call table
    introspection: several times the rows per second. A batch with a table or a column the journal
    does not have yet, or one SQLite refuses, goes whole to ``arbscan.journal.store.BatchCommitter``
    (sqlite-utils, which creates tables and adds columns as needed, and keeps the failure in ``error``).
    """

    def __init__(self, conn: sqlite3.Connection, db: Any, lock: threading.Lock) -> None:
        from arbscan.journal.store import BatchCommitter

        self.conn = conn
        self.fallback = BatchCommitter(conn, db, lock)
        self._columns: dict[str, frozenset[str]] = {}
        self._sql: dict[tuple[Any, ...], str] = {}

    @property
    def error(self) -> BaseException | None:
        """The first failure that lost rows (None: none)."""
        return self.fallback.error

    def commit(self, work: list[Any]) -> None:
        """Write ``work`` in one transaction (retried while another connection holds the journal's lock)."""
        groups = self._groups(work)
        if groups is None:
            self._slow(work)
            return
        for attempt in range(5):
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    break
                logger.warning("journal busy (%s); retrying the batch", exc)
                time.sleep(min(0.1 * 2**attempt, 2.0))
                continue
            try:
                for sql, params in groups:
                    self.conn.executemany(sql, params)
            except sqlite3.Error as exc:
                self.conn.execute("ROLLBACK")
                logger.debug("batch refused by the prepared statements (%s); through sqlite-utils instead", exc)
                break
            self.conn.execute("COMMIT")
            return
        self._slow(work)

    def _slow(self, work: list[Any]) -> None:
        self.fallback.commit(work)
        self._columns.clear()  # sqlite-utils may have created tables or added columns

    def _groups(self, work: list[Any]) -> list[tuple[str, list[tuple[Any, ...]]]] | None:
        """Consecutive rows with the same statement share one ``executemany``; None when a table or column is new."""
        groups: list[tuple[str, list[tuple[Any, ...]]]] = []
        last = None
        for op, table, rows, pk in work:
            known = self._columns.get(table)
            if known is None:
                known = self._columns[table] = frozenset(
                    r[1] for r in self.conn.execute(f"PRAGMA table_info({_quote(table)})"))
            for row in rows:
                key = (op, table, pk, tuple(row))
                if key != last:
                    if not known or not known.issuperset(key[3]):
                        return None
                    groups.append((self._statement(key), []))
                    last = key
                groups[-1][1].append(tuple(row.values()))
        return groups

    def _statement(self, key: tuple[Any, ...]) -> str:
        sql = self._sql.get(key)
        if sql is None:
            op, table, pk, cols = key
            head = f"INTO {_quote(table)} ({', '.join(map(_quote, cols))}) VALUES ({', '.join('?' for _ in cols)})"
            if op == "insert":
                sql = f"INSERT {head}"
            elif op == "insert_ignore":
                sql = f"INSERT OR IGNORE {head}"
            else:
                keys = [pk] if isinstance(pk, str) else list(pk)
                rest = [c for c in cols if c not in keys]
                action = ("DO UPDATE SET " + ", ".join(f"{_quote(c)} = excluded.{_quote(c)}" for c in rest)
                          if rest else "DO NOTHING")
                sql = f"INSERT {head} ON CONFLICT({', '.join(map(_quote, keys))}) {action}"
            self._sql[key] = sql
        return sql


class _CommitThread:
    """Commits the batches handed to it, one at a time, while the writer's main thread keeps reading the pipes.

    One batch may wait while another is committed. The main thread offers what it has gathered
    (:meth:`offer`) and, while a batch still waits, keeps gathering: under load batches grow and
    transactions get fewer. Past a limit it hands the batch on with :meth:`put`, which blocks (and so,
    once the pipes are full, do the producers).
    """

    def __init__(self, committer: FastCommitter) -> None:
        self.committer = committer
        self.rows = self.batches = 0
        self._queue: queue.Queue[tuple[list[Any], int] | None] = queue.Queue(maxsize=1)
        self._thread = threading.Thread(target=self._run, name="arbscan-commit", daemon=True)
        self._thread.start()

    def put(self, work: list[Any], rows: int) -> None:
        """Commit ``work`` (``rows`` rows) after what is already handed on; blocks while a batch waits."""
        self._queue.put((work, rows))

    def offer(self, work: list[Any], rows: int) -> bool:
        """Hand ``work`` on unless a batch already waits (then False: keep gathering)."""
        try:
            self._queue.put_nowait((work, rows))
        except queue.Full:
            return False
        return True

    def close(self) -> None:
        """Commit what was handed on, then stop."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            work, rows = item
            self.committer.commit(work)
            self.rows += rows
            self.batches += 1


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
    conn, db = _connect(spec.path)
    committer = FastCommitter(conn, db, threading.Lock())
    commits = _CommitThread(committer)
    stop = threading.Event()  # SIGTERM: the parent died (PR_SET_PDEATHSIG) or someone asked us to stop
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    pending: list[Any] = []
    rows = 0
    first: float | None = None
    ending = False
    drain_until: float | None = None

    def commit(final: bool = False) -> None:
        nonlocal pending, rows, first
        if pending:
            if rows < spec.gather_limit and not final and not commits.offer(pending, rows):
                return  # a batch still waits: gather on (the pipes keep being read)
            if rows >= spec.gather_limit or final:
                commits.put(pending, rows)
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
        commit(final=True)
    finally:
        commits.close()
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:  # pragma: no cover - best effort
            pass
        conn.close()
    error = None if committer.error is None else f"journal writer failed, rows were lost: {committer.error}"
    result = WriterReport(commits.rows, commits.batches, error, time.time())
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
