"""The scanner: the latest book per (venue, symbol) in, live routes, episodes and the route funnel out.

The core (:class:`Scanner`) is synchronous and has no clock of its own: each book event carries its
time (``book.ts``), exactly as ARCHITECTURE.md's "Scanner semantics" says. For an event at ``t``:

1. every open episode one of whose two books is older than ``max_book_age_ms`` at ``t`` closes
   (reason ``stale``);
2. the book is applied, and listeners' ``on_book(book, t)`` run;
3. each route through this venue on this symbol, in both directions, is evaluated when both books
   are fresh. A route is *live* when ``spread.evaluate`` finds an opportunity with
   ``net_bps >= min_net_bps``; an episode opens at a live evaluation of a route with none open,
   gains an observation per live evaluation, and closes (``uncrossed``) at its route's first
   evaluation that is not live. Listeners' ``on_opportunity(opp, t)`` run for every live evaluation.

Every route also keeps a funnel of counts (see :class:`RouteFunnel`) so users see why routes were
not live, and every book keeps feed statistics (:class:`FeedStats`). Replay drives the core
directly; :class:`LiveDriver` drives it from live adapters and runs step 1 on a timer.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from heapq import heapify, heappop, heappush
from typing import Any, Protocol

from arbscan import spread
from arbscan.errors import AuthError, BadInput, BookIntegrityError, UnexpectedPayload
from arbscan.model import BookSnapshot, Market, Opportunity

__all__ = [
    "Scanner",
    "ScannerListener",
    "Episode",
    "RouteFunnel",
    "FeedStats",
    "LiveDriver",
    "Route",
    "CLOSE_REASONS",
]

logger = logging.getLogger(__name__)

Route = tuple[str, str, str]
"""(symbol, buy_exchange, sell_exchange)."""

_BPS = Decimal(10000)

_STATS_SLICE_ROWS = 100
"""Funnel and feed rows the live driver journals per event-loop turn (about 0.3 ms of work)."""

CLOSE_REASONS = ("uncrossed", "stale", "end")
"""Why an episode closed: its route stopped being live, one of its books went stale, the run ended."""

_OPP_FIELDS = (
    "amount",
    "buy_vwap",
    "sell_vwap",
    "buy_limit",
    "sell_limit",
    "buy_cost",
    "sell_proceeds",
    "buy_fee",
    "sell_fee",
    "net_profit",
    "net_bps",
)


class ScannerListener(Protocol):
    """What the dry-run and live executors implement to see the scanner's events (``on_close`` optional)."""

    def on_book(self, book: BookSnapshot, t: float) -> None:
        """Called after every book event is applied, before its routes are evaluated."""

    def on_opportunity(self, opp: Opportunity, t: float) -> None:
        """Called for every live evaluation."""


@dataclass(slots=True)
class Episode:
    """One stretch of consecutive live evaluations of one route, with its figures at the peak net profit."""

    symbol: str
    buy_exchange: str
    sell_exchange: str
    first_seen: float
    last_seen: float
    peak: Opportunity
    peak_ts: float
    observations: int = 1
    closed_at: float | None = None
    close_reason: str | None = None
    close_detail: str | None = None

    @property
    def route(self) -> Route:
        """(symbol, buy_exchange, sell_exchange)."""
        return (self.symbol, self.buy_exchange, self.sell_exchange)

    def observe(self, opp: Opportunity, t: float) -> None:
        """Count one more live evaluation; keep the figures of the most profitable one."""
        self.observations += 1
        self.last_seen = t
        if opp.net_profit > self.peak.net_profit:
            self.peak = opp
            self.peak_ts = t

    def as_row(self) -> dict[str, Any]:
        """The episode as a row of table ``opportunities`` (Decimals stay Decimal; the store writes TEXT)."""
        row: dict[str, Any] = {
            "symbol": self.symbol,
            "buy_exchange": self.buy_exchange,
            "sell_exchange": self.sell_exchange,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "observations": self.observations,
            "peak_ts": self.peak_ts,
        }
        for name in _OPP_FIELDS:
            row[name] = getattr(self.peak, name)
        row["closed_at"] = self.closed_at
        row["close_reason"] = self.close_reason
        row["close_detail"] = self.close_detail
        return row


