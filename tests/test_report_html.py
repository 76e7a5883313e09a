"""The HTML report: self-contained, charts embedded as PNGs that decode, are not blank and plot the right series."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import sqlite3
import subprocess
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from arbscan.report import ReportFilter, build_report, render_html, write_html
from arbscan.journal.store import Store

DATA = Path(__file__).parent / "data" / "report"
T0 = 1554076800.0
BLUE, ORANGE = (0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)  # the first two series colours
KB, BK = "BTC/USD buy kraken sell bitstamp", "BTC/USD buy bitstamp sell kraken"


def write_journal(path: Path, tables=("runs", "opportunities", "funnel", "venue_stats", "trades", "orders",
                                      "fills", "balances")) -> Path:
    """Load tests/data/report/journal.json (see its README) into a journal through Store."""
    data = json.loads((DATA / "journal.json").read_text())
    with Store(path, flush_interval=0.01) as s:
        for table in tables:
            s.submit_many(table, data[table])
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return build_report(write_journal(tmp_path_factory.mktemp("html") / "known.db"))


@pytest.fixture(scope="module")
def page(report):
    return render_html(report)


def embedded_pngs(html_text: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html_text)]


def pixels_near(img: Image.Image, rgb: tuple[int, int, int], tol: int = 8) -> int:
    """How many pixels are within ``tol`` of colour ``rgb`` on every channel."""
    a = np.asarray(img.convert("RGB"), dtype=np.int16)
    return int((np.abs(a - np.array(rgb, dtype=np.int16)) <= tol).all(axis=2).sum())


def test_html_is_self_contained(page):
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<script") == 1 and "<script>" in page  # one inline script: filter and sort the tables
    assert "<link" not in page and "@import" not in page and "http" not in page.split("<script>")[1]
    assert not re.search(r'(src|href)=(?!["\']?data:)', page)  # nothing to fetch: it opens offline
    assert page.count("<img ") == 4


def test_html_has_every_table(page):
    for name in ("runs", "routes", "funnel", "venues", "episodes", "trading", "imbalances", "balances"):
        assert f'id="table-{name}"' in page
    assert "<td>3.950<" in page and "<td>0.2905<" in page  # kraken->bitstamp total and fee share


def test_long_tables_are_cut_in_the_page_and_say_where_the_rest_is(report, monkeypatch):
    monkeypatch.setattr("arbscan.report.page.HTML_MAX_ROWS", 2)
    page = render_html(report)
    episodes = page.split('id="table-episodes"')[1].split("<h2")[0]
    assert episodes.count("<tr") == 3  # header + 2 rows
    assert "first 2 of 6 rows; all of them are in episodes.csv" in episodes


def test_embedded_images_are_valid_non_blank_pngs(report, page):
    pngs = embedded_pngs(page)
    assert pngs == [c.png for c in report.charts]  # the images shown are the charts whose series we check below
    assert [c.name for c in report.charts] == ["routes_over_time", "duration_histogram", "funnel", "cumulative_pnl"]
    for png in pngs:
        img = Image.open(io.BytesIO(png))
        assert img.format == "PNG"
        img.verify()
        img = Image.open(io.BytesIO(png)).convert("RGB")
        assert img.width >= 800 and img.height >= 300
        colours = img.getcolors(maxcolors=1 << 20)
        assert len(colours) > 50  # text, axes and data: not a blank canvas
        white = max(colours)[0]
        assert white < 0.97 * img.width * img.height


def test_routes_chart_plots_each_route_over_time(report):
    chart = report.charts[0]
    assert set(chart.series) == {KB, BK}  # ETH/USD had no episodes
    kb = chart.series[KB]
    assert kb["x"] == [T0 + 1010, T0 + 1020, T0 + 1050, T0 + 5005]  # first_seen of E1, E2, E3, E6
    assert kb["y"] == [1, 2, 3, 4]  # cumulative episodes
    assert kb["bps"] == [Decimal("3.2"), Decimal("1.1"), Decimal("4.75"), Decimal("0.5")]
    assert chart.series[BK]["x"] == [T0 + 1070, T0 + 1080] and chart.series[BK]["bps"] == [Decimal("0.8"), Decimal("1.2")]
    assert {chart.series[BK]["color"], chart.series[KB]["color"]} == {"#1f77b4", "#ff7f0e"}
    img = Image.open(io.BytesIO(chart.png))
    assert pixels_near(img, BLUE) > 30 and pixels_near(img, ORANGE) > 30  # both routes' lines are drawn


def test_duration_histogram_counts_every_episode(report):
    chart = report.charts[1]
    assert sorted(chart.series[KB]["x"]) == [0.0, 1.0, 3.5, 9.0]
    assert sorted(chart.series[BK]["x"]) == [1.25, 2.75]
    assert sum(chart.series[KB]["y"]) == 4 and sum(chart.series[BK]["y"]) == 2
    edges = chart.series[KB]["edges"]
    assert edges[0] <= 0.0 and edges[-1] >= 9.0
    img = Image.open(io.BytesIO(chart.png))
    assert pixels_near(img, BLUE) > 100 and pixels_near(img, ORANGE) > 100  # stacked bars of both routes


def test_funnel_chart_stacks_each_route_s_outcomes(report):
    chart = report.charts[2]
    # routes in the report's ranking (realised PnL: kraken->bitstamp 0.86; then by episodes)
    assert chart.series["live"]["x"] == [KB, BK, "ETH/USD buy kraken sell bitstamp"]
    # the funnel table's hand-computed counts (test_report.FUNNEL), route by route
    assert chart.series["live"]["y"] == [17, 5, 0]
    assert chart.series["not_crossed"]["y"] == [67, 90, 25]
    assert chart.series["fees"]["y"] == [21, 5, 4]
    assert chart.series["depth_or_minimums"]["y"] == [3, 0, 1]
    assert chart.series["stale"]["y"] == [7, 7, 2]
    img = Image.open(io.BytesIO(chart.png))
    for reason in ("live", "not_crossed", "fees", "stale"):
        rgb = tuple(int(chart.series[reason]["color"][i:i + 2], 16) for i in (1, 3, 5))
        assert pixels_near(img, rgb) > 100, reason


def test_pnl_chart_is_cumulative_realised_pnl_per_mode(report):
    chart = report.charts[3]
    assert set(chart.series) == {"live s1 BTC/USD", "paper s1 BTC/USD"}
    paper = chart.series["paper s1 BTC/USD"]
    assert paper["x"] == [T0 + 1011.5, T0 + 1052, T0 + 1061]  # T4 is still open: no realised PnL
    assert paper["y"] == [Decimal("1.10"), Decimal("0.75"), Decimal("0.75")]  # 1.10, then -0.35, then 0
    assert chart.series["live s1 BTC/USD"]["y"] == [Decimal("0.11")]
    img = Image.open(io.BytesIO(chart.png))
    for s in chart.series.values():
        rgb = tuple(int(s["color"][i:i + 2], 16) for i in (1, 3, 5))
        assert pixels_near(img, rgb) > 20


def test_charts_follow_the_filter(tmp_path):
    path = write_journal(tmp_path / "k.db")
    report = build_report(path, ReportFilter(run=2))
    assert [c.name for c in report.charts] == ["routes_over_time", "duration_histogram", "funnel"]  # no trades
    chart = report.charts[0]
    assert list(chart.series) == [KB] and chart.series[KB]["x"] == [T0 + 5005]
    img = Image.open(io.BytesIO(chart.png))
    assert pixels_near(img, BLUE) > 30 and pixels_near(img, ORANGE) == 0  # one route, one colour


def test_journal_without_trades_or_episodes_has_only_the_funnel_chart_and_says_so(tmp_path):
    path = write_journal(tmp_path / "k.db", tables=("runs", "funnel", "venue_stats"))
    report = build_report(path)
    assert [c.name for c in report.charts] == ["funnel"]
    page = render_html(report)
    assert page.count("<img") == 1
    assert "no episodes in the selection" in page and "no paper or live trades" in page


def test_journal_text_is_escaped_in_the_page(tmp_path):
    path = write_journal(tmp_path / "k.db")
    conn = sqlite3.connect(path)
    conn.execute("UPDATE trades SET detail = '<script>alert(1)</script>' WHERE id = 'T2'")
    conn.execute("UPDATE runs SET source = '<img src=x onerror=alert(2)>' WHERE id = 1")
    conn.commit()
    conn.close()
    page = render_html(build_report(path))
    assert "<script>alert(1)" not in page and "onerror=alert(2)>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.mark.skipif(_chromium() is None, reason="no chromium/chromium-browser on PATH (Debian: apt-get install chromium)")
def test_chromium_renders_the_report_offline(report, tmp_path):
    page = write_html(report, tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1600", f"--screenshot={shot}",
           page.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert shot.exists(), f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}"
    img = Image.open(shot).convert("RGB")
    assert img.size == (1280, 1600)
    colours = img.getcolors(maxcolors=1 << 22)
    assert len(colours) > 100  # text, tables and pictures, not a blank page
    # the first chart (top of the page) is drawn: both route colours are on screen
    assert pixels_near(img, BLUE, tol=12) > 30 and pixels_near(img, ORANGE, tol=12) > 30
