"""`arbscan report` on a 5-venue x 100-symbol journal: short, ranked, complete where it must be, and quiet.

The journal is a synthetic replay (``bench/gen_replay.py``: 5 venues x 100 symbols, 10,000 deltas)
run through ``arbscan replay FILE --db DB``, once per session: 2,000 routes, about a tenth of them
with episodes. Expected figures come from SQL over the journal, never from report code. Sizes and
times of the HTML page are the benchmark's job (``bench/bench_report.py``), not a test's.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import sqlite3
import sys
import warnings
from decimal import Decimal
from pathlib import Path

import pytest

from arbscan.cli import command as cli
from arbscan.report import TABLES

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ is not installed: take it from the checkout

from bench.gen_replay import generate  # noqa: E402

VENUES, SYMBOLS = 5, 100


REPLAY_SUMMARY: list[str] = []  # what the replay that builds the journal printed


@pytest.fixture(scope="session")
def big_journal(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("scale")
    replay = d / "5x100.jsonl"
    generate(replay, VENUES, SYMBOLS, 10_000, seed=3)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["replay", str(replay), "--db", str(d / "5x100.db"), "--no-progress"]) == 0
    REPLAY_SUMMARY[:] = out.getvalue().splitlines()
    return d / "5x100.db"


def test_the_replay_summary_stays_short_at_scale(big_journal):
    lines = REPLAY_SUMMARY
    assert len(lines) < 60 and max(len(line) for line in lines) < 400  # it was 2,507 lines, one of 15,000 characters
    assert lines[1].startswith("taker fees: 0.05 % on every market (5 venues);")
    funnel = lines[lines.index("route funnel (counts of evaluations):") + 1:lines.index("book feeds:")]
    assert len(funnel) == 1 + 20 + 1  # the header, the 20 routes that mattered most, the rest in one line
    lives = [int(row.split()[8]) for row in funnel[1:-1]]  # the "live" column (the route is 4 words), most live first
    assert lives == sorted(lives, reverse=True) and lives[0] > 0
    conn = sqlite3.connect(big_journal)
    (most,) = conn.execute("SELECT max(live) FROM funnel").fetchone()
    assert lives[0] == most
    assert funnel[-1].startswith("  ... and 1,980 more routes: ")
    feeds = lines[lines.index("book feeds:") + 1:]
    assert feeds[0].startswith("  all 500 feeds: ") or len(feeds) <= 22


def _report(argv: list[str], monkeypatch, width: int = 120) -> tuple[str, str, list[warnings.WarningMessage]]:
    """``arbscan report ARGV`` in this process: (stdout, stderr, every warning raised, filtered or not)."""
    monkeypatch.setenv("COLUMNS", str(width))
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        warnings.simplefilter("always")
        assert cli.main(["report", *argv]) == 0, err.getvalue()
    return out.getvalue(), err.getvalue(), list(caught)


def _section(text: str, title: str) -> list[str]:
    """The lines of the section whose title starts with ``title``, up to the next section or the footer."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(f"== {title}"))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith(("== ", "note:", "durations:")))
    return lines[start + 1:end - 1]  # the section's last line is blank


