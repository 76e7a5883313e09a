"""The report as one self-contained HTML page: the summary, the charts, then every table, searchable and sortable.

The page has no external links: charts are embedded PNGs, and one small inline script adds a
filter box and click-to-sort headers to the full tables (without scripts they are plain tables).
Each full table holds at most :data:`HTML_MAX_ROWS` rows (routes best first); the CSVs hold every row.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import TYPE_CHECKING

from arbscan.errors import BadInput
from arbscan.report.cells import formatted
from arbscan.report.summary import DEFAULT_TOP, TITLES, Section, ranked_routes, sections
from arbscan.report.tables import TABLES, Report

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["HTML_MAX_ROWS", "render_html", "write_html"]

HTML_MAX_ROWS = 2000
"""Rows per full table in the HTML page (every route of 5 venues x 100 symbols); the CSVs hold every row."""

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
p.meta{color:#555;margin:2px 0} p.line{margin:4px 0} table{border-collapse:collapse;font-size:12px;margin:6px 0}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:right;white-space:nowrap}
th{background:#f3f5f8} td:first-child,th:first-child{text-align:left} img{max-width:100%;border:1px solid #eee}
figure{margin:12px 0} figcaption{color:#555;font-size:12px} .wrap{overflow-x:auto;max-height:36em;overflow-y:auto}
table.data th{cursor:pointer;position:sticky;top:0} input.filter{margin:4px 0;padding:3px 6px;width:20em}
"""

# Filter rows by text and sort by a clicked column (numbers as numbers); plain tables without it.
_SCRIPT = """
document.querySelectorAll("table.data").forEach(function (table) {
  var body = table.tBodies[0], box = document.createElement("input");
  box.type = "search"; box.className = "filter"; box.placeholder = "filter rows";
  table.parentNode.parentNode.insertBefore(box, table.parentNode);
  box.addEventListener("input", function () {
    var q = box.value.toLowerCase();
    Array.prototype.forEach.call(body.rows, function (r) {
      r.hidden = q !== "" && r.textContent.toLowerCase().indexOf(q) < 0;
    });
  });
  var number = /^-?[0-9]+(\\.[0-9]+)?(E[-+]?[0-9]+)?$/i;
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
    th.title = "click to sort";
    th.addEventListener("click", function () {
      var dir = th.getAttribute("data-dir") === "desc" ? 1 : -1;
      th.setAttribute("data-dir", dir < 0 ? "desc" : "asc");
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[i].textContent, y = b.cells[i].textContent;
        if (number.test(x) && number.test(y)) return dir * (parseFloat(x) - parseFloat(y));
        return dir * x.localeCompare(y);
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def _table(df: pd.DataFrame, css_class: str = "") -> str:
    f = formatted(df)
    e = html.escape
    cols = list(f.columns)
    head = "".join(f"<th>{e(c)}</th>" for c in cols)
    # end tags of cells and rows are optional in HTML: without them a 2,000-row table is a third smaller
    body = "\n".join("<tr><td>" + "<td>".join(e(v) for v in row) for row in zip(*(f[c] for c in cols)))
    cls = f' class="{css_class}"' if css_class else ""
    return f'<div class="wrap"><table{cls}><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table></div>'


def _section(section: Section) -> list[str]:
    e = html.escape
    parts = [f'<h2 id="summary-{e(section.name)}">{e(section.title)}</h2>']
    parts += [f'<p class="line">{e(line)}</p>' for line in section.before]
    if section.rows is not None and len(section.rows):
        parts.append(_table(section.rows))
    parts += [f'<p class="line">{e(line)}</p>' for line in section.after]
    return parts


def _full_table(report: Report, name: str) -> list[str]:
    e = html.escape
    df = report.tables[name]
    if name == "routes":
        df = ranked_routes(df)[0]
    parts = [f'<h2 id="table-{name}">{e(TITLES[name])}</h2>']
    if not len(df):
        return parts + ["<p>(none)</p>"]
    shown = df.head(HTML_MAX_ROWS)
    parts.append(_table(shown, "data"))
    if len(df) > len(shown):
        parts.append(f'<p class="meta">first {len(shown):,} of {len(df):,} rows; all of them are in '
                     f"{name}.csv (--csv DIR)</p>")
    return parts


def render_html(report: Report, top: int | None = DEFAULT_TOP) -> str:
    """One self-contained HTML page: summary (``top`` rows per list), charts as embedded PNGs, every table."""
    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>arbscan report: {e(report.db)}</title>", f"<style>{_CSS}</style></head><body>",
             f"<h1>arbscan report</h1><p class=\"meta\">journal: {e(report.db)}</p>",
             f"<p class=\"meta\">{e(report.filter.describe())}</p>"]
    for n in report.notes:
        parts.append(f"<p class=\"meta\">{e(n)}</p>")
    if not report.empty:
        for section in sections(report, top if top is not None else DEFAULT_TOP):
            parts.extend(_section(section))
        if report.charts:
            parts.append("<h2>Charts</h2>")
        for c in report.charts:
            data = base64.b64encode(c.png).decode("ascii")
            parts.append(f'<figure id="chart-{e(c.name)}"><img alt="{e(c.title)}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{e(c.title)}</figcaption></figure>")
        for name in TABLES:
            parts.extend(_full_table(report, name))
        parts.append("<p class=\"meta\">durations: last_seen - first_seen in seconds; live_share = live_s / "
                     "covered_s; money in the route's quote currency, exact decimals from the journal. Full tables: "
                     "type to filter rows, click a column to sort.</p>")
        parts.append(f"<script>{_SCRIPT}</script>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_html(report: Report, path: str | Path, top: int | None = DEFAULT_TOP) -> Path:
    """Write :func:`render_html` to ``path``; returns it."""
    p = Path(path)
    try:
        p.write_text(render_html(report, top), encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"--html: cannot write {str(p)!r}: {exc.strerror}") from None
    return p
