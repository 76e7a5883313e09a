"""Paper trading's venue: IOC legs filled against the event-clock books ``latency_ms`` after the decision.

:class:`PaperVenue` is the simulated venue behind paper legs (``arbscan.execution.trades.LegVenue``); the
trade itself runs through the same lifecycle as a live one. All times are the event clock (the
venues' timestamps; the file's ``ts`` in a replay), so a replay gives the same result every time:

1. when a trade opens at ``t`` its two orders are journaled as submitted at ``t`` and are due at
   ``t + latency_ms``;
2. at the first book event at or after the due time, *before* that event is applied, each leg is an
   IOC limit order for the planned amount at the plan's limit, filled by :func:`simulate_ioc` against
   the venue's copy of the book level by level, capped by the balance then held (the buy leg by the
   quote incl. fee on the buy venue, the sell leg by the base on the sell venue), paying the venue's
   taker fee in quote on every fill. Nothing changed between the due time and that event, so the
   fills, the trade's ``closed`` time and the route's cooldown are at the due time;
3. filled liquidity is removed from the venue's copy of the book until the venue's next update
   replaces it, so two trades settling together cannot fill the same level twice;
4. when the stream ends, trades still waiting for their due time are cancelled unsent (``missed``,
   detail ``stream_ended``);
5. a cross-quote trade with ``convert = "each_trade"`` sends its conversion leg when its legs filled
   (at their due time); it is due ``latency_ms`` later and fills the same way against the conversion
   book (a stream that ends first cancels it unsent: the Q2 is left as a Q2 imbalance).

Every order update goes through the live path's rule (``arbscan.execution.orders.apply_or_halt``): a move the
state table forbids is refused, journals nothing and halts the strategy for the rest of the run.

Trade coroutines wait for their due time on an :class:`EventScheduler`, which resumes them from the
book events themselves: no asyncio, no wall clock.
"""

from __future__ import annotations

import copy
import heapq
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from arbscan.config.settings import StrategyConfig
from arbscan.errors import BadInput
from arbscan.execution.journal import BatchedJournal, balance_row
from arbscan.execution.executor import Executor
from arbscan.model import ZERO, Balances, BookSnapshot, Fill, Level, Market, OrderStatus, OrderUpdate, Side
from arbscan.execution.orders import OrderTracker, TrackedOrder, apply_or_halt
from arbscan.execution.risk import KillSwitch, NoLimits
from arbscan.execution.strategy import micros
from arbscan.execution.trades import KEEP, Lifecycle, PairedTrade

__all__ = ["LegResult", "simulate_ioc", "EventClock", "EventScheduler", "PaperVenue", "PaperStartup", "STREAM_ENDED",
           "paper_executor"]

logger = logging.getLogger(__name__)

_ONE = Decimal(1)

STREAM_ENDED = "stream_ended"
"""What a waiting trade is resumed with when the stream ends before its due time."""


@dataclass(frozen=True, slots=True)
class LegResult:
    """One simulated IOC leg: base filled, quote notional, fee, the fills (price, amount), and the cap that bound."""

    filled: Decimal
    notional: Decimal  # quote, before fee
    fee: Decimal  # quote
    fills: tuple[Level, ...]  # (price, amount) per level touched
    capped_by: str | None = None  # 'balance' when the balance stopped the fill, else None

    @property
    def avg_price(self) -> Decimal | None:
        """Average fill price, None when nothing filled."""
        return self.notional / self.filled if self.filled else None


