"""The execution journal: the one interface through which paper and live trading write their rows.

Both modes write the same rows, built by the same code (``TrackedOrder.as_row``, ``PairedTrade.as_row``,
:func:`fill_row`, :func:`balance_row`) into the same tables (``trades``, ``orders``, ``order_events``,
``fills``, ``balances``) with ``mode`` 'paper' or 'live'. They differ only in durability:

* :class:`DurableJournal` (live): its own SQLite connection, each call one committed transaction, so an
  order's intent is on disk before the order leaves (a crash after ``COMMIT`` keeps the row; WAL mode).
  It also holds the kill switch (``halts``) and the reads start-up reconciliation and the risk limits need.
* :class:`BatchedJournal` (paper): rows go to ``arbscan.journal.store.Store``'s batched writer thread, as the
  scanner's rows do; a replay produces thousands of orders a second and waits for no disk.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from arbscan.errors import ConfigError
from arbscan.journal.schema import FILL_COLUMNS, ORDER_COLUMNS, TRADE_COLUMNS, to_db_value
from arbscan.model import FINAL_STATUSES, ZERO, OrderStatus

__all__ = ["ExecutionJournal", "Event", "JournaledOrder", "DurableJournal", "BatchedJournal", "balance_row"]

class JournaledOrder(Protocol):
    """An order as the journal writes it (``arbscan.execution.orders.TrackedOrder`` is one)."""

    def as_row(self, run_id: int | None, mode: str) -> dict[str, Any]: ...


Event = tuple[str, float, OrderStatus | None, OrderStatus, str | None]
"""One order transition: (client id, time, from status or None for the intent, to status, detail)."""


def balance_row(strategy: str | None, exchange: str, asset: str, free: Decimal, ts: float,
                trade_id: str | None) -> dict[str, Any]:
    """A row of table ``balances``: the free ``asset`` on ``exchange`` after ``trade_id`` (None: at the start)."""
    return {"strategy": strategy, "exchange": exchange, "asset": asset, "free": free, "ts": ts, "trade_id": trade_id}


def _event_row(run_id: int | None, event: Event) -> dict[str, Any]:
    client_id, ts, old, new, detail = event
    return {"run_id": run_id, "client_id": client_id, "ts": ts, "from_status": None if old is None else old.value,
            "to_status": new.value, "detail": detail}


class ExecutionJournal(Protocol):
    """Where a trade's rows go; ``mode`` ('paper' | 'live') and ``run_id`` tag every row."""

    mode: str
    run_id: int | None

    def write(self, *, orders: Iterable[JournaledOrder] = (), events: Iterable[Event] = (),
              fills: Iterable[Mapping[str, Any]] = (), trade: Mapping[str, Any] | None = None) -> None:
        """Write orders (upsert), transitions, fills (a repeat is ignored) and a trade row (upsert)."""

    def write_balances(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append ``balances`` rows (see :func:`balance_row`)."""

    def close(self) -> None:
        """Release what the journal holds (not the store: its owner closes it)."""


class BatchedJournal:
    """Paper trading's journal: rows queued on the store's writer thread (``store`` None: nothing is written)."""

    def __init__(self, store: Any, mode: str = "paper", run_id: int | None = None) -> None:
        self.store = store
        self.mode = mode
        self._run_id = run_id

    @property
    def run_id(self) -> int | None:
        """The run these rows belong to: the one given, else the store's."""
        return self._run_id if self._run_id is not None else getattr(self.store, "run_id", None)

    def write(self, *, orders: Iterable[JournaledOrder] = (), events: Iterable[Event] = (),
              fills: Iterable[Mapping[str, Any]] = (), trade: Mapping[str, Any] | None = None) -> None:
        """Queue the rows; returns at once (see :class:`ExecutionJournal`)."""
        store = self.store
        if store is None:
            return
        run_id, mode = self.run_id, self.mode
        if trade is not None:
            store.upsert("trades", {"run_id": run_id, "mode": mode, **trade}, pk="id")
        for o in orders:
            store.upsert("orders", o.as_row(run_id, mode), pk="client_id")
        rows = [_event_row(run_id, e) for e in events]
        if rows:
            store.submit_many("order_events", rows)
        rows = [{"run_id": run_id, "mode": mode, **f} for f in fills]
        if rows:
            store.submit_ignore("fills", rows)

    def write_balances(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Queue ``balances`` rows."""
        if self.store is not None:
            self.store.submit_many("balances", [{"run_id": self.run_id, "mode": self.mode, **r} for r in rows])

    def close(self) -> None:
        """Nothing to release: the store belongs to whoever opened it."""


class DurableJournal:
    """Live trading's journal: committed writes on its own connection, each call one transaction.

    Opens the journal file that ``arbscan.journal.store.Store`` created and migrated. ``run_id`` is the
    ``runs`` row of this process (may be None).
    """

    def __init__(self, path: str | Path, run_id: int | None = None, mode: str = "live") -> None:
        if str(path) == ":memory:":
            raise ConfigError("live execution needs a journal file, not ':memory:'")
        self.path = Path(path)
        self.run_id = run_id
        self.mode = mode
        self._conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        (version,) = self._conn.execute("PRAGMA user_version").fetchone()
        if version < 2:
            raise ConfigError(f"journal {str(self.path)!r} has no execution tables; open it with arbscan.journal.store.Store first")

    @classmethod
    def for_store(cls, store: Any, mode: str = "live") -> DurableJournal:
        """A journal on the same file and run as an ``arbscan.journal.store.Store``."""
        return cls(store.path, store.run_id, mode)

    def close(self) -> None:
        """Close the connection; safe to call twice."""
        try:
            self._conn.close()
        except sqlite3.Error:  # pragma: no cover - best effort
            pass

    # -- writes ----------------------------------------------------------------------------

    def _transaction(self, statements: list[tuple[str, list[Any]]]) -> None:
        if not statements:
            return
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in statements:
                conn.execute(sql, params)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @staticmethod
    def _upsert(table: str, cols: tuple[str, ...], pk: str, row: Mapping[str, Any]) -> tuple[str, list[Any]]:
        present = [c for c in cols if c in row]
        updates = ", ".join(f"{c} = excluded.{c}" for c in present if c not in (pk, "run_id", "created", "opened"))
        sql = (f"INSERT INTO {table} ({', '.join(present)}) VALUES ({', '.join('?' for _ in present)}) "
               f"ON CONFLICT({pk}) DO UPDATE SET {updates}")
        return sql, [to_db_value(row[c]) for c in present]

    def write(self, *, orders: Iterable[JournaledOrder] = (), events: Iterable[Event] = (),
              fills: Iterable[Mapping[str, Any]] = (), trade: Mapping[str, Any] | None = None) -> None:
        """Write the rows in one committed transaction (see :class:`ExecutionJournal`); on disk when it returns."""
        statements: list[tuple[str, list[Any]]] = []
        if trade is not None:
            statements.append(self._upsert("trades", TRADE_COLUMNS, "id", {"run_id": self.run_id, "mode": self.mode, **trade}))
        for o in orders:
            statements.append(self._upsert("orders", ORDER_COLUMNS, "client_id", o.as_row(self.run_id, self.mode)))
        for e in events:
            row = _event_row(self.run_id, e)
            statements.append((f"INSERT INTO order_events ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                               list(row.values())))
        for f in fills:
            row = {"run_id": self.run_id, "mode": self.mode, **f}
            statements.append((f"INSERT OR IGNORE INTO fills ({', '.join(FILL_COLUMNS)}) "
                               f"VALUES ({', '.join('?' for _ in FILL_COLUMNS)})",
                               [to_db_value(row.get(c)) for c in FILL_COLUMNS]))
        self._transaction(statements)

    def write_balances(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append ``balances`` rows in one committed transaction."""
        sql = ("INSERT INTO balances (run_id, mode, strategy, exchange, asset, free, ts, trade_id) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        self._transaction([(sql, [self.run_id, self.mode, r.get("strategy"), r["exchange"], r["asset"],
                                  to_db_value(r["free"]), r["ts"], r.get("trade_id")]) for r in rows])

    # -- halts (the kill switch) -----------------------------------------------------------

    def set_halt(self, reason: str, ts: float) -> int:
        """Persist a halt; returns its id. Trading stays halted until :meth:`clear_halts`."""
        cur = self._conn.execute("INSERT INTO halts (set_at, reason, run_id) VALUES (?, ?, ?)", (ts, reason, self.run_id))
        return int(cur.lastrowid)

    def active_halts(self) -> list[dict[str, Any]]:
        """Halts not cleared yet, oldest first."""
        return [dict(r) for r in self._conn.execute("SELECT * FROM halts WHERE cleared_at IS NULL ORDER BY id")]

    def clear_halts(self, by: str, ts: float) -> int:
        """Clear every active halt (what ``arbscan resume`` does); returns how many were cleared."""
        cur = self._conn.execute("UPDATE halts SET cleared_at = ?, cleared_by = ? WHERE cleared_at IS NULL", (ts, by))
        return cur.rowcount

    def mark_inventory_handled(self, by: str) -> int:
        """Kept imbalances stop counting as open exposure (flattened or accepted by the user); returns how many."""
        cur = self._conn.execute(
            "UPDATE trades SET imbalance_action = 'handled', detail = COALESCE(detail || '; ', '') || ? "
            "WHERE mode = ? AND imbalance_action = 'kept' AND status != 'unknown'",
            (f"inventory handled ({by})", self.mode),
        )
        return cur.rowcount

    # -- reads -----------------------------------------------------------------------------

    def unfinished_order_rows(self) -> list[Any]:
        """``orders`` rows of this mode not in a final state (intents, sent, open, unknown), oldest first."""
        finals = tuple(s.value for s in FINAL_STATUSES)
        rows = self._conn.execute(
            f"SELECT * FROM orders WHERE mode = ? AND status NOT IN ({', '.join('?' for _ in finals)}) ORDER BY created",
            (self.mode, *finals),
        ).fetchall()
        return rows

    def trade_order_rows(self, trade_id: str) -> list[Any]:
        """Every ``orders`` row of one paired trade, in creation order."""
        rows = self._conn.execute("SELECT * FROM orders WHERE trade_id = ? ORDER BY created, rowid", (trade_id,))
        return rows.fetchall()

    def trade(self, trade_id: str) -> dict[str, Any] | None:
        """One ``trades`` row, or None."""
        row = self._conn.execute("SELECT * FROM trades WHERE id = ?", (trade_id,)).fetchone()
        return None if row is None else dict(row)

    def unsettled_trades(self) -> list[dict[str, Any]]:
        """Trades of this mode still 'open' or 'unknown'."""
        rows = self._conn.execute(
            "SELECT * FROM trades WHERE mode = ? AND status IN ('open', 'unknown') ORDER BY opened", (self.mode,))
        return [dict(r) for r in rows.fetchall()]

    def realised_since(self, since: float) -> Decimal:
        """Exact sum of ``realised_pnl`` of this mode's settled trades closed at or after ``since`` ('unknown' excluded)."""
        rows = self._conn.execute(
            "SELECT realised_pnl FROM trades WHERE mode = ? AND closed >= ? AND realised_pnl IS NOT NULL "
            "AND status != 'unknown'", (self.mode, since)).fetchall()
        return sum((Decimal(r[0]) for r in rows), ZERO)

    def open_inventory(self) -> dict[tuple[str, str], Decimal]:
        """(symbol, buy_exchange) -> base left as inventory by trades that kept an imbalance (not yet handled)."""
        rows = self._conn.execute(
            "SELECT symbol, buy_exchange, imbalance FROM trades WHERE mode = ? AND imbalance IS NOT NULL "
            "AND imbalance_action = 'kept'", (self.mode,)).fetchall()
        out: dict[tuple[str, str], Decimal] = {}
        for sym, ex, imb in rows:
            out[(sym, ex)] = out.get((sym, ex), ZERO) + Decimal(imb)
        return out
