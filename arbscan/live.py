"""Live paired execution: both legs at once, every outcome explicit, bounded and journaled.

:class:`LiveExecutor` is a scanner listener (``on_book`` / ``on_opportunity`` / ``on_close``) that
places real orders. For an opportunity the strategy takes (``arbscan.strategy.StrategyRules``, with
``max_notional`` capped by ``live.max_notional_per_trade``) and the risk limits allow:

1. a ``trades`` row is written (status ``open``), then both legs' intents (``orders`` rows, status
   ``created``), committed to disk; only then are both legs sent **concurrently** as IOC limit orders
   at the opportunity's worst prices (``buy_limit`` / ``sell_limit``), each with a fresh client id;
2. each order moves through ``arbscan.orders.TRANSITIONS``. An order whose send fails ambiguously
   (``OrderOutcomeUnknown``, a timeout after ``order_timeout_s``, a reset, a 5xx) becomes
   ``unknown`` and is **never resent**: it is looked up by client id (``fetch_order``, then the
   adapter's ``open_orders`` / ``closed_orders`` lists when it has them) until its outcome is known
   or ``reconcile_deadline_s`` passes, which **halts** trading. An order still open after
   ``order_timeout_s`` (an IOC should not be) is cancelled once;
3. when the legs' fills differ, the excess is flattened by ``live.imbalance_policy``: on the buy
   venue (``flatten_buy_venue``: sell the excess back, or buy the shortfall) or on the sell venue
   (``flatten_sell_venue``: sell the rest there, or buy back the excess sold), one IOC order at the
   leg's fill price moved by at most ``max_slippage_bps``; or ``keep`` it as reported inventory.
   The trade row then holds both legs, the flattening and what is left (``imbalance``);
4. risk limits refuse a trade before any order: notional per trade, open exposure per asset (the
   kept inventory plus this trade's full amount, its worst case), orders per minute per venue; the
   kill switch halts after ``max_consecutive_failures`` failed trades, any unresolved unknown
   outcome, the daily realised loss limit, or an ``AuthError``. A halt is a ``halts`` row and
   survives restarts until ``arbscan resume``; the scanner keeps journaling opportunities meanwhile;
5. :meth:`LiveExecutor.start` reconciles every order a previous process left unfinished (intents
   included: a crash may have happened after the bytes left) before any new order. It sends no new
   order: an intent the venue does not know once ``reconcile_deadline_s`` has passed since it was
   written is recorded as never placed (``rejected``); imbalances it finds are reported, not traded.

One paired trade is in flight at a time, and one live process per journal is assumed. Both legs
always run to their end (journaled) before anything else happens, even when one fails unexpectedly.
Money is ``Decimal`` throughout; fees are taken to be in the quote currency (what Kraken and
Bitstamp charge on spot by default).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from arbscan.config import LiveConfig, StrategyConfig
from arbscan.errors import (
    ArbscanError,
    AuthError,
    BadInput,
    ConfigError,
    ExchangeUnavailable,
    InsufficientFunds,
    OrderNotFound,
    OrderRejected,
    RateLimited,
    TradingHalted,
)
from arbscan.model import ZERO, BookSnapshot, Market, Opportunity, OrderRequest, OrderStatus, OrderUpdate, Side
from arbscan.orders import LiveJournal, OrderTracker, TrackedOrder, new_client_id
from arbscan.strategy import StrategyRules

__all__ = [
    "LiveExecutor",
    "PairedTrade",
    "RiskLimits",
    "require_credentials",
    "check_key_permissions",
    "resume",
    "cli_live_executor",
    "TRADE_STATUSES",
]

logger = logging.getLogger(__name__)

from arbscan.store import TRADE_STATUSES  # noqa: E402 - re-exported: the status of a paired trade

_NOT_SENT = "not sent"  # error prefix of orders refused before leaving (rate, validate-only)
_REFUSED = (OrderRejected, InsufficientFunds, RateLimited, ExchangeUnavailable, AuthError, BadInput, OrderNotFound)
"""Errors from ``place_order`` that mean nothing was executed (adapters raise ``OrderOutcomeUnknown`` for
ambiguous sends, so their ``ExchangeUnavailable`` means "never left" or "not processed"); every other
failure, and our own ``order_timeout_s``, is an unknown outcome."""


def _floor(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def _ceil(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def _day_start(ts: float) -> float:
    return ts - (ts % 86400.0)  # UTC midnight


# -- start-up checks ---------------------------------------------------------------------------


def require_credentials(exchanges: Iterable[str], environ: Mapping[str, str] | None = None) -> None:
    """``ConfigError`` naming the environment variables to set when any venue has no API keys (live needs all)."""
    from adapters.base import load_credentials

    missing: list[str] = []
    for ex in exchanges:
        prefix = ex.upper().replace("-", "_")
        try:
            creds = load_credentials(ex, dict(environ) if environ is not None else None)
        except AuthError:
            creds = None
        if creds is None:
            missing.append(f"{prefix}_API_KEY and {prefix}_API_SECRET")
    if missing:
        raise ConfigError(f"--live needs API keys for every venue: set {'; '.join(missing)} (or a keyring entry)")


async def check_key_permissions(adapters: Mapping[str, Any]) -> dict[str, str]:
    """Refuse (``AuthError``) a key that can withdraw, where the venue reports permissions; returns what was learnt.

    An adapter may offer ``api_key_permissions()`` (sync or async) returning None (the venue cannot
    tell: Kraken has no such endpoint) or a collection of permission names; any name containing
    "withdraw" is refused.
    """
    out: dict[str, str] = {}
    for name, adapter in adapters.items():
        probe = getattr(adapter, "api_key_permissions", None)
        if probe is None:
            out[name] = "not reported"
            logger.warning("%s cannot report key permissions: make sure the key cannot withdraw", name)
            continue
        perms = probe()
        if inspect.isawaitable(perms):
            perms = await perms
        if perms is None:
            out[name] = "not reported"
            logger.warning("%s cannot report key permissions: make sure the key cannot withdraw", name)
            continue
        names = sorted(str(p) for p in perms)
        if any("withdraw" in p.lower() for p in names):
            raise AuthError(f"{name}: the API key can withdraw funds; create a trade-only key for arbscan")
        out[name] = ", ".join(names) or "none"
    return out


def resume(db_path: str, by: str = "cli", clock: Callable[[], float] = time.time,
           inventory_handled: bool = False) -> list[dict[str, Any]]:
    """Clear every active halt in the journal at ``db_path`` (``arbscan resume``); returns the halts cleared.

    ``inventory_handled``: the user has dealt with the inventory kept from uneven fills, so it stops
    counting toward ``live.max_exposure`` (those trades' ``imbalance_action`` becomes 'handled').
    """
    from pathlib import Path

    from arbscan.store import Store

    if not Path(db_path).exists():
        raise BadInput(f"journal {db_path!r} does not exist (name it with --db)")
    store = Store(db_path)  # migrates the file so the halts table exists
    try:
        journal = LiveJournal(db_path, None)
        try:
            active = journal.active_halts()
            journal.clear_halts(by, clock())
            if inventory_handled:
                journal.mark_inventory_handled(by)
        finally:
            journal.close()
    finally:
        store.close()
    return active


# -- risk ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class RiskLimits:
    """The pre-trade limits of ``LiveConfig`` over the executor's running figures; no I/O."""

    config: LiveConfig
    sent: dict[str, deque[float]] = field(default_factory=dict)  # venue -> monotonic send times, last minute
    inventory: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (symbol, buy venue) -> kept base
    realised_today: Decimal = ZERO
    day: float = 0.0

    def orders_last_minute(self, venue: str, now: float) -> int:
        """Orders sent to ``venue`` in the 60 s before ``now`` (monotonic)."""
        q = self.sent.setdefault(venue, deque())
        while q and q[0] <= now - 60.0:
            q.popleft()
        return len(q)

    def record_order(self, venue: str, now: float) -> None:
        """Count one order sent to ``venue`` at ``now`` (monotonic)."""
        self.sent.setdefault(venue, deque()).append(now)

    def exposure(self, asset_of: Callable[[str], str], asset: str) -> Decimal:
        """Absolute base of ``asset`` held as kept inventory, summed over trades (signed sum, then abs)."""
        total = sum((v for (sym, _), v in self.inventory.items() if asset_of(sym) == asset), ZERO)
        return abs(total)

    def refuse(self, opp: Opportunity, now: float) -> str | None:
        """Why ``opp`` may not be traded now (None: it may): notional, exposure or order rate."""
        cfg = self.config
        notional = opp.amount * opp.buy_limit
        if notional > cfg.max_notional_per_trade:
            return f"notional {notional} above max_notional_per_trade {cfg.max_notional_per_trade}"
        base = opp.symbol.partition("/")[0]
        cap = cfg.max_exposure.get(base)
        if cap is not None:
            worst = self.exposure(lambda s: s.partition("/")[0], base) + opp.amount
            if worst > cap:
                return f"{base} exposure could reach {worst}, above max_exposure {cap}"
        for venue in (opp.buy_exchange, opp.sell_exchange):
            if self.orders_last_minute(venue, now) + 1 > cfg.max_orders_per_minute:
                return f"{venue}: max_orders_per_minute {cfg.max_orders_per_minute} reached"
        return None


# -- the paired trade ----------------------------------------------------------------------------


@dataclass(slots=True)
class PairedTrade:
    """One paired trade: its two legs, any flattening orders, and how it settled."""

    id: str
    strategy: str
    opp: Opportunity
    opened: float
    buy: TrackedOrder | None = None
    sell: TrackedOrder | None = None
    flatten: list[TrackedOrder] = field(default_factory=list)
    status: str = "open"
    closed: float | None = None
    imbalance: Decimal = ZERO
    imbalance_action: str = "none"
    realised_pnl: Decimal | None = None
    detail: str | None = None

    @property
    def orders(self) -> list[TrackedOrder]:
        """Every order of the trade: buy leg, sell leg, flattening."""
        return [o for o in (self.buy, self.sell) if o is not None] + list(self.flatten)

    def as_row(self) -> dict[str, Any]:
        """The trade as a row of table ``trades``."""
        o = self.opp
        row: dict[str, Any] = {
            "id": self.id,
            "strategy": self.strategy,
            "symbol": o.symbol,
            "buy_exchange": o.buy_exchange,
            "sell_exchange": o.sell_exchange,
            "opened": self.opened,
            "closed": self.closed,
            "status": self.status,
            "planned_amount": o.amount,
            "buy_limit": o.buy_limit,
            "sell_limit": o.sell_limit,
            "expected_profit": o.net_profit,
            "detail": self.detail,
        }
        if self.buy is not None and self.sell is not None:
            row["buy_filled"] = self.buy.filled
            row["sell_filled"] = self.sell.filled
            row["buy_cost"] = -self.buy.quote_flow
            row["sell_proceeds"] = self.sell.quote_flow
            row["flatten_amount"] = sum((f.base_flow for f in self.flatten), ZERO)
            row["flatten_pnl"] = sum((f.quote_flow for f in self.flatten), ZERO)
            row["imbalance"] = self.imbalance
            row["imbalance_action"] = self.imbalance_action
            row["realised_pnl"] = self.realised_pnl
        return row


def _opp_from_row(row: Mapping[str, Any]) -> Opportunity:
    """Enough of an ``Opportunity`` to settle a trade found in the journal at start-up."""
    amount = Decimal(row["planned_amount"])
    buy_limit = Decimal(row["buy_limit"])
    sell_limit = Decimal(row["sell_limit"])
    return Opportunity(
        symbol=row["symbol"], buy_exchange=row["buy_exchange"], sell_exchange=row["sell_exchange"], amount=amount,
        buy_vwap=buy_limit, sell_vwap=sell_limit, buy_limit=buy_limit, sell_limit=sell_limit,
        buy_cost=amount * buy_limit, sell_proceeds=amount * sell_limit,
        net_profit=Decimal(row["expected_profit"] or "0"), net_bps=ZERO, ts=row["opened"] or 0.0,
    )


# -- the executor --------------------------------------------------------------------------------


class LiveExecutor:
    """Places real paired orders for the opportunities a strategy takes (see the module docstring)."""

    def __init__(
        self,
        adapters: Mapping[str, Any],
        journal: LiveJournal,
        config: LiveConfig,
        strategy: StrategyConfig | None = None,
        *,
        markets: Mapping[tuple[str, str], Market] | None = None,
        balances: dict[str, dict[str, Decimal]] | None = None,
        validate_only: bool = False,
        check_permissions: bool = False,
        poll_interval_s: float = 0.5,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.adapters = dict(adapters)
        self.journal = journal
        self.config = config
        strategy = strategy or StrategyConfig("default")
        cap = config.max_notional_per_trade
        if strategy.max_notional is None or strategy.max_notional > cap:
            strategy = replace(strategy, max_notional=cap)
        self.rules = StrategyRules(strategy)
        self.mode = "live"
        self.strategy = strategy  # the config (arbscan.executor.Executor protocol); its name tags every row
        self.strategy_name = strategy.name
        self.markets: dict[tuple[str, str], Market] = dict(markets or {})
        self.balances: dict[str, dict[str, Decimal]] = balances if balances is not None else {}
        self.validate_only = validate_only
        self.check_permissions = check_permissions
        self._scanner_markets: Mapping[tuple[str, str], Market] = {}
        self.poll_interval_s = poll_interval_s
        self.clock = clock
        self.monotonic = monotonic
        self.tracker = OrderTracker(journal, clock)
        self.risk = RiskLimits(config)
        self.books: dict[tuple[str, str], BookSnapshot] = {}
        self.trades: list[PairedTrade] = []
        self.consecutive_failures = 0
        self.halt_reason: str | None = None
        self.started = False
        self.skips: dict[str, int] = {}
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._starting: asyncio.Task[Any] | None = None
        self._halt_checked = 0.0
        self._busy = False  # a trade is scheduled or in flight (one at a time)
        self.refused: str | None = None  # keys refused at start-up (e.g. they can withdraw): no trading in this process

    # -- state -----------------------------------------------------------------------------

    @property
    def halted(self) -> bool:
        """True while the kill switch is set (in memory or in the journal) or the keys were refused."""
        return self.halt_reason is not None or self.refused is not None

    def halt(self, reason: str) -> None:
        """Set the kill switch: persisted in ``halts``; no new trade until ``arbscan resume``."""
        if self.halt_reason is None:
            self.halt_reason = reason
        if any(h["reason"] == reason for h in self.journal.active_halts()):
            return
        self.journal.set_halt(reason, self.clock())
        logger.error("TRADING HALTED: %s (run 'arbscan resume' after checking the venues)", reason)

    def _skip(self, reason: str) -> None:
        self.skips[reason] = self.skips.get(reason, 0) + 1

    # -- start-up --------------------------------------------------------------------------

    def bind_markets(self, markets: Mapping[tuple[str, str], Market]) -> None:
        """Use the scanner's markets (with its fee overrides) first; the executor's own loaded ones fill gaps."""
        self._scanner_markets = markets

    def market(self, exchange: str, symbol: str) -> Market | None:
        """The market of ``symbol`` on ``exchange``: the scanner's when bound, else the one this executor loaded."""
        return self._scanner_markets.get((exchange, symbol)) or self.markets.get((exchange, symbol))

    async def start(self) -> None:
        """Load halts, markets, balances and today's realised PnL, then reconcile unfinished orders; call before trading."""
        halts = self.journal.active_halts()
        if halts:
            self.halt_reason = halts[0]["reason"]
            logger.error("trading is halted since an earlier run: %s (run 'arbscan resume')", self.halt_reason)
        if self.check_permissions:
            try:
                await check_key_permissions(self.adapters)
            except AuthError as exc:  # refused for this process; fixing the key is the way out, not resume
                self.refused = str(exc)
                logger.error("live trading refused: %s", exc)
        for name, adapter in self.adapters.items():
            if not any(ex == name for ex, _ in self.markets):
                try:
                    for sym, m in (await adapter.load_markets()).items():
                        self.markets[(name, sym)] = m
                except Exception as exc:  # noqa: BLE001 - markets refine rounding; trading without them is refused below
                    logger.warning("%s markets not loaded (%s)", name, exc)
            if name not in self.balances:
                try:
                    self.balances[name] = dict(await adapter.fetch_balances())
                except Exception as exc:  # noqa: BLE001 - sizes are then capped by max_notional only
                    logger.warning("%s balances not fetched (%s)", name, exc)
        await self.reconcile_unfinished()
        now = self.clock()
        self.risk.day = _day_start(now)
        self.risk.realised_today = self.journal.realised_since(self.risk.day)
        self.risk.inventory = self.journal.open_inventory()
        self._check_loss()
        self.started = True

    async def reconcile_unfinished(self) -> list[PairedTrade]:
        """Reconcile every order a previous run left unfinished, then settle its trades; sends no new order."""
        orders = self.journal.unfinished_orders()
        for o in orders:
            self.tracker.adopt(o)
        if orders:
            logger.warning("start-up: reconciling %d unfinished order(s) before any new order", len(orders))
        await asyncio.gather(*(self._reconcile_startup(o) for o in orders))
        trade_ids = {o.trade_id for o in orders} | {t["id"] for t in self.journal.unsettled_trades()}
        settled = []
        for tid in sorted(trade_ids):
            row = self.journal.trade(tid)
            if row is None:
                continue
            trade = PairedTrade(tid, row["strategy"] or self.strategy_name, _opp_from_row(row), row["opened"] or 0.0)
            for o in self.journal.trade_orders(tid):
                o = self.tracker.orders.get(o.client_id, o)
                if o.role == "buy":
                    trade.buy = o
                elif o.role == "sell":
                    trade.sell = o
                else:
                    trade.flatten.append(o)
            if trade.buy is None or trade.sell is None:
                # crashed before both intents were written: the missing leg was never sent
                trade.status, trade.closed = "failed", self.clock()
                trade.detail = "start-up: trade had no complete pair of intents; nothing was sent for the missing leg"
                self.journal.write_trade(trade.as_row())
                continue
            self._finish(trade, flatten=False, note="settled by start-up reconciliation")
            settled.append(trade)
        return settled

    async def _reconcile_startup(self, order: TrackedOrder) -> None:
        adapter = self.adapters.get(order.req.exchange)
        if adapter is None:
            self.halt(f"start-up: order {order.client_id} on {order.req.exchange} cannot be reconciled (venue not configured)")
            return
        deadline = max(self.monotonic(), self.monotonic() + (order.created + self.config.reconcile_deadline_s - self.clock()))
        await self._resolve(order, adapter, deadline, startup=True)

    # -- scanner listener ------------------------------------------------------------------

    def on_book(self, book: BookSnapshot, t: float) -> None:
        """Keep the latest book per venue and symbol (the strategy re-sizes on them); starts the executor once."""
        self.books[(book.exchange, book.symbol)] = book
        if not self.started and self._starting is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._starting = loop.create_task(self._auto_start(), name="live-start")

    async def _auto_start(self) -> None:
        try:
            await self.start()
        except Exception:  # noqa: BLE001 - never trade after a start-up that did not finish
            logger.exception("live executor start-up failed; no trading in this run")
            self.refused = "start-up failed (see the log)"

    def on_opportunity(self, opp: Opportunity, t: float) -> None:
        """Decide with the strategy rules and the risk limits; schedule the paired trade when both allow."""
        if not self.started:
            self._skip("starting")
            return
        if self.refused is not None:
            self._skip("refused")
            return
        if self.halted and not self._halt_cleared():
            self._skip("halted")
            return
        if self._busy:
            self._skip("busy")
            return
        if opp.buy_exchange not in self.adapters or opp.sell_exchange not in self.adapters:
            self._skip("venue")  # a route through a venue this executor does not trade
            return
        buy = self.books.get((opp.buy_exchange, opp.symbol))
        sell = self.books.get((opp.sell_exchange, opp.symbol))
        bm = self.market(opp.buy_exchange, opp.symbol)
        sm = self.market(opp.sell_exchange, opp.symbol)
        if buy is None or sell is None or bm is None or sm is None:
            self._skip("no_market")
            return
        decision = self.rules.decide(
            buy, sell, bm, sm,
            self.balances.get(opp.buy_exchange, {}).get(bm.quote), self.balances.get(opp.sell_exchange, {}).get(sm.base), t,
        )
        if not decision.take:
            self._skip(decision.reason or "strategy")
            return
        trade_opp = decision.opportunity
        assert trade_opp is not None
        trade_opp = self.fit_notional(trade_opp, bm, sm)
        if trade_opp is None:
            self._skip("risk")
            return
        reason = self.risk.refuse(trade_opp, self.monotonic())
        if reason is not None:
            self._skip("risk")
            logger.info("trade refused by risk limits: %s", reason)
            return
        self._busy = True
        task = asyncio.get_running_loop().create_task(self._trade_task(trade_opp, t), name="live-trade")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def fit_notional(self, opp: Opportunity, buy_market: Market, sell_market: Market) -> Opportunity | None:
        """``opp`` with its amount cut so the worst case (amount x ``buy_limit``) fits ``max_notional_per_trade``.

        The strategy sizes by the average price it expects; the IOC may fill up to ``buy_limit``. The
        amount is rounded down to the coarser amount step; the expected figures are scaled with it.
        None when what is left is below either venue's minimums.
        """
        cap = self.config.max_notional_per_trade
        if opp.amount * opp.buy_limit <= cap:
            return opp
        step = max(buy_market.amount_step, sell_market.amount_step)
        amount = _floor(cap / opp.buy_limit, step)
        if amount <= 0 or amount < buy_market.min_amount or amount < sell_market.min_amount \
                or amount * opp.buy_vwap < buy_market.min_cost or amount * opp.sell_vwap < sell_market.min_cost:
            return None
        k = amount / opp.amount
        return replace(opp, amount=amount, buy_cost=opp.buy_cost * k, sell_proceeds=opp.sell_proceeds * k,
                       net_profit=opp.net_profit * k, buy_fee=opp.buy_fee * k, sell_fee=opp.sell_fee * k)

    def on_close(self, t: float) -> None:
        """The scan ended: no new trades (await :meth:`close` to let one in flight finish)."""
        self.started = False

    async def wait_idle(self) -> None:
        """Wait until start-up and the trade in flight (bounded by their deadlines) are done."""
        if self._starting is not None and not self._starting.done():
            await asyncio.gather(self._starting, return_exceptions=True)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Wait until idle (see :meth:`wait_idle`), then close the trading adapters and the journal connection."""
        await self.wait_idle()
        for name, adapter in self.adapters.items():
            try:
                await adapter.close()
            except Exception as exc:  # noqa: BLE001 - closing is best effort
                logger.debug("closing %s: %s", name, exc)
        self.journal.close()

    def _halt_cleared(self) -> bool:
        """Every few seconds, look whether ``arbscan resume`` cleared the halt; if so reconcile again first."""
        now = self.monotonic()
        if now - self._halt_checked < 5.0:
            return False
        self._halt_checked = now
        if self.journal.active_halts():
            return False
        logger.warning("halt cleared by 'arbscan resume'; reconciling before trading again")
        self.halt_reason = None
        self.started = False
        self._starting = asyncio.get_running_loop().create_task(self._auto_start(), name="live-restart")
        return False  # trade again once start() has finished

    async def _trade_task(self, opp: Opportunity, t: float) -> None:
        try:
            await self.execute(opp)
        except TradingHalted:
            self._skip("halted")
        except Exception:  # a bug here must not kill the scanner; it halts trading instead
            logger.exception("paired trade failed unexpectedly")
            self.halt("paired trade failed unexpectedly (see the log)")
        finally:
            self._busy = False

    # -- the paired trade ------------------------------------------------------------------

    async def execute(self, opp: Opportunity) -> PairedTrade | None:
        """Place ``opp`` as a paired trade and settle it; None when the risk limits refuse it.

        Raises ``TradingHalted`` when the kill switch is set or :meth:`start` has not run.
        """
        if not self.started:
            raise TradingHalted("start-up reconciliation has not run: await LiveExecutor.start() first")
        async with self._lock:
            if self.halted:
                raise TradingHalted(f"trading is halted: {self.halt_reason or self.refused}")
            refused = self.risk.refuse(opp, self.monotonic())
            if refused is not None:
                self._skip("risk")
                logger.warning("trade refused by risk limits: %s", refused)
                return None
            route = (opp.symbol, opp.buy_exchange, opp.sell_exchange)
            trade = PairedTrade(f"live-{uuid.uuid4().hex[:16]}", self.strategy_name, opp, self.clock())
            self.rules.opened(route, trade.id)
            try:
                self.journal.write_trade(trade.as_row())
                trade.buy = self.tracker.intent(
                    OrderRequest(new_client_id(), opp.buy_exchange, opp.symbol, Side.BUY, opp.amount, opp.buy_limit),
                    trade.id, "buy", self.strategy_name)
                trade.sell = self.tracker.intent(
                    OrderRequest(new_client_id(), opp.sell_exchange, opp.symbol, Side.SELL, opp.amount, opp.sell_limit),
                    trade.id, "sell", self.strategy_name)
                # both intents are committed: from here on each leg is sent once, never again. Both legs
                # run to the end (journaled) even when one fails unexpectedly; that failure is raised after.
                results = await asyncio.gather(self._place(trade.buy), self._place(trade.sell), return_exceptions=True)
                for result in results:
                    if isinstance(result, BaseException):
                        raise result
                await self._settle(trade)
                if any(o.filled for o in trade.orders):
                    await self._refresh_balances({o.req.exchange for o in trade.orders})
            finally:
                self.rules.closed(route, self.clock())
            self.trades.append(trade)
            return trade

    async def _refresh_balances(self, venues: Iterable[str]) -> None:
        """Replace the fill-derived balance estimates of ``venues`` with what the venues report (best effort)."""
        for venue in sorted(venues):
            try:
                fetched = dict(await asyncio.wait_for(self.adapters[venue].fetch_balances(), self.config.order_timeout_s))
            except Exception as exc:  # noqa: BLE001 - the estimate from the fills stays in use
                logger.warning("%s balances not refreshed after the trade (%s)", venue, exc)
                continue
            estimate = self.balances.get(venue, {})
            drift = {a: fetched.get(a, ZERO) - v for a, v in estimate.items() if fetched.get(a, ZERO) != v}
            if drift:
                logger.info("%s balances differ from the fills' estimate by %s (fees in other assets, deposits, ...)",
                            venue, ", ".join(f"{a} {d:+}" for a, d in sorted(drift.items())))
            self.balances[venue] = fetched

    async def _place(self, order: TrackedOrder) -> None:
        """Send one order once and drive it to a final state, reconciling an unknown outcome by client id."""
        venue = order.req.exchange
        adapter = self.adapters[venue]
        if self.validate_only and not getattr(adapter, "validate_orders", False):
            self.tracker.mark(order.client_id, OrderStatus.REJECTED, f"{_NOT_SENT}: --validate-orders and {venue} cannot validate orders")
            return
        self.risk.record_order(venue, self.monotonic())
        started = self.monotonic()
        try:
            update = await asyncio.wait_for(adapter.place_order(order.req), self.config.order_timeout_s)
        except _REFUSED as exc:
            self.tracker.mark(order.client_id, OrderStatus.REJECTED, f"{type(exc).__name__}: {exc}")
            if isinstance(exc, AuthError):
                self.halt(f"{venue}: {exc}")
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - timeout, reset, 5xx, OrderOutcomeUnknown, an unreadable answer
            what = "timeout" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
            self.tracker.mark(order.client_id, OrderStatus.UNKNOWN, f"send outcome unknown ({what}); reconciling by client id")
            logger.warning("%s order %s: outcome unknown (%s); never resent, reconciling", venue, order.client_id, what)
        else:
            self._apply(order, update, "send")
        if not order.is_final:
            await self._resolve(order, adapter, started + self.config.reconcile_deadline_s, startup=False, sent_at=started)

    def _apply(self, order: TrackedOrder, update: OrderUpdate, detail: str) -> None:
        if update.client_id != order.client_id:
            update = replace(update, client_id=order.client_id)
        try:
            self.tracker.apply(update, detail)
        except ArbscanError as exc:  # an illegal move: the venue contradicts itself; keep our state, halt
            logger.error("%s order %s: %s", order.req.exchange, order.client_id, exc)
            self.halt(f"{order.req.exchange} order {order.client_id}: {exc}")

    async def _lookup(self, order: TrackedOrder, adapter: Any) -> OrderUpdate:
        """The venue's view of our order by client id: ``fetch_order``, then its open / closed order lists."""
        try:
            return await adapter.fetch_order(order.req.symbol, order.client_id)
        except OrderNotFound:
            pass
        for name in ("open_orders", "closed_orders"):
            lister = getattr(adapter, name, None)
            if lister is None:
                continue
            try:
                listed = await lister(order.req.symbol)
            except ConfigError:  # the venue cannot list orders: fetch_order's answer stands
                continue
            for update in listed:
                if update.client_id == order.client_id:
                    return update
        raise OrderNotFound(f"{order.req.exchange}: no order with client id {order.client_id}")

    async def _resolve(self, order: TrackedOrder, adapter: Any, deadline: float, *, startup: bool,
                       sent_at: float | None = None) -> None:
        """Poll the venue until ``order`` is final or ``deadline`` (monotonic) passes; the latter halts trading.

        At start-up, "not found" once the deadline has passed means the order was never placed.
        """
        cancel_after = (sent_at if sent_at is not None else self.monotonic()) + self.config.order_timeout_s
        cancelled = False
        not_found = False
        while not order.is_final:
            try:
                update = await asyncio.wait_for(self._lookup(order, adapter), self.config.order_timeout_s)
            except OrderNotFound:
                not_found = True
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep asking until the deadline
                not_found = False
                logger.warning("%s order %s: lookup failed (%s)", order.req.exchange, order.client_id, exc)
            else:
                not_found = False
                self._apply(order, update, "start-up reconciliation" if startup else "reconciled")
                if order.is_final:
                    break
                if order.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.SUBMITTED) \
                        and not cancelled and self.monotonic() >= cancel_after:
                    cancelled = True
                    try:  # an IOC should never rest; if it does, take it off the book once
                        self._apply(order, await adapter.cancel_order(order.req.symbol, order.client_id), "cancel")
                    except Exception as exc:  # noqa: BLE001
                        logger.warning("%s order %s: cancel failed (%s)", order.req.exchange, order.client_id, exc)
                    continue
            if self.monotonic() >= deadline:
                if startup and not_found and order.status in (OrderStatus.CREATED, OrderStatus.UNKNOWN):
                    self.tracker.mark(order.client_id, OrderStatus.REJECTED,
                                      "never placed: the venue has no order with this client id "
                                      f"{self.config.reconcile_deadline_s:g} s after the intent")
                    return
                if not order.is_final:
                    if order.status is OrderStatus.CREATED:
                        self.tracker.mark(order.client_id, OrderStatus.UNKNOWN, "unresolved at start-up")
                    self.halt(f"{order.req.exchange} order {order.client_id}: outcome unresolved after "
                              f"{self.config.reconcile_deadline_s:g} s ({order.status.value})")
                return
            await asyncio.sleep(self.poll_interval_s)

    async def _settle(self, trade: PairedTrade) -> None:
        """Flatten an imbalance by policy, then write the trade's final row and update the risk figures."""
        buy, sell = trade.buy, trade.sell
        assert buy is not None and sell is not None
        excess = buy.filled - sell.filled
        if buy.is_final and sell.is_final and excess != 0 and self.config.imbalance_policy != "keep" \
                and not self.validate_only:  # validating: no order may execute, flattening included
            order = self._flatten_order(trade, excess)
            if order is not None:
                trade.flatten.append(order)
                await self._place(order)
        self._finish(trade, flatten=True)

    def _flatten_order(self, trade: PairedTrade, excess: Decimal) -> TrackedOrder | None:
        """The IOC order that brings base back to zero under the policy, or None (noted) when it cannot be placed."""
        opp = trade.opp
        buy, sell = trade.buy, trade.sell
        assert buy is not None and sell is not None
        on_buy_venue = self.config.imbalance_policy == "flatten_buy_venue"
        venue = opp.buy_exchange if on_buy_venue else opp.sell_exchange
        ref = (buy.avg_price or opp.buy_limit) if on_buy_venue else (sell.avg_price or opp.sell_limit)
        side = Side.SELL if excess > 0 else Side.BUY
        slip = self.config.max_slippage_bps / Decimal(10000)
        limit = ref * (1 - slip) if side is Side.SELL else ref * (1 + slip)
        amount = abs(excess)
        market = self.market(venue, opp.symbol)
        if market is not None:
            # stay within the slippage bound: a sell limit rounds up, a buy limit down, the amount down
            limit = _ceil(limit, market.price_step) if side is Side.SELL else _floor(limit, market.price_step)
            amount = _floor(amount, market.amount_step)
            if amount <= 0 or amount < market.min_amount or amount * limit < market.min_cost:
                trade.detail = f"imbalance {excess} below {venue}'s minimum order: kept"
                return None
        req = OrderRequest(new_client_id(), venue, opp.symbol, side, amount, limit)
        return self.tracker.intent(req, trade.id, "flatten", trade.strategy)

    def _finish(self, trade: PairedTrade, *, flatten: bool, note: str | None = None) -> None:
        """Compute the trade's outcome from its orders, journal it, and update balances, PnL and the kill switch."""
        buy, sell = trade.buy, trade.sell
        assert buy is not None and sell is not None
        opp = trade.opp
        orders = trade.orders
        unresolved = [o for o in orders if not o.is_final]
        excess = buy.filled - sell.filled
        residual = sum((o.base_flow for o in orders), ZERO)
        trade.imbalance = residual
        quote = sum((o.quote_flow for o in orders), ZERO)
        ref = (buy.avg_price or opp.buy_limit) if residual > 0 else (sell.avg_price or opp.sell_limit)
        trade.realised_pnl = quote + residual * ref  # inventory kept is valued at the price it was traded at
        rejected = [o for o in orders if o.status is OrderStatus.REJECTED and not (o.error or "").startswith(_NOT_SENT)]
        if unresolved:
            trade.status = "unknown"
            trade.imbalance_action = "kept"
            trade.detail = "unresolved: " + ", ".join(f"{o.role} {o.client_id} ({o.status.value})" for o in unresolved)
        elif excess != 0:
            if residual == 0:
                trade.status, trade.imbalance_action = "flattened", "flattened"
            else:
                trade.status, trade.imbalance_action = "imbalanced", "kept"
        elif buy.filled == opp.amount:
            trade.status = "filled"
        elif buy.filled > 0:
            trade.status = "partial"
        else:
            trade.status = "failed" if rejected else "missed"
        notes = [n for n in (trade.detail, note) if n]
        if rejected:
            notes.append("rejected: " + "; ".join(f"{o.role} {o.error}" for o in rejected))
        if not flatten and residual != 0 and not unresolved:
            notes.append(f"imbalance {residual} found at start-up: not traded, flatten it by hand or keep it")
        trade.detail = " | ".join(dict.fromkeys(notes)) or None
        trade.closed = self.clock()
        self.journal.write_trade(trade.as_row())
        self._after_trade(trade, failed=bool(unresolved or rejected or (excess != 0 and residual != 0
                                                                       and self.config.imbalance_policy != "keep")),
                          live=flatten)

    def _after_trade(self, trade: PairedTrade, failed: bool, live: bool = True) -> None:
        opp = trade.opp
        now = self.clock()
        base, _, quote = opp.symbol.partition("/")
        rows = []
        # a trade settled at start-up is already in the balances just fetched from the venues
        for o in trade.orders if live else ():  # known balances follow the fills (fees in quote); unknown ones stay unknown
            venue = self.balances.get(o.req.exchange, {})
            if o.filled:
                if base in venue:
                    venue[base] += o.base_flow
                if quote in venue:
                    venue[quote] += o.quote_flow
        for ex in {o.req.exchange for o in trade.orders}:
            for asset in (base, quote):
                if asset in self.balances.get(ex, {}):
                    rows.append({"strategy": trade.strategy, "exchange": ex, "asset": asset,
                                 "free": self.balances[ex][asset], "ts": now, "trade_id": trade.id})
        self.journal.write_balances(rows)
        if trade.imbalance != 0:
            key = (opp.symbol, opp.buy_exchange)
            self.risk.inventory[key] = self.risk.inventory.get(key, ZERO) + trade.imbalance
        if _day_start(now) != self.risk.day:
            self.risk.day, self.risk.realised_today = _day_start(now), ZERO
        if trade.status != "unknown" and trade.realised_pnl is not None:
            self.risk.realised_today += trade.realised_pnl
        if live:  # failures count for trades this run placed, not for old ones settled at start-up
            self.consecutive_failures = self.consecutive_failures + 1 if failed else 0
        logger.info("trade %s %s: buy %s sell %s on %s, imbalance %s, pnl %s", trade.id, trade.status,
                    trade.buy.filled if trade.buy else "-", trade.sell.filled if trade.sell else "-",
                    opp.symbol, trade.imbalance, trade.realised_pnl)
        if self.consecutive_failures >= self.config.max_consecutive_failures:
            self.halt(f"{self.consecutive_failures} consecutive failed trades")
        self._check_loss()

    def _check_loss(self) -> None:
        if self.risk.realised_today <= -self.config.daily_loss_limit:
            self.halt(f"daily realised loss {-self.risk.realised_today} reached daily_loss_limit {self.config.daily_loss_limit}")


def cli_live_executor(settings: Any, store: Any, strategy_names: Iterable[str] | None = None,
                      validate_orders: bool = False) -> LiveExecutor:
    """The one ``LiveExecutor`` that ``arbscan scan --live`` runs: keys checked, trading adapters built.

    The strategy is the first ``--strategy NAME`` (else the first configured); its ``venues`` (all
    configured ones when empty) must all have API keys, else ``ConfigError`` naming the variables.
    ``--validate-orders`` (or ``live.validate_orders``) sends Kraken orders with ``validate=true`` and
    nothing to venues that cannot validate.
    """
    from adapters import build_adapter

    names = list(strategy_names or [])
    strategy = settings.strategy(names[0]) if names else settings.strategies[0]
    if len(names) > 1:
        raise ConfigError("--live runs one strategy: name a single --strategy")
    venues = [v for v in settings.venues if not strategy.venues or v.exchange in strategy.venues]
    if len(venues) < 2:
        raise ConfigError(f"strategies: {strategy.name!r} needs at least two configured venues to trade")
    require_credentials([v.exchange for v in venues])
    validate = validate_orders or settings.live.validate_orders
    adapters = {v.exchange: build_adapter(v, settings.scanner.book_depth, validate_orders=validate) for v in venues}
    if store is None or getattr(store, "path", None) is None:
        raise ConfigError("--live needs the journal (scanner.db)")
    journal = LiveJournal.for_store(store)
    logger.warning("LIVE trading with strategy %r on %s%s", strategy.name, ", ".join(adapters),
                   " (validate only: Kraken checks each order, nothing executes)" if validate else "")
    return LiveExecutor(adapters, journal, settings.live, strategy, validate_only=validate, check_permissions=True)
