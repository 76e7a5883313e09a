"""A symbol shard of ``--workers N``: its own scanner over its own symbols; rows to the writer, routes to the executor.

A shard owns the symbols ``arbscan.parallel.shard_map.ShardMap`` gives it. It runs the scanner exactly as one
process would, on those symbols only; its journal rows go to the writer process through an
``arbscan.parallel.remote_store.RemoteStore``, and what the one executor needs goes to the parent as messages,
each carrying its line in the replay file (in ``scan``, an arrival number), in that order:

* ``("m", line, market)`` — a market of one of its symbols;
* ``("r", line, t, book, others, opportunities)`` — a book event at ``t`` that made live routes which
  some strategy's filters (symbols, venues) accept: the event's book, the other books of those routes
  as ``(book, version)`` (version: the line of the update the book was built from), the routes; an
  other book this shard has already sent at that version (in an ``r`` or ``b`` message, or as an other
  book) goes as ``((exchange, symbol), version)`` instead: the executor holds it, and is spared
  reading it again (half of a route message's decoding: BENCHMARKS.md section 7c);
* ``("b", line, t, book)`` — a later update of a book of a venue a route was sent on (its buy or sell
  venue, on its symbol), for ``window_ms`` of event time after it (the largest ``latency_ms``): paper
  fills need the books of a trade's two venues as they are when the orders arrive (the symbol's other
  venues' updates are not sent: at 20 venues they were most of what an executor read, BENCHMARKS.md 7c);
* ``("w", line, t, fraction, book_events)`` — a watermark: every line up to ``line`` is done (``t``
  is the time of the last book line, any symbol's); sent every few hundred lines, at the first book
  line and at the end. The executor merges the shards' messages by line number with them.

:func:`run_replay_shard` is the replay role: it reads the whole file itself, parsing only its own
symbols' book lines (``ReplayReader(owns=...)``); the others only advance its clock, because step 1
of the scanner closes stale episodes at the next event of *any* symbol, so ``closed_at`` is what one
process would journal. At the end it sends a :class:`ShardReport`: its counts, funnels, feed
statistics, and a bad line's error if there was one.
"""

from __future__ import annotations

import copy
import logging
import signal
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from arbscan.config.settings import Settings, StrategyConfig
from arbscan.errors import ReplayFileError
from arbscan.model import BookSnapshot, Market, Opportunity
from arbscan.parallel.processes import ChildLog, child_start
from arbscan.parallel.remote_store import RemoteStore
from arbscan.replay.run import BookBuilder, file_market
from arbscan.scan.records import Episode
from arbscan.replay.reader import BookEvent, CurrencyEvent, ForeignBook, MarketEvent, ReplayReader
from arbscan.scan.scanner import Scanner
from arbscan.parallel.shard_map import ShardMap
from arbscan.execution.strategy import StrategyRules, micros
from arbscan.parallel.transport import Closed, Inbox, Outbox

__all__ = ["ExecutionTap", "Paused", "ShardReport", "ReplayShardSpec", "run_replay_shard", "replay_shard_main", "percentiles"]

logger = logging.getLogger(__name__)


