"""Funding facts from the native Kraken adapter: cassettes of Kraken's official examples and a real withdrawal.

Kraken publishes no real ``Assets`` answer with a status other than "enabled" (tests/data/funding/README.md),
so the four statuses of Kraken's schema are checked on a hand-written answer of the documented shape.
"""

from decimal import Decimal as D
from pathlib import Path

import pytest
import vcr

from adapters.base import Credentials
from adapters.kraken.adapter import KrakenAdapter
from adapters.kraken.funding import ASSET_STATUS, parse_assets
from arbscan.errors import UnexpectedPayload
from arbscan.funding.facts import NetworkFunding

CASSETTES = Path(__file__).resolve().parent.parent / "cassettes" / "test_funding_kraken"
# A syntactically valid, made-up key pair: never a real account's.
CREDS = Credentials("kraken", "test-key-not-real", "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==")
VCR = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="none",
    match_on=["method", "scheme", "host", "port", "path", "query"],  # bodies carry nonces: not matched
    filter_headers=["API-Key", "API-Sign"],
)


@pytest.fixture
async def kraken(monkeypatch):
    monkeypatch.setattr("adapters.kraken.adapter.load_credentials", lambda exchange: None)
    adapter = KrakenAdapter(credentials=CREDS)
    yield adapter
    await adapter.close()


@pytest.fixture
async def public_kraken(monkeypatch):
    monkeypatch.setattr("adapters.kraken.adapter.load_credentials", lambda exchange: None)
    adapter = KrakenAdapter()
    yield adapter
    await adapter.close()


async def test_official_examples_give_btc_networks_minimums_and_the_stated_fee(kraken):
    with VCR.use_cassette("btc_official.yaml"):
        (btc,) = await kraken.fetch_funding(["BTC"])
    assert (btc.exchange, btc.asset, btc.deposit, btc.withdraw) == ("kraken", "BTC", True, True)  # XXBT "enabled"
    # WithdrawMethods: Bitcoin (network Bitcoin, minimum 0.0004), Bitcoin Lightning (Lightning, 0.00001);
    # DepositMethods: both, fee 0, minimum 0.0001; WithdrawInfo for btc-wallet-1 (method Bitcoin): fee 0.0002
    assert btc.networks == (
        NetworkFunding("BTC", True, True, D("0.0002"), D("0.0004"), D("0"), D("0.0001")),
        NetworkFunding("LIGHTNING", True, True, None, D("0.00001"), D("0"), D("0.0001")),
    )


async def test_real_withdrawal_fee_on_tron_when_deposit_methods_are_refused(kraken, caplog):
    caplog.set_level("WARNING", logger="adapters")  # `arbscan` without -v quietens the adapters' warnings
    with VCR.use_cassette("usdt_fee_paid.yaml"):
        (usdt,) = await kraken.fetch_funding(["USDT"])
    # Assets: USDT "enabled"; WithdrawStatus: "Tether USD (TRC20)" over network "Tron", fee 3.00000000
    assert (usdt.deposit, usdt.withdraw) == (True, True)
    assert usdt.networks == (NetworkFunding("TRC20", None, None, D("3")),)
    assert "DepositMethods refused" in caplog.text


async def test_without_keys_only_the_public_status(public_kraken):
    with VCR.use_cassette("assets_public.yaml"):
        facts = await public_kraken.fetch_funding(["BTC", "ETH", "DOGE", "USD", "NOPE"])
    # XXBT/XBT -> BTC, XETH -> ETH, XXDG/XDG -> DOGE, ZUSD -> USD; an asset Kraken does not list is left out
    assert [(f.asset, f.deposit, f.withdraw, f.networks) for f in facts] == [
        ("BTC", True, True, ()), ("ETH", True, True, ()), ("DOGE", True, True, ()), ("USD", True, True, ())]


def test_every_documented_asset_status():
    # statuses from Kraken's schema (schemas/objects/public/assets/info.yaml); the answer's shape is the example's
    answer = {code: {"aclass": "currency", "altname": alt, "decimals": 8, "display_decimals": 5, "status": status}
              for code, alt, status in [("XXBT", "XBT", "enabled"), ("XETH", "ETH", "deposit_only"),
                                        ("USDT", "USDT", "withdrawal_only"), ("XXDG", "XDG", "funding_temporarily_disabled")]}
    status, names = parse_assets(answer, _unified)
    assert status == {"BTC": ("XBT", True, True), "ETH": ("ETH", True, False), "USDT": ("USDT", False, True),
                      "DOGE": ("XDG", False, False)}
    assert names["XXBT"] == names["XBT"] == "BTC"
    assert set(ASSET_STATUS) == {"enabled", "deposit_only", "withdrawal_only", "funding_temporarily_disabled"}


def test_unknown_status_is_left_unknown_and_a_broken_answer_raises(caplog):
    caplog.set_level("WARNING", logger="adapters")
    status, _ = parse_assets({"XXBT": {"altname": "XBT", "status": "new_status"}}, _unified)
    assert status == {} and "unknown status" in caplog.text
    with pytest.raises(UnexpectedPayload):
        parse_assets({"XXBT": {"decimals": 8}}, _unified)


def _unified(alt):
    return {"XBT": "BTC", "XDG": "DOGE"}.get(alt, alt)
