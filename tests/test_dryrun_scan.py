"""``arbscan scan --strategy NAME`` paper-trades against live venues (two fake in-process venues, no network)."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

from arbscan import parts
from arbscan.cli import command as cli
from arbscan.config import checks
from arbscan.model import BookSnapshot, Market
from arbscan.journal.store import Store
from arbscan.execution.summary import summarize

SYM = "BTC/USD"


class Venue:
    """A venue that streams the same one-level book a few times, then idles until closed."""

    def __init__(self, name, bid, ask, times=4):
        self.name, self.bid, self.ask, self.times = name, D(bid), D(ask), times

    async def load_markets(self):
        return {SYM: Market(self.name, SYM, "BTC", "USD", D("0.001"), D("0.0001"), D("0.1"))}

    async def watch_books(self, symbols):
        loop = asyncio.get_running_loop()
        for _ in range(self.times):
            await asyncio.sleep(0.02)
            t = loop.time()
            yield BookSnapshot(self.name, SYM, ((self.bid, D(1)),), ((self.ask, D(1)),), t, t)
        await asyncio.sleep(3600)

    async def fetch_balances(self):
        return {}

    async def close(self):
        pass


CONFIG = """
[scanner]
symbols = ["BTC/USD"]

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
"""


def test_scan_paper_trades_a_strategy_and_prints_its_summary(tmp_path, monkeypatch, capsys):
    # alpha asks 100, beta bids 100.8, both 0.1 %: 1 BTC earns 100.8 * 0.999 - 100 * 1.001 = 0.5992
    monkeypatch.setattr(parts, "build_adapters", lambda settings, validate_orders=False: {"alpha": Venue("alpha", "99", "100"),
                                                                   "beta": Venue("beta", "100.8", "101")})
    monkeypatch.setattr(checks, "exchange_known", lambda exchange: True)  # fake venues have made-up ids
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    db = tmp_path / "scan.db"
    rc = cli.main(["scan", "--config", str(cfg), "--db", str(db), "--duration", "0.6", "--no-status",
                   "--strategy", "once"])
    out = capsys.readouterr().out
    assert rc == 0
    j = Store.open_readonly(db)
    (run_id,) = j.execute("SELECT max(id) FROM runs").fetchone()
    s = summarize(j, run_id, "once")
    assert (s.trades, s.filled, s.realised_pnl) == (1, 1, D("0.5992"))
    assert s.final[("alpha", "USD")] == D("899.9") and s.final[("beta", "BTC")] == D(0)
    assert "strategy once (paper" in out and "trades 1: 1 filled" in out
    assert j.execute("SELECT DISTINCT mode FROM orders").fetchall() == [("paper",)]
