"""The web view in a real browser: Debian's chromium, headless, driven by selenium through /usr/bin/chromedriver.

A replay with ``--web`` (a generated file whose x -> y route turns live half-way) is read as a person reads
it: the Routes table's cells, the live route appearing while the replay still runs. A scan on two fake venues
shows a venue turning unreachable on the Venues page when its fake is stopped. Screenshots go to the test's
``tmp_path``; the routes, venues and trading pages of the paper run are also copied to ``ARBSCAN_WEB_SHOTS``
when that is set. Without chromium the tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from web_helpers import LIVE_FIGURES, QUIET_GROSS, FakeVenue, write_replay

from arbscan import app, parts
from arbscan.config import checks
from arbscan.config.settings import parse_settings

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(180)


def _browser_missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture
def browser(tmp_path):
    missing = _browser_missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the web view's browser tests need a browser in CI: {missing}")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # selenium-manager never goes to the network; the paths are given
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,900",
                f"--user-data-dir={tmp_path / 'chromium-profile'}", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    driver.save_screenshot(str(path))
    target = os.environ.get("ARBSCAN_WEB_SHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)
    return path


def table(driver, table_id: str) -> list[list[str]]:
    """The table's body as a person sees it: the rendered text of every cell, row by row (read in one step: the
    page replaces the body at every snapshot)."""
    return driver.execute_script(
        "var t = document.getElementById(arguments[0]); if (!t) return [];"
        "return Array.from(t.tBodies[0].rows).map(function (r) {"
        "  return Array.from(r.cells).map(function (c) { return c.innerText.trim(); }); });", table_id)


def wait_for(check, timeout: float, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(every)


STRATEGY = """
[[strategies]]
name = "paper"
min_net_bps = 10
cooldown_ms = 500

[strategies.balances.x]
USD = 100000

