"""A halt stops every order, flattening included, on both kinds of venue; live runs journal their starting balances.

Native Kraken runs against the loopback fake venue of ``test_live_e2e`` (Kraken's documented private
API), ccxt Bitstamp through cassettes (``cassettes/test_live_e2e/``, see their headers). One leg is
refused for lack of permission: trading halts, the other leg's fill is left as reported inventory,
and no order of any kind reaches either venue until ``arbscan resume``.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from test_live_e2e import BITSTAMP_KEYS, KRAKEN_KEYS, VCR, FakeKraken, _opportunity, _serve
from test_live_fakes import ScriptedVenue, journal_rows, live_config, opportunity, started_executor

from adapters.ccxt_adapter import CcxtAdapter
from adapters.kraken.adapter import KrakenAdapter
from arbscan.errors import TradingHalted
from arbscan.execution.journal import DurableJournal
from arbscan.execution.live import live_executor
from arbscan.execution.risk import resume
from arbscan.execution.summary import format_summary, summarize

D = Decimal


def _spy_orders(bitstamp: CcxtAdapter) -> list[str]:
    """Every order request the Bitstamp adapter sends (to the cassette)."""
    sent: list[str] = []
    fetch = bitstamp._exchange.fetch

    async def spy(url, method="GET", headers=None, body=None):
        if url.endswith(("/sell/btcusd/", "/buy/btcusd/")):
            sent.append(url)
        return await fetch(url, method, headers, body)

    bitstamp._exchange.fetch = spy
    return sent


async def _executor(store, kraken, bitstamp):
    ex = live_executor({"kraken": kraken, "bitstamp": bitstamp}, DurableJournal.for_store(store), live_config(),
                       balances={"kraken": {}, "bitstamp": {}}, poll_interval_s=0.05)
    await ex.start()
    return ex


async def test_a_kraken_leg_refused_halts_and_nothing_more_reaches_either_venue_until_resume(store):
    fake = FakeKraken("refuse")
    runner, url = await _serve(fake)
    kraken = KrakenAdapter(rest_url=url, credentials=KRAKEN_KEYS, taker_fee=D("0.0026"))
    bitstamp = CcxtAdapter("bitstamp", credentials=BITSTAMP_KEYS)
    sent = _spy_orders(bitstamp)
    try:
        with VCR.use_cassette("bitstamp_sell.yaml", allow_playback_repeats=True):
            ex = await _executor(store, kraken, bitstamp)
            trade = await ex.execute(_opportunity())  # buy on Kraken (refused), sell on Bitstamp (fills)
            assert ex.kill.halted and "Permission denied" in ex.kill.reason
            # flattening would buy the 0.001 BTC sold back on Kraken: not sent, the imbalance is reported
            assert trade.status == "imbalanced" and trade.flatten == [] and trade.imbalance == D("-0.001")
            assert "trading halted" in trade.detail and "Permission denied" in trade.detail
            with pytest.raises(TradingHalted):
                await ex.execute(_opportunity())
            assert len(fake.add_orders) == 1 and len(sent) == 1  # one order each, nothing after
            resume(str(store.path), by="test")
            assert ex.kill.cleared()  # what a running scan notices within a few seconds
            await ex.start()  # and reconciles again before trading
            fake.mode = "answer"
            again = await ex.execute(_opportunity())
            assert again.status == "filled" and len(fake.add_orders) == 2 and len(sent) == 2
    finally:
        await kraken.close()
        await bitstamp.close()
        await runner.cleanup()
    (row,) = journal_rows(store, "SELECT status, detail FROM trades WHERE id = ?", trade.id)
    assert row["status"] == "imbalanced" and "trading halted" in row["detail"]


async def test_a_ccxt_leg_refused_halts_and_the_other_venue_gets_no_flattening(store):
    fake = FakeKraken("answer")
    runner, url = await _serve(fake)
    kraken = KrakenAdapter(rest_url=url, credentials=KRAKEN_KEYS, taker_fee=D("0.0026"))
    bitstamp = CcxtAdapter("bitstamp", credentials=BITSTAMP_KEYS)
    sent = _spy_orders(bitstamp)
    try:
        with VCR.use_cassette("bitstamp_sell_refused.yaml", allow_playback_repeats=True):
            ex = await _executor(store, kraken, bitstamp)
            trade = await ex.execute(_opportunity())  # buy on Kraken (fills), sell on Bitstamp (no permission)
            with pytest.raises(TradingHalted):
                await ex.execute(_opportunity())
    finally:
        await kraken.close()
        await bitstamp.close()
        await runner.cleanup()
    assert ex.kill.halted and "bitstamp" in ex.kill.reason
    # the 0.001 BTC bought would be sold back on Kraken (flatten_buy_venue): no such order was sent
    assert [f["type"] for f in fake.add_orders] == ["buy"] and len(sent) == 1
    assert trade.status == "imbalanced" and trade.imbalance == D("0.001") and trade.flatten == []
    assert "trading halted" in trade.detail and "AuthError" in trade.detail


class Wallet(ScriptedVenue):
    """A scripted venue whose balances move with its fills, as a real account's do (fees in quote)."""

    def _record(self, req, status, filled):
        update = super()._record(req, status, filled)
        sign = 1 if req.side.value == "buy" else -1
        self.balances["BTC"] += sign * filled
        self.balances["USD"] -= sign * filled * req.limit_price + update.fee
        return update


