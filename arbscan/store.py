"""The SQLite journal: sqlite-utils over one WAL database, versioned migrations, batched writes.

Writes never run on the caller's thread: ``submit`` / ``submit_many`` / ``upsert`` put rows on a
queue and return at once; a writer thread commits them in batches (one transaction per batch), so
a crash loses at most the batch being written and never leaves a half-written row. ``flush()``
waits until everything accepted is committed; ``close()`` flushes, closes the run and the file.

Exact values (``Decimal``) are stored as TEXT, times as REAL unix seconds, enums by value. Every
row carries the ``run_id`` of the ``runs`` row this process opened with :meth:`Store.start_run`.

Schema changes go in :data:`MIGRATIONS`, an ordered list of ``(name, function)`` pairs: append a
new pair at the end (never edit or reorder one that has shipped); version = position + 1, kept in
``PRAGMA user_version``.
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
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from sqlite_utils import Database

__all__ = ["Store", "MIGRATIONS", "FUNNEL_COUNTS", "TRADE_STATUSES", "SCHEMA_VERSION", "to_db_value"]

logger = logging.getLogger(__name__)

TRADE_STATUSES = ("open", "filled", "partial", "missed", "imbalanced", "flattened", "failed", "unknown")
"""The values of ``trades.status`` (paper and live), in the order reports list them."""

FUNNEL_COUNTS = (
    "evaluated",
    "crossed_before_fees",
    "live",
    "not_crossed",
    "fees",
    "depth_or_minimums",
    "balance",
    "below_min_bps",
    "stale",
    "episodes",
)
"""The integer counters of one route in table ``funnel`` (see ``arbscan.scanner.RouteFunnel``)."""


def _m001_journal(db: Database) -> None:
    """runs, opportunities (one row per episode), funnel (per route), venue_stats (per book feed)."""
    db["runs"].create(
        {
            "id": int,
            "started": float,
            "ended": float,
            "mode": str,  # 'scan' | 'replay' | 'record' | ...
            "source": str,  # replay file, or the venues scanned
            "settings": str,  # JSON summary of the settings used; never secrets
            "status": str,  # 'running' | 'ok' | 'interrupted' | 'error'
            "events": int,
        },
        pk="id",
    )
    db["opportunities"].create(
        {
            "id": int,
            "run_id": int,
            "symbol": str,
            "buy_exchange": str,
            "sell_exchange": str,
            "first_seen": float,  # time of the first live evaluation
            "last_seen": float,  # time of the last live evaluation
            "observations": int,  # live evaluations in the episode
            "peak_ts": float,  # time of the evaluation with the peak net_profit
            # the figures at the episode's peak net_profit, exact decimals as TEXT
            "amount": str,
            "buy_vwap": str,
            "sell_vwap": str,
            "buy_limit": str,
            "sell_limit": str,
            "buy_cost": str,
            "sell_proceeds": str,
            "buy_fee": str,
            "sell_fee": str,
            "net_profit": str,
            "net_bps": str,
            "closed_at": float,  # event time at which the episode closed
            "close_reason": str,  # 'uncrossed' | 'stale' | 'end'
            "close_detail": str,  # funnel reason of the closing evaluation ('fees', 'below_min_bps', ...)
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
    )
    db["opportunities"].create_index(["run_id"])
    db["opportunities"].create_index(["symbol", "buy_exchange", "sell_exchange"])
    funnel_cols: dict[str, Any] = {"run_id": int, "symbol": str, "buy_exchange": str, "sell_exchange": str}
    funnel_cols.update({name: int for name in FUNNEL_COUNTS})
    funnel_cols["updated"] = float
    db["funnel"].create(
        funnel_cols,
        pk=("run_id", "symbol", "buy_exchange", "sell_exchange"),
        foreign_keys=[("run_id", "runs", "id")],
    )
    db["venue_stats"].create(
        {
            "run_id": int,
            "exchange": str,
            "symbol": str,
            "events": int,  # book events seen
            "first_ts": float,
            "last_ts": float,
            "max_gap_ms": float,  # longest time between two consecutive events of this book
            "gaps_over_max_age": int,  # gaps longer than max_book_age_ms (the book went stale)
            "max_book_age_ms": int,
        },
        pk=("run_id", "exchange", "symbol"),
        foreign_keys=[("run_id", "runs", "id")],
    )


def _m002_execution(db: Database) -> None:
    """Paper and live execution share these tables; ``mode`` ('paper' | 'live') tells them apart.

    trades: one row per paired trade (both legs and any flattening), written when it opens and
    updated as it settles. orders: one row per order, written as an intent BEFORE it is sent,
    updated on every status change. order_events: the state machine's transitions, append-only.
    fills: keyed by (exchange, trade_id) so a fill reported twice is stored once. balances: the
    balances of a strategy on each venue after each trade (append-only). halts: the kill switch.
    """
    db["trades"].create(
        {
            "id": str,  # our paired-trade id
            "run_id": int,
            "mode": str,  # 'paper' | 'live'
            "strategy": str,
            "symbol": str,
            "buy_exchange": str,
            "sell_exchange": str,
            "opened": float,  # event time the strategy decided
            "closed": float,  # event time the trade settled (NULL while open)
            "status": str,  # 'open' | 'filled' | 'partial' | 'missed' | 'imbalanced' | 'flattened' | 'failed' | 'unknown'
            "planned_amount": str,
            "buy_limit": str,
            "sell_limit": str,
            "expected_profit": str,  # the opportunity's net_profit for the planned amount
            "buy_filled": str,
            "sell_filled": str,
            "buy_cost": str,  # quote spent on the buy leg incl. fee
            "sell_proceeds": str,  # quote received on the sell leg net of fee
            "flatten_amount": str,  # base traded by flattening orders (signed: + bought, - sold)
            "flatten_pnl": str,  # quote result of the flattening orders incl. fees
            "realised_pnl": str,  # quote PnL of the matched amount plus flattening, after all fees
            "imbalance": str,  # base left as inventory after the trade (+ long on buy venue, - short)
            "imbalance_action": str,  # 'none' | 'flattened' | 'kept'
            "detail": str,
        },
        pk="id",
    )
    db["trades"].create_index(["run_id", "mode", "strategy"])
    db["orders"].create(
        {
            "client_id": str,
            "run_id": int,
            "mode": str,
            "strategy": str,
            "trade_id": str,
            "role": str,  # 'buy' | 'sell' | 'flatten'
            "exchange": str,
            "symbol": str,
            "side": str,  # 'buy' | 'sell'
            "amount": str,
            "limit_price": str,
            "time_in_force": str,
            "status": str,  # arbscan.model.OrderStatus value
            "filled": str,
            "avg_price": str,
            "fee": str,
            "exchange_order_id": str,
            "created": float,
            "updated": float,
            "error": str,
        },
        pk="client_id",
    )
    db["orders"].create_index(["trade_id"])
    db["orders"].create_index(["status"])
    db["order_events"].create(
        {"id": int, "run_id": int, "client_id": str, "ts": float, "from_status": str, "to_status": str, "detail": str},
        pk="id",
    )
    db["order_events"].create_index(["client_id"])
    db["fills"].create(
        {
            "exchange": str,
            "trade_id": str,  # the venue's trade id (paper: generated)
            "run_id": int,
            "mode": str,
            "client_id": str,
            "symbol": str,
            "side": str,
            "amount": str,
            "price": str,
            "fee": str,
            "fee_asset": str,
            "ts": float,
        },
        pk=("exchange", "trade_id"),
    )
    db["fills"].create_index(["client_id"])
    db["balances"].create(
        {
            "id": int,
            "run_id": int,
            "mode": str,
            "strategy": str,
            "exchange": str,
            "asset": str,
            "free": str,
            "ts": float,
            "trade_id": str,  # the trade after which this balance holds (NULL: starting balance)
        },
        pk="id",
    )
    db["balances"].create_index(["run_id", "mode", "strategy"])
    db["halts"].create(
        {"id": int, "set_at": float, "reason": str, "run_id": int, "cleared_at": float, "cleared_by": str},
        pk="id",
    )


def _m003_funnel_premium(db: Database) -> None:
    """funnel.max_gross_bps: the largest raw premium (best bid over best ask, before fees) seen on the route."""
    db["funnel"].add_column("max_gross_bps", str)


MIGRATIONS: list[tuple[str, Callable[[Database], None]]] = [
    ("journal", _m001_journal),
    ("execution", _m002_execution),
    ("funnel_premium", _m003_funnel_premium),
]
"""Ordered schema migrations; append only. Version N is ``MIGRATIONS[N - 1]``."""

SCHEMA_VERSION = len(MIGRATIONS)

_FLUSH: tuple[str, str, list[dict[str, Any]], Any] = ("flush", "", [], None)


def to_db_value(value: Any) -> Any:
    """A Python value as the journal stores it: Decimal -> exact TEXT, Enum -> its value, bool -> int."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str, sort_keys=True)
    return value


