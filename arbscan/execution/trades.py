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

A **cross-quote trade** (its plan an ``arbscan.crossspread.CrossOpportunity``: buy BASE/Q1, sell BASE/Q2)
runs the same steps; its sell leg trades the plan's ``sell_symbol``. The strategy's ``convert`` says what
happens to the Q2 the sell leg received: ``hold`` keeps it; ``each_trade`` adds a **third IOC leg**
(order role ``convert``) on the conversion market once the base legs (and any flattening) ended, sized
from the sell leg's fill (:func:`conversion_request`), journaled as an intent before it is sent and
driven by the same venue, tracker and halts as the other legs. It is never resent: a conversion that is
refused, fills partly or cannot be sent leaves a **Q2 imbalance** (``quote_imbalance``), reported in the
trade's detail. The Q2 left is valued in Q1 at the conversion book when the trade settles
(``quote_imbalance_value``) and counted in its ``realised_pnl`` (Q1).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Protocol

from arbscan.crossspread import convert_value
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
    "HOLD",
    "EACH_TRADE",
    "conversion_request",
    "cross_flows",
]

logger = logging.getLogger(__name__)

NOT_SENT = "not sent"
"""Error prefix of orders refused before they left (rate limit, validate-only, a halt): not a venue's refusal."""

KEEP = "keep"
"""The imbalance policy that keeps an uneven fill as inventory (paper trading's, and a live choice)."""


HOLD = "hold"
"""``convert = "hold"``: a cross-quote trade keeps the Q2 its sell leg received."""

EACH_TRADE = "each_trade"
"""``convert = "each_trade"``: a cross-quote trade converts the Q2 back into Q1 with a third leg."""


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
    # cross-quote trades only (``cross``): the sell leg's quote (Q2), the strategy's convert, the third leg
    sell_quote: str | None = None
    convert_mode: str | None = None
    convert: TrackedOrder | None = None
    quote_imbalance: Decimal = ZERO  # Q2 left on the sell venue
    quote_imbalance_value: Decimal | None = None  # that Q2 in Q1 at the conversion book (None: not valued)

    @property
    def cross(self) -> bool:
        """Whether the trade is cross-quote (its plan has a ``sell_symbol``)."""
        return self.sell_quote is not None

    @property
    def sell_symbol(self) -> str:
        """The sell leg's market: the plan's ``sell_symbol`` on a cross-quote trade, else its ``symbol``."""
        return getattr(self.opp, "sell_symbol", None) or self.opp.symbol

    @property
    def conversion(self) -> tuple[str, str] | None:
        """(venue, symbol) of a cross-quote trade's conversion market."""
        venue = getattr(self.opp, "conversion_exchange", None)
        return None if venue is None else (venue, self.opp.conversion_symbol)

    @property
    def route(self) -> Any:
        """(symbol, buy_exchange, sell_exchange); a cross-quote trade's adds the sell symbol and the conversion."""
        o = self.opp
        if self.cross:
            venue, symbol = self.conversion or ("", "")
            return (o.symbol, o.buy_exchange, self.sell_symbol, o.sell_exchange, f"{venue}:{symbol}")
        return (o.symbol, o.buy_exchange, o.sell_exchange)

    @property
    def base_orders(self) -> list[TrackedOrder]:
        """The orders that trade the base: buy leg, sell leg, flattening."""
        return [o for o in (self.buy, self.sell) if o is not None] + list(self.flatten)

    @property
    def orders(self) -> list[TrackedOrder]:
        """Every order of the trade: buy leg, sell leg, flattening, and a cross-quote trade's conversion leg."""
        return self.base_orders + ([self.convert] if self.convert is not None else [])

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
        if self.cross:
            venue, symbol = self.conversion or ("", "")
            row["sell_symbol"] = self.sell_symbol
            row["conversion"] = f"{venue}:{symbol}"
            row["convert"] = self.convert_mode
            if self.buy is not None and self.sell is not None:  # sell_proceeds (above) is in Q2 here
                row["conversion_filled"] = self.convert.filled if self.convert is not None else None
                row["conversion_proceeds"] = cross_flows(self)[2]
                row["quote_imbalance"] = self.quote_imbalance
                row["quote_imbalance_value"] = self.quote_imbalance_value
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
    quote_imbalance: Decimal = ZERO  # cross-quote trades: Q2 left on the sell venue


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


