"""The ``arbscan`` command in-process: replay (bundled demo, generated files, bad input), and scan and
record driven by fake adapters (no network)."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal as D

import conftest
import pytest

from arbscan import parts
from arbscan.cli import command as cli
from arbscan.config import checks
from arbscan.model import BookSnapshot
from arbscan.replay.run import iter_books, read_replay
from arbscan.scan.view import StatusView
from arbscan.journal.store import Store

SYM = "BTC/USD"


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("arbscan: error: ")
    return lines[0]


def test_replay_without_file_runs_the_bundled_demo(tmp_path, capsys):
    db = tmp_path / "demo.db"
    assert cli.main(["replay", "--db", str(db), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "demo_bitmex_deribit_2019-04-01.jsonl.gz" in out
    assert "taker fees: 0.075 % on every market (2 venues)" in out
    row = next(ln for ln in out.splitlines() if "bitmex -> deribit" in ln)
    assert "15.01" in row  # the fee hurdle: 10000 * (1.00075 / 0.99925 - 1)
    assert f"journal: {db}" in out
    ro = Store.open_readonly(db)
    assert ro.execute("SELECT mode, status FROM runs").fetchone() == ("replay", "ok")
    assert ro.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_replay_flags_reach_the_scanner(tmp_path, capsys):
    db = tmp_path / "j.db"
    assert cli.main(["replay", "--db", str(db), "--max-age-ms", "100000", "--min-bps", "-5", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "live at net >= -5 bps; books stale after 100000 ms" in out
    ro = Store.open_readonly(db)
    settings = json.loads(ro.execute("SELECT settings FROM runs").fetchone()[0])
    assert (settings["min_net_bps"], settings["max_book_age_ms"]) == ("-5", 100000)
    assert ro.execute("SELECT sum(stale) FROM funnel").fetchone() == (0,)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["replay", "--min-bps", "ten"], "--min-bps"),
        (["replay", "--max-age-ms", "-3"], "--max-age-ms"),
        (["replay", "a", "b"], "unrecognized arguments"),
        (["frobnicate"], "invalid choice"),
        (["record"], "--out"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(argv, needle, capsys):
    assert cli.main(argv) == 2
    assert needle in one_error_line(capsys.readouterr().err)


def test_missing_replay_file_is_bad_input(tmp_path, capsys):
    assert cli.main(["replay", str(tmp_path / "nope.jsonl"), "--db", str(tmp_path / "j.db")]) == 2
    assert "nope.jsonl" in one_error_line(capsys.readouterr().err)


def test_bad_config_is_one_line_naming_the_key(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[scanner]\nmax_book_age = 5\n")
    assert cli.main(["replay", "--config", str(cfg), "--db", str(tmp_path / "j.db")]) == 2
    assert "scanner.max_book_age: unknown setting" in one_error_line(capsys.readouterr().err)


def test_bad_replay_line_exits_2_naming_the_line_and_keeps_the_journal(tmp_path, capsys):
    market = {"type": "market", "symbol": SYM, "taker_fee": "0.001", "amount_step": "0.001", "price_step": "0.01"}
    lines = [dict(market, exchange="alpha"), dict(market, exchange="beta")]
    book = lambda t, ex, bid, ask: {"type": "book", "ts": t, "exchange": ex, "symbol": SYM, "snapshot": True,  # noqa: E731
                                    "bids": [[bid, "1"]], "asks": [[ask, "1"]]}
    lines += [book(1.0, "alpha", "99", "100"), book(1.1, "beta", "100.8", "101"), book(1.2, "beta", "99", "101")]
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"type": "book", "ts": 2.0,\n')
    db = tmp_path / "j.db"
    assert cli.main(["replay", str(path), "--db", str(db), "--no-progress"]) == 2
    assert "line 6:" in one_error_line(capsys.readouterr().err)
    ro = Store.open_readonly(db)
    assert ro.execute("SELECT count(*), min(buy_exchange) FROM opportunities").fetchone() == (1, "alpha")
    assert ro.execute("SELECT status FROM runs").fetchone() == ("error",)


def test_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for cmd in cli.COMMANDS:
        assert cmd.name in out


# -- scan and record with fake adapters ------------------------------------------------------


def market(exchange):
    return conftest.market(exchange, SYM, "0.001", amount_step="0.001", price_step="0.01")


class FakeAdapter:
    """Serves a fixed list of books (bid, ask) then idles; fails ``fail_first`` times at load_markets."""

    def __init__(self, name, quotes, fail_first=0):
        self.name = name
        self.quotes = quotes
        self.fail_first = fail_first
        self.closed = False

    async def load_markets(self):
        if self.fail_first:
            self.fail_first -= 1
            raise ConnectionError("connection refused")
        return {SYM: market(self.name)}

    async def watch_books(self, symbols):
        loop = asyncio.get_running_loop()
        for bid, ask in self.quotes:
            await asyncio.sleep(0.01)
            t = loop.time()
            yield BookSnapshot(self.name, SYM, ((D(bid), D(1)),), ((D(ask), D(1)),), t, t)
        await asyncio.sleep(3600)

    async def fetch_balances(self):
        return {"BTC": D("0.25"), "USD": D("1000")}

    async def close(self):
        self.closed = True


@pytest.fixture
def fake_venues(monkeypatch):
    made = {}

    def build(settings):
        made["alpha"] = FakeAdapter("alpha", [("99", "100")] * 5)
        made["beta"] = FakeAdapter("beta", [("100.8", "101"), ("100.8", "101"), ("99", "101"), ("100.8", "101")], fail_first=1)
        return dict(made)

    monkeypatch.setattr(parts, "build_adapters", lambda settings, validate_orders=False: build(settings))
    monkeypatch.setattr(checks, "exchange_known", lambda exchange: True)  # fake venues have made-up ids
    return made


def write_config(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[scanner]\nsymbols = ["BTC/USD"]\n\n[[venues]]\nexchange = "alpha"\n\n[[venues]]\nexchange = "beta"\n')
    return cfg


def test_scan_journals_episodes_from_live_venues_and_retries_a_failing_one(tmp_path, fake_venues, capsys, monkeypatch):
    monkeypatch.setitem(parts.DRIVER_OPTIONS, "initial_backoff", 0.05)
    db = tmp_path / "scan.db"
    rc = cli.main(["scan", "--config", str(write_config(tmp_path)), "--db", str(db), "--duration", "1.5",
                   "--max-age-ms", "60000", "--no-status"])
    assert rc == 0
    cap = capsys.readouterr()
    assert "arbscan: beta unreachable (ConnectionError: connection refused); retrying in 0.05 s" in cap.err
    assert all(a.closed for a in fake_venues.values())
    ro = Store.open_readonly(db)
    assert ro.execute("SELECT mode, status, source FROM runs").fetchone() == ("scan", "ok", "alpha,beta")
    rows = list(ro.query("SELECT buy_exchange, sell_exchange, close_reason FROM opportunities ORDER BY first_seen"))
    assert [(r["buy_exchange"], r["sell_exchange"]) for r in rows] == [("alpha", "beta"), ("alpha", "beta")]
    assert rows[0]["close_reason"] == "uncrossed" and rows[1]["close_reason"] == "end"


def test_record_writes_a_replay_file_that_replays(tmp_path, fake_venues, capsys, monkeypatch):
    monkeypatch.setitem(parts.DRIVER_OPTIONS, "initial_backoff", 0.05)
    out = tmp_path / "rec.jsonl.gz"
    rc = cli.main(["record", "--config", str(write_config(tmp_path)), "--out", str(out), "--duration", "1.0", "--no-status"])
    assert rc == 0
    events = list(read_replay(out))
    markets = [e.market.exchange for e in events if hasattr(e, "market")]
    assert sorted(markets) == ["alpha", "beta"]
    books = list(iter_books(events))
    assert len(books) == 9
    assert [b.bids[0][0] for b in books if b.exchange == "beta"] == [D("100.8"), D("100.8"), D("99"), D("100.8")]
    capsys.readouterr()
    assert cli.main(["replay", str(out), "--db", str(tmp_path / "r.db"), "--max-age-ms", "60000", "--no-progress"]) == 0
    assert Store.open_readonly(tmp_path / "r.db").execute("SELECT count(*) FROM opportunities").fetchone() == (2,)


def test_half_set_credentials_are_one_line_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KRAKEN_API_KEY", "only-the-key")
    monkeypatch.delenv("KRAKEN_API_SECRET", raising=False)
    cfg = tmp_path / "k.toml"
    cfg.write_text('[[venues]]\nexchange = "kraken"\nrest_url = "http://127.0.0.1:9"\nws_url = "ws://127.0.0.1:9"\n')
    assert cli.main(["scan", "--config", str(cfg), "--db", str(tmp_path / "j.db")]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "KRAKEN_API_KEY and KRAKEN_API_SECRET must be set together" in line
    assert "only-the-key" not in line


def test_config_balances_cap_replay_sizes(tmp_path, capsys):
    market = {"type": "market", "symbol": SYM, "taker_fee": "0.001", "amount_step": "0.001", "price_step": "0.01"}
    book = lambda t, ex, bid, ask: {"type": "book", "ts": t, "exchange": ex, "symbol": SYM, "snapshot": True,  # noqa: E731
                                    "bids": [[bid, "5"]], "asks": [[ask, "5"]]}
    path = tmp_path / "r.jsonl"
    lines = [dict(market, exchange="alpha"), dict(market, exchange="beta"),
             book(1.0, "alpha", "99", "100"), book(1.1, "beta", "100.8", "101")]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[venues]]\nexchange = "alpha"\nbalances = { USD = 50 }\n\n[[venues]]\nexchange = "beta"\n')
    db = tmp_path / "j.db"
    assert cli.main(["replay", str(path), "--config", str(cfg), "--db", str(db), "--no-progress"]) == 0
    (amount,) = Store.open_readonly(db).execute("SELECT amount FROM opportunities").fetchone()
    assert D(amount) == D("0.499")  # 50 USD on alpha buys 50 / 100.1 = 0.4995 BTC, rounded down to the step


def test_status_view_shows_each_venue_with_book_ages_and_counts():
    from arbscan.scan.feeds import LiveDriver, VenueState
    from arbscan.scan.scanner import Scanner

    s = Scanner({(ex, SYM): market(ex) for ex in ("alpha", "beta")}, None, max_book_age_ms=60_000)
    s.on_book_event(BookSnapshot("alpha", SYM, ((D(99), D(1)),), ((D(100), D(1)),), 10.0, 10.0))
    s.on_book_event(BookSnapshot("beta", SYM, ((D("100.8"), D(1)),), ((D(101), D(1)),), 10.25, 10.25))
    driver = LiveDriver(s, {}, (SYM,))
    driver.venues = {"alpha": VenueState("alpha", reachable=True), "beta": VenueState("beta", reachable=False),
                     "gamma": VenueState("gamma")}
    driver.now = lambda: 10.5
    lines = StatusView(driver, enabled=True).render()
    assert lines[0].split() == ["alpha", "up", "BTC/USD", "500", "ms"]
    assert lines[1].split() == ["beta", "unreachable", "BTC/USD", "250", "ms"]
    assert lines[2].split() == ["gamma", "connecting", "no", "books", "yet"]
    assert lines[3] == "events 2  live evaluations 1  open episodes 1  closed episodes 0"


def test_record_to_an_unwritable_place_is_bad_input(tmp_path, fake_venues, capsys):
    rc = cli.main(["record", "--config", str(write_config(tmp_path)), "--out", str(tmp_path / "no" / "dir.jsonl")])
    assert rc == 2
    assert "cannot write" in one_error_line(capsys.readouterr().err)
    assert not fake_venues  # no venue was contacted


def test_scan_caps_sizes_by_fetched_balances_when_keys_are_set(tmp_path, fake_venues, monkeypatch, capsys):
    monkeypatch.setitem(parts.DRIVER_OPTIONS, "initial_backoff", 0.05)
    monkeypatch.setenv("BETA_API_KEY", "k")
    monkeypatch.setenv("BETA_API_SECRET", "s")
    db = tmp_path / "scan.db"
    rc = cli.main(["scan", "--config", str(write_config(tmp_path)), "--db", str(db), "--duration", "1.0",
                   "--max-age-ms", "60000", "--no-status"])
    assert rc == 0
    amounts = [D(a) for (a,) in Store.open_readonly(db).execute("SELECT amount FROM opportunities")]
    assert amounts and all(a == D("0.25") for a in amounts)  # beta holds 0.25 BTC to sell; alpha has no keys: no cap


def test_record_force_replaces_an_existing_file_only_with_a_complete_recording(tmp_path, fake_venues, capsys, monkeypatch):
    monkeypatch.setitem(parts.DRIVER_OPTIONS, "initial_backoff", 0.05)
    out = tmp_path / "precious.jsonl.gz"
    out.write_bytes(b"an older recording")
    argv = ["record", "--config", str(write_config(tmp_path)), "--out", str(out), "--duration", "1.0", "--no-status"]
    assert cli.main(argv) == 2  # refused without --force, nothing touched
    assert out.read_bytes() == b"an older recording" and not fake_venues
    assert cli.main([*argv, "--force"]) == 0
    assert len(list(iter_books(read_replay(out)))) == 9  # the whole new recording, closed (gzip trailer included)
    assert not list(tmp_path.glob("*.part"))


def test_a_writer_that_fails_leaves_the_target_as_it_was(tmp_path):
    from arbscan.replay.writer import ReplayWriter

    out = tmp_path / "r.jsonl"
    out.write_text("old\n")
    with pytest.raises(RuntimeError), ReplayWriter(out) as w:
        w.write_market(market("alpha"))
        assert out.read_text() == "old\n" and w.part.exists()  # lines go to the .part file beside it
        raise RuntimeError("disk full")
    assert out.read_text() == "old\n" and not w.part.exists()
