"""The executor's side of ``--workers N``: the shards' messages merged into one stream, in the file's order.

:class:`LineMerge` holds what each shard has sent and hands messages out by line number, never past a
line some shard may still send something before (a shard's messages come in line order, and its
latest watermark says how far it has got). :class:`ExecutorFeed` plays the merged messages to the
executors exactly as one process's scanner would call them, so a replay's trades are the same for
every number of shards:

* a route's event book (and a book update) goes to ``on_book``: trades due by then settle first, on
  the executors' copies of the books, and the copy is replaced;
* a route's other books replace the executors' copies only when they are a different version (the
  line of the update they were built from): a copy from which a paper fill took liquidity stays as
  it is until that book's next update, as in one process; an other book sent before comes as its
  key and version only (a route whose executors do not hold that version is not traded: its message
  was lost);
* the routes go to ``on_opportunity`` in the shard's order; a watermark goes to ``on_tick`` (trades
  due by then settle); the end of the stream to ``on_close``;
* an episode event goes to the episode listeners (an alert hub) after the executors settled what one
  process's executors had settled at that moment, so alerts come in one process's order.

:class:`ShardTotals` adds up the shards' reports for the summary and the status view.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from typing import Any

from arbscan.model import BookSnapshot, Market

__all__ = ["LineMerge", "ExecutorFeed", "ShardTotals"]

logger = logging.getLogger(__name__)


class LineMerge:
    """A k-way merge of the shards' message streams by line number (the second item of every message)."""

    def __init__(self, shards: int) -> None:
        self.queues: list[deque[tuple[Any, ...]]] = [deque() for _ in range(shards)]
        self.known = [0.0] * shards  # every message up to this line has been received from the shard

    def add(self, shard: int, messages: Sequence[tuple[Any, ...]]) -> None:
        """Messages from ``shard``, in its line order; the last one's line is how far it has got."""
        if messages:
            self.queues[shard].extend(messages)
            self.known[shard] = max(self.known[shard], messages[-1][1])

    def finish(self, shard: int) -> None:
        """``shard`` will send nothing more."""
        self.known[shard] = math.inf

    def backlog(self, shard: int) -> int:
        """Messages of ``shard`` not handed out yet."""
        return len(self.queues[shard])

    def ready(self) -> Iterator[tuple[Any, ...]]:
        """The messages no shard can precede any more, in line order."""
        queues, known = self.queues, self.known
        while True:
            best = -1
            best_line = math.inf
            for k, q in enumerate(queues):
                if q and q[0][1] < best_line:
                    best, best_line = k, q[0][1]
            if best < 0:
                return
            for k, line in enumerate(known):
                if k != best and line < best_line:
                    return  # shard k may still send something before this line
            yield queues[best].popleft()


class ExecutorFeed:
    """Plays the merged messages to the executors (module docstring); ``markets`` is theirs, filled here."""

    def __init__(self, executors: Sequence[Any], markets: dict[tuple[str, str], Market], funding: Any = None,
                 episode_listeners: Sequence[Any] = ()) -> None:
        self.executors = list(executors)
        self.markets = markets
        self.funding = funding  # the executors' FundingBook: a replay's currency lines land here
        self.episode_listeners = list(episode_listeners)  # an alert hub: the shards' episodes
        self.versions: dict[tuple[str, str], int] = {}  # version of the executors' copy of each book
        self.last_t: float | None = None
        self.routes = 0
        self.unheld = 0  # routes not traded: their other book's message was lost

    def apply(self, msg: tuple[Any, ...]) -> None:
        """Handle one message (``m``, ``r``, ``b``, ``w``, ``a`` or ``c``; see ``arbscan.parallel.shard``)."""
        kind = msg[0]
        if kind == "w":
            t = msg[2]
            if t is not None:
                self.last_t = t
                for ex in self.executors:
                    ex.on_tick(t)
        elif kind == "b":
            _, line, t, book = msg
            self._book(book, line, t)
        elif kind == "r":
            _, line, t, book, others, opps = msg
            self._book(book, line, t)
            held = True
            for other, version in others:
                if type(other) is tuple:  # a book the shard sent before: the executors hold that version
                    held = held and self.versions.get(other) == version
                elif self.versions.get((other.exchange, other.symbol)) != version:
                    self._book(other, version, t)
            self.routes += len(opps)
            if not held:  # a message with that book was lost (a scan shard drops while NATS is away)
                self.unheld += len(opps)
                if self.unheld == len(opps):
                    logger.warning("executor: a route's other book was never received (messages lost while NATS was "
                                   "away); such routes are not traded")
                return
            for opp in opps:
                for ex in self.executors:
                    ex.on_opportunity(opp, t)
        elif kind == "m":
            market = msg[2]
            self.markets[(market.exchange, market.symbol)] = market
        elif kind == "a":
            _, _, event, episode, t, settled = msg
            if settled is not None:  # what one process's executors had settled when the scanner told of it
                for ex in self.executors:
                    ex.on_tick(settled)
            for listener in self.episode_listeners:
                try:
                    getattr(listener, event)(episode, t)
                except Exception:  # noqa: BLE001 - as the scanner does: a listener's bug must not stop the run
                    logger.exception("episode listener %s.%s failed", type(listener).__name__, event)
        elif kind == "c" and self.funding is not None:
            self.funding.set(msg[2])

    def _book(self, book: BookSnapshot, version: int, t: float) -> None:
        self.versions[(book.exchange, book.symbol)] = version
        self.last_t = t if self.last_t is None or t > self.last_t else self.last_t
        for ex in self.executors:
            ex.on_book(book, t)

    def close(self, t: float | None) -> None:
        """The stream ended at ``t`` (default: the last time seen): trades due settle, those still waiting end."""
        when = t if t is not None else self.last_t
        if when is None:
            return
        for ex in self.executors:
            ex.on_close(when)


class ShardTotals:
    """The shards' figures added up, read like a scanner by the summary (``print_funnel``, ``print_feeds``)."""

    def __init__(self) -> None:
        self.markets: dict[tuple[str, str], Market] = {}
        self.funnels: dict[Any, Any] = {}
        self.feeds: dict[Any, Any] = {}
        self.episodes: dict[Any, Any] = {}  # open episodes (scan: as last reported)
        self.books: dict[tuple[str, str], Any] = {}  # (exchange, symbol) -> the latest book's time, as ``.ts`` (scan)
        self.events = 0
        self.live_evaluations = 0
        self.episodes_closed = 0
        self.skipped: list[Counter[str]] = []
        self.require_transferable = False  # the run's setting: the summary's funnel shows transfer_blocked then
        self.refused = 0  # book lines the book gate refused
        self.reports: list[Any] = []  # the shards' final reports, as they came
        self.writer: Any = None  # the journal writer's final report (replay)

    def add(self, report: Any) -> None:
        """Add one shard's final report."""
        self.reports.append(report)
        self.markets.update(report.markets)
        self.funnels.update(report.funnels)
        self.feeds.update(report.feeds)
        self.events += report.events
        self.live_evaluations += report.live_evaluations
        self.episodes_closed += report.episodes_closed
        self.refused += report.refused
        for i, counter in enumerate(report.skipped):
            while len(self.skipped) <= i:
                self.skipped.append(Counter())
            self.skipped[i].update(counter)

    def book_ages(self, t: float) -> list[tuple[str, str, float]]:
        """(exchange, symbol, age in ms at ``t``) of every book reported, for the status view."""
        return [(ex, sym, (t - b.ts) * 1000.0) for (ex, sym), b in sorted(self.books.items())]
