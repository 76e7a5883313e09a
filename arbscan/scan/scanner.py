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

Episode listeners (``episode_listeners``, e.g. the alert hub) hear of episodes only: opened, a new
peak net profit, closed; nothing is called for evaluations that do not change an episode.

When funding facts are known (``set_funding``; ``arbscan.funding.facts``), each profitable evaluation also
asks whether the route's inventory can move back (``arbscan.funding.transfers``): episodes record the answer
and ``net_after_transfer``; with ``require_transferable`` a blocked route is not live (funnel reason
``transfer_blocked``). With no facts known none of this runs.

A book the gate refused (``arbscan.booksanity``; an adapter or the replay calls
:meth:`Scanner.on_untrue_book`) makes every route through it count ``untrue_book`` instead of being
evaluated, and closes their episodes, until a true book of that venue comes.

With conversions configured (``[[conversions]]``), :class:`arbscan.scan.crossquote.CrossQuoteRoutes` also
prices routes across two quote currencies through a real conversion book, after the three steps above and
apart from them (their own funnel table, ``cross_funnel``); without conversions it does not exist.

Every route also keeps a funnel of counts (see :class:`RouteFunnel`) so users see why routes were
not live, and every book keeps feed statistics (:class:`FeedStats`). Replay drives the core
directly (``arbscan.replay.run``); ``arbscan.scan.feeds.LiveDriver`` drives it from live adapters and runs
step 1 on a timer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Protocol

from arbscan import spread
from arbscan.scan.episodes import OpenEpisodes, call_listener
from arbscan.errors import BadInput
from arbscan.funding.conversions import Conversion
from arbscan.funding.facts import AssetFunding, FundingBook
from arbscan.model import Balances, BookSnapshot, Market, Opportunity, Route
from arbscan.scan.crossquote import CrossQuoteRoutes
from arbscan.scan.records import CLOSE_REASONS, Episode, FeedStats, RouteFunnel
from arbscan.scan.stats import RoutePair, RouteStats
from arbscan.funding.transfers import BLOCKED, RouteTransfers, figures

__all__ = [
    "CLOSE_REASONS",
    "Episode",
    "EpisodeListener",
    "FeedStats",
    "Route",
    "RouteFunnel",
    "Scanner",
    "ScannerListener",
]

logger = logging.getLogger(__name__)

_BPS = Decimal(10000)


class ScannerListener(Protocol):
    """What the dry-run and live executors implement to see the scanner's events (``on_close`` optional)."""

    def on_book(self, book: BookSnapshot, t: float) -> None:
        """Called after every book event is applied, before its routes are evaluated."""

    def on_opportunity(self, opp: Opportunity, t: float) -> None:
        """Called for every live evaluation."""


class EpisodeListener(Protocol):
    """What the scanner tells of episodes (``Scanner.episode_listeners``): three rare moments, never per evaluation."""

    def episode_opened(self, episode: Episode, t: float) -> None:
        """An episode opened at ``t`` (its first live evaluation)."""

    def episode_peak(self, episode: Episode, t: float) -> None:
        """A later live evaluation at ``t`` raised the open episode's peak net profit."""

    def episode_closed(self, episode: Episode, t: float) -> None:
        """The episode closed at ``t`` (``close_reason`` set) and was handed to the store."""


