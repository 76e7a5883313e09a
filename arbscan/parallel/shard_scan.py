"""A symbol shard of ``scan --workers N``: a live feed driver on its own adapters for its own symbols.

:func:`run_scan_shard` is the role. It builds one adapter per configured venue (public data only: no
balances, no orders — private calls happen in the parent alone, so a Kraken key's nonces never
interleave across processes) and runs ``arbscan.scan.feeds.LiveDriver`` over its symbols, its scanner's
rows going to the journal writer. To the parent it sends, on its events channel:

* the executor's messages of ``arbscan.parallel.shard`` (routes with their books, book updates for the largest
  ``latency_ms``, markets), numbered in arrival order, sent as soon as the event has been evaluated;
* ``("w", seq, t, 0.0, events)`` every ``tick_s``: the shard's event clock, so paper trades settle
  when no other message comes;
* ``("s", seq, ShardStatus)`` every ``status_s``: its venues, books, counts and open episodes for the
  status view (and for closing its open episodes should it die);
* ``("u", seq, venue, message, retry_in)``: a venue could not be reached (the parent prints it once);
* at the end its ``arbscan.parallel.shard.ShardReport``.

From the parent it takes ``("balances", exchange, {asset: free})`` (they cap sizes), ``("funding", facts)`` or
``("funding", facts, set_id)`` (facts another process asked for and journaled; with a set id, this shard's own
sets, should it ask, are numbered after it) and ``("stop",)``. With ``ask_funding`` the shard asks the venues
for the funding facts of every ``scanner.symbols`` entry's assets itself and journals them, as the parent of
``--workers`` does (shard 1 on the bus: ``arbscan.bus.funding``).
A restarted shard gets the funnel and feed figures its predecessor journaled (``resume``), so counts
go on rather than start again.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from arbscan.config.settings import Settings, StrategyConfig
from arbscan.scan.feeds import LiveDriver
from arbscan.model import Balances, BookSnapshot
from arbscan.parallel.processes import ChildLog, child_start
from arbscan.scan.records import FeedStats, RouteFunnel
from arbscan.parallel.remote_store import RemoteStore
from arbscan.scan.scanner import Scanner
from arbscan.parallel.shard import ExecutionTap, ShardReport
from arbscan.parallel.shard_status import ShardStatus
from arbscan.parallel.transport import Closed, Inbox, Outbox, ThreadedOutbox

__all__ = ["ScanShardSpec", "run_scan_shard", "scan_shard_main", "LiveTap", "ShardDriver", "BATCH_ROWS"]

logger = logging.getLogger(__name__)

BATCH_ROWS = 50
"""Journal rows a live shard sends at a time: pickled on its event loop, about 0.25 ms."""


class ShardDriver(LiveDriver):
    """The live feed driver of a shard: funnel and feed rows journaled 25 per event-loop turn.

    A shard's journal converts every row on the event loop (one process's ``Store`` copies it and
    converts it on its writer thread), so the slices are a quarter of the one-process driver's.
    """

    async def write_stats(self) -> None:
        """Journal the changed funnel and feed rows in slices of 25, yielding to the event loop between them."""
        while self.scanner.write_stats(max_rows=25):
            await asyncio.sleep(0)


@dataclass(frozen=True, slots=True)
class ScanShardSpec:
    """Everything a scan shard needs (picklable)."""

    index: int
    shards: tuple[tuple[str, ...], ...]
    settings: Settings
    run_id: int | None
    db: str | None
    build_adapters: Callable[..., Mapping[str, Any]]
    strategies: tuple[StrategyConfig, ...] = ()
    window_ms: int = 0
    episodes: bool = False  # send episode events (an alert hub in the parent)
    balances: Balances = field(default_factory=dict)  # fetched by the parent so far
    funding: tuple[Any, ...] = ()  # funding facts the parent has fetched so far (AssetFunding)
    resume_funnels: tuple[RouteFunnel, ...] = ()
    resume_feeds: tuple[FeedStats, ...] = ()
    driver_options: Mapping[str, Any] = field(default_factory=dict)
    status_s: float = 1.0
    tick_s: float = 0.1
    ask_funding: bool = False  # ask the venues for the funding facts of every scanner.symbols asset (the bus's shard 1)


class _AskingDriver(ShardDriver):
    """A shard driver that asks the venues for the funding facts of every scanned symbol's assets, not only its own."""

    def _assets(self, name: str) -> list[str]:
        return list(dict.fromkeys(a for sym in self.scanner_symbols for a in sym.split("/")))


class _Announce:
    """A scanner listener that hands every set of funding facts the scanner took to ``publish(set_id, facts)``."""

    def __init__(self, scanner: Scanner, publish: Callable[[int, Any], None]) -> None:
        self.scanner = scanner
        self.publish = publish

    def on_funding(self, facts: Any, t: float | None) -> None:
        self.publish(self.scanner.funding_sets, facts)


