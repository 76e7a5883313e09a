"""The supervisor of ``scan --workers N``: it starts, watches, restarts and stops the shard and writer processes.

What it does when a shard dies (the one-line report, the episodes it had open, the backoff, the
successor that continues the journaled funnels) is described in ``arbscan.parallel.scan_workers``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from arbscan.config.settings import Settings
from arbscan.parallel.executor_feed import ExecutorFeed, ShardTotals
from arbscan.parallel.journal_writer import WriterSpec, writer_main
from arbscan.scan.records import FeedStats, RouteFunnel
from arbscan.parallel.remote_store import RemoteStore
from arbscan.parallel.shard import ShardReport
from arbscan.parallel.shard_scan import ScanShardSpec, scan_shard_main
from arbscan.parallel.shard_status import ShardStatus, WorkersView, journaled_figures
from arbscan.parallel.shard_map import ShardMap
from arbscan.parallel.transport import Closed, pipe
from arbscan.parallel.replay_workers import Processes, child_log, describe_exit

__all__ = ["ScanSupervisor", "RestartBackoff", "RESTART_BACKOFF_S"]

logger = logging.getLogger(__name__)

RESTART_BACKOFF_S = (1.0, 30.0)
"""A dead shard is started again after 1 s, doubling up to 30 s; back to 1 s after a minute of running."""

RESET_AFTER_S = 60.0
"""A shard that ran this long before it died starts its backoff again from the first delay."""


class RestartBackoff:
    """How long each dead shard waits before it is started again (:data:`RESTART_BACKOFF_S`); times are monotonic."""

    def __init__(self, shards: int, first_s: float = RESTART_BACKOFF_S[0], max_s: float = RESTART_BACKOFF_S[1],
                 reset_after_s: float = RESET_AFTER_S) -> None:
        self.first_s, self.max_s, self.reset_after_s = first_s, max_s, reset_after_s
        self.pending = [first_s] * shards  # the next delay of each shard
        self.started_at: dict[int, float] = {}

    def started(self, k: int, now: float) -> None:
        """Shard ``k`` was started at ``now``."""
        self.started_at[k] = now

    def after_death(self, k: int, now: float) -> float:
        """Shard ``k`` died at ``now``: the delay before its restart (the next one doubles, up to the cap)."""
        if now - self.started_at.get(k, 0.0) >= self.reset_after_s:
            self.pending[k] = self.first_s
        wait = self.pending[k]
        self.pending[k] = min(wait * 2, self.max_s)
        return wait


class ScanSupervisor:
    """Starts, watches, restarts and stops the processes of ``scan --workers N`` (module docstring)."""

    def __init__(self, settings: Settings, shard_map: ShardMap, run_id: int, feed: ExecutorFeed, journal: RemoteStore,
                 journal_in: Any, build_adapters: Callable[..., Any], strategies: tuple[Any, ...],
                 say: Callable[[str], None], on_unreachable: Callable[[str, str, float], None],
                 driver_options: dict[str, Any], episodes: bool = False) -> None:
        self.settings = settings
        self.shard_map = shard_map
        self.n = shard_map.count
        self.run_id = run_id
        self.feed = feed
        self.journal = journal
        self.build_adapters = build_adapters
        self.strategies = strategies
        self.say = say
        self.on_unreachable = on_unreachable
        self.driver_options = driver_options
        self.episodes = episodes  # shards send their episode events (an alert hub listens)
        self.funding: dict[tuple[str, str], Any] = {}  # the latest facts per (venue, asset), for restarts
        self.processes = Processes()
        self.log = child_log()
        self.statuses: dict[int, ShardStatus] = {}
        self.status_at: dict[int, float] = {}
        self.reports: dict[int, ShardReport] = {}
        self.balances: dict[str, dict[str, Decimal]] = {}
        self.view = WorkersView(self.statuses, self.n)
        self.stop_event = asyncio.Event()
        self.failure: str | None = None
        self.write_failed = False  # the writer's failure was a journal write (a full disk): ``failure`` is its one line
        self.stopping = False
        self._controls: dict[int, Any] = {}
        self._inboxes: dict[int, Any] = {}
        self.backoff = RestartBackoff(self.n)
        self._generation = [0] * self.n
        self._said: dict[tuple[str, str], float] = {}
        control_in, self._writer_control = pipe()
        self._report_in, report_out = pipe()
        self._journal_out: dict[int, Any] = {}
        producers: dict[Any, Any] = {"executor": journal_in}
        for k in range(self.n):
            inbox, self._journal_out[k] = pipe()
            producers[f"shard{k + 1}"] = inbox
        self.processes.start("writer", writer_main, (WriterSpec(str(settings.scanner.db)), os.getpid(), self.log,
                                                     control_in, producers, report_out),
                             [control_in, report_out, *producers.values()])

    # -- shards ----------------------------------------------------------------------------

    def start_shard(self, k: int, resume: bool = False) -> None:
        """Start shard ``k`` (again, after a death: with what its predecessor journaled)."""
        loop = asyncio.get_running_loop()
        sc = self.settings.scanner
        funnels: tuple[RouteFunnel, ...] = ()
        feeds: tuple[FeedStats, ...] = ()
        if resume:
            self._generation[k] += 1
            inbox, self._journal_out[k] = pipe()
            self._writer_control.put(("producer", f"shard{k + 1}.{self._generation[k]}", inbox))
            inbox.close()
            funnels, feeds = journaled_figures(str(sc.db), self.run_id, self.shard_map.shards[k], sc.max_book_age_ms)
        spec = ScanShardSpec(k, self.shard_map.shards, self.settings, self.run_id, str(sc.db), self.build_adapters,
                             self.strategies, max((s.latency_ms for s in self.strategies), default=0),
                             self.episodes, {ex: dict(b) for ex, b in self.balances.items()},
                             tuple(self.funding.values()), funnels, feeds, self.driver_options,
                             sc.status_interval_ms / 1000)
        events_in, events_out = pipe()
        control_in, control_out = pipe()
        journal_out = self._journal_out[k]
        self.processes.start(f"shard{k + 1}", scan_shard_main,
                             (spec, os.getpid(), self.log, journal_out, events_out, control_in),
                             [journal_out, events_out, control_in])
        self._controls[k] = control_out
        self._inboxes[k] = events_in
        self.backoff.started(k, time.monotonic())
        loop.add_reader(events_in.fileno(), self._on_events, k)

    def _on_events(self, k: int) -> None:
        inbox = self._inboxes[k]
        try:
            items = inbox.poll()
        except Closed:
            asyncio.get_running_loop().remove_reader(inbox.fileno())
            inbox.close()
            if k not in self.reports and not self.stopping:
                self._died(k)
            return
        for item in items:
            if isinstance(item, ShardReport):
                self.reports[k] = item
                continue
            for msg in item:
                kind = msg[0]
                if kind == "s":
                    self.statuses[k] = msg[2]
                    self.status_at[k] = time.monotonic()
                elif kind == "u":
                    self._unreachable(msg[2], msg[3], msg[4])
                else:
                    self.feed.apply(msg)

    def _unreachable(self, venue: str, message: str, retry_in: float) -> None:
        """Every shard reaches every venue: the same failure is said once, not once per shard."""
        key = (venue, message)
        if time.monotonic() - self._said.get(key, -1e9) >= max(retry_in / 2, 0.5):
            self._said[key] = time.monotonic()
            self.on_unreachable(venue, message, retry_in)

    def _died(self, k: int) -> None:
        how = describe_exit(self.processes.exitcode(f"shard{k + 1}"))
        status = self.statuses.pop(k, None)
        closed = 0
        if status is not None:
            now = (status.clock or time.time()) + (time.monotonic() - self.status_at.get(k, time.monotonic()))
            for ep in status.open_episodes:
                ep.closed_at, ep.close_reason, ep.close_detail = now, "stale", "shard_died"
                self.journal.record_episode(ep)
                closed += 1
        wait = self.backoff.after_death(k, time.monotonic())
        self.say(f"arbscan: shard {k + 1}/{self.n} died ({how}); {closed} open episode(s) closed as stale; "
                 f"restarting in {wait:g} s")
        asyncio.get_running_loop().call_later(wait, self._restart, k)

    def _restart(self, k: int) -> None:
        if self.stopping or self.stop_event.is_set():
            return
        try:
            self.start_shard(k, resume=True)
        except Exception as exc:  # noqa: BLE001 - try again later rather than stop the other shards
            logger.exception("restarting shard %d failed", k + 1)
            wait = self.backoff.pending[k]
            self.say(f"arbscan: shard {k + 1}/{self.n} could not be restarted ({exc}); retrying in {wait:g} s")
            asyncio.get_running_loop().call_later(wait, self._restart, k)

    def send_balances(self, exchange: str, free: dict[str, Decimal]) -> None:
        """Known balances of a venue: kept for restarts and sent to every shard."""
        self.balances[exchange] = dict(free)
        for out in self._controls.values():
            try:
                out.put(("balances", exchange, dict(free)))
            except Closed:
                pass

    def send_funding(self, facts: Any) -> None:
        """Funding facts the parent fetched (and journaled): kept for restarts and sent to every shard."""
        self.funding[(facts.exchange, facts.asset)] = facts
        for out in self._controls.values():
            try:
                out.put(("funding", facts))
            except Closed:
                pass

    # -- running and stopping --------------------------------------------------------------

    async def watch(self) -> None:
        """Until stopped: the journal writer must stay alive, and the parent's rows go out on time."""
        while not self.stop_event.is_set():
            self.journal.tick()
            if not self.processes.alive("writer"):
                self.failure = f"the journal writer process died ({describe_exit(self.processes.exitcode('writer'))})"
                self.stop_event.set()
                return
            await asyncio.sleep(0.1)

    async def stop(self, grace_s: float = 4.0) -> None:
        """Stop every shard (their open episodes close, their rows are flushed), then the writer."""
        self.stopping = True
        for out in self._controls.values():
            try:
                out.put(("stop",))
            except Closed:
                pass
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(self.processes.alive(f"shard{k + 1}") and k not in self.reports
                                                   for k in self._inboxes):
            await asyncio.sleep(0.02)
        await asyncio.sleep(0)  # the last events handled
        for k, inbox in self._inboxes.items():
            try:
                asyncio.get_running_loop().remove_reader(inbox.fileno())
                self._on_events(k)
            except (OSError, ValueError):
                pass

    async def finish_writer(self) -> None:
        """Tell the writer no producer comes any more; wait until it has committed everything."""
        self.journal.flush()
        self.journal.outbox.close()
        for out in self._journal_out.values():  # a shard that never started still holds its channel here
            out.close()
        try:
            self._writer_control.put(("end",))
        except Closed:
            pass
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            try:
                for report in self._report_in.poll():
                    if report.error:
                        self.failure = report.error
                        self.write_failed = report.write_failed
                    return
            except Closed:
                break
            await asyncio.sleep(0.02)
        if self.failure is None:
            self.failure = "the journal writer ended without reporting; the last batches may be missing"

    def totals(self) -> ShardTotals:
        """The shards' final figures added up (a shard that never reported counts by its last status)."""
        totals = ShardTotals()
        for report in self.reports.values():
            totals.add(report)
        for k, status in self.statuses.items():
            if k not in self.reports:
                totals.events += status.events
                totals.live_evaluations += status.live_evaluations
                totals.episodes_closed += status.episodes_closed
        return totals
