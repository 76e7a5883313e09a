"""The scanner's open episodes: how one opens, gains observations, closes, and goes stale (step 1).

An episode is a stretch of consecutive live evaluations of one route (ARCHITECTURE.md, "Scanner
semantics"). :class:`OpenEpisodes` holds the open ones, hands every closed one to the journal and
tells the episode listeners (opened, a new peak, closed); :class:`arbscan.scan.expiry.Expiry` keeps step 1
cheap.
"""

from __future__ import annotations

import logging
from typing import Any

from arbscan.scan.expiry import Expiry
from arbscan.model import BookSnapshot, Opportunity, Route
from arbscan.scan.records import Episode

__all__ = ["OpenEpisodes", "call_listener"]

logger = logging.getLogger("arbscan.scan.scanner")


def call_listener(listener: Any, method: str, *args: Any) -> None:
    """Call ``listener.method(*args)``; a listener's bug is logged with its traceback and never stops the scan."""
    try:
        getattr(listener, method)(*args)
    except Exception:
        logger.exception("listener %s.%s failed", type(listener).__name__, method)


class OpenEpisodes:
    """The open episodes by route (``open``, a dict shared with the scanner), and what closes them.

    ``store`` (or None) receives every closed episode; ``listeners`` hear opened / peak / closed.
    """

    __slots__ = ("_expiry", "books", "closed", "listeners", "max_age", "open", "store")

    def __init__(self, max_age: float, books: dict[tuple[str, str], BookSnapshot], store: Any = None) -> None:
        self.open: dict[Route, Episode] = {}
        self.books = books
        self.max_age = max_age
        self.store = store
        self.listeners: list[Any] = []
        self.closed = 0  # episodes closed so far
        self._expiry = Expiry(max_age, self.open, books)

    def start(self, route: Route, opp: Opportunity, t: float, oldest_book_ts: float, transfer: Any) -> Episode:
        """Open the route's episode at a live evaluation at ``t``."""
        symbol, buy_ex, sell_ex = route
        ep = self.open[route] = Episode(symbol, buy_ex, sell_ex, t, t, opp, t, transfer=transfer)
        self._expiry.push(oldest_book_ts, route, ep)
        for listener in self.listeners:
            call_listener(listener, "episode_opened", ep, t)
        return ep

    def observe(self, ep: Episode, opp: Opportunity, t: float, transfer: Any) -> None:
        """One more live evaluation of an open episode; listeners hear of a new peak."""
        ep.observe(opp, t, transfer)
        if self.listeners and ep.peak is opp:
            for listener in self.listeners:
                call_listener(listener, "episode_peak", ep, t)

    def book_went_back(self) -> None:
        """A book's ts went backwards: step 1 checks every episode once at its next run."""
        self._expiry.exact = False

    def expire(self, t: float) -> int:
        """Close (``stale``) every open episode one of whose books is older than ``max_age`` at ``t``."""
        expiry = self._expiry
        if expiry.exact and not expiry.any_stale(t):
            return 0
        max_age = self.max_age
        closed = 0
        for route in list(self.open):
            if t - expiry.oldest_book_ts(route) > max_age:
                self.close(route, t, "stale", None)
                closed += 1
        expiry.rebuild()
        return closed

    def close(self, route: Route, t: float, reason: str, detail: str | None) -> None:
        """Close the route's open episode at ``t`` for ``reason`` (and ``detail``), journal it, tell listeners."""
        ep = self.open.pop(route)
        ep.close(t, reason, detail, self.store)
        self.closed += 1
        for listener in self.listeners:
            call_listener(listener, "episode_closed", ep, t)
        logger.debug(
            "episode %s buy %s sell %s closed (%s): %d observations, peak %s bps",
            ep.symbol, ep.buy_exchange, ep.sell_exchange, reason, ep.observations, ep.peak.net_bps,
        )