@dataclass(slots=True)
class RouteFunnel:
    """Counts for one route: why it was or was not live.

    ``evaluated`` counts calls of ``spread.evaluate`` (both books fresh); each ends in exactly one of
    ``live``, ``not_crossed``, ``fees``, ``depth_or_minimums``, ``balance`` or ``below_min_bps``.
    ``stale`` counts events that touched the route while one of its books was stale (not evaluated).
    ``crossed_before_fees`` counts evaluations whose best bid was above the best ask, fees ignored,
    and ``max_gross_bps`` is the largest such premium in basis points of the ask.
    """

    symbol: str
    buy_exchange: str
    sell_exchange: str
    evaluated: int = 0
    crossed_before_fees: int = 0
    live: int = 0
    not_crossed: int = 0
    fees: int = 0
    depth_or_minimums: int = 0
    balance: int = 0
    below_min_bps: int = 0
    stale: int = 0
    episodes: int = 0
    max_gross_bps: Decimal | None = None  # largest 10000 * (best bid - best ask) / best ask seen, fees ignored

    def as_row(self) -> dict[str, Any]:
        """The counts as a row of table ``funnel``."""
        return {
            "symbol": self.symbol,
            "buy_exchange": self.buy_exchange,
            "sell_exchange": self.sell_exchange,
            "evaluated": self.evaluated,
            "crossed_before_fees": self.crossed_before_fees,
            "live": self.live,
            "not_crossed": self.not_crossed,
            "fees": self.fees,
            "depth_or_minimums": self.depth_or_minimums,
            "balance": self.balance,
            "below_min_bps": self.below_min_bps,
            "stale": self.stale,
            "episodes": self.episodes,
            "max_gross_bps": self.max_gross_bps,
        }


@dataclass(slots=True)
class FeedStats:
    """Book events of one (venue, symbol) and the gaps between them (the report's feed-quality view)."""

    exchange: str
    symbol: str
    max_book_age_ms: int
    events: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    max_gap_ms: float = 0.0
    gaps_over_max_age: int = 0

    def add(self, t: float) -> None:
        """Count one event at ``t``."""
        if self.last_ts is not None:
            gap_ms = (t - self.last_ts) * 1000.0
            if gap_ms > self.max_gap_ms:
                self.max_gap_ms = gap_ms
            if gap_ms > self.max_book_age_ms:
                self.gaps_over_max_age += 1
        else:
            self.first_ts = t
        self.last_ts = t
        self.events += 1

    def as_row(self) -> dict[str, Any]:
        """The statistics as a row of table ``venue_stats``."""
        return {
            "exchange": self.exchange,
            "symbol": self.symbol,
            "events": self.events,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "max_gap_ms": self.max_gap_ms,
            "gaps_over_max_age": self.gaps_over_max_age,
            "max_book_age_ms": self.max_book_age_ms,
        }


