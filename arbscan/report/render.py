"""The report as text (terminal), CSV files (one per table) and one self-contained HTML page.

Every value is shown the same way in all three (:func:`cell`): exact decimals without exponent,
times as UTC ISO-8601 with milliseconds, seconds to 0.001, ratios to 4 decimals, '' for missing.
"""

from __future__ import annotations

import base64
import html
from decimal import Decimal, InvalidOperation, localcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arbscan.errors import BadInput
from arbscan.report.read import isnull, iso
from arbscan.report.tables import TABLES, WIDE, Report

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["HTML_MAX_ROWS", "cell", "decimal_text", "render_text", "write_csv", "render_html", "write_html"]

_TITLES = {
    "runs": "Runs",
    "routes": "Routes: episodes, peak net profit, durations, live share",
    "funnel": "Route funnel: evaluated, crossed before fees, live after fees, why not",
    "venues": "Venues: book feeds, gaps and staleness",
    "episodes": "Episodes",
    "trading": "Paper and live trading",
    "imbalances": "Leg imbalances and how they were flattened",
    "balances": "Balances per venue (start and final)",
}
_KEYS = {
    "runs": ("run_id",),
    "routes": ("symbol", "buy_exchange", "sell_exchange"),
    "funnel": ("symbol", "buy_exchange", "sell_exchange"),
    "venues": ("exchange", "symbol"),
    "episodes": ("run_id", "symbol", "buy_exchange", "sell_exchange"),
    "trading": ("mode", "strategy", "symbol"),
    "imbalances": ("trade_id",),
    "balances": ("run_id", "mode", "strategy", "exchange", "asset"),
}
_TIME_COLS = {"started", "ended", "first_event", "last_event", "first_seen", "last_seen", "opened", "closed", "as_of"}
_SECONDS_COLS = {"duration_median_s", "duration_p90_s", "duration_max_s", "live_s", "covered_s", "span_s",
                 "duration_s"}
_MS_COLS = {"mean_gap_ms", "max_gap_ms"}
_RATIO_COLS = {"live_share", "events_per_s"}
_TEXT_TABLES_SKIPPED = ("episodes",)  # too long for a terminal: CSV and HTML only

HTML_MAX_ROWS = 1000
"""Rows per table in the HTML page (a long scan has many episodes); the CSVs always hold every row."""


def cell(column: str, value: Any) -> str:
    """One value as the report shows it (terminal, CSV and HTML alike); missing -> ''."""
    if isnull(value):
        return ""
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and abs(value) >= 1e15 and column not in _TIME_COLS:
        return format(value, ".6g")  # no journal figure is this large: shown, not padded with digits
    if column in _TIME_COLS:
        return iso(float(value))
    if column in _SECONDS_COLS:
        return f"{float(value):.3f}"
    if column in _MS_COLS:
        return f"{float(value):.1f}"
    if column in _RATIO_COLS:
        return f"{float(value):.4f}"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))  # counts and ids (pandas makes them float next to a NULL)
    return str(value)


def decimal_text(value: Decimal) -> str:
    """An exact decimal without exponent; beyond 10^40 (or below 10^-40) with one, so any magnitude prints short."""
    if value.is_finite() and -40 <= value.adjusted() <= 40:
        return format(value, "f")
    if value.is_finite():
        with localcontext(WIDE):
            return str(value.normalize())  # 1E+999999, not 120 digits of a sum
    return str(value)  # NaN, Infinity


