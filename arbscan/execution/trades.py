"""One paired trade's life, the same for paper and live: plan, intents, two IOC legs, settle, imbalance policy, outcome.

:class:`Lifecycle` runs it. Only the venue behind the legs differs (``arbscan.execution.paper.PaperVenue``
simulates fills on the event clock; ``arbscan.execution.live.LiveVenue`` sends real orders); everything else —
the order state table (``arbscan.execution.orders``), the rows journaled, the imbalance policy and the one rule
for a trade's status, inventory and realised PnL (:func:`settle`) — is this module's, for both modes.

1. :meth:`Lifecycle.open`: a ``trades`` row (status ``open``), then both legs' intents (``orders``,
   ``created``), journaled before anything is sent.
2. :meth:`Lifecycle.run`: the venue executes both legs (IOC limit orders at the plan's worst prices)
   and drives each to its end through the tracker; an uneven fill is flattened by the imbalance
   policy (:func:`flatten_request`) unless the policy keeps it or the kill switch is set;
3. :meth:`Lifecycle.finish`: :func:`settle` decides the outcome, the trade row and the balances after
   it are journaled, and the ``finished`` listeners (risk limits, reservations, alerts) are told.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Protocol

from arbscan.execution.journal import ExecutionJournal, balance_row
from arbscan.model import ZERO, BookSnapshot, Market, Opportunity, OrderRequest, OrderStatus, Route, Side
from arbscan.execution.orders import OrderTracker, TrackedOrder

__all__ = [
    "PairedTrade",
    "Outcome",
    "settle",
    "realised_pnl",
    "flatten_request",
    "LegVenue",
    "Lifecycle",
    "NOT_SENT",
    "KEEP",
]

logger = logging.getLogger(__name__)

NOT_SENT = "not sent"
"""Error prefix of orders refused before they left (rate limit, validate-only, a halt): not a venue's refusal."""

KEEP = "keep"
"""The imbalance policy that keeps an uneven fill as inventory (paper trading's, and a live choice)."""


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    """``value`` rounded down to a whole multiple of ``step``."""
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def ceil_to(value: Decimal, step: Decimal) -> Decimal:
    """``value`` rounded up to a whole multiple of ``step``."""
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


