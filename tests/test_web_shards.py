"""The Venues page's last two columns of facts: each venue's rate-limit headroom as its adapter tells it, and
the shards behind the view (``scan --workers N``'s status reports, ``serve --bus``'s live heartbeats)."""

from __future__ import annotations

import asyncio
import base64
from types import SimpleNamespace

import pytest
from test_web import client_of, live_scanner, server_for, state_of

from adapters.base import AdapterDefaults, Credentials
from adapters.ccxt.adapter import CcxtAdapter
from adapters.kraken.adapter import KrakenAdapter
from adapters.kraken.ratelimit import CallCounter
from arbscan.bus.commands import ShardWatch
from arbscan.bus.connection import Bus
from arbscan.bus.heartbeat import Heartbeat
from arbscan.bus.server import NatsServer
from arbscan.cli.command import main
from arbscan.config.bus import BusConfig
from arbscan.parallel.shard_status import ShardStatus
from arbscan.scan.feeds import LiveDriver, VenueState
from arbscan.web.server import Source
from arbscan.web.state import ScanState, shard_rows

pytestmark = pytest.mark.timeout(60)


class _Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _kraken_with_keys() -> tuple[KrakenAdapter, _Clock]:
    secret = base64.b64encode(b"s" * 64).decode()
    adapter = KrakenAdapter(credentials=Credentials("kraken", "key-for-headroom", secret))
    clock = _Clock()
    adapter.rest.counter = CallCounter(15.0, 0.33, clock=clock)  # the starter tier
    return adapter, clock


async def test_kraken_headroom_is_its_call_counter_and_decays_with_time():
    adapter, clock = _kraken_with_keys()
    assert adapter.rate_limit_headroom() == "15.0 of 15 private calls left (decays 0.33/s)"
    await adapter.rest.counter.acquire(3)  # three calls (or one ledger call and one more)
    assert adapter.rate_limit_headroom() == "12.0 of 15 private calls left (decays 0.33/s)"
    clock.t += 3.0  # 3 s x 0.33 = 0.99 decayed: 2.01 used
    assert adapter.rate_limit_headroom() == "13.0 of 15 private calls left (decays 0.33/s)"
    public = KrakenAdapter(credentials=None)
    public._credentials = None  # whatever the environment holds, this one has no key
    assert public.rate_limit_headroom() == "public calls only (books over WebSocket, not counted)"


def test_ccxt_headroom_is_the_polling_pace_against_the_venues_limit():
    polled = CcxtAdapter("bitstamp", poll_interval_ms=1000, use_websocket=False, credentials=None)
    polled._exchange.rateLimit = 250
    assert polled.rate_limit_headroom() == "polling 1 call per 1000 ms: 25% of the venue's 1 call per 250 ms"
    polled._exchange.rateLimit = 0
    assert polled.rate_limit_headroom() == "polling 1 call per 1000 ms; the venue states no limit"
    streamed = CcxtAdapter("binance", use_websocket=True, credentials=None)
    streamed._exchange.rateLimit = 50
    assert streamed.rate_limit_headroom() == "books over WebSocket; REST at ccxt's pace (1 call per 50 ms)"


async def test_the_venues_page_shows_each_adapters_headroom_or_says_not_reported():
    scanner = live_scanner()
    driver = LiveDriver(scanner, {}, ("BTC/USD",))
    driver.venues.update({"x": VenueState("x", reachable=True), "y": VenueState("y", reachable=True)})
    quiet = AdapterDefaults()
    quiet.name = "y"
    kraken, _ = _kraken_with_keys()
    rows = {v["name"]: v for v in ScanState(scanner, driver, {"x": kraken, "y": quiet}).pages()["venues"]}
    assert rows["x"]["rate_limit"] == "15.0 of 15 private calls left (decays 0.33/s)"
    assert rows["y"]["rate_limit"] == "not reported"


def test_a_workers_parent_lists_every_shard_with_its_figures():
    statuses = {
        1: ShardStatus({}, {("x", "ETH/USD"): 5.0}, 300, 2, 0, [], 5.0),
        0: ShardStatus({}, {("x", "BTC/USD"): 5.0, ("y", "BTC/USD"): 5.0}, 1234, 7, 1, [object()], 5.0),
    }
    rows = shard_rows(statuses)
    assert [(r["shard"], r["events"], r["books"], r["open_episodes"]) for r in rows] == [
        ("1/2", "1,234", "2", "1"), ("2/2", "300", "1", "0")]
    # --workers 3 whose third shard has not reported yet (starting, or started again after it died): its row says so
    rows = shard_rows(statuses, 3)
    assert [(r["shard"], r["mode"], r["events"]) for r in rows] == [
        ("1/3", "scan", "1,234"), ("2/3", "scan", "300"), ("3/3", "no report yet", "")]
    assert [(r["shard"], r["mode"]) for r in shard_rows({1: statuses[1]}, 2)] == [("1/2", "no report yet"),
                                                                               ("2/2", "scan")]


async def test_serve_with_a_bus_lists_the_live_shards_and_says_when_nats_is_away(tmp_path, capsys):
    from pathlib import Path

    db = tmp_path / "j.db"
    data = Path(__file__).parent / "data" / "dryrun"
    assert main(["replay", str(data / "two_latencies.jsonl"), "--db", str(db), "--no-progress"]) == 0
    capsys.readouterr()
    nats = NatsServer(tmp_path / "nats").start()
    shard_bus = Bus(BusConfig(url=nats.url), "shard 1/2", say=lambda line: None).start()
    beat = watch = client = None
    try:
        beat = Heartbeat(shard_bus, "demo", 0, 2, "scan", lambda: {"events": 4321, "held_rows": 7}).start()
        watch = ShardWatch(SimpleNamespace(bus=BusConfig(url=nats.url)), timeout=1.0)
        client = await client_of(server_for(Source("journal", None, db, None, journal_only=True, shards=watch)))
        st = {}
        for _ in range(100):
            st = await state_of(client)
            if st.get("shards"):
                break
            await asyncio.sleep(0.1)
        (row,) = st["shards"]
        assert (row["shard"], row["run"], row["mode"], row["events"], row["held"], st["shards_note"]) == (
            "1/2", "demo", "scan", "4,321", "7", "")
        assert row["host"] and row["pid"].isdigit()
        nats.stop()
        for _ in range(100):
            st = await state_of(client)
            if st.get("shards_note"):
                break
            await asyncio.sleep(0.1)
        assert st["shards"] == [] and st["shards_note"] == (
            f"NATS at {nats.url} cannot be reached (TimeoutError); shards unknown")
    finally:
        if client is not None:
            await client.close()
        if beat is not None:
            beat._task.cancel()
        if watch is not None:
            watch.close()
        shard_bus.close()
        nats.stop()