def _row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: to_db_value(v) for k, v in row.items()}


def _connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        uri = Path(path).resolve().as_uri() + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30)
    else:
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
    return conn


def migrate(db: Database) -> int:
    """Apply every migration newer than the database's ``user_version``; returns the new version."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version > len(MIGRATIONS):
        raise RuntimeError(f"journal schema version {version} is newer than this arbscan ({len(MIGRATIONS)})")
    for index in range(version, len(MIGRATIONS)):
        name, fn = MIGRATIONS[index]
        with db.atomic():  # one transaction per migration, version bump included
            fn(db)
            db.conn.execute(f"PRAGMA user_version = {index + 1}")
        logger.info("journal migrated to version %d (%s)", index + 1, name)
    return len(MIGRATIONS)


def _lower_priority(thread: threading.Thread) -> None:
    """Give the writer thread the lowest CPU priority (Linux: per-thread nice 19), best effort.

    On a busy core the OS otherwise lets the writer's SQLite work (which runs without the GIL)
    hold the CPU for a whole scheduler slice while the event loop waits: loop stalls of ~4 ms at
    the 99.9th percentile in BENCHMARKS.md's journal benchmark, ~0.3 ms at nice 19. The writer
    still gets every idle moment, and a share of a saturated core.
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
        try:
            self._conn = _connect(self.path)
            self.db = Database(self._conn)
            with self._lock:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable commits, crash-safe file
                self._conn.execute("PRAGMA foreign_keys=ON")
                migrate(self.db)
        except sqlite3.DatabaseError as exc:  # missing directory, no permission, not a database, ...
            from arbscan.errors import BadInput

            raise BadInput(f"journal {str(self.path)!r} cannot be opened: {exc}") from None
        self.run_id: int | None = None
        self._queue: queue.Queue[tuple[str, str, list[dict[str, Any]], Any] | None] = queue.Queue()
        self._error: BaseException | None = None
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
        """A read-only sqlite-utils ``Database`` on ``path``; works while a scanner writes (WAL)."""
        p = Path(path)
        if not p.exists():
            from arbscan.errors import BadInput

            raise BadInput(f"journal {str(p)!r} does not exist")
        return Database(_connect(p, readonly=True))

    # -- runs ------------------------------------------------------------------------------

    def start_run(self, mode: str, source: str | None = None, settings: Mapping[str, Any] | None = None) -> int:
        """Open a ``runs`` row (synchronously) and make it this store's ``run_id``; returns the id."""
        summary = json.dumps(dict(settings or {}), default=str, sort_keys=True)
        with self._lock:
            cur = self._conn.execute(
                "INSERT INTO runs (started, mode, source, settings, status, events) VALUES (?, ?, ?, ?, 'running', 0)",
                (time.time(), mode, source, summary),
            )
            self.run_id = int(cur.lastrowid)
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
        if self._error is not None:  # reported once; later batches are still written
            error, self._error = self._error, None
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
                self._commit_with_retry(work)
                with self._pending_cond:
                    self._pending -= sum(len(w[2]) for w in work)
                    self._pending_cond.notify_all()
            for _ in batch:
                self._queue.task_done()

    def _commit_with_retry(self, work: list[tuple[str, str, list[dict[str, Any]], Any]]) -> None:
        # Another connection (a report, the live journal) may hold the write lock past the busy
        # timeout: keep the batch and try again. Any other failure loses this batch only; it is
        # logged, and the next flush() or close() raises it to the caller.
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
            except Exception as exc:  # noqa: BLE001 - reported through flush()
                self._fail(exc, work)
                return
        self._fail(RuntimeError("journal stayed locked; batch not written"), work)

    def _fail(self, exc: BaseException, work: list[tuple[str, str, list[dict[str, Any]], Any]]) -> None:
        if self._error is None:
            self._error = exc
        tables = sorted({table for _, table, _, _ in work})
        logger.error("journal write failed (%d rows for %s lost): %s", sum(len(w[2]) for w in work), ", ".join(tables), exc)

    def _commit(self, work: list[tuple[str, str, list[dict[str, Any]], Any]]) -> None:
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
        with self._lock:
            # IMMEDIATE takes the write lock up front (waiting up to the busy timeout), so a batch
            # never fails half-way because another connection wrote between its reads and writes
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._write_groups(groups)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _write_groups(self, groups: list[tuple[tuple[str, str, Any], list[dict[str, Any]]]]) -> None:
        with self.db.atomic():  # a savepoint inside the batch's transaction
            for (op, table, pk), rows in groups:
                clean = [_row(r) for r in rows]
                if op == "insert":
                    self.db[table].insert_all(clean, alter=True, batch_size=100)
                elif op == "insert_ignore":
                    self.db[table].insert_all(clean, alter=True, ignore=True, batch_size=100)
                else:
                    self.db[table].upsert_all(clean, pk=pk, alter=True, batch_size=100)