def cross_flows(trade: PairedTrade) -> tuple[Decimal, Decimal, Decimal]:
    """A cross-quote trade's quote flows: (Q1 of its base orders but the buy leg, Q2 left, Q1 the conversion gave).

    A base order trades Q2 when it is on the sell leg's market, else Q1 (fees in quote). The
    conversion leg sells Q2 for Q1 (a Q2/Q1 market: its base is Q2) or buys Q1 with Q2 (a Q1/Q2
    market); the Q2 it took is subtracted from what the base orders left.
    """
    q1 = q2 = ZERO
    for o in trade.base_orders:
        if o.req.symbol == trade.sell_symbol:
            q2 += o.quote_flow
        elif o is not trade.buy:
            q1 += o.quote_flow
    converted = ZERO
    c = trade.convert
    if c is not None and c.filled:
        if c.req.side is Side.SELL:  # Q2/Q1: Q2 is the base sold, Q1 the quote received net of fee
            q2 -= c.filled
            converted = c.quote_flow
        else:  # Q1/Q2: Q1 is the base bought, Q2 the quote paid incl. fee
            q2 += c.quote_flow
            converted = c.filled
    return q1, q2, converted


def _cross_pnl(trade: PairedTrade, residual: Decimal) -> Decimal:
    """Q1 PnL of a cross-quote trade: the buy leg, the Q1 the conversion gave and the Q2 left at its value.

    As :func:`realised_pnl`, only the matched amount counts: a long residual takes the buy leg pro
    rata, a short one the sell side (conversion and Q2 left) pro rata. Q2 left that could not be
    valued (no conversion book deep enough, as at start-up) is carried at its cost: the buy leg
    counts only for the share of the Q2 that was converted.
    """
    buy, sell = trade.buy, trade.sell
    assert buy is not None and sell is not None
    others, left, converted = cross_flows(trade)
    bought = buy.quote_flow
    value = trade.quote_imbalance_value
    if left > 0 and value is None:
        taken = _q2_converted(trade)
        bought = bought * taken / (taken + left)
    sold = converted + (value or ZERO)
    if residual > 0 and buy.filled:
        bought = bought * (buy.filled - residual) / buy.filled
    elif residual < 0 and sell.filled:
        sold = sold * (sell.filled + residual) / sell.filled
    return others + bought + sold


def _q2_converted(trade: PairedTrade) -> Decimal:
    """The Q2 a cross-quote trade's conversion leg took (0 without one)."""
    c = trade.convert
    if c is None or not c.filled:
        return ZERO
    return c.filled if c.req.side is Side.SELL else ZERO - c.quote_flow


def _plain(d: Decimal) -> str:
    """``d`` without trailing zeros or an exponent (``44.8100000`` -> ``44.81``)."""
    return format(d.normalize(), "f") if d else "0"


def _q2_note(trade: PairedTrade, left: Decimal) -> tuple[str, bool]:
    """What a cross-quote trade says about the Q2 it left, and whether that is a Q2 imbalance.

    ``hold`` keeps the Q2 by design; with ``each_trade`` a conversion leg that filled what it was
    asked leaves only the remainder below one conversion step; anything else (refused, partly
    filled, never sent, below the conversion's minimums) is a Q2 imbalance, never resent.
    """
    where = f"{_plain(left)} {trade.sell_quote} on {trade.opp.sell_exchange}"
    if trade.convert_mode == HOLD:
        return f"{where} held (convert = hold)", False
    c = trade.convert
    if c is not None and c.status is OrderStatus.FILLED and c.filled == c.req.amount:
        return f"{where} left below one conversion step", False
    done = "no conversion leg" if c is None else \
        f"conversion {c.client_id} {c.status.value}, filled {_plain(c.filled)} of {_plain(c.req.amount)}"
    return f"Q2 imbalance {where} ({done}); not resent", True


