"""``arbscan scan --live``, ``--validate-orders`` and ``arbscan resume`` through ``cli.main`` with fake venues (no network)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from test_live_fakes import ScriptedVenue, journal_rows

from arbscan import parts
from arbscan.cli import command as cli
from arbscan.config import checks
from arbscan.execution.journal import DurableJournal
from arbscan.model import BookSnapshot
from arbscan.journal.store import Store

D = Decimal

CONFIG = """
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
max_orders_per_minute = 10
"""


class BookVenue(ScriptedVenue):
    """A fake venue that streams one crossed book a few times, then idles, and takes orders as scripted."""

    def __init__(self, name: str, bid: str, ask: str) -> None:
        super().__init__(name)
        self.bid, self.ask = bid, ask

    async def watch_books(self, symbols):
        loop = asyncio.get_running_loop()
        for _ in range(5):
            await asyncio.sleep(0.02)
            t = loop.time()
            yield BookSnapshot(self.name, "BTC/USD", ((D(self.bid), D(1)),), ((D(self.ask), D(1)),), t, t)
        await asyncio.sleep(3600)



@pytest.fixture
def venues(monkeypatch, tmp_path):
    trading = {"alpha": BookVenue("alpha", "99.9", "100.0"), "beta": BookVenue("beta", "101.0", "101.1")}
    monkeypatch.setattr(parts, "build_adapters", lambda settings, validate_orders=False: dict(trading))
    monkeypatch.setattr(checks, "exchange_known", lambda exchange: True)  # fake venues have made-up ids
    for name in ("ALPHA", "BETA"):
        monkeypatch.setenv(f"{name}_API_KEY", "k")
        monkeypatch.setenv(f"{name}_API_SECRET", "s")
    cfg = tmp_path / "live.toml"
    cfg.write_text(CONFIG)
    return trading, cfg


def test_scan_live_places_one_paired_trade_and_journals_it(venues, tmp_path, capsys):
    trading, cfg = venues
    db = tmp_path / "live.db"
    rc = cli.main(["scan", "--live", "--strategy", "s1", "--config", str(cfg), "--db", str(db),
                   "--duration", "1.0", "--max-age-ms", "60000", "--no-status"])
    assert rc == 0, capsys.readouterr().err
    store = Store(db)
    try:
        (trade,) = journal_rows(store, "SELECT * FROM trades")
        assert (trade["mode"], trade["strategy"], trade["status"]) == ("live", "s1", "filled")
        orders = journal_rows(store, "SELECT exchange, side, status, limit_price FROM orders ORDER BY exchange")
        assert orders == [
            {"exchange": "alpha", "side": "buy", "status": "filled", "limit_price": "100.0"},
            {"exchange": "beta", "side": "sell", "status": "filled", "limit_price": "101.0"},
        ]
        # the scanner journaled its episodes as usual
        assert journal_rows(store, "SELECT count(*) AS n FROM opportunities")[0]["n"] >= 1
    finally:
        store.close()
    assert [len(v.sent) for v in trading.values()] == [1, 1]


def test_scan_live_while_halted_journals_opportunities_but_sends_nothing(venues, tmp_path, capsys):
    trading, cfg = venues
    db = tmp_path / "halted.db"
    store = Store(db)
    DurableJournal(db).set_halt("earlier: unresolved unknown outcome", 1.0)
    store.close()
    rc = cli.main(["scan", "--live", "--strategy", "s1", "--config", str(cfg), "--db", str(db),
                   "--duration", "0.6", "--max-age-ms", "60000", "--no-status"])
    assert rc == 0
    assert all(v.sent == [] for v in trading.values())
    ro = Store.open_readonly(db)
    assert ro.execute("SELECT count(*) FROM trades").fetchone() == (0,)
    assert ro.execute("SELECT count(*) FROM opportunities").fetchone()[0] >= 1
    capsys.readouterr()
    assert cli.main(["resume", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "cleared halt #1: earlier: unresolved unknown outcome" in out
    assert ro.execute("SELECT cleared_by FROM halts").fetchone()[0].startswith("arbscan resume")


def test_live_without_keys_is_one_line_naming_the_variables(venues, tmp_path, capsys, monkeypatch):
    _, cfg = venues
    monkeypatch.delenv("BETA_API_KEY")
    monkeypatch.delenv("BETA_API_SECRET")
    assert cli.main(["scan", "--live", "--config", str(cfg), "--db", str(tmp_path / "j.db"), "--no-status"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "BETA_API_KEY and BETA_API_SECRET" in err and "ALPHA" not in err


def test_validate_orders_needs_live(venues, tmp_path, capsys):
    _, cfg = venues
    assert cli.main(["scan", "--validate-orders", "--config", str(cfg), "--db", str(tmp_path / "j.db")]) == 2
    assert "--validate-orders needs --live" in capsys.readouterr().err


def test_resume_names_a_missing_journal(tmp_path, capsys):
    assert cli.main(["resume", "--db", str(tmp_path / "nope.db")]) == 2
    assert "does not exist" in capsys.readouterr().err
