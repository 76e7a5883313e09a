"""``replay --workers N`` (N >= 2): N symbol shards, one journal writer process, the executors in the parent.

The parent opens the run (the ``runs`` row), reads the file's header (its market and balance lines
before the first book line) to assign the symbols (``arbscan.parallel.shard_map``, printed at start), starts the
writer (``arbscan.parallel.journal_writer``) and the shards (``arbscan.parallel.shard``), and runs the paper executors
of ``--strategy`` on the shards' merged messages (``arbscan.parallel.executor_feed``). A shard's bad line fails
the run with its message (the earliest line if several shards stop on one); a shard or the writer
that dies fails it too. SIGINT/SIGTERM stop every shard at its next watermark; the journal is
flushed and the run marked ``interrupted``. ``--workers 1`` never comes here: one process is the
reference every N is compared with.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

from arbscan.config.settings import Settings
from arbscan.errors import ReplayFileError
from arbscan.parallel.executor_feed import ExecutorFeed, LineMerge, ShardTotals
from arbscan.parallel.journal_writer import WriterSpec, writer_main
from arbscan.parallel.processes import ChildLog, spawn
from arbscan.parallel.remote_store import RemoteStore
from arbscan.replay.reader import open_lines, replay_header
from arbscan.parallel.shard import ReplayShardSpec, ShardReport, replay_shard_main
from arbscan.parallel.shard_map import ShardMap
from arbscan.parallel.transport import CLOSED, Closed, PipeMux, pipe

__all__ = ["run_replay_workers", "venues_per_symbol", "Processes", "child_log", "describe_exit", "MERGE_BACKLOG"]

logger = logging.getLogger(__name__)

MERGE_BACKLOG = 20_000
"""Messages held from one shard before the parent stops reading it (the shard then waits)."""

STOP_GRACE_S = 4.0
"""How long a stopped child may take before it is killed."""


def child_log() -> ChildLog:
    """The children's logging, read off the parent's: stderr's level and the log file."""
    root = logging.getLogger()
    level, path, file_level = logging.WARNING, None, logging.INFO
    for h in root.handlers:
        if isinstance(h, logging.FileHandler):
            path, file_level = h.baseFilename, h.level or root.level
        else:
            level = h.level or root.level
    return ChildLog(level, path, file_level)


_MARKET_HEAD = re.compile(r'\{"type": "market", "exchange": "([^"\\]+)", "symbol": "([^"\\]+)"')
"""The start of a market line as ``arbscan record`` writes it."""


def venues_per_symbol(path: str | Path) -> dict[str, int]:
    """Symbol -> number of venues with a market line before the file's first book line.

    Only the venue and symbol of each line are read (a line in the recorder's layout without a JSON
    parse); the shards check every line in full and report a bad one.
    """
    venues: dict[str, set[str]] = {}
    head = _MARKET_HEAD.match
    with open_lines(path) as text:
        for raw in text:
            m = head(raw)
            if m is not None:
                exchange, symbol = m.group(1), m.group(2)
            elif raw.startswith('{"type": "book"'):
                break
            else:
                try:
                    obj = json.loads(raw) if raw.strip() else {}
                except ValueError:
                    break  # a shard names the line
                kind = obj.get("type") if isinstance(obj, dict) else None
                if kind == "book":
                    break
                if kind != "market" or not isinstance(obj.get("exchange"), str) or not isinstance(obj.get("symbol"), str):
                    continue
                exchange, symbol = obj["exchange"], obj["symbol"]
            venues.setdefault(symbol.upper(), set()).add(exchange.lower())
    return {sym: len(v) for sym, v in venues.items()}


