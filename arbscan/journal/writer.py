"""How the journal's rows reach the file: a writer thread that gathers them into batches, and the
committer that writes one batch in one transaction.

:class:`BatchWriter` owns the queue and the thread (``arbscan.journal.store.Store`` hands it rows and waits
on it); :class:`BatchCommitter` is shared with the ``--workers`` journal writer
(``arbscan.parallel.journal_writer``) for what its fast path does not take.
"""

from __future__ import annotations

import logging
import os
import queue
import sqlite3
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from sqlite_utils import Database

from arbscan.journal.schema import to_db_value

__all__ = ["BatchWriter", "BatchCommitter", "Work", "Item"]

logger = logging.getLogger("arbscan.journal.store")

Item = tuple[str, str, list[dict[str, Any]], Any]
"""One queued write: (operation, table, rows, primary key); operation insert | insert_ignore | upsert."""

_FLUSH: Item = ("flush", "", [], None)


def _row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: to_db_value(v) for k, v in row.items()}



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



class BatchWriter:
    """The writer thread: commits queued rows in batches of up to ``batch_size`` rows or ``flush_interval`` seconds."""

    def __init__(self, committer: BatchCommitter, *, batch_size: int, flush_interval: float) -> None:
        self.committer = committer
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._queue: queue.Queue[Item | None] = queue.Queue()
        self._pending = 0  # rows accepted but not yet committed (or lost)
        self._pending_cond = threading.Condition()
        self.thread = threading.Thread(target=self._write_loop, name="arbscan-store", daemon=True)
        self.thread.start()
        _lower_priority(self.thread)

    def put(self, item: Item) -> None:
        """Queue one write; returns at once."""
        with self._pending_cond:
            self._pending += len(item[2])
        self._queue.put(item)

    @property
    def backlog(self) -> int:
        """Rows accepted but not yet committed."""
        return self._pending

    def wait_below(self, limit: int) -> None:
        """Block while more than ``limit`` rows wait to be written (returns if the thread has stopped)."""
        if self._pending <= limit:
            return
        with self._pending_cond:
            while self._pending > limit and self.thread.is_alive():
                self._pending_cond.wait(timeout=0.5)

    def flush(self, timeout: float | None = None) -> None:
        """Block until every write queued so far is committed (or ``timeout`` seconds have passed)."""
        if not self.thread.is_alive():
            return
        self._queue.put(_FLUSH)  # ends the writer's gathering: commit what is queued now
        if timeout is None:
            self._queue.join()
        else:
            deadline = time.monotonic() + timeout
            while self._queue.unfinished_tasks and time.monotonic() < deadline:
                time.sleep(0.01)

    def stop(self, timeout: float = 30) -> None:
        """Commit what is queued and end the thread."""
        self._queue.put(None)
        self.thread.join(timeout=timeout)

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
                self.committer.commit(work)
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