def _formatted(df: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    cols = list(df.columns)
    data = {c: [cell(c, v) for v in df[c].tolist()] for c in cols}
    return pd.DataFrame(data, columns=cols)


def _printable(text: str) -> str:
    """Control characters (a newline in a journal's text) escaped, so a table row stays one line."""
    return text if text.isprintable() else "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def _text_table(name: str, df: pd.DataFrame, width: int = 120) -> list[str]:
    """A table as aligned text: columns two spaces apart, numbers right-aligned, '-' for missing; wide
    tables are split into blocks of columns, each repeating the row's key columns."""
    f = _formatted(df)
    keys = [c for c in _KEYS[name] if c in f.columns]
    others = [c for c in f.columns if c not in keys]
    cells = {c: [_printable(v) if v != "" else "-" for v in f[c]] for c in f.columns}
    widths = {c: max([len(c)] + [len(v) for v in cells[c]]) for c in f.columns}
    numeric = {c: all(v == "-" or _is_number(v) for v in cells[c]) for c in f.columns}
    chunks: list[list[str]] = []
    base = sum(widths[c] + 2 for c in keys)
    cur: list[str] = []
    used = base
    for c in others:
        if cur and used + widths[c] + 2 > width:
            chunks.append(cur)
            cur, used = [], base
        cur.append(c)
        used += widths[c] + 2
    if cur or not chunks:
        chunks.append(cur)
    lines: list[str] = []
    for i, chunk in enumerate(chunks):
        cols = keys + chunk
        if i:
            lines.append("")

        def fmt(c: str, v: str) -> str:
            return v.rjust(widths[c]) if numeric[c] else v.ljust(widths[c])

        lines.append("  ".join(fmt(c, c) for c in cols).rstrip())
        for r in range(len(f)):
            lines.append("  ".join(fmt(c, cells[c][r]) for c in cols).rstrip())
    return lines


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True


def render_text(report: Report, width: int = 120) -> str:
    """The terminal report: a header, then each table (wide ones split into column blocks keyed by row)."""
    out = [f"arbscan report: {report.db}", report.filter.describe(), ""]
    if report.empty:
        out.extend(report.notes)
        return "\n".join(out) + "\n"
    for name in TABLES:
        if name in _TEXT_TABLES_SKIPPED:
            continue
        df = report.tables[name]
        if name in ("trading", "imbalances", "balances") and not len(df):
            continue
        out.append(f"== {_TITLES[name]} ==")
        if not len(df):
            out.append("(none)")
        else:
            out.extend(_text_table(name, df, width))
        out.append("")
    out.extend(f"note: {n}" for n in report.notes)
    out.append("durations: last_seen - first_seen (s); live_share = live_s / covered_s; "
               "money in the route's quote currency; episodes: see --csv or --html")
    return "\n".join(out) + "\n"


def write_csv(report: Report, directory: str | Path) -> list[Path]:
    """Write ``<table>.csv`` for every table of :data:`TABLES` into ``directory``; returns the paths."""
    d = Path(directory)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"--csv: cannot create directory {str(d)!r}: {exc.strerror}") from None
    paths = []
    for name in TABLES:
        p = d / f"{name}.csv"
        _formatted(report.tables[name]).to_csv(p, index=False, lineterminator="\n")
        paths.append(p)
    return paths


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
p.meta{color:#555;margin:2px 0} table{border-collapse:collapse;font-size:12px;margin:6px 0}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:right;white-space:nowrap}
th{background:#f3f5f8} td:first-child,th:first-child{text-align:left} img{max-width:100%;border:1px solid #eee}
figure{margin:12px 0} figcaption{color:#555;font-size:12px} .wrap{overflow-x:auto}
"""


def render_html(report: Report) -> str:
    """One self-contained HTML page: header, charts as embedded base64 PNGs, every table. No external links."""
    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>arbscan report: {e(report.db)}</title>", f"<style>{_CSS}</style></head><body>",
             f"<h1>arbscan report</h1><p class=\"meta\">journal: {e(report.db)}</p>",
             f"<p class=\"meta\">{e(report.filter.describe())}</p>"]
    for n in report.notes:
        parts.append(f"<p class=\"meta\">{e(n)}</p>")
    if not report.empty:
        if report.charts:
            parts.append("<h2>Charts</h2>")
        for c in report.charts:
            data = base64.b64encode(c.png).decode("ascii")
            parts.append(f'<figure id="chart-{e(c.name)}"><img alt="{e(c.title)}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{e(c.title)}</figcaption></figure>")
        for name in TABLES:
            df = report.tables[name]
            parts.append(f'<h2 id="table-{name}">{e(_TITLES[name])}</h2>')
            if not len(df):
                parts.append("<p>(none)</p>")
                continue
            shown = df.head(HTML_MAX_ROWS)
            parts.append('<div class="wrap">' + _formatted(shown).to_html(index=False, border=0, escape=True)
                         + "</div>")
            if len(df) > len(shown):
                parts.append(f'<p class="meta">first {len(shown):,} of {len(df):,} rows; all of them are in '
                             f"{name}.csv (--csv DIR)</p>")
        parts.append("<p class=\"meta\">durations: last_seen - first_seen in seconds; live_share = live_s / "
                     "covered_s; money in the route's quote currency, exact decimals from the journal.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_html(report: Report, path: str | Path) -> Path:
    """Write :func:`render_html` to ``path``; returns it."""
    p = Path(path)
    try:
        p.write_text(render_html(report), encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"--html: cannot write {str(p)!r}: {exc.strerror}") from None
    return p