async def test_a_live_run_journals_its_starting_balances_and_the_summary_drift_is_the_venues_real_change(store):
    venues = {"alpha": Wallet("alpha"), "beta": Wallet("beta")}
    for v in venues.values():
        v.balances = {"BTC": D(1), "USD": D(1000)}
    ex = await started_executor(store, venues)
    trade = await ex.execute(opportunity("0.5"))  # buy 0.5 on alpha at 100, sell 0.5 on beta at 101
    assert trade.status == "filled"
    starts = journal_rows(store, "SELECT exchange, asset, free FROM balances WHERE trade_id IS NULL ORDER BY exchange, asset")
    assert [(r["exchange"], r["asset"], D(r["free"])) for r in starts] == [
        ("alpha", "BTC", 1), ("alpha", "USD", 1000), ("beta", "BTC", 1), ("beta", "USD", 1000)]
    store.flush()
    s = summarize(store.path, store.run_id, "default", "live")
    real = {a: sum(v.balances[a] for v in venues.values()) - 2 * {"BTC": 1, "USD": 1000}[a] for a in ("BTC", "USD")}
    # by hand: alpha pays 50 + 0.13 fee, beta gets 50.5 - 0.1313 fee: USD +0.2387, BTC 0
    assert real == {"BTC": D(0), "USD": D("0.2387")}
    assert s.drift() == real
    text = format_summary(s)
    assert "alpha      BTC    1 -> 1.5" in text and "drift over all venues: USD +0.2387" in text


async def test_a_venue_whose_balances_cannot_be_read_starts_unknown_never_zero(store):
    class NoBalances(ScriptedVenue):
        async def fetch_balances(self):
            raise OSError("venue down")

    venues = {"alpha": NoBalances("alpha"), "beta": ScriptedVenue("beta")}
    venues["beta"].balances = {"BTC": D(1), "USD": D(1000)}
    ex = await started_executor(store, venues)
    await ex.execute(opportunity("0.5"))
    store.flush()
    s = summarize(store.path, store.run_id, "default", "live")
    assert s.start_of("alpha", "BTC") is None and s.start_of("beta", "BTC") == D(1)
    assert s.drift()["BTC"] is None  # not 1.5 - 0
    text = format_summary(s)
    assert "beta       BTC    1 -> 0.5" in text and "BTC unknown" in text and "alpha" not in text.split("balances")[1]


def test_the_summary_keeps_each_asset_apart(store):
    # two trades by hand: BTC/USD ordered 1, bought 1, sold 0.4 (0.6 BTC left); ETH/USD ordered 10, both legs 10
    rows = [("t1", "BTC/USD", "imbalanced", "1", "1", "0.4", "0.6", "0.19", "100.26"),
            ("t2", "ETH/USD", "filled", "10", "10", "10", "0", "2.5", "2005")]
    for tid, sym, status, planned, bf, sf, imb, pnl, cost in rows:
        store.upsert("trades", {"id": tid, "mode": "paper", "strategy": "two", "symbol": sym, "status": status,
                                "planned_amount": planned, "buy_filled": bf, "sell_filled": sf, "imbalance": imb,
                                "realised_pnl": pnl, "expected_profit": pnl, "buy_cost": cost}, pk="id")
    store.flush()
    s = summarize(store.db, store.run_id, "two")
    assert s.fill_rate_of("BTC") == D("0.7") and s.fill_rate_of("ETH") == D(1) and s.fill_rate is None
    assert s.inventory == {"BTC": D("0.6"), "ETH": D(0)} and s.realised == {"USD": D("2.69")}
    text = format_summary(s)
    assert "fill rate BTC 70.0 % (ordered 1, bought 1, sold 0.4); ETH 100.0 % (ordered 10, bought 10, sold 10)" in text
    assert "inventory left by uneven fills: +0.6 BTC" in text and "base" not in text
    assert "PnL after fees 2.6900" in text and "capital used 2,105.26 USD" in text

