"""The report in the terminal (the summary, or every table with ``--all``) and as CSV files (always every row)."""

from __future__ import annotations

import textwrap
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

from arbscan.errors import BadInput
from arbscan.report.cells import formatted, is_number
from arbscan.report.summary import DEFAULT_TOP, Section, sections
from arbscan.report.tables import TABLES, Report

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["render_text", "text_table", "write_csv"]


def _printable(text: str) -> str:
    """Control characters (a newline in a journal's text) escaped, so a table row stays one line."""
    return text if text.isprintable() else "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def display_width(text: str) -> int:
    """Columns ``text`` takes on a terminal: East Asian wide and full-width characters take two, combining marks none."""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool) -> str:
    fill = " " * max(0, width - display_width(text))
    return fill + text if right else text + fill


def text_table(df: pd.DataFrame, keys: tuple[str, ...], width: int = 120, fit: bool = False) -> list[str]:
    """A table as aligned text: columns two spaces apart, numbers right-aligned (an 'unknown' among them
    too), '-' for missing; wide tables are split into blocks of columns, each repeating the row's key
    columns, or with ``fit`` (the summary's views) keep to one block and leave out the columns that do
    not fit."""
    f = formatted(df)
    keys_here = [c for c in keys if c in f.columns]
    others = [c for c in f.columns if c not in keys_here]
    cells = {c: [_printable(v) if v != "" else "-" for v in f[c]] for c in f.columns}
    widths = {c: max([display_width(c)] + [display_width(v) for v in cells[c]]) for c in f.columns}
    numeric = {c: all(v in ("-", "unknown") or is_number(v) for v in cells[c]) for c in f.columns}
    chunks: list[list[str]] = []
    base = sum(widths[c] + 2 for c in keys_here)
    cur: list[str] = []
    used = base
    for c in others:
        if cur and used + widths[c] + 2 > width:
            if fit:  # columns come in order of importance: a narrower one further on may still fit
                continue
            chunks.append(cur)
            cur, used = [], base
        cur.append(c)
        used += widths[c] + 2
    if cur or not chunks:
        chunks.append(cur)
    lines: list[str] = []
    for i, chunk in enumerate(chunks):
        cols = keys_here + chunk
        if i:
            lines.append("")

        def fmt(c: str, v: str) -> str:
            return _pad(v, widths[c], numeric[c])

        lines.append("  ".join(fmt(c, c) for c in cols).rstrip())
        for r in range(len(f)):
            lines.append("  ".join(fmt(c, cells[c][r]) for c in cols).rstrip())
    return lines


def _wrapped(line: str, width: int) -> list[str]:
    return textwrap.wrap(_printable(line), width, subsequent_indent="  ", break_long_words=False,
                         break_on_hyphens=False) or [""]


def _section_text(section: Section, width: int) -> list[str]:
    lines = [f"== {section.title} =="]
    for line in section.before:
        lines.extend(_wrapped(line, width))
    if section.rows is not None and len(section.rows):
        lines.extend(text_table(section.rows, section.keys, width, fit=section.fit))
    for line in section.after:
        lines.extend(_wrapped(line, width))
    return lines + [""]


def render_text(report: Report, width: int = 120, top: int | None = DEFAULT_TOP) -> str:
    """The terminal report: a header, then the summary (lists cut to ``top`` rows), or every table for ``top=None``."""
    out = [f"arbscan report: {report.db}", report.filter.describe(), ""]
    if report.empty:
        out.extend(report.notes)
        return "\n".join(out) + "\n"
    for section in sections(report, top):
        out.extend(_section_text(section, width))
    for n in report.notes:
        out.extend(_wrapped(f"note: {n}", width))
    out.extend(_wrapped("durations: last_seen - first_seen (s); live_share = live_s / covered_s; money in the quote "
                        "currency", width))
    out.append("episodes: --csv DIR or --html FILE" if top is None else
               "every row and column: --all, --csv DIR or --html FILE")
    return "\n".join(out) + "\n"


def write_csv(report: Report, directory: str | Path) -> list[Path]:
    """Write ``<table>.csv`` for every table of :data:`TABLES` into ``directory``, every row; returns the paths."""
    d = Path(directory)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"--csv: cannot create directory {str(d)!r}: {exc.strerror}") from None
    paths = []
    for name in TABLES:
        p = d / f"{name}.csv"
        formatted(report.tables[name]).to_csv(p, index=False, lineterminator="\n")
        paths.append(p)
    return paths
