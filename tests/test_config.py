"""Settings: defaults that run with no file, and one ConfigError naming the key for every bad input."""

from decimal import Decimal as D

import pytest

from arbscan.config.settings import Settings, load_settings, parse_settings
from arbscan.errors import BadInput, ConfigError

GOOD = """
[scanner]
symbols = ["btc/usd", "ETH/USD"]
min_net_bps = 5.5
max_book_age_ms = 1500
db = "journal.db"

[[venues]]
exchange = "kraken"
taker_fee = "0.0016"
rate_tier = "Intermediate"
balances = { USD = "10000", btc = 0.5 }

[[venues]]
exchange = "bitstamp"
rest_url = "http://127.0.0.1:8080"

[[strategies]]
name = "fast"
min_net_bps = 10
max_notional = 500
latency_ms = 50
balances = { kraken = { USD = "1000" } }

[live]
max_notional_per_trade = "250"
imbalance_policy = "keep"
max_exposure = { BTC = "0.05" }
"""


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s == Settings()
    assert s.scanner.symbols == ("BTC/USD", "ETH/USD")
    assert [v.exchange for v in s.venues] == ["kraken", "bitstamp", "coinbase"]
    assert s.scanner.max_book_age_ms == 2000
    assert s.source is None


def test_default_file_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "arbscan.toml").write_text(GOOD)
    s = load_settings()
    assert s.source == "arbscan.toml"
    assert s.scanner.symbols == ("BTC/USD", "ETH/USD")
    assert s.scanner.min_net_bps == D("5.5")  # a TOML float becomes its shortest decimal text
    assert s.venue("kraken").taker_fee == D("0.0016")
    assert s.venue("kraken").balances == {"USD": D(10000), "BTC": D("0.5")}
    assert s.venue("bitstamp").rest_url == "http://127.0.0.1:8080"
    assert s.venue("kraken").rate_tier == "intermediate"
    assert s.strategy("fast").max_notional == D(500)
    assert s.strategy("fast").balances == {"kraken": {"USD": D(1000)}}
    assert s.live.imbalance_policy == "keep"
    assert s.live.max_exposure == {"BTC": D("0.05")}


def test_named_file_that_does_not_exist(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_not_toml(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[scanner\nsymbols = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(p)


@pytest.mark.parametrize(
    "raw, key",
    [
        ({"scanner": {"symbol": ["BTC/USD"]}}, "scanner.symbol"),
        ({"scaner": {}}, "scaner"),
        ({"scanner": {"min_net_bps": "lots"}}, "scanner.min_net_bps"),
        ({"scanner": {"min_net_bps": True}}, "scanner.min_net_bps"),
        ({"scanner": {"max_book_age_ms": "2000"}}, "scanner.max_book_age_ms"),
        ({"scanner": {"max_book_age_ms": 0}}, "scanner.max_book_age_ms"),
        ({"scanner": {"symbols": ["BTCUSD"]}}, "scanner.symbols[0]"),
        ({"scanner": {"symbols": ["BTC/USD", "btc/usd"]}}, "scanner.symbols[1]"),
        ({"venues": [{"exchange": "kraken", "taker_fee": "-0.001"}]}, "venues[0].taker_fee"),
        ({"venues": [{"exchange": "kraken", "taker_fee": "1.5"}]}, "venues[0].taker_fee"),
        ({"venues": [{"exchange": "kraken"}, {"exchange": "KRAKEN"}]}, "venues[1].exchange"),
        ({"venues": [{"taker_fee": "0.001"}]}, "venues[0].exchange"),
        ({"venues": [{"exchange": "bitstamp", "adapter": "native"}]}, "venues[0].adapter"),
        ({"venues": [{"exchange": "kraken", "balances": {"USD": "-5"}}]}, "venues[0].balances.USD"),
        ({"venues": {"exchange": "kraken"}}, "venues"),
        ({"strategies": [{"name": "a"}, {"name": "a"}]}, "strategies[1].name"),
        ({"strategies": [{"name": "a", "latency_ms": -1}]}, "strategies[0].latency_ms"),
        ({"strategies": [{"name": "a", "max_notional": 0}]}, "strategies[0].max_notional"),
        ({"live": {"imbalance_policy": "pray"}}, "live.imbalance_policy"),
        ({"venues": [{"exchange": "kraken", "rate_tier": "gold"}]}, "venues[0].rate_tier"),
        ({"venues": [{"exchange": "bitstamp", "rate_tier": "pro"}]}, "venues[0].rate_tier"),
        ({"live": {"max_orders_per_minute": 0}}, "live.max_orders_per_minute"),
    ],
)
def test_bad_settings_name_their_key(raw, key):
    with pytest.raises(ConfigError) as info:
        parse_settings(raw)
    message = str(info.value)
    assert message.startswith(key + ":") or message.startswith(key + "."), message
    assert "\n" not in message


def test_secrets_in_the_file_are_refused():
    with pytest.raises(ConfigError, match="environment"):
        parse_settings({"venues": [{"exchange": "kraken", "api_secret": "s3cr3t"}]})


def test_config_errors_are_bad_input():
    assert issubclass(ConfigError, BadInput)


def test_unknown_strategy_lists_the_known_ones():
    with pytest.raises(ConfigError, match="known: default"):
        Settings().strategy("nope")
