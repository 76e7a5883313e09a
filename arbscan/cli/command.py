"""The ``arbscan`` command: arguments and logging only; ``arbscan.app`` (or the command's module) builds and runs it.

Logging is configured by ``arbscan.cli.args.configure_logging``. Exit codes: 0 success (a scan stopped with
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
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from arbscan import __version__
from arbscan.cli.args import (COMMON_FLAGS, EVERY_COMMAND, JOURNAL_FLAGS, SCANNER_FLAGS, Command, Parser, add_common,
                              apply_overrides, check_common, check_not_empty, configure_logging, positive_seconds, strategy_flag,
                              workers_flag)
from arbscan.bus.commands import add_execute, add_journal, bus_flag, run_execute, run_journal, shard_flags
from arbscan.config.settings import Settings, load_settings
from arbscan.errors import AuthError, BadInput, WriteFailed, describe

__all__ = ["main", "Command", "COMMANDS", "build_parser"]

logger = logging.getLogger(__name__)


# -- replay ------------------------------------------------------------------------------------


def _web_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--web", nargs="?", const="", default=None, metavar="HOST:PORT",
                   help="serve the live web view (default address: [web] listen, 127.0.0.1:8765; another "
                        "than loopback needs ARBSCAN_WEB_TOKEN)")


def _add_replay(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", metavar="FILE",
                   help="replay file (.jsonl or .jsonl.gz); default: the bundled real BitMEX/Deribit minute")
    p.add_argument("--depth", type=int, default=None, metavar="N",
                   help="levels per side handed to the scanner (default: scanner.book_depth; 0 = all)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    strategy_flag(p)
    workers_flag(p)
    shard_flags(p)
    p.add_argument("--alerts", action="store_true",
                   help="send the [[alerts]] destinations' alerts on the file's clock (off: backtests do not spam)")
    _web_flag(p)


def _run_replay(args: argparse.Namespace, settings: Settings) -> int:
    from arbscan.app import run_replay_command
    from arbscan.replay.run import demo_path
    from arbscan.scan.view import Progress
    from arbscan.execution.summary import fees_line, print_feeds, print_funnel, print_summaries

    path = Path(args.file) if args.file else demo_path()
    sc = settings.scanner
    depth = sc.book_depth if args.depth is None else args.depth
    from arbscan.bus.commands import check_shard_command, run_replay_shard_command

    if check_shard_command(settings, args, "replay"):
        return run_replay_shard_command(settings, path, args.shard, run=args.run, depth=depth, alerts=args.alerts)
    progress = None if args.no_progress else Progress(f"replay {path.name}")
    from arbscan.web import web_listen

    run = run_replay_command(settings, path, depth=depth, strategies=args.strategy or [], progress=progress,
                             alerts=args.alerts, web=web_listen(settings.web, args.web))
    result = run.result
    out = sys.stdout
    scanner = result.scanner
    done = "interrupted after" if result.interrupted else "replayed"
    print(f"{done} {path} ({result.book_events:,} book events, {result.lines:,} lines) in {result.seconds:.2f} s", file=out)
    print(f"taker fees: {fees_line(scanner)}; live at net >= {sc.min_net_bps} bps; books stale after {sc.max_book_age_ms} ms", file=out)
    print(f"opportunities: {scanner.live_evaluations:,} live evaluations in {scanner.episodes_closed:,} episodes", file=out)
    if result.refused:
        lines = "book line" if result.refused == 1 else "book lines"
        print(f"untrue books: {result.refused:,} {lines} refused (crossed, locked, one-sided or impossible numbers); "
              "routes through those books were not evaluated until a true update (funnel: untrue book)", file=out)
    off_step = sum(f.off_step for f in scanner.feeds.values())
    if off_step:
        lines = "book line" if off_step == 1 else "book lines"
        print(f"off-step levels: {off_step:,} {lines} with a price or amount off the market's step, used as published "
              "(venue_stats.off_step)", file=out)
    print("route funnel (counts of evaluations):", file=out)
    print_funnel(scanner, out)
    cross = getattr(scanner, "cross", None)  # --workers N totals have none: conversions need one scanner
    if cross is not None:
        for line in cross.summary_lines():
            print(line, file=out)
    print("book feeds:", file=out)
    print_feeds(scanner, out)
    print(f"journal: {sc.db} (run {run.run_id})", file=out)
    print_summaries(run.executors, sc.db, run.run_id, out)
    if result.interrupted:  # the summary above is of the lines read; the journal is what one process stopped there keeps
        print(f"arbscan: replay interrupted at line {result.lines:,}; the journal keeps everything up to there "
              f"({sc.db}, run {run.run_id})", file=sys.stderr)
        return 130
    return 0


# -- scan and record ---------------------------------------------------------------------------


def _add_scan(p: argparse.ArgumentParser) -> None:
    p.add_argument("--duration", type=positive_seconds, metavar="S", help="stop after S seconds (default: until Ctrl-C)")
    p.add_argument("--no-status", action="store_true", help="no live status view on stderr")
    strategy_flag(p)
    workers_flag(p)
    shard_flags(p)
    p.add_argument("--live", action="store_true",
                   help="place REAL paired orders for the first --strategy (needs API keys for every venue it trades)")
    p.add_argument("--validate-orders", action="store_true",
                   help="with --live: Kraken checks every order with validate=true and executes none; other venues get none")
    _web_flag(p)


def _add_record(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, metavar="FILE", help="replay file to write (.gz compresses); never an existing one without --force")
    p.add_argument("--force", action="store_true",
                   help="replace an existing --out (only once the new recording closes properly)")
    p.add_argument("--duration", type=positive_seconds, metavar="S", help="stop after S seconds (default: until Ctrl-C)")
    p.add_argument("--no-status", action="store_true", help="no live status view on stderr")


def _run_live(args: argparse.Namespace, settings: Settings, mode: str) -> int:
    from arbscan.parts import UnreachableLines
    from arbscan.app import run_live_command
    from arbscan.scan.view import StatusView
    from arbscan.execution.summary import print_funnel, print_summaries

    run = asyncio.run(run_live_command(
        settings, mode, duration=args.duration, strategies=getattr(args, "strategy", None) or [],
        live=getattr(args, "live", False), validate_orders=getattr(args, "validate_orders", False),
        out_path=getattr(args, "out", None), status_view=lambda driver: StatusView(driver, enabled=not args.no_status),
        on_unreachable=UnreachableLines(), force=getattr(args, "force", False),
        web=_web_of(args, settings) if mode == "scan" else None))
    scanner = run.scanner
    print(f"{mode} stopped: {scanner.events:,} book events, {scanner.live_evaluations:,} live evaluations, "
          f"{scanner.episodes_closed:,} episodes", file=sys.stdout)
    if mode == "scan":
        print_funnel(scanner, sys.stdout)
        print(f"journal: {settings.scanner.db}", file=sys.stdout)
        print_summaries(run.executors, settings.scanner.db, run.run_id, sys.stdout)
        if not scanner.events:
            print(f"arbscan: nothing scanned (no venue sent a book); run {run.run_id} is marked 'unreachable'",
                  file=sys.stderr)
            return 1
    elif run.books_recorded:
        print(f"recorded {run.books_recorded:,} books to {args.out}", file=sys.stdout)
    else:
        print(f"arbscan: nothing recorded (no venue sent a book); {args.out} was not written", file=sys.stderr)
        return 1
    return 0  # Ctrl-C is how a scan or a recording is meant to end


def _web_of(args: argparse.Namespace, settings: Settings) -> str | None:
    from arbscan.web import web_listen

    return web_listen(settings.web, getattr(args, "web", None))


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


# -- serve -------------------------------------------------------------------------------------


def _add_serve(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", type=int, default=None, metavar="ID", help="the run to show (default: the newest)")
    p.add_argument("--listen", default=None, metavar="HOST:PORT",
                   help="where to serve (default: [web] listen, 127.0.0.1:8765; another than loopback needs ARBSCAN_WEB_TOKEN)")
    bus_flag(p)


def _run_serve(args: argparse.Namespace, settings: Settings) -> int:
    from arbscan.web import serve_journal

    if settings.bus is None or not settings.bus.url:
        return serve_journal(settings.web, settings.scanner.db, args.run, args.listen)
    from arbscan.bus.commands import ShardWatch

    watch = ShardWatch(settings)
    try:
        return serve_journal(settings.web, settings.scanner.db, args.run, args.listen, shards=watch)
    finally:
        watch.close()


# -- resume ------------------------------------------------------------------------------------


def _add_resume(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inventory-handled", action="store_true",
                   help="the inventory kept from uneven fills was dealt with: stop counting it toward live.max_exposure")
    bus_flag(p)


def _run_resume(args: argparse.Namespace, settings: Settings) -> int:
    import getpass

    from arbscan.execution.risk import resume

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
    from arbscan.config.checks import check_settings, replay_markets
    from arbscan.cli.check_config import effective_toml

    replay = None
    if args.check_for == "replay":
        from arbscan.replay.run import demo_path

        path = Path(args.replay_file) if args.replay_file else demo_path()
        if not path.exists():
            raise BadInput(f"replay file {str(path)!r} does not exist")
        replay = replay_markets(path)
    print(effective_toml(settings), end="")
    warnings = check_settings(settings, args.check_for, strategies=args.strategy, replay=replay)
    if args.check_for in ("scan", "replay"):  # both open the journal next: a path it cannot use is refused the same way
        from arbscan.journal.file import check_journal

        check_journal(settings.scanner.db, write=True)
    for line in warnings:
        print(f"# warning: {line}")
    print(f"# every check '{args.check_for}' makes at start passed" + (f" ({len(warnings)} warning(s))" if warnings else ""))
    return 0


def _add_init(p: argparse.ArgumentParser) -> None:
    pass  # --config names the file to write (default ./arbscan.toml)


def _run_init(args: argparse.Namespace, settings: Settings) -> int:
    from arbscan.config.settings import DEFAULT_CONFIG_PATH
    from arbscan.config.starter import write_starter

    path = write_starter(args.config or DEFAULT_CONFIG_PATH)
    print(f"wrote {path}: a commented starter config; edit it, then run 'arbscan check-config'")
    return 0


def _add_status(p: argparse.ArgumentParser) -> None:
    bus_flag(p)


def _run_status(args: argparse.Namespace, settings: Settings) -> int:
    from arbscan.cli.status import overview_lines
    from arbscan.journal.store import Store

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
    from arbscan.cli.markets import check_symbols, run_markets

    symbols = check_symbols(args.symbols.split(",")) if args.symbols else None
    return run_markets(settings, symbols, print)


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
    from arbscan.cli.rebalance import format_plan, rebalance

    print(format_plan(rebalance(settings.scanner.db, args.strategy, settings.transfer_overrides())))
    return 0


COMMANDS: list[Command] = [
    Command("scan", "watch the configured venues and journal every opportunity (dry-run: no orders)", _add_scan, _run_scan),
    Command("replay", "run the scanner over a replay file on its own clock (default: the bundled demo)", _add_replay, _run_replay),
    Command("record", "record live books from the configured venues to a replay file", _add_record, _run_record, ()),
    Command("report", "reports over the journal: routes, episode durations, funnel, feeds, paper/live trading",
            _add_report, _run_report, JOURNAL_FLAGS),
    Command("serve", "the web view of a journal, read-only: the pages of a run that ended (or is running)",
            _add_serve, _run_serve, JOURNAL_FLAGS),
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
            add_journal, run_journal, JOURNAL_FLAGS),
    Command("execute", "on the bus: the one executor, paper or --live, trading the shards' routes",
            add_execute, run_execute, JOURNAL_FLAGS),
]
"""The subcommands, in help order; append a ``Command`` to add one."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command in ``COMMANDS``."""
    parser = Parser(prog="arbscan", description="Cross-exchange crypto arbitrage scanner with an honest SQLite journal.")
    parser.add_argument("--version", action="version", version=f"arbscan {__version__}")
    add_common(parser, list(COMMON_FLAGS), before_command=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for cmd in COMMANDS:
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        add_common(p, [f for f in COMMON_FLAGS if f in EVERY_COMMAND or f in cmd.common], before_command=False)
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
        check_common(parser, args)
        check_not_empty(parser, args)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        configure_logging(args.verbose, args.log_file)
    except OSError as exc:
        print(f"arbscan: error: cannot write log file {args.log_file!r}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        settings = apply_overrides(load_settings(args.config) if args._command.reads_config else Settings(), args)
        return args._command.run(args, settings)
    except (BadInput, AuthError) as exc:  # the user must fix input or credentials: one line, exit 2
        print(f"arbscan: error: {exc}", file=sys.stderr)
        return 2
    except WriteFailed as exc:  # a full disk: the run stopped at the first failed write; one line, exit 1
        print(f"arbscan: error: {exc}", file=sys.stderr)
        return 1
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
        print(f"arbscan: unexpected error: {describe(exc)} (run with -vv for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
