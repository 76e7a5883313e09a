"""build_adapter: native Kraken by default, ccxt when asked and for every other venue."""

from decimal import Decimal

import pytest

from adapters import build_adapter
from adapters.base import ExchangeAdapter
from adapters.ccxt_adapter import CcxtAdapter
from arbscan.config import VenueConfig, parse_settings
from arbscan.errors import ConfigError


@pytest.fixture(autouse=True)
def no_keys(monkeypatch):
    for name in ("KRAKEN", "BITSTAMP", "COINBASE", "BINANCE"):
        monkeypatch.delenv(f"{name}_API_KEY", raising=False)
        monkeypatch.delenv(f"{name}_API_SECRET", raising=False)


@pytest.mark.parametrize("kind", ["auto", "native"])
async def test_kraken_gets_the_native_adapter(kind):
    kraken = pytest.importorskip("adapters.kraken.adapter")
    venue = VenueConfig("kraken", adapter=kind, taker_fee=Decimal("0.0016"),
                        rest_url="http://127.0.0.1:8080", ws_url="ws://127.0.0.1:9090")
    adapter = build_adapter(venue, depth=25, validate_orders=True)
    try:
        assert isinstance(adapter, kraken.KrakenAdapter) and isinstance(adapter, ExchangeAdapter)
        assert (adapter.depth, adapter.taker_fee, adapter.validate_orders) == (25, Decimal("0.0016"), True)
        assert adapter.rest.base_url.startswith("http://127.0.0.1:8080")
        assert adapter.ws.url.startswith("ws://127.0.0.1:9090")
    finally:
        await adapter.close()


async def test_kraken_can_be_configured_to_ccxt():
    settings = parse_settings({"venues": [{"exchange": "kraken", "adapter": "ccxt", "taker_fee": 0.0026}]})
    adapter = build_adapter(settings.venues[0], depth=5)
    try:
        assert isinstance(adapter, CcxtAdapter)
        assert (adapter.name, adapter.depth, adapter._taker_fee) == ("kraken", 5, Decimal("0.0026"))
    finally:
        await adapter.close()


@pytest.mark.parametrize("exchange", ["bitstamp", "coinbase", "binance"])
async def test_other_venues_get_ccxt(exchange):
    venue = VenueConfig(exchange, rest_url="http://127.0.0.1:8080", poll_interval_ms=2000)
    adapter = build_adapter(venue)
    try:
        assert isinstance(adapter, CcxtAdapter) and isinstance(adapter, ExchangeAdapter)
        assert adapter.name == exchange and adapter.depth == 10
        assert adapter.poll_interval_s == 2.0
        assert all("127.0.0.1:8080" in u for k, u in adapter._exchange.urls["api"].items() if isinstance(u, str)
                   and u.startswith("http"))
    finally:
        await adapter.close()


def test_unknown_ccxt_id_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match="'notanexchange'"):
        build_adapter(VenueConfig("notanexchange"))


def test_native_only_for_kraken():
    with pytest.raises(ConfigError, match="bitstamp"):
        build_adapter(VenueConfig("bitstamp", adapter="native"))


@pytest.mark.parametrize("tier, expected", [(None, (15.0, 0.33)), ("intermediate", (20.0, 0.5)), ("pro", (20.0, 1.0))])
async def test_kraken_rate_tier_from_config(tier, expected):
    pytest.importorskip("adapters.kraken.adapter")
    # Kraken's REST rate-limit guide: starter 15 / -0.33 per s, intermediate 20 / -0.5, pro 20 / -1
    venue = VenueConfig("kraken", rate_tier=tier, rest_url="http://127.0.0.1:8080")
    adapter = build_adapter(venue)
    try:
        assert (adapter.rest.counter.maximum, adapter.rest.counter.decay_per_s) == expected
    finally:
        await adapter.close()
