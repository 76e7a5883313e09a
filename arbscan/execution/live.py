"""Live trading's venue: real orders, each sent once, driven to their end; and the live executor's start-up.

:class:`LiveVenue` is the venue behind live legs (``arbscan.execution.trades.LegVenue``): both legs go out at
once as IOC limit orders with fresh client ids (UUIDs); each moves through ``arbscan.execution.orders``'s state
table. A send that fails ambiguously (``OrderOutcomeUnknown``, no answer within ``order_timeout_s``, a
reset, a 5xx) makes the order ``unknown``: it is **never resent**, only reconciled by client id
(``arbscan.execution.reconcile``). The kill switch is checked immediately before every send; while it is set
no order leaves (a cancel of a resting order still may). Balances follow the fills (fees in quote) and
are read back from the venues after a trade.

:class:`LiveStartup` runs before the first trade: halts from earlier runs, the keys' permissions,
markets and balances, start-up reconciliation, today's realised PnL. :func:`live_executor` assembles
the live parts into an ``arbscan.execution.executor.Executor``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from arbscan.config.settings import LiveConfig, StrategyConfig
from arbscan.errors import AuthError, BadInput, ConfigError, ExchangeUnavailable, InsufficientFunds, OrderNotFound, \
    OrderRejected, RateLimited
from arbscan.execution.journal import DurableJournal, balance_row
from arbscan.execution.executor import Executor
from arbscan.model import Balances, BookSnapshot, Market, OrderStatus
from arbscan.execution.orders import OrderTracker, TrackedOrder, new_client_id
from arbscan.execution.reconcile import Reconciler
from arbscan.execution.risk import KillSwitch, RiskLimits, day_start
from arbscan.execution.trades import NOT_SENT, Lifecycle, PairedTrade

__all__ = ["LiveVenue", "LiveStartup", "TaskRunner", "WallClock", "live_executor", "require_credentials",
           "check_key_permissions"]

logger = logging.getLogger(__name__)

_REFUSED = (OrderRejected, InsufficientFunds, RateLimited, ExchangeUnavailable, AuthError, BadInput, OrderNotFound)
"""Errors from ``place_order`` that mean nothing was executed (adapters raise ``OrderOutcomeUnknown`` for
ambiguous sends, so their ``ExchangeUnavailable`` means "never left" or "not processed"); every other
failure, and our own ``order_timeout_s``, is an unknown outcome."""


class WallClock:
    """Live trading's clock: wall time; the event times the scanner reports are not used."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def __call__(self) -> float:
        return self._clock()

    def advance(self, t: float) -> None:
        """Nothing: wall time advances by itself."""