class ExecutionTap:
    """A scanner listener in a shard: turns its events into the executor's messages (module docstring).

    The shard sets ``line`` before each book event and calls :meth:`event_done` after it.
    """

    def __init__(self, strategies: Sequence[StrategyConfig], window_ms: int, scanner: Scanner) -> None:
        self.rules = [StrategyRules(s) for s in strategies]  # none: only episodes and funding are sent (alerts)
        self.window_us = window_ms * 1000
        self.scanner = scanner
        self.line = 0
        self.out: list[tuple[Any, ...]] = []
        self.versions: dict[tuple[str, str], int] = {}  # (exchange, symbol) -> line of the update of the book held
        self.sent: dict[tuple[str, str], int] = {}  # (exchange, symbol) -> version of the book last sent to the executor
        self.until_us: dict[tuple[str, str], int] = {}  # (exchange, symbol) -> end of its window (micros), while open
        self.sent_markets: dict[tuple[str, str], Market] = {}
        self.skipped: list[Counter[str]] = [Counter() for _ in strategies]  # routes no strategy takes, by reason
        self._book: BookSnapshot | None = None
        self._t = 0.0
        self._opps: list[Opportunity] = []
        self.prev_ts: float | None = None  # the time of the book line before this one (a replay sets it)
        self._booked_line = -1  # the line whose book the executors have been given (on_book)

    def on_book(self, book: BookSnapshot, t: float) -> None:
        """A book event at ``t``: remember it and its version."""
        self.versions[(book.exchange, book.symbol)] = self.line
        self._book = book
        self._t = t
        self._booked_line = self.line

    def on_opportunity(self, opp: Opportunity, t: float) -> None:
        """A live route: kept when some strategy's filters accept it, else counted as each strategy's skip."""
        reasons = [r.accepts(opp.symbol, opp.buy_exchange, opp.sell_exchange) for r in self.rules]
        if None in reasons:
            self._opps.append(opp)
        else:
            for counter, reason in zip(self.skipped, reasons):
                counter[reason] += 1

    def event_done(self) -> None:
        """The event is evaluated: send its routes, or its book when its symbol's window is open."""
        book = self._book
        if book is None:
            return
        self._book = None
        symbol, t = book.symbol, self._t
        if self._opps:
            opps = tuple(self._opps)
            self._opps.clear()
            self._ensure_market((book.exchange, symbol))
            others: dict[str, tuple[BookSnapshot, int]] = {}
            sent = self.sent
            for opp in opps:
                for ex in (opp.buy_exchange, opp.sell_exchange):
                    if ex != book.exchange and ex not in others:
                        key = (ex, symbol)
                        self._ensure_market(key)
                        version = self.versions.get(key, -1)
                        if sent.get(key) == version:
                            others[ex] = (key, version)  # the executor has this very book already
                        else:
                            others[ex] = (self.scanner.books[key], version)
                            sent[key] = version
            sent[(book.exchange, symbol)] = self.line
            self.out.append(("r", self.line, t, book, tuple(others.values()), opps))
            until = micros(t) + self.window_us
            for opp in opps:
                self.until_us[(opp.buy_exchange, symbol)] = self.until_us[(opp.sell_exchange, symbol)] = until
            return
        key = (book.exchange, symbol)
        until = self.until_us.get(key)
        if until is not None:
            if micros(t) <= until:
                self.sent[key] = self.line
                self.out.append(("b", self.line, t, book))
            else:
                del self.until_us[key]

    def episode_opened(self, episode: Episode, t: float) -> None:
        """An episode opened (an alert hub in the parent hears of it): sent as it is now."""
        self._episode("episode_opened", episode, t)

    def episode_peak(self, episode: Episode, t: float) -> None:
        """An open episode has a new peak."""
        self._episode("episode_peak", episode, t)

    def episode_closed(self, episode: Episode, t: float) -> None:
        """An episode closed."""
        self._episode("episode_closed", episode, t)

    def _episode(self, event: str, episode: Episode, t: float) -> None:
        # In one process the executors settle what is due when they get an event's book (step 2): an
        # episode event after it (step 3) follows the settling at ``t``, one before it (step 1, or an
        # event the executors are not given) only that at the previous line's time.
        settled = t if self._booked_line == self.line else self.prev_ts
        self.out.append(("a", self.line, event, copy.copy(episode), t, settled))

    def funding(self, line: int, facts: Any) -> None:
        """Funding facts from a replay's ``currency`` line, for the executors' view of transfers."""
        self.out.append(("c", line, facts))

    def market(self, line: int, market: Market) -> None:
        """Send a market of this shard's symbols (a replay's market line)."""
        self.sent_markets[(market.exchange, market.symbol)] = market
        self.out.append(("m", line, market))

    def _ensure_market(self, key: tuple[str, str]) -> None:
        market = self.scanner.markets.get(key)
        if market is not None and self.sent_markets.get(key) is not market:
            self.market(self.line, market)

    def take(self) -> list[tuple[Any, ...]]:
        """The messages gathered since the last call."""
        out, self.out = self.out, []
        return out


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    """n, p50, p99, max and mean of durations in nanoseconds, as microseconds."""
    if not samples_ns:
        return {"n": 0}
    s = sorted(samples_ns)
    pick = lambda q: s[min(len(s) - 1, int(q * len(s)))] / 1000  # noqa: E731
    return {"n": len(s), "p50": pick(0.50), "p99": pick(0.99), "max": s[-1] / 1000, "mean": sum(s) / len(s) / 1000}


