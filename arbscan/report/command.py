"""The report's entry points: :func:`build_report` for Python callers and the ``arbscan report`` command."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from arbscan.errors import BadInput
from arbscan.report.read import ReportFilter, parse_time, read_journal
from arbscan.report.page import write_html
from arbscan.report.render import render_text, write_csv
from arbscan.report.summary import DEFAULT_TOP, ranked_routes
from arbscan.report.tables import Report, build_tables, empty_tables
from arbscan.report.trading import build_trading_tables

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["build_report", "add_arguments", "run", "main"]


def build_report(db: str | Path, flt: ReportFilter | None = None, *, charts: bool = True) -> Report:
    """Read the journal at ``db`` read-only and compute every table (and, with ``charts``, the charts)."""
    flt = flt or ReportFilter()
    path = Path(db)
    from arbscan.journal.file import check_journal

    check_journal(path, write=False)
    snap = read_journal(path, flt)
    if snap.empty:
        return Report(str(path), flt, empty_tables(), [], True,
                      [f"nothing journaled yet in {path}: run `arbscan replay` or `arbscan scan` first"])
    if snap.symbols is not None:  # the journal's spelling of --symbol
        flt = replace(flt, symbol=" ".join(snap.symbols))
    tables = build_tables(snap, flt)
    trading, notes = build_trading_tables(snap)
    tables.update(trading)
    notes = [*snap.problems, *_run_notes(tables["runs"]), *notes]
    if not len(tables["episodes"]):
        notes.append("no episodes in the selection")
    if not len(tables["trading"]):
        notes.append("no paper or live trades in the selection")
    report = Report(str(path), flt, tables, [], False, notes, _alerts(path, flt))
    if charts:
        from arbscan.report.charts import build_charts  # matplotlib only when a chart is drawn

        ranked = ranked_routes(tables["routes"])[0]
        keys = list(zip(ranked["symbol"], ranked["buy_exchange"], ranked["sell_exchange"]))
        report.charts = build_charts(tables, snap.frames["trades"], keys)
    return report


def _alerts(path: Path, flt: ReportFilter) -> list[str]:
    """The alerts sent, retried, failed and dropped (``arbscan.alerts``), for one run or all; [] when none."""
    import sqlite3

    from arbscan.alerts import alerts_summary

    try:
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error:
        return []
    try:
        return alerts_summary(conn, flt.run if isinstance(flt.run, int) else None)
    except sqlite3.Error:  # an unreadable alerts table does not stop a report
        return []
    finally:
        conn.close()


def _run_notes(runs: pd.DataFrame) -> list[str]:
    from arbscan.journal.schema import JOURNAL_FAILED

    notes = []
    crashed = [str(r) for r, s in zip(runs["run_id"], runs["status"]) if s == "crashed"]
    if crashed:
        notes.append(f"run{'s' if len(crashed) > 1 else ''} {', '.join(crashed)} crashed (the process died): "
                     "funnel and feed counts are as of its last periodic write, and episodes open then were never journaled")
    failed = [str(r) for r, s in zip(runs["run_id"], runs["status"]) if s == JOURNAL_FAILED]
    if failed:
        notes.append(f"run{'s' if len(failed) > 1 else ''} {', '.join(failed)} lost rows: a journal write failed (a full "
                     "disk?) and the run stopped there; episodes, trades and counts after that moment were never journaled")
    return notes


# -- command line ------------------------------------------------------------------------------


def _run_arg(text: str) -> int | str:
    if text == "latest":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a run id nor 'latest'") from None


def _top_arg(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return n


def add_arguments(parser: argparse.ArgumentParser, *, with_db: bool = True) -> None:
    """Add the ``arbscan report`` options to ``parser`` (``with_db=False`` when the caller has ``--db``)."""
    if with_db:
        parser.add_argument("--db", required=True, metavar="PATH", help="journal file (SQLite) written by scan or replay")
    parser.add_argument("--since", metavar="TIME",
                        help="report from this time: ISO-8601 (UTC when no offset) or unix seconds")
    parser.add_argument("--until", metavar="TIME", help="report up to (not including) this time")
    parser.add_argument("--symbol", help="only this unified symbol, e.g. BTC/USD (any case)")
    parser.add_argument("--run", type=_run_arg, metavar="ID", help="only run ID, or 'latest' (default: every run)")
    parser.add_argument("--csv", metavar="DIR", help="also write one CSV per table into DIR")
    parser.add_argument("--html", metavar="FILE", help="also write one self-contained HTML report with charts")
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--top", type=_top_arg, default=DEFAULT_TOP, metavar="N",
                       help=f"rows per list in the summary: routes, funnel, feeds, trading (default {DEFAULT_TOP})")
    shown.add_argument("--all", action="store_true",
                       help="print every table in full: every route (those without episodes too), every column")


def run(args: argparse.Namespace, db: str | Path | None = None) -> int:
    """Run ``arbscan report`` (journal ``db``, else ``args.db``); prints the report, returns 0; BadInput raises."""
    import shutil

    path = db if db is not None else args.db
    flt = ReportFilter(
        since=parse_time(args.since, "--since") if args.since is not None else None,
        until=parse_time(args.until, "--until") if args.until is not None else None,
        symbol=args.symbol, run=args.run,
    )
    from arbscan.journal.file import check_journal

    check_journal(path, write=False)  # the same one line as every other command for a path it cannot use
    report = build_report(path, flt, charts=bool(args.html))
    done = []  # files first: a bad --csv / --html is one error line, not a report followed by one
    if args.csv:
        paths = write_csv(report, args.csv)
        done.append(f"wrote {len(paths)} CSV files to {args.csv}")
    if args.html:
        write_html(report, args.html, top=args.top)
        done.append(f"wrote {args.html}")
    width = max(80, shutil.get_terminal_size((120, 24)).columns)
    print(render_text(report, width=width, top=None if args.all else args.top), end="")
    for line in done:
        print(line)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry (``python -c 'from arbscan.report import main; main()'``): BadInput -> one line, exit 2."""
    import sys

    parser = argparse.ArgumentParser(prog="arbscan report", description="Reports over an arbscan journal.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except BadInput as exc:
        print(f"arbscan: error: {exc}", file=sys.stderr)
        return 2
