"""The scanner's records, each one a journal row: episodes, route funnels and feed statistics."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from arbscan.model import Opportunity, Route
from arbscan.funding.transfers import UNKNOWN, TransferFigures

__all__ = ["Episode", "RouteFunnel", "FeedStats", "CLOSE_REASONS"]

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


@dataclass(slots=True)
class Episode:
    """One stretch of consecutive live evaluations of one route, with its figures at the peak net profit.

    ``transfer`` holds, at the peak, whether the inventory can move back and at what cost
    (``arbscan.funding.transfers``); None when no funding facts were known (shown as ``unknown``).
    """

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
    transfer: TransferFigures | None = None

    @property
    def route(self) -> Route:
        """(symbol, buy_exchange, sell_exchange)."""
        return (self.symbol, self.buy_exchange, self.sell_exchange)

    def close(self, t: float, reason: str, detail: str | None, store: Any) -> None:
        """End the episode at ``t`` for ``reason`` (and ``detail``) and queue its row in ``store`` (None: no journal)."""
        self.closed_at = t
        self.close_reason = reason
        self.close_detail = detail
        if store is not None:
            store.record_episode(self)

    def observe(self, opp: Opportunity, t: float, transfer: TransferFigures | None = None) -> None:
        """Count one more live evaluation; keep the figures of the most profitable one."""
        self.observations += 1
        self.last_seen = t
        if opp.net_profit > self.peak.net_profit:
            self.peak = opp
            self.peak_ts = t
            self.transfer = transfer

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
        tr = self.transfer
        row["transfer"] = UNKNOWN if tr is None else tr.status
        row["transfer_detail"] = "no transfer facts known" if tr is None else (tr.detail or None)
        row["base_network"] = None if tr is None else tr.base_network
        row["quote_network"] = None if tr is None else tr.quote_network
        row["transfer_cost"] = None if tr is None else tr.transfer_cost
        row["net_after_transfer"] = None if tr is None else tr.net_after_transfer
        return row


@dataclass(slots=True)
class RouteFunnel:
    """Counts for one route: why it was or was not live.

    ``evaluated`` counts calls of ``spread.evaluate`` (both books fresh); each ends in exactly one of
    ``live``, ``not_crossed``, ``fees``, ``depth_or_minimums``, ``balance``, ``transfer_blocked`` (profitable,
    but the inventory cannot move back; counted only with ``scanner.require_transferable``) or ``below_min_bps``.
    ``stale`` counts events that touched the route while one of its books was stale, ``untrue_book``
    those while one of its books was untrue (``arbscan.booksanity``); neither is evaluated.
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
    transfer_blocked: int = 0
    untrue_book: int = 0
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
            "untrue_book": self.untrue_book,
            "max_gross_bps": self.max_gross_bps,
            "transfer_blocked": self.transfer_blocked,
        }


@dataclass(slots=True)
class FeedStats:
    """Book events of one (venue, symbol), the gaps between them, and how many were refused as untrue.

    ``events`` counts every book event, true or not; ``rejected`` those the book gate refused; ``off_step``
    the lines used as published though a level is off the market's step (``arbscan.booksanity``).
    """

    exchange: str
    symbol: str
    max_book_age_ms: int
    events: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    max_gap_ms: float = 0.0
    gaps_over_max_age: int = 0
    rejected: int = 0
    off_step: int = 0

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
            "rejected": self.rejected,
            "off_step": self.off_step,
        }
