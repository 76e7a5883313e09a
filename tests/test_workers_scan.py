"""``scan --workers 2`` on two fake in-process venues (no network): shards, the paper executor, a dead shard, Ctrl-C.

The shards are separate processes: they build their adapters with ``arbscan.parts.build_adapters``,
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
from conftest import journal_number

from arbscan import parts
from arbscan.cli import command as cli
from arbscan.config import checks
from arbscan.model import BookSnapshot, Market
from arbscan.execution.summary import summarize

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
    monkeypatch.setattr(parts, "build_adapters", fake_adapters)
    monkeypatch.setattr(parts, "DRIVER_OPTIONS", {"stats_interval": 0.2})
    monkeypatch.setattr(checks, "exchange_known", lambda exchange: True)  # fake venues have made-up ids
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
    # 6 s: the shards' start-up (a spawned interpreter each) takes seconds on a loaded 2-core machine
    assert run("--duration", "6", "--strategy", "once") == 0
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


def _alpha_episodes(db, symbol: str = "BTC/USD") -> int:
    return journal_number(db, "SELECT episodes FROM funnel WHERE symbol = ? AND buy_exchange = 'alpha'", symbol)


def _filled_trades(db) -> int:
    return journal_number(db, "SELECT count(*) FROM trades WHERE status = 'filled'")


def test_a_dead_shard_is_reported_restarted_and_its_open_episode_closed_as_stale(scan, capsys):
    run, db = scan

    def kill_shard1_then_stop_once_its_successor_scans():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _alpha_episodes(db) < 1:  # shard 1 scans and has journaled its funnel
            time.sleep(0.05)
        for p in psutil.Process().children():
            if p.name() == "arbscan-shard1":
                p.kill()
        while time.monotonic() < deadline and _alpha_episodes(db) < 2:  # the successor opened its own episode
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    later(0, kill_shard1_then_stop_once_its_successor_scans)
    assert run() == 0
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

    def interrupt_once_both_shards_scan():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and min(_alpha_episodes(db, s) for s in PRICES) < 1:
            time.sleep(0.05)
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    later(0, interrupt_once_both_shards_scan)
    assert run() == 0
    assert time.monotonic() - sent[0] < 5.0
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT status FROM runs").fetchone() == ("interrupted",)
    assert conn.execute("SELECT count(*) FROM opportunities WHERE close_reason = 'end'").fetchone() == (2,)
    assert "scan stopped:" in capsys.readouterr().out


# -- --live: the one live executor in the parent, orders through the parent's adapters ----------------

from test_live_fakes import ScriptedVenue  # noqa: E402

_PARENT_VENUES: dict = {}  # set by the test in this process; empty in a shard process


class LiveBookVenue(ScriptedVenue):
    """A scripted venue that also streams one crossed book every 20 ms."""

    def __init__(self, name: str, bid: str, ask: str) -> None:
        super().__init__(name)
        self.bid, self.ask = D(bid), D(ask)

    async def watch_books(self, symbols):
        while True:
            await asyncio.sleep(0.02)
            t = time.time()
            yield BookSnapshot(self.name, "BTC/USD", ((self.bid, D(1)),), ((self.ask, D(1)),), t, t)


def fake_live_adapters(settings, validate_orders=False):
    """The parent's venues are the test's own (it counts their orders); a shard gets fresh ones for books."""
    if _PARENT_VENUES:
        return dict(_PARENT_VENUES)
    return {"alpha": LiveBookVenue("alpha", "99.9", "100.0"), "beta": LiveBookVenue("beta", "101.0", "101.1")}


LIVE_CONFIG = """
[scanner]
symbols = ["BTC/USD"]

[[venues]]
exchange = "alpha"

[[venues]]
exchange = "beta"

[[strategies]]
name = "s1"
min_net_bps = 0
cooldown_ms = 600000

[live]
max_notional_per_trade = 1000
"""


def test_live_orders_go_out_from_the_parent_only(tmp_path, monkeypatch, capsys):
    import test_workers_scan as me

    trading = {"alpha": LiveBookVenue("alpha", "99.9", "100.0"), "beta": LiveBookVenue("beta", "101.0", "101.1")}
    monkeypatch.setattr(me, "_PARENT_VENUES", trading)
    monkeypatch.setattr(parts, "build_adapters", me.fake_live_adapters)
    monkeypatch.setattr(checks, "exchange_known", lambda exchange: True)
    for name in ("ALPHA", "BETA"):
        monkeypatch.setenv(f"{name}_API_KEY", "k")
        monkeypatch.setenv(f"{name}_API_SECRET", "s")
    cfg = tmp_path / "live.toml"
    cfg.write_text(LIVE_CONFIG)
    db = tmp_path / "live.db"

    def stop_once_the_trade_is_journaled():  # no fixed duration: a loaded machine starts shards slowly
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (all(v.sent for v in trading.values()) and _filled_trades(db)):
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    later(0, stop_once_the_trade_is_journaled)
    rc = cli.main(["scan", "--live", "--strategy", "s1", "--config", str(cfg), "--db", str(db), "--workers", "2",
                   "--max-age-ms", "60000", "--no-status"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "scan with 2 workers (symbols split by venues, stable; 1 without a symbol, not started)" in err
    assert "shard 2/2: 0 symbols, 0 books (not started)" in err  # one symbol: the second shard is not started
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT mode, strategy, status FROM trades").fetchall() == [("live", "s1", "filled")]
    assert [len(v.sent) for v in trading.values()] == [1, 1]  # the parent's adapters placed both legs
    assert [p.name() for p in psutil.Process().children(recursive=True) if p.name().startswith("arbscan-")] == []