class Scanner:
    """The synchronous scanner core; feed it books with :meth:`on_book_event`, end with :meth:`close`.

    ``markets`` maps (exchange, symbol) to ``Market``; books of markets not in it are ignored.
    ``store`` (an ``arbscan.journal.store.Store`` or None) receives closed episodes, funnel counts and feed
    statistics. ``balances`` (exchange -> asset -> Decimal, mutable, shared with executors) caps
    sizes: the buy venue's quote and the sell venue's base; a missing entry means no cap. ``funding``
    (shared with executors) holds the funding facts; ``rebalance_batch`` spreads the cost of moving
    the inventory back over that many trades. The open episodes live in :class:`OpenEpisodes`, the
    funnels and feed statistics in :class:`RouteStats`; ``episodes``, ``funnels`` and ``feeds`` are
    their dicts.
    """

    def __init__(
        self,
        markets: Mapping[tuple[str, str], Market],
        store: Any = None,
        *,
        min_net_bps: Decimal = Decimal(0),
        max_book_age_ms: int = 2000,
        balances: Balances | None = None,
        listeners: Iterable[Any] = (),
        funding: FundingBook | None = None,
        require_transferable: bool = False,
        rebalance_batch: int = 1,
        conversions: Iterable[Conversion] = (),
    ) -> None:
        if not isinstance(min_net_bps, Decimal):
            raise BadInput(f"min_net_bps must be a Decimal, got {type(min_net_bps).__name__}")
        if max_book_age_ms <= 0:
            raise BadInput(f"max_book_age_ms must be positive, got {max_book_age_ms}")
        if rebalance_batch < 1:
            raise BadInput(f"rebalance_batch must be at least 1, got {rebalance_batch}")
        self.markets: dict[tuple[str, str], Market] = dict(markets)
        self.min_net_bps = min_net_bps
        self.max_book_age_ms = max_book_age_ms
        self._max_age = max_book_age_ms / 1000.0
        self.balances: Balances = balances if balances is not None else {}
        self.listeners: list[Any] = list(listeners)
        self.funding = funding if funding is not None else FundingBook()
        self.require_transferable = require_transferable
        self.rebalance_batch = rebalance_batch
        self.transfers = RouteTransfers(self.funding, self.markets)  # verdicts per route; executors ask it too
        self.funding_sets = 0  # sets of funding facts journaled so far (their set_id)
        self.books: dict[tuple[str, str], BookSnapshot] = {}
        self._by_symbol: dict[str, dict[str, BookSnapshot]] = {}
        self._open = OpenEpisodes(self._max_age, self.books, store)
        self.episodes: dict[Route, Episode] = self._open.open
        self.episode_listeners: list[EpisodeListener] = self._open.listeners
        self.stats = RouteStats(max_book_age_ms)
        self.funnels: dict[Route, RouteFunnel] = self.stats.funnels
        self.feeds: dict[tuple[str, str], FeedStats] = self.stats.feeds
        self._routes_via: dict[tuple[str, str], dict[str, RoutePair]] = self.stats.via
        self.events = 0
        self.live_evaluations = 0
        self.clock: float | None = None  # latest event time seen
        self.closed = False
        self._unknown_markets: set[tuple[str, str]] = set()
        self.untrue: dict[tuple[str, str], str] = {}  # (exchange, symbol) -> why its latest update was refused
        conversions = tuple(conversions)
        # cross-quote routes (arbscan.scan.crossquote), only with [[conversions]]: the same-symbol path is untouched
        self.cross: CrossQuoteRoutes | None = CrossQuoteRoutes(
            conversions, self.markets, self.books, self.balances, max_age=self._max_age, min_net_bps=min_net_bps,
            listeners=self.listeners) if conversions else None
        if self.cross is not None:
            self.cross.store = store

    @property
    def store(self) -> Any:
        """Where closed episodes, funnels and feed statistics go (None: nowhere)."""
        return self._open.store

    @store.setter
    def store(self, store: Any) -> None:
        self._open.store = store
        if self.cross is not None:
            self.cross.store = store

    @property
    def episodes_closed(self) -> int:
        """Episodes closed so far."""
        return self._open.closed

    # -- inputs ----------------------------------------------------------------------------

    def add_market(self, market: Market) -> None:
        """Register (or replace) the market of one venue and symbol."""
        self.markets[(market.exchange, market.symbol)] = market

    def set_balance(self, exchange: str, asset: str, free: Decimal) -> None:
        """Set the free amount of ``asset`` on ``exchange`` (caps later evaluations)."""
        self.balances.setdefault(exchange, {})[asset] = free

    def set_funding(self, facts: AssetFunding, t: float | None = None) -> AssetFunding:
        """Replace the funding facts of one venue and asset (the config stays on top), journal them, tell listeners.

        Listeners that have ``on_funding(facts, t)`` get the facts as the scanner now holds them.
        """
        merged = self.funding.set(facts)
        when = t if t is not None else self.clock
        if self.store is not None:
            self.funding_sets += 1
            self.store.record_funding(merged, when, self.funding_sets)
        for listener in self.listeners:
            if hasattr(listener, "on_funding"):
                call_listener(listener, "on_funding", merged, when)
        return merged

    def on_book_event(self, book: BookSnapshot, t: float | None = None) -> list[Opportunity]:
        """Apply one book event at time ``t`` (default ``book.ts``); returns the live opportunities it made."""
        if t is None:
            t = book.ts
        key = (book.exchange, book.symbol)
        if key not in self.markets:
            self._unknown(key)
            return []
        if self.clock is None or t > self.clock:
            self.clock = t
        self.events += 1
        # 1. stale books end episodes, even on routes this event does not touch
        if self.episodes:
            self._open.expire(t)
        cross = self.cross
        if cross is not None:
            cross.expire(t)
        # 2. apply
        untrue = self.untrue
        if untrue:
            untrue.pop(key, None)  # a true book of this venue ends its untrue spell
        old = self.books.get(key)
        if old is not None and book.ts < old.ts:
            self._open.book_went_back()
        self.books[key] = book
        self._by_symbol.setdefault(book.symbol, {})[book.exchange] = book
        self.stats.feed(key, t)
        for listener in self.listeners:
            call_listener(listener, "on_book", book, t)
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
                pair = self.stats.pair(via, symbol, here, other)
            (out, out_funnel), (back, back_funnel) = pair
            if untrue and (other, symbol) in untrue:
                self._not_evaluated(out, out_funnel, back, back_funnel, t)
                continue
            opp = evaluate(out, out_funnel, t, book, other_book)
            if opp is not None:
                found.append(opp)
            opp = evaluate(back, back_funnel, t, other_book, book)
            if opp is not None:
                found.append(opp)
        if cross is not None:
            cross.on_book(book, t, untrue)  # its live opportunities go to on_cross_opportunity listeners only
        return found

    def on_untrue_book(self, exchange: str, symbol: str, t: float, reason: str) -> None:
        """A book update of ``exchange`` refused as untrue at time ``t`` (``reason`` from ``arbscan.booksanity``).

        Step 1 runs; the feed counts the update as rejected; until the venue's next true book, routes
        through it count ``untrue_book`` instead of being evaluated, and their open episodes close
        (``uncrossed``, detail ``untrue_book``). Listeners never see an untrue book.
        """
        key = (exchange, symbol)
        if key not in self.markets:
            self._unknown(key)
            return
        if self.clock is None or t > self.clock:
            self.clock = t
        self.events += 1
        if self.episodes:
            self._open.expire(t)
        if self.cross is not None:
            self.cross.expire(t)
            self.cross.on_untrue(key, t)
        self.untrue[key] = reason
        self.stats.feed(key, t).rejected += 1
        via = self._routes_via.setdefault(key, {})
        for other in self._by_symbol.get(symbol, {}) if key in self.books else ():  # no true book yet: no routes
            if other != exchange:
                (out, out_funnel), (back, back_funnel) = self.stats.pair(via, symbol, exchange, other)
                self._not_evaluated(out, out_funnel, back, back_funnel, t)

    def count_off_step(self, exchange: str, symbol: str) -> None:
        """One book line of (``exchange``, ``symbol``) with a level off its market's step, used as published."""
        key = (exchange, symbol)
        feed = self.stats.feeds.get(key)
        if feed is None:
            feed = self.stats.feeds[key] = FeedStats(exchange, symbol, self.stats.max_book_age_ms)
        feed.off_step += 1
        self.stats.touched[key] = None

    def expire(self, t: float) -> int:
        """Close every open episode one of whose books is older than ``max_book_age_ms`` at ``t``."""
        closed = self._open.expire(t)
        if self.cross is not None:
            closed += self.cross.expire(t)
        return closed

    def close(self, t: float | None = None) -> None:
        """End the run: close open episodes (reason ``end``), write funnel and feed stats, tell listeners."""
        if self.closed:
            return
        self.closed = True
        when = t if t is not None else (self.clock if self.clock is not None else time.time())
        for route in list(self.episodes):
            self._open.close(route, when, "end", None)
        if self.cross is not None:
            self.cross.close(when)
        self.write_stats()
        for listener in self.listeners:
            if hasattr(listener, "on_close"):
                call_listener(listener, "on_close", when)

    def write_stats(self, max_rows: int | None = None) -> bool:
        """Queue the funnel counts and feed statistics that changed since the last call into the store (no-op without one).

        With ``max_rows``, stop after the books whose rows reach about that many and return True
        while changed rows remain, so a caller on the event loop can write in slices.
        """
        if self.store is None:
            return False
        if self.cross is not None:
            self.cross.write(self.store, self.clock)
        return self.stats.write(self.store, self.clock, max_rows)

    # -- views -----------------------------------------------------------------------------

    def book_ages(self, t: float) -> list[tuple[str, str, float]]:
        """(exchange, symbol, age in ms at ``t``) of every book held, for the status view."""
        return [(ex, sym, (t - b.ts) * 1000.0) for (ex, sym), b in sorted(self.books.items())]

    # -- internals -------------------------------------------------------------------------

    def _evaluate_route(self, route: Route, funnel: RouteFunnel, t: float, buy: BookSnapshot, sell: BookSnapshot
                        ) -> Opportunity | None:
        """Step 3 for one route at ``t``: live or why not.

        Stale -> counted ``stale``; not crossed, eaten by fees, depth or minimums, balance -> counted by
        reason; blocked transfer with ``require_transferable``, below ``min_net_bps`` -> counted; else live.

        Counts the evaluation in the route's funnel; a live one opens or extends its episode and is
        handed to the scanner's listeners; one that is not live closes the open episode.
        """
        max_age = self._max_age
        if t - buy.ts > max_age or t - sell.ts > max_age:
            funnel.stale += 1
            if route in self.episodes:  # step 1 has closed it already unless t went backwards
                self._open.close(route, t, "stale", None)
            return None
        funnel.evaluated += 1
        if buy.asks and sell.bids:
            bid = sell.bids[0][0]
            ask = buy.asks[0][0]
            if bid <= ask:
                # With fees >= 0, evaluate() would return None and diagnose() "not_crossed":
                # count it without calling them.
                funnel.not_crossed += 1
                if route in self.episodes:
                    self._open.close(route, t, "uncrossed", "not_crossed")
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
                self._open.close(route, t, "uncrossed", reason)
            return None
        verdict = self.transfers.verdict(route) if self.funding else None
        if verdict is not None and verdict.status == BLOCKED and self.require_transferable:
            funnel.transfer_blocked += 1
            if route in self.episodes:
                self._open.close(route, t, "uncrossed", "transfer_blocked")
            return None
        if opp.net_bps < self.min_net_bps:
            funnel.below_min_bps += 1
            if route in self.episodes:
                self._open.close(route, t, "uncrossed", "below_min_bps")
            return None
        funnel.live += 1
        self.live_evaluations += 1
        transfer = None if verdict is None else figures(verdict, opp, self.rebalance_batch)
        ep = self.episodes.get(route)
        if ep is None:
            self._open.start(route, opp, t, min(sell.ts, buy.ts), transfer)
            funnel.episodes += 1
        else:
            self._open.observe(ep, opp, t, transfer)
        for listener in self.listeners:
            call_listener(listener, "on_opportunity", opp, t)
        return opp


    def _unknown(self, key: tuple[str, str]) -> None:
        if key not in self._unknown_markets:
            self._unknown_markets.add(key)
            logger.warning("book for %s %s ignored: no market loaded for it", *key)

    def _not_evaluated(self, out: Route, out_funnel: RouteFunnel, back: Route, back_funnel: RouteFunnel, t: float) -> None:
        """Both directions of a route through an untrue book: counted, not evaluated; open episodes end."""
        out_funnel.untrue_book += 1
        back_funnel.untrue_book += 1
        if out in self.episodes:
            self._open.close(out, t, "uncrossed", "untrue_book")
        if back in self.episodes:
            self._open.close(back, t, "uncrossed", "untrue_book")