class Processes:
    """The children of one run: started, watched, and stopped (killed after a grace period)."""

    def __init__(self) -> None:
        self.procs: dict[str, Any] = {}

    def start(self, key: str, target: Any, args: tuple[Any, ...], child_ends: list[Any]) -> Any:
        """Spawn ``target(*args)`` as ``key``; the parent's copies of ``child_ends`` are closed once it runs."""
        proc = spawn(target, args, f"arbscan-{key}")
        for end in child_ends:
            end.close()
        self.procs[key] = proc
        return proc

    def alive(self, key: str) -> bool:
        """Whether ``key`` is still running."""
        proc = self.procs.get(key)
        return proc is not None and proc.is_alive()

    def exitcode(self, key: str) -> int | None:
        """``key``'s exit code (negative: the signal that ended it)."""
        proc = self.procs.get(key)
        if proc is None:
            return None
        proc.join(timeout=0.5)
        return proc.exitcode

    def stop_all(self, grace_s: float = STOP_GRACE_S) -> None:
        """Wait up to ``grace_s`` for every child to end, then kill what is left; no child outlives this."""
        deadline = time.monotonic() + grace_s
        for proc in self.procs.values():
            proc.join(timeout=max(0.0, deadline - time.monotonic()))
        for key, proc in self.procs.items():
            if proc.is_alive():
                logger.warning("%s did not stop in time; killed", key)
                proc.kill()
                proc.join(timeout=2.0)