class Scanner:
    """The synchronous scanner core; feed it books with :meth:`on_book_event`, end with :meth:`close`.

    ``markets`` maps (exchange, symbol) to ``Market``; books of markets not in it are ignored.
    ``store`` (an ``arbscan.store.Store`` or None) receives closed episodes, funnel counts and feed
    statistics. ``balances`` (exchange -> asset -> Decimal, mutable, shared with executors) caps
    sizes: the buy venue's quote and the sell venue's base; a missing entry means no cap.
    """

    def __init__(
        self,
        markets: Mapping[tuple[str, str], Market],
        store: Any = None,
        *,
        min_net_bps: Decimal = Decimal(0),
        max_book_age_ms: int = 2000,
        balances: dict[str, dict[str, Decimal]] | None = None,
        listeners: Iterable[Any] = (),
    ) -> None:
        if not isinstance(min_net_bps, Decimal):
            raise BadInput(f"min_net_bps must be a Decimal, got {type(min_net_bps).__name__}")
        if max_book_age_ms <= 0:
            raise BadInput(f"max_book_age_ms must be positive, got {max_book_age_ms}")
        self.markets: dict[tuple[str, str], Market] = dict(markets)
        self.store = store
        self.min_net_bps = min_net_bps
        self.max_book_age_ms = max_book_age_ms
        self._max_age = max_book_age_ms / 1000.0
        self.balances: dict[str, dict[str, Decimal]] = balances if balances is not None else {}
        self.listeners: list[Any] = list(listeners)
        self.books: dict[tuple[str, str], BookSnapshot] = {}
        self._by_symbol: dict[str, dict[str, BookSnapshot]] = {}
        self.episodes: dict[Route, Episode] = {}  # open ones
        # Heap of (ts, seq, route, episode): for every open episode, an entry whose ts is at most the
        # ts of its older book, so step 1 can tell "nothing is stale" without visiting every episode.
        # A book whose ts goes backwards breaks that bound: ``_expiry_exact`` then forces a full scan.
        self._expiry: list[tuple[float, int, Route, Episode]] = []
        self._expiry_seq = 0
        self._expiry_exact = True
        self.funnels: dict[Route, RouteFunnel] = {}
        self.feeds: dict[tuple[str, str], FeedStats] = {}
        # per (exchange, symbol): other exchange -> (route buying here, its funnel, route selling here,
        # its funnel), so an event walks its routes without building keys or looking funnels up
        self._routes_via: dict[tuple[str, str], dict[str, tuple[tuple[Route, RouteFunnel], tuple[Route, RouteFunnel]]]] = {}
        # (exchange, symbol) of the book events since the last write_stats: only their feed and the
        # funnels of their routes changed, so only those rows are written again
        self._touched: dict[tuple[str, str], None] = {}
        self.events = 0
        self.live_evaluations = 0
        self.episodes_closed = 0
        self.clock: float | None = None  # latest event time seen
        self.closed = False
        self._unknown_markets: set[tuple[str, str]] = set()

    # -- inputs ----------------------------------------------------------------------------

    def add_market(self, market: Market) -> None:
        """Register (or replace) the market of one venue and symbol."""
        self.markets[(market.exchange, market.symbol)] = market

    def set_balance(self, exchange: str, asset: str, free: Decimal) -> None:
        """Set the free amount of ``asset`` on ``exchange`` (caps later evaluations)."""
        self.balances.setdefault(exchange, {})[asset] = free

    def on_book_event(self, book: BookSnapshot, t: float | None = None) -> list[Opportunity]:
        """Apply one book event at time ``t`` (default ``book.ts``); returns the live opportunities it made."""
        if t is None:
            t = book.ts
        key = (book.exchange, book.symbol)
        if key not in self.markets:
            if key not in self._unknown_markets:
                self._unknown_markets.add(key)
                logger.warning("book for %s %s ignored: no market loaded for it", book.exchange, book.symbol)
            return []
        if self.clock is None or t > self.clock:
            self.clock = t
        self.events += 1
        # 1. stale books end episodes, even on routes this event does not touch
        if self.episodes:
            self.expire(t)
        # 2. apply
        old = self.books.get(key)
        if old is not None and book.ts < old.ts:
            self._expiry_exact = False
        self.books[key] = book
        self._by_symbol.setdefault(book.symbol, {})[book.exchange] = book
        feed = self.feeds.get(key)
        if feed is None:
            feed = self.feeds[key] = FeedStats(book.exchange, book.symbol, self.max_book_age_ms)
        feed.add(t)
        self._touched[key] = None
        for listener in self.listeners:
            self._call(listener, "on_book", book, t)
        # 3. the routes through this venue, both directions
        found: list[Opportunity] = []
        here = book.exchange
        symbol = book.symbol
        via = self._routes_via.get(key)
        if via is None:
            via = self._routes_via[key] = {}
        evaluate = self._evaluate_route
        for other, other_book in self._by_symbol[symbol].items():
            if other == here:
                continue
            pair = via.get(other)
            if pair is None:
                pair = via[other] = (self._route(symbol, here, other), self._route(symbol, other, here))
            (out, out_funnel), (back, back_funnel) = pair
            opp = evaluate(out, out_funnel, t, book, other_book)
            if opp is not None:
                found.append(opp)
            opp = evaluate(back, back_funnel, t, other_book, book)
            if opp is not None:
                found.append(opp)
        return found

    def _route(self, symbol: str, buy_ex: str, sell_ex: str) -> tuple[Route, RouteFunnel]:
        route = (symbol, buy_ex, sell_ex)
        funnel = self.funnels.get(route)
        if funnel is None:
            funnel = self.funnels[route] = RouteFunnel(symbol, buy_ex, sell_ex)
        return route, funnel

    def expire(self, t: float) -> int:
        """Close every open episode one of whose books is older than ``max_book_age_ms`` at ``t``."""
        max_age = self._max_age
        if self._expiry_exact and not self._any_stale(t):
            return 0
        closed = 0
        for route, ep in list(self.episodes.items()):
            symbol, buy_ex, sell_ex = route
            buy = self.books.get((buy_ex, symbol))
            sell = self.books.get((sell_ex, symbol))
            if buy is None or sell is None or t - buy.ts > max_age or t - sell.ts > max_age:
                self._close_episode(route, t, "stale", None)
                closed += 1
        self._rebuild_expiry()
        return closed

    def _any_stale(self, t: float) -> bool:
        """Whether some open episode may have a stale book at ``t``; cost grows with stale-looking entries only."""
        heap, max_age, episodes = self._expiry, self._max_age, self.episodes
        while heap and t - heap[0][0] > max_age:
            _, _, route, ep = heappop(heap)
            if episodes.get(route) is not ep:
                continue  # that episode has closed
            oldest = self._oldest_book_ts(route)
            if t - oldest > max_age:
                return True
            self._push_expiry(oldest, route, ep)
        return False

    def _oldest_book_ts(self, route: Route) -> float:
        symbol, buy_ex, sell_ex = route
        buy = self.books.get((buy_ex, symbol))
        sell = self.books.get((sell_ex, symbol))
        if buy is None or sell is None:
            return -math.inf  # stale at any time
        return buy.ts if buy.ts < sell.ts else sell.ts

    def _push_expiry(self, ts: float, route: Route, ep: Episode) -> None:
        self._expiry_seq += 1
        heappush(self._expiry, (ts, self._expiry_seq, route, ep))

    def _rebuild_expiry(self) -> None:
        entries = []
        for route, ep in self.episodes.items():
            self._expiry_seq += 1
            entries.append((self._oldest_book_ts(route), self._expiry_seq, route, ep))
        heapify(entries)
        self._expiry = entries
        self._expiry_exact = True

    def close(self, t: float | None = None) -> None:
        """End the run: close open episodes (reason ``end``), write funnel and feed stats, tell listeners."""
        if self.closed:
            return
        self.closed = True
        when = t if t is not None else (self.clock if self.clock is not None else time.time())
        for route in list(self.episodes):
            self._close_episode(route, when, "end", None)
        self.write_stats()
        for listener in self.listeners:
            if hasattr(listener, "on_close"):
                self._call(listener, "on_close", when)

    def write_stats(self, max_rows: int | None = None) -> bool:
        """Queue the funnel counts and feed statistics that changed since the last call into the store (no-op without one).

        With ``max_rows``, stop after the books whose rows reach about that many and return True
        while changed rows remain, so a caller on the event loop can write in slices.
        """
        if self.store is None:
            return False
        # Rows that did not change are already stored with these very counts; rewriting every route
        # made the cost of a stats write grow with the number of symbols (the 1,000-symbol profile).
        # Every event on a book touches its feed and every route through it, both directions.
        pending = self._touched
        funnels: dict[Route, RouteFunnel] = {}
        keys: list[tuple[str, str]] = []
        for key in pending:
            for (out, out_funnel), (back, back_funnel) in self._routes_via.get(key, {}).values():
                funnels[out] = out_funnel
                funnels[back] = back_funnel
            keys.append(key)
            if max_rows is not None and len(funnels) + len(keys) >= max_rows:
                break
        if len(keys) == len(pending):
            self._touched = {}
        else:
            for key in keys:
                del pending[key]
        if funnels:
            self.store.record_funnel(funnels.values(), now=self.clock)
        if keys:
            self.store.record_venue_stats([self.feeds[key] for key in keys])
        return bool(self._touched)

    # -- views -----------------------------------------------------------------------------

    def book_ages(self, t: float) -> list[tuple[str, str, float]]:
        """(exchange, symbol, age in ms at ``t``) of every book held, for the status view."""
        return [(ex, sym, (t - b.ts) * 1000.0) for (ex, sym), b in sorted(self.books.items())]

    # -- internals -------------------------------------------------------------------------

    def _evaluate_route(
        self, route: Route, funnel: RouteFunnel, t: float, buy: BookSnapshot, sell: BookSnapshot
    ) -> Opportunity | None:
        max_age = self._max_age
        if t - buy.ts > max_age or t - sell.ts > max_age:
            funnel.stale += 1
            if route in self.episodes:  # step 1 has closed it already unless t went backwards
                self._close_episode(route, t, "stale", None)
            return None
        funnel.evaluated += 1
        if buy.asks and sell.bids:
            bid = sell.bids[0][0]
            ask = buy.asks[0][0]
            if bid <= ask:
                # Most evaluations end here. With fees >= 0, evaluate() would return None and
                # diagnose() "not_crossed": count it without calling them (the profile's hot spot).
                funnel.not_crossed += 1
                if route in self.episodes:
                    self._close_episode(route, t, "uncrossed", "not_crossed")
                return None
            funnel.crossed_before_fees += 1
            gross = _BPS * (bid - ask) / ask
            if funnel.max_gross_bps is None or gross > funnel.max_gross_bps:
                funnel.max_gross_bps = gross
        symbol, buy_ex, sell_ex = route
        buy_market = self.markets[(buy_ex, symbol)]
        sell_market = self.markets[(sell_ex, symbol)]
        quote_available = self.balances.get(buy_ex, {}).get(buy_market.quote)
        base_available = self.balances.get(sell_ex, {}).get(sell_market.base)
        # Most crossed routes are eaten by fees: the O(1) top-of-book reason spares evaluate + diagnose.
        reason = spread.top_of_book_reason(buy, sell, buy_market, sell_market)
        opp = None
        if reason is None:
            opp = spread.evaluate(buy, sell, buy_market, sell_market, quote_available, base_available)
        if opp is None:
            if reason is None:
                reason = spread.diagnose(buy, sell, buy_market, sell_market, quote_available, base_available)
            if reason is None or not hasattr(funnel, reason):  # cannot happen with a consistent spread module
                reason = "depth_or_minimums"
            setattr(funnel, reason, getattr(funnel, reason) + 1)
            if route in self.episodes:
                self._close_episode(route, t, "uncrossed", reason)
            return None
        if opp.net_bps < self.min_net_bps:
            funnel.below_min_bps += 1
            if route in self.episodes:
                self._close_episode(route, t, "uncrossed", "below_min_bps")
            return None
        funnel.live += 1
        self.live_evaluations += 1
        ep = self.episodes.get(route)
        if ep is None:
            ep = self.episodes[route] = Episode(symbol, buy_ex, sell_ex, t, t, opp, t)
            self._push_expiry(buy.ts if buy.ts < sell.ts else sell.ts, route, ep)
            funnel.episodes += 1
        else:
            ep.observe(opp, t)
        for listener in self.listeners:
            self._call(listener, "on_opportunity", opp, t)
        return opp

    def _close_episode(self, route: Route, t: float, reason: str, detail: str | None) -> None:
        ep = self.episodes.pop(route)
        ep.closed_at = t
        ep.close_reason = reason
        ep.close_detail = detail
        self.episodes_closed += 1
        if self.store is not None:
            self.store.record_episode(ep)
        logger.debug(
            "episode %s buy %s sell %s closed (%s): %d observations, peak %s bps",
            ep.symbol, ep.buy_exchange, ep.sell_exchange, reason, ep.observations, ep.peak.net_bps,
        )

    @staticmethod
    def _call(listener: Any, method: str, *args: Any) -> None:
        try:
            getattr(listener, method)(*args)
        except Exception:  # a listener's bug must not stop the scan; it is logged with its traceback
            logger.exception("listener %s.%s failed", type(listener).__name__, method)


