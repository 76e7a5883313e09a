"""The order state machine and the order tracker that journals every transition, durably, before acting on it.

The legal moves of an order live in one table, :data:`TRANSITIONS` (nautilus keeps its order state
table the same way); :func:`check_transition` raises :class:`IllegalTransition` for anything else,
and an update that would shrink an order's filled amount is refused the same way.

``CREATED`` is an intent: written to the journal before the order is sent. ``UNKNOWN`` is an order we
sent without learning whether the venue has it (timeout, reset, 5xx): it is never resent, only
reconciled by client id. FILLED, CANCELED, REJECTED and EXPIRED are final.

The journal rows (tables ``orders``, ``order_events``, ``fills``, ``trades``, ``halts`` of
``arbscan.store`` migration 2) are written by :class:`LiveJournal` on its own SQLite connection, one
committed transaction per call, because ``Store``'s writer is batched on a thread and an intent must
be on disk before its order leaves (a crash after ``commit`` keeps the row; WAL mode).
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from arbscan.errors import ConfigError, IllegalTransition
from arbscan.model import ZERO, OrderRequest, OrderStatus, OrderUpdate, Side

__all__ = [
    "TRANSITIONS",
    "FINAL",
    "IllegalTransition",
    "check_transition",
    "new_client_id",
    "TrackedOrder",
    "LiveJournal",
    "OrderTracker",
]

logger = logging.getLogger(__name__)

S = OrderStatus

FINAL = frozenset({S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED})
"""States after which no fill can happen and no transition is legal."""

_VENUE_STATES = frozenset({S.SUBMITTED, S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED})

TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = {
    # intent written; the send answers with the venue's state, or we cannot tell (UNKNOWN)
    S.CREATED: _VENUE_STATES | {S.UNKNOWN},
    # acknowledged without a state (Kraken "pending", a bare order id)
    S.SUBMITTED: (_VENUE_STATES - {S.SUBMITTED}) | {S.UNKNOWN},
    S.OPEN: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED, S.UNKNOWN}),
    # PARTIALLY_FILLED -> PARTIALLY_FILLED is legal when the filled amount grows
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED, S.UNKNOWN}),
    # reconciliation by client id: whatever the venue says, or "never placed" (REJECTED)
    S.UNKNOWN: _VENUE_STATES,
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}
"""Legal moves: ``TRANSITIONS[old]`` is the set of states an order in ``old`` may move to."""


def check_transition(old: OrderStatus, new: OrderStatus, old_filled: Decimal = ZERO, new_filled: Decimal = ZERO) -> None:
    """Raise ``IllegalTransition`` unless ``old -> new`` is in :data:`TRANSITIONS` and the fill does not shrink."""
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(f"order cannot move from {old.value} to {new.value}")
    if new_filled < old_filled:
        raise IllegalTransition(f"filled amount cannot shrink ({old_filled} -> {new_filled})")


def new_client_id() -> str:
    """A fresh client order id: a random UUID, the one form every venue accepts (Kraken, Coinbase, Binance)."""
    return str(uuid.uuid4())


@dataclass(slots=True)
class TrackedOrder:
    """One of our orders as the tracker knows it: the request, its role in a paired trade, and its state."""

    req: OrderRequest
    trade_id: str
    role: str  # 'buy' | 'sell' | 'flatten'
    strategy: str
    status: OrderStatus = S.CREATED
    filled: Decimal = ZERO
    avg_price: Decimal | None = None
    fee: Decimal = ZERO
    exchange_order_id: str | None = None
    error: str | None = None
    created: float = 0.0
    updated: float = 0.0

    @property
    def client_id(self) -> str:
        """Our client order id."""
        return self.req.client_id

    @property
    def is_final(self) -> bool:
        """True when no further fill can happen."""
        return self.status in FINAL

    @property
    def quote_flow(self) -> Decimal:
        """Quote this order moved into (+) or out of (-) the account, fees included (fees are in quote)."""
        if self.filled == 0 or self.avg_price is None:
            return -self.fee
        notional = self.filled * self.avg_price
        return (notional - self.fee) if self.req.side is Side.SELL else -(notional + self.fee)

    @property
    def base_flow(self) -> Decimal:
        """Base this order added (+, buy) or removed (-, sell)."""
        return self.filled if self.req.side is Side.BUY else -self.filled

    def as_row(self, run_id: int | None, mode: str) -> dict[str, Any]:
        """The order as a row of table ``orders`` (exact values as TEXT)."""
        r = self.req
        return {
            "client_id": r.client_id,
            "run_id": run_id,
            "mode": mode,
            "strategy": self.strategy,
            "trade_id": self.trade_id,
            "role": self.role,
            "exchange": r.exchange,
            "symbol": r.symbol,
            "side": r.side.value,
            "amount": str(r.amount),
            "limit_price": str(r.limit_price),
            "time_in_force": r.time_in_force,
            "status": self.status.value,
            "filled": str(self.filled),
            "avg_price": None if self.avg_price is None else str(self.avg_price),
            "fee": str(self.fee),
            "exchange_order_id": self.exchange_order_id,
            "created": self.created,
            "updated": self.updated,
            "error": self.error,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> TrackedOrder:
        """Rebuild an order from its ``orders`` row (start-up reconciliation)."""
        req = OrderRequest(
            client_id=row["client_id"],
            exchange=row["exchange"],
            symbol=row["symbol"],
            side=Side(row["side"]),
            amount=Decimal(row["amount"]),
            limit_price=Decimal(row["limit_price"]),
            time_in_force=row["time_in_force"] or "IOC",
        )
        return cls(
            req=req,
            trade_id=row["trade_id"],
            role=row["role"],
            strategy=row["strategy"],
            status=OrderStatus(row["status"]),
            filled=Decimal(row["filled"] or "0"),
            avg_price=None if row["avg_price"] is None else Decimal(row["avg_price"]),
            fee=Decimal(row["fee"] or "0"),
            exchange_order_id=row["exchange_order_id"],
            error=row["error"],
            created=row["created"] or 0.0,
            updated=row["updated"] or 0.0,
        )


_ORDER_COLS = (
    "client_id", "run_id", "mode", "strategy", "trade_id", "role", "exchange", "symbol", "side", "amount",
    "limit_price", "time_in_force", "status", "filled", "avg_price", "fee", "exchange_order_id", "created",
    "updated", "error",
)
_TRADE_COLS = (
    "id", "run_id", "mode", "strategy", "symbol", "buy_exchange", "sell_exchange", "opened", "closed", "status",
    "planned_amount", "buy_limit", "sell_limit", "expected_profit", "buy_filled", "sell_filled", "buy_cost",
    "sell_proceeds", "flatten_amount", "flatten_pnl", "realised_pnl", "imbalance", "imbalance_action", "detail",
)
_FILL_COLS = ("exchange", "trade_id", "run_id", "mode", "client_id", "symbol", "side", "amount", "price", "fee",
              "fee_asset", "ts")


def _text(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (OrderStatus, Side)):
        return value.value
    return value


class LiveJournal:
    """Synchronous, committed writes of the execution tables; each call is one transaction, on disk when it returns.

    Opens its own connection to the journal file that ``arbscan.store.Store`` created and migrated
    (the tables are migration 2's). ``run_id`` is the ``runs`` row of this process (may be None).
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
            raise ConfigError(f"journal {str(self.path)!r} has no execution tables; open it with arbscan.store.Store first")

    @classmethod
    def for_store(cls, store: Any, mode: str = "live") -> LiveJournal:
        """A journal on the same file and run as an ``arbscan.store.Store``."""
        return cls(store.path, store.run_id, mode)

    def close(self) -> None:
        """Close the connection; safe to call twice."""
        try:
            self._conn.close()
        except sqlite3.Error:  # pragma: no cover - best effort
            pass

    # -- writes ----------------------------------------------------------------------------

    def _upsert_sql(self, table: str, cols: tuple[str, ...], pk: tuple[str, ...], row: Mapping[str, Any]) -> tuple[str, list[Any]]:
        present = [c for c in cols if c in row]
        marks = ", ".join("?" for _ in present)
        updates = ", ".join(f"{c} = excluded.{c}" for c in present if c not in pk and c not in ("run_id", "created", "opened"))
        sql = f"INSERT INTO {table} ({', '.join(present)}) VALUES ({marks}) ON CONFLICT({', '.join(pk)}) DO UPDATE SET {updates}"
        return sql, [_text(row[c]) for c in present]

    def write(
        self,
        orders: Iterable[TrackedOrder] = (),
        events: Iterable[tuple[str, float, OrderStatus | None, OrderStatus, str | None]] = (),
        fills: Iterable[Mapping[str, Any]] = (),
        trade: Mapping[str, Any] | None = None,
    ) -> None:
        """Write orders (upsert), transition events, fills (repeats ignored) and a trade row in one committed transaction."""
        statements: list[tuple[str, list[Any]]] = []
        if trade is not None:
            row = {"run_id": self.run_id, "mode": self.mode, **trade}
            statements.append(self._upsert_sql("trades", _TRADE_COLS, ("id",), row))
        for o in orders:
            statements.append(self._upsert_sql("orders", _ORDER_COLS, ("client_id",), o.as_row(self.run_id, self.mode)))
        for client_id, ts, old, new, detail in events:
            statements.append((
                "INSERT INTO order_events (run_id, client_id, ts, from_status, to_status, detail) VALUES (?, ?, ?, ?, ?, ?)",
                [self.run_id, client_id, ts, None if old is None else old.value, new.value, detail],
            ))
        for f in fills:
            row = {"run_id": self.run_id, "mode": self.mode, **f}
            statements.append((
                f"INSERT OR IGNORE INTO fills ({', '.join(_FILL_COLS)}) VALUES ({', '.join('?' for _ in _FILL_COLS)})",
                [_text(row.get(c)) for c in _FILL_COLS],
            ))
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

    def write_trade(self, trade: Mapping[str, Any]) -> None:
        """Insert or update one ``trades`` row (committed on return)."""
        self.write(trade=trade)

    def write_balances(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append ``balances`` rows (exchange, asset, free, ts, strategy, trade_id)."""
        rows = list(rows)
        if not rows:
            return
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for r in rows:
                conn.execute(
                    "INSERT INTO balances (run_id, mode, strategy, exchange, asset, free, ts, trade_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [self.run_id, self.mode, r.get("strategy"), r["exchange"], r["asset"], _text(r["free"]), r["ts"], r.get("trade_id")],
                )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- halts -----------------------------------------------------------------------------

    def set_halt(self, reason: str, ts: float) -> int:
        """Persist a halt (the kill switch); returns its id. Trading stays halted until :meth:`clear_halts`."""
        conn = self._conn
        cur = conn.execute("INSERT INTO halts (set_at, reason, run_id) VALUES (?, ?, ?)", (ts, reason, self.run_id))
        return int(cur.lastrowid)

    def active_halts(self) -> list[dict[str, Any]]:
        """Halts not cleared yet, oldest first."""
        rows = self._conn.execute("SELECT * FROM halts WHERE cleared_at IS NULL ORDER BY id").fetchall()
        return [dict(r) for r in rows]

    def clear_halts(self, by: str, ts: float) -> int:
        """Clear every active halt (what ``arbscan resume`` does); returns how many were cleared."""
        cur = self._conn.execute(
            "UPDATE halts SET cleared_at = ?, cleared_by = ? WHERE cleared_at IS NULL", (ts, by)
        )
        return cur.rowcount

    # -- reads -----------------------------------------------------------------------------

    def mark_inventory_handled(self, by: str) -> int:
        """Kept imbalances no longer count as open exposure (the user flattened or accepted them); returns how many."""
        cur = self._conn.execute(
            "UPDATE trades SET imbalance_action = 'handled', detail = COALESCE(detail || ' | ', '') || ? "
            "WHERE mode = ? AND imbalance_action = 'kept' AND status != 'unknown'",
            (f"inventory handled ({by})", self.mode),
        )
        return cur.rowcount

    def unfinished_orders(self) -> list[TrackedOrder]:
        """Orders of this mode not in a final state (intents, sent, open, unknown), oldest first."""
        finals = tuple(s.value for s in FINAL)
        rows = self._conn.execute(
            f"SELECT * FROM orders WHERE mode = ? AND status NOT IN ({', '.join('?' for _ in finals)}) ORDER BY created",
            (self.mode, *finals),
        ).fetchall()
        return [TrackedOrder.from_row(r) for r in rows]

    def trade_orders(self, trade_id: str) -> list[TrackedOrder]:
        """Every order of one paired trade, in creation order."""
        rows = self._conn.execute("SELECT * FROM orders WHERE trade_id = ? ORDER BY created, rowid", (trade_id,)).fetchall()
        return [TrackedOrder.from_row(r) for r in rows]

    def trade(self, trade_id: str) -> dict[str, Any] | None:
        """One ``trades`` row, or None."""
        row = self._conn.execute("SELECT * FROM trades WHERE id = ?", (trade_id,)).fetchone()
        return None if row is None else dict(row)

    def unsettled_trades(self) -> list[dict[str, Any]]:
        """Trades of this mode still 'open' or 'unknown'."""
        rows = self._conn.execute(
            "SELECT * FROM trades WHERE mode = ? AND status IN ('open', 'unknown') ORDER BY opened", (self.mode,)
        ).fetchall()
        return [dict(r) for r in rows]

    def realised_since(self, since: float) -> Decimal:
        """Sum of ``realised_pnl`` of this mode's settled trades closed at or after ``since`` (exact; 'unknown' ones excluded)."""
        rows = self._conn.execute(
            "SELECT realised_pnl FROM trades WHERE mode = ? AND closed >= ? AND realised_pnl IS NOT NULL "
            "AND status != 'unknown'", (self.mode, since)
        ).fetchall()
        return sum((Decimal(r[0]) for r in rows), ZERO)

    def open_inventory(self) -> dict[tuple[str, str], Decimal]:
        """(symbol, buy_exchange) -> base left as inventory by trades that kept an imbalance (not yet handled)."""
        rows = self._conn.execute(
            "SELECT symbol, buy_exchange, imbalance FROM trades WHERE mode = ? AND imbalance IS NOT NULL "
            "AND imbalance_action = 'kept'",
            (self.mode,),
        ).fetchall()
        out: dict[tuple[str, str], Decimal] = {}
        for sym, ex, imb in rows:
            out[(sym, ex)] = out.get((sym, ex), ZERO) + Decimal(imb)
        return out


@dataclass(slots=True)
class OrderTracker:
    """Our orders in memory, each move checked against :data:`TRANSITIONS` and committed to the journal first."""

    journal: LiveJournal
    clock: Callable[[], float] = time.time
    orders: dict[str, TrackedOrder] = field(default_factory=dict)

    def intent(self, req: OrderRequest, trade_id: str, role: str, strategy: str) -> TrackedOrder:
        """Record the intent to send ``req`` (status CREATED) durably; only then may it be sent."""
        if req.client_id in self.orders:
            raise IllegalTransition(f"client id {req.client_id} is already used")
        now = self.clock()
        order = TrackedOrder(req, trade_id, role, strategy, created=now, updated=now)
        self.journal.write(orders=[order], events=[(req.client_id, now, None, S.CREATED, f"{role} intent")])
        self.orders[req.client_id] = order
        return order

    def adopt(self, order: TrackedOrder) -> TrackedOrder:
        """Track an order loaded from the journal (start-up reconciliation); nothing is written."""
        self.orders[order.client_id] = order
        return order

    def apply(self, update: OrderUpdate, detail: str | None = None) -> TrackedOrder:
        """Move an order to the venue's view in ``update``; journals the transition and any new fill."""
        order = self.orders[update.client_id]
        new = update.status
        grew = update.filled > order.filled
        if new is order.status and not grew:
            # the same news again: nothing moved (a repeat is not a transition)
            if update.exchange_order_id and not order.exchange_order_id:
                order.exchange_order_id = update.exchange_order_id
                order.updated = self.clock()
                self.journal.write(orders=[order])
            return order
        check_transition(order.status, new, order.filled, update.filled)
        now = self.clock()
        fills = []
        if grew:
            fills.append(self._fill_row(order, update, now))
        old = order.status
        order.status = new
        order.filled = update.filled
        if update.avg_price is not None:
            order.avg_price = update.avg_price
        order.fee = max(order.fee, update.fee)
        if update.exchange_order_id:
            order.exchange_order_id = update.exchange_order_id
        order.updated = now
        self.journal.write(orders=[order], events=[(order.client_id, now, old, new, detail)], fills=fills)
        return order

    def mark(self, client_id: str, status: OrderStatus, error: str) -> TrackedOrder:
        """Move an order to ``status`` without a venue update (UNKNOWN after a timeout, REJECTED after a refusal)."""
        order = self.orders[client_id]
        check_transition(order.status, status)
        now = self.clock()
        old = order.status
        order.status = status
        order.error = error
        order.updated = now
        self.journal.write(orders=[order], events=[(client_id, now, old, status, error)])
        return order

    def _fill_row(self, order: TrackedOrder, update: OrderUpdate, now: float) -> dict[str, Any]:
        # Adapters report cumulative fills per order, not venue trade ids: each increase becomes one
        # fill keyed by (client id, cumulative amount), so the same report seen twice is stored once.
        delta = update.filled - order.filled
        price = update.avg_price or order.req.limit_price
        if order.avg_price is not None and order.filled > 0 and update.avg_price is not None:
            price = (update.avg_price * update.filled - order.avg_price * order.filled) / delta
        quote = order.req.symbol.partition("/")[2]
        return {
            "exchange": order.req.exchange,
            "trade_id": f"{order.client_id}:{update.filled}",
            "client_id": order.client_id,
            "symbol": order.req.symbol,
            "side": order.req.side.value,
            "amount": delta,
            "price": price,
            "fee": max(update.fee - order.fee, ZERO),
            "fee_asset": quote,
            "ts": now,
        }