class TaskRunner:
    """Runs live trades as asyncio tasks and can wait for them all."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()

    def __call__(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro, name="live-trade")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def idle(self) -> None:
        """Wait until every trade in flight has settled (bounded by its deadlines)."""
        if self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)


class LiveVenue:
    """The real venues behind live legs (see the module docstring)."""

    def __init__(self, adapters: Mapping[str, Any], tracker: OrderTracker, reconciler: Reconciler, risk: RiskLimits,
                 kill: KillSwitch, config: LiveConfig, balances: Balances, *, validate_only: bool = False,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.adapters = adapters
        self.tracker = tracker
        self.reconciler = reconciler
        self.risk = risk
        self.kill = kill
        self.config = config
        self.balances = balances  # what each venue holds as far as we know: fetched, then moved by fills
        self.validate_only = validate_only
        self.executes_orders = not validate_only
        self.monotonic = monotonic
        self.books: dict[tuple[str, str], BookSnapshot] = {}

    def trade_id(self) -> str:
        """``live-<16 hex>``."""
        return f"live-{uuid.uuid4().hex[:16]}"

    def client_id(self, trade_id: str, role: str) -> str:
        """A fresh UUID, the one form every venue accepts."""
        return new_client_id()

    def open_note(self, trade: PairedTrade) -> None:
        """Nothing to say."""
        return None

    def trades(self, exchange: str) -> bool:
        """Whether this executor trades on ``exchange`` (has an adapter for it)."""
        return exchange in self.adapters

    def held(self, exchange: str, asset: str) -> Decimal | None:
        """The free ``asset`` on ``exchange`` as far as known (None: unknown)."""
        return self.balances.get(exchange, {}).get(asset)

    def book(self, exchange: str, symbol: str) -> BookSnapshot | None:
        """The latest book the scanner saw."""
        return self.books.get((exchange, symbol))

    def on_book(self, book: BookSnapshot, t: float) -> None:
        """Keep the latest book per venue and symbol."""
        self.books[(book.exchange, book.symbol)] = book

    def on_tick(self, t: float) -> None:
        """Nothing waits on the event clock."""

    def on_close(self, t: float) -> None:
        """Nothing waits on the stream."""

    async def execute(self, trade: PairedTrade, orders: list[TrackedOrder]) -> None:
        """Send ``orders`` at once and drive each to its end; every one runs to its end even if another fails."""
        results = await asyncio.gather(*(self.place(o) for o in orders), return_exceptions=True)
        for order in orders:  # known balances follow the fills (fees in quote); unknown ones stay unknown
            if order.filled:
                venue = self.balances.get(order.req.exchange, {})
                base, _, quote = order.req.symbol.partition("/")  # the order's own market: a conversion's differs
                if base in venue:
                    venue[base] += order.base_flow
                if quote in venue:
                    venue[quote] += order.quote_flow
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def place(self, order: TrackedOrder) -> None:
        """Send one order once (unless trading is halted) and drive it to a final state."""
        venue = order.req.exchange
        adapter = self.adapters[venue]
        reason = self.kill.why()
        if reason is not None:
            self.tracker.mark(order.client_id, OrderStatus.REJECTED, f"{NOT_SENT}: trading halted ({reason})")
            return
        if self.validate_only and not adapter.validate_orders:
            self.tracker.mark(order.client_id, OrderStatus.REJECTED,
                              f"{NOT_SENT}: --validate-orders and {venue} cannot validate orders")
            return
        self.risk.record_order(venue, self.monotonic())
        started = self.monotonic()
        try:
            update = await asyncio.wait_for(adapter.place_order(order.req), self.config.order_timeout_s)
        except _REFUSED as exc:
            self.tracker.mark(order.client_id, OrderStatus.REJECTED, f"{type(exc).__name__}: {exc}")
            if isinstance(exc, AuthError):
                self.kill.halt(f"{venue}: {exc}")
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - timeout, reset, 5xx, OrderOutcomeUnknown, an unreadable answer
            what = (f"no answer within {self.config.order_timeout_s:g} s" if isinstance(exc, TimeoutError)
                    else f"{type(exc).__name__}: {exc}")
            self.tracker.mark(order.client_id, OrderStatus.UNKNOWN, f"send outcome unknown ({what}); reconciling by client id")
            logger.warning("%s order %s: outcome unknown (%s); never resent, reconciling", venue, order.client_id, what)
        else:
            self.reconciler.apply(order, update, "send")
        if not order.is_final:
            await self.reconciler.resolve(order, adapter, started + self.config.reconcile_deadline_s, startup=False,
                                          sent_at=started)

    async def settled(self, trade: PairedTrade) -> None:
        """After a trade that filled: believe the venues' own balances over the estimate from the fills."""
        if any(o.filled for o in trade.orders):
            await self.refresh_balances({o.req.exchange for o in trade.orders})

    async def refresh_balances(self, venues: Iterable[str]) -> None:
        """Replace the balance estimates of ``venues`` with what they report (best effort)."""
        for venue in sorted(venues):
            try:
                fetched = dict(await asyncio.wait_for(self.adapters[venue].fetch_balances(), self.config.order_timeout_s))
            except Exception as exc:  # noqa: BLE001 - the estimate from the fills stays in use
                logger.warning("%s balances not refreshed after the trade (%s)", venue,
                               f"no answer within {self.config.order_timeout_s:g} s" if isinstance(exc, TimeoutError) else exc)
                continue
            estimate = self.balances.get(venue, {})
            drift = {a: fetched.get(a, Decimal(0)) - v for a, v in estimate.items() if fetched.get(a, Decimal(0)) != v}
            if drift:
                logger.info("%s balances differ from the fills' estimate by %s (fees in other assets, deposits, ...)",
                            venue, ", ".join(f"{a} {d:+}" for a, d in sorted(drift.items())))
            self.balances[venue] = fetched


