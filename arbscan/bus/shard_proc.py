"""One shard as a process of its own, on any host: ``replay --bus URL --shard K/N`` and ``scan --bus URL --shard K/N``.

The shard runs the role of ``--workers`` unchanged (``arbscan.parallel.shard.run_replay_shard``,
``arbscan.parallel.shard_scan.run_scan_shard``) with two :class:`arbscan.bus.outbox.BusOutbox` in place of the
local pipes: its journal batches go to the journal stream, its messages for the executor (routes
with their books, book updates, watermarks, its report) to the routes stream. Which symbols are its
own is the rule of ``--workers`` (``arbscan.parallel.shard_map``) over the same symbols, so every host computes
the same split.

A run is named (``--run NAME``, else :func:`run_name`: the replay file's contents, the settings and N;
a scan's settings and N), so the shards of one run, started on different hosts, and a shard started
again, all meet in one ``runs`` row. A replay shard cuts its batches by line position alone, so a
restarted replay shard sends the very batches it sent before, under the same ids: JetStream and the
journal consumer drop what was already stored. A scan shard is not repeatable: each of its processes
sends under a name of its own (``shard2@host-pid-time``).

A scan's shard 1 also asks the venues for the funding facts of every symbol's assets, journals them and
shares them with the run's other shards and executors (``arbscan.bus.funding``).

The shards send every route some configured ``[[strategies]]`` entry accepts, and book updates for the
largest ``latency_ms`` among them: give the shards the executor's strategies.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from arbscan.bus.connection import Bus
from arbscan.bus.funding import FundingShare
from arbscan.bus.heartbeat import Heartbeat
from arbscan.bus.outbox import BusOutbox
from arbscan.bus.subjects import JOURNAL_SUBJECT, routes_subject
from arbscan.config.settings import Settings
from arbscan.errors import BadInput
from arbscan.parallel.shard import ReplayShardSpec, ShardReport, run_replay_shard
from arbscan.parallel.shard_map import ShardMap
from arbscan.parallel.transport import Closed, pipe

__all__ = ["parse_shard", "run_name", "run_replay_shard_on_bus", "run_scan_shard_on_bus", "ROUTES_BOUND"]

logger = logging.getLogger(__name__)

ROUTES_BOUND = 10_000
"""Executor messages a shard holds while NATS is away (a replay then waits; a scan drops the oldest)."""


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` (1 <= K <= N) as (K - 1, N); ``ValueError`` naming what is wrong."""
    k, sep, n = text.strip().partition("/")
    if not sep or not k.strip().isdigit() or not n.strip().isdigit():
        raise ValueError(f"must be K/N, this shard's number and the number of shards (e.g. 1/2), got {text!r}")
    kk, nn = int(k), int(n)
    if nn < 1 or not 1 <= kk <= nn:
        raise ValueError(f"K must be between 1 and N, got {text!r}")
    return kk - 1, nn


