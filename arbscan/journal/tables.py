"""How the scanner's records become journal rows: one set of ``record_*`` methods for every journal.

:class:`ScannerTables` is mixed into ``arbscan.journal.store.Store`` (one process: rows to the writer thread)
and ``arbscan.parallel.remote_store.RemoteStore`` (``--workers N``: rows to the writer process). It decides
the tables, the primary keys of the rows that are updated in place, and the ``updated`` stamp of a
funnel row; the class it is mixed into only queues rows (``submit``, ``submit_many``, ``upsert_many``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from arbscan.funding.facts import funding_rows

__all__ = ["ScannerTables", "FUNNEL_KEY", "CROSS_FUNNEL_KEY", "VENUE_STATS_KEY"]

FUNNEL_KEY = ("run_id", "symbol", "buy_exchange", "sell_exchange")
"""Primary key of table ``funnel``: one row per run and route, updated in place."""

CROSS_FUNNEL_KEY = ("run_id", "symbol", "buy_exchange", "sell_symbol", "sell_exchange", "conversion")
"""Primary key of table ``cross_funnel``: one row per run and cross-quote route, updated in place."""

VENUE_STATS_KEY = ("run_id", "exchange", "symbol")
"""Primary key of table ``venue_stats``: one row per run and book, updated in place."""


class ScannerTables:
    """The scanner's writes (episodes, funnels, funding facts, feed statistics) over the journal's own
    ``submit``, ``submit_many`` and ``upsert_many``, which the class it is mixed into provides."""

    def record_episode(self, episode: Any) -> None:
        """Queue one closed episode (an ``arbscan.scan.records.Episode``) as a row of ``opportunities``."""
        self.submit("opportunities", episode.as_row())

    def record_funnel(self, funnels: Iterable[Any], now: float | None = None) -> None:
        """Queue the current counts of each route (``arbscan.scan.records.RouteFunnel``) into ``funnel``, stamped ``now``."""
        self.upsert_many("funnel", _stamped(funnels, now), pk=FUNNEL_KEY)

    def record_cross_funnel(self, funnels: Iterable[Any], now: float | None = None) -> None:
        """Queue the counts of each cross-quote route (``arbscan.scan.crossquote.CrossFunnel``) into ``cross_funnel``."""
        self.upsert_many("cross_funnel", _stamped(funnels, now), pk=CROSS_FUNNEL_KEY)

    def record_funding(self, facts: Any, ts: float | None, set_id: int) -> None:
        """Queue one set of funding facts (an ``arbscan.funding.facts.AssetFunding``) as rows of ``funding``."""
        self.submit_many("funding", funding_rows(facts, ts, set_id))

    def record_venue_stats(self, stats: Iterable[Any]) -> None:
        """Queue the feed statistics of each book (``arbscan.scan.records.FeedStats``) into ``venue_stats``."""
        self.upsert_many("venue_stats", [s.as_row() for s in stats], pk=VENUE_STATS_KEY)


def _stamped(funnels: Iterable[Any], now: float | None) -> list[dict[str, Any]]:
    """Each funnel's row with ``updated`` = ``now`` (default: the wall clock)."""
    updated = time.time() if now is None else now
    return [{**f.as_row(), "updated": updated} for f in funnels]
