"""A scan's funding facts on the bus: shard 1 asks the venues, the journal gets the sets one process journals, the
other shard judges its routes' transfers with them and the executor skips the route whose inventory cannot move.

The venues are ``tests/test_workers_scan.py``'s fakes (alpha sells cheap, beta buys dear, BTC/USD and ETH/USD
live all the time) stating funding facts by hand: alpha does not let ETH out (ERC20 withdrawals off), so
ETH/USD's inventory cannot move back from alpha to beta; BTC and USD move, at the fees below. The
reference is the one-process ``scan`` of the same venues and config; its books start 1.5 s after the
venues connect, so in both the facts are known before the first evaluation.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal as D
from pathlib import Path

import test_workers_scan
from conftest import venue_launcher
from test_bus_cluster import Fleet, _query, _wait_until, fleet, nats  # noqa: F401 - fixtures

from arbscan import parts
from arbscan.cli import command as cli
from arbscan.config import checks
from arbscan.funding.facts import AssetFunding, NetworkFunding

FACTS = {  # venue -> asset -> (network, deposit, withdraw, withdraw_fee), stated by hand
    "alpha": {"BTC": ("BTC", True, True, "0.0002"), "USD": ("SWIFT", True, True, "5"), "ETH": ("ERC20", True, False, "0.004")},
    "beta": {"BTC": ("BTC", True, True, "0.0005"), "USD": ("SWIFT", True, True, "1"), "ETH": ("ERC20", True, True, "0.003")},
}

CONFIG = test_workers_scan.CONFIG.replace('cooldown_ms = 3600000', 'cooldown_ms = 3600000\nskip_untransferable = true')


class FundedVenue(test_workers_scan.FakeVenue):
    """The fake venue, stating :data:`FACTS`; its books begin 1.5 s after it is watched."""

    async def fetch_funding(self, assets):
        out = []
        for asset in assets:
            fact = FACTS[self.name].get(asset)
            if fact is not None:
                network, deposit, withdraw, fee = fact
                out.append(AssetFunding(self.name, asset, (NetworkFunding(network, deposit, withdraw, D(fee)),)))
        return out

    async def watch_books(self, symbols):
        await asyncio.sleep(1.5)
        async for book in super().watch_books(symbols):
            yield book


def funded_adapters(settings, validate_orders=False):
    return {"alpha": FundedVenue("alpha"), "beta": FundedVenue("beta")}


FUNDING = ("SELECT set_id, exchange, asset, source, asset_deposit, asset_withdraw, network, deposit, withdraw, "
           "withdraw_fee, withdraw_min, deposit_fee, deposit_min, confirmations FROM funding ORDER BY set_id")
EPISODES = ("SELECT symbol, buy_exchange, sell_exchange, close_reason, transfer, transfer_detail, base_network, "
            "quote_network, transfer_cost, net_after_transfer FROM opportunities ORDER BY symbol")
TRADES = "SELECT strategy, symbol, buy_exchange, sell_exchange, status FROM trades ORDER BY symbol"


def _journal(db: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(db)
    try:
        return {name: conn.execute(sql).fetchall() for name, sql in
                (("funding", FUNDING), ("episodes", EPISODES), ("trades", TRADES))}
    finally:
        conn.close()


def _one_process(tmp: Path, cfg: Path, monkeypatch) -> dict[str, list[tuple]]:
    monkeypatch.setattr(parts, "build_adapters", funded_adapters)
    monkeypatch.setattr(parts, "DRIVER_OPTIONS", {"stats_interval": 0.2})
    monkeypatch.setattr(checks, "exchange_known", lambda exchange: True)
    db = tmp / "one.db"
    assert cli.main(["scan", "--config", str(cfg), "--db", str(db), "--no-status", "--duration", "4",
                     "--strategy", "once"]) == 0
    return _journal(db)


def test_a_scans_funding_facts_reach_the_journal_the_other_shard_and_the_executor_as_in_one_process(
        nats, fleet, tmp_path, monkeypatch):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    reference = _one_process(tmp_path, cfg, monkeypatch)
    # what the hand-stated facts give (independent of the code under test): six sets, one network each;
    # ETH/USD cannot move its ETH back from alpha, BTC/USD can; the executor skips the one it cannot move
    assert [(r[1], r[2], r[6], r[8], r[9]) for r in reference["funding"]] == [
        ("alpha", "BTC", "BTC", 1, "0.0002"), ("alpha", "USD", "SWIFT", 1, "5"), ("alpha", "ETH", "ERC20", 0, "0.004"),
        ("beta", "BTC", "BTC", 1, "0.0005"), ("beta", "USD", "SWIFT", 1, "1"), ("beta", "ETH", "ERC20", 1, "0.003")]
    transfers = {r[0]: r[4] for r in reference["episodes"]}
    assert transfers == {"BTC/USD": "transferable", "ETH/USD": "blocked"}, reference["episodes"]
    assert reference["episodes"][0][8] is not None  # BTC/USD: a transfer cost and a net after it
    assert reference["trades"] == [("once", "BTC/USD", "alpha", "beta", "filled")]

    db = tmp_path / "bus.db"
    fleet.start("journal", "journal", "--bus", nats.url, "--db", str(db))
    fleet.start("executor", "execute", "--bus", nats.url, "--config", str(cfg), "--strategy", "once")
    _wait_until("the executor to follow", lambda: "paper-trading once" in fleet.err("executor"), fleet, timeout=30)
    launcher = venue_launcher(tmp_path, 'test_bus_funding', 'funded_adapters')
    shards = {}
    for k in (1, 2):
        name = f"shard{k}"
        fleet.starts[name] = 1
        with open(tmp_path / f"{name}.1.out", "wb") as out, open(tmp_path / f"{name}.1.err", "wb") as err:
            shards[k] = fleet.procs[name] = subprocess.Popen(
                [sys.executable, str(launcher), "scan", "--bus", nats.url, "--shard", f"{k}/2", "--config", str(cfg),
                 "--no-status"], stdout=out, stderr=err, start_new_session=True)
        if k == 1:  # shard 2 (ETH/USD) asks nobody: it learns every fact from shard 1 over the bus
            _wait_until("shard 1's facts in the journal", lambda: _query(db, "SELECT count(*) FROM funding") == [(6,)],
                        fleet, timeout=40)
    _wait_until("both symbols' episodes open", lambda: _query(
        db, "SELECT count(*) FROM bus_open WHERE work LIKE '%USD%'") == [(2,)], fleet, timeout=40)
    time.sleep(1.5)  # the routes keep coming: the executor has seen ETH/USD's many times
    for k in (1, 2):
        shards[k].terminate()
    assert fleet.wait("shard1", 30) == 0 and fleet.wait("shard2", 30) == 0
    _wait_until("the run to end", lambda: _query(db, "SELECT status FROM runs") == [("ok",)], fleet)
    _wait_until("the executor's end", lambda: _query(
        db, "SELECT ended FROM bus_producers WHERE producer LIKE '%|executor@%'") == [(1,)], fleet)
    assert fleet.stop("executor") == 0 and fleet.stop("journal") == 0
    got = _journal(db)
    assert got == reference
    assert "ended: " in fleet.err("executor")