def describe_exit(code: int | None) -> str:
    """How a child process ended, for a person: 'exit code 3', 'killed by SIGKILL'."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def workers_for_file(settings: Settings, path: str | Path) -> Settings:
    """``settings`` with ``scanner.workers`` capped at the number of symbols of the file's header (says so).

    Every shard reads the whole file: one without a symbol would read it for nothing. A file whose
    market lines all come after its first book line has no header symbols, and keeps its N.
    """
    from dataclasses import replace

    from arbscan.scan.view import say

    requested = settings.scanner.workers
    symbols = len(venues_per_symbol(path))
    if not 0 < symbols < requested:
        return settings
    if symbols == 1:
        say(f"arbscan: replay in one process (--workers {requested} capped at the file's 1 symbol)")
    return replace(settings, scanner=replace(settings.scanner, workers=symbols))


def run_replay_workers(settings: Settings, path: Path, *, depth: int, strategies: list[str] | tuple[str, ...],
                       progress: Any = None, alerts: bool = False, timing: bool = False,
                       requested: int | None = None) -> Any:
    """Replay ``path`` with ``settings.scanner.workers`` shards; returns ``arbscan.parts.ReplayRun``.

    The result's ``scanner`` is an ``arbscan.parallel.executor_feed.ShardTotals`` whose ``reports`` are the
    shards' own; ``alerts`` (``--alerts``) runs the alert hub here, on the shards' episodes and the
    executors' trades; ``timing`` has every shard time each decision (benchmarks). ``requested``: the
    N asked for, when :func:`workers_for_file` capped it (the start line says so).
    """
    from arbscan.parts import ReplayRun, alerts_for_run, paper_executors, settings_summary
    from arbscan.funding.facts import FundingBook
    from arbscan.replay.run import ReplayResult
    from arbscan.funding.transfers import RouteTransfers
    from arbscan.scan.view import say
    from arbscan.journal.store import Store

    started = time.perf_counter()
    sc = settings.scanner
    n = sc.workers
    store = Store(sc.db)
    run_id = store.start_run("replay", str(path), settings_summary(settings, depth=depth, workers=n))
    processes = Processes()
    status = "error"
    hub = None
    try:
        counts = venues_per_symbol(path)
        shard_map = ShardMap.build(counts, n)
        venue_balances = {v.exchange: dict(v.balances) for v in settings.venues if v.balances}
        executors: list[Any] = []
        markets: dict[tuple[str, str], Any] = {}
        journal_in, journal_out = pipe()
        parent_journal = RemoteStore(journal_out, run_id, sc.db)
        funding = FundingBook(settings.transfer_overrides())  # the config's, then the file's currency lines
        if strategies:
            fallback = {ex: dict(b) for ex, b in venue_balances.items()}
            for exchange, assets in replay_header(path).items():  # the file's balance lines before its books
                fallback.setdefault(exchange, {}).update(assets)
            executors = paper_executors(settings, strategies, parent_journal, markets, fallback,
                                        RouteTransfers(funding, markets))
        if alerts:
            hub = alerts_for_run(settings, store, required=True)  # audited through the parent's own journal
            for ex in executors:
                hub.watch_executor(ex)
        chosen = tuple(ex.strategy for ex in executors)
        capped = f"--workers {requested} capped at the file's {n} symbols; " if requested and requested > n else ""
        say(f"arbscan: replay with {n} workers ({capped}symbols split by venues, stable):")
        for line in shard_map.describe(counts):
            say(f"  {line}")
        logger.info("shards: %s", shard_map.shards)
        log = child_log()
        control_in, control_out = pipe()
        report_in, report_out = pipe()
        producers: dict[Any, Any] = {"executor": journal_in}
        shard_journals = []
        for k in range(n):
            inbox, outbox = pipe()
            producers[f"shard{k + 1}"] = inbox
            shard_journals.append(outbox)
        mux = PipeMux()
        controls = []
        for k in range(n):
            spec = ReplayShardSpec(k, shard_map.shards, str(path), run_id, str(sc.db), settings, depth, chosen,
                                   max((s.latency_ms for s in chosen), default=0), episodes=hub is not None,
                                   timing=timing)
            events_in, events_out = pipe()
            shard_control_in, shard_control_out = pipe()
            processes.start(f"shard{k + 1}", replay_shard_main,
                            (spec, os.getpid(), log, shard_journals[k], events_out, shard_control_in),
                            [shard_journals[k], events_out, shard_control_in])
            mux.add(k, events_in)
            controls.append(shard_control_out)
        # the writer starts after the shards: their first rows wait in the pipes, and the shards' start-up
        # (the longer one) has the cores first
        processes.start("writer", writer_main, (WriterSpec(str(sc.db)), os.getpid(), log, control_in, producers,
                                                  report_out), [control_in, report_out, *producers.values()])
        if hub is not None:
            hub.start()
        feed = ExecutorFeed(executors, markets, funding, [hub] if hub is not None else ())
        run = _ReplayParent(n, mux, controls, processes, feed, parent_journal, progress)
        reports = run.run()
        totals = ShardTotals()
        totals.require_transferable = sc.require_transferable
        for k in range(n):
            if k in reports:
                totals.add(reports[k])
        for ex, skipped in zip(executors, totals.skipped):
            ex.skips.update(skipped)
        parent_journal.flush()
        journal_out.close()
        try:
            control_out.put(("end",))
        except Closed:
            pass  # the writer is gone: _wait_writer says so
        writer, writer_failure = None, None
        try:
            writer = _wait_writer(report_in, processes)
        except RuntimeError as exc:
            writer_failure = exc
        run.raise_failure(reports)  # a bad line first: it is what the user must fix
        if writer_failure is not None:
            raise writer_failure
        if writer.error:
            raise RuntimeError(writer.error)
        totals.writer = writer
        interrupted = run.interrupted or any(r.interrupted for r in reports.values())
        status = "interrupted" if interrupted else "ok"
        lines = max((r.lines for r in reports.values()), default=0)
        book_events = sum(r.book_events for r in reports.values())
        result = ReplayResult(lines, book_events, totals, time.perf_counter() - started, interrupted, totals.refused)
        store.end_run(status, events=book_events)
        return ReplayRun(result, run_id, executors)
    finally:
        processes.stop_all()
        if progress:
            progress.done()
        if hub is not None:
            hub.close()  # its last alerts are audited before the journal closes
        store.close(status)


def _wait_writer(report_in: Any, processes: Processes) -> Any:
    """The writer's final report, once it has committed everything (None if it died)."""
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        try:
            for item in report_in.poll():
                return item
        except Closed:
            break
        if not processes.alive("writer"):
            try:
                for item in report_in.poll():
                    return item
            except Closed:
                pass
            break
        time.sleep(0.01)
    code = processes.exitcode("writer")
    raise RuntimeError(f"the journal writer process ended without reporting ({describe_exit(code)}); "
                       "the last batches may be missing from the journal")


