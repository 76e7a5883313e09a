"""The ``arbscan`` command: arguments and logging only; ``arbscan.app`` builds and runs what a command does.

This is the only module that configures logging. Exit codes: 0 success (a scan stopped with
Ctrl-C is a success), 2 bad input (config, arguments, files) with one line ``arbscan: error: ...``
on stderr, 1 an unexpected failure (or a ``record`` that recorded nothing: no file is written then),
130 a replay or record interrupted by Ctrl-C / SIGTERM.

Adding a subcommand: write ``_add_<name>(parser)`` (its own flags) and ``_run_<name>(args,
settings) -> int``, then append ``Command("<name>", "<help>", _add_<name>, _run_<name>, <common
flags>)`` to ``COMMANDS``: ``--config``, ``-v`` and ``--log-file`` are every command's, the others
(``--db``, ``--min-bps``, ``--max-age-ms``) only where listed; common flags work before or after the
command's name. ``settings`` already has the common overrides applied; raise ``BadInput`` for
anything the user must fix.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from arbscan import __version__
from arbscan.config import Settings, load_settings
from arbscan.errors import AuthError, BadInput

__all__ = ["main", "Command", "COMMANDS", "build_parser"]

logger = logging.getLogger(__name__)


JOURNAL_FLAGS = ("--db",)
SCANNER_FLAGS = ("--db", "--min-bps", "--max-age-ms")
"""Common flags a command may take besides ``--config``, ``-v`` and ``--log-file`` (which every command takes)."""


@dataclass(frozen=True, slots=True)
class Command:
    """One subcommand: its name, one-line help, a function adding its flags, the function running it, and
    which of the common flags it uses (``--db``, ``--min-bps``, ``--max-age-ms``)."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Settings], int]
    common: tuple[str, ...] = SCANNER_FLAGS
    reads_config: bool = True  # False: the command gets the defaults (init writes the file --config names)


