"""The commands of a multi-host deployment, as ``arbscan.cli.command`` calls them: checks first, then the role.

* ``replay FILE --bus URL --shard K/N`` and ``scan --bus URL --shard K/N``: one shard (``arbscan.bus.shard_proc``);
* ``journal --bus URL --db PATH``: the journal consumer (``arbscan.bus.journal_consumer``);
* ``execute --bus URL --strategy NAME [--live] [--shards LIST]``: the executor (``arbscan.bus.executor_proc``);
* ``status`` and ``resume`` with a bus: the live shards, and the halts in the key-value bucket.

The bus URL comes from ``--bus`` or ``[bus] url``; a bad one, or a bad ``--shard``, is a one-line error (exit 2).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from arbscan.config.settings import Settings
from arbscan.errors import BadInput

__all__ = ["with_bus", "bus_flag", "shard_flags", "add_journal", "run_journal", "add_execute", "run_execute",
           "check_shard_command", "run_replay_shard_command", "run_scan_shard_command",
           "run_journal_command", "run_execute_command", "bus_status_lines", "resume_on_bus"]

logger = logging.getLogger(__name__)


def with_bus(settings: Settings, url: str | None) -> Settings:
    """``settings`` with ``--bus URL`` applied (checked: ``BadInput`` naming the flag)."""
    from arbscan.config.bus import BusConfig, bus_url
    from arbscan.errors import ConfigError

    if url is None:
        return settings
    try:
        checked = bus_url("--bus", url)
    except ConfigError as exc:
        raise BadInput(str(exc)) from None
    return replace(settings, bus=replace(settings.bus or BusConfig(), url=checked))


# -- the flags and the two commands, as arbscan.cli.command registers them --------------------------------


def _shard_arg(text: str) -> tuple[int, int]:
    from arbscan.bus.shard_proc import parse_shard

    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def bus_flag(p: argparse.ArgumentParser) -> None:
    """``--bus URL`` (scan, replay, journal, execute, status, resume)."""
    p.add_argument("--bus", metavar="URL",
                   help="the NATS servers of a multi-host deployment, nats://HOST:4222[,...] (default: [bus] url)")


def shard_flags(p: argparse.ArgumentParser) -> None:
    """``--bus``, ``--shard K/N`` and ``--run NAME`` (scan and replay)."""
    bus_flag(p)
    p.add_argument("--shard", type=_shard_arg, metavar="K/N",
                   help="run shard K of N on the bus (its symbols by the rule of --workers); see 'Beyond one machine'")
    p.add_argument("--run", metavar="NAME",
                   help="with --shard: the run's name on the bus (default: made of the replay file or the settings, and N)")


def add_journal(p: argparse.ArgumentParser) -> None:
    """``journal``'s flags."""
    bus_flag(p)


def run_journal(args: argparse.Namespace, settings: Settings) -> int:
    """``journal``."""
    return run_journal_command(settings)


def add_execute(p: argparse.ArgumentParser) -> None:
    """``execute``'s flags."""
    bus_flag(p)
    p.add_argument("--strategy", action="append", metavar="NAME",
                   help="trade this [[strategies]] entry (repeatable; --live: exactly one)")
    p.add_argument("--live", action="store_true",
                   help="place REAL paired orders (API keys for every venue it trades; --db: its own journal on this host)")
    p.add_argument("--validate-orders", action="store_true",
                   help="with --live: Kraken checks every order with validate=true and executes none")
    p.add_argument("--shards", type=_shards_arg, metavar="LIST",
                   help="follow and trade only the routes of these shards (K of --shard K/N: 1,3-5); another executor "
                        "may trade the same strategy on the others (default: every shard)")


def parse_shards(text: str) -> frozenset[int]:
    """``1,3-5`` as the 0-based shard numbers {0, 2, 3, 4}; ``ValueError`` naming what is wrong."""
    out: set[int] = set()
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        if not lo.strip().isdigit() or (sep and not hi.strip().isdigit()):
            raise ValueError(f"must be shard numbers and ranges, as 1,3-5, got {text!r}")
        a, b = int(lo), int(hi) if sep else int(lo)
        if a < 1 or b < a:
            raise ValueError(f"shard numbers start at 1 and a range goes up (3-5), got {text!r}")
        out.update(range(a - 1, b))
    return frozenset(out)


