"""Reconciliation: what happened to an order whose outcome we do not know, found by its client id.

An order is never sent twice. When a send's answer is lost (timeout, reset, 5xx, an unreadable
answer) the order is ``unknown`` and :meth:`Reconciler.resolve` asks the venue by client id
(``fetch_order``, then the venue's open and closed order lists where it has them) until the outcome
is known or the deadline passes, which halts trading. An IOC the venue reports as still open after
``order_timeout_s`` is cancelled once.

At start-up, :meth:`Reconciler.unfinished` does this for every order a previous process left
unfinished (intents included: a crash may have happened after the bytes left) before any new order:
an intent the venue does not know once ``reconcile_deadline_s`` has passed since it was written is
recorded as never placed (``rejected``); the trades are then settled, and an imbalance found this
way is reported, never traded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from arbscan.config.settings import LiveConfig
from arbscan.errors import NotSupported, OrderNotFound
from arbscan.execution.journal import DurableJournal
from arbscan.crossspread import CrossOpportunity
from arbscan.model import Opportunity, OrderStatus, OrderUpdate
from arbscan.execution.orders import OrderTracker, TrackedOrder, apply_or_halt
from arbscan.execution.risk import KillSwitch
from arbscan.execution.trades import Lifecycle, PairedTrade

__all__ = ["Reconciler"]

logger = logging.getLogger(__name__)


def _describe(exc: BaseException, timeout_s: float) -> str:
    """An exception as a log line never reads ``()``: a timeout says what timed out and after how long."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_s:g} s"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _plan_from_row(row: Mapping[str, Any]) -> Any:
    """Enough of an ``Opportunity`` (a ``CrossOpportunity`` for a cross-quote trade) to settle a trade found at start-up."""
    amount = Decimal(row["planned_amount"])
    buy_limit = Decimal(row["buy_limit"])
    sell_limit = Decimal(row["sell_limit"])
    if row.get("sell_symbol"):
        venue, _, symbol = str(row["conversion"]).partition(":")
        zero = Decimal(0)
        return CrossOpportunity(
            symbol=row["symbol"], sell_symbol=row["sell_symbol"], buy_exchange=row["buy_exchange"],
            sell_exchange=row["sell_exchange"], conversion_exchange=venue, conversion_symbol=symbol, amount=amount,
            buy_vwap=buy_limit, sell_vwap=sell_limit, buy_limit=buy_limit, sell_limit=sell_limit,
            buy_cost=amount * buy_limit, sell_proceeds=amount * sell_limit, buy_fee=zero, sell_fee=zero,
            conversion_side="", conversion_amount=zero, conversion_vwap=zero, conversion_limit=zero,
            conversion_fee=zero, conversion_in=zero, conversion_out=zero, conversion_rate=zero, unconverted=zero,
            net_profit=Decimal(row["expected_profit"] or "0"), net_bps=zero, ts=row["opened"] or 0.0)
    return Opportunity(
        symbol=row["symbol"], buy_exchange=row["buy_exchange"], sell_exchange=row["sell_exchange"], amount=amount,
        buy_vwap=buy_limit, sell_vwap=sell_limit, buy_limit=buy_limit, sell_limit=sell_limit,
        buy_cost=amount * buy_limit, sell_proceeds=amount * sell_limit,
        net_profit=Decimal(row["expected_profit"] or "0"), net_bps=Decimal(0), ts=row["opened"] or 0.0,
    )


