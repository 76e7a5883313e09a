"""arbscan.config.checks on its own: callable without starting anything, the replay file's markets read in one pass."""

from __future__ import annotations

import gzip
import json

import pytest

from arbscan.config.checks import ReplayMarkets, check_settings, replay_markets
from arbscan.config.settings import parse_settings
from arbscan.errors import ConfigError

KNOWN = {"kraken", "bitstamp", "coinbase"}.__contains__


def market(ex, sym="BTC/USD"):
    return json.dumps({"type": "market", "exchange": ex, "symbol": sym, "taker_fee": "0", "amount_step": "1",
                       "price_step": "1"})


def test_replay_markets_finds_market_lines_anywhere_in_a_gzip_file(tmp_path):
    # arbscan record writes a venue's market line just before its first book, so they are spread out
    book = json.dumps({"type": "book", "ts": 1, "exchange": "a", "symbol": "BTC/USD", "snapshot": True,
                       "bids": [["1", "1"]], "asks": [["2", "1"]]})
    lines = [market("a"), book, *[book] * 1000, market("B", "eth/usd"), "{broken", book]
    path = tmp_path / "r.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    assert replay_markets(path) == ReplayMarkets(frozenset({"a", "b"}), frozenset({"BTC/USD", "ETH/USD"}))
    assert replay_markets(tmp_path / "missing.jsonl") == ReplayMarkets(frozenset(), frozenset())


def test_defaults_pass_with_no_warning():
    assert check_settings(parse_settings({}), "check-config", known_exchange=KNOWN) == []


def test_every_strategy_is_checked_by_check_config_only_named_ones_by_a_run():
    s = parse_settings({"strategies": [{"name": "ok"}, {"name": "typo", "venues": ["krakn", "bitstamp"]}]})
    with pytest.raises(ConfigError, match=r"strategies\[1\].venues: 'krakn' is not a configured venue"):
        check_settings(s, "check-config", known_exchange=KNOWN)
    assert check_settings(s, "scan", strategies=["ok"], known_exchange=KNOWN) == []
    with pytest.raises(ConfigError, match="no strategy named 'nope'"):
        check_settings(s, "scan", strategies=["nope"], known_exchange=KNOWN)


def test_replay_strategy_venue_configured_but_not_in_the_file_is_a_warning():
    s = parse_settings({"strategies": [{"name": "s", "venues": ["kraken", "bitmex", "deribit"]}]})
    warnings = check_settings(s, "replay", strategies=["s"], known_exchange=KNOWN,
                              replay=ReplayMarkets(frozenset({"bitmex", "deribit"}), frozenset({"BTC/USD"})))
    assert warnings == ["strategies[0]: 's' names kraken, not in the replay file: it cannot trade there"]


def test_warnings_are_lines_not_errors():
    s = parse_settings({"scanner": {"min_net_bps": 12}, "strategies": [{"name": "s", "min_net_bps": 5}]})
    (line,) = check_settings(s, "scan", known_exchange=KNOWN)
    assert line.startswith("scanner.min_net_bps (12) is above strategies[0].min_net_bps (5) of 's'")
    assert "\n" not in line


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "https://api.kraken.com", "http://[::1]:9"])
def test_good_rest_urls_pass(url):
    check_settings(parse_settings({"venues": [{"exchange": "kraken", "rest_url": url}]}), known_exchange=KNOWN)


@pytest.mark.parametrize("url", ["not a url", "ftp://host", "127.0.0.1:8080", "http:///path", "ws://h"])
def test_bad_rest_urls_name_the_key(url):
    with pytest.raises(ConfigError, match=r"^venues\[0\].rest_url: "):
        check_settings(parse_settings({"venues": [{"exchange": "kraken", "rest_url": url}]}), known_exchange=KNOWN)


def test_exchange_ids_are_known_without_importing_ccxt_and_agree_with_its_list():
    import subprocess
    import sys

    code = ("import sys; from arbscan.config.checks import exchange_known as k; ids = ['kraken', 'bitstamp', "
            "'coinbaseexchange', 'binance', 'krakn', 'base', '__init__', 'alpha']; before = [k(i) for i in ids]; "
            "assert 'ccxt' not in sys.modules; import ccxt.async_support; assert before == [k(i) for i in ids], before; "
            "print(before)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "[True, True, True, True, False, False, False, False]"
