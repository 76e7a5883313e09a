"""What the parent of ``scan --workers N`` knows of its shards: their status reports, added up, and their journaled figures.

Each live shard reports a :class:`ShardStatus` every second. :class:`WorkersView` adds them up into
what ``arbscan.scan.view.StatusView`` shows (venues, books and their ages, counts), as one process's
feed driver would; :func:`journaled_figures` reads back what a dead shard journaled, for its successor.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from pathlib import Path

from arbscan.parallel.executor_feed import ShardTotals
from arbscan.scan.feeds import VenueState
from arbscan.scan.records import Episode, FeedStats, RouteFunnel

__all__ = ["ShardStatus", "WorkersView", "BookTime", "journaled_figures"]


@dataclass(slots=True)
class ShardStatus:
    """What a scan shard reports every ``status_s``."""

    venues: dict[str, tuple[bool | None, int, str | None, float | None]]  # name -> (reachable, failures, error, down since)
    books: dict[tuple[str, str], float]  # (exchange, symbol) -> ts of the latest book
    events: int
    live_evaluations: int
    episodes_closed: int
    open_episodes: list[Episode]
    clock: float | None  # the shard's event clock (venue time, advanced by local time since its last event)


_COUNTS = {f.name for f in fields(RouteFunnel)} - {"symbol", "buy_exchange", "sell_exchange", "max_gross_bps"}


def journaled_figures(db: str, run_id: int, symbols: Sequence[str], max_book_age_ms: int
                      ) -> tuple[tuple[RouteFunnel, ...], tuple[FeedStats, ...]]:
    """The route funnels and feed statistics of ``symbols`` the run has journaled so far."""
    wanted = set(symbols)
    conn = sqlite3.connect(Path(db).resolve().as_uri() + "?mode=ro", uri=True, timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        funnels = []
        for r in conn.execute("SELECT * FROM funnel WHERE run_id = ?", (run_id,)):
            if r["symbol"] in wanted:
                counts = {k: r[k] for k in r.keys() if k in _COUNTS}
                gross = r["max_gross_bps"]
                funnels.append(RouteFunnel(r["symbol"], r["buy_exchange"], r["sell_exchange"], **counts,
                                           max_gross_bps=None if gross is None else Decimal(gross)))
        feeds = [FeedStats(r["exchange"], r["symbol"], max_book_age_ms, r["events"], r["first_ts"], r["last_ts"],
                           r["max_gap_ms"], r["gaps_over_max_age"])
                 for r in conn.execute("SELECT * FROM venue_stats WHERE run_id = ?", (run_id,)) if r["symbol"] in wanted]
    finally:
        conn.close()
    return tuple(funnels), tuple(feeds)


@dataclass(frozen=True, slots=True)
class BookTime:
    """What the status view and the alert hub read of a shard's book: its time."""

    ts: float


class _LiveTotals(ShardTotals):
    """The shards' latest status added up, for the status view (``arbscan.scan.view.StatusView``)."""

    def __init__(self, statuses: dict[int, ShardStatus]) -> None:
        super().__init__()
        self.statuses = statuses

    def refresh(self) -> None:
        """Add up the latest status of every shard."""
        st = list(self.statuses.values())
        self.events = sum(s.events for s in st)
        self.live_evaluations = sum(s.live_evaluations for s in st)
        self.episodes_closed = sum(s.episodes_closed for s in st)
        self.episodes = {i: ep for i, ep in enumerate(ep for s in st for ep in s.open_episodes)}
        self.books = {k: BookTime(ts) for s in st for k, ts in s.books.items()}


class WorkersView:
    """What ``StatusView`` reads (venues, scanner, now), made of the shards' reports."""

    def __init__(self, statuses: dict[int, ShardStatus], count: int | None = None) -> None:
        self.statuses = statuses
        self.count = count  # the N of --workers N (None: as many as have reported)
        self.scanner = _LiveTotals(statuses)
        self.venues: dict[str, VenueState] = {}

    def refresh(self) -> None:
        """A venue is up when it is up in every shard that reached it, unreachable when one shard cannot reach it."""
        self.scanner.refresh()
        venues: dict[str, VenueState] = {}
        for status in self.statuses.values():
            for name, (reachable, failures, error, down_since) in status.venues.items():
                v = venues.setdefault(name, VenueState(name, reachable=reachable))
                if reachable is False or (reachable is None and v.reachable):
                    v.reachable = reachable
                v.failures += failures
                v.last_error = error or v.last_error
                if down_since is not None and (v.down_since is None or down_since < v.down_since):
                    v.down_since = down_since  # monotonic clocks agree across processes on one machine
        self.venues = venues

    def now(self) -> float:
        """The latest event clock any shard reported (wall time before any)."""
        clocks = [s.clock for s in self.statuses.values() if s.clock is not None]
        return max(clocks) if clocks else time.time()
