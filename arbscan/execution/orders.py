"""The order state table, and the tracker that moves paper and live orders through it, journaling every move.

The legal moves of an order live in one table, :data:`TRANSITIONS` (nautilus keeps its order state
table the same way); :func:`check_transition` raises :class:`IllegalTransition` for anything else,
and an update that would shrink an order's filled amount is refused the same way. Paper and live
orders go through the same :class:`OrderTracker`; only its journal differs (batched for paper, one
committed transaction per move for live: see ``arbscan.execution.journal``).

``CREATED`` is an intent: journaled before the order is sent. ``UNKNOWN`` is an order we sent without
learning whether the venue has it (timeout, reset, 5xx): it is never resent, only reconciled by client
id. The final states are ``arbscan.model.FINAL_STATUSES``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from arbscan.errors import IllegalTransition
from arbscan.execution.journal import ExecutionJournal
from arbscan.model import FINAL_STATUSES, ZERO, Fill, OrderRequest, OrderStatus, OrderUpdate, Side

__all__ = [
    "TRANSITIONS",
    "FINAL",
    "IllegalTransition",
    "check_transition",
    "apply_or_halt",
    "new_client_id",
    "TrackedOrder",
    "OrderTracker",
]

logger = logging.getLogger(__name__)

S = OrderStatus

FINAL = FINAL_STATUSES
"""States after which no fill can happen and no transition is legal (``arbscan.model.FINAL_STATUSES``)."""

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
    notional: Decimal | None = None  # exact quote value of the fills when the venue reported each one
    ended: bool = False  # the venue's last word on an IOC came in a non-final state (paper: partially_filled)
    fills: tuple[Fill, ...] = ()  # the executions behind ``filled`` when the venue reported each one

    @property
    def client_id(self) -> str:
        """Our client order id."""
        return self.req.client_id

    @property
    def is_final(self) -> bool:
        """True when no further fill can happen: a final state, or an IOC whose venue said it was done."""
        return self.ended or self.status in FINAL

    @property
    def quote_flow(self) -> Decimal:
        """Quote this order moved into (+) or out of (-) the account, fees included (fees are in quote)."""
        if self.filled == 0 or (self.notional is None and self.avg_price is None):
            return ZERO - self.fee  # never -0
        notional = self.notional if self.notional is not None else self.filled * self.avg_price
        return (notional - self.fee) if self.req.side is Side.SELL else -(notional + self.fee)

    @property
    def base_flow(self) -> Decimal:
        """Base this order added (+, buy) or removed (-, sell)."""
        return self.filled if self.req.side is Side.BUY else -self.filled

    def as_row(self, run_id: int | None, mode: str) -> dict[str, Any]:
        """The order as a row of table ``orders`` (Decimals stay Decimal: the journal writes them as plain TEXT)."""
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
            "amount": r.amount,
            "limit_price": r.limit_price,
            "time_in_force": r.time_in_force,
            "status": self.status.value,
            "filled": self.filled,
            "avg_price": self.avg_price,
            "fee": self.fee,
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


@dataclass(slots=True)
class OrderTracker:
    """Our orders in memory, each move checked against :data:`TRANSITIONS` and journaled before it is acted on.

    ``clock`` stamps every move: wall time for live orders, the event clock for paper ones.
    """

    journal: ExecutionJournal
    clock: Callable[[], float] = time.time
    orders: dict[str, TrackedOrder] = field(default_factory=dict)

    def intent(self, req: OrderRequest, trade_id: str, role: str, strategy: str) -> TrackedOrder:
        """Record the intent to send ``req`` (status CREATED); only then may it be sent."""
        if req.client_id in self.orders:
            raise IllegalTransition(f"client id {req.client_id} is already used")
        now = self.clock()
        order = TrackedOrder(req, trade_id, role, strategy, created=now, updated=now)
        self.journal.write(orders=[order], events=[(req.client_id, now, None, S.CREATED, None)])
        self.orders[req.client_id] = order
        return order

    def forget(self, orders: Iterable[TrackedOrder]) -> None:
        """Stop tracking final orders (their trade has settled); unfinished ones stay for reconciliation."""
        for o in orders:
            if o.is_final:
                self.orders.pop(o.client_id, None)

    def adopt(self, order: TrackedOrder) -> TrackedOrder:
        """Track an order loaded from the journal (start-up reconciliation); nothing is written."""
        self.orders[order.client_id] = order
        return order

    def apply(self, update: OrderUpdate, detail: str | None = None, *, error: str | None = None,
              fills: Iterable[Fill] | None = None, last: bool = False) -> TrackedOrder:
        """Move an order to the venue's view in ``update``; journals the transition and every new fill.

        ``fills``: the executions behind the increase, when the venue reports each one (else one fill
        per increase is derived from the cumulative figures). ``error`` is kept on the order. ``last``:
        this is the venue's last word on the order (an IOC that ran its course), whatever its state.
        """
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
        if fills is not None:
            reported = list(fills)
            rows = [_reported_fill_row(f) for f in reported]
            order.notional = sum((f.price * f.amount for f in reported), order.notional or ZERO)
            order.fills += tuple(reported)
        else:
            rows = [self._fill_row(order, update, now)] if grew else []
        old = order.status
        order.status = new
        order.filled = update.filled
        if update.avg_price is not None:
            order.avg_price = update.avg_price
        order.fee = max(order.fee, update.fee)
        if update.exchange_order_id:
            order.exchange_order_id = update.exchange_order_id
        if error is not None:
            order.error = error
        order.ended = order.ended or last
        order.updated = now
        self.journal.write(orders=[order], events=[(order.client_id, now, old, new, detail)], fills=rows)
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


def apply_or_halt(tracker: OrderTracker, update: OrderUpdate, halt: Callable[[str], None], detail: str | None = None,
                  **kw: Any) -> bool:
    """A venue's news through ``tracker.apply``; a move the table forbids is refused and halts (False), paper and live.

    The refused move journals nothing and the order keeps its state; ``halt`` (the kill switch's) gets
    a reason naming the order and the move (``kraken order <id>: order cannot move from filled to open``).
    """
    try:
        tracker.apply(update, detail, **kw)
    except IllegalTransition as exc:  # the venue contradicts itself (or the simulation has a bug)
        order = tracker.orders[update.client_id]
        reason = f"{order.req.exchange} order {order.client_id}: {exc}"
        logger.error("%s", reason)
        halt(reason)
        return False
    return True


def _reported_fill_row(f: Fill) -> dict[str, Any]:
    return {"exchange": f.exchange, "trade_id": f.trade_id, "client_id": f.client_id, "symbol": f.symbol,
            "side": f.side.value, "amount": f.amount, "price": f.price, "fee": f.fee, "fee_asset": f.fee_asset,
            "ts": f.ts}
