"""Funding facts through the ccxt adapter, from cassettes of real responses (tests/data/funding/README.md).

Each expected table is read off the raw response by hand: the venue's own chain id, its switches, fee,
minimum and confirmations as the venue wrote them, and the unified code ccxt gives that chain.
"""

from decimal import Decimal as D
from pathlib import Path

import pytest
import vcr

from adapters.base import Credentials
from adapters.ccxt_adapter import CcxtAdapter
from arbscan.errors import NotSupported
from arbscan.funding.facts import NetworkFunding

ROOT = Path(__file__).resolve().parents[1]
VCR = vcr.VCR(
    cassette_library_dir=str(ROOT / "cassettes" / "test_funding_ccxt"),
    record_mode="none",
    # signed requests carry a timestamp and signature in the query or headers: match the endpoint only
    match_on=["method", "scheme", "host", "port", "path"],
    filter_headers=["API-Key", "API-Sign", "X-MBX-APIKEY", "X-BAPI-API-KEY", "X-BAPI-SIGN", "KC-API-KEY",
                    "KC-API-SIGN", "KC-API-PASSPHRASE"],
    filter_query_parameters=["signature"],
)
# Made-up keys: Bybit and Binance list their currencies only to a signed request.
FAKE = "not-a-real-key"


@pytest.fixture(autouse=True)
def no_keys_from_the_environment(monkeypatch):
    """Keys a developer has set must not leak in: each test gives its own (fake) ones or none."""
    monkeypatch.setattr("adapters.ccxt.adapter.load_credentials", lambda exchange: None)


async def _funding(exchange_id, assets, *, keys=False, options=None):
    creds = Credentials(exchange_id, FAKE, FAKE, FAKE) if keys else None
    adapter = CcxtAdapter(exchange_id, credentials=creds, options=options)
    try:
        return await adapter.fetch_funding(assets)
    finally:
        await adapter.close()


def _by_code(facts):
    return {n.network: n for n in facts.networks}


# Bybit /v5/asset/coin/query-info, USDT: chain -> (ccxt code, chainDeposit, chainWithdraw, withdrawFee,
# withdrawMin, depositMin, confirmation)
BYBIT_USDT = {
    "APTOS": ("APT", True, True, "0", "0", "0.001", 1),
    "ARBI": ("ARBITRUM", True, True, "1", "1", "0", 120),
    "BSC": ("BEP20", True, True, "1", "10", "0", 60),
    "CAVAX": ("AVAXC", True, False, "1", "10", "0", 30),
    "CELO": ("CELO", True, True, "1", "1", "0", 10),
    "ETH": ("ERC20", True, True, "8", "10", "0", 6),
    "KAVAEVM": ("KAVAEVM", True, True, "0.3", "0.3", "0", 10),
    "MANTLE": ("MANTLE", True, True, "0", "0.3", "0", 100),
    "MATIC": ("MATIC", True, True, "1", "1", "0", 300),
    "OP": ("OP", True, True, "1", "1", "0", 30),
    "SOL": ("SOL", True, True, "1", "10", "0", 200),
    "TON": ("TON", True, True, "0.3", "1", "0", 1),
    "TRX": ("TRC20", True, True, "1.6", "2.6", "0", 20),
    "ZKSYNC": ("ZKSYNCLITE", False, False, "0.3", "0.3", None, None),  # both off, empty depositMin/confirmation
}


async def test_bybit_usdt_on_14_chains_with_exact_fees_and_the_disabled_ones():
    with VCR.use_cassette("bybit_usdt.yaml"):
        (usdt,) = await _funding("bybit", ["USDT"], keys=True)
    nets = _by_code(usdt)
    assert len(nets) == 14
    for chain, (code, dep, wd, fee, wmin, dmin, conf) in BYBIT_USDT.items():
        assert nets[code] == NetworkFunding(code, dep, wd, D(fee), D(wmin), None,
                                            None if dmin is None else D(dmin), conf), chain
    assert (usdt.exchange, usdt.asset, usdt.source) == ("bybit", "USDT", "venue")


async def test_bybit_without_keys_states_nothing():
    # ccxt asks Bybit's coin list only with keys; without them it answers an empty list (no request made)
    with VCR.use_cassette("bybit_usdt.yaml", allow_playback_repeats=True):
        assert await _funding("bybit", ["USDT"]) == []


