"""``arbscan init``, ``arbscan status`` and ``arbscan markets``: on the demo journal, on hand-made journals, and
through the existing cassettes (``cassettes/test_markets/three_venues.yaml``: real Kraken, Bitstamp and
Coinbase Exchange market lists, see tests/data/build_markets_cassette.py)."""

from __future__ import annotations

import json
from pathlib import Path

import vcr
import yaml

from arbscan.cli.command import main
from arbscan.config.settings import load_settings
from arbscan.execution.journal import DurableJournal

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes" / "test_markets"
VCR = vcr.VCR(record_mode="none", cassette_library_dir=str(CASSETTES), ignore_localhost=True)


def _lines(capsys) -> list[str]:
    return capsys.readouterr().out.splitlines()


# -- init ---------------------------------------------------------------------------------------


def test_init_writes_a_commented_config_that_loads(tmp_path, capsys):
    path = tmp_path / "arbscan.toml"
    assert main(["init", "--config", str(path)]) == 0
    text = path.read_text()
    assert text.count("\n#") > 5 and "API keys come from the environment" in text
    settings = load_settings(path)
    assert settings.scanner.min_net_bps <= settings.strategies[0].min_net_bps  # the starter can trade what it sees
    assert [v.exchange for v in settings.venues] == ["kraken", "bitstamp", "coinbase"]


def test_init_never_overwrites(tmp_path, capsys):
    path = tmp_path / "arbscan.toml"
    path.write_text("# mine\n")
    assert main(["init", "--config", str(path)]) == 2
    assert "already exists" in capsys.readouterr().err and path.read_text() == "# mine\n"


