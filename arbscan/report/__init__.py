"""Reports over the SQLite journal: route profitability, episode durations, the funnel, feed quality, trading.

:func:`build_report` reads a journal read-only (it works while a scanner is still writing it: WAL,
one read transaction for a consistent snapshot) and returns a :class:`Report`: one
``pandas.DataFrame`` per table (columns fixed by :data:`TABLES`) and the charts (:class:`Chart`,
PNG bytes plus the plotted series). :func:`render_text`, :func:`write_csv` and
:func:`render_html` turn it into the terminal report (a summary whose lists are ranked and cut to
``--top`` rows, or every table), one CSV per table (every row) and one self-contained HTML page.

The modules, one job each: ``read`` (time arguments, the filter, the journal snapshot as typed
frames), ``tables`` and ``trading`` (the tables from the frames), ``summary`` (ranking, and the
summary's sections), ``cells`` (how one value is shown), ``format`` (the decimal context and labels
all of them share), ``charts`` (matplotlib, imported only
there), ``render`` (terminal and CSV), ``page`` (HTML) and ``command`` (``build_report`` and
``arbscan report``). pandas and matplotlib are imported where they are used, so importing this
package (the CLI does, to add the command's options) does not load matplotlib; pandas still comes
in through ``arbscan.journal.store`` (sqlite_utils imports it when it is installed).

Definitions (also in docs/reports.md, section "Reports: arbscan report"):

- an episode's *duration* is ``last_seen - first_seen``: the time from its first to its last live
  evaluation, so a lower bound of how long the route stayed live (one observation: 0 s);
- *covered* time of a route is, per run, the overlap of its two books' event spans
  (``venue_stats.first_ts .. last_ts``) clipped to the ``--since``/``--until`` window, summed over
  runs; ``live_share = live_s / covered_s`` where ``live_s`` sums the episodes' durations (clipped
  to the window);
- money figures are exact ``Decimal`` sums of the journal's TEXT decimals, printed without exponent
  up to 10^40; route bps figures are rounded half-even to 0.01 bps, ``fee_share`` to 4 decimals;
- a journal value that is not what its column should hold is read as missing and named in a note
  (``read.COLUMNS``), so any journal gives a report;
- ``p90`` interpolates linearly between closest ranks (pandas' default).

Funnel counts and feed statistics are per-run totals that cannot be split in time: ``--since`` /
``--until`` select the runs whose event span overlaps the window for them, episodes by their
``first_seen``, trades by ``opened``.

Layer: beside ``scan``, ``replay``, ``execution``, ``alerts``; above ``journal``, ``config``, ``funding`` and
the domain core. It only reads the journal (never writes it).
"""

from arbscan.report.charts import Chart
from arbscan.report.command import add_arguments, build_report, main, run
from arbscan.report.read import ReportFilter, parse_time
from arbscan.report.page import HTML_MAX_ROWS, render_html, write_html
from arbscan.report.render import render_text, write_csv
from arbscan.report.summary import DEFAULT_TOP
from arbscan.report.tables import TABLES, TRADE_STATUSES, Report

__all__ = [
    "TABLES",
    "TRADE_STATUSES",
    "HTML_MAX_ROWS",
    "DEFAULT_TOP",
    "ReportFilter",
    "Chart",
    "Report",
    "parse_time",
    "build_report",
    "render_text",
    "write_csv",
    "render_html",
    "write_html",
    "add_arguments",
    "run",
    "main",
]
