"""Step 1 of the scanner made cheap: which open episodes may have a stale book, without visiting them all."""

from __future__ import annotations

import math
from heapq import heapify, heappop, heappush

from arbscan.model import BookSnapshot, Route
from arbscan.scan.records import Episode

__all__ = ["Expiry"]


class Expiry:
    """Step 1 made cheap: tells whether some open episode may have a stale book without visiting them all.

    A heap of (ts, seq, route, episode) holds, for every open episode, an entry whose ts is at most the
    ts of its older book. A book whose ts goes backwards breaks that bound: ``exact`` is then False and
    the scanner checks every episode once, then rebuilds the heap.
    """

    __slots__ = ("max_age", "episodes", "books", "heap", "seq", "exact")

    def __init__(self, max_age: float, episodes: dict[Route, Episode], books: dict[tuple[str, str], BookSnapshot]) -> None:
        self.max_age = max_age
        self.episodes = episodes
        self.books = books
        self.heap: list[tuple[float, int, Route, Episode]] = []
        self.seq = 0
        self.exact = True

    def any_stale(self, t: float) -> bool:
        """Whether some open episode may have a stale book at ``t``; cost grows with stale-looking entries only."""
        heap, max_age, episodes = self.heap, self.max_age, self.episodes
        while heap and t - heap[0][0] > max_age:
            _, _, route, ep = heappop(heap)
            if episodes.get(route) is not ep:
                continue  # that episode has closed
            oldest = self.oldest_book_ts(route)
            if t - oldest > max_age:
                return True
            self.push(oldest, route, ep)
        return False

    def oldest_book_ts(self, route: Route) -> float:
        """The ts of the older of the route's two books (-inf when one is missing: stale at any time)."""
        symbol, buy_ex, sell_ex = route
        buy = self.books.get((buy_ex, symbol))
        sell = self.books.get((sell_ex, symbol))
        if buy is None or sell is None:
            return -math.inf
        return buy.ts if buy.ts < sell.ts else sell.ts

    def push(self, ts: float, route: Route, ep: Episode) -> None:
        """Watch a newly opened episode whose older book has time ``ts``."""
        self.seq += 1
        heappush(self.heap, (ts, self.seq, route, ep))

    def rebuild(self) -> None:
        """One exact entry per open episode again."""
        entries = []
        for route, ep in self.episodes.items():
            self.seq += 1
            entries.append((self.oldest_book_ts(route), self.seq, route, ep))
        heapify(entries)
        self.heap = entries
        self.exact = True
