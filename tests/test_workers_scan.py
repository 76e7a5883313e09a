"""``scan --workers 2`` on two fake in-process venues (no network): shards, the paper executor, a dead shard, Ctrl-C.

The shards are separate processes: they build their adapters with ``arbscan.app.build_adapters``,
which these tests point at :func:`fake_adapters` below (a module-level function, so a shard process
can import it by name). Two symbols on two venues: with two shards each owns one symbol
(``BTC/USD`` -> shard 1, ``ETH/USD`` -> shard 2: equal venue counts go by name).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import threading
import time
from decimal import Decimal as D

import psutil
import pytest

from arbscan import app, cli
from arbscan.model import BookSnapshot, Market
from arbscan.summary import summarize

PRICES = {"BTC/USD": ("100", "100.8"), "ETH/USD": ("10", "10.08")}  # alpha's ask, beta's bid: live after 0.1 % fees


class FakeVenue:
    """Streams a one-level book per symbol every 20 ms, forever; alpha sells cheap, beta buys dear."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def load_markets(self):
        return {s: Market(self.name, s, s.split("/")[0], "USD", D("0.001"), D("0.0001"), D("0.01")) for s in PRICES}

    async def watch_books(self, symbols):
        while True:
            await asyncio.sleep(0.02)
            for s in symbols:
                ask, bid = PRICES[s]
                p = D(ask) if self.name == "alpha" else D(bid)
                bids, asks = ((p - 1, D(1)),), ((p, D(1)),)
                if self.name == "beta":
                    bids, asks = ((p, D(1)),), ((p + 1, D(1)),)
                t = time.time()
                yield BookSnapshot(self.name, s, bids, asks, t, t)

    async def fetch_balances(self):
        return {}

    async def close(self):
        pass


def fake_adapters(settings, validate_orders=False):
    """What a shard builds instead of real adapters."""
    return {"alpha": FakeVenue("alpha"), "beta": FakeVenue("beta")}


CONFIG = """
[scanner]
symbols = ["BTC/USD", "ETH/USD"]
status_interval_ms = 200

[[venues]]
exchange = "alpha"

[[venues]]
exchange = "beta"

[[strategies]]
name = "once"
min_net_bps = 10
cooldown_ms = 3600000

[strategies.balances.alpha]
USD = 1000

[strategies.balances.beta]
BTC = 1
ETH = 10
"""


@pytest.fixture
def scan(tmp_path, monkeypatch):
    monkeypatch.setattr(app, "build_adapters", fake_adapters)
    monkeypatch.setattr(app, "DRIVER_OPTIONS", {"stats_interval": 0.2})
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    db = tmp_path / "scan.db"

    def run(*extra: str) -> int:
        return cli.main(["scan", "--config", str(cfg), "--db", str(db), "--no-status", "--workers", "2", *extra])

    yield run, db
    assert [p.name() for p in psutil.Process().children(recursive=True) if p.name().startswith("arbscan-")] == []


def later(seconds: float, action) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(seconds), action()), daemon=True)
    thread.start()
    return thread


def test_two_shards_scan_their_symbols_and_one_executor_trades_both(scan, capsys):
    run, db = scan
    assert run("--duration", "2.5", "--strategy", "once") == 0
    out, err = capsys.readouterr()
    assert "scan with 2 workers" in err and "shard 1/2: 1 symbols, 2 books: BTC/USD" in err
    conn = sqlite3.connect(db)
    episodes = conn.execute("SELECT symbol, close_reason FROM opportunities ORDER BY symbol").fetchall()
    assert episodes == [("BTC/USD", "end"), ("ETH/USD", "end")]  # live the whole time, closed when the scan ended
    (run_id,) = conn.execute("SELECT max(id) FROM runs").fetchone()
    s = summarize(conn, run_id, "once")
    assert (s.trades, s.filled) == (2, 2)  # one trade per route (long cooldown), on both shards' symbols
    assert "strategy once (paper" in out and "trades 2: 2 filled" in out
    assert "BTC/USD alpha -> beta" in out and "ETH/USD alpha -> beta" in out  # the funnel of both shards
    assert conn.execute("SELECT status FROM runs").fetchone() == ("ok",)


def test_a_dead_shard_is_reported_restarted_and_its_open_episode_closed_as_stale(scan, capsys):
    run, db = scan

    def kill_shard1():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for p in psutil.Process().children():
                if p.name() == "arbscan-shard1":
                    time.sleep(0.8)  # it has scanned for a while and journaled its funnel
                    p.kill()
                    return
            time.sleep(0.05)

    later(0, kill_shard1)
    assert run("--duration", "4") == 0
    err = capsys.readouterr().err
    assert "arbscan: shard 1/2 died (killed by SIGKILL); 1 open episode(s) closed as stale; restarting in 1 s" in err
    conn = sqlite3.connect(db)
    btc = conn.execute("SELECT close_reason, close_detail FROM opportunities WHERE symbol = 'BTC/USD' ORDER BY id").fetchall()
    assert btc == [("stale", "shard_died"), ("end", None)]
    eth = conn.execute("SELECT close_reason FROM opportunities WHERE symbol = 'ETH/USD'").fetchall()
    assert eth == [("end",)]  # the other shard went on
    # the successor continued the journaled funnel: both episodes of the route are counted
    assert conn.execute("SELECT episodes FROM funnel WHERE symbol = 'BTC/USD' AND buy_exchange = 'alpha'").fetchone() == (2,)


def test_ctrl_c_stops_every_process_within_5_s_with_the_journal_flushed(scan, capsys):
    run, db = scan
    sent = []
    later(1.5, lambda: (sent.append(time.monotonic()), os.kill(os.getpid(), signal.SIGINT)))
    assert run() == 0
    assert time.monotonic() - sent[0] < 5.0
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT status FROM runs").fetchone() == ("interrupted",)
    assert conn.execute("SELECT count(*) FROM opportunities WHERE close_reason = 'end'").fetchone() == (2,)
    assert "scan stopped:" in capsys.readouterr().out
