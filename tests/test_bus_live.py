"""A live executor on the bus, against scripted venues and a real ``nats-server`` on loopback.

It trades while it can journal; while NATS is away it sends no order (the kill switch, read before
every send, says why); a halt it raises reaches the key-value bucket, where ``arbscan resume`` clears it
for every process, and the executor then trades again. Its rows reach the deployment's journal.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest

from test_live_fakes import ScriptedVenue, live_config, opportunity

from arbscan.bus.commands import resume_on_bus
from arbscan.config.bus import BusConfig
from arbscan.bus.connection import Bus
from arbscan.bus.executor_live import BusKillSwitch, MirroredJournal
from arbscan.bus.halts import bus_halts
from arbscan.bus.journal_consumer import run_journal
from arbscan.bus.outbox import BusOutbox
from arbscan.bus.server import NatsServer
from arbscan.bus.subjects import JOURNAL_SUBJECT
from arbscan.config.settings import Settings
from arbscan.errors import TradingHalted
from arbscan.execution.live import live_executor
from arbscan.parallel.remote_store import RemoteStore
from arbscan.journal.store import Store


def _until(check, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


async def test_a_live_executor_on_the_bus_trades_only_while_it_can_journal_and_halts_everywhere(tmp_path):
    server = NatsServer(tmp_path / "store").start()
    lines: list[str] = []
    bus = Bus(BusConfig(url=server.url), "executor", lines.append, backoff=(0.05, 0.2)).start()
    store = Store(tmp_path / "here.db")
    store.start_run("execute")
    try:
        assert bus.wait_connected(10)
        outbox = BusOutbox(bus, JOURNAL_SUBJECT, "run-live", "executor@test", kind="journal", bound=1000,
                           when_full="wait")
        mirrored = MirroredJournal(str(store.path), store.run_id, RemoteStore(outbox, None, None))
        offset = [0.0]
        mono = lambda: time.monotonic() + offset[0]  # noqa: E731 - the halt poll's 5 s, skipped on demand
        kill = BusKillSwitch(mirrored, bus, outbox, monotonic=mono, store_wait_s=0.5)
        venues = {"alpha": ScriptedVenue("alpha"), "beta": ScriptedVenue("beta")}
        ex = live_executor(venues, mirrored, live_config(), poll_interval_s=0.01, kill=kill, monotonic=mono)
        await ex.start()

        trade = await ex.execute(opportunity())
        assert trade is not None and len(venues["alpha"].sent) == 1
        assert outbox.wait_stored(5)  # the intent and every later row are stored in the journal stream

        server.stop()
        await asyncio.to_thread(_until, lambda: not bus.connected.is_set())
        with pytest.raises(TradingHalted, match="cannot journal: NATS at .* is unreachable"):
            await ex.execute(opportunity())
        ex.on_opportunity(opportunity(), time.time())
        assert ex.skips["halted"] == 1
        assert len(venues["alpha"].sent) == len(venues["beta"].sent) == 1  # not one order while NATS was away

        server.start()
        await asyncio.to_thread(_until, bus.connected.is_set)
        kill.halt("3 consecutive failed trades")
        await asyncio.to_thread(_until, lambda: [h["reason"] for h in bus_halts(bus)] == ["3 consecutive failed trades"])
        settings = Settings(bus=BusConfig(url=server.url))
        assert [h["reason"] for h in await asyncio.to_thread(resume_on_bus, settings, "test")] == \
            ["3 consecutive failed trades"]
        offset[0] += 10.0
        await asyncio.to_thread(_until, lambda: kill.looked and not kill.on_bus)
        assert kill.cleared() and not kill.halted
        assert mirrored.active_halts() == []  # this host's journal follows the bucket
        again = await ex.execute(opportunity())
        assert again is not None and len(venues["alpha"].sent) == 2
        assert outbox.wait_stored(5)
        assert any("is back" in line for line in lines)

        central = tmp_path / "central.db"
        stop = threading.Event()
        reader = Bus(BusConfig(url=server.url), "journal", lambda line: None).start()
        consumer = threading.Thread(target=run_journal, args=(reader, str(central), stop, lambda line: None))
        consumer.start()

        def journaled() -> list[tuple]:
            try:
                conn = sqlite3.connect(central)
                try:
                    return conn.execute("SELECT mode, count(*) FROM orders GROUP BY mode").fetchall()
                finally:
                    conn.close()
            except sqlite3.Error:
                return []

        await asyncio.to_thread(_until, lambda: journaled() == [("live", 4)])
        stop.set()
        consumer.join(10)
        reader.close()
        conn = sqlite3.connect(central)
        assert conn.execute("SELECT reason FROM halts").fetchall() == [("3 consecutive failed trades",)]
        assert conn.execute("SELECT count(*) FROM trades WHERE mode = 'live'").fetchone() == (2,)
        conn.close()
        kill.stop()
        await ex.close()
    finally:
        bus.close()
        store.close()
        server.kill()
