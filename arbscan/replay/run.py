"""Replay: a replay file through the scanner on the file's own clock, as fast as it can be read.

Book lines (snapshots and deltas) are rebuilt into immutable books by :class:`BookBuilder`;
:func:`run_replay` feeds them to the scanner. The file format is ``arbscan.replay.reader``'s.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from arbscan.booksanity import believable_levels, crossing_reason, line_gate, off_step_reason
from arbscan.model import BookSnapshot, Level, Market
from arbscan.replay.reader import (
    DEMO_FILE,
    BalanceEvent,
    BookEvent,
    CurrencyEvent,
    Event,
    MarketEvent,
    ReplayReader,
    demo_path,
    read_replay,
    replay_header,
)
from arbscan.replay.writer import ReplayWriter, write_replay
from arbscan.scan.scanner import Scanner

__all__ = [
    "MarketEvent",
    "BalanceEvent",
    "BookEvent",
    "CurrencyEvent",
    "ReplayReader",
    "read_replay",
    "replay_header",
    "BookBuilder",
    "iter_books",
    "ReplayWriter",
    "write_replay",
    "run_replay",
    "file_market",
    "ReplayResult",
    "demo_path",
    "DEMO_FILE",
]

logger = logging.getLogger(__name__)


def file_market(market: Market, fee_overrides: Mapping[str, Decimal] | None) -> Market:
    """A replay file's market line with its venue's configured ``taker_fee`` when one is set.

    The one place a replay's markets get the override (``run_replay`` and every replay shard call it);
    a venue's markets get theirs from its adapter (``build_adapter`` passes ``taker_fee`` on).
    """
    if fee_overrides and market.exchange in fee_overrides:
        return replace(market, taker_fee=fee_overrides[market.exchange])
    return market


# -- books from events -------------------------------------------------------------------------


class _Side:
    """One side of a mutable book: price -> amount plus the prices kept sorted ascending."""

    __slots__ = ("amounts", "prices", "descending")

    def __init__(self, descending: bool) -> None:
        self.amounts: dict[Decimal, Decimal] = {}
        self.prices: list[Decimal] = []
        self.descending = descending

    def clear(self) -> None:
        self.amounts.clear()
        self.prices.clear()

    def set_many(self, levels: Iterable[Level]) -> None:
        """Apply (price, amount) levels in order; amount 0 deletes."""
        amounts, prices = self.amounts, self.prices
        for price, amount in levels:
            if amount:
                if price not in amounts:
                    bisect.insort(prices, price)
                amounts[price] = amount
            elif amounts.pop(price, None) is not None:
                del prices[bisect.bisect_left(prices, price)]

    def top(self, depth: int) -> tuple[Level, ...]:
        amounts = self.amounts
        if self.descending:
            prices = self.prices[-1 : -depth - 1 : -1] if depth else self.prices[::-1]
        else:
            prices = self.prices[:depth] if depth else self.prices
        return tuple([(p, amounts[p]) for p in prices])


class BookBuilder:
    """Rebuilds immutable ``BookSnapshot``s from book events (snapshots and deltas), through the book gate.

    ``depth`` limits each side of the snapshots handed out (0: every level), as a live adapter
    subscribed at that depth would. ``markets`` ((exchange, symbol) -> ``Market``, read by reference;
    None: steps unknown) lets the gate check the numbers against each market's steps.

    A line whose true levels include a number off its market's step is applied as published and counted:
    ``on_off_step(exchange, symbol)`` is called (the scanner's feed statistics count it) and a warning is
    logged once per book.

    Every line goes through ``arbscan.booksanity``: a level whose numbers cannot be meant is not applied
    (an impossible amount at a sane price deletes that price, so the book never has more depth than the
    venue said), and such a line is refused. Every other level is applied as the file states it, crossing
    ones included: the book held is the recording's book. While it is crossed, locked or one-sided, every
    line on it is refused, whichever side the line touches: :meth:`apply` returns None and ``untrue`` says
    why. The book is true again only when a later line uncrosses it or a snapshot replaces it.
    """

    def __init__(self, depth: int = 0, markets: Mapping[tuple[str, str], Market] | None = None,
                 on_off_step: Callable[[str, str], None] | None = None) -> None:
        self.depth = depth
        self.on_off_step = on_off_step
        self.off_step = 0  # lines with a level off its market's step, applied as published
        self._off_step_warned: set[tuple[str, str]] = set()
        self.markets = markets
        self._books: dict[tuple[str, str], tuple[_Side, _Side]] = {}
        self._tops: dict[tuple[str, str], tuple[tuple[Level, ...], tuple[Level, ...]]] = {}  # last handed out
        self._gates: dict[tuple[str, str], Any] = {}  # per book: the line gate of its market (booksanity.line_gate)
        self.untrue: str | None = None  # why the last line was refused; None when it gave a true book
        self.refused = 0  # lines refused so far
        self._warned: set[tuple[str, str]] = set()

    def apply(self, ev: BookEvent) -> BookSnapshot | None:
        """Apply one event; the book after it, or None when the line was refused (``untrue`` says why)."""
        key = (ev.exchange, ev.symbol)
        sides = self._books.get(key)
        if sides is None:
            sides = self._books[key] = (_Side(descending=True), _Side(descending=False))
        bids, asks = sides
        market = self.markets.get(key) if self.markets is not None else None
        gate = self._gates.get(key)
        if gate is None or gate.market is not market:
            gate = self._gates[key] = line_gate(market)
        new_bids, new_asks = ev.bids, ev.asks
        reason = gate(new_bids, new_asks)
        if gate.off_step:
            self._count_off_step(ev, key, market)
        if reason is not None:
            new_bids = believable_levels(new_bids, market, "bid")
            new_asks = believable_levels(new_asks, market, "ask")
        if ev.snapshot:
            bids.clear()
            asks.clear()
        bids.set_many(new_bids)
        asks.set_many(new_asks)
        bid_prices, ask_prices = bids.prices, asks.prices
        if not bid_prices or not ask_prices:
            reason = reason or ("no bids" if not bid_prices else "no asks")
        elif bid_prices[-1] >= ask_prices[0]:
            # kept as stated: deleting the crossing levels would leave the stale opposite ones believed
            reason = reason or crossing_reason(bid_prices[-1], ask_prices[0])
        if reason is not None:
            self._tops.pop(key, None)  # the next true line builds both sides afresh
            self._refuse(ev, key, reason)
            return None
        self.untrue = None
        # A delta that leaves a side untouched hands out that side's previous tuple again.
        prev = None if ev.snapshot else self._tops.get(key)
        top_bids = prev[0] if prev is not None and not new_bids else bids.top(self.depth)
        top_asks = prev[1] if prev is not None and not new_asks else asks.top(self.depth)
        self._tops[key] = (top_bids, top_asks)
        # sorted, distinct, positive and not crossed by construction: no need to re-validate
        return BookSnapshot.trusted(ev.exchange, ev.symbol, top_bids, top_asks, ev.ts, ev.received)

    def _count_off_step(self, ev: BookEvent, key: tuple[str, str], market: Market | None) -> None:
        self.off_step += 1
        if self.on_off_step is not None:
            self.on_off_step(*key)
        if key not in self._off_step_warned:  # once per book: venue_stats.off_step counts every line
            self._off_step_warned.add(key)
            logger.warning("line %d: %s %s book line has a level off its market's step (%s); used as published "
                           "and counted (venue_stats.off_step)", ev.line, *key,
                           off_step_reason(ev.bids, ev.asks, market))

    def _refuse(self, ev: BookEvent, key: tuple[str, str], reason: str) -> None:
        self.untrue = reason
        self.refused += 1
        if key not in self._warned:  # once per book: the summary and venue_stats count every one
            self._warned.add(key)
            logger.warning("line %d: %s %s book line refused as untrue: %s; its routes are not evaluated until "
                           "a true update", ev.line, *key, reason)


def iter_books(events: Iterable[Event], depth: int = 0) -> Iterator[BookSnapshot]:
    """Only the true books of an event stream, rebuilt (for executors and tools that need no markets)."""
    builder = BookBuilder(depth)
    for ev in events:
        if isinstance(ev, BookEvent):
            book = builder.apply(ev)
            if book is not None:
                yield book


# -- replaying ---------------------------------------------------------------------------------


@dataclass(slots=True)
class ReplayResult:
    """What a replay did: lines read, book events fed, the scanner (funnels, counts), the wall time,
    whether ``should_stop`` ended it early, and how many book lines the book gate refused."""

    lines: int
    book_events: int
    scanner: Scanner
    seconds: float
    interrupted: bool = False
    refused: int = 0  # book lines the book gate refused (counted per feed in ``scanner.feeds``)


def run_replay(
    path: str | Path,
    store: Any = None,
    *,
    min_net_bps: Decimal = Decimal(0),
    max_book_age_ms: int = 2000,
    depth: int = 0,
    balances: dict[str, dict[str, Decimal]] | None = None,
    listeners: Iterable[Any] = (),
    progress: Callable[[float, int], None] | None = None,
    progress_every: int = 500,
    stats_every: int = 0,
    stats_every_s: float = 5.0,
    should_stop: Callable[[], bool] | None = None,
    fee_overrides: Mapping[str, Decimal] | None = None,
    scanner: Scanner | None = None,
) -> ReplayResult:
    """Run the scanner over a replay file on the file's clock (no sleeping).

    Balances from ``balance`` lines are added to ``balances``; ``currency`` lines set the scanner's funding
    facts where they stand in the file. A book line the book gate refuses (see :class:`BookBuilder`) does
    not stop the replay: the scanner counts it and the routes through its book under ``untrue_book``
    until a true line comes. When a journal write fails (a full disk) the replay stops at the next event
    with the store's ``WriteFailed``: nothing after the failed batch is written. On a malformed line the scanner is
    closed (open episodes end with reason ``end``, funnel written) and the ``ReplayFileError``
    propagates; everything journaled before it stays. ``progress(fraction, events)`` is called
    every ``progress_every`` book events. ``should_stop()`` is asked after every event (signal
    handlers set a flag it reads); when it says yes the replay ends cleanly with ``interrupted``.
    Funnel and feed statistics are journaled every ``stats_every_s`` seconds of the file's clock
    (as the live driver does every 5 s), and every ``stats_every`` book events when that is not 0.
    ``fee_overrides`` (exchange -> taker fee) replace the fees of the file's market lines: a
    recording replayed at your own fee tier. ``scanner``: a scanner built by the caller (with its
    listeners), used instead of one built from the arguments above.
    """
    started = time.perf_counter()
    reader = ReplayReader(path)
    if scanner is None:
        scanner = Scanner({}, store, min_net_bps=min_net_bps, max_book_age_ms=max_book_age_ms,
                          balances=balances, listeners=listeners)
    builder = BookBuilder(depth, scanner.markets, scanner.count_off_step)
    book_events = 0
    interrupted = False
    throttle = getattr(store, "backpressure", None)
    written = getattr(store, "write_state", None)  # its ``error`` is set once a journal write failed
    stats_due: float | None = None  # file time of the next stats write
    try:
        for ev in reader:
            if written is not None and written.error is not None:
                raise store.failure  # the first failed write stops the run at once: no row after a gap
            if should_stop is not None and should_stop():
                interrupted = True
                break
            if type(ev) is BookEvent:
                book = builder.apply(ev)
                if book is not None:
                    scanner.on_book_event(book, ev.ts)
                else:
                    scanner.on_untrue_book(ev.exchange, ev.symbol, ev.ts, builder.untrue)
                book_events += 1
                if progress is not None and book_events % progress_every == 0:
                    progress(reader.fraction, book_events)
                if stats_due is None:
                    stats_due = ev.ts + stats_every_s
                if ev.ts >= stats_due or (stats_every and book_events % stats_every == 0):
                    scanner.write_stats()
                    stats_due = ev.ts + stats_every_s
                if throttle is not None and not book_events & 255:
                    throttle()  # let the journal's writer keep up: a crash loses only the last batch or two
            elif type(ev) is MarketEvent:
                scanner.add_market(file_market(ev.market, fee_overrides))
            elif type(ev) is CurrencyEvent:
                scanner.set_funding(ev.facts, ev.ts)
            else:
                scanner.set_balance(ev.exchange, ev.asset, ev.free)
    finally:
        scanner.close()
    if progress is not None and not interrupted:
        progress(1.0, book_events)
    return ReplayResult(reader.line, book_events, scanner, time.perf_counter() - started, interrupted, builder.refused)
