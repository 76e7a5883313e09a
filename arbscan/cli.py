"""The ``arbscan`` command: ``scan``, ``replay``, ``record`` (and whatever is added to ``COMMANDS``).

This is the only module that configures logging. Exit codes: 0 success (a scan stopped with
Ctrl-C is a success), 2 bad input (config, arguments, files) with one line ``arbscan: error: ...``
on stderr, 1 an unexpected failure, 130 a replay or record interrupted by Ctrl-C / SIGTERM.

Adding a subcommand: write ``_add_<name>(parser)`` (its own flags; the common ones ``--config``,
``--db``, ``--min-bps``, ``--max-age-ms``, ``-v`` are already there) and
``_run_<name>(args, settings) -> int``, then append ``Command("<name>", "<help>", _add_<name>,
_run_<name>)`` to ``COMMANDS``. ``settings`` already has the common overrides applied; raise
``BadInput`` for anything the user must fix. Executors plug into ``scan`` and ``replay`` through
:func:`build_listeners`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from arbscan import __version__
from arbscan.config import Settings, load_settings
from arbscan.errors import AuthError, BadInput, ConfigError

__all__ = ["main", "Command", "COMMANDS", "build_listeners", "settings_summary"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Command:
    """One subcommand: its name, one-line help, a function adding its flags, and the function running it."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Settings], int]


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


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="settings file (default ./arbscan.toml when it exists)")
    parser.add_argument("--db", metavar="PATH", help="SQLite journal (default: scanner.db, 'arbscan.db')")
    parser.add_argument("--min-bps", type=_decimal_arg, metavar="N",
                        help="a route is live at net_bps >= N (default: scanner.min_net_bps, 0)")
    parser.add_argument("--max-age-ms", type=_positive_int, metavar="N",
                        help="books older than N ms are stale (default: scanner.max_book_age_ms, 2000)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("--log-file", metavar="FILE", help="also write the log to FILE")


def _apply_overrides(settings: Settings, args: argparse.Namespace) -> Settings:
    sc = settings.scanner
    changes: dict[str, Any] = {}
    if getattr(args, "db", None):
        changes["db"] = args.db
    if getattr(args, "min_bps", None) is not None:
        changes["min_net_bps"] = args.min_bps
    if getattr(args, "max_age_ms", None) is not None:
        changes["max_book_age_ms"] = args.max_age_ms
    return replace(settings, scanner=replace(sc, **changes)) if changes else settings


def settings_summary(settings: Settings, **extra: Any) -> dict[str, Any]:
    """What a ``runs`` row records about the settings: names and numbers only, never secrets."""
    sc = settings.scanner
    out: dict[str, Any] = {
        "config": settings.source,
        "symbols": list(sc.symbols),
        "min_net_bps": str(sc.min_net_bps),
        "max_book_age_ms": sc.max_book_age_ms,
        "book_depth": sc.book_depth,
        "venues": [v.exchange for v in settings.venues],
        "version": __version__,
    }
    out.update(extra)
    return out


def build_listeners(args: argparse.Namespace, settings: Settings, store: Any, mode: str) -> list[Any]:
    """The scanner listeners for this run (executors plug in here); ``mode`` is 'scan' or 'replay'."""
    if getattr(args, "validate_orders", False) and not getattr(args, "live", False):
        raise BadInput("--validate-orders needs --live (it is the last step before live orders)")
    if getattr(args, "live", False):  # live or paper is chosen here, once, by building one executor
        from arbscan.live import cli_live_executor

        return [cli_live_executor(settings, store, getattr(args, "strategy", None), args.validate_orders)]
    names = getattr(args, "strategy", None) or []
    if not names:
        return []
    from arbscan.executor import cli_executors  # paper trading: the default executor

    replay_file = None
    if mode == "replay":
        from arbscan.replay import demo_path

        replay_file = Path(args.file) if args.file else demo_path()
    return cli_executors(settings, names, store, replay_file)


def _strategy_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strategy", action="append", metavar="NAME",
                   help="paper-trade this [[strategies]] entry (repeatable; default: scan only, no strategy)")