class _ReplayParent:
    """The parent's loop: read the shards, merge by line, feed the executors; stop on a signal or a failure."""

    def __init__(self, n: int, mux: PipeMux, controls: list[Any], processes: Processes, feed: ExecutorFeed,
                 journal: RemoteStore, progress: Any) -> None:
        self.n = n
        self.mux = mux
        self.controls = controls
        self.processes = processes
        self.feed = feed
        self.journal = journal
        self.progress = progress
        self.merge = LineMerge(n)
        self.reports: dict[int, ShardReport] = {}
        self.died: dict[int, str] = {}
        self.interrupted = False
        self.stopping = False
        self.writer_died: str | None = None
        self._marks: dict[int, tuple[float, int]] = {}

    def stop(self) -> None:
        """Ask every shard to stop at its next watermark."""
        if self.stopping:
            return
        self.stopping = True
        for out in self.controls:
            try:
                out.put(("stop",))
            except Closed:
                pass

    def run(self) -> dict[int, ShardReport]:
        """Run until every shard has reported or died; returns the reports."""
        requested: list[int] = []
        handlers = {sig: signal.signal(sig, lambda signum, frame: requested.append(signum))
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while len(self.reports) + len(self.died) < self.n:
                if requested and not self.stopping:
                    self.interrupted = True
                    self.stop()
                keys = [k for k in self.mux.keys() if self.merge.backlog(k) < MERGE_BACKLOG]
                for k, item in self.mux.wait(0.2, keys):
                    self._receive(k, item)
                for msg in self.merge.ready():
                    self.feed.apply(msg)
                self.journal.tick()
                if self.writer_died is None and not self.processes.alive("writer"):
                    self.writer_died = describe_exit(self.processes.exitcode("writer"))
                    self.stop()
            for msg in self.merge.ready():
                self.feed.apply(msg)
            last = [r.last_ts for r in self.reports.values() if r.last_ts is not None]
            self.feed.close(max(last) if last else None)
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
        return self.reports

    def _receive(self, k: int, item: Any) -> None:
        if item is CLOSED:
            if k not in self.reports:
                self.died[k] = describe_exit(self.processes.exitcode(f"shard{k + 1}"))
                self.stop()
            self.merge.finish(k)
        elif isinstance(item, ShardReport):
            self.reports[k] = item
            self.merge.finish(k)
            if item.error or item.failure or item.interrupted:
                self.stop()
        else:
            self.merge.add(k, item)
            if item and item[-1][0] == "w":
                self._marks[k] = (item[-1][3], item[-1][4])
                if self.progress is not None and len(self._marks) == self.n:
                    self.progress(min(f for f, _ in self._marks.values()), sum(e for _, e in self._marks.values()))

    def raise_failure(self, reports: dict[int, ShardReport]) -> None:
        """Raise what ended the run early: the earliest bad line, a shard's failure, a process that died."""
        bad = sorted((r.error_line or 0, r.error) for r in reports.values() if r.error)
        if bad:
            raise ReplayFileError(bad[0][1])
        if self.writer_died is not None:
            raise RuntimeError(f"the journal writer process died ({self.writer_died}); the run stopped")
        for k, r in sorted(reports.items()):
            if r.failure:
                logger.error("shard %d failed:\n%s", k + 1, r.failure)
                raise RuntimeError(f"shard {k + 1} failed: {r.failure.strip().splitlines()[-1]}")
        for k, how in sorted(self.died.items()):
            raise RuntimeError(f"shard {k + 1} died ({how}); the run stopped")