class _Parser(argparse.ArgumentParser):
    """argparse with the contract's one-line error and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"arbscan: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


# -- shared helpers ---------------------------------------------------------------------------


def _decimal_arg(text: str) -> Decimal:
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not d.is_finite():
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return d


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return n


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive, finite number of seconds: {text!r}")
    return seconds


_COMMON_FLAGS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "--config": (("--config",), {"metavar": "FILE", "help": "settings file (default ./arbscan.toml when it exists)"}),
    "--db": (("--db",), {"metavar": "PATH", "help": "SQLite journal (default: scanner.db, 'arbscan.db')"}),
    "--min-bps": (("--min-bps",), {"type": _decimal_arg, "metavar": "N",
                                   "help": "a route is live at net_bps >= N (default: scanner.min_net_bps, 0)"}),
    "--max-age-ms": (("--max-age-ms",), {"type": _positive_int, "metavar": "N",
                                         "help": "books older than N ms are stale (default: scanner.max_book_age_ms, 2000)"}),
    "--verbose": (("-v", "--verbose"), {"action": "count", "help": "more log output (-vv for debug)"}),
    "--log-file": (("--log-file",), {"metavar": "FILE", "help": "also write the log to FILE (info level, with -v or not)"}),
}
_EVERY_COMMAND = ("--config", "--verbose", "--log-file")


def _common(parser: argparse.ArgumentParser, flags: Sequence[str], *, before_command: bool) -> None:
    """Add the common ``flags``: on the main parser (before the command) or on a command's (after it).

    A command's copies default to SUPPRESS so a value given before the command is not overwritten.
    """
    for flag in flags:
        names, kw = _COMMON_FLAGS[flag]
        default = (0 if flag == "--verbose" else None) if before_command else argparse.SUPPRESS
        parser.add_argument(*names, default=default, **kw)


def _check_common(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """A common flag given before a command that does not use it is an error, as it is after it."""
    cmd: Command = args._command
    for flag in _COMMON_FLAGS:
        if flag in _EVERY_COMMAND or flag in cmd.common:
            continue
        if getattr(args, flag.lstrip("-").replace("-", "_"), None) is not None:
            parser.error(f"{flag} does not apply to '{cmd.name}'")


def _apply_overrides(settings: Settings, args: argparse.Namespace) -> Settings:
    sc = settings.scanner
    changes: dict[str, Any] = {}
    if getattr(args, "db", None):
        changes["db"] = args.db
    if getattr(args, "min_bps", None) is not None:
        changes["min_net_bps"] = args.min_bps
    if getattr(args, "max_age_ms", None) is not None:
        changes["max_book_age_ms"] = args.max_age_ms
    if getattr(args, "workers", None) is not None:
        changes["workers"] = args.workers
    settings = replace(settings, scanner=replace(sc, **changes)) if changes else settings
    if getattr(args, "bus", None):
        from arbscan.bus.commands import with_bus

        settings = with_bus(settings, args.bus)
    return settings


def _workers_arg(text: str) -> int:
    from arbscan.config import workers_value
    from arbscan.errors import ConfigError

    try:
        return workers_value("--workers", text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--workers: ")) from None


def _workers_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=_workers_arg, metavar="N|auto",
                   help="split the symbols over N processes (auto: one per core; default: scanner.workers, 1)")


def _shard_arg(text: str) -> tuple[int, int]:
    from arbscan.bus.shard_proc import parse_shard

    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _bus_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bus", metavar="URL",
                   help="the NATS servers of a multi-host deployment, nats://HOST:4222[,...] (default: [bus] url)")


def _shard_flags(p: argparse.ArgumentParser) -> None:
    _bus_flag(p)
    p.add_argument("--shard", type=_shard_arg, metavar="K/N",
                   help="run shard K of N on the bus (its symbols by the rule of --workers); see 'Beyond one machine'")
    p.add_argument("--run", metavar="NAME",
                   help="with --shard: the run's name on the bus (default: made of the replay file or the settings, and N)")


def _strategy_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strategy", action="append", metavar="NAME",
                   help="paper-trade this [[strategies]] entry (repeatable; default: scan only, no strategy)")


def _configure_logging(verbose: int, log_file: str | None) -> None:
    """stderr at warning level (-v info, -vv debug); ``--log-file`` at info level (debug with -vv) by itself."""
    from arbscan.status import console_handler

    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    file_level = logging.DEBUG if verbose >= 2 else logging.INFO
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = console_handler()
    handler.setLevel(level)
    root.addHandler(handler)
    lowest = level
    if log_file:
        fh = logging.FileHandler(log_file, encoding="utf-8")
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        fh.setLevel(file_level)
        root.addHandler(fh)
        lowest = min(level, file_level)
    root.setLevel(lowest)
    for noisy in ("websockets", "asyncio", "ccxt", "urllib3", "aiohttp"):
        logging.getLogger(noisy).setLevel(max(lowest, logging.WARNING))
    # Without -v the user sees one line per unreachable venue (the live driver's), not every retry
    # the adapters make inside one attempt; -v (or a log file) shows the adapters' warnings too.
    logging.getLogger("adapters").setLevel(lowest if verbose > 0 or log_file else logging.ERROR)


# -- replay ------------------------------------------------------------------------------------


def _add_replay(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", metavar="FILE",
                   help="replay file (.jsonl or .jsonl.gz); default: the bundled real BitMEX/Deribit minute")
    p.add_argument("--depth", type=int, default=None, metavar="N",
                   help="levels per side handed to the scanner (default: scanner.book_depth; 0 = all)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    _strategy_arg(p)
    _workers_flag(p)
    _shard_flags(p)
    p.add_argument("--alerts", action="store_true",
                   help="send the [[alerts]] destinations' alerts on the file's clock (off: backtests do not spam)")


def _run_replay(args: argparse.Namespace, settings: Settings) -> int:
    from arbscan.app import run_replay_command
    from arbscan.replay import demo_path
    from arbscan.status import Progress
    from arbscan.summary import fees_line, print_feeds, print_funnel, print_summaries

    path = Path(args.file) if args.file else demo_path()
    sc = settings.scanner
    depth = sc.book_depth if args.depth is None else args.depth
    from arbscan.bus.commands import check_shard_command, run_replay_shard_command

    if check_shard_command(settings, args, "replay"):
        return run_replay_shard_command(settings, path, args.shard, run=args.run, depth=depth)
    progress = None if args.no_progress else Progress(f"replay {path.name}")
    run = run_replay_command(settings, path, depth=depth, strategies=args.strategy or [], progress=progress,
                             alerts=args.alerts)
    result = run.result
    if result.interrupted:
        print(f"arbscan: replay interrupted at line {result.lines:,}; the journal keeps everything up to there "
              f"({sc.db}, run {run.run_id})", file=sys.stderr)
        return 130
    out = sys.stdout
    scanner = result.scanner
    print(f"replayed {path} ({result.book_events:,} book events, {result.lines:,} lines) in {result.seconds:.2f} s", file=out)
    print(f"taker fees: {fees_line(scanner)}; live at net >= {sc.min_net_bps} bps; books stale after {sc.max_book_age_ms} ms", file=out)
    print(f"opportunities: {scanner.live_evaluations:,} live evaluations in {scanner.episodes_closed:,} episodes", file=out)
    if result.refused:
        lines = "book line" if result.refused == 1 else "book lines"
        print(f"untrue books: {result.refused:,} {lines} refused (crossed, locked, one-sided or impossible numbers); "
              "routes through those books were not evaluated until a true update (funnel: untrue book)", file=out)
    print("route funnel (counts of evaluations):", file=out)
    print_funnel(scanner, out)
    print("book feeds:", file=out)
    print_feeds(scanner, out)
    print(f"journal: {sc.db} (run {run.run_id})", file=out)
    print_summaries(run.executors, sc.db, run.run_id, out)
    return 0


# -- scan and record ---------------------------------------------------------------------------


def _add_scan(p: argparse.ArgumentParser) -> None:
    p.add_argument("--duration", type=_positive_seconds, metavar="S", help="stop after S seconds (default: until Ctrl-C)")
    p.add_argument("--no-status", action="store_true", help="no live status view on stderr")
    _strategy_arg(p)
    _workers_flag(p)
    _shard_flags(p)
    p.add_argument("--live", action="store_true",
                   help="place REAL paired orders for the first --strategy (needs API keys for every venue it trades)")
    p.add_argument("--validate-orders", action="store_true",
                   help="with --live: Kraken checks every order with validate=true and executes none; other venues get none")


def _add_record(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, metavar="FILE", help="replay file to write (.gz compresses); never an existing one without --force")
    p.add_argument("--force", action="store_true",
                   help="replace an existing --out (only once the new recording closes properly)")
    p.add_argument("--duration", type=_positive_seconds, metavar="S", help="stop after S seconds (default: until Ctrl-C)")
    p.add_argument("--no-status", action="store_true", help="no live status view on stderr")


def _run_live(args: argparse.Namespace, settings: Settings, mode: str) -> int:
    from arbscan.app import run_live_command, say_unreachable
    from arbscan.status import StatusView
    from arbscan.summary import print_funnel, print_summaries

    run = asyncio.run(run_live_command(
        settings, mode, duration=args.duration, strategies=getattr(args, "strategy", None) or [],
        live=getattr(args, "live", False), validate_orders=getattr(args, "validate_orders", False),
        out_path=getattr(args, "out", None), status_view=lambda driver: StatusView(driver, enabled=not args.no_status),
        on_unreachable=say_unreachable, force=getattr(args, "force", False)))
    scanner = run.scanner
    print(f"{mode} stopped: {scanner.events:,} book events, {scanner.live_evaluations:,} live evaluations, "
          f"{scanner.episodes_closed:,} episodes", file=sys.stdout)
    if mode == "scan":
        print_funnel(scanner, sys.stdout)
        print(f"journal: {settings.scanner.db}", file=sys.stdout)
        print_summaries(run.executors, settings.scanner.db, run.run_id, sys.stdout)
    elif run.books_recorded:
        print(f"recorded {run.books_recorded:,} books to {args.out}", file=sys.stdout)
    else:
        print(f"arbscan: nothing recorded (no venue sent a book); {args.out} was not written", file=sys.stderr)
        return 1
    return 0  # Ctrl-C is how a scan or a recording is meant to end


def _run_scan(args: argparse.Namespace, settings: Settings) -> int:
    from arbscan.bus.commands import check_shard_command, run_scan_shard_command

    if check_shard_command(settings, args, "scan"):
        return run_scan_shard_command(settings, args.shard, run=args.run, duration=args.duration)
    return _run_live(args, settings, "scan")


def _run_record(args: argparse.Namespace, settings: Settings) -> int:
    return _run_live(args, settings, "record")


# -- report ------------------------------------------------------------------------------------


def _add_report(p: argparse.ArgumentParser) -> None:
    from arbscan.report import add_arguments  # pandas itself is imported only when a report runs

    add_arguments(p, with_db=False)


def _run_report(args: argparse.Namespace, settings: Settings) -> int:
    from arbscan.report import run

    return run(args, db=settings.scanner.db)


# -- resume ------------------------------------------------------------------------------------


def _add_resume(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inventory-handled", action="store_true",
                   help="the inventory kept from uneven fills was dealt with: stop counting it toward live.max_exposure")
    _bus_flag(p)


def _run_resume(args: argparse.Namespace, settings: Settings) -> int:
    import getpass

    from arbscan.risk import resume

    cleared = resume(settings.scanner.db, by=f"arbscan resume ({getpass.getuser()})",
                     inventory_handled=args.inventory_handled)
    if not cleared:
        print(f"no active halt in {settings.scanner.db}; live trading is not halted")
    for halt in cleared:
        print(f"cleared halt #{halt['id']}: {halt['reason']}")
    if settings.bus is not None and settings.bus.url:
        from arbscan.bus.commands import resume_on_bus

        for halt in resume_on_bus(settings, by=f"arbscan resume ({getpass.getuser()})"):
            print(f"cleared halt on the bus ({halt.get('host', '?')}): {halt.get('reason')}")
            cleared.append(halt)
    if cleared:
        print("the next 'arbscan scan --live' reconciles unfinished orders before trading again")
    return 0


# -- init, status, markets, check-config ---------------------------------------------------------


def _add_check_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--for", dest="check_for", choices=("scan", "replay", "record"), default="scan",
                   help="check as this command would at start (default: scan)")
    p.add_argument("--replay-file", metavar="FILE", help="with --for replay: the file whose markets the settings must match")
    p.add_argument("--strategy", action="append", metavar="NAME", help="check as if run with --strategy NAME (repeatable)")


def _run_check_config(args: argparse.Namespace, settings: Settings) -> int:
    from arbscan.checks import check_settings, replay_markets
    from arbscan.configview import effective_toml

    replay = None
    if args.check_for == "replay":
        from arbscan.replay import demo_path

        path = Path(args.replay_file) if args.replay_file else demo_path()
        if not path.exists():
            raise BadInput(f"replay file {str(path)!r} does not exist")
        replay = replay_markets(path)
    print(effective_toml(settings), end="")
    warnings = check_settings(settings, args.check_for, strategies=args.strategy, replay=replay)
    for line in warnings:
        print(f"# warning: {line}")
    print(f"# every check '{args.check_for}' makes at start passed" + (f" ({len(warnings)} warning(s))" if warnings else ""))
    return 0


def _add_init(p: argparse.ArgumentParser) -> None:
    pass  # --config names the file to write (default ./arbscan.toml)


def _run_init(args: argparse.Namespace, settings: Settings) -> int:
    from arbscan.config import DEFAULT_CONFIG_PATH
    from arbscan.starter import write_starter

    path = write_starter(args.config or DEFAULT_CONFIG_PATH)
    print(f"wrote {path}: a commented starter config; edit it, then run 'arbscan check-config'")
    return 0


def _add_status(p: argparse.ArgumentParser) -> None:
    _bus_flag(p)


def _run_status(args: argparse.Namespace, settings: Settings) -> int:
    from arbscan.overview import overview_lines
    from arbscan.store import Store

    db = Store.open_readonly(settings.scanner.db)
    try:
        print(f"journal: {settings.scanner.db}")
        from arbscan.alerts import alerts_summary

        for line in overview_lines(db.conn) + alerts_summary(db.conn):
            print(line)
    finally:
        db.conn.close()
    if settings.bus is not None and settings.bus.url:
        from arbscan.bus.commands import bus_status_lines

        for line in bus_status_lines(settings):
            print(line)
    return 0


def _add_markets(p: argparse.ArgumentParser) -> None:
    p.add_argument("--symbols", metavar="LIST", help="comma-separated unified symbols (default: scanner.symbols)")


def _run_markets(args: argparse.Namespace, settings: Settings) -> int:
    from arbscan.app import build_adapters
    from arbscan.markets import check_symbols, load_all_markets, markets_lines

    symbols = check_symbols(args.symbols.split(",")) if args.symbols else None
    adapters = build_adapters(settings)
    loaded, failed = asyncio.run(load_all_markets(adapters, settings.fee_overrides()))
    for line in markets_lines(settings, loaded, failed, symbols):
        print(line)
    if not loaded:
        raise BadInput("no venue's markets could be loaded: " + "; ".join(f"{n}: {e}" for n, e in failed.items()))
    return 0


# -- journal and execute (the bus) ---------------------------------------------------------------


def _add_journal(p: argparse.ArgumentParser) -> None:
    _bus_flag(p)


def _run_journal(args: argparse.Namespace, settings: Settings) -> int:
    from arbscan.bus.commands import run_journal_command

    return run_journal_command(settings)


def _add_execute(p: argparse.ArgumentParser) -> None:
    _bus_flag(p)
    p.add_argument("--strategy", action="append", metavar="NAME",
                   help="trade this [[strategies]] entry (repeatable; --live: exactly one)")
    p.add_argument("--live", action="store_true",
                   help="place REAL paired orders (API keys for every venue it trades; --db: its own journal on this host)")
    p.add_argument("--validate-orders", action="store_true",
                   help="with --live: Kraken checks every order with validate=true and executes none")


def _run_execute(args: argparse.Namespace, settings: Settings) -> int:
    from arbscan.bus.commands import run_execute_command

    if getattr(args, "db", None) and not args.live:
        raise BadInput("--db: a paper executor on the bus journals through the journal consumer; --db is --live's own journal")
    return run_execute_command(settings, args.strategy or [], live=args.live, validate_orders=args.validate_orders)


# -- alert-test --------------------------------------------------------------------------------


def _add_alert_test(p: argparse.ArgumentParser) -> None:
    p.add_argument("--to", action="append", metavar="NAME",
                   help="only this [[alerts]] destination (repeatable; default: every one)")


def _run_alert_test(args: argparse.Namespace, settings: Settings) -> int:
    from arbscan.alerts import run_alert_test

    return run_alert_test(settings.alerts, args.to or [], sys.stdout, sys.stderr)


# -- rebalance ---------------------------------------------------------------------------------


def _add_rebalance(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strategy", metavar="NAME",
                   help="the paper or live strategy whose balances to restore (default: the journal's only one)")


def _run_rebalance(args: argparse.Namespace, settings: Settings) -> int:
    from arbscan.rebalance import format_plan, rebalance

    print(format_plan(rebalance(settings.scanner.db, args.strategy, settings.transfer_overrides())))
    return 0


COMMANDS: list[Command] = [
    Command("scan", "watch the configured venues and journal every opportunity (dry-run: no orders)", _add_scan, _run_scan),
    Command("replay", "run the scanner over a replay file on its own clock (default: the bundled demo)", _add_replay, _run_replay),
    Command("record", "record live books from the configured venues to a replay file", _add_record, _run_record, ()),
    Command("report", "reports over the journal: routes, episode durations, funnel, feeds, paper/live trading",
            _add_report, _run_report, JOURNAL_FLAGS),
    Command("resume", "clear the live-trading kill switch (halts) in the journal after checking the venues",
            _add_resume, _run_resume, JOURNAL_FLAGS),
    Command("status", "the journal at a glance: runs, halts, open trades, latest balances, last episodes",
            _add_status, _run_status, JOURNAL_FLAGS),
    Command("markets", "the configured venues' markets side by side: fees, steps, minimums, routes",
            _add_markets, _run_markets, ()),
    Command("init", "write a commented starter arbscan.toml (never overwrites one)", _add_init, _run_init, (), False),
    Command("check-config", "the effective settings with every default, each venue's adapter, and every start-up check",
            _add_check_config, _run_check_config, SCANNER_FLAGS),
    Command("alert-test", "send a test message to each [[alerts]] destination and print the outcome",
            _add_alert_test, _run_alert_test, ()),
    Command("rebalance", "propose the transfers that restore a strategy's starting balances (advice only, nothing is sent)",
            _add_rebalance, _run_rebalance, JOURNAL_FLAGS),
    Command("journal", "on the bus: commit the shards' and the executor's rows into the SQLite journal (--db)",
            _add_journal, _run_journal, JOURNAL_FLAGS),
    Command("execute", "on the bus: the one executor, paper or --live, trading the shards' routes",
            _add_execute, _run_execute, JOURNAL_FLAGS),
]
"""The subcommands, in help order; append a ``Command`` to add one."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command in ``COMMANDS``."""
    parser = _Parser(prog="arbscan", description="Cross-exchange crypto arbitrage scanner with an honest SQLite journal.")
    parser.add_argument("--version", action="version", version=f"arbscan {__version__}")
    _common(parser, list(_COMMON_FLAGS), before_command=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for cmd in COMMANDS:
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        _common(p, [f for f in _COMMON_FLAGS if f in _EVERY_COMMAND or f in cmd.common], before_command=False)
        cmd.add_arguments(p)
        p.set_defaults(_command=cmd)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: parse ``argv``, configure logging, run the command; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if getattr(args, "_command", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        _check_common(parser, args)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        _configure_logging(args.verbose, args.log_file)
    except OSError as exc:
        print(f"arbscan: error: cannot write log file {args.log_file!r}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        settings = _apply_overrides(load_settings(args.config) if args._command.reads_config else Settings(), args)
        return args._command.run(args, settings)
    except (BadInput, AuthError) as exc:  # the user must fix input or credentials: one line, exit 2
        print(f"arbscan: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("arbscan: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: the reader left, nothing is wrong
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        return 0
    except Exception as exc:  # noqa: BLE001 - one line for users, the traceback in the log at debug level
        logger.debug("unexpected failure", exc_info=True)
        print(f"arbscan: unexpected error: {type(exc).__name__}: {exc} (run with -vv for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