@dataclass(slots=True)
class ShardReport:
    """What a shard sends when it ends: its counts, funnels and feeds for the summary, and how it ended."""

    index: int
    lines: int = 0
    book_events: int = 0  # its own symbols' book lines
    events: int = 0  # book events its scanner took
    live_evaluations: int = 0
    episodes_closed: int = 0
    funnels: dict[Any, Any] = field(default_factory=dict)
    feeds: dict[Any, Any] = field(default_factory=dict)
    markets: dict[tuple[str, str], Market] = field(default_factory=dict)
    skipped: list[Counter[str]] = field(default_factory=list)
    last_ts: float | None = None
    seconds: float = 0.0  # wall time from start to end
    started_at: float = 0.0  # unix time the shard's work began (after its process started)
    cpu_seconds: float = 0.0
    interrupted: bool = False
    error: str | None = None  # a bad replay line (the message names it)
    error_line: int | None = None
    failure: str | None = None  # an unexpected failure, with its traceback
    decide_us: dict[str, float] = field(default_factory=dict)  # with timing: per-event decision time
    rows_sent: int = 0
    refused: int = 0  # own book lines the book gate refused

    def take(self, scanner: Scanner) -> None:
        """Copy the scanner's figures."""
        self.events = scanner.events
        self.live_evaluations = scanner.live_evaluations
        self.episodes_closed = scanner.episodes_closed
        self.funnels = dict(scanner.funnels)
        self.feeds = dict(scanner.feeds)
        self.markets = dict(scanner.markets)


@dataclass(frozen=True, slots=True)
class ReplayShardSpec:
    """Everything a replay shard needs (picklable: it crosses to the shard process)."""

    index: int
    shards: tuple[tuple[str, ...], ...]
    path: str
    run_id: int | None
    db: str | None
    settings: Settings  # the scanner is built from them as one process builds it (arbscan.parts.build_scanner)
    depth: int = 0
    strategies: tuple[StrategyConfig, ...] = ()  # their filters pick the routes sent; none: no executor
    window_ms: int = 0  # how long book updates follow a route: the largest latency_ms
    episodes: bool = False  # send episode events (an alert hub in the parent)
    watermark_lines: int = 500
    stats_every_s: float = 5.0
    batch_rows: int = 200
    timing: bool = False  # measure every decision (benchmarks)
    flush_interval: float = 0.2  # a batch goes at a watermark once its first row waited this long (0: at every
    # watermark, so batches are cut by line position alone and a restarted shard resends the same ones: the bus)


