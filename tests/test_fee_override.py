"""A venue's configured ``taker_fee`` is applied once per source of markets and reaches every user of them.

Venues' markets get it in their adapter (``build_adapters`` passes it to the constructor): the scan's
feed driver, a live executor's start-up and ``arbscan markets`` take the adapter's markets as they
are. A replay file's market lines get it in ``arbscan.replay.run.file_market`` (see also
tests/test_replay_fee_override.py, through the CLI). Kraken's markets come from its official AssetPairs
example (cassettes/test_kraken_rest/asset_pairs_official.yaml): public fee 0.26 %, configured 0.1 %.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from pathlib import Path

import pytest
import vcr
from conftest import market
from test_live_fakes import live_config

from arbscan.parts import build_adapters
from arbscan.config.settings import parse_settings
from arbscan.execution.journal import DurableJournal
from arbscan.scan.feeds import LiveDriver
from arbscan.execution.live import live_executor
from arbscan.cli.markets import load_all_markets
from arbscan.replay.run import file_market
from arbscan.scan.scanner import Scanner

CASSETTES = Path(__file__).resolve().parent.parent / "cassettes" / "test_kraken_rest"
my_vcr = vcr.VCR(cassette_library_dir=str(CASSETTES), record_mode="none",
                 match_on=["method", "scheme", "host", "port", "path", "query"], filter_headers=["API-Key", "API-Sign"])
SYM = "BTC/USD"


@pytest.fixture
def adapters(monkeypatch):
    """One Kraken adapter from the settings (taker_fee 0.001, no keys); its WebSocket URL refuses at once."""
    for name in ("KRAKEN_API_KEY", "KRAKEN_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    settings = parse_settings({"venues": [{"exchange": "kraken", "taker_fee": "0.001", "ws_url": "ws://127.0.0.1:9"}]})
    return build_adapters(settings)


async def test_scan_takes_the_adapters_fee(adapters):
    scanner = Scanner({}, None)
    driver = LiveDriver(scanner, adapters, (SYM,), initial_backoff=60, funding_refresh_s=0)
    with my_vcr.use_cassette("asset_pairs_official.yaml"):
        task = asyncio.create_task(driver.run())
        for _ in range(200):
            if (("kraken", SYM)) in scanner.markets:
                break
            await asyncio.sleep(0.01)
        driver.stop.set()
        await asyncio.wait_for(task, 5)
    await driver.close_adapters()
    assert scanner.markets[("kraken", SYM)].taker_fee == D("0.001")


async def test_markets_command_takes_the_adapters_fee(adapters):
    with my_vcr.use_cassette("asset_pairs_official.yaml"):
        loaded, failed = await load_all_markets(adapters)
    assert failed == {}
    assert loaded["kraken"][SYM].taker_fee == D("0.001")


async def test_a_live_start_up_takes_the_adapters_fee(adapters, store):
    ex = live_executor(adapters, DurableJournal.for_store(store), live_config(), poll_interval_s=0.01)
    try:
        with my_vcr.use_cassette("asset_pairs_official.yaml"):
            await ex.start()  # no keys: balances are not fetched (a warning), markets are
    finally:
        await adapters["kraken"].close()
    assert ex.markets[("kraken", SYM)].taker_fee == D("0.001")


def test_a_replay_files_market_takes_the_configured_fee_once():
    line = market("kraken", SYM, "0.0026")
    assert file_market(line, {"kraken": D("0.001")}).taker_fee == D("0.001")
    assert file_market(line, {"bitstamp": D("0.001")}) is line
    assert file_market(line, None) is line