[strategies.balances.y]
BTC = 100
"""


def test_a_replay_shows_its_routes_and_a_live_route_appears_while_it_runs(browser, tmp_path):
    replay = write_replay(tmp_path / "turns_live.jsonl", quiet=10000, live=40000)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[scanner]\nsymbols = ["BTC/USD"]\n[[venues]]\nexchange = "x"\n[[venues]]\nexchange = "y"\n' + STRATEGY)
    db = tmp_path / "replay.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ARBSCAN_WEB_TOKEN": ""}
    proc = subprocess.Popen([sys.executable, "-m", "arbscan.cli", "replay", str(replay), "--config", str(cfg), "--db",
                             str(db), "--no-progress", "--strategy", "paper", "--web", "127.0.0.1:0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        line = proc.stderr.readline()
        url = re.search(r"web view at (http://127\.0\.0\.1:\d+/)", line)
        assert url, line
        browser.get(url.group(1))
        quiet = wait_for(lambda: [r for r in table(browser, "routes") if r and r[0].startswith("BTC/USD buy x")], 30)
        before = quiet[0]
        assert before[1] == "" and before[2] == QUIET_GROSS and before[7] == "not crossed", before
        shot(browser, tmp_path, "replay-routes-before")
        rows = wait_for(lambda: (lambda t: t if t and t[0][1] == "live" else None)(table(browser, "routes")), 60, 0.05)
        assert proc.poll() is None, "the replay had ended before the live route was seen"
        live = rows[0]
        # Route, Live, Gross bps, Net bps, Net after transfer, Amount, Profit, Why not live, Buy age, Sell age
        assert live[:3] == ["BTC/USD buy x sell y", "live", LIVE_FIGURES["gross_bps"]], live
        assert (live[3], live[5], live[6], live[7]) == (LIVE_FIGURES["net_bps"], LIVE_FIGURES["amount"],
                                                        LIVE_FIGURES["profit"], "")
        assert rows[1][0] == "BTC/USD buy y sell x" and rows[1][7] == "not crossed"
        shot(browser, tmp_path, "replay-routes-live")
        browser.find_element("id", "filter").send_keys("nothing-like-this")
        assert wait_for(lambda: table(browser, "routes") == [["none yet"]], 5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stderr.close()


async def test_a_paper_scan_shows_a_venue_turn_unreachable_when_its_fake_stops(browser, tmp_path, monkeypatch):
    venues = {"x": FakeVenue("x", "99", "100"), "y": FakeVenue("y", "101", "102")}
    monkeypatch.setattr(parts, "build_adapters", lambda settings, validate_orders=False: venues)
    monkeypatch.setattr(parts, "DRIVER_OPTIONS", {"initial_backoff": 0.2, "max_backoff": 0.5, "stats_interval": 0.5})
    monkeypatch.setattr(checks, "exchange_known", lambda exchange: True)  # fake venues have made-up ids
    monkeypatch.delenv("ARBSCAN_WEB_TOKEN", raising=False)
    import tomllib

    raw = tomllib.loads('[scanner]\nsymbols = ["BTC/USD"]\n[[venues]]\nexchange = "x"\n[[venues]]\nexchange = "y"\n'
                        + STRATEGY)
    raw["scanner"]["db"] = str(tmp_path / "scan.db")
    settings = parse_settings(raw)
    urls: list[str] = []
    monkeypatch.setattr("arbscan.scan.view.say", lambda line: urls.append(line))
    from types import SimpleNamespace

    scan = asyncio.create_task(app.run_live_command(
        settings, "scan", duration=60, strategies=["paper"], live=False, validate_orders=False, out_path=None,
        status_view=lambda d: SimpleNamespace(draw=lambda: None, close=lambda: None), on_unreachable=None,
        web="127.0.0.1:0"))
    loop = asyncio.get_running_loop()

    def person() -> None:
        url = wait_for(lambda: next((m.group(1) for u in urls if (m := re.search(r"web view at (\S+)", u))), None), 30)
        browser.get(url + "routes")
        rows = wait_for(lambda: (lambda t: t if t and t[0][1] == "live" else None)(table(browser, "routes")), 30)
        assert rows[0][0] == "BTC/USD buy x sell y"
        time.sleep(1.5)  # a few paper trades settle and reach the journal
        shot(browser, tmp_path, "routes")
        browser.get(url + "venues")
        up = wait_for(lambda: (lambda t: t if len(t) == 2 and all(r[1] == "up" for r in t) else None)(table(browser, "venues")), 30)
        assert [r[0] for r in up] == ["x", "y"]
        shot(browser, tmp_path, "venues-up")
        venues["y"].stop()
        down = wait_for(lambda: (lambda t: t if len(t) == 2 and t[1][1].startswith("unreachable") else None)(
            table(browser, "venues")), 30)
        assert down[0][1] == "up" and int(down[1][3]) >= 1  # reconnect attempts counted
        assert down[1][7].startswith("ConnectionResetError") or down[1][7].startswith("ConnectionRefusedError"), down[1]
        shot(browser, tmp_path, "venues")
        browser.get(url + "trading")
        wait_for(lambda: "Realised PnL after all fees: +" in browser.page_source, 30)
        # read in one step: the page replaces the strategies' sections at every snapshot
        heading, drawn = browser.execute_script(
            "var s = document.querySelector('section[data-strategy=\"paper\"]'); if (!s) return ['', false];"
            "var h = s.querySelector('h2');"
            "return [h ? h.innerText.trim() : '', s.querySelector('svg polyline') !== null];")
        assert heading == "paper (paper)"
        assert drawn  # the PnL chart, drawn
        shot(browser, tmp_path, "trading")
        browser.get(url + "episodes")
        wait_for(lambda: table(browser, "open-episodes") and table(browser, "open-episodes")[0][0] != "none yet", 30)
        shot(browser, tmp_path, "episodes")

    try:
        await loop.run_in_executor(None, person)
    finally:
        scan.cancel()
        await asyncio.gather(scan, return_exceptions=True)