class Reconciler:
    """Looks orders up by client id until their outcome is known (see the module docstring)."""

    def __init__(self, tracker: OrderTracker, adapters: Mapping[str, Any], config: LiveConfig, kill: KillSwitch,
                 *, poll_interval_s: float = 0.5, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.tracker = tracker
        self.adapters = adapters
        self.config = config
        self.kill = kill
        self.poll_interval_s = poll_interval_s
        self.clock = clock
        self.monotonic = monotonic

    def apply(self, order: TrackedOrder, update: OrderUpdate, detail: str) -> None:
        """Move ``order`` to the venue's view; a move the state table forbids keeps our state and halts trading."""
        if update.client_id != order.client_id:
            update = replace(update, client_id=order.client_id)
        apply_or_halt(self.tracker, update, self.kill.halt, detail)

    async def lookup(self, order: TrackedOrder, adapter: Any, timeout_s: float | None = None) -> OrderUpdate:
        """The venue's view of ``order`` by client id: ``fetch_order``, then its open and closed order lists.

        ``timeout_s`` (default ``order_timeout_s``) bounds each of those calls, not the three together: a
        venue under load that answers each within it is heard (``TimeoutError`` when one call is not).
        """
        timeout_s = self.config.order_timeout_s if timeout_s is None else timeout_s
        try:
            return await asyncio.wait_for(adapter.fetch_order(order.req.symbol, order.client_id), timeout_s)
        except OrderNotFound:
            pass
        for listing in (adapter.open_orders, adapter.closed_orders):
            try:
                listed = await asyncio.wait_for(listing(order.req.symbol), timeout_s)
            except NotSupported:  # the venue cannot list orders: fetch_order's answer stands
                continue
            for update in listed:
                if update.client_id == order.client_id:
                    return update
        raise OrderNotFound(f"{order.req.exchange}: no order with client id {order.client_id}")

    async def resolve(self, order: TrackedOrder, adapter: Any, deadline: float, *, startup: bool,
                      sent_at: float | None = None) -> None:
        """Poll the venue until ``order`` is final or ``deadline`` (monotonic) passes; the latter halts trading.

        At start-up, "not found" once the deadline has passed means the order was never placed.
        """
        cfg = self.config
        cancel_after = (sent_at if sent_at is not None else self.monotonic()) + cfg.order_timeout_s
        cancelled = not_found = False
        while not order.is_final:
            # At start-up nothing else waits on the answer: a slow venue gets until the deadline to give one
            # (never less than order_timeout_s a call), so its "not found" after the deadline is heard.
            timeout_s = max(cfg.order_timeout_s, deadline - self.monotonic()) if startup else cfg.order_timeout_s
            try:
                update = await self.lookup(order, adapter, timeout_s)
            except OrderNotFound:
                not_found = True
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep asking until the deadline
                not_found = False
                logger.warning("%s order %s: lookup failed (%s)", order.req.exchange, order.client_id,
                               _describe(exc, timeout_s))
            else:
                not_found = False
                self.apply(order, update, "start-up reconciliation" if startup else "reconciled")
                if order.is_final:
                    break
                if order.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.SUBMITTED) \
                        and not cancelled and self.monotonic() >= cancel_after:
                    cancelled = True
                    await self._cancel_once(order, adapter)
                    continue
            if self.monotonic() >= deadline:
                self._give_up(order, startup and not_found)
                return
            await asyncio.sleep(self.poll_interval_s)

    async def _cancel_once(self, order: TrackedOrder, adapter: Any) -> None:
        try:  # an IOC should never rest; if it does, take it off the book once (a cancel is allowed while halted)
            self.apply(order, await adapter.cancel_order(order.req.symbol, order.client_id), "cancel")
        except Exception as exc:  # noqa: BLE001
            logger.warning("%s order %s: cancel failed (%s)", order.req.exchange, order.client_id,
                           _describe(exc, self.config.order_timeout_s))

    def _give_up(self, order: TrackedOrder, never_placed: bool) -> None:
        deadline_s = self.config.reconcile_deadline_s
        if never_placed and order.status in (OrderStatus.CREATED, OrderStatus.UNKNOWN):
            self.tracker.mark(order.client_id, OrderStatus.REJECTED,
                              f"never placed: the venue has no order with this client id {deadline_s:g} s after the intent")
            return
        if not order.is_final:
            if order.status is OrderStatus.CREATED:
                self.tracker.mark(order.client_id, OrderStatus.UNKNOWN, "unresolved at start-up")
            self.kill.halt(f"{order.req.exchange} order {order.client_id}: outcome unresolved after "
                           f"{deadline_s:g} s ({order.status.value})")

    # -- start-up ------------------------------------------------------------------------

    async def unfinished(self, journal: DurableJournal, lifecycle: Lifecycle, strategy: str) -> list[PairedTrade]:
        """Reconcile every order a previous run left unfinished, then settle its trades; sends no new order."""
        orders = [TrackedOrder.from_row(r) for r in journal.unfinished_order_rows()]
        for o in orders:
            self.tracker.adopt(o)
        if orders:
            logger.warning("start-up: reconciling %d unfinished order(s) before any new order", len(orders))
        await asyncio.gather(*(self._at_startup(o) for o in orders))
        settled = []
        for tid in sorted({o.trade_id for o in orders} | {t["id"] for t in journal.unsettled_trades()}):
            row = journal.trade(tid)
            if row is None:
                continue
            plan = _plan_from_row(row)
            base, _, quote = plan.symbol.partition("/")
            trade = PairedTrade(tid, row["strategy"] or strategy, plan, row["opened"] or 0.0, base, quote)
            if row.get("sell_symbol"):  # a cross-quote trade
                trade.sell_quote = row["sell_symbol"].partition("/")[2]
                trade.convert_mode = row.get("convert") or lifecycle.convert
            for o in map(TrackedOrder.from_row, journal.trade_order_rows(tid)):
                o = self.tracker.orders.get(o.client_id, o)
                if o.role in ("buy", "sell"):
                    setattr(trade, o.role, o)
                elif o.role == "convert":
                    trade.convert = o
                else:
                    trade.flatten.append(o)
            if trade.buy is None or trade.sell is None:
                # crashed before both intents were written: the missing leg was never sent
                trade.status, trade.closed = "failed", self.clock()
                trade.detail = "start-up: trade had no complete pair of intents; nothing was sent for the missing leg"
                journal.write(trade=trade.as_row())
                continue
            lifecycle.finish(trade, startup=True)
            settled.append(trade)
        return settled

    async def _at_startup(self, order: TrackedOrder) -> None:
        adapter = self.adapters.get(order.req.exchange)
        if adapter is None:
            self.kill.halt(f"start-up: order {order.client_id} on {order.req.exchange} cannot be reconciled "
                           "(venue not configured)")
            return
        now = self.monotonic()
        deadline = max(now, now + (order.created + self.config.reconcile_deadline_s - self.clock()))
        await self.resolve(order, adapter, deadline, startup=True)