def _sql_routes(db: Path) -> list[tuple[str, Decimal, int]]:
    """Routes with episodes and their exact peak net profit totals, best first (ties by episodes, name)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT symbol, buy_exchange, sell_exchange, net_profit FROM opportunities").fetchall()
    totals: dict[tuple[str, str, str], list] = {}
    for s, b, x, p in rows:
        t = totals.setdefault((s, b, x), [Decimal(0), 0])
        t[0] += Decimal(p)
        t[1] += 1
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))
    return [(f"{s} buy {b} sell {x}", total, n) for (s, b, x), (total, n) in ranked]


def test_the_journal_has_routes_with_and_without_episodes(big_journal):
    with sqlite3.connect(big_journal) as conn:
        (routes,) = conn.execute("SELECT count(*) FROM (SELECT DISTINCT symbol, buy_exchange, sell_exchange "
                                 "FROM funnel)").fetchone()
    active = _sql_routes(big_journal)
    assert routes == VENUES * (VENUES - 1) * SYMBOLS == 2000
    assert 20 < len(active) < 1000


@pytest.mark.parametrize("width", [120, 80])
def test_default_text_report_is_under_80_lines(big_journal, monkeypatch, width):
    out, _, _ = _report(["--db", str(big_journal)], monkeypatch, width)
    assert len(out.splitlines()) < 80
    assert max(len(ln) for ln in out.splitlines()[1:]) <= width  # (line 0 names the journal's path)


def test_routes_are_ranked_by_peak_net_profit_and_the_rest_is_one_line(big_journal, monkeypatch):
    out, _, _ = _report(["--db", str(big_journal)], monkeypatch)
    expected = _sql_routes(big_journal)
    lines = _section(out, "Routes by peak net profit of their episodes: top 20 of 2,000")
    shown = [re.split(r"\s{2,}", ln)[0] for ln in lines[1:21]]
    assert shown[0] == expected[0][0]  # the route with the greatest total peak net profit comes first
    assert shown == [name for name, _, _ in expected[:20]]
    rest = expected[20:]
    assert lines[21] == (f"... and {2000 - 20:,} more routes: {sum(n for _, _, n in rest):,} episodes, net profit "
                         f"{sum(t for _, t, _ in rest)} USD; {2000 - len(expected):,} of them without episodes "
                         "(--all lists them)")


def test_top_n_shortens_every_list(big_journal, monkeypatch):
    out, _, _ = _report(["--db", str(big_journal), "--top", "5"], monkeypatch)
    routes = _section(out, "Routes by peak net profit of their episodes: top 5 of 2,000")
    assert [re.split(r"\s{2,}", ln)[0] for ln in routes[1:6]] == [n for n, _, _ in _sql_routes(big_journal)[:5]]
    assert routes[6].startswith("... and 1,995 more routes: ")
    funnel = _section(out, "Route funnel")
    assert sum(1 for ln in funnel if ln.startswith("C0")) == 5
    assert len(out.splitlines()) < 40


def test_all_lists_every_route_and_every_column(big_journal, monkeypatch):
    out, _, _ = _report(["--db", str(big_journal), "--all"], monkeypatch)
    routes = _section(out, "Routes: ")
    rows = [ln for ln in routes if ln.startswith("C0")]
    # the table is split into blocks of columns, each listing every route once
    blocks = sum(1 for ln in routes if ln.startswith("symbol "))
    assert len(rows) == 2000 * blocks
    header_cells = {c for ln in routes if ln.startswith("symbol ") for c in ln.split()}
    assert set(TABLES["routes"]) <= header_cells
    first = [re.split(r"\s{2,}", ln)[:3] for ln in rows[:2]]
    assert [" buy ".join(f[:2]) + " sell " + f[2] for f in first] == [n for n, _, _ in _sql_routes(big_journal)[:2]]


def test_csv_keeps_every_row_and_the_documented_columns(big_journal, monkeypatch, tmp_path):
    _report(["--db", str(big_journal), "--top", "3", "--csv", str(tmp_path)], monkeypatch)
    with sqlite3.connect(big_journal) as conn:
        (episodes,) = conn.execute("SELECT count(*) FROM opportunities").fetchone()
    expected_rows = {"routes": 2000, "funnel": 2000, "venues": VENUES * SYMBOLS, "episodes": episodes, "runs": 1}
    for name, n in expected_rows.items():
        with open(tmp_path / f"{name}.csv", newline="") as f:
            reader = csv.DictReader(f)
            assert tuple(reader.fieldnames) == TABLES[name]
            assert sum(1 for _ in reader) == n, name


def test_no_warning_reaches_stderr_for_text_and_html(big_journal, monkeypatch, tmp_path):
    for argv in (["--db", str(big_journal)], ["--db", str(big_journal), "--html", str(tmp_path / "r.html")]):
        _, err, caught = _report(argv, monkeypatch)
        assert err == "" and [str(w.message) for w in caught] == []


def test_html_charts_the_top_routes_and_tables_every_route(big_journal, monkeypatch, tmp_path):
    from arbscan.report import build_report, render_html

    report = build_report(big_journal)
    funnel = next(c for c in report.charts if c.name == "funnel")
    top = [n for n, _, _ in _sql_routes(big_journal)[:10]]
    assert funnel.series["live"]["x"] == [*top, "all other routes (1,990)"]
    assert sum(funnel.series["live"]["y"]) == int(report.tables["funnel"]["live"].sum())  # the others summed
    over_time = next(c for c in report.charts if c.name == "routes_over_time")
    assert list(over_time.series)[:10] == top and len(over_time.series) == 11
    assert sum(len(s["x"]) for s in over_time.series.values()) == len(report.tables["episodes"])
    from PIL import Image

    for chart in report.charts:  # the size of a few routes' charts, whatever the journal's size
        assert Image.open(io.BytesIO(chart.png)).size[1] <= 1000
    page = render_html(report)
    routes = page.split('id="table-routes"')[1].split("<h2")[0]
    assert routes.count("<tr") == 2001  # header + every route
    assert page.count("<img ") == 3  # no trades: no PnL chart


def test_symbol_is_matched_without_case(big_journal, monkeypatch):
    out, _, _ = _report(["--db", str(big_journal), "--symbol", "c0007/usd", "--all"], monkeypatch)
    assert "symbol: C0007/USD" in out.splitlines()[1]
    routes = [ln for ln in _section(out, "Routes: ") if ln.startswith("C0")]
    blocks = sum(1 for ln in _section(out, "Routes: ") if ln.startswith("symbol "))
    assert len(routes) == 20 * blocks and all(ln.startswith("C0007/USD ") for ln in routes)