def _digest(*parts: Any) -> str:
    h = hashlib.sha1()
    for part in parts:
        h.update(json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()[:10]


def _file_digest(path: Path, chunk: int = 1 << 20) -> str:
    """The file's size and the SHA-1 of its first and last MiB: the same file on every host, read quickly."""
    size = path.stat().st_size
    h = hashlib.sha1(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(chunk))
        if size > chunk:
            f.seek(max(chunk, size - chunk))
            h.update(f.read(chunk))
    return h.hexdigest()[:10]


def run_name(mode: str, settings: Settings, n: int, path: Path | None = None, depth: int | None = None) -> str:
    """The default name of a run: the mode, the replay file's contents (a replay), the settings and N."""
    from arbscan.parts import settings_summary

    summary = settings_summary(settings, depth=depth)
    summary.pop("config", None)  # the same settings from another file (another host) are the same run
    if path is not None:
        return f"{mode}-{path.name}-{_file_digest(path)}-{_digest(summary)}-n{n}"
    return f"{mode}-{_digest(summary)}-n{n}"


def _strategies(settings: Settings) -> tuple[Any, ...]:
    return tuple(settings.strategies)


def _window_ms(settings: Settings) -> int:
    return max((s.latency_ms for s in settings.strategies), default=0)


def _outboxes(bus: Bus, run: str, producer: str, k: int, n: int, settings: Settings, live: bool) -> tuple[BusOutbox, BusOutbox]:
    header = {"shard": k, "of": n}
    bound = settings.bus.buffer_rows if settings.bus is not None else 100_000
    journal = BusOutbox(bus, JOURNAL_SUBJECT, run, producer, kind="journal", bound=bound,
                        when_full="keep" if live else "wait", header=header)
    routes = BusOutbox(bus, routes_subject(k), run, producer, kind="routes", bound=ROUTES_BOUND,
                       when_full="drop" if live else "wait", header=header)
    return journal, routes


def _close(outboxes: tuple[BusOutbox, ...], bus: Bus, say: Callable[[str], None]) -> None:
    """Wait until NATS has stored everything; say what it waits for (a second Ctrl-C gives up)."""
    for box in outboxes:
        if box.close(timeout=1.0):
            continue
        say(f"arbscan: {bus.role}: waiting for NATS at {bus.url} to store {box.held:,} "
            f"{'rows' if box.kind == 'journal' else 'messages'} (Ctrl-C again gives up on them)")
        box.close()


class _SignalStop:
    """The control inbox of a replay shard here: a stop once SIGINT or SIGTERM arrived."""

    def __init__(self) -> None:
        self.stop: list[int] = []

    def poll(self) -> list[Any]:
        return [("stop",)] if self.stop else []

    def close(self) -> None:
        pass


def _end_status(report: ShardReport) -> str:
    if report.error or report.failure:
        return "error"
    return "interrupted" if report.interrupted else "ok"


def _slim(report: ShardReport) -> ShardReport:
    """What the executor needs of a report (its funnels and feeds go to the journal, not to the executor)."""
    return replace(report, funnels={}, feeds={}, markets={})


def run_replay_shard_on_bus(settings: Settings, path: Path, shard: tuple[int, int], *, run: str | None, depth: int,
                            say: Callable[[str], None], alerts: bool = False) -> tuple[ShardReport, str]:
    """Replay this shard's symbols of ``path`` onto the bus; returns its report and the run's name.

    ``alerts`` (``--alerts``): send the episode events too; the executor sends the ``[[alerts]]`` of the run.
    """
    from arbscan.replay.reader import replay_header
    from arbscan.parallel.replay_workers import venues_per_symbol

    k, n = shard
    counts = venues_per_symbol(path)
    shard_map = ShardMap.build(counts, n)
    run = run or run_name("replay", settings, n, path, depth)
    bus = Bus(settings.bus, f"shard {k + 1}/{n}", say).start()
    bus.waiting_for = "NATS (journal batches and routes are held meanwhile)"
    journal, routes = _outboxes(bus, run, f"shard{k + 1}", k, n, settings, live=False)
    say(f"arbscan: {shard_map.describe(counts)[k]} (run {run})")
    from arbscan.parts import settings_summary

    journal.announce("start", {"mode": "replay", "source": str(path), "host": socket.gethostname(),
                               "settings": settings_summary(settings, depth=depth, bus_shards=n), "started": time.time()})
    routes.announce("start", {"mode": "replay", "balances": replay_header(path),
                              "strategies": [s.name for s in settings.strategies], "window_ms": _window_ms(settings),
                              "alerts": alerts})
    spec = ReplayShardSpec(k, shard_map.shards, str(path), None, None, settings, depth, _strategies(settings),
                           _window_ms(settings), episodes=alerts, flush_interval=0.0)
    control = _SignalStop()
    handlers = {sig: signal.signal(sig, lambda signum, frame: control.stop.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    beat = Heartbeat(bus, run, k, n, "replay", lambda: {"held_rows": journal.held, "events": 0}).start()
    try:
        report = run_replay_shard(spec, journal, routes, control)
        routes.announce("report", _slim(report))
        journal.announce("end", {"status": _end_status(report), "events": report.book_events, "lines": report.lines})
        for sig, handler in handlers.items():
            signal.signal(sig, handler)  # a second Ctrl-C while waiting for NATS gives up
        _close((journal, routes), bus, say)
    finally:
        beat.stop()
        bus.close()
    report.rows_sent = journal.stats.published
    logger.info("shard %d/%d: journal %s; routes %s", k + 1, n, journal.stats, routes.stats)
    say(f"arbscan: shard {k + 1}/{n}: {report.book_events:,} book events; journal: {journal.seq:,} batches "
        f"({journal.stats.duplicates:,} already stored), at most {journal.stats.max_rows:,} rows held for NATS "
        f"(bus.buffer_rows {journal.bound:,}; a replay waits there and drops nothing)")
    return report, run


class _Rows:
    """An outbox that keeps what it is given (a ``RemoteStore`` over it builds rows and sends nothing)."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    def put(self, item: Any) -> None:
        self.items.append(item)


def stale_work(episodes: list[Any], clock: float | None) -> list[Any]:
    """The journal rows that would close ``episodes`` as ``stale`` (shard_died) at ``clock``, as the shard writes them."""
    import copy

    from arbscan.parallel.remote_store import RemoteStore

    kept = _Rows()
    store = RemoteStore(kept, None)
    for ep in episodes:
        ep = copy.copy(ep)
        ep.closed_at, ep.close_reason, ep.close_detail = clock, "stale", "shard_died"
        store.record_episode(ep)
    store.send()
    return [[op, table, rows, list(pk) if isinstance(pk, tuple) else pk] for item in kept.items
            for op, table, rows, pk in item]


class _ScanEvents:
    """The events outbox of a scan shard: status reports feed the heartbeat and tell the journal consumer the open
    episodes (it closes them ``stale`` if this shard's heartbeat goes), unreachable venues are said here, the rest
    goes to the executor."""

    def __init__(self, routes: BusOutbox, on_unreachable: Callable[[str, str, float], None],
                 journal: BusOutbox | None = None) -> None:
        self.routes = routes
        self.journal = journal
        self.on_unreachable = on_unreachable
        self.status: Any = None

    def put(self, item: Any) -> None:
        if isinstance(item, ShardReport):
            self.routes.announce("report", _slim(item))
            return
        out = []
        for msg in item:
            if msg[0] == "s":
                self.status = msg[2]
                if self.journal is not None:
                    st = msg[2]
                    self.journal.announce("open", {"clock": st.clock, "work": stale_work(st.open_episodes, st.clock)})
            elif msg[0] == "u":
                self.on_unreachable(msg[2], msg[3], msg[4])
            else:
                out.append(msg)
        if out:
            self.routes.put(out)

    def close(self) -> None:
        pass


async def run_scan_shard_on_bus(settings: Settings, shard: tuple[int, int], *, run: str | None, duration: float | None,
                                say: Callable[[str], None], on_unreachable: Callable[[str, str, float], None]
                                ) -> tuple[ShardReport, str]:
    """Scan this shard's symbols onto the bus until SIGINT/SIGTERM or ``duration``; returns its report and run."""
    from arbscan import parts
    from arbscan.parallel.shard_scan import ScanShardSpec, run_scan_shard

    k, n = shard
    sc = settings.scanner
    counts = {sym: len(settings.venues) for sym in sc.symbols}
    shard_map = ShardMap.build(counts, n)
    if not shard_map.shards[k]:
        raise BadInput(f"--shard {k + 1}/{n}: scanner.symbols has {len(sc.symbols)} symbol(s); shard {k + 1} would have none")
    run = run or run_name("scan", settings, n)
    bus = Bus(settings.bus, f"shard {k + 1}/{n}", say).start()
    bus.waiting_for = "NATS (journal batches are held meanwhile)"
    producer = f"shard{k + 1}@{socket.gethostname()}-{os.getpid()}-{int(time.time())}"
    journal, routes = _outboxes(bus, run, producer, k, n, settings, live=True)
    say(f"arbscan: {shard_map.describe(counts)[k]} (run {run})")
    journal.announce("start", {"mode": "scan", "source": ",".join(v.exchange for v in settings.venues),
                               "host": socket.gethostname(), "started": time.time(),
                               "settings": parts.settings_summary(settings, bus_shards=n)})
    routes.announce("start", {"mode": "scan", "balances": {}, "strategies": [s.name for s in settings.strategies],
                              "window_ms": _window_ms(settings), "alerts": bool(settings.alerts)})
    events = _ScanEvents(routes, on_unreachable, journal)
    control_in, control_out = pipe()
    asks = k == 0 and sc.transfer_refresh_s > 0  # shard 1 asks the venues for every symbol's funding facts
    spec = ScanShardSpec(k, shard_map.shards, settings, None, None, parts.build_adapters, _strategies(settings),
                         _window_ms(settings), episodes=bool(settings.alerts), driver_options=dict(parts.DRIVER_OPTIONS),
                         status_s=sc.status_interval_ms / 1000, ask_funding=asks)
    loop = asyncio.get_running_loop()

    def facts_from_bus(set_id: int, facts: Any) -> None:  # on the bus loop: to the shard's scanner, on this loop
        def give() -> None:
            try:
                control_out.put(("funding", facts, set_id))
            except Closed:
                pass

        loop.call_soon_threadsafe(give)

    share = FundingShare(bus, run, facts_from_bus).start()

    def stop() -> None:
        try:
            control_out.put(("stop",))
        except Closed:
            pass

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    if duration:
        loop.call_later(duration, stop)

    def info() -> dict[str, Any]:
        st = events.status
        return {"held_rows": journal.held, "producer": producer, "events": st.events if st is not None else 0,
                "live_evaluations": st.live_evaluations if st is not None else 0}

    beat = Heartbeat(bus, run, k, n, "scan", info).start()
    try:
        report = await run_scan_shard(spec, journal, events, control_in, share.publish if asks else None)
        events.put(report)
        journal.announce("end", {"status": "ok", "events": report.book_events})
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await loop.run_in_executor(None, _close, (journal, routes), bus, say)
        if asks:
            await loop.run_in_executor(None, share.flush, 5.0)
    finally:
        share.stop()
        beat.stop()
        bus.close()
        control_in.close()
        control_out.close()
    return report, run
