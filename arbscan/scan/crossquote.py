"""Cross-quote routes in the scanner: buy BASE/Q1, sell BASE/Q2, convert Q2 into Q1 on a configured conversion book.

:class:`CrossQuoteRoutes` sits beside the scanner's same-symbol routes and never changes them: the
scanner hands it every book event (after its own three steps) and it keeps its own routes, funnels
(table ``cross_funnel``) and episodes (rows of ``opportunities`` whose conversion columns are set).
Its semantics are the scanner's, with a third book:

1. at every event, an open cross-quote episode one of whose three books is older than
   ``max_book_age_ms`` closes (``stale``; detail ``conversion_stale`` when it is the conversion's);
2. (the scanner applies the book);
3. every cross-quote route that includes the book, as its buy leg, its sell leg or its conversion, is
   evaluated by ``arbscan.crossspread.evaluate_cross`` when its two base books exist. A stale base book
   counts ``stale``; a missing or stale conversion book counts ``conversion_stale`` and nothing is
   evaluated: **parity is never assumed**. Otherwise the evaluation ends in exactly one of ``live``,
   ``no_edge`` (the first unit loses after three fees at the conversion's real price; ``parity_only``
   also counts those that a 1:1 rate would have called profitable), ``depth_or_minimums``,
   ``balance`` or ``below_min_bps``. Live evaluations open or extend the route's episode exactly as
   same-symbol ones do; listeners with ``on_cross_opportunity(opp, t)`` hear each of them.

A route is (buy symbol, buy venue, sell symbol, sell venue, conversion ``venue:symbol``). Routes form
from the markets loaded and the configured conversions (``arbscan.funding.conversions.cross_pairs``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from arbscan.crossspread import CrossOpportunity, diagnose_cross, evaluate_cross, first_unit
from arbscan.funding.conversions import Conversion, CrossPair, cross_pairs
from arbscan.model import Balances, BookSnapshot, Market
from arbscan.scan.episodes import call_listener
from arbscan.scan.records import Episode

__all__ = ["CrossQuoteRoutes", "CrossFunnel", "CrossEpisode", "CrossRoute"]

logger = logging.getLogger(__name__)

_ONE = Decimal(1)

CrossRoute = tuple[str, str, str, str, str]
"""(buy symbol, buy exchange, sell symbol, sell exchange, conversion ``venue:symbol``)."""


@dataclass(slots=True)
class CrossFunnel:
    """Counts for one cross-quote route (a row of ``cross_funnel``); see the module docstring for each."""

    symbol: str
    buy_exchange: str
    sell_symbol: str
    sell_exchange: str
    conversion: str
    evaluated: int = 0
    live: int = 0
    no_edge: int = 0
    parity_only: int = 0
    depth_or_minimums: int = 0
    balance: int = 0
    below_min_bps: int = 0
    stale: int = 0
    conversion_stale: int = 0
    untrue_book: int = 0
    episodes: int = 0
    max_edge_bps: Decimal | None = None  # best first-unit net bps seen at the three best levels

    def as_row(self) -> dict[str, Any]:
        """The counts as a row of table ``cross_funnel``."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(slots=True)
class CrossEpisode(Episode):
    """An episode of a cross-quote route: an ``Episode`` whose peak is a ``CrossOpportunity``.

    ``conversion_age_ms`` is the age of the conversion book at the peak's evaluation.
    """

    sell_symbol: str = ""
    conversion: str = ""
    conversion_age_ms: float | None = None

    @property
    def cross_route(self) -> CrossRoute:
        """The route's key."""
        return (self.symbol, self.buy_exchange, self.sell_symbol, self.sell_exchange, self.conversion)

    def observe_cross(self, opp: CrossOpportunity, t: float, age_ms: float) -> None:
        """One more live evaluation; the peak keeps its conversion book's age."""
        Episode.observe(self, opp, t)  # type: ignore[arg-type]
        if self.peak is opp:
            self.conversion_age_ms = age_ms

    def as_row(self) -> dict[str, Any]:
        """The episode as a row of ``opportunities``, its conversion columns filled."""
        row = Episode.as_row(self)
        peak: CrossOpportunity = self.peak  # type: ignore[assignment]
        row["sell_symbol"] = self.sell_symbol
        row["conversion"] = self.conversion
        row["conversion_side"] = peak.conversion_side
        row["conversion_amount"] = peak.conversion_amount
        row["conversion_rate"] = peak.conversion_rate
        row["conversion_fee"] = peak.conversion_fee
        row["unconverted"] = peak.unconverted
        row["conversion_age_ms"] = self.conversion_age_ms
        return row