def _configure_logging(verbose: int, log_file: str | None) -> None:
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    if log_file:
        fh = logging.FileHandler(log_file, encoding="utf-8")
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(fh)
    root.setLevel(level)
    for noisy in ("websockets", "asyncio", "ccxt", "urllib3", "aiohttp"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    # Without -v the user sees one line per unreachable venue (the live driver's), not every retry
    # the adapters make inside one attempt; -v shows the adapters' warnings too.
    logging.getLogger("adapters").setLevel(logging.ERROR if verbose <= 0 else level)


def _fmt_bps(d: Decimal | None) -> str:
    return "-" if d is None else f"{d.quantize(Decimal('0.01'))}"


def _fee_hurdle_bps(scanner: Any, f: Any) -> Decimal | None:
    """The premium (bid over ask, in bps) at which a route breaks even after both taker fees."""
    buy = scanner.markets.get((f.buy_exchange, f.symbol))
    sell = scanner.markets.get((f.sell_exchange, f.symbol))
    if buy is None or sell is None:
        return None
    return Decimal(10000) * ((1 + buy.taker_fee) / (1 - sell.taker_fee) - 1)


def _print_funnel(scanner: Any, out: Any) -> None:
    rows = sorted(scanner.funnels.values(), key=lambda f: (f.symbol, f.buy_exchange, f.sell_exchange))
    if not rows:
        print("no route had books on two venues", file=out)
        return
    head = ("route (buy -> sell)", "evaluated", "crossed", "max gross bps", "fee hurdle bps", "live", "episodes",
            "not crossed", "fees", "depth/min", "balance", "below min", "stale")
    table = [head]
    for f in rows:
        table.append((
            f"{f.symbol} {f.buy_exchange} -> {f.sell_exchange}", str(f.evaluated), str(f.crossed_before_fees),
            _fmt_bps(f.max_gross_bps), _fmt_bps(_fee_hurdle_bps(scanner, f)), str(f.live), str(f.episodes), str(f.not_crossed), str(f.fees),
            str(f.depth_or_minimums), str(f.balance), str(f.below_min_bps), str(f.stale),
        ))
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    for r in table:
        print("  " + "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)), file=out)


def _print_feeds(scanner: Any, out: Any) -> None:
    for f in sorted(scanner.feeds.values(), key=lambda f: (f.exchange, f.symbol)):
        print(f"  {f.exchange} {f.symbol}: {f.events} book events, longest gap {f.max_gap_ms / 1000:.2f} s, "
              f"{f.gaps_over_max_age} gaps over {f.max_book_age_ms} ms", file=out)


def _fees_line(scanner: Any) -> str:
    fees = sorted({(m.exchange, m.symbol, m.taker_fee) for m in scanner.markets.values()})
    return ", ".join(f"{ex} {sym} {(fee * 100).normalize():f} %" for ex, sym, fee in fees)


# -- replay ------------------------------------------------------------------------------------


def _add_replay(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", metavar="FILE",
                   help="replay file (.jsonl or .jsonl.gz); default: the bundled real BitMEX/Deribit minute")
    p.add_argument("--depth", type=int, default=None, metavar="N",
                   help="levels per side handed to the scanner (default: scanner.book_depth; 0 = all)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    _strategy_arg(p)


class _Progress:
    """A one-line text progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.enabled = sys.stderr.isatty()
        self.drawn = False

    def __call__(self, fraction: float, events: int) -> None:
        if not self.enabled:
            return
        width = 30
        filled = int(fraction * width)
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {fraction * 100:5.1f}%  {events:,} book events")
        sys.stderr.flush()
        self.drawn = True

    def done(self) -> None:
        if self.drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _run_replay(args: argparse.Namespace, settings: Settings) -> int:
    from arbscan.replay import demo_path, run_replay
    from arbscan.store import Store

    path = Path(args.file) if args.file else demo_path()
    if not path.exists():
        raise BadInput(f"replay file {str(path)!r} does not exist")
    sc = settings.scanner
    depth = sc.book_depth if args.depth is None else args.depth
    if depth < 0:
        raise BadInput(f"--depth must be 0 or more, got {depth}")
    store = Store(sc.db)
    run_id = store.start_run("replay", str(path), settings_summary(settings, depth=depth))
    try:
        listeners = build_listeners(args, settings, store, "replay")
    except BaseException:
        store.close("error")  # a refused strategy is a failed run, not an empty successful one
        raise
    progress = None if args.no_progress else _Progress(f"replay {path.name}")
    stop_requested: list[int] = []

    def _request_stop(signum: int, frame: Any) -> None:
        stop_requested.append(signum)  # the replay loop checks this after every event and ends cleanly

    old_handlers = {sig: signal.signal(sig, _request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    status = "error"
    result = None
    try:
        balances = {v.exchange: dict(v.balances) for v in settings.venues if v.balances}  # the file's lines override
        result = run_replay(path, store, min_net_bps=sc.min_net_bps, max_book_age_ms=sc.max_book_age_ms,
                            depth=depth, balances=balances, listeners=listeners, progress=progress,
                            should_stop=lambda: bool(stop_requested), fee_overrides=settings.fee_overrides())
        status = "interrupted" if result.interrupted else "ok"
    finally:
        if progress:
            progress.done()
        if result is not None:
            store.end_run(status, events=result.book_events)
        store.close(status)
        for sig, handler in old_handlers.items():  # only now: a signal during the final flush is harmless
            signal.signal(sig, handler)
    if result.interrupted:
        print(f"arbscan: replay interrupted at line {result.lines:,}; the journal keeps everything up to there "
              f"({sc.db}, run {run_id})", file=sys.stderr)
        return 130
    out = sys.stdout
    scanner = result.scanner
    print(f"replayed {path} ({result.book_events:,} book events, {result.lines:,} lines) in {result.seconds:.2f} s", file=out)
    print(f"taker fees: {_fees_line(scanner)}; live at net >= {sc.min_net_bps} bps; books stale after {sc.max_book_age_ms} ms", file=out)
    print(f"opportunities: {scanner.live_evaluations:,} live evaluations in {scanner.episodes_closed:,} episodes", file=out)
    print("route funnel (counts of evaluations):", file=out)
    _print_funnel(scanner, out)
    print("book feeds:", file=out)
    _print_feeds(scanner, out)
    print(f"journal: {sc.db} (run {run_id})", file=out)
    from arbscan.executor import print_summaries

    print_summaries(listeners, sc.db, run_id, out)
    return 0


# -- scan and record ---------------------------------------------------------------------------


def _add_scan(p: argparse.ArgumentParser) -> None:
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: until Ctrl-C)")
    p.add_argument("--no-status", action="store_true", help="no live status view on stderr")
    _strategy_arg(p)
    p.add_argument("--live", action="store_true",
                   help="place REAL paired orders for the first --strategy (needs API keys for every venue it trades)")
    p.add_argument("--validate-orders", action="store_true",
                   help="with --live: Kraken checks every order with validate=true and executes none; other venues get none")


def _add_record(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, metavar="FILE", help="replay file to write (.gz compresses)")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: until Ctrl-C)")
    p.add_argument("--no-status", action="store_true", help="no live status view on stderr")


class _StatusView:
    """The live status on stderr: books per venue with their age, opportunities, episodes."""

    def __init__(self, driver: Any, enabled: bool) -> None:
        self.driver = driver
        self.tty = sys.stderr.isatty()
        self.enabled = enabled
        self.lines = 0
        self.last_plain = 0.0

    def render(self) -> list[str]:
        d = self.driver
        s = d.scanner
        now = d.now()
        lines = []
        for name, st in sorted(d.venues.items()):
            state = "up" if st.reachable else "unreachable" if st.reachable is False else "connecting"
            books = [f"{sym} {age:,.0f} ms" for ex, sym, age in s.book_ages(now) if ex == name]
            lines.append(f"{name:<10} {state:<11} {', '.join(books) or 'no books yet'}")
        lines.append(f"events {s.events:,}  live evaluations {s.live_evaluations:,}  "
                     f"open episodes {len(s.episodes)}  closed episodes {s.episodes_closed:,}")
        return lines

    def draw(self) -> None:
        if not self.enabled:
            return
        lines = self.render()
        if self.tty:
            up = f"\x1b[{self.lines}F" if self.lines else ""
            sys.stderr.write(up + "".join(f"\x1b[2K{line}\n" for line in lines))
            sys.stderr.flush()
            self.lines = len(lines)
        elif time.monotonic() - self.last_plain >= 10:
            self.last_plain = time.monotonic()
            print("status: " + " | ".join(lines), file=sys.stderr, flush=True)


class _BookRecorder:
    """Scanner listener that writes each book (and its market, first) to a replay file."""

    def __init__(self, writer: Any, markets: dict[tuple[str, str], Any]) -> None:
        self.writer = writer
        self.markets = markets
        self.written: set[tuple[str, str]] = set()

    def on_book(self, book: Any, t: float) -> None:
        key = (book.exchange, book.symbol)
        if key not in self.written:
            self.writer.write_market(self.markets[key])
            self.written.add(key)
        self.writer.write_book(book)

    def on_opportunity(self, opp: Any, t: float) -> None:
        pass


BALANCE_REFRESH_S = 60.0
"""How often ``scan`` re-reads the balances of venues whose API keys are set."""

DRIVER_OPTIONS: dict[str, Any] = {}
"""Extra keyword arguments for ``LiveDriver`` (tests shorten ``initial_backoff`` here)."""


def _build_adapters(settings: Settings) -> dict[str, Any]:
    from adapters import build_adapter

    adapters: dict[str, Any] = {}
    for v in settings.venues:
        adapters[v.exchange] = build_adapter(v, settings.scanner.book_depth, validate_orders=False)
    return adapters


def _say_unreachable(venue: str, message: str, retry_in: float) -> None:
    print(f"arbscan: {venue} unreachable ({message}); retrying in {retry_in:.3g} s", file=sys.stderr, flush=True)


async def _live(args: argparse.Namespace, settings: Settings, mode: str) -> int:
    from arbscan.scanner import LiveDriver, Scanner

    sc = settings.scanner
    if not settings.venues:
        raise ConfigError("venues: none configured")
    balances = {v.exchange: dict(v.balances) for v in settings.venues if v.balances}
    store = None
    writer = None
    listeners: list[Any] = []
    try:  # everything that can refuse bad input, before any venue is touched
        if mode == "scan":
            from arbscan.store import Store

            store = Store(sc.db)
            store.start_run("scan", ",".join(v.exchange for v in settings.venues), settings_summary(settings))
            listeners = build_listeners(args, settings, store, "scan")
        if mode == "record":
            from arbscan.replay import ReplayWriter

            writer = ReplayWriter(args.out)
        adapters = _build_adapters(settings)
    except BaseException:
        if store is not None:
            store.close("error")
        if writer is not None:
            writer.close()
        raise
    scanner = Scanner({}, store, min_net_bps=sc.min_net_bps, max_book_age_ms=sc.max_book_age_ms,
                      balances=balances, listeners=listeners)
    for listener in listeners:  # executors read the markets the venues load into the scanner
        if hasattr(listener, "bind_markets"):
            listener.bind_markets(scanner.markets)
    if writer is not None:
        scanner.listeners.append(_BookRecorder(writer, scanner.markets))
    fee_overrides = {v.exchange: v.taker_fee for v in settings.venues if v.taker_fee is not None}
    driver = LiveDriver(scanner, adapters, sc.symbols, depth=sc.book_depth, fee_overrides=fee_overrides,
                        on_unreachable=_say_unreachable, **DRIVER_OPTIONS)
    loop = asyncio.get_running_loop()
    stop = driver.stop
    interrupted = False

    def _on_signal() -> None:
        nonlocal interrupted
        interrupted = True
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, _on_signal)
    status = _StatusView(driver, enabled=not args.no_status)

    async def _status_loop() -> None:
        while True:
            await asyncio.sleep(sc.status_interval_ms / 1000)
            status.draw()

    async def _balances_loop() -> None:
        """Venues with keys and no paper balances: fetch their balances now and every BALANCE_REFRESH_S."""
        from adapters.base import load_credentials

        keyed = [v.exchange for v in settings.venues
                 if not v.balances and v.exchange in adapters and load_credentials(v.exchange) is not None]
        while keyed:
            for name in keyed:
                try:
                    fetched = await adapters[name].fetch_balances()
                    first = name not in scanner.balances
                    scanner.balances[name] = dict(fetched)
                    if first:
                        logger.info("%s balances fetched; they cap sizes", name)
                except Exception as exc:  # noqa: BLE001 - without balances sizes are simply not capped
                    logger.warning("%s balances not fetched (%s); sizes not capped there", name, type(exc).__name__)
            await asyncio.sleep(BALANCE_REFRESH_S)

    extra = [asyncio.create_task(_status_loop())]
    if mode == "scan":
        extra.append(asyncio.create_task(_balances_loop()))
    if args.duration:
        loop.call_later(args.duration, stop.set)
    outcome = "error"
    try:
        await driver.run()
        outcome = "interrupted" if interrupted else "ok"
    finally:
        for t in extra:
            t.cancel()
        await asyncio.gather(*extra, return_exceptions=True)
        for listener in listeners:  # a live executor lets the trade in flight settle (bounded by its deadlines)
            if getattr(listener, "mode", None) == "live":
                await listener.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if writer is not None:
            writer.close()
        if store is not None:
            store.end_run(outcome, events=scanner.events)
            store.close(outcome)
    print(f"{mode} stopped: {scanner.events:,} book events, {scanner.live_evaluations:,} live evaluations, "
          f"{scanner.episodes_closed:,} episodes", file=sys.stdout)
    if mode == "scan":
        _print_funnel(scanner, sys.stdout)
        print(f"journal: {sc.db}", file=sys.stdout)
        from arbscan.executor import print_summaries

        print_summaries(listeners, sc.db, store.run_id if store is not None else None, sys.stdout)
    else:
        print(f"recorded {writer.books if writer else 0:,} books to {args.out}", file=sys.stdout)
    return 0  # Ctrl-C is how a scan or a recording is meant to end


def _run_scan(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_live(args, settings, "scan"))


def _run_record(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_live(args, settings, "record"))


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


def _run_resume(args: argparse.Namespace, settings: Settings) -> int:
    import getpass

    from arbscan.live import resume

    cleared = resume(settings.scanner.db, by=f"arbscan resume ({getpass.getuser()})",
                     inventory_handled=args.inventory_handled)
    if not cleared:
        print(f"no active halt in {settings.scanner.db}; live trading is not halted")
    for halt in cleared:
        print(f"cleared halt #{halt['id']}: {halt['reason']}")
    if cleared:
        print("the next 'arbscan scan --live' reconciles unfinished orders before trading again")
    return 0


COMMANDS: list[Command] = [
    Command("scan", "watch the configured venues and journal every opportunity (dry-run: no orders)", _add_scan, _run_scan),
    Command("replay", "run the scanner over a replay file on its own clock (default: the bundled demo)", _add_replay, _run_replay),
    Command("record", "record live books from the configured venues to a replay file", _add_record, _run_record),
    Command("report", "reports over the journal: routes, episode durations, funnel, feeds, paper/live trading",
            _add_report, _run_report),
    Command("resume", "clear the live-trading kill switch (halts) in the journal after checking the venues",
            _add_resume, _run_resume),
]
"""The subcommands, in help order; append a ``Command`` to add one."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command in ``COMMANDS``."""
    parser = _Parser(prog="arbscan", description="Cross-exchange crypto arbitrage scanner with an honest SQLite journal.")
    parser.add_argument("--version", action="version", version=f"arbscan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for cmd in COMMANDS:
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        _common(p)
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
        _configure_logging(args.verbose, args.log_file)
    except OSError as exc:
        print(f"arbscan: error: cannot write log file {args.log_file!r}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        settings = _apply_overrides(load_settings(args.config), args)
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
