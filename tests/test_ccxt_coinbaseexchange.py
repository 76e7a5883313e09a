"""CcxtAdapter on Coinbase Exchange (ccxt id coinbaseexchange) through a cassette of the real /products body."""

import json
from decimal import Decimal
from pathlib import Path

import pytest
import vcr
import yaml

from adapters.ccxt_adapter import CcxtAdapter


@pytest.fixture(autouse=True)
def no_keys_from_the_environment(monkeypatch):
    """Public adapters here: keys a developer has set in the environment or keyring must not leak in."""
    monkeypatch.setattr("adapters.ccxt.adapter.load_credentials", lambda exchange: None)


CASSETTES = Path(__file__).resolve().parents[1] / "cassettes" / "test_ccxt_coinbaseexchange"
VCR = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="none",
    filter_headers=["API-Key", "API-Sign", "CB-ACCESS-KEY", "CB-ACCESS-SIGN", "CB-ACCESS-PASSPHRASE"],
)


def _products():
    doc = yaml.safe_load((CASSETTES / "markets.yaml").read_text())
    body = next(i for i in doc["interactions"] if i["request"]["uri"].endswith("/products"))
    return json.loads(body["response"]["body"]["string"])


async def test_tick_size_markets_from_real_products():
    adapter = CcxtAdapter("coinbaseexchange", credentials=None)
    try:
        with VCR.use_cassette("markets.yaml"):
            markets = await adapter.load_markets()
    finally:
        await adapter.close()
    # the real row: {"id":"SKL-EUR","base_increment":"0.1","quote_increment":"0.0001","min_market_funds":"5.0",...}
    skl = markets["SKL/EUR"]
    assert (skl.amount_step, skl.price_step, skl.min_cost) == (Decimal("0.1"), Decimal("0.0001"), Decimal("5"))
    assert skl.taker_fee == Decimal("0.006")
    live = [p for p in _products() if p["status"] == "online"]
    assert len(markets) == len(live) > 100
    checked = 0
    for p in live:
        m = markets.get(p["display_name"])
        if m is None:  # ccxt renames a few currencies (CGLD -> CELO): the symbol differs from display_name
            continue
        checked += 1
        assert m.amount_step == Decimal(p["base_increment"]), p["id"]
        assert m.price_step == Decimal(p["quote_increment"]), p["id"]
        assert m.min_cost == Decimal(p["min_market_funds"]), p["id"]
    assert checked >= len(live) - 5


async def test_account_fee_from_the_venue_when_keys_are_set():
    from adapters.base import Credentials

    keys = Credentials("coinbaseexchange", "test-key-not-real", "dGVzdC1zZWNyZXQ=", "test-passphrase")
    adapter = CcxtAdapter("coinbaseexchange", credentials=keys)
    try:
        with VCR.use_cassette("markets_account_fee.yaml"):
            markets = await adapter.load_markets()
    finally:
        await adapter.close()
    # GET /fees {"taker_fee_rate": "0.0050"} replaces the public 0.006 for every market
    assert {m.taker_fee for m in markets.values()} == {Decimal("0.005")}