class _Route:
    """One cross-quote route: its three books' keys, its markets' keys, its funnel."""

    __slots__ = ("key", "buy", "sell", "conv", "funnel")

    def __init__(self, pair: CrossPair) -> None:
        b, s, c = pair.buy, pair.sell, pair.conversion
        self.key: CrossRoute = (b.symbol, b.exchange, s.symbol, s.exchange, c.label)
        self.buy = (b.exchange, b.symbol)
        self.sell = (s.exchange, s.symbol)
        self.conv = (c.venue, c.symbol)
        self.funnel = CrossFunnel(b.symbol, b.exchange, s.symbol, s.exchange, c.label)


class CrossQuoteRoutes:
    """The scanner's cross-quote routes: funnels by route, open episodes by route, and what the store gets.

    ``markets``, ``books`` and ``balances`` are the scanner's own dicts (shared, not copied).
    """

    def __init__(self, conversions: Iterable[Conversion], markets: Mapping[tuple[str, str], Market],
                 books: Mapping[tuple[str, str], BookSnapshot], balances: Balances, *, max_age: float,
                 min_net_bps: Decimal, listeners: list[Any]) -> None:
        self.conversions = tuple(conversions)
        self.markets = markets
        self.books = books
        self.balances = balances
        self.max_age = max_age
        self.min_net_bps = min_net_bps
        self.listeners = listeners
        self.store: Any = None
        self.funnels: dict[CrossRoute, CrossFunnel] = {}
        self.episodes: dict[CrossRoute, CrossEpisode] = {}
        self.closed = 0
        self._routes: dict[CrossRoute, _Route] = {}
        self._by_book: dict[tuple[str, str], list[_Route]] = {}
        self._markets_seen = -1
        self._touched: dict[CrossRoute, None] = {}

    # -- routes ----------------------------------------------------------------------------

    def _index(self) -> None:
        """(Re)build the routes when the markets changed; funnels of known routes are kept."""
        if len(self.markets) == self._markets_seen:
            return
        self._markets_seen = len(self.markets)
        by_book: dict[tuple[str, str], list[_Route]] = {}
        for pair in cross_pairs(self.markets, self.conversions):
            route = _Route(pair)
            known = self._routes.get(route.key)
            if known is not None:
                route = known
            else:
                self._routes[route.key] = route
                self.funnels[route.key] = route.funnel
            for key in (route.buy, route.sell, route.conv):
                by_book.setdefault(key, []).append(route)
        self._by_book = by_book

    def routes(self) -> list[CrossRoute]:
        """Every cross-quote route the loaded markets and conversions form."""
        self._index()
        return list(self._routes)

    # -- events ----------------------------------------------------------------------------

    def on_book(self, book: BookSnapshot, t: float, untrue: Mapping[tuple[str, str], str]) -> list[CrossOpportunity]:
        """Step 3 for the cross-quote routes through ``book`` at ``t``; returns the live opportunities."""
        self._index()
        found = []
        for route in self._by_book.get((book.exchange, book.symbol), ()):
            opp = self._evaluate(route, t, untrue)
            if opp is not None:
                found.append(opp)
        return found

    def on_untrue(self, key: tuple[str, str], t: float) -> None:
        """A book refused as untrue: its cross-quote routes count ``untrue_book`` and their episodes end."""
        self._index()
        for route in self._by_book.get(key, ()):
            if route.buy in self.books and route.sell in self.books:
                route.funnel.untrue_book += 1
                self._touched[route.key] = None
                self._close_if_open(route.key, t, "uncrossed", "untrue_book")

    def expire(self, t: float) -> int:
        """Step 1: close every open cross-quote episode one of whose three books is older than ``max_book_age_ms``."""
        if not self.episodes:
            return 0
        closed = 0
        for key in list(self.episodes):
            route = self._routes[key]
            if self._stale(route.buy, t) or self._stale(route.sell, t):
                self._close(key, t, "stale", None)
                closed += 1
            elif self._stale(route.conv, t):
                self._close(key, t, "stale", "conversion_stale")
                closed += 1
        return closed

    def close(self, t: float) -> None:
        """End of the run: every open cross-quote episode closes (``end``)."""
        for key in list(self.episodes):
            self._close(key, t, "end", None)

    def summary_lines(self) -> list[str]:
        """The end-of-run lines: each cross-quote route's funnel, or why there is none."""
        routes = self.routes()
        if not routes:
            return ["cross-quote routes: none (no two markets of one base in two quotes that a conversion links)"]
        out = [f"cross-quote routes: {len(routes)}, {sum(f.live for f in self.funnels.values()):,} live evaluations "
               f"in {self.closed:,} episodes"]
        for key in sorted(routes):
            f = self.funnels[key]
            edge = "n/a" if f.max_edge_bps is None else f"{f.max_edge_bps:.2f}"
            out.append(f"  {f.symbol} {f.buy_exchange} -> {f.sell_symbol} {f.sell_exchange} via {f.conversion}: "
                       f"evaluated {f.evaluated}, live {f.live}, episodes {f.episodes}, no edge {f.no_edge} "
                       f"(parity only {f.parity_only}), depth/min {f.depth_or_minimums}, balance {f.balance}, "
                       f"below min {f.below_min_bps}, stale {f.stale}, conversion stale {f.conversion_stale}, "
                       f"untrue book {f.untrue_book}; best first-unit edge {edge} bps")
        return out

    def write(self, store: Any, now: float | None) -> None:
        """Queue the funnels that changed since the last call into ``store``."""
        if not self._touched or store is None or not hasattr(store, "record_cross_funnel"):
            return
        store.record_cross_funnel([self.funnels[k] for k in self._touched], now=now)
        self._touched = {}

    # -- internals -------------------------------------------------------------------------

    def _stale(self, key: tuple[str, str], t: float) -> bool:
        book = self.books.get(key)
        return book is None or t - book.ts > self.max_age

    def _evaluate(self, route: _Route, t: float, untrue: Mapping[tuple[str, str], str]) -> CrossOpportunity | None:
        books = self.books
        buy, sell = books.get(route.buy), books.get(route.sell)
        if buy is None or sell is None:
            return None  # a route exists once both of its base books have come
        funnel = route.funnel
        key = route.key
        self._touched[key] = None
        if untrue and (route.buy in untrue or route.sell in untrue or route.conv in untrue):
            funnel.untrue_book += 1
            self._close_if_open(key, t, "uncrossed", "untrue_book")
            return None
        if t - buy.ts > self.max_age or t - sell.ts > self.max_age:
            funnel.stale += 1
            self._close_if_open(key, t, "stale", None)
            return None
        conv = books.get(route.conv)
        if conv is None or t - conv.ts > self.max_age:
            funnel.conversion_stale += 1  # no fresh conversion book: no route, whatever parity would say
            self._close_if_open(key, t, "stale", "conversion_stale")
            return None
        funnel.evaluated += 1
        markets = self.markets
        bm, sm, cm = markets[route.buy], markets[route.sell], markets[route.conv]
        first = first_unit(buy, sell, conv, bm, sm, cm)
        if first is not None and (funnel.max_edge_bps is None or first[1] > funnel.max_edge_bps):
            funnel.max_edge_bps = first[1]
        if first is None or not first[0]:
            funnel.no_edge += 1
            if _parity_edge(buy, sell, bm, sm):
                funnel.parity_only += 1
            self._close_if_open(key, t, "uncrossed", "no_edge")
            return None
        quote_available = self.balances.get(bm.exchange, {}).get(bm.quote)
        base_available = self.balances.get(sm.exchange, {}).get(sm.base)
        opp = evaluate_cross(buy, sell, conv, bm, sm, cm, quote_available, base_available)
        if opp is None:
            reason = diagnose_cross(buy, sell, conv, bm, sm, cm, quote_available, base_available) or "depth_or_minimums"
            setattr(funnel, reason, getattr(funnel, reason) + 1)
            self._close_if_open(key, t, "uncrossed", reason)
            return None
        if opp.net_bps < self.min_net_bps:
            funnel.below_min_bps += 1
            self._close_if_open(key, t, "uncrossed", "below_min_bps")
            return None
        funnel.live += 1
        age_ms = (t - conv.ts) * 1000.0
        ep = self.episodes.get(key)
        if ep is None:
            self.episodes[key] = CrossEpisode(bm.symbol, bm.exchange, sm.exchange, t, t, opp, t,  # type: ignore[arg-type]
                                              sell_symbol=sm.symbol, conversion=key[4], conversion_age_ms=age_ms)
            funnel.episodes += 1
        else:
            ep.observe_cross(opp, t, age_ms)
        for listener in self.listeners:
            if hasattr(listener, "on_cross_opportunity"):
                call_listener(listener, "on_cross_opportunity", opp, t)
        return opp

    def _close_if_open(self, key: CrossRoute, t: float, reason: str, detail: str | None) -> None:
        if key in self.episodes:
            self._close(key, t, reason, detail)

    def _close(self, key: CrossRoute, t: float, reason: str, detail: str | None) -> None:
        self.episodes.pop(key).close(t, reason, detail, self.store)
        self.closed += 1


def _parity_edge(buy: BookSnapshot, sell: BookSnapshot, bm: Market, sm: Market) -> bool:
    """Whether treating Q2 as Q1 one for one would have called the first unit profitable (it is never acted on)."""
    if not buy.asks or not sell.bids:
        return False
    return sell.bids[0][0] * (_ONE - sm.taker_fee) > buy.asks[0][0] * (_ONE + bm.taker_fee)
