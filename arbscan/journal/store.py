"""The journal's batched writer: sqlite-utils over one WAL database, rows committed in batches on a thread.

Writes never run on the caller's thread: ``submit`` / ``submit_many`` / ``upsert`` put rows on a
queue and return at once; a writer thread commits them in batches (one transaction per batch), so
a crash loses at most the batch being written and never leaves a half-written row. ``flush()``
waits until everything accepted is committed; ``close()`` flushes, closes the run and the file.

Exact values (``Decimal``) are stored as TEXT, times as REAL unix seconds, enums by value. Every
row carries the ``run_id`` of the ``runs`` row this process opened with :meth:`Store.start_run`.

The schema (migrations, statuses, how a value is stored) is ``arbscan.journal.schema``'s; the writer
thread and the batch committer are ``arbscan.journal.writer``'s.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from arbscan.journal.schema import (
    FUNNEL_COUNTS,
    MIGRATIONS,
    SCHEMA_VERSION,
    TRADE_STATUSES,
    migrate,
    to_db_value,
)
from arbscan.journal.file import (
    check_journal,
    journal_error,
    mark_crashed_runs,
    mark_crashed_runs_at,
    this_host,
)
from arbscan.journal.tables import ScannerTables
from arbscan.journal.writer import BatchCommitter, BatchWriter, Item

__all__ = ["Store", "BatchCommitter", "MIGRATIONS", "FUNNEL_COUNTS", "TRADE_STATUSES", "SCHEMA_VERSION", "to_db_value", "migrate"]

logger = logging.getLogger(__name__)

def _connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        uri = Path(path).resolve().as_uri() + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30)
    else:
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
    return conn


class Store(ScannerTables):
    """The journal: one SQLite file in WAL mode with a background writer thread.

    ``Store(path)`` (or ``Store.open(path)``) creates or migrates the file. Other modules write
    their own tables with ``submit(table, row)`` / ``submit_many`` / ``upsert``; the scanner uses
    ``record_episode``, ``record_funnel``, ``record_funding`` and ``record_venue_stats``
    (``arbscan.journal.tables``, shared with ``RemoteStore``).
    """

    def __init__(self, path: str | Path, *, batch_size: int = 500, flush_interval: float = 0.2) -> None:
        self.path = Path(path)
        self._batch_size = batch_size
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
        self._committer = BatchCommitter(self._conn, self.db, self._lock)
        self._batches = BatchWriter(self._committer, batch_size=batch_size, flush_interval=flush_interval)
        self._writer = self._batches.thread
        self._closed = False
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

    # -- lifecycle -------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> None:
        """Block until every row accepted so far is committed; raises ``RuntimeError`` once if a batch was lost."""
        self._batches.flush(timeout)
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
            self._batches.stop()
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

    # -- the writer thread (arbscan.journal.writer) ----------------------------------------------

    def _put(self, item: Item) -> None:
        if self._closed:
            raise RuntimeError("journal is closed")
        if self.run_id is not None:
            for row in item[2]:
                row.setdefault("run_id", self.run_id)
        self._batches.put(item)

    @property
    def backlog(self) -> int:
        """Rows accepted but not yet committed."""
        return self._batches.backlog

    def backpressure(self, max_rows: int | None = None) -> None:
        """Block while more than ``max_rows`` (default two batches) wait to be written.

        For CPU-bound producers such as a replay: the writer thread needs the GIL too, and a
        producer that never waits can run far ahead of it, so a crash would lose more than the last
        batch. Never call this from an event loop; live scanning produces far less than a batch.
        """
        self._batches.wait_below(2 * self._batch_size if max_rows is None else max_rows)