async def check_key_permissions(adapters: Mapping[str, Any]) -> dict[str, str]:
    """Refuse (``AuthError``) a key that can withdraw, where the venue reports permissions; returns what was learnt.

    ``api_key_permissions()`` returns None when the venue cannot tell (Kraken has no such endpoint),
    else permission names; any name containing "withdraw" is refused.
    """
    out: dict[str, str] = {}
    for name, adapter in adapters.items():
        perms = await adapter.api_key_permissions()
        if perms is None:
            out[name] = "not reported"
            logger.warning("%s cannot report key permissions: make sure the key cannot withdraw", name)
            continue
        names = sorted(str(p) for p in perms)
        if any("withdraw" in p.lower() for p in names):
            raise AuthError(f"{name}: the API key can withdraw funds; create a trade-only key for arbscan")
        out[name] = ", ".join(names) or "none"
    return out


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


class LiveStartup:
    """Everything a live executor does before its first trade, once per run and again after a resume."""

    def __init__(self, venue: LiveVenue, reconciler: Reconciler, journal: DurableJournal, markets: dict[tuple[str, str], Market],
                 *, kill: KillSwitch, risk: RiskLimits, lifecycle: Lifecycle, strategy: str,
                 check_permissions: bool = False, symbols: Iterable[str] = (),
                 clock: Callable[[], float] = time.time) -> None:
        self.venue = venue
        self.kill = kill
        self.risk = risk
        self.lifecycle = lifecycle
        self.strategy = strategy
        self.symbols = tuple(symbols)
        self.reconciler = reconciler
        self.journal = journal
        self.markets = markets
        self.check_permissions = check_permissions
        self.clock = clock
        self._task: asyncio.Task[Any] | None = None
        self._starts_journaled = False  # set once the run's starting balances are written: a resume writes none

    def _journal_starting_balances(self, strategy: str, now: float) -> None:
        """The run's starting balances: each trading venue's holdings of the traded assets, as the venue reports them.

        A venue that reported its balances holds 0 of an asset it did not list; a venue whose balances
        could not be read journals nothing, so its start stays unknown (never 0). Only the run's first
        start writes them: after a resume the balances are mid-run, not starting ones.
        """
        if self._starts_journaled:
            return
        self._starts_journaled = True
        symbols = self.symbols or tuple(sorted({sym for ex, sym in self.markets if ex in self.venue.adapters}))
        assets = sorted({a for sym in symbols for a in sym.split("/")})
        rows = []
        for exchange in sorted(self.venue.adapters):
            held = self.venue.balances.get(exchange)
            if held is None:
                logger.warning("%s: starting balances unknown (not fetched); the summary shows them as unknown", exchange)
                continue
            rows += [balance_row(strategy, exchange, a, held.get(a, Decimal(0)), now, None) for a in assets]
        self.journal.write_balances(rows)

    def begin(self, t: float, started: Callable[[], None]) -> None:
        """Schedule :meth:`start` once (needs a running event loop); ``started()`` when it has finished."""
        if self._task is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._task = loop.create_task(self._run(started), name="live-start")

    def restart(self, started: Callable[[], None]) -> None:
        """Start again (after ``arbscan resume``): reconcile before trading."""
        self._task = None
        self.begin(self.clock(), started)

    async def idle(self) -> None:
        """Wait for a start-up in progress."""
        if self._task is not None and not self._task.done():
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self, started: Callable[[], None]) -> None:
        try:
            await self.start()
        except Exception:  # noqa: BLE001 - never trade after a start-up that did not finish
            logger.exception("live executor start-up failed; no trading in this run")
            self.kill.refused = "start-up failed (see the log)"
        else:
            started()

    async def start(self) -> None:
        """Halts, key permissions, markets, balances, start-up reconciliation, today's PnL; then trading may start."""
        kill, venue = self.kill, self.venue
        kill.load()
        if self.check_permissions:
            try:
                await check_key_permissions(venue.adapters)
            except AuthError as exc:  # refused for this process; fixing the key is the way out, not resume
                kill.refused = str(exc)
                logger.error("live trading refused: %s", exc)
        for name, adapter in venue.adapters.items():
            if not any(ex == name for ex, _ in self.markets):
                try:
                    for sym, m in (await adapter.load_markets()).items():
                        self.markets[(name, sym)] = m  # with the venue's taker_fee override: the adapter's
                except Exception as exc:  # noqa: BLE001 - markets refine rounding; the scanner's are used first
                    logger.warning("%s markets not loaded (%s)", name, exc)
            if name not in venue.balances:
                try:
                    venue.balances[name] = dict(await adapter.fetch_balances())
                except Exception as exc:  # noqa: BLE001 - sizes are then capped by max_notional only
                    logger.warning("%s balances not fetched (%s)", name, exc)
        await self.reconciler.unfinished(self.journal, self.lifecycle, self.strategy)
        now = self.clock()
        self._journal_starting_balances(self.strategy, now)
        self.risk.start_day(now, self.journal.realised_since(day_start(now)), self.journal.open_inventory())
        reason = self.risk.loss_reason()
        if reason is not None:
            kill.halt(reason)