def settle(trade: PairedTrade, policy: str, startup: bool = False) -> Outcome:
    """The one rule for a paired trade's status, inventory and realised PnL, paper and live alike.

    ``unknown`` while an order is unresolved; ``flattened`` when uneven legs were brought back to
    zero, ``imbalanced`` when some inventory is left; else ``filled`` (the planned amount on both
    legs), ``partial`` (both legs equal but short), ``failed`` (a venue refused a leg) or ``missed``.
    ``startup``: settled by start-up reconciliation, where nothing is flattened and an imbalance is
    only reported. A cross-quote trade with ``convert = "each_trade"`` whose conversion did not
    complete (:func:`_q2_note`) is ``imbalanced`` (its Q2 imbalance in ``quote_imbalance``) and failed.
    """
    buy, sell = trade.buy, trade.sell
    assert buy is not None and sell is not None
    orders = trade.orders
    base_orders = trade.base_orders
    unresolved = [o for o in orders if not o.is_final]
    excess = buy.filled - sell.filled
    residual = sum((o.base_flow for o in base_orders), ZERO)
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
    if not trade.cross:
        return Outcome(status, residual, action, realised_pnl(orders, buy, sell, residual), failed, tuple(notes))
    left = cross_flows(trade)[1]
    if left > 0:
        note, imbalanced = _q2_note(trade, left)
        notes.append(note)
        if imbalanced:  # a conversion that did not complete counts as a failure, as an unflattened leg does
            failed = True
            if status in ("filled", "partial", "flattened"):  # the base legs went well, the conversion did not
                status, action = "imbalanced", "kept" if action == "none" else action
    return Outcome(status, residual, action, _cross_pnl(trade, residual), failed, tuple(notes), left)


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
    symbol = opp.symbol if on_buy_venue else trade.sell_symbol
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
    return OrderRequest(client_id, venue, symbol, side, amount, limit)


