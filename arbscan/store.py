"""The journal's batched writer: sqlite-utils over one WAL database, rows committed in batches on a thread.

Writes never run on the caller's thread: ``submit`` / ``submit_many`` / ``upsert`` put rows on a
queue and return at once; a writer thread commits them in batches (one transaction per batch), so
a crash loses at most the batch being written and never leaves a half-written row. ``flush()``
waits until everything accepted is committed; ``close()`` flushes, closes the run and the file.

Exact values (``Decimal``) are stored as TEXT, times as REAL unix seconds, enums by value. Every
row carries the ``run_id`` of the ``runs`` row this process opened with :meth:`Store.start_run`.

The schema (migrations, statuses, how a value is stored) is ``arbscan.journal``'s.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import sqlite3
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from arbscan.funding import funding_rows
from arbscan.journal import FUNNEL_COUNTS, MIGRATIONS, SCHEMA_VERSION, TRADE_STATUSES, migrate, to_db_value
from arbscan.journalfile import check_journal, journal_error, mark_crashed_runs, mark_crashed_runs_at, this_host

__all__ = ["Store", "MIGRATIONS", "FUNNEL_COUNTS", "TRADE_STATUSES", "SCHEMA_VERSION", "to_db_value", "migrate"]

logger = logging.getLogger(__name__)

_FLUSH: tuple[str, str, list[dict[str, Any]], Any] = ("flush", "", [], None)


def _row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: to_db_value(v) for k, v in row.items()}


def _connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        uri = Path(path).resolve().as_uri() + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30)
    else:
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
    return conn


def _lower_priority(thread: threading.Thread) -> None:
    """Give the writer thread the lowest CPU priority (Linux: per-thread nice 19), best effort.

    The writer's SQLite work runs without the GIL; at nice 19 the OS gives the core to the event loop
    first, and the writer every idle moment and a share of a saturated core.
    """
    tid = getattr(thread, "native_id", None)
    if tid is None or not sys.platform.startswith("linux"):  # only Linux takes a thread id as PRIO_PROCESS
        return
    try:
        os.setpriority(os.PRIO_PROCESS, tid, 19)
    except OSError as exc:  # not permitted or not supported: the journal works the same, less politely
        logger.debug("could not lower the journal writer's priority: %s", exc)


class Store:
    """The journal: one SQLite file in WAL mode with a background writer thread.

    ``Store(path)`` (or ``Store.open(path)``) creates or migrates the file. Other modules write
    their own tables with ``submit(table, row)`` / ``submit_many`` / ``upsert``; the scanner uses
    ``record_episode``, ``record_funnel`` and ``record_venue_stats``.
    """

    def __init__(self, path: str | Path, *, batch_size: int = 500, flush_interval: float = 0.2) -> None:
        self.path = Path(path)
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._lock = threading.Lock()
        check_journal(self.path, write=True)  # a directory, a missing parent, read-only, not SQLite: one line
        self._conn = None
        try:
            self._conn = _connect(self.path)
            self.db = Database(self._conn)
            with self._lock:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable commits, crash-safe file
                self._conn.execute("PRAGMA foreign_keys=ON")
                migrate(self.db)
                mark_crashed_runs(self._conn)
        except (sqlite3.DatabaseError, RuntimeError) as exc:  # damaged, locked, written by a newer arbscan, ...
            if self._conn is not None:
                self._conn.close()
            raise journal_error(self.path, exc, write=True) from None
        self.run_id: int | None = None
        self._queue: queue.Queue[tuple[str, str, list[dict[str, Any]], Any] | None] = queue.Queue()
        self._committer = BatchCommitter(self._conn, self.db, self._lock)
        self._closed = False
        self._pending = 0  # rows accepted but not yet committed (or lost)
        self._pending_cond = threading.Condition()
        self._writer = threading.Thread(target=self._write_loop, name="arbscan-store", daemon=True)
        self._writer.start()
        _lower_priority(self._writer)
        atexit.register(self.close)

    @classmethod
    def open(cls, path: str | Path, **kw: Any) -> Store:
        """Open (create or migrate) the journal at ``path`` for writing."""
        return cls(path, **kw)

    @staticmethod
    def open_readonly(path: str | Path) -> Database:
        """A read-only sqlite-utils ``Database`` on ``path``; works while a scanner writes (WAL).

        ``BadInput`` for a path that cannot be read (``journalfile.check_journal``); dead runs are marked
        ``crashed`` first when the file can be written."""
        p = Path(path)
        check_journal(p, write=False)
        mark_crashed_runs_at(p)
        try:
            conn = _connect(p, readonly=True)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise journal_error(p, exc, write=False) from None
        return Database(conn)

    # -- runs ------------------------------------------------------------------------------

    def start_run(self, mode: str, source: str | None = None, settings: Mapping[str, Any] | None = None) -> int:
        """Open a ``runs`` row (synchronously, with this process's pid and host) as this store's ``run_id``."""
        summary = json.dumps(dict(settings or {}), default=str, sort_keys=True)
        try:
            with self._lock:
                cur = self._conn.execute(
                    "INSERT INTO runs (started, mode, source, settings, status, events, pid, host) "
                    "VALUES (?, ?, ?, ?, 'running', 0, ?, ?)",
                    (time.time(), mode, source, summary, os.getpid(), this_host()),
                )
                self.run_id = int(cur.lastrowid)
        except sqlite3.DatabaseError as exc:  # read-only after all, disk full, ...
            raise journal_error(self.path, exc, write=True) from None
        return self.run_id

    def end_run(self, status: str = "ok", events: int | None = None) -> None:
        """Mark this store's run finished with ``status`` ('ok', 'interrupted', 'error') after a flush.

        When rows were lost (see ``flush``) the run is marked 'error' and the failure is raised.
        """
        if self.run_id is None:
            return
        try:
            self.flush()
        except RuntimeError:
            self._mark_run("error", events)
            raise
        self._mark_run(status, events)

    def _mark_run(self, status: str, events: int | None) -> None:
        with self._lock:
            self._conn.execute(
                "UPDATE runs SET ended = ?, status = ?, events = COALESCE(?, events) WHERE id = ?",
                (time.time(), status, events, self.run_id),
            )

    # -- generic writes --------------------------------------------------------------------

    def submit(self, table: str, row: Mapping[str, Any]) -> None:
        """Queue one row for ``table`` (created on first use, columns added as needed); returns at once."""
        self._put(("insert", table, [dict(row)], None))

    def submit_many(self, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Queue many rows for ``table``; returns at once."""
        batch = [dict(r) for r in rows]
        if batch:
            self._put(("insert", table, batch, None))

    def submit_ignore(self, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Queue rows whose primary key may already be stored (fills reported twice); repeats are ignored."""
        batch = [dict(r) for r in rows]
        if batch:
            self._put(("insert_ignore", table, batch, None))

    def upsert(self, table: str, row: Mapping[str, Any], pk: str | tuple[str, ...]) -> None:
        """Queue an insert-or-update of one row keyed by ``pk``; returns at once."""
        self._put(("upsert", table, [dict(row)], pk))

    def upsert_many(self, table: str, rows: Iterable[Mapping[str, Any]], pk: str | tuple[str, ...]) -> None:
        """Queue inserts-or-updates keyed by ``pk``; returns at once."""
        batch = [dict(r) for r in rows]
        if batch:
            self._put(("upsert", table, batch, pk))

    # -- the scanner's tables --------------------------------------------------------------

    def record_episode(self, episode: Any) -> None:
        """Queue one closed episode (an ``arbscan.scanner.Episode``) as a row of ``opportunities``."""
        self.submit("opportunities", episode.as_row())

    def record_funnel(self, funnels: Iterable[Any], now: float | None = None) -> None:
        """Queue the current counts of each route (``arbscan.scanner.RouteFunnel``) into ``funnel``."""
        updated = time.time() if now is None else now
        rows = []
        for f in funnels:
            row = f.as_row()
            row["updated"] = updated
            rows.append(row)
        self.upsert_many("funnel", rows, pk=("run_id", "symbol", "buy_exchange", "sell_exchange"))

    def record_funding(self, facts: Any, ts: float | None, set_id: int) -> None:
        """Queue one set of funding facts (an ``arbscan.funding.AssetFunding``) as rows of ``funding``."""
        self.submit_many("funding", funding_rows(facts, ts, set_id))

    def record_venue_stats(self, stats: Iterable[Any]) -> None:
        """Queue the feed statistics of each book (``arbscan.scanner.FeedStats``) into ``venue_stats``."""
        self.upsert_many("venue_stats", [s.as_row() for s in stats], pk=("run_id", "exchange", "symbol"))

    # -- lifecycle -------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> None:
        """Block until every row accepted so far is committed; raises ``RuntimeError`` once if a batch was lost."""
        if self._writer.is_alive():
            self._queue.put(_FLUSH)  # ends the writer's gathering: commit what is queued now
            if timeout is None:
                self._queue.join()
            else:
                deadline = time.monotonic() + timeout
                while self._queue.unfinished_tasks and time.monotonic() < deadline:
                    time.sleep(0.01)
        if self._committer.error is not None:  # reported once; later batches are still written
            error, self._committer.error = self._committer.error, None
            raise RuntimeError(f"journal writer failed, rows were lost: {error}") from error

    def close(self, status: str | None = None) -> None:
        """Flush, close the run (``status`` default 'ok'), stop the writer and close the file; safe twice."""
        if self._closed:
            return
        try:
            if self.run_id is not None and status is not None:
                self.end_run(status)
            elif self.run_id is not None:
                with self._lock:
                    ended = self._conn.execute("SELECT ended FROM runs WHERE id = ?", (self.run_id,)).fetchone()
                if ended is not None and ended[0] is None:
                    self.end_run("ok")
            else:
                self.flush()
        finally:
            self._closed = True
            self._queue.put(None)
            self._writer.join(timeout=30)
            with self._lock:
                try:
                    self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:  # pragma: no cover - best effort
                    pass
                self._conn.close()
            atexit.unregister(self.close)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        elif issubclass(exc_type, (KeyboardInterrupt, SystemExit)):
            self.close("interrupted")
        else:
            self.close("error")

    # -- writer thread ---------------------------------------------------------------------

    def _put(self, item: tuple[str, str, list[dict[str, Any]], Any]) -> None:
        if self._closed:
            raise RuntimeError("journal is closed")
        if self.run_id is not None:
            for row in item[2]:
                row.setdefault("run_id", self.run_id)
        with self._pending_cond:
            self._pending += len(item[2])
        self._queue.put(item)

    @property
    def backlog(self) -> int:
        """Rows accepted but not yet committed."""
        return self._pending

    def backpressure(self, max_rows: int | None = None) -> None:
        """Block while more than ``max_rows`` (default two batches) wait to be written.

        For CPU-bound producers such as a replay: the writer thread needs the GIL too, and a
        producer that never waits can run far ahead of it, so a crash would lose more than the last
        batch. Never call this from an event loop; live scanning produces far less than a batch.
        """
        limit = 2 * self._batch_size if max_rows is None else max_rows
        if self._pending <= limit:
            return
        with self._pending_cond:
            while self._pending > limit and self._writer.is_alive():
                self._pending_cond.wait(timeout=0.5)

    def _write_loop(self) -> None:
        # items: (op, table, rows, pk); _FLUSH commits at once; None stops the thread after a last commit
        stop = False
        while not stop:
            item = self._queue.get()
            batch = [item]
            deadline = time.monotonic() + self._flush_interval
            rows = 0 if item is None else len(item[2])
            # gather more work for this transaction, up to batch_size rows or flush_interval seconds
            while item is not None and item is not _FLUSH and rows < self._batch_size:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    item = self._queue.get(timeout=left)
                except queue.Empty:
                    break
                batch.append(item)
                if item is _FLUSH:
                    break
                if item is not None:
                    rows += len(item[2])
            work = [b for b in batch if b is not None and b is not _FLUSH]
            stop = any(b is None for b in batch)
            if work:
                self._committer.commit(work)
                with self._pending_cond:
                    self._pending -= sum(len(w[2]) for w in work)
                    self._pending_cond.notify_all()
            for _ in batch:
                self._queue.task_done()


Work = list[tuple[str, str, list[dict[str, Any]], Any]]
"""A batch: (operation, table, rows, primary key) items, in order; operation insert | insert_ignore | upsert."""


class BatchCommitter:
    """Commits batches of rows to one journal connection, one transaction per batch.

    Another connection (a report, the live journal) may hold the write lock past the busy timeout:
    the batch is kept and tried again. Any other failure loses that batch only; it is logged and kept
    in ``error`` for the owner to raise.
    """

    def __init__(self, conn: sqlite3.Connection, db: Database, lock: threading.Lock) -> None:
        self.conn = conn
        self.db = db
        self.lock = lock
        self.error: BaseException | None = None

    def commit(self, work: Work) -> None:
        """Write ``work`` in one transaction, retrying while the journal is locked."""
        for attempt in range(5):
            try:
                self._commit(work)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    self._fail(exc, work)
                    return
                logger.warning("journal busy (%s); retrying the batch", exc)
                time.sleep(min(0.1 * 2**attempt, 2.0))
            except Exception as exc:  # noqa: BLE001 - reported through the owner's flush()
                self._fail(exc, work)
                return
        self._fail(RuntimeError("journal stayed locked; batch not written"), work)

    def _fail(self, exc: BaseException, work: Work) -> None:
        if self.error is None:
            self.error = exc
        tables = sorted({table for _, table, _, _ in work})
        logger.error("journal write failed (%d rows for %s lost): %s", sum(len(w[2]) for w in work), ", ".join(tables), exc)

    def _commit(self, work: Work) -> None:
        # Consecutive rows with the same operation, table, key and columns share one statement; the
        # batch's order is kept. Rows with other columns start a new run: sqlite-utils gives every row
        # of one upsert_all the union of their columns, which would blank the ones a partial row omits.
        groups: list[tuple[tuple[str, str, Any], list[dict[str, Any]]]] = []
        last: tuple[str, str, Any, frozenset[str]] | None = None
        for op, table, rows, pk in work:
            for row in rows:
                key = (op, table, pk, frozenset(row))
                if key != last:
                    groups.append(((op, table, pk), []))
                    last = key
                groups[-1][1].append(row)
        with self.lock:
            # IMMEDIATE takes the write lock up front (waiting up to the busy timeout), so a batch
            # never fails half-way because another connection wrote between its reads and writes
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                with self.db.atomic():  # a savepoint inside the batch's transaction
                    for (op, table, pk), rows in groups:
                        clean = [_row(r) for r in rows]
                        if op == "insert":
                            self.db[table].insert_all(clean, alter=True, batch_size=100)
                        elif op == "insert_ignore":
                            self.db[table].insert_all(clean, alter=True, ignore=True, batch_size=100)
                        else:
                            self.db[table].upsert_all(clean, pk=pk, alter=True, batch_size=100)
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