def simulate_ioc(levels: tuple[Level, ...], side: Side, amount: Decimal, limit: Decimal, fee_rate: Decimal,
                 step: Decimal, balance: Decimal) -> LegResult:
    """Fill an IOC limit order for ``amount`` against ``levels`` (asks for a buy, bids for a sell), best first.

    A buy takes asks priced at or below ``limit`` while the cost incl. fee fits ``balance`` (quote);
    a sell takes bids at or above ``limit`` up to ``balance`` (base). A level cut by the balance is
    rounded down to ``step``. Pure: the levels are not changed.
    """
    buy = side is Side.BUY
    left = amount
    if not buy and balance < left:
        left = (balance // step) * step
    capped = "balance" if not buy and balance < amount else None
    quote_left = balance
    k = _ONE + fee_rate
    fills: list[Level] = []
    filled = notional = ZERO
    for price, qty in levels:
        if left <= 0:
            break
        if (price > limit) if buy else (price < limit):
            break
        take = qty if qty < left else left
        if buy:
            cost = price * take * k
            if cost > quote_left:
                take = ((quote_left / (price * k)) // step) * step
                while take > 0 and price * take * k > quote_left:  # a division rounded up: step back
                    take -= step
                capped = "balance"
                if take <= 0:
                    break
                cost = price * take * k
            quote_left -= cost
        fills.append((price, take))
        filled += take
        notional += price * take
        left -= take
        if capped and buy:
            break
    fee = sum((p * a * fee_rate for p, a in fills), ZERO)
    return LegResult(filled, notional, fee, tuple(fills), capped)


def _consume(levels: tuple[Level, ...], fills: tuple[Level, ...]) -> tuple[Level, ...]:
    """``levels`` minus what ``fills`` took (levels emptied are dropped)."""
    taken = dict(fills)
    out = []
    for price, qty in levels:
        t = taken.get(price)
        if t is None:
            out.append((price, qty))
        elif qty > t:
            out.append((price, qty - t))
    return tuple(out)


class EventClock:
    """Paper trading's clock: the time of the event being handled (call it for the time)."""

    __slots__ = ("now",)

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, t: float) -> None:
        """The event being handled happens at ``t``."""
        self.now = t


class _Due:
    """Awaited by a trade coroutine to wait for ``due_us`` on the event clock (see :class:`EventScheduler`)."""

    __slots__ = ("due_us",)

    def __init__(self, due_us: int) -> None:
        self.due_us = due_us

    def __await__(self):  # noqa: ANN204 - a generator-based awaitable
        return (yield self)


class EventScheduler:
    """Runs coroutines that wait for times on the event clock, resumed by the events themselves."""

    def __init__(self, clock: EventClock) -> None:
        self.clock = clock
        self._waiting: list[tuple[int, int, Coroutine[Any, Any, Any]]] = []  # heap of (due_us, seq, coroutine)
        self._seq = 0

    def __len__(self) -> int:
        return len(self._waiting)

    def __call__(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` until it waits for a due time (or ends)."""
        self._step(coro, None)

    async def idle(self) -> None:
        """Nothing to wait for: waiting trades settle on the events that follow, or when the stream ends."""

    def _step(self, coro: Coroutine[Any, Any, Any], value: Any) -> None:
        try:
            waiting = coro.send(value)
        except StopIteration:
            return
        self._seq += 1
        heapq.heappush(self._waiting, (waiting.due_us, self._seq, coro))

    def next_due_us(self) -> int | None:
        """The earliest due time waited for, in microseconds (None: nothing waits)."""
        return self._waiting[0][0] if self._waiting else None

    def run_due(self, t: float) -> None:
        """Resume, in due order and each at its due time, every coroutine due at or before ``t``."""
        now = micros(t)
        while self._waiting and self._waiting[0][0] <= now:
            due_us, _, coro = heapq.heappop(self._waiting)
            self.clock.advance(due_us / 1_000_000)
            self._step(coro, None)

    def end(self, t: float) -> int:
        """The stream ended at ``t``: resume what is due, then every other waiter with :data:`STREAM_ENDED`."""
        self.run_due(t)
        ended = 0
        while self._waiting:
            _, _, coro = heapq.heappop(self._waiting)
            self.clock.advance(t)
            ended += 1
            self._step(coro, STREAM_ENDED)
        return ended


class PaperVenue:
    """The simulated venue behind one strategy's paper legs (``arbscan.execution.trades.LegVenue``; module docstring).

    ``balances`` is the strategy's account on every venue: exactly what it holds (an asset not
    listed is 0). ``markets`` maps (exchange, symbol) to ``Market`` and is read by reference.
    """

    executes_orders = True

    def __init__(self, name: str, latency_ms: int, markets: Mapping[tuple[str, str], Market], balances: Balances,
                 tracker: OrderTracker, clock: EventClock, scheduler: EventScheduler, run_id: Any,
                 halt: Callable[[str], None]) -> None:
        self.name = name
        self.latency_us = latency_ms * 1000
        self.markets = markets
        self.balances = balances
        self.tracker = tracker
        self.clock = clock
        self.scheduler = scheduler
        self.run_id = run_id  # a callable: the run the trade ids are named after
        self.halt = halt  # the kill switch's: an illegal order move halts this strategy, as live
        self.books: dict[tuple[str, str], BookSnapshot] = {}
        self.trade_tag = ""  # set where several executors trade one strategy (execute --shards): ids stay distinct
        self._seq = 0

    # -- what the lifecycle asks ---------------------------------------------------------

    def trade_id(self) -> str:
        """``paper-<run>-<strategy>-<n>`` (``paper-<run>-<strategy><tag>-<n>`` with a ``trade_tag``)."""
        self._seq += 1
        return f"paper-{self.run_id()}-{self.name}{self.trade_tag}-{self._seq}"

    def client_id(self, trade_id: str, role: str) -> str:
        """``<trade id>-<role>``."""
        return f"{trade_id}-{role}"

    def open_note(self, trade: PairedTrade) -> str:
        """When the trade's orders reach the venue."""
        return f"due at {self._due_us(trade) / 1_000_000:.6f} (latency {self.latency_us // 1000} ms)"

    def _due_us(self, trade: PairedTrade) -> int:
        return micros(trade.opened) + self.latency_us

    def held(self, exchange: str, asset: str) -> Decimal:
        """What the strategy holds of ``asset`` on ``exchange`` (0 when not listed)."""
        return self.balances.get(exchange, {}).get(asset, ZERO)

    def book(self, exchange: str, symbol: str) -> BookSnapshot | None:
        """The venue's copy of a book, with what paper fills took removed."""
        return self.books.get((exchange, symbol))

    def on_book(self, book: BookSnapshot, t: float) -> None:
        """Settle what is due by ``t`` on the books as they were before this event, then keep the new book."""
        self.on_tick(t)
        self.books[(book.exchange, book.symbol)] = book

    def on_tick(self, t: float) -> None:
        """Settle what is due by ``t`` (an event at ``t`` happened)."""
        due = self.scheduler.next_due_us()
        if due is not None and due <= micros(t):
            self.scheduler.run_due(t)

    def on_close(self, t: float) -> None:
        """The stream ended at ``t``: settle what is due; trades still waiting end unsent (missed)."""
        self.scheduler.run_due(t)
        if len(self.scheduler):
            logger.info("strategy %s: %d trade(s) still in flight when the stream ended at %.3f: counted as missed",
                        self.name, len(self.scheduler), t)
        self.scheduler.end(t)

    async def settled(self, trade: PairedTrade) -> None:
        """Nothing to refresh: the simulated balances are exact."""

    # -- the legs ------------------------------------------------------------------------

    def apply(self, order: TrackedOrder, update: OrderUpdate, detail: str | None = None, **kw: Any) -> bool:
        """Move ``order`` to the simulated venue's view; an illegal move is refused and halts, as live (False)."""
        return apply_or_halt(self.tracker, update, self.halt, detail, **kw)

    async def execute(self, trade: PairedTrade, orders: list[TrackedOrder]) -> None:
        """Submit ``orders`` now; at their due time fill each one (or cancel them all if the stream ends first)."""
        for order in orders:
            self.apply(order, _update(order, OrderStatus.SUBMITTED, ZERO, None, ZERO))
        # ``latency_ms`` after now: the legs at the trade's decision, a later order (a cross-quote trade's
        # conversion leg, sent once the legs filled) after the legs' due time
        due_us = max(self._due_us(trade), micros(self.clock()) + self.latency_us)
        if (await _Due(due_us)) == STREAM_ENDED:
            why = "stream ended before the order reached the venue"
            for order in orders:
                self.tracker.mark(order.client_id, OrderStatus.CANCELED, why)
            trade.notes.append(f"stream_ended: due at {due_us / 1_000_000:.6f}, the stream ended at {self.clock():.6f}")
            return
        for order in orders:
            self._fill(trade, order)

    def _fill(self, trade: PairedTrade, order: TrackedOrder) -> None:
        req = order.req
        market = self.markets[(req.exchange, req.symbol)]
        key = (req.exchange, req.symbol)
        book = self.books[key]
        account = self.balances.setdefault(req.exchange, {})
        buy = req.side is Side.BUY
        held = account.get(market.quote if buy else market.base, ZERO)
        leg = simulate_ioc(book.asks if buy else book.bids, req.side, req.amount, req.limit_price, market.taker_fee,
                           market.amount_step, held)
        if leg.filled:
            if buy:
                account[market.quote] = account.get(market.quote, ZERO) - leg.notional - leg.fee
                account[market.base] = account.get(market.base, ZERO) + leg.filled
            else:
                account[market.base] = account.get(market.base, ZERO) - leg.filled
                account[market.quote] = account.get(market.quote, ZERO) + leg.notional - leg.fee
        if leg.fills:
            bids, asks = (book.bids, _consume(book.asks, leg.fills)) if buy else (_consume(book.bids, leg.fills), book.asks)
            self.books[key] = BookSnapshot.trusted(book.exchange, book.symbol, bids, asks, book.ts, book.received)
        if leg.capped_by:
            trade.notes.append(f"{order.role} capped by {market.quote if buy else market.base} balance")
        if leg.filled == req.amount:
            status, detail = OrderStatus.FILLED, None
        elif leg.filled:
            status, detail = OrderStatus.PARTIALLY_FILLED, "IOC: the rest cancelled"
        else:
            status, detail = OrderStatus.EXPIRED, "IOC: nothing within the limit"
        if leg.capped_by:
            detail = f"{detail}; capped by balance" if detail else "capped by balance"
        now = self.clock()
        fills = [Fill(req.exchange, f"{req.client_id}-{i}", req.client_id, req.symbol, req.side, amount, price,
                      price * amount * market.taker_fee, market.quote, now)
                 for i, (price, amount) in enumerate(leg.fills, 1)]
        self.apply(order, _update(order, status, leg.filled, leg.avg_price, leg.fee), detail, error=detail, fills=fills,
                   last=True)


def _update(order: TrackedOrder, status: OrderStatus, filled: Decimal, avg: Decimal | None, fee: Decimal) -> OrderUpdate:
    return OrderUpdate(order.client_id, order.req.exchange, order.req.symbol, status, filled, avg, fee)


class PaperStartup:
    """A paper executor starts at its first event: its starting balances are journaled at that time."""

    def __init__(self, journal: Any, strategy: str, starting: Balances, clock: EventClock) -> None:
        self.journal = journal
        self.strategy = strategy
        self.starting = starting
        self.clock = clock
        self.balances_journaled = False

    def begin(self, t: float, started: Callable[[], None]) -> None:
        """Journal the starting balances at ``t`` (once); trading starts at once."""
        if not self.balances_journaled:
            self.balances_journaled = True
            self.journal.write_balances([balance_row(self.strategy, ex, asset, amount, t, None)
                                         for ex, assets in sorted(self.starting.items())
                                         for asset, amount in sorted(assets.items())])
        started()

    def restart(self, started: Callable[[], None]) -> None:
        """Paper halts last the run: nothing restarts."""

    async def start(self) -> None:
        """Start at the clock's time."""
        self.begin(self.clock(), lambda: None)

    async def idle(self) -> None:
        """Nothing runs in the background."""


def paper_executor(strategy: StrategyConfig, markets: Mapping[tuple[str, str], Market], store: Any = None, *,
                   starting_balances: Mapping[str, Mapping[str, Decimal]], run_id: int | None = None,
                   transfers: Any = None) -> Executor:
    """An executor that paper-trades ``strategy`` from ``starting_balances`` (exchange -> asset -> amount).

    ``markets`` (the scanner's, filled as venues load) is read by reference; ``store`` (an
    ``arbscan.journal.store.Store`` or None: no journal) receives the rows; ``run_id`` names the trade ids
    (default: the store's run); ``transfers`` (the scanner's ``RouteTransfers``) answers a strategy that
    skips untransferable routes. ``BadInput`` without any capital: paper trading without it says nothing.
    """
    if not starting_balances or not any(starting_balances.values()):
        raise BadInput(f"strategy {strategy.name!r}: no starting balances (paper trading needs capital)")
    starting = {ex: dict(b) for ex, b in starting_balances.items()}
    journal = BatchedJournal(store, "paper", run_id)
    clock = EventClock()
    scheduler = EventScheduler(clock)
    tracker = OrderTracker(journal, clock)
    kill = KillSwitch(None, clock)
    venue = PaperVenue(strategy.name, strategy.latency_ms, markets, copy.deepcopy(starting), tracker, clock, scheduler,
                       lambda: journal.run_id if journal.run_id is not None else 0, kill.halt)
    lifecycle = Lifecycle(strategy=strategy.name, tracker=tracker, journal=journal, venue=venue, markets=markets,
                          policy=KEEP, convert=strategy.convert)
    return Executor(strategy=strategy, mode="paper", lifecycle=lifecycle, risk=NoLimits(), kill=kill,
                    runner=scheduler, startup=PaperStartup(journal, strategy.name, starting, clock), markets=markets,
                    clock=clock, transfers=transfers)
