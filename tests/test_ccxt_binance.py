"""CcxtAdapter on Binance REST through a cassette: real depth snapshot, exchangeInfo in ccxt's documented shape."""

import json
from decimal import Decimal
from pathlib import Path

import pytest
import vcr

from adapters.ccxt_adapter import CcxtAdapter


@pytest.fixture(autouse=True)
def no_keys_from_the_environment(monkeypatch):
    """Public adapters here: keys a developer has set in the environment or keyring must not leak in."""
    monkeypatch.setattr("adapters.ccxt.adapter.load_credentials", lambda exchange: None)


ROOT = Path(__file__).resolve().parents[1]
VCR = vcr.VCR(
    cassette_library_dir=str(ROOT / "cassettes" / "test_ccxt_binance"),
    record_mode="none",
    filter_headers=["API-Key", "API-Sign", "X-MBX-APIKEY"],
)
SNAPSHOT = json.loads((ROOT / "tests/data/ccxt/binance_nknusdt_depth_snapshot.json").read_text())


@pytest.fixture
async def binance():
    adapter = CcxtAdapter("binance", credentials=None)
    yield adapter
    await adapter.close()


async def test_spot_markets_with_tick_sizes(binance):
    with VCR.use_cassette("markets_and_book.yaml"):
        markets = await binance.load_markets()
    assert set(markets) == {"NKN/USDT", "BLZ/ETH", "LRC/BTC", "RUNE/EUR"}
    nkn = markets["NKN/USDT"]
    # exchangeInfo filters: PRICE_FILTER tickSize "0.00001000", LOT_SIZE stepSize/minQty "0.10000000", MIN_NOTIONAL "0.00010000"
    assert (nkn.price_step, nkn.amount_step) == (Decimal("0.00001"), Decimal("0.1"))
    assert (nkn.min_amount, nkn.min_cost) == (Decimal("0.1"), Decimal("0.0001"))
    assert nkn.taker_fee == Decimal("0.001")  # Binance's public spot taker fee in ccxt
    assert markets["BLZ/ETH"].price_step == Decimal("0.00000001")


async def test_real_depth_snapshot_becomes_exact_decimals(binance):
    with VCR.use_cassette("markets_and_book.yaml"):
        await binance.load_markets()
        book = await binance.fetch_book("NKN/USDT", depth=50)
    assert book.bids == tuple((Decimal(p), Decimal(q)) for p, q in SNAPSHOT["bids"][:50])
    assert book.asks == tuple((Decimal(p), Decimal(q)) for p, q in SNAPSHOT["asks"][:50])
    assert (book.best_bid, book.best_ask) == (Decimal("0.3521"), Decimal(SNAPSHOT["asks"][0][0]))
    assert book.ts == book.received  # Binance's REST depth carries no time: receive time stands in


async def test_binance_loads_spot_only(binance):
    # arbscan scans spot: binance is told not to call its futures exchangeInfo endpoints (not in the cassette)
    assert binance._exchange.options["fetchMarkets"]["types"] == ["spot"]