@dataclass(slots=True)
class PairedTrade:
    """One paired trade: the plan, its two legs, any flattening orders, and how it settled."""

    id: str
    strategy: str
    opp: Opportunity  # the sized plan
    opened: float
    base: str
    quote: str
    buy: TrackedOrder | None = None
    sell: TrackedOrder | None = None
    flatten: list[TrackedOrder] = field(default_factory=list)
    status: str = "open"
    closed: float | None = None
    imbalance: Decimal = ZERO
    imbalance_action: str = "none"
    realised_pnl: Decimal | None = None
    detail: str | None = None  # while open: the venue's note on the plan; once settled: how it went
    notes: list[str] = field(default_factory=list)  # what the venue and the policy noted while it ran

    @property
    def route(self) -> Route:
        """(symbol, buy_exchange, sell_exchange)."""
        return (self.opp.symbol, self.opp.buy_exchange, self.opp.sell_exchange)

    @property
    def orders(self) -> list[TrackedOrder]:
        """Every order of the trade: buy leg, sell leg, flattening."""
        return [o for o in (self.buy, self.sell) if o is not None] + list(self.flatten)

    def as_row(self) -> dict[str, Any]:
        """The trade as a row of table ``trades`` (the fill columns once both legs exist)."""
        o = self.opp
        row: dict[str, Any] = {
            "id": self.id, "strategy": self.strategy, "symbol": o.symbol, "buy_exchange": o.buy_exchange,
            "sell_exchange": o.sell_exchange, "opened": self.opened, "closed": self.closed, "status": self.status,
            "planned_amount": o.amount, "buy_limit": o.buy_limit, "sell_limit": o.sell_limit,
            "expected_profit": o.net_profit, "detail": self.detail,
        }
        if self.buy is not None and self.sell is not None:
            row["buy_filled"] = self.buy.filled
            row["sell_filled"] = self.sell.filled
            row["buy_cost"] = ZERO - self.buy.quote_flow  # never -0
            row["sell_proceeds"] = self.sell.quote_flow
            row["flatten_amount"] = sum((f.base_flow for f in self.flatten), ZERO)
            row["flatten_pnl"] = sum((f.quote_flow for f in self.flatten), ZERO)
            row["imbalance"] = self.imbalance
            row["imbalance_action"] = self.imbalance_action
            row["realised_pnl"] = self.realised_pnl
        return row


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a paired trade ended (see :func:`settle`)."""

    status: str  # one of arbscan.journal.schema.TRADE_STATUSES except 'open'
    imbalance: Decimal  # base left as inventory: + long on the buy venue, - short on the sell venue
    imbalance_action: str  # 'none' | 'flattened' | 'kept'
    realised_pnl: Decimal
    failed: bool  # a refused leg, an unresolved order, or a flattening that did not complete
    notes: tuple[str, ...]


def realised_pnl(orders: Iterable[TrackedOrder], buy: TrackedOrder, sell: TrackedOrder, residual: Decimal) -> Decimal:
    """Quote PnL after all fees of the amounts that were traded out; inventory left is carried at its cost.

    Every order's quote flow counts (fees included), except the part of the leg that left the
    inventory (``residual`` base: + bought on the buy leg, - sold on the sell leg) which is carried at
    what it cost or brought, fee included: so the PnL of two uneven legs is that of their matched
    amount (the larger leg counted pro rata), and flattening orders count in full.
    """
    orders = list(orders)
    if residual == 0:
        return sum((o.quote_flow for o in orders), ZERO)
    leg = buy if residual > 0 else sell
    if not leg.filled:
        return sum((o.quote_flow for o in orders), ZERO)
    others = sum((o.quote_flow for o in orders if o is not leg), ZERO)
    return others + leg.quote_flow * (leg.filled - abs(residual)) / leg.filled


def settle(trade: PairedTrade, policy: str, startup: bool = False) -> Outcome:
    """The one rule for a paired trade's status, inventory and realised PnL, paper and live alike.

    ``unknown`` while an order is unresolved; ``flattened`` when uneven legs were brought back to
    zero, ``imbalanced`` when some inventory is left; else ``filled`` (the planned amount on both
    legs), ``partial`` (both legs equal but short), ``failed`` (a venue refused a leg) or ``missed``.
    ``startup``: settled by start-up reconciliation, where nothing is flattened and an imbalance is
    only reported.
    """
    buy, sell = trade.buy, trade.sell
    assert buy is not None and sell is not None
    orders = trade.orders
    unresolved = [o for o in orders if not o.is_final]
    excess = buy.filled - sell.filled
    residual = sum((o.base_flow for o in orders), ZERO)
    rejected = [o for o in orders if o.status is OrderStatus.REJECTED and not (o.error or "").startswith(NOT_SENT)]
    action = "none"
    notes = list(trade.notes)
    if unresolved:
        status, action = "unknown", "kept"
        notes = ["unresolved: " + ", ".join(f"{o.role} {o.client_id} ({o.status.value})" for o in unresolved)]
    elif excess != 0:
        status, action = ("flattened", "flattened") if residual == 0 else ("imbalanced", "kept")
    elif buy.filled == trade.opp.amount:
        status = "filled"
    elif buy.filled > 0:
        status = "partial"
    else:
        status = "failed" if rejected else "missed"
    if startup:
        notes.append("settled by start-up reconciliation")
    if rejected:
        notes.append("rejected: " + "; ".join(f"{o.role} {o.error}" for o in rejected))
    if startup and residual != 0 and not unresolved:
        notes.append(f"imbalance {residual} found at start-up: not traded, flatten it by hand or keep it")
    failed = bool(unresolved or rejected or (excess != 0 and residual != 0 and policy != KEEP))
    return Outcome(status, residual, action, realised_pnl(orders, buy, sell, residual), failed, tuple(notes))


def flatten_request(trade: PairedTrade, policy: str, market: Market | None, max_slippage_bps: Decimal,
                    client_id: str) -> OrderRequest | str | None:
    """The IOC order that brings the trade's base back to zero under ``policy``.

    ``flatten_buy_venue``: trade the excess on the buy venue (sell back what was bought too much, or
    buy the shortfall); ``flatten_sell_venue``: on the sell venue. The limit is the leg's fill price
    moved by at most ``max_slippage_bps`` (a sell limit rounded up, a buy limit down, to the price
    step) and the amount is rounded down to the amount step. Returns None when there is nothing to
    flatten or the policy keeps it, and a note (str) when the excess is below the venue's minimums.
    """
    buy, sell, opp = trade.buy, trade.sell, trade.opp
    assert buy is not None and sell is not None
    excess = buy.filled - sell.filled
    if excess == 0 or policy == KEEP:
        return None
    on_buy_venue = policy == "flatten_buy_venue"
    venue = opp.buy_exchange if on_buy_venue else opp.sell_exchange
    ref = (buy.avg_price or opp.buy_limit) if on_buy_venue else (sell.avg_price or opp.sell_limit)
    side = Side.SELL if excess > 0 else Side.BUY
    slip = max_slippage_bps / Decimal(10000)
    limit = ref * (1 - slip) if side is Side.SELL else ref * (1 + slip)
    amount = abs(excess)
    if market is not None:
        limit = ceil_to(limit, market.price_step) if side is Side.SELL else floor_to(limit, market.price_step)
        amount = floor_to(amount, market.amount_step)
        if amount <= 0 or amount < market.min_amount or amount * limit < market.min_cost:
            return f"imbalance {excess} below {venue}'s minimum order: kept"
    return OrderRequest(client_id, venue, opp.symbol, side, amount, limit)


class LegVenue(Protocol):
    """The venue behind a trade's legs: simulated (paper) or real (live); see the module docstring."""

    executes_orders: bool  # False: nothing can execute (validate-only), so nothing is flattened either

    def trade_id(self) -> str:
        """A new paired-trade id."""

    def client_id(self, trade_id: str, role: str) -> str:
        """A new client order id for one order of trade ``trade_id``."""

    def open_note(self, trade: PairedTrade) -> str | None:
        """What the venue says about a trade when it is opened (paper: when its orders are due)."""

    async def execute(self, trade: PairedTrade, orders: list[TrackedOrder]) -> None:
        """Send ``orders`` (both legs at once, or one flattening order) and drive each to its end."""

    def held(self, exchange: str, asset: str) -> Decimal | None:
        """The free ``asset`` held on ``exchange`` as the venue knows it (None: unknown)."""

    def book(self, exchange: str, symbol: str) -> BookSnapshot | None:
        """The latest book of ``symbol`` on ``exchange`` as orders would meet it."""