def test_init_writes_arbscan_toml_in_the_working_directory_by_default(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0 and (tmp_path / "arbscan.toml").exists()


# -- status -------------------------------------------------------------------------------------


def test_status_on_the_demo_journal(tmp_path, capsys):
    db = tmp_path / "demo.db"
    assert main(["replay", "--db", str(db), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["status", "--db", str(db)]) == 0
    out = _lines(capsys)
    assert out[0] == f"journal: {db}"
    assert out[1] == "runs: 1 ok"
    assert out[2].startswith("  #1 replay  ok ") and out[2].endswith(", 7,489 book events")
    assert "live trading: not halted" in out and "open trades: 0" in out and "episodes: 0" in out


def test_status_shows_halts_open_trades_balances_and_the_last_episodes(store, capsys):
    store.submit("opportunities", {"symbol": "BTC/USD", "buy_exchange": "a", "sell_exchange": "b", "first_seen": 1.7e9,
                                   "last_seen": 1.7e9 + 2, "observations": 3, "net_profit": "1.5", "net_bps": "12.3456"})
    store.upsert("trades", {"id": "live-1", "mode": "live", "strategy": "s", "symbol": "BTC/USD", "buy_exchange": "a",
                            "sell_exchange": "b", "status": "unknown", "opened": 1.7e9}, pk="id")
    store.submit("balances", {"mode": "live", "strategy": "s", "exchange": "a", "asset": "BTC", "free": "0.50",
                              "ts": 1.7e9, "trade_id": None})
    store.flush()
    j = DurableJournal(store.path)
    j.set_halt("beta order c-1: outcome unresolved after 60 s (unknown)", 1.7e9)
    j.close()
    assert main(["status", "--db", str(store.path)]) == 0
    text = "\n".join(_lines(capsys))
    assert "runs: 1 running" in text and "still running" in text
    assert "live trading: HALTED" in text and "beta order c-1: outcome unresolved" in text and "arbscan resume" in text
    assert "open trades: 1" in text and "live-1 (live, s) BTC/USD a -> b: unknown" in text
    assert "a            BTC                     0.5" in text
    assert "episodes: 1; the last 1:" in text and "peak 1.5 (12.35 bps)" in text


def test_status_names_a_missing_journal(tmp_path, capsys):
    assert main(["status", "--db", str(tmp_path / "nope.db")]) == 2
    assert "nope.db" in capsys.readouterr().err


# -- markets ------------------------------------------------------------------------------------


CONFIG = """
[scanner]
symbols = ["BTC/USD", "ETH/USD", "DOGE/USD"]
[[venues]]
exchange = "kraken"
[[venues]]
exchange = "bitstamp"
[[venues]]
exchange = "coinbaseexchange"
taker_fee = "0.001"
"""


def _raw() -> dict[str, object]:
    """The venues' own rows for BTC/USD, read from the cassette (the known answers)."""
    doc = yaml.safe_load((CASSETTES / "three_venues.yaml").read_text())
    bodies = {i["request"]["uri"].rsplit("/", 2)[-2] or i["request"]["uri"]: json.loads(i["response"]["body"]["string"])
              for i in doc["interactions"]}
    kraken = next(json.loads(i["response"]["body"]["string"]) for i in doc["interactions"]
                  if i["request"]["uri"].endswith("AssetPairs"))["result"]["XXBTZUSD"]
    bitstamp = next(r for r in bodies["markets"] if r["name"] == "BTC/USD")
    return {"kraken": kraken, "bitstamp": bitstamp}


def test_markets_through_the_cassettes(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    with VCR.use_cassette("three_venues.yaml"):
        assert main(["markets", "--config", str(cfg)]) == 0
    out = _lines(capsys)
    raw = _raw()
    assert out[:3] == ["kraken: native adapter, 293 markets", "bitstamp: ccxt adapter, 140 markets",
                       "coinbaseexchange: ccxt adapter, 162 markets"]
    rows = {tuple(line.split()[:2]): line.split() for line in out if line.startswith("  BTC/USD")}
    (kraken,) = rows.values()
    # Kraken's XXBTZUSD row: pair_decimals 1 -> price step 0.1, lot_decimals 8, ordermin 0.0002, public fee 0.26 %
    assert kraken[1:] == ["kraken", "0.26", "%", "0.00000001", "0.1", raw["kraken"]["ordermin"], "0"]
    bitstamp = next(line.split() for line in out if line.split()[:1] == ["bitstamp"] and "%" in line)
    assert bitstamp == ["bitstamp", "0.4", "%", "0.00000001", "0.01", "0", str(int(float(raw["bitstamp"]["minimum_order_value"])))]
    coinbase = next(line.split() for line in out if line.split()[:1] == ["coinbaseexchange"] and "%" in line)
    assert coinbase[1:3] == ["0.1", "%"]  # the configured taker_fee replaces the venue's
    assert "  DOGE/USD: listed on kraken; no route" in out
    assert out[-1] == ("routes (both directions): kraken <-> bitstamp (2 symbols), kraken <-> coinbaseexchange "
                       "(2 symbols), bitstamp <-> coinbaseexchange (2 symbols)")


def test_markets_with_symbols_and_a_bad_symbol(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    with VCR.use_cassette("three_venues.yaml"):
        assert main(["markets", "--config", str(cfg), "--symbols", "eth/btc"]) == 0
    out = _lines(capsys)
    assert ["ETH/BTC", "kraken"] in [line.split()[:2] for line in out]
    assert main(["markets", "--config", str(cfg), "--symbols", "ETHBTC"]) == 2
    assert "'ETHBTC' is not a unified symbol" in capsys.readouterr().err


def test_markets_names_an_unreachable_venue_and_shows_the_others(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG.replace('exchange = "kraken"', 'exchange = "kraken"\nrest_url = "http://127.0.0.1:9"'))
    with VCR.use_cassette("three_venues.yaml"):
        assert main(["markets", "--config", str(cfg)]) == 0
    out = _lines(capsys)
    assert out[0].startswith("kraken: could not be reached (ExchangeUnavailable: connection refused by 127.0.0.1:9")
    assert "routes (both directions): bitstamp <-> coinbaseexchange (2 symbols)" in out


# -- check-config -------------------------------------------------------------------------------


def test_check_config_prints_every_setting_with_its_default_and_each_venues_adapter(tmp_path, capsys):
    import tomllib

    cfg = tmp_path / "c.toml"
    cfg.write_text('[scanner]\nmin_net_bps = 3\n\n[[venues]]\nexchange = "kraken"\n\n[[venues]]\nexchange = "bitstamp"\n')
    assert main(["check-config", "--config", str(cfg), "--max-age-ms", "1500"]) == 0
    out = capsys.readouterr().out
    doc = tomllib.loads(out)  # the output is the effective config, itself valid TOML
    assert doc["scanner"]["min_net_bps"] == "3" and doc["scanner"]["max_book_age_ms"] == 1500  # the flag applied
    assert doc["scanner"]["book_depth"] == 10 and doc["live"]["imbalance_policy"] == "flatten_buy_venue"  # defaults
    assert 'adapter = "auto"  # this venue is served by the native adapter' in out
    assert 'adapter = "auto"  # this venue is served by the ccxt adapter' in out
    assert out.rstrip().endswith("# every check 'scan' makes at start passed")


def test_check_config_stops_at_the_first_error_as_scan_would(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[venues]]\nexchange = "krakn"\n\n[[venues]]\nexchange = "bitstamp"\nrest_url = "not a url"\n')
    assert main(["check-config", "--config", str(cfg)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("arbscan: error: venues[1].rest_url: ")  # URLs are checked before exchange ids
    assert main(["scan", "--config", str(cfg), "--duration", "1"]) == 2
    assert capsys.readouterr().err.strip() == line  # the same line scan gives


def test_check_config_for_a_replay_checks_against_the_files_venues(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[venues]]\nexchange = "bitmx"\ntaker_fee = "0.001"\n')  # a typo of the demo's bitmex
    assert main(["check-config", "--config", str(cfg), "--for", "replay"]) == 2
    assert "'bitmx' is not a venue of the replay file" in capsys.readouterr().err
