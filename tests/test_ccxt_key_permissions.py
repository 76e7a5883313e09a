"""Keys that can withdraw are refused where the venue reports a key's permissions (Binance, Coinbase)."""

import ccxt.async_support as ccxt_async
import pytest

from adapters.base import Credentials
from adapters.ccxt_adapter import KEY_PERMISSION_PROBES, CcxtAdapter
from arbscan.errors import AuthError
from arbscan.execution.live import check_key_permissions

# Binance's documented example answer of GET /sapi/v1/account/apiRestrictions (withdrawals on), and
# Coinbase Advanced Trade's of GET /api/v3/brokerage/key_permissions (shape from its API reference).
BINANCE = {
    "ipRestrict": False, "createTime": 1698645219000, "enableReading": True, "enableWithdrawals": True,
    "enableInternalTransfer": False, "enableMargin": False, "enableFutures": False,
    "permitsUniversalTransfer": False, "enableVanillaOptions": False, "enableSpotAndMarginTrading": True,
    "enablePortfolioMarginTrading": False,
}
COINBASE = {"can_view": True, "can_trade": True, "can_transfer": False, "portfolio_uuid": "x", "portfolio_type": "DEFAULT"}


def adapter_with(exchange_id, answer):
    adapter = CcxtAdapter(exchange_id, credentials=Credentials(exchange_id, "k", "c2VjcmV0"))
    method, _ = KEY_PERMISSION_PROBES[exchange_id]

    async def probe(params=None):
        return dict(answer)

    setattr(adapter._exchange, method, probe)
    return adapter


def test_probed_methods_exist_in_ccxt():
    for exchange_id, (method, _) in KEY_PERMISSION_PROBES.items():
        assert hasattr(getattr(ccxt_async, exchange_id)(), method), (exchange_id, method)


async def test_binance_key_that_can_withdraw_is_refused():
    adapter = adapter_with("binance", BINANCE)
    try:
        perms = await adapter.api_key_permissions()
        assert perms == ["enableReading", "enableSpotAndMarginTrading", "withdraw (enableWithdrawals)"]
        with pytest.raises(AuthError, match="binance: the API key can withdraw"):
            await check_key_permissions({"binance": adapter})
    finally:
        await adapter.close()


async def test_trade_only_keys_pass():
    binance = adapter_with("binance", {**BINANCE, "enableWithdrawals": False})
    coinbase = adapter_with("coinbase", COINBASE)
    try:
        assert await check_key_permissions({"binance": binance, "coinbase": coinbase}) == {
            "binance": "enableReading, enableSpotAndMarginTrading",
            "coinbase": "can_trade, can_view",
        }
    finally:
        await binance.close()
        await coinbase.close()


async def test_coinbase_transfer_permission_counts_as_withdraw():
    adapter = adapter_with("coinbase", {**COINBASE, "can_transfer": True})
    try:
        with pytest.raises(AuthError, match="withdraw"):
            await check_key_permissions({"coinbase": adapter})
    finally:
        await adapter.close()


async def test_venues_that_cannot_tell_say_so():
    adapter = CcxtAdapter("bitstamp", credentials=Credentials("bitstamp", "k", "s"))
    try:
        assert await adapter.api_key_permissions() is None
    finally:
        await adapter.close()