def live_executor(adapters: Mapping[str, Any], journal: DurableJournal, config: LiveConfig,
                  strategy: StrategyConfig | None = None, *, markets: dict[tuple[str, str], Market] | None = None,
                  balances: Balances | None = None, validate_only: bool = False, check_permissions: bool = False,
                  symbols: Iterable[str] = (),
                  poll_interval_s: float = 0.5, transfers: Any = None, clock: Callable[[], float] = time.time,
                  monotonic: Callable[[], float] = time.monotonic, kill: KillSwitch | None = None) -> Executor:
    """An executor that trades ``strategy`` for real on ``adapters`` (one trade in flight at a time).

    ``max_notional`` is capped by ``live.max_notional_per_trade``. ``markets`` (the scanner's, shared)
    is read first; a venue with none is loaded at start-up. ``balances`` are the venues' as known.
    ``symbols``: whose assets' starting balances are journaled (default: every market loaded).
    ``transfers`` (the scanner's ``RouteTransfers``) answers a strategy that skips untransferable routes.
    ``kill``: the kill switch to use (default one on ``journal``; on the bus, one that also reads the bucket).
    """
    strategy = strategy or StrategyConfig("default")
    cap = config.max_notional_per_trade
    if strategy.max_notional is None or strategy.max_notional > cap:
        strategy = replace(strategy, max_notional=cap)
    markets = markets if markets is not None else {}
    kill = kill if kill is not None else KillSwitch(journal, clock, monotonic)
    risk = RiskLimits(config)
    tracker = OrderTracker(journal, clock)
    reconciler = Reconciler(tracker, adapters, config, kill, poll_interval_s=poll_interval_s, clock=clock,
                            monotonic=monotonic)
    venue = LiveVenue(adapters, tracker, reconciler, risk, kill, config, balances if balances is not None else {},
                      validate_only=validate_only, monotonic=monotonic)
    lifecycle = Lifecycle(strategy=strategy.name, tracker=tracker, journal=journal, venue=venue, markets=markets,
                          policy=config.imbalance_policy, max_slippage_bps=config.max_slippage_bps, halted=kill.why,
                          convert=strategy.convert)
    startup = LiveStartup(venue, reconciler, journal, markets, kill=kill, risk=risk, lifecycle=lifecycle,
                          strategy=strategy.name, check_permissions=check_permissions, symbols=symbols, clock=clock)
    return Executor(strategy=strategy, mode="live", lifecycle=lifecycle, risk=risk, kill=kill, runner=TaskRunner(),
                    startup=startup, markets=markets, clock=WallClock(clock), max_in_flight=1, trades=venue.trades,
                    monotonic=monotonic, transfers=transfers)