def _shards_arg(text: str) -> frozenset[int]:
    try:
        return parse_shards(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run_execute(args: argparse.Namespace, settings: Settings) -> int:
    """``execute``."""
    if getattr(args, "db", None) and not args.live:
        raise BadInput("--db: a paper executor on the bus journals through the journal consumer; --db is --live's own journal")
    return run_execute_command(settings, args.strategy or [], live=args.live, validate_orders=args.validate_orders,
                               shards=getattr(args, "shards", None))


def _require_url(settings: Settings, command: str) -> None:
    if settings.bus is None or not settings.bus.url:
        raise BadInput(f"{command} needs the bus: --bus nats://HOST:4222 (or [bus] url in the config)")


def check_shard_command(settings: Settings, args: Any, command: str) -> bool:
    """Whether ``scan`` / ``replay`` runs as one shard on the bus; ``BadInput`` for flags that do not go together."""
    shard = getattr(args, "shard", None)
    if shard is None:
        if getattr(args, "bus", None):
            raise BadInput(f"--bus: '{command}' on the bus runs one shard: add --shard K/N (this shard of N)")
        if getattr(args, "run", None):
            raise BadInput("--run names a run on the bus: it needs --shard K/N")
        return False
    _require_url(settings, f"--shard {shard[0] + 1}/{shard[1]}")
    if settings.conversions and shard[1] > 1:
        raise BadInput(f"--shard {shard[0] + 1}/{shard[1]}: [[conversions]] need every symbol's books in one scanner; "
                       "run one shard (--shard 1/1) or remove [[conversions]]")
    if settings.scanner.workers > 1:
        raise BadInput("--shard runs one shard of N; --workers splits symbols on this host: use one of them")
    if getattr(args, "strategy", None):
        raise BadInput("--strategy: on the bus the executor trades: arbscan execute --bus URL --strategy NAME")
    if getattr(args, "live", False):
        raise BadInput("--live: on the bus the executor trades: arbscan execute --bus URL --strategy NAME --live")
    if getattr(args, "alerts", False) and not settings.alerts:
        raise BadInput("--alerts: no [[alerts]] destination is configured")
    if getattr(args, "run", None) is not None and not args.run.strip():
        raise BadInput("--run: the name must not be empty")
    return True


def run_replay_shard_command(settings: Settings, path: Path, shard: tuple[int, int], *, run: str | None,
                             depth: int, alerts: bool = False) -> int:
    """``replay FILE --bus URL --shard K/N``; exit code as ``arbscan replay``'s."""
    from arbscan.parts import check_replay_args
    from arbscan.bus.shard_proc import run_replay_shard_on_bus
    from arbscan.config.checks import check_settings, replay_markets
    from arbscan.scan.view import say

    check_replay_args(path, depth)
    for line in check_settings(settings, "replay", replay=replay_markets(path)):
        say(f"arbscan: warning: {line}")
    report, run_key = run_replay_shard_on_bus(settings, path, shard, run=run, depth=depth, say=say,
                                             alerts=alerts)
    if report.error:
        from arbscan.errors import ReplayFileError

        raise ReplayFileError(report.error)
    if report.failure:
        logger.error("shard failed:\n%s", report.failure)
        raise RuntimeError(f"shard {shard[0] + 1} failed: {report.failure.strip().splitlines()[-1]}")
    if report.interrupted:
        print(f"arbscan: shard {shard[0] + 1}/{shard[1]} of run {run_key} interrupted at line {report.lines:,}; "
              "what it sent is journaled", file=sys.stderr)
        return 130
    print(f"shard {shard[0] + 1}/{shard[1]} of run {run_key}: {report.lines:,} lines, {report.book_events:,} book "
          f"events, {report.live_evaluations:,} live evaluations, {report.episodes_closed:,} episodes, "
          f"in {report.seconds:.2f} s")
    return 0


def run_scan_shard_command(settings: Settings, shard: tuple[int, int], *, run: str | None,
                           duration: float | None) -> int:
    """``scan --bus URL --shard K/N`` until Ctrl-C, SIGTERM or ``--duration``."""
    from arbscan.parts import UnreachableLines
    from arbscan.bus.shard_proc import run_scan_shard_on_bus
    from arbscan.config.checks import check_settings
    from arbscan.scan.view import say

    if not settings.venues:
        raise BadInput("venues: none configured")
    for line in check_settings(settings, "scan"):
        say(f"arbscan: warning: {line}")
    report, run_key = asyncio.run(run_scan_shard_on_bus(settings, shard, run=run, duration=duration, say=say,
                                                        on_unreachable=UnreachableLines()))
    print(f"shard {shard[0] + 1}/{shard[1]} of run {run_key} stopped: {report.events:,} book events, "
          f"{report.live_evaluations:,} live evaluations, {report.episodes_closed:,} episodes")
    return 0


def run_journal_command(settings: Settings) -> int:
    """``journal --bus URL --db PATH``: commit the journal stream into the journal until Ctrl-C / SIGTERM."""
    from arbscan.bus.connection import Bus
    from arbscan.bus.journal_consumer import journal_main
    from arbscan.journal.file import check_journal
    from arbscan.scan.view import say

    _require_url(settings, "journal")
    db = settings.scanner.db
    check_journal(db, write=True)
    bus = Bus(settings.bus, "journal", say).start()  # says "committing ..." once it reads the stream
    try:
        consumer = journal_main(bus, str(db), say)
    finally:
        bus.close()
    print(f"journal: {consumer.rows:,} rows in {consumer.batches:,} commits into {db}; "
          f"{consumer.repeats:,} repeated batches dropped")
    return 0


def run_execute_command(settings: Settings, strategies: list[str], *, live: bool, validate_orders: bool,
                        shards: frozenset[int] | None = None) -> int:
    """``execute --bus URL --strategy NAME [--live]``: trade the shards' routes until Ctrl-C / SIGTERM."""
    from arbscan.scan.view import say

    _require_url(settings, "execute")
    if settings.conversions:
        raise BadInput("execute: the bus executor does not trade cross-quote routes (their three books do not reach "
                       "it); remove [[conversions]] from this executor's config to trade the same-symbol routes, or "
                       "trade them in one process (scan or replay --strategy)")
    if not strategies:
        raise BadInput("execute: name the strategy to trade: --strategy NAME (a [[strategies]] entry)")
    for name in strategies:
        settings.strategy(name)  # ConfigError naming the known ones
    if validate_orders and not live:
        raise BadInput("--validate-orders needs --live (it is the last step before live orders)")
    if live:
        from arbscan.bus.executor_live import run_live_executor

        return asyncio.run(run_live_executor(settings, strategies, validate_orders=validate_orders, say=say,
                                             shards=shards))
    return asyncio.run(_run_paper_executor(settings, strategies, say, shards))


def shards_text(shards: frozenset[int] | None) -> str:
    """`` (shards 1, 3-5)`` for the following line, empty for every shard."""
    if shards is None:
        return ""
    parts, run = [], []
    for k in sorted(shards) + [-2]:
        if run and k != run[-1] + 1:
            parts.append(f"{run[0] + 1}" if len(run) == 1 else f"{run[0] + 1}-{run[-1] + 1}")
            run = []
        run.append(k)
    return f" (shard{'s' if len(shards) > 1 else ''} {', '.join(parts)})"


async def _run_paper_executor(settings: Settings, strategies: list[str], say: Any,
                              shards: frozenset[int] | None = None) -> int:
    import signal

    from arbscan.parts import paper_executors
    from arbscan.bus.connection import Bus
    from arbscan.bus.executor_proc import BusExecutor
    from arbscan.funding.transfers import RouteTransfers

    def make(journal: Any, markets: Any, funding: Any, fallback: Any) -> list[Any]:
        return paper_executors(settings, strategies, journal, markets, fallback, RouteTransfers(funding, markets))

    for name in strategies:  # no starting balances at all is bad input now, not at the first run
        strategy = settings.strategy(name)
        if not strategy.balances and not any(v.balances for v in settings.venues):
            say(f"arbscan: warning: strategy {name!r} has no balances in the config; a replay's balance lines "
                "must give them")
    bus = Bus(settings.bus, "executor", say).start()
    executor = BusExecutor(bus, settings, strategies, make, say, shards=shards)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await executor.follow(f"arbscan: executor: paper-trading {', '.join(strategies)} on the routes at {settings.bus.url}"
                          + shards_text(shards), stop)
    try:
        while not stop.is_set() and not executor.lost:
            for seq, data in await executor.next_messages(0.1):
                executor.handle(seq, data)
            executor.tick()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if not await loop.run_in_executor(None, executor.close, 30.0):
            say("arbscan: executor: NATS did not store every row in 30 s; the rest is lost with this process")
        bus.close()
    for run, executors in executor.ended:
        for ex in executors:
            why = ", ".join(f"{reason} {n}" for reason, n in sorted(ex.skips.items())) or "none"
            print(f"run {run}: {ex.name}: taken {ex.taken}; skipped: {why}")
    return 1 if executor.lost else 0


def bus_status_lines(settings: Settings, timeout: float = 3.0) -> list[str]:
    """``status`` with a bus: the shards alive now and the halts in the bucket (a line saying so when NATS is away)."""
    from arbscan.bus.connection import Bus
    from arbscan.bus.halts import bus_halts
    from arbscan.bus.heartbeat import live_shards, shard_lines

    bus = Bus(settings.bus, "status", say=lambda line: None).start()
    try:
        try:
            beats = live_shards(bus, timeout)
            halts = bus_halts(bus, timeout)
        except (TimeoutError, Exception) as exc:  # noqa: BLE001 - status reports what it can
            return [f"bus: NATS at {settings.bus.url} cannot be reached ({type(exc).__name__}); shards unknown"]
        lines = shard_lines(beats, time.time())
        lines.append("halts on the bus: " + ("; ".join(h["reason"] for h in halts) if halts else "none"))
        return lines
    finally:
        bus.close()


class ShardWatch:
    """``serve --bus``: the live shards' heartbeats on demand, on one connection kept open until :meth:`close`.

    Calling it returns ``(beats, note)``: the heartbeats of every shard alive now and an empty note, or no
    beats and a one-line note saying why (NATS away), so the page says it instead of showing no shard.
    """

    def __init__(self, settings: Settings, timeout: float = 3.0) -> None:
        from arbscan.bus.connection import Bus

        self.url = settings.bus.url
        self.timeout = timeout
        self.bus = Bus(settings.bus, "serve", say=lambda line: None).start()

    def __call__(self) -> tuple[list[dict[str, Any]], str]:
        from arbscan.bus.heartbeat import live_shards

        try:
            return live_shards(self.bus, self.timeout), ""
        except Exception as exc:  # noqa: BLE001 - the page reports what it can
            return [], f"NATS at {self.url} cannot be reached ({type(exc).__name__}); shards unknown"

    def close(self) -> None:
        self.bus.close()


def resume_on_bus(settings: Settings, by: str) -> list[dict[str, Any]]:
    """Clear every halt in the bus's bucket (``arbscan resume`` with a bus); returns those cleared."""
    from arbscan.bus.connection import Bus
    from arbscan.bus.halts import clear_bus_halts

    bus = Bus(settings.bus, "resume").start()
    try:
        if not bus.wait_connected(10.0):
            raise BadInput(f"resume: NATS at {settings.bus.url} cannot be reached; the halts on the bus are not cleared")
        return clear_bus_halts(bus, by)
    finally:
        bus.close()