def conversion_request(trade: PairedTrade, market: Market | None, client_id: str) -> OrderRequest | str | None:
    """The third IOC leg of a cross-quote trade: the Q2 its sell leg received converted back into Q1.

    Sized from the Q2 the base orders left (the sell leg's fill net of its fee, plus or minus a
    flattening on the sell venue's BASE/Q2 market), at the plan's worst conversion price
    (``conversion_limit``): on a Q2/Q1 market it sells that Q2 rounded down to the market's amount
    step; on a Q1/Q2 market it buys the Q1 that Q2 pays for at the limit with the taker fee, rounded
    down. None when the sell leg received nothing; a note (str) when what it received is below the
    conversion market's minimums or the market is unknown.
    """
    sell, opp = trade.sell, trade.opp
    assert sell is not None and trade.conversion is not None
    q2 = cross_flows(trade)[1] if sell.filled else ZERO  # the sell leg's Q2, and a flattening's on the sell venue
    if q2 <= 0:
        return None
    venue, symbol = trade.conversion
    if market is None:
        return f"no market for the conversion {venue}:{symbol}: {q2} {trade.sell_quote} kept"
    limit = opp.conversion_limit
    if opp.conversion_side == "sell":
        side, amount = Side.SELL, floor_to(q2, market.amount_step)
    else:
        side, amount = Side.BUY, floor_to(q2 / (limit * (1 + market.taker_fee)), market.amount_step)
    if amount <= 0 or amount < market.min_amount or amount * limit < market.min_cost:
        return f"{q2} {trade.sell_quote} below {venue}'s minimum order on {symbol}: kept"
    return OrderRequest(client_id, venue, symbol, side, amount, limit)


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
                 halted: Callable[[], str | None] = lambda: None, convert: str = HOLD) -> None:
        self.strategy = strategy
        self.convert = convert  # what cross-quote trades do with the Q2 received: HOLD or EACH_TRADE
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
        sell_symbol = getattr(opp, "sell_symbol", None)
        if sell_symbol is not None:  # cross-quote: the sell leg trades BASE/Q2
            sell_market = self.markets.get((opp.sell_exchange, sell_symbol))
            trade.sell_quote = sell_market.quote if sell_market is not None else sell_symbol.partition("/")[2]
            trade.convert_mode = self.convert
        trade.detail = venue.open_note(trade)
        self.journal.write(trade=trade.as_row())
        trade.detail = None
        tracker = self.tracker
        trade.buy = tracker.intent(OrderRequest(venue.client_id(trade.id, "buy"), opp.buy_exchange, opp.symbol,
                                                Side.BUY, opp.amount, opp.buy_limit), trade.id, "buy", self.strategy)
        trade.sell = tracker.intent(OrderRequest(venue.client_id(trade.id, "sell"), opp.sell_exchange, trade.sell_symbol,
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
        if trade.cross and trade.convert_mode == EACH_TRADE:
            order = self._conversion_order(trade)
            if order is not None:
                trade.convert = order
                await self.venue.execute(trade, [order])
        self.finish(trade)
        return trade

    def _conversion_order(self, trade: PairedTrade) -> TrackedOrder | None:
        """The conversion leg's intent (journaled before it is sent), or None with a note saying why there is none."""
        sell = trade.sell
        assert sell is not None and trade.conversion is not None
        if not sell.is_final or not self.venue.executes_orders:
            return None
        reason = self.halted()
        if reason is not None and sell.filled:  # a halt stops every order: the Q2 is reported, not converted
            trade.notes.append(f"conversion not sent: trading halted ({reason})")
            return None
        req = conversion_request(trade, self.markets.get(trade.conversion), self.venue.client_id(trade.id, "convert"))
        if isinstance(req, str):
            trade.notes.append(req)
            return None
        if req is None:
            return None
        return self.tracker.intent(req, trade.id, "convert", trade.strategy)

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
        on_buy_venue = self.policy == "flatten_buy_venue"
        venue = trade.opp.buy_exchange if on_buy_venue else trade.opp.sell_exchange
        symbol = trade.opp.symbol if on_buy_venue else trade.sell_symbol
        req = flatten_request(trade, self.policy, self.markets.get((venue, symbol)), self.max_slippage_bps,
                              self.venue.client_id(trade.id, "flatten"))
        if isinstance(req, str):
            trade.notes.append(req)
            return None
        if req is None:
            return None
        return self.tracker.intent(req, trade.id, "flatten", trade.strategy)

    def finish(self, trade: PairedTrade, *, startup: bool = False) -> Outcome:
        """Settle the trade (:func:`settle`), journal it and the balances after it, and tell the listeners."""
        if trade.cross and trade.buy is not None and trade.sell is not None:
            self._value_quote_left(trade)
        outcome = settle(trade, self.policy, startup)
        trade.quote_imbalance = outcome.quote_imbalance
        trade.status = outcome.status
        trade.imbalance = outcome.imbalance
        trade.imbalance_action = outcome.imbalance_action
        trade.realised_pnl = outcome.realised_pnl
        trade.detail = "; ".join(dict.fromkeys(outcome.notes)) or None
        now = self.clock()
        trade.closed = now
        self.journal.write(trade=trade.as_row())
        rows = []
        assets: dict[str, dict[str, None]] = {}  # exchange -> the assets of the markets its orders traded, in order
        for o in trade.orders:
            market = self.markets.get((o.req.exchange, o.req.symbol))
            base, _, quote = o.req.symbol.partition("/")
            if market is not None:
                base, quote = market.base, market.quote
            assets.setdefault(o.req.exchange, {}).update(dict.fromkeys((base, quote)))
        for exchange, traded in assets.items():
            for asset in traded:
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

    def _value_quote_left(self, trade: PairedTrade) -> None:
        """The Q2 a cross-quote trade leaves, valued in Q1 at the conversion book as the venue has it now."""
        left = cross_flows(trade)[1]
        trade.quote_imbalance = left
        trade.quote_imbalance_value = None
        if left <= 0 or trade.conversion is None:
            trade.quote_imbalance_value = ZERO if left == 0 else None
            return
        market = self.markets.get(trade.conversion)
        book = self.venue.book(*trade.conversion)
        if market is not None and book is not None:
            trade.quote_imbalance_value = convert_value(left, trade.quote, book, market)
        if trade.quote_imbalance_value is None:
            trade.notes.append(f"{_plain(left)} {trade.sell_quote} not valued (no conversion book deep enough): "
                               "carried at its cost")