class LiveTap(ExecutionTap):
    """The tap of a live shard: events numbered as they arrive, each sent once the loop turn that evaluated it ends."""

    def __init__(self, strategies: tuple[StrategyConfig, ...], window_ms: int, scanner: Scanner, send: Callable[[list[Any]], None]) -> None:
        super().__init__(strategies, window_ms, scanner)
        self.send = send
        self._scheduled = False

    def on_book(self, book: BookSnapshot, t: float) -> None:
        """The previous event is complete: number this one and send what is due after this loop turn."""
        self.event_done()
        self.line += 1
        super().on_book(book, t)
        self._schedule()

    def episode_closed(self, episode: Any, t: float) -> None:
        """An episode closed (also by the expiry timer, between book events): sent after this loop turn."""
        super().episode_closed(episode, t)
        self._schedule()

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Send what the events so far produced."""
        self._scheduled = False
        self.event_done()
        out = self.take()
        if out:
            self.send(out)


async def run_scan_shard(spec: ScanShardSpec, journal: Outbox, events: Outbox, control: Inbox,
                         on_funding: Callable[[int, Any], None] | None = None) -> ShardReport:
    """Run one live shard until the parent says stop (or is gone); returns its report.

    ``on_funding(set_id, facts)``: every set of funding facts this shard's scanner takes (``ask_funding``), as journaled.
    """
    started, cpu_started = time.perf_counter(), time.process_time()
    sc = spec.settings.scanner
    symbols = spec.shards[spec.index]
    seq = [0]

    def send(messages: list[Any]) -> None:
        try:
            events.put(messages)
        except Closed:  # the parent is gone; the kernel ends this process too
            driver.stop.set()

    def numbered(*msg: Any) -> tuple[Any, ...]:
        seq[0] += 1
        return (msg[0], seq[0], *msg[1:])

    from arbscan.parts import build_scanner

    store = RemoteStore(journal, spec.run_id, spec.db, batch_rows=BATCH_ROWS)  # written from a thread (scan_shard_main)
    balances = {v.exchange: dict(v.balances) for v in spec.settings.venues if v.balances}
    balances.update({ex: dict(b) for ex, b in spec.balances.items()})
    scanner = build_scanner(spec.settings, store, balances)
    for facts in spec.funding:
        scanner.funding.set(facts)
    for funnel in spec.resume_funnels:
        scanner.funnels[(funnel.symbol, funnel.buy_exchange, funnel.sell_exchange)] = funnel
    for feed in spec.resume_feeds:
        scanner.feeds[(feed.exchange, feed.symbol)] = feed
    tap = None
    if spec.strategies or spec.episodes:
        tap = LiveTap(spec.strategies, spec.window_ms, scanner, send)
        scanner.listeners.append(tap)
        if spec.episodes:
            scanner.episode_listeners.append(tap)
    adapters = spec.build_adapters(spec.settings)
    options = dict(spec.driver_options)
    # the parent (or the bus's shard 1) asks the venues, with keys a private call, and sends the facts
    options["funding_refresh_s"] = sc.transfer_refresh_s if spec.ask_funding else 0
    driver_class = _AskingDriver if spec.ask_funding else ShardDriver
    driver = driver_class(scanner, adapters, symbols, depth=sc.book_depth,
                          on_unreachable=lambda venue, message, retry: send([numbered("u", venue, message, retry)]),
                          **options)
    driver.scanner_symbols = tuple(sc.symbols)
    if on_funding is not None:
        scanner.listeners.append(_Announce(scanner, on_funding))
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, driver.stop.set)

    def on_control() -> None:
        try:
            messages = control.poll()
        except Closed:
            driver.stop.set()
            loop.remove_reader(control.fileno())
            return
        for msg in messages:
            if msg[0] == "balances":
                scanner.balances[msg[1]] = dict(msg[2])
            elif msg[0] == "funding":  # journaled by the parent (or the bus's shard 1), which asked for them
                scanner.funding.set(msg[1])
                if len(msg) > 2:
                    scanner.funding_sets = max(scanner.funding_sets, msg[2])
            elif msg[0] == "stop":
                driver.stop.set()

    loop.add_reader(control.fileno(), on_control)

    def status() -> ShardStatus:
        venues = {name: (st.reachable, st.failures, st.last_error, st.down_since) for name, st in driver.venues.items()}
        return ShardStatus(venues, {k: b.ts for k, b in scanner.books.items()}, scanner.events,
                           scanner.live_evaluations, scanner.episodes_closed, list(scanner.episodes.values()),
                           driver.now() if scanner.clock is not None else None)

    async def timers() -> None:
        last_status = 0.0
        while True:
            await asyncio.sleep(spec.tick_s)
            store.tick()
            out = []
            if tap is not None and scanner.clock is not None:
                out.append(numbered("w", driver.now(), 0.0, scanner.events))
            if time.monotonic() - last_status >= spec.status_s:
                last_status = time.monotonic()
                out.append(numbered("s", status()))
            if out:
                send(out)

    timer_task = asyncio.create_task(timers())
    try:
        await driver.run()
    finally:
        timer_task.cancel()
        await asyncio.gather(timer_task, return_exceptions=True)
        loop.remove_reader(control.fileno())
        await driver.close_adapters()
        if tap is not None:
            tap.flush()
        store.flush()
    report = ShardReport(spec.index)
    report.take(scanner)
    report.book_events = scanner.events
    report.last_ts = scanner.clock
    report.skipped = tap.skipped if tap is not None else []
    report.seconds, report.cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    report.rows_sent = store.rows_sent
    return report


def scan_shard_main(spec: ScanShardSpec, parent_pid: int, log: ChildLog, journal: Outbox, events: Outbox,
                    control: Inbox) -> None:
    """Entry point of a scan shard process."""
    child_start(f"arbscan-shard{spec.index + 1}", parent_pid, signal.SIGKILL, log, f"shard {spec.index + 1}")
    journal = ThreadedOutbox(journal)  # the event loop never waits for a pipe the writer has not emptied yet
    report = asyncio.run(run_scan_shard(spec, journal, events, control))
    try:
        events.put(report)
    except Closed:
        pass
    journal.close()
    events.close()