Finished = Callable[[PairedTrade, Outcome, bool], None]
"""A listener told of every settled trade: (trade, outcome, settled at start-up)."""


class Lifecycle:
    """Opens, runs and finishes paired trades for one strategy (see the module docstring)."""

    def __init__(self, *, strategy: str, tracker: OrderTracker, journal: ExecutionJournal, venue: LegVenue,
                 markets: Any, policy: str = KEEP, max_slippage_bps: Decimal = Decimal(30),
                 halted: Callable[[], str | None] = lambda: None) -> None:
        self.strategy = strategy
        self.tracker = tracker
        self.journal = journal
        self.venue = venue
        self.markets = markets  # (exchange, symbol) -> Market, read when a trade opens and flattens
        self.policy = policy
        self.max_slippage_bps = max_slippage_bps
        self.halted = halted  # the kill switch's reason, or None
        self.finished: list[Finished] = []

    @property
    def clock(self) -> Callable[[], float]:
        """The tracker's clock: wall time live, the event clock on paper."""
        return self.tracker.clock

    def open(self, opp: Opportunity) -> PairedTrade:
        """Journal the trade (status ``open``) and both legs' intents; nothing has been sent yet."""
        market = self.markets.get((opp.buy_exchange, opp.symbol))
        base, _, quote = opp.symbol.partition("/")
        if market is not None:
            base, quote = market.base, market.quote
        venue = self.venue
        trade = PairedTrade(venue.trade_id(), self.strategy, opp, self.clock(), base, quote)
        trade.detail = venue.open_note(trade)
        self.journal.write(trade=trade.as_row())
        trade.detail = None
        tracker = self.tracker
        trade.buy = tracker.intent(OrderRequest(venue.client_id(trade.id, "buy"), opp.buy_exchange, opp.symbol,
                                                Side.BUY, opp.amount, opp.buy_limit), trade.id, "buy", self.strategy)
        trade.sell = tracker.intent(OrderRequest(venue.client_id(trade.id, "sell"), opp.sell_exchange, opp.symbol,
                                                 Side.SELL, opp.amount, opp.sell_limit), trade.id, "sell", self.strategy)
        return trade

    async def run(self, trade: PairedTrade) -> PairedTrade:
        """Execute both legs, flatten an uneven fill by the policy, then :meth:`finish`."""
        assert trade.buy is not None and trade.sell is not None
        await self.venue.execute(trade, [trade.buy, trade.sell])
        order = self._flatten_order(trade)
        if order is not None:
            trade.flatten.append(order)
            await self.venue.execute(trade, [order])
        self.finish(trade)
        return trade

    def _flatten_order(self, trade: PairedTrade) -> TrackedOrder | None:
        buy, sell = trade.buy, trade.sell
        assert buy is not None and sell is not None
        excess = buy.filled - sell.filled
        if excess == 0:
            return None
        if self.policy == KEEP:
            trade.notes.append(f"imbalance {excess} {trade.base} kept as inventory")
            logger.info("strategy %s: %s uneven fill (bought %s, sold %s %s); imbalance %s kept as inventory",
                        self.strategy, trade.id, buy.filled, sell.filled, trade.base, excess)
            return None
        if not (buy.is_final and sell.is_final) or not self.venue.executes_orders:
            return None
        reason = self.halted()
        if reason is not None:  # a halt stops every order, flattening included: the imbalance is reported
            trade.notes.append(f"imbalance {excess} not flattened: trading halted ({reason})")
            return None
        venue = trade.opp.buy_exchange if self.policy == "flatten_buy_venue" else trade.opp.sell_exchange
        req = flatten_request(trade, self.policy, self.markets.get((venue, trade.opp.symbol)), self.max_slippage_bps,
                              self.venue.client_id(trade.id, "flatten"))
        if isinstance(req, str):
            trade.notes.append(req)
            return None
        if req is None:
            return None
        return self.tracker.intent(req, trade.id, "flatten", trade.strategy)

    def finish(self, trade: PairedTrade, *, startup: bool = False) -> Outcome:
        """Settle the trade (:func:`settle`), journal it and the balances after it, and tell the listeners."""
        outcome = settle(trade, self.policy, startup)
        trade.status = outcome.status
        trade.imbalance = outcome.imbalance
        trade.imbalance_action = outcome.imbalance_action
        trade.realised_pnl = outcome.realised_pnl
        trade.detail = "; ".join(dict.fromkeys(outcome.notes)) or None
        now = self.clock()
        trade.closed = now
        self.journal.write(trade=trade.as_row())
        rows = []
        for exchange in dict.fromkeys(o.req.exchange for o in trade.orders):
            for asset in (trade.base, trade.quote):
                held = self.venue.held(exchange, asset)
                if held is not None:
                    rows.append(balance_row(trade.strategy, exchange, asset, held, now, trade.id))
        self.journal.write_balances(rows)
        self.tracker.forget(trade.orders)
        logger.info("trade %s %s: buy %s sell %s on %s, imbalance %s, pnl %s", trade.id, trade.status,
                    trade.buy.filled if trade.buy else "-", trade.sell.filled if trade.sell else "-",
                    trade.opp.symbol, trade.imbalance, trade.realised_pnl)
        for listener in self.finished:
            listener(trade, outcome, startup)
        return outcome

