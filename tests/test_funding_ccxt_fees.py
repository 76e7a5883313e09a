"""ccxt's ``fetch_deposit_withdraw_fees`` fills the withdrawal fees a currency list left unknown, and nothing else.

Binance's fee list is ``GET /sapi/v1/capital/config/getall`` (ccxt's ``fetchDepositWithdrawFees`` reads
it, as its ``fetchCurrencies`` does). The cassette ``cassettes/test_funding_ccxt/binance_link.yaml``
answers with the real LINK excerpt in ``tests/data/funding/binance_capital_config_getall_LINK.json``
(from ccxt's ``js/binance.js`` @ 000bbb35d2d1879df0d5940d53c9f8724170d514; MIT, ``LICENSE.ccxt.txt``):
networkList BNB (ccxt: BEP2) withdrawFee 0.002, BSC (BEP20) 0.005, ETH (ERC20) 0.34; no deposit fees.
"""

from __future__ import annotations

import logging
from decimal import Decimal as D

import ccxt
import pytest
from test_funding_ccxt import FAKE, VCR

from adapters.base import Credentials
from adapters.ccxt.funding import funding_from_currency, stricter
from adapters.ccxt_adapter import CcxtAdapter
from arbscan.funding.facts import AssetFunding, FundingBook, NetworkFunding


@pytest.fixture(autouse=True)
def no_keys_from_the_environment(monkeypatch):
    """Keys a developer has set must not leak in: each test gives its own (fake) ones."""
    monkeypatch.setattr("adapters.ccxt.adapter.load_credentials", lambda exchange: None)


def _binance(currencies=None):
    """A Binance adapter with (fake) keys and its markets loaded (none needed here: no request for them)."""
    adapter = CcxtAdapter("binance", credentials=Credentials("binance", FAKE, FAKE, FAKE))
    ex = adapter._exchange
    ex.set_markets({})
    if currencies is None:
        ex.has["fetchCurrencies"] = False  # no currency list: the fee list alone
    else:
        async def listed(params=None):  # a hand-made currency list (ccxt's structure)
            return currencies
        ex.fetch_currencies = listed
    assert ex.has["fetchDepositWithdrawFees"] is True
    return adapter


async def test_without_a_currency_list_the_fees_come_from_the_fee_list():
    adapter = _binance()
    try:
        with VCR.use_cassette("binance_link.yaml") as cassette:
            (link,) = await adapter.fetch_funding(["LINK"])
        assert cassette.play_count == 1  # one call for the refresh
    finally:
        await adapter.close()
    # the fees as the file gives them; switches and minimums are not in ccxt's fee structure: unknown
    assert {n.network: n for n in link.networks} == {
        "BEP2": NetworkFunding("BEP2", withdraw_fee=D("0.002")),
        "BEP20": NetworkFunding("BEP20", withdraw_fee=D("0.005")),
        "ERC20": NetworkFunding("ERC20", withdraw_fee=D("0.34")),
    }
    assert (link.deposit, link.withdraw) == (None, None)


# hand-made: the currency list knows ERC20's fee (made up: 0.5, not the file's 0.34), not BEP20's, and
# does not list BEP2
CURRENCIES = {"LINK": {"id": "LINK", "code": "LINK", "active": True, "deposit": True, "withdraw": True, "networks": {
    "ERC20": {"id": "ETH", "network": "ERC20", "active": True, "deposit": True, "withdraw": True, "fee": 0.5,
              "limits": {"withdraw": {"min": 0.68}}},
    "BEP20": {"id": "BSC", "network": "BEP20", "active": True, "deposit": True, "withdraw": False, "fee": None,
              "limits": {"withdraw": {"min": 0.01}}},
}}}


async def test_only_the_unknown_fees_are_filled_and_no_network_is_added():
    adapter = _binance(CURRENCIES)
    try:
        with VCR.use_cassette("binance_link.yaml"):
            (link,) = await adapter.fetch_funding(["LINK"])
    finally:
        await adapter.close()
    assert link.networks == (
        NetworkFunding("ERC20", True, True, D("0.5"), D("0.68")),  # the known fee kept, not the file's 0.34
        NetworkFunding("BEP20", True, False, D("0.005"), D("0.01")),  # the unknown fee from the file
    )
    # the config stays on top of both
    book = FundingBook({"binance": {"LINK": (NetworkFunding("BEP20", withdraw_fee=D("0.1")),)}})
    assert book.set(link).network("BEP20").withdraw_fee == D("0.1")


