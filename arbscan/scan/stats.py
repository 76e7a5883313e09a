"""What the scanner counts as it goes: every route's funnel and every book's feed statistics.

:class:`RouteStats` also indexes, per (venue, symbol), the routes through that book with their
funnels, so a book event walks its routes without building keys, and remembers which books had
events since the last write so only their rows are written again.
"""

from __future__ import annotations

from typing import Any

from arbscan.model import Route
from arbscan.scan.records import FeedStats, RouteFunnel

__all__ = ["RouteStats", "RoutePair"]

RoutePair = tuple[tuple[Route, RouteFunnel], tuple[Route, RouteFunnel]]
"""(route buying at a venue, its funnel), (route selling there, its funnel) for one other venue."""


class RouteStats:
    """Funnels by route, feed statistics by (exchange, symbol), and which of them changed since the last write."""

    __slots__ = ("funnels", "feeds", "via", "touched", "max_book_age_ms")

    def __init__(self, max_book_age_ms: int) -> None:
        self.funnels: dict[Route, RouteFunnel] = {}
        self.feeds: dict[tuple[str, str], FeedStats] = {}
        # per (exchange, symbol): other exchange -> the RoutePair between them
        self.via: dict[tuple[str, str], dict[str, RoutePair]] = {}
        # (exchange, symbol) of the book events since the last write: only their feed and the
        # funnels of their routes changed
        self.touched: dict[tuple[str, str], None] = {}
        self.max_book_age_ms = max_book_age_ms

    def feed(self, key: tuple[str, str], t: float) -> FeedStats:
        """Count one event of the book ``key`` at ``t`` and return its feed statistics."""
        feed = self.feeds.get(key)
        if feed is None:
            feed = self.feeds[key] = FeedStats(key[0], key[1], self.max_book_age_ms)
        feed.add(t)
        self.touched[key] = None
        return feed

    def pair(self, via: dict[str, RoutePair], symbol: str, here: str, other: str) -> RoutePair:
        """The two routes between ``here`` and ``other`` on ``symbol``, made on first use."""
        pair = via.get(other)
        if pair is None:
            pair = via[other] = (self.route(symbol, here, other), self.route(symbol, other, here))
        return pair

    def route(self, symbol: str, buy_ex: str, sell_ex: str) -> tuple[Route, RouteFunnel]:
        """The route and its funnel (a funnel already present, e.g. continued from a journal, is kept)."""
        route = (symbol, buy_ex, sell_ex)
        funnel = self.funnels.get(route)
        if funnel is None:
            funnel = self.funnels[route] = RouteFunnel(symbol, buy_ex, sell_ex)
        return route, funnel

    def write(self, store: Any, now: float | None, max_rows: int | None = None) -> bool:
        """Queue the funnel and feed rows that changed since the last call into ``store``.

        With ``max_rows``, stop after the books whose rows reach about that many and return True
        while changed rows remain, so a caller on the event loop can write in slices.
        """
        # Rows that did not change are already stored with these very counts. Every event on a book
        # touches its feed and every route through it, both directions.
        pending = self.touched
        funnels: dict[Route, RouteFunnel] = {}
        keys: list[tuple[str, str]] = []
        for key in pending:
            for (out, out_funnel), (back, back_funnel) in self.via.get(key, {}).values():
                funnels[out] = out_funnel
                funnels[back] = back_funnel
            keys.append(key)
            if max_rows is not None and len(funnels) + len(keys) >= max_rows:
                break
        if len(keys) == len(pending):
            self.touched = {}
        else:
            for key in keys:
                del pending[key]
        if funnels:
            store.record_funnel(funnels.values(), now=now)
        if keys:
            store.record_venue_stats([self.feeds[key] for key in keys])
        return bool(self.touched)
