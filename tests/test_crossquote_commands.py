"""[[conversions]] through the commands: the config parser, check-config, markets and report."""

import sqlite3
from pathlib import Path

import pytest
from conftest import market

from arbscan.cli.command import main
from arbscan.cli.markets import markets_lines
from arbscan.config.checks import ReplayMarkets, check_settings
from arbscan.config.settings import parse_settings
from arbscan.errors import ConfigError
from arbscan.funding.conversions import Conversion

DATA = Path(__file__).parent / "data" / "crossquote" / "lean_20180404_coinbase_btcusd_btceur_oanda_eurusd_2000-2200.jsonl.gz"


def settings(symbols=("BTC/USD", "BTC/EUR", "EUR/USD"), workers=1, venue="kraken", symbol="EUR/USD"):
    return parse_settings({"scanner": {"symbols": list(symbols), "workers": workers},
                           "venues": [{"exchange": "kraken"}, {"exchange": "bitstamp"}],
                           "conversions": [{"venue": venue, "symbol": symbol}]})


def test_conversions_parse():
    assert settings().conversions == (Conversion("kraken", "EUR/USD"),)
    assert parse_settings({}).conversions == ()


@pytest.mark.parametrize("raw, message", [
    ({"conversions": {"venue": "kraken"}}, "conversions: must be an array of tables"),
    ({"conversions": [{"venue": "kraken"}]}, "conversions[0].symbol: missing"),
    ({"conversions": [{"venue": "kraken", "symbol": "EURUSD"}]}, "conversions[0].symbol: 'EURUSD' is not a unified"),
    ({"conversions": [{"venue": "kraken", "symbol": "USD/USD"}]}, "converts a currency into itself"),
    ({"conversions": [{"venue": "kraken", "symbol": "EUR/USD", "rate": 1}]}, "conversions[0]"),
    ({"conversions": [{"venue": "kraken", "symbol": "EUR/USD"}, {"venue": "KRAKEN", "symbol": "eur/usd"}]},
     "conversions[1]: kraken:EUR/USD is listed twice"),
])
def test_bad_conversions_name_the_key(raw, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_settings(raw)


def test_check_config_errors_and_warnings():
    assert check_settings(settings(), "scan", known_exchange=lambda e: True) == []
    with pytest.raises(ConfigError, match=r"conversions\[0\].venue: 'oanda' is not a configured venue"):
        check_settings(settings(venue="oanda"), "scan", known_exchange=lambda e: True)
    with pytest.raises(ConfigError, match=r"conversions\[0\].symbol: 'EUR/USD' is not in scanner.symbols"):
        check_settings(settings(symbols=("BTC/USD", "BTC/EUR")), "scan", known_exchange=lambda e: True)
    with pytest.raises(ConfigError, match="set scanner.workers = 1"):
        check_settings(settings(workers=2), "scan", known_exchange=lambda e: True)
    (warning,) = check_settings(settings(symbols=("BTC/USD", "ETH/USD", "EUR/USD")), "scan",
                                known_exchange=lambda e: True)
    assert "links EUR and USD" in warning and "forms no route" in warning
    replay = ReplayMarkets(frozenset({"kraken"}), frozenset({"BTC/USD"}))
    warnings = check_settings(settings(), "replay", replay=replay, known_exchange=lambda e: True)
    assert any("kraken:EUR/USD is not a market of the replay file" in w for w in warnings)


def test_check_config_command_on_the_real_slice(tmp_path, capsys):
    cfg = tmp_path / "a.toml"
    cfg.write_text('[[conversions]]\nvenue = "oanda"\nsymbol = "EUR/USD"\n')
    assert main(["check-config", "--config", str(cfg), "--for", "replay", "--replay-file", str(DATA)]) == 0
    assert '[[conversions]]\nvenue = "oanda"\nsymbol = "EUR/USD"' in capsys.readouterr().out
    cfg.write_text('[[conversions]]\nvenue = "oandaa"\nsymbol = "EUR/USD"\n')
    assert main(["check-config", "--config", str(cfg), "--for", "replay", "--replay-file", str(DATA)]) == 2
    assert "conversions[0].venue: 'oandaa' is not a venue of the replay file" in capsys.readouterr().err


def test_markets_lists_links_routes_and_why_not():
    s = parse_settings({"scanner": {"symbols": ["BTC/USD", "BTC/EUR", "BTC/GBP", "EUR/USD"]},
                        "venues": [{"exchange": "kraken"}, {"exchange": "bitstamp"}],
                        "conversions": [{"venue": "kraken", "symbol": "EUR/USD"},
                                        {"venue": "bitstamp", "symbol": "USDT/USD"}]})
    loaded = {"kraken": {m.symbol: m for m in (market("kraken", "BTC/USD"), market("kraken", "EUR/USD"))},
              "bitstamp": {m.symbol: m for m in (market("bitstamp", "BTC/EUR"), market("bitstamp", "BTC/GBP"))}}
    out = markets_lines(s, loaded, {}, None)
    assert "conversion kraken:EUR/USD: links EUR and USD both ways (taker fee 0 %, step 0.0001 EUR)" in out
    assert "conversion bitstamp:USDT/USD: not a market the venue has; it links nothing" in out
    assert ("cross-quote routes (buy -> sell via conversion): bitstamp BTC/EUR -> kraken BTC/USD via kraken:EUR/USD, "
            "kraken BTC/USD -> bitstamp BTC/EUR via kraken:EUR/USD") in out
    assert any(line.startswith("  bitstamp BTC/EUR and bitstamp BTC/GBP: no cross-quote route: no conversion links "
                               "EUR and GBP") for line in out)
    assert markets_lines(parse_settings({}), loaded, {}, None)[-1].startswith("routes (both directions)")


def test_report_has_the_cross_quote_table(tmp_path, capsys):
    cfg = tmp_path / "a.toml"
    cfg.write_text('[scanner]\nmax_book_age_ms = 120000\n[[conversions]]\nvenue = "oanda"\nsymbol = "EUR/USD"\n')
    db = tmp_path / "j.db"
    assert main(["replay", str(DATA), "--config", str(cfg), "--db", str(db), "--no-progress"]) == 0
    assert "cross-quote routes: 2, 9 live evaluations in 7 episodes" in capsys.readouterr().out
    assert main(["report", "--db", str(db), "--csv", str(tmp_path / "csv")]) == 0
    out = capsys.readouterr().out
    assert "Cross-quote routes" in out
    assert "333 evaluations would have looked profitable at a 1:1 rate" in out
    rows = (tmp_path / "csv" / "cross.csv").read_text().splitlines()
    assert rows[0].startswith("symbol,buy_exchange,sell_symbol,sell_exchange,conversion,evaluated,live,episodes,")
    assert rows[2].startswith("BTC/USD,coinbase,BTC/EUR,coinbase,oanda:EUR/USD,333,9,7,")
    # cross-quote episodes stay out of the same-symbol tables
    assert (tmp_path / "csv" / "episodes.csv").read_text().count("\n") == 1
    conn = sqlite3.connect(db)
    assert conn.execute("select count(*) from opportunities where conversion is not null").fetchone()[0] == 7


CROSS_STRATEGY = """
[[conversions]]
venue = "oanda"
symbol = "EUR/USD"

[[strategies]]
name = "x"
convert = "each_trade"
[strategies.balances.coinbase]
USD = "1000"
BTC = "1"
"""


@pytest.mark.parametrize("argv, message", [
    (["replay", str(DATA), "--workers", "2", "--strategy", "x"],
     "conversions: cross-quote routes need the books of several symbols in one scanner and are not split over "
     "processes; set scanner.workers = 1 or drop --workers (it is 2)"),
    (["replay", str(DATA), "--bus", "nats://127.0.0.1:9", "--shard", "1/2"],
     "--shard 1/2: [[conversions]] need every symbol's books in one scanner"),
    (["execute", "--bus", "nats://127.0.0.1:9", "--strategy", "x"],
     "execute: the bus executor does not trade cross-quote routes"),
])
def test_conversions_refused_where_routes_are_split_one_line_exit_2(tmp_path, capsys, argv, message):
    cfg = tmp_path / "a.toml"
    cfg.write_text(CROSS_STRATEGY)
    db = [] if argv[0] == "execute" else ["--db", str(tmp_path / "j.db")]  # a paper executor on the bus has none
    assert main([*argv, "--config", str(cfg), *db]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("arbscan: error: ") and message in err
    assert not (tmp_path / "j.db").exists()