# -- live --------------------------------------------------------------------------------------


@dataclass(slots=True)
class VenueState:
    """What the live driver knows about one venue, for the status view."""

    name: str
    reachable: bool | None = None  # None: not tried yet
    last_error: str | None = None
    failures: int = 0
    markets: int = 0
    next_retry: float | None = None  # monotonic time of the next attempt


@dataclass
class LiveDriver:
    """Drives a :class:`Scanner` from live adapters until ``stop`` is set.

    Per venue: load markets, then consume ``watch_books``; any failure (network down, venue error,
    stream ended) is reported once per failure in one line and retried with exponential backoff,
    never crashing the other venues. Step 1 of the scanner runs on a timer on the event clock
    (the last event time plus the local time elapsed since). ``AuthError`` and ``BadInput`` stop
    only that venue.
    """

    scanner: Scanner
    adapters: Mapping[str, Any]
    symbols: tuple[str, ...]
    depth: int = 10
    fee_overrides: Mapping[str, Decimal] = field(default_factory=dict)
    expire_interval: float = 0.25
    stats_interval: float = 5.0
    initial_backoff: float = 1.0
    max_backoff: float = 30.0
    on_unreachable: Callable[[str, str, float], None] | None = None  # (venue, message, retry_in_s)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    venues: dict[str, VenueState] = field(default_factory=dict)
    _last_event_mono: float | None = None

    def now(self) -> float:
        """The scanner's event clock advanced by the local time elapsed since the last event."""
        if self.scanner.clock is None or self._last_event_mono is None:
            return time.time()
        return self.scanner.clock + (time.monotonic() - self._last_event_mono)

    async def run(self) -> None:
        """Run every venue and the timers until ``stop`` is set; then close the scanner."""
        tasks = [asyncio.create_task(self._venue(name, a), name=f"venue-{name}") for name, a in self.adapters.items()]
        tasks.append(asyncio.create_task(self._timers(), name="scanner-timers"))
        try:
            await self.stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.gather(*(self._close_adapter(n, a) for n, a in self.adapters.items()))
            self.scanner.close(self.now() if self.scanner.clock is not None else None)

    async def _close_adapter(self, name: str, adapter: Any) -> None:
        try:
            await asyncio.wait_for(adapter.close(), timeout=2.0)
        except Exception as exc:  # noqa: BLE001 - closing is best effort
            logger.debug("closing %s: %s", name, exc)

    async def _timers(self) -> None:
        last_stats = time.monotonic()
        while True:
            await asyncio.sleep(self.expire_interval)
            if self.scanner.episodes:
                self.scanner.expire(self.now())
            if time.monotonic() - last_stats >= self.stats_interval:
                last_stats = time.monotonic()
                await self.write_stats()

    async def write_stats(self) -> None:
        """Journal the changed funnel and feed rows in slices, yielding to the event loop between them.

        One call for thousands of routes held the loop for milliseconds (the journal benchmark).
        """
        while self.scanner.write_stats(max_rows=_STATS_SLICE_ROWS):
            await asyncio.sleep(0)

    async def _sleep_or_stop(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            pass

    async def _venue(self, name: str, adapter: Any) -> None:
        state = self.venues.setdefault(name, VenueState(name))
        backoff = self.initial_backoff
        loaded = False
        while not self.stop.is_set():
            try:
                if not loaded:
                    markets = await adapter.load_markets()
                    wanted = [s for s in self.symbols if s in markets]
                    missing = [s for s in self.symbols if s not in markets]
                    if missing:
                        logger.warning("%s does not list %s; not scanned there", name, ", ".join(missing))
                    for sym in wanted:
                        market = markets[sym]
                        fee = self.fee_overrides.get(name)
                        if fee is not None:
                            from dataclasses import replace

                            market = replace(market, taker_fee=fee)
                        self.scanner.add_market(market)
                    state.markets = len(wanted)
                    loaded = True
                    if not wanted:
                        logger.warning("%s: none of the scanned symbols is listed; venue idle", name)
                        return
                    symbols = wanted
                async for book in adapter.watch_books(symbols):
                    if not state.reachable:
                        if state.failures:
                            logger.warning("%s reachable again", name)
                        state.reachable = True
                        state.last_error = None
                    backoff = self.initial_backoff
                    try:
                        self.scanner.on_book_event(book)
                    except Exception:  # a book the core cannot handle is skipped, never the whole feed
                        logger.exception("%s: book skipped", name)
                    self._last_event_mono = time.monotonic()
                    if self.stop.is_set():
                        return
                raise ConnectionError("book stream ended")
            except asyncio.CancelledError:
                raise
            except (AuthError, BadInput) as exc:
                state.reachable = False
                state.last_error = str(exc)
                logger.error("%s stopped: %s", name, exc)
                return
            except (UnexpectedPayload, BookIntegrityError) as exc:  # the venue is up; its stream needs a restart
                logger.warning("%s: %s; resubscribing", name, exc)
                await self._sleep_or_stop(min(backoff, 1.0))
                backoff = min(backoff * 2, self.max_backoff)
            except Exception as exc:  # noqa: BLE001 - every other failure is retried with backoff
                state.reachable = False
                state.failures += 1
                kind = next(c.__name__ for c in type(exc).__mro__ if not c.__name__.startswith("_"))  # public class
                message = f"{kind}: {exc}" if str(exc) else kind
                state.last_error = message
                state.next_retry = time.monotonic() + backoff
                if self.on_unreachable is not None:
                    self.on_unreachable(name, message, backoff)
                else:
                    logger.warning("%s unreachable (%s); retrying in %.0f s", name, message, backoff)
                await self._sleep_or_stop(backoff)
                backoff = min(backoff * 2, self.max_backoff)
