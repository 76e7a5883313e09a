"""The executor: one strategy's trading, paper or live, as a scanner listener.

Paper or live is chosen once, in ``arbscan.app``, by the parts an :class:`Executor` is built with
(``arbscan.execution.paper.paper_executor`` / ``arbscan.execution.live.live_executor``); the executor itself does the
same thing in both modes. For every live route the scanner reports (``on_opportunity``) it runs one
gatekeeping sequence, in this order, and counts the reason of every route it skips:

``starting`` (live: start-up reconciliation not done), ``refused`` (keys refused at start-up),
``halted`` (the kill switch), ``busy`` (as many trades in flight as allowed: one live),
``venue`` (a venue this executor does not trade), ``no_market`` (no market or book yet),
``untransferable`` (the strategy says ``skip_untransferable`` and the route's inventory cannot move
back: ``arbscan.funding.transfers``; unknown is taken), then the strategy's own reasons (``arbscan.execution.strategy.SKIP_REASONS``: its filters, one trade per route,
cooldown, sizing with its balances minus what trades in flight reserved, thresholds), then
``risk`` (live: the notional, exposure and order-rate limits).

A route that passes becomes a paired trade (``arbscan.execution.trades.Lifecycle``): journaled, then run by
the mode's runner (an asyncio task live, the event-clock scheduler on paper).

Cross-quote routes (``on_cross_opportunity``, from ``arbscan.scan.crossquote``) run the same sequence
on their three books: ``venue`` also covers the conversion's venue when the strategy converts each
trade, ``no_market`` the conversion's market and book, ``untransferable`` is not judged for them, and
the strategy sizes them with ``arbscan.crossspread.evaluate_cross``
(:meth:`arbscan.execution.strategy.StrategyRules.decide_cross`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Mapping
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from arbscan.config.settings import StrategyConfig
from arbscan.errors import TradingHalted
from arbscan.model import ZERO, BookSnapshot, Market, Opportunity, Route
from arbscan.execution.risk import KillSwitch
from arbscan.execution.strategy import StrategyRules
from arbscan.execution.strategy import quote_cap, size_cross
from arbscan.execution.trades import EACH_TRADE, Lifecycle, Outcome, PairedTrade
from arbscan.funding.transfers import BLOCKED

__all__ = ["Executor", "ExecutorListener", "Startup", "RECENT_TRADES"]

logger = logging.getLogger(__name__)

RECENT_TRADES = 1000
"""Trades kept in memory per executor for inspection; the journal holds them all."""


@runtime_checkable
class ExecutorListener(Protocol):
    """What the scanner calls on an executor (``on_close`` when the stream ends)."""

    mode: str

    def on_book(self, book: BookSnapshot, t: float) -> None:
        """A book event at ``t``, before its routes are evaluated."""

    def on_opportunity(self, opp: Opportunity, t: float) -> None:
        """A route is live at ``t``."""

    def on_close(self, t: float) -> None:
        """The stream ended at ``t``."""


class Startup(Protocol):
    """How an executor starts: at its first event (paper: at once; live: reconciliation first).

    It is handed what it needs when it is built (journal, kill switch, risk limits, lifecycle); the
    executor only learns that trading may start, through the ``started`` callback or ``start`` returning.
    """

    def begin(self, t: float, started: Callable[[], None]) -> None:
        """Start, or schedule the start; call ``started()`` once trading may start."""

    def restart(self, started: Callable[[], None]) -> None:
        """The halt was cleared by ``arbscan resume``: start again before trading, then call ``started()``."""

    async def start(self) -> None:
        """Start now; returns once trading may start (raises when it cannot)."""

    async def idle(self) -> None:
        """Wait for a start in progress."""


class Executor:
    """Turns one strategy's live routes into paired trades (see the module docstring)."""

    def __init__(self, *, strategy: StrategyConfig, mode: str, lifecycle: Lifecycle, risk: Any, kill: KillSwitch,
                 runner: Callable[[Coroutine[Any, Any, Any]], Any], startup: Startup,
                 markets: Mapping[tuple[str, str], Market], clock: Any, max_in_flight: int | None = None,
                 trades: Callable[[str], bool] = lambda exchange: True,
                 monotonic: Callable[[], float] = time.monotonic, transfers: Any = None) -> None:
        self.strategy = strategy
        self.name = strategy.name
        self.mode = mode
        self.rules = StrategyRules(strategy)
        self.lifecycle = lifecycle
        self.venue = lifecycle.venue
        self.risk = risk
        self.kill = kill
        self.runner = runner
        self.startup = startup
        self.markets = markets  # (exchange, symbol) -> Market, read by reference (the scanner's)
        self.clock = clock  # advanced to each event's time (the event clock on paper; wall time live ignores it)
        self.max_in_flight = max_in_flight
        self.trades_on = trades  # whether this executor trades on a venue
        self.monotonic = monotonic
        self.transfers = transfers  # the scanner's RouteTransfers (None: every route is taken to move)
        self.skips: Counter[str] = Counter()
        self.trades: deque[PairedTrade] = deque(maxlen=RECENT_TRADES)
        self.taken = 0
        self.reserved: dict[tuple[str, str], Decimal] = {}
        self.in_flight = 0
        self.started = False
        self.closed = False
        self._warned: set[tuple[str, str]] = set()
        lifecycle.finished.append(self._finished)

    # -- scanner listener ------------------------------------------------------------------

    def _trading_may_start(self) -> None:
        self.started = True

    def on_book(self, book: BookSnapshot, t: float) -> None:
        """Start at the first event; the venue settles what is due and keeps the book."""
        self.clock.advance(t)
        if not self.started:
            self.startup.begin(t, self._trading_may_start)
        self.venue.on_book(book, t)

    def on_tick(self, t: float) -> None:
        """An event at ``t`` on none of the books this executor is given (another process's symbol): start, settle what is due."""
        self.clock.advance(t)
        if not self.started:
            self.startup.begin(t, self._trading_may_start)
        self.venue.on_tick(t)

    def on_opportunity(self, opp: Opportunity, t: float) -> None:
        """Run the gatekeeping sequence; a route that passes becomes a paired trade."""
        if self.closed:
            return
        self.clock.advance(t)
        if not self.started:
            self.startup.begin(t, self._trading_may_start)
        plan = self._gate(opp, t)
        if plan is not None:
            trade = self._open(plan)
            self.runner(self._drive(trade))

    def on_cross_opportunity(self, opp: Any, t: float) -> None:
        """A cross-quote route is live at ``t``: the same gatekeeping on its three books, then a paired trade."""
        if self.closed:
            return
        self.clock.advance(t)
        if not self.started:
            self.startup.begin(t, self._trading_may_start)
        plan = self._gate_cross(opp, t)
        if plan is not None:
            trade = self._open(plan)
            self.runner(self._drive(trade))

    def on_close(self, t: float) -> None:
        """The stream ended: the venue settles what is due and ends what waits; no new trade after this."""
        if self.closed:
            return
        self.closed = True
        self.clock.advance(t)
        if not self.started:
            self.startup.begin(t, self._trading_may_start)
        self.venue.on_close(t)

    # -- deciding --------------------------------------------------------------------------

    def _skip(self, reason: str) -> None:
        self.skips[reason] += 1

    def free(self, exchange: str, asset: str) -> Decimal | None:
        """What the strategy may still spend of ``asset`` on ``exchange``: held minus reserved (None: unknown)."""
        held = self.venue.held(exchange, asset)
        if held is None:
            return None
        left = held - self.reserved.get((exchange, asset), ZERO)
        return left if left > 0 else ZERO

    def _gate(self, opp: Opportunity, t: float) -> Opportunity | None:
        if not self._gate_common():
            return None
        symbol, buy_ex, sell_ex = opp.symbol, opp.buy_exchange, opp.sell_exchange
        if not (self.trades_on(buy_ex) and self.trades_on(sell_ex)):
            return self._skip("venue")
        bm, sm = self.markets.get((buy_ex, symbol)), self.markets.get((sell_ex, symbol))
        buy, sell = self.venue.book(buy_ex, symbol), self.venue.book(sell_ex, symbol)
        if bm is None or sm is None or buy is None or sell is None:
            if (buy_ex, sell_ex) not in self._warned:
                self._warned.add((buy_ex, sell_ex))
                logger.warning("strategy %s: no market or book for %s %s/%s; route skipped", self.name, symbol, buy_ex, sell_ex)
            return self._skip("no_market")
        if self.strategy.skip_untransferable and self._blocked((symbol, buy_ex, sell_ex)):
            return self._skip("untransferable")
        decision = self.rules.decide(buy, sell, bm, sm, self.free(buy_ex, bm.quote), self.free(sell_ex, sm.base), t)
        if decision.opportunity is None:
            return self._skip(decision.reason or "no_trade")
        plan = self.risk.fit(decision.opportunity, bm, sm)
        if plan is None:
            return self._skip("risk")
        why = self.risk.refuse(plan, self.monotonic(), self._order_venues(plan))
        if why is not None:
            logger.info("trade refused by risk limits: %s", why)
            return self._skip("risk")
        return plan

    def _order_venues(self, plan: Any) -> tuple[str, ...]:
        """The venues a trade on ``plan`` sends orders to: its two legs' and, converting each trade, the conversion's."""
        venues = (plan.buy_exchange, plan.sell_exchange)
        conversion = getattr(plan, "conversion_exchange", None)
        if conversion is not None and self.strategy.convert == EACH_TRADE:
            venues += (conversion,)
        return tuple(dict.fromkeys(venues))

    def _gate_common(self) -> bool:
        """The first checks of both sequences (start, refused keys, the halt, in flight); False: skipped."""
        if not self.started:
            return self._skip("starting") or False
        if self.kill.refused is not None:
            return self._skip("refused") or False
        if self.kill.halted:
            if self.kill.cleared():
                logger.warning("halt cleared by 'arbscan resume'; reconciling before trading again")
                self.risk.consecutive_failures = 0
                self.started = False
                self.startup.restart(self._trading_may_start)
            return self._skip("halted") or False
        if self.max_in_flight is not None and self.in_flight >= self.max_in_flight:
            return self._skip("busy") or False
        return True

    def _gate_cross(self, opp: Any, t: float) -> Any:
        if not self._gate_common():
            return None
        buy_ex, sell_ex = opp.buy_exchange, opp.sell_exchange
        conv_key = (opp.conversion_exchange, opp.conversion_symbol)
        if not all(self.trades_on(v) for v in self._order_venues(opp)):
            return self._skip("venue")
        keys = ((buy_ex, opp.symbol), (sell_ex, opp.sell_symbol), conv_key)
        bm, sm, cm = (self.markets.get(k) for k in keys)
        buy, sell, conv = (self.venue.book(*k) for k in keys)
        if bm is None or sm is None or cm is None or buy is None or sell is None or conv is None:
            if keys not in self._warned:
                self._warned.add(keys)  # type: ignore[arg-type]
                logger.warning("strategy %s: no market or book for %s %s -> %s %s via %s:%s; route skipped", self.name,
                               opp.symbol, buy_ex, opp.sell_symbol, sell_ex, *conv_key)
            return self._skip("no_market")
        free_q1, free_base = self.free(buy_ex, bm.quote), self.free(sell_ex, sm.base)
        decision = self.rules.decide_cross(buy, sell, conv, bm, sm, cm, free_q1, free_base, t)
        if decision.opportunity is None:
            return self._skip(decision.reason or "no_trade")

        def resize(notional: Decimal) -> Any:
            cap = quote_cap(free_q1, notional, bm.taker_fee)
            return size_cross(self.strategy, buy, sell, conv, bm, sm, cm, cap, free_base)

        plan = self.risk.fit_cross(decision.opportunity, resize)
        if plan is None:
            return self._skip("risk")
        why = self.risk.refuse(plan, self.monotonic(), self._order_venues(plan))
        if why is not None:
            logger.info("trade refused by risk limits: %s", why)
            return self._skip("risk")
        return plan

    def _blocked(self, route: Route) -> bool:
        transfers = self.transfers
        return transfers is not None and bool(transfers.funding) and transfers.verdict(route).status == BLOCKED

    # -- trading ---------------------------------------------------------------------------

    def _reserve(self, exchange: str, asset: str, amount: Decimal) -> None:
        key = (exchange, asset)
        left = self.reserved.get(key, ZERO) + amount
        if left > 0:
            self.reserved[key] = left
        else:
            self.reserved.pop(key, None)

    def _open(self, plan: Opportunity) -> PairedTrade:
        trade = self.lifecycle.open(plan)
        self.rules.opened(trade.route, trade.id)
        self._reserve(plan.buy_exchange, trade.quote, plan.buy_cost)
        self._reserve(plan.sell_exchange, trade.base, plan.amount)
        self.in_flight += 1
        self.taken += 1
        self.trades.append(trade)
        logger.info("strategy %s: %s buy %s %s on %s <= %s, sell on %s >= %s, expected %s", self.name, trade.id,
                    plan.amount, plan.symbol, plan.buy_exchange, plan.buy_limit, plan.sell_exchange, plan.sell_limit,
                    plan.net_profit)
        return trade

    async def _drive(self, trade: PairedTrade) -> None:
        try:
            await self.lifecycle.run(trade)
            await self.venue.settled(trade)
        except (asyncio.CancelledError, TradingHalted):
            raise
        except Exception:  # a bug here must not kill the scanner; it halts trading instead
            logger.exception("paired trade %s failed unexpectedly", trade.id)
            self.kill.halt("paired trade failed unexpectedly (see the log)")
        finally:
            opp = trade.opp
            self._reserve(opp.buy_exchange, trade.quote, -opp.buy_cost)
            self._reserve(opp.sell_exchange, trade.base, -opp.amount)
            self.rules.closed(trade.route, self.lifecycle.clock())
            self.in_flight -= 1

    def _finished(self, trade: PairedTrade, outcome: Outcome, startup: bool) -> None:
        reason = self.risk.after_trade(trade, outcome, startup, self.lifecycle.clock())
        if reason is not None:
            self.kill.halt(reason)

    async def start(self) -> None:
        """Start now (live: start-up reconciliation) instead of at the first event."""
        await self.startup.start()
        self.started = True

    async def wait_idle(self) -> None:
        """Wait until start-up and every trade in flight are done (live: bounded by their deadlines)."""
        await self.startup.idle()
        await self.runner.idle()

    async def close(self) -> None:
        """Wait until idle, then close the execution journal."""
        await self.wait_idle()
        self.lifecycle.journal.close()

    async def execute(self, opp: Opportunity) -> PairedTrade | None:
        """Trade ``opp`` now and wait for it to settle, past the strategy's rules but not the kill switch or risk.

        Live trading and tests use it under asyncio. None when the risk limits refuse; raises
        ``TradingHalted`` when the kill switch is set or the executor has not started.
        """
        if not self.started:
            raise TradingHalted("start-up reconciliation has not run: await start() first")
        if self.kill.halted:
            raise TradingHalted(f"trading is halted: {self.kill.why()}")
        why = self.risk.refuse(opp, self.monotonic(), self._order_venues(opp))
        if why is not None:
            self._skip("risk")
            logger.warning("trade refused by risk limits: %s", why)
            return None
        trade = self._open(opp)
        await self._drive(trade)
        return trade