# Gate /api/v4/spot/currencies, USDT: chain name -> (ccxt code, deposit on, withdraw on); Gate gives no fees
GATE_OFF = {
    "ALGO": ("ALGO", False, False),
    "BTC": ("BTC", False, False),
    "EOS": ("EOS", False, False),
    "KSMSM": ("KUSAMA", False, False),
    "OKT": ("OKC", True, False),  # withdraw_disabled only
}


async def test_gate_usdt_on_22_chains_five_off_no_fees():
    with VCR.use_cassette("gate_usdt.yaml"):
        (usdt,) = await _funding("gate", ["USDT"])
    nets = _by_code(usdt)
    assert len(nets) == 22
    for chain, (code, dep, wd) in GATE_OFF.items():
        assert (nets[code].deposit, nets[code].withdraw) == (dep, wd), chain
    open_ = [c for c, n in nets.items() if n.deposit and n.withdraw]
    assert len(open_) == 17 and "ERC20" in open_ and "TRC20" in open_
    assert all(n.withdraw_fee is None for n in nets.values())  # not stated: unknown, never zero


async def test_coinbase_exchange_dai_on_three_networks():
    with VCR.use_cassette("coinbaseexchange_dai.yaml"):
        (dai,) = await _funding("coinbaseexchange", ["DAI"])
    # supported_networks: status "online", min_withdrawal_amount "0.01", network_confirmations null / "14" / null
    assert _by_code(dai) == {
        "ARBITRUM": NetworkFunding("ARBITRUM", True, True, None, D("0.01")),
        "ERC20": NetworkFunding("ERC20", True, True, None, D("0.01"), confirmations=14),
        "OP": NetworkFunding("OP", True, True, None, D("0.01")),
    }


async def test_binance_link_on_three_networks():
    with VCR.use_cassette("binance_link.yaml"):
        (link,) = await _funding("binance", ["LINK"], keys=True)
    # networkList: BNB (BEP2) 0.002 / min 0.01 / 1 conf, BSC 0.005 / 0.01 / 15, ETH 0.34 / 0.68 / 12
    assert _by_code(link) == {
        "BEP2": NetworkFunding("BEP2", True, True, D("0.002"), D("0.01"), confirmations=1),
        "BEP20": NetworkFunding("BEP20", True, True, D("0.005"), D("0.01"), confirmations=15),
        "ERC20": NetworkFunding("ERC20", True, True, D("0.34"), D("0.68"), confirmations=12),
    }
    assert (link.deposit, link.withdraw) == (True, True)  # depositAllEnable / withdrawAllEnable


async def test_binance_btc_network_under_wallet_maintenance_is_off():
    with VCR.use_cassette("binance_btc_maintenance.yaml"):
        (btc,) = await _funding("binance", ["BTC"], keys=True)
    nets = _by_code(btc)
    # BNB: depositEnable/withdrawEnable false ("Wallet Maintenance, Deposit Suspended"), fee 0.0000022
    assert (nets["BEP2"].deposit, nets["BEP2"].withdraw, nets["BEP2"].withdraw_fee) == (False, False, D("0.0000022"))
    assert nets["BTC"] == NetworkFunding("BTC", True, True, D("0.0005"), D("0.001"), confirmations=1)


async def test_kucoin_withdrawal_quota_gives_the_accounts_btc_fee():
    with VCR.use_cassette("kucoin_btc_quota.yaml"):
        (btc,) = await _funding("kucoin", ["BTC"], keys=True, options={"uta": False})
    # quota: chain BTC, isWithdrawEnabled true, withdrawMinFee 0.0004, withdrawMinSize 0.001; deposits not stated
    assert btc.networks == (NetworkFunding("BTC", None, True, D("0.0004"), D("0.001")),)


async def test_a_venue_ccxt_lists_no_currencies_for_says_not_supported():
    adapter = CcxtAdapter("bitstamp", credentials=None)
    adapter._exchange.has["fetchCurrencies"] = False  # as for venues whose ccxt class has no currency list
    adapter._exchange.has["fetchDepositWithdrawFees"] = False  # ... and no fee list
    try:
        with pytest.raises(NotSupported):
            await adapter.fetch_funding(["BTC"])
    finally:
        await adapter.close()