async def test_no_fee_call_when_the_currency_list_states_every_fee():
    every = {"LINK": {**CURRENCIES["LINK"], "networks": {"ERC20": CURRENCIES["LINK"]["networks"]["ERC20"]}}}
    adapter = _binance(every)
    try:
        with VCR.use_cassette("binance_link.yaml") as cassette:
            (link,) = await adapter.fetch_funding(["LINK"])
        assert cassette.play_count == 0
    finally:
        await adapter.close()
    assert link.networks == (NetworkFunding("ERC20", True, True, D("0.5"), D("0.68")),)


async def test_a_failing_fee_list_is_logged_and_leaves_the_fees_unknown(caplog):
    adapter = _binance(CURRENCIES)

    async def down(codes=None, params=None):
        raise ccxt.ExchangeNotAvailable("binance GET https://api.binance.com/sapi/v1/capital/config/getall 503")

    adapter._exchange.fetch_deposit_withdraw_fees = down
    try:
        with caplog.at_level(logging.WARNING, logger="adapters.ccxt.funding"):
            (link,) = await adapter.fetch_funding(["LINK"])
    finally:
        await adapter.close()
    assert link.network("BEP20").withdraw_fee is None and link.network("ERC20").withdraw_fee == D("0.5")
    (record,) = [r for r in caplog.records if r.name == "adapters.ccxt.funding"]
    assert "binance fetch_deposit_withdraw_fees(LINK) failed; those withdrawal fees stay unknown" in record.getMessage()


# -- two venue chain ids that ccxt maps to one code ---------------------------------------------------


def test_two_records_of_one_network_keep_the_more_restrictive_verdict(caplog):
    # hand-made: "ETH" and "ERC20" are both ERC20 (arbscan's aliases, as ccxt's); they disagree
    currency = {"networks": {
        "ERC20": {"deposit": True, "withdraw": True, "fee": "5", "limits": {"withdraw": {"min": "10"}}},
        "ETH": {"deposit": True, "withdraw": False, "fee": "8", "limits": {"withdraw": {"min": "2"}}},
    }}
    with caplog.at_level(logging.WARNING, logger="adapters.ccxt.funding"):
        facts = funding_from_currency("venue", "USDT", currency)
    # withdrawals off if either says off; fee and minimum the larger: 8 and 10
    assert facts.networks == (NetworkFunding("ERC20", True, False, D("8"), D("10")),)
    assert "chains ERC20, ETH are all network ERC20 to ccxt and differ" in caplog.text


@pytest.mark.parametrize("a, b, expected", [
    # switch: off wins, then unknown, then on
    (NetworkFunding("BTC", True, True), NetworkFunding("BTC", None, True), NetworkFunding("BTC", None, True)),
    (NetworkFunding("BTC", None, True), NetworkFunding("BTC", False, True), NetworkFunding("BTC", False, True)),
    # a fee one record does not state: unknown, never the other's (the transfer may use either chain)
    (NetworkFunding("BTC", True, True, D("0.0002")), NetworkFunding("BTC", True, True),
     NetworkFunding("BTC", True, True)),
    (NetworkFunding("BTC", withdraw_fee=D("0.0002"), confirmations=2),
     NetworkFunding("BTC", withdraw_fee=D("0.0005"), confirmations=6),
     NetworkFunding("BTC", withdraw_fee=D("0.0005"), confirmations=6)),
])
def test_stricter_by_hand(a, b, expected):
    assert stricter(a, b) == expected == stricter(b, a)


def test_identical_records_of_one_network_merge_quietly(caplog):
    net = {"deposit": True, "withdraw": True, "fee": "1"}
    with caplog.at_level(logging.WARNING, logger="adapters.ccxt.funding"):
        facts = funding_from_currency("venue", "USDT", {"networks": {"TRC20": net, "TRX": net}})
    assert facts == AssetFunding("venue", "USDT", (NetworkFunding("TRC20", True, True, D("1")),))
    assert not caplog.records
