"""build_adapter: native Kraken by default, ccxt when asked and for every other venue."""

import inspect
from decimal import Decimal

import pytest

from adapters import build_adapter
from adapters.base import AdapterDefaults, ExchangeAdapter
from adapters.ccxt_adapter import CcxtAdapter
from arbscan.config.settings import VenueConfig, parse_settings
from arbscan.errors import ConfigError, NotSupported


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


# -- the optional members: declared in adapters.base, answered by both real adapters -----------------

OPTIONAL = sorted(n for n in vars(AdapterDefaults) if not n.startswith("_"))
SYNC = {"rate_limit_headroom"}  # asked by the web view's snapshot on the scanner's loop: never awaited


def test_the_optional_members_are_the_ones_the_protocol_table_declares():
    import adapters.base as base

    assert OPTIONAL == ["api_key_permissions", "closed_orders", "fetch_funding", "on_untrue_book", "open_orders",
                        "rate_limit_headroom", "validate_orders"]
    for name in OPTIONAL:
        (row,) = [ln for ln in base.__doc__.splitlines() if ln.startswith(f"``{name}")]
        assert " optional " in row, row


async def test_what_an_adapter_that_cannot_answers():
    class Bare(AdapterDefaults):
        name = "bare"

    bare = Bare()
    assert bare.validate_orders is False
    assert bare.on_untrue_book is None
    assert await bare.api_key_permissions() is None
    assert bare.rate_limit_headroom() is None
    for lister in (bare.open_orders, bare.closed_orders):
        with pytest.raises(NotSupported, match="bare cannot list"):
            await lister("BTC/USD")
    with pytest.raises(NotSupported, match="bare states no deposit or withdrawal facts"):
        await bare.fetch_funding(["BTC"])


@pytest.mark.parametrize("exchange", ["kraken", "bitstamp", "coinbaseexchange"])
async def test_both_adapters_satisfy_the_protocol_with_its_optional_members(exchange):
    adapter = build_adapter(VenueConfig(exchange, rest_url="http://127.0.0.1:9", ws_url="ws://127.0.0.1:9"))
    try:
        assert isinstance(adapter, ExchangeAdapter) and isinstance(adapter, AdapterDefaults)
        for name in OPTIONAL:
            default, member = getattr(AdapterDefaults, name), getattr(adapter, name)
            if callable(default):
                assert inspect.iscoroutinefunction(member) is (name not in SYNC), name
                assert list(inspect.signature(member).parameters)[:1] == list(inspect.signature(default).parameters)[1:2]
            else:
                assert type(member) is type(default), name
        assert adapter.validate_orders is False
        assert await adapter.api_key_permissions() is None  # none of these reports a public key's permissions
    finally:
        await adapter.close()


async def test_the_ccxt_adapter_lists_orders_only_where_ccxt_can():
    from adapters.base import Credentials

    keys = Credentials("bitstamp", "k", "s")
    bitstamp, binance = CcxtAdapter("bitstamp", credentials=keys), CcxtAdapter("binance", credentials=keys)
    try:
        with pytest.raises(NotSupported, match="bitstamp cannot list closed orders"):
            await bitstamp.closed_orders("ETH/USD")
        assert binance._exchange.has["fetchClosedOrders"]  # binance can: its lists are asked (not here: no network)
    finally:
        await bitstamp.close()
        await binance.close()