def run_replay_shard(spec: ReplayShardSpec, journal: Outbox, events: Outbox, control: Inbox | None) -> ShardReport:
    """Run one shard of a replay to the end, a stop from the parent, or a bad line (module docstring)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    me = spec.index
    owner = ShardMap(spec.shards).owner
    from arbscan.parts import build_scanner

    store = RemoteStore(journal, spec.run_id, spec.db, batch_rows=spec.batch_rows, flush_interval=spec.flush_interval)
    settings = spec.settings
    scanner = build_scanner(settings, store, {v.exchange: dict(v.balances) for v in settings.venues if v.balances})
    fee_overrides = settings.fee_overrides()
    tap = ExecutionTap(spec.strategies, spec.window_ms, scanner) if spec.strategies or spec.episodes else None
    if tap is not None:
        scanner.listeners.append(tap)
        if spec.episodes:
            scanner.episode_listeners.append(tap)
    reader = ReplayReader(spec.path, owns=lambda symbol: owner(symbol) == me)
    builder = BookBuilder(spec.depth, scanner.markets, scanner.count_off_step)
    report = ShardReport(me)
    decide: list[int] | None = [] if spec.timing else None
    last_ts: float | None = None
    stats_due: float | None = None
    next_mark = spec.watermark_lines
    book_events = 0
    stop_at: float | None = None  # an interrupted run: stop once this line is done (every shard at the same line)

    def mark(line: int, fraction: float) -> None:
        out = tap.take() if tap is not None else []
        out.append(("w", line, last_ts, fraction, book_events))
        events.put(out)

    try:
        for ev in reader:
            kind = type(ev)
            if kind is BookEvent:
                book = builder.apply(ev)
                if tap is not None:
                    tap.line, tap.prev_ts = ev.line, last_ts
                if book is None:  # the book gate refused the line (arbscan.booksanity), as in one process
                    scanner.on_untrue_book(ev.exchange, ev.symbol, ev.ts, builder.untrue)
                elif decide is None:
                    scanner.on_book_event(book, ev.ts)
                else:
                    t0 = time.perf_counter_ns()
                    scanner.on_book_event(book, ev.ts)
                    decide.append(time.perf_counter_ns() - t0)
                if tap is not None:
                    tap.event_done()
                book_events += 1
            elif kind is ForeignBook:
                if scanner.episodes:
                    if tap is not None:
                        tap.line, tap.prev_ts = ev.line, last_ts
                    scanner.expire(ev.ts)  # step 1 runs at every event, whichever symbol it is on
            elif kind is MarketEvent:
                if owner(ev.market.symbol) == me:
                    market = file_market(ev.market, fee_overrides)
                    scanner.add_market(market)
                    if tap is not None and spec.strategies:
                        tap.market(ev.line, market)
                continue
            elif kind is CurrencyEvent:
                when = ev.ts if ev.ts is not None else last_ts  # one process's clock: the last book line's time
                if me == 0:  # every shard's routes need the facts; one shard journals them
                    scanner.set_funding(ev.facts, when)
                    if tap is not None and spec.strategies:
                        tap.funding(ev.line, ev.facts)
                else:
                    scanner.funding.set(ev.facts)
                continue
            else:
                scanner.set_balance(ev.exchange, ev.asset, ev.free)
                continue
            last_ts = ev.ts
            if stats_due is None:  # the first book line: the executor starts at its time
                stats_due = ev.ts + spec.stats_every_s
                mark(ev.line, reader.fraction)
            elif ev.ts >= stats_due:
                scanner.write_stats()
                stats_due = ev.ts + spec.stats_every_s
            if stop_at is not None and ev.line >= stop_at:  # the line every shard of an interrupted run stops at
                report.interrupted = True
                break
            if ev.line >= next_mark:
                next_mark = ev.line + spec.watermark_lines
                mark(ev.line, reader.fraction)
                store.tick()
                if control is not None:
                    order = _control(control, events, ev.line)
                    if order is not None and order <= ev.line:
                        report.interrupted = True
                        break
                    if order is not None:
                        stop_at = order
    except ReplayFileError as exc:
        report.error, report.error_line = str(exc), reader.line
    except Exception:  # noqa: BLE001 - a bug: the parent fails the run with it
        report.failure = traceback.format_exc()
    finally:
        try:
            scanner.close(last_ts)
            mark(reader.line, 1.0)
            store.flush()
        except Closed:  # the parent or the writer is gone: nobody to tell
            pass
    report.take(scanner)
    report.lines, report.book_events, report.last_ts = reader.line, book_events, last_ts
    report.refused = builder.refused
    report.skipped = tap.skipped if tap is not None else []
    report.seconds, report.cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    report.started_at = time.time() - report.seconds
    report.rows_sent = store.rows_sent
    if decide is not None:
        report.decide_us = percentiles(decide)
    return report


@dataclass(frozen=True, slots=True)
class Paused:
    """A shard's answer to ``("pause",)``: every line up to ``line`` is done and it waits for ``("stop_at", L)``."""

    line: int


def _control(control: Inbox, events: Outbox, line: int) -> float | None:
    """The parent's orders at a watermark (every line up to ``line`` done): the line to stop after, or None to go on.

    ``("stop",)``: stop now (a failure elsewhere, or SIGTERM). ``("pause",)`` (an interrupted run): say
    where this shard is (:class:`Paused`) and wait for ``("stop_at", L)``, the furthest line any shard had
    reached; every shard then stops once line ``L`` is done, so the executor's trades are those one process
    interrupted at ``L`` would have journaled: nothing after a missing one.
    """
    try:
        msgs = control.poll()
        if any(msg[0] == "stop" for msg in msgs):
            return line
        if not any(msg[0] == "pause" for msg in msgs):
            return None
        events.put(Paused(line))
        while True:
            for msg in control.poll():
                if msg[0] == "stop":
                    return line
                if msg[0] == "stop_at":
                    return msg[1]
            time.sleep(0.002)
    except Closed:  # the parent is gone
        return line


def replay_shard_main(spec: ReplayShardSpec, parent_pid: int, log: ChildLog, journal: Outbox, events: Outbox,
                      control: Inbox) -> None:
    """Entry point of a replay shard process."""
    child_start(f"arbscan-shard{spec.index + 1}", parent_pid, signal.SIGKILL, log, f"shard {spec.index + 1}")
    stop = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.append(signum))
    report = run_replay_shard(spec, journal, events, _StopOnSignal(control, stop))
    try:
        events.put(report)
    except Closed:
        pass
    journal.close()
    events.close()


class _StopOnSignal:
    """The control inbox, plus a stop when this process got SIGTERM itself."""

    def __init__(self, control: Inbox, stop: list[int]) -> None:
        self.control = control
        self.stop = stop

    def poll(self) -> list[Any]:
        msgs = self.control.poll()
        return msgs + [("stop",)] if self.stop else msgs

    def close(self) -> None:
        self.control.close()
