"""Credentials come only from the environment (or a keyring) and never show in a repr."""

import pytest

from adapters.base import Credentials, load_credentials, replace_origin
from arbscan.errors import AuthError


def test_from_environment():
    env = {"KRAKEN_API_KEY": "key-123", "KRAKEN_API_SECRET": "c2VjcmV0", "BITSTAMP_API_KEY": "x"}
    creds = load_credentials("kraken", env)
    assert (creds.api_key, creds.api_secret, creds.password) == ("key-123", "c2VjcmV0", None)


def test_half_a_pair_is_an_error_naming_the_variables():
    with pytest.raises(AuthError, match="BITSTAMP_API_KEY and BITSTAMP_API_SECRET"):
        load_credentials("bitstamp", {"BITSTAMP_API_KEY": "x"})


def test_none_without_keys(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "keyring", None)  # no keyring installed
    assert load_credentials("coinbase", {}) is None


def test_repr_and_str_hide_secrets():
    creds = Credentials("kraken", "key-123", "very-secret", "pass-phrase")
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert "key-123" not in text and "very-secret" not in text and "pass-phrase" not in text


def test_replace_origin_keeps_path_and_query():
    assert replace_origin("https://api.kraken.com/0/public/Depth?pair=XBTUSD", "http://127.0.0.1:8080") == (
        "http://127.0.0.1:8080/0/public/Depth?pair=XBTUSD"
    )
    assert replace_origin("wss://ws.kraken.com/v2", "ws://127.0.0.1:9000/ignored") == "ws://127.0.0.1:9000/v2"
    assert replace_origin("https://x.test/a", None) == "https://x.test/a"
