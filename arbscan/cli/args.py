"""The command line's shared parts: the ``Command`` record, the common flags, argument types, logging.

``arbscan.cli.command`` holds the commands themselves and ``main``; this module is what every command's
parser is built from, and the only place that configures logging.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from arbscan.config.settings import Settings

__all__ = ["Command", "Parser", "JOURNAL_FLAGS", "SCANNER_FLAGS", "COMMON_FLAGS", "EVERY_COMMAND", "add_common",
           "check_common", "check_not_empty", "apply_overrides", "configure_logging", "decimal_arg", "positive_int", "positive_seconds",
           "workers_arg", "workers_flag", "strategy_flag"]


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


class Parser(argparse.ArgumentParser):
    """argparse with the contract's one-line error and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"arbscan: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


# -- shared helpers ---------------------------------------------------------------------------


def decimal_arg(text: str) -> Decimal:
    """argparse type: a finite decimal number."""
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not d.is_finite():
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return d


def positive_int(text: str) -> int:
    """argparse type: a positive whole number (at most a billion)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    if n > 10**9:
        raise argparse.ArgumentTypeError(f"must be at most 1,000,000,000: {text!r}")
    return n


def bps_arg(text: str) -> Decimal:
    """argparse type: basis points, a finite number between -10000 and 10000 (100 %)."""
    d = decimal_arg(text)
    if abs(d) > 10_000:
        raise argparse.ArgumentTypeError(f"must be between -10000 and 10000 bps: {text!r}")
    return d


def age_ms_arg(text: str) -> int:
    """argparse type: a book age in ms, positive and at most a day (86,400,000)."""
    n = positive_int(text)
    if n > 86_400_000:
        raise argparse.ArgumentTypeError(f"must be at most 86,400,000 ms (a day): {text!r}")
    return n


def positive_seconds(text: str) -> float:
    """argparse type: a positive, finite number of seconds."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive, finite number of seconds: {text!r}")
    return seconds


COMMON_FLAGS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "--config": (("--config",), {"metavar": "FILE", "help": "settings file (default ./arbscan.toml when it exists)"}),
    "--db": (("--db",), {"metavar": "PATH", "help": "SQLite journal (default: scanner.db, 'arbscan.db')"}),
    "--min-bps": (("--min-bps",), {"type": bps_arg, "metavar": "N",
                                   "help": "a route is live at net_bps >= N (default: scanner.min_net_bps, 0)"}),
    "--max-age-ms": (("--max-age-ms",), {"type": age_ms_arg, "metavar": "N",
                                         "help": "books older than N ms are stale (default: scanner.max_book_age_ms, 2000)"}),
    "--verbose": (("-v", "--verbose"), {"action": "count", "help": "more log output (-vv for debug)"}),
    "--log-file": (("--log-file",), {"metavar": "FILE", "help": "also write the log to FILE (info level, with -v or not)"}),
}
EVERY_COMMAND = ("--config", "--verbose", "--log-file")


def add_common(parser: argparse.ArgumentParser, flags: Sequence[str], *, before_command: bool) -> None:
    """Add the common ``flags``: on the main parser (before the command) or on a command's (after it).

    A command's copies default to SUPPRESS so a value given before the command is not overwritten.
    """
    for flag in flags:
        names, kw = COMMON_FLAGS[flag]
        default = (0 if flag == "--verbose" else None) if before_command else argparse.SUPPRESS
        parser.add_argument(*names, default=default, **kw)


def check_common(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """A common flag given before a command that does not use it is an error, as it is after it."""
    cmd: Command = args._command
    for flag in COMMON_FLAGS:
        if flag in EVERY_COMMAND or flag in cmd.common:
            continue
        if getattr(args, flag.lstrip("-").replace("-", "_"), None) is not None:
            parser.error(f"{flag} does not apply to '{cmd.name}'")


def _actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """Every action of ``parser`` and of its subcommands' parsers."""
    out: list[argparse.Action] = []
    for action in parser._actions:
        out.append(action)
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                out.extend(_actions(sub))
    return out


def check_not_empty(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """An empty argument (``--db ''``, ``replay ''``) is an error naming it, never taken as "not given"."""
    names = {}
    for action in _actions(parser):
        names.setdefault(action.dest, action.option_strings[-1] if action.option_strings else
                         (action.metavar if isinstance(action.metavar, str) else action.dest.upper()))
    for dest, value in vars(args).items():
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, str) and not v.strip() for v in values):
            parser.error(f"argument {names.get(dest, dest)}: must not be empty")


def apply_overrides(settings: Settings, args: argparse.Namespace) -> Settings:
    """The settings with the command line's common flags (``--db``, ``--min-bps``, ...) and ``--bus`` applied."""
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


def workers_arg(text: str) -> int:
    """argparse type: ``--workers N|auto``."""
    from arbscan.config.settings import workers_value
    from arbscan.errors import ConfigError

    try:
        return workers_value("--workers", text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--workers: ")) from None


def workers_flag(p: argparse.ArgumentParser) -> None:
    """Add ``--workers``."""
    p.add_argument("--workers", type=workers_arg, metavar="N|auto",
                   help="split the symbols over N processes (auto: one per usable core; default: scanner.workers, 1)")


def strategy_flag(p: argparse.ArgumentParser) -> None:
    """Add the repeatable ``--strategy NAME``."""
    p.add_argument("--strategy", action="append", metavar="NAME",
                   help="paper-trade this [[strategies]] entry (repeatable; default: scan only, no strategy)")


def configure_logging(verbose: int, log_file: str | None) -> None:
    """stderr at warning level (-v info, -vv debug); ``--log-file`` at info level (debug with -vv) by itself."""
    from arbscan.scan.view import console_handler

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
