"""The web view never slows the scanner: the event loop's lag during a scan with 20 live pages connected
against the same scan with none (as ``tests/test_alerts_run.py`` measures it with a slow alert destination).

The 20 clients read their event streams in another process, so only the server's own work (a snapshot
every ``snapshot_interval_ms``, written to 20 streams) lands on the scanner's loop. The figure compared is
the 95th percentile of the lag of a 5 ms probe over the scan, and the rule is the issue's:
lag with 20 clients < max(2 x lag without, 5 ms).
"""

from __future__ import annotations

import asyncio
import re
import statistics
import subprocess
import sys
import textwrap
import time
from types import SimpleNamespace

import pytest
from conftest import Flapping

from arbscan import app, parts
from arbscan.config import checks
from arbscan.config.settings import parse_settings

pytestmark = pytest.mark.timeout(120)
SYM = "BTC/USD"
CLIENTS = 20

READERS = textwrap.dedent("""
    import asyncio, sys, aiohttp
    async def one(url, got):
        async with aiohttp.ClientSession() as s:
            async with s.get(url + "api/events") as r:
                assert r.status == 200, r.status
                async for line in r.content:
                    if line.startswith(b"data: "):
                        got.append(1)
    async def main(url, n):
        got = []
        tasks = [asyncio.create_task(one(url, got)) for _ in range(n)]
        while len(got) < n:
            await asyncio.sleep(0.05)
        print("connected", flush=True)
        await asyncio.gather(*tasks)
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
""")


async def scan_lag(settings, seconds: float, web: str | None, clients: int, said: list[str]) -> tuple[float, int]:
    """Run ``scan`` for ``seconds`` (with ``clients`` live pages when ``web``); the p95 loop lag and the events seen."""
    lags: list[float] = []
    stop = asyncio.Event()
    readers = None
    measuring = asyncio.Event()

    async def probe():
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            if measuring.is_set():
                lags.append(now - last - 0.005)
            last = now

    async def connect():
        nonlocal readers
        while not any("web view at" in line for line in said):
            await asyncio.sleep(0.02)
        url = re.search(r"web view at (\S+)", next(line for line in said if "web view at" in line)).group(1)
        readers = await asyncio.create_subprocess_exec(sys.executable, "-c", READERS, url, str(clients),
                                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert (await asyncio.wait_for(readers.stdout.readline(), 30)).strip() == b"connected"
        measuring.set()

    probing = asyncio.create_task(probe())
    if web is not None:
        connecting = asyncio.create_task(connect())
    else:
        loop = asyncio.get_running_loop()
        loop.call_later(0.5, measuring.set)
    try:
        run = await app.run_live_command(settings, "scan", duration=seconds, strategies=[], live=False,
                                         validate_orders=False, out_path=None, web=web, on_unreachable=None,
                                         status_view=lambda d: SimpleNamespace(draw=lambda: None, close=lambda: None))
    finally:
        stop.set()
        await probing
        if web is not None:
            await connecting
        if readers is not None:
            readers.kill()
            await readers.wait()
    lags.sort()
    return lags[int(len(lags) * 0.95)], run.scanner.events


async def test_twenty_live_pages_do_not_slow_the_scanners_event_loop(tmp_path, monkeypatch):
    venues = {"alpha": Flapping("alpha", [("99", "100")]),
              "beta": Flapping("beta", [("100.8", "101"), ("99.5", "101")])}
    monkeypatch.setattr(parts, "build_adapters", lambda settings, validate_orders=False: venues)
    monkeypatch.setattr(checks, "exchange_known", lambda exchange: True)
    monkeypatch.delenv("ARBSCAN_WEB_TOKEN", raising=False)
    said: list[str] = []
    monkeypatch.setattr("arbscan.scan.view.say", said.append)
    results = {}
    for name, web, clients in [("none", None, 0), ("twenty", "127.0.0.1:0", CLIENTS), ("none again", None, 0)]:
        raw = {"scanner": {"symbols": [SYM], "db": str(tmp_path / f"{name}.db")},
               "venues": [{"exchange": "alpha"}, {"exchange": "beta"}]}
        results[name] = await scan_lag(parse_settings(raw), 3.0 if web else 2.5, web, clients, said)
    without = statistics.mean([results["none"][0], results["none again"][0]])
    with_web = results["twenty"][0]
    print(f"p95 loop lag: {with_web * 1000:.2f} ms with {CLIENTS} live pages, {without * 1000:.2f} ms without; "
          f"events {results['twenty'][1]} vs {results['none'][1]}")
    assert results["twenty"][1] > 100  # the scan ran at the same load
    assert with_web < max(2 * without, 0.005), (with_web, without)
