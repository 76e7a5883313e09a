"""A live cross-quote trade whose conversion leg goes to the native Kraken adapter over HTTP on loopback.

The base legs trade on two scripted venues (``test_live_fakes.ScriptedVenue``: IOC orders fill at their
limit, taker fee 0.26 % in quote): ``alpha`` ETH/USD and ``beta`` ETH/BTC. The conversion market is
Kraken's BTC/USD, served by ``test_live_e2e.FakeKraken`` (Kraken's official AssetPairs example: XBTUSD
has lot_decimals 8, tick 0.1, ordermin 0.0001, costmin 0.5; the order records are the real ones ccxt
recorded, filled at their limit with Kraken's 0.26 % fee). The plan, by hand:

=====================  ==============================================  =====================
leg                    arithmetic                                      result
=====================  ==============================================  =====================
buy 1 ETH at 100       100 + 0.26 % (0.26)                             100.26 USD spent
sell 1 ETH at 0.0025   0.0025 - 0.26 % (0.0000065)                     0.0024935 BTC received
convert 0.0024935 BTC  0.0024935 x 40,000.0 = 99.74; - 0.26 % (0.259324)  99.480676 USD
=====================  ==============================================  =====================

PnL: 99.480676 - 100.26 = -0.779324 USD (nothing left: 0.0024935 is a whole number of 1e-8 lots).
"""

from __future__ import annotations

from decimal import Decimal

from test_live_cross import _market
from test_live_e2e import KRAKEN_KEYS, FakeKraken, _serve
from test_live_fakes import ScriptedVenue, journal_rows, live_config

from adapters.kraken.adapter import KrakenAdapter
from arbscan.config.settings import StrategyConfig
from arbscan.crossspread import CrossOpportunity
from arbscan.execution.journal import DurableJournal
from arbscan.execution.live import live_executor
from arbscan.model import BookSnapshot

D = Decimal
EACH_TRADE = StrategyConfig("x", convert="each_trade")


SCRIPTED = {"alpha": {"ETH/USD": _market("alpha", "ETH/USD", "0.0001")},
            "beta": {"ETH/BTC": _market("beta", "ETH/BTC", "0.0001")}}


def plan() -> CrossOpportunity:
    """Buy 1 ETH on alpha <= 100 USD, sell it on beta >= 0.0025 BTC, sell the BTC on Kraken >= 40,000.0 USD."""
    return CrossOpportunity(
        symbol="ETH/USD", sell_symbol="ETH/BTC", buy_exchange="alpha", sell_exchange="beta",
        conversion_exchange="kraken", conversion_symbol="BTC/USD", amount=D(1), buy_vwap=D(100),
        sell_vwap=D("0.0025"), buy_limit=D(100), sell_limit=D("0.0025"), buy_cost=D("100.26"),
        sell_proceeds=D("0.0024935"), buy_fee=D("0.26"), sell_fee=D("0.0000065"), conversion_side="sell",
        conversion_amount=D("0.0024935"), conversion_vwap=D("40000.0"), conversion_limit=D("40000.0"),
        conversion_fee=D("0.259324"), conversion_in=D("0.0024935"), conversion_out=D("99.480676"),
        conversion_rate=D("40000.0"), unconverted=D(0), net_profit=D("-0.779324"), net_bps=D(0), ts=1.0)


async def _trade(store, mode: str):
    fake = FakeKraken(mode)
    runner, url = await _serve(fake)
    kraken = KrakenAdapter(rest_url=url, credentials=KRAKEN_KEYS, taker_fee=D("0.0026"))
    venues = {name: ScriptedVenue(name, markets=SCRIPTED[name]) for name in SCRIPTED}
    markets = {(ex, sym): m for ex, ms in SCRIPTED.items() for sym, m in ms.items()}
    try:
        ex = live_executor({**venues, "kraken": kraken}, DurableJournal.for_store(store), live_config(
            reconcile_deadline_s=5.0, order_timeout_s=5.0), EACH_TRADE, markets=markets,
            balances={"alpha": {}, "beta": {}, "kraken": {}}, poll_interval_s=0.05)
        ex.venue.on_book(BookSnapshot("kraken", "BTC/USD", ((D("40000.0"), D(1)),), ((D("40000.1"), D(1)),),
                                      1.0, 1.0), 1.0)
        await ex.start()
        assert ex.markets[("kraken", "BTC/USD")].amount_step == D("1E-8")  # from Kraken's own AssetPairs
        trade = await ex.execute(plan())
    finally:
        await kraken.close()
        await runner.cleanup()
    return fake, venues, trade, ex.kill.halted


def sent_once(fake: FakeKraken, venues: dict[str, ScriptedVenue]) -> list[dict[str, str]]:
    """Kraken's AddOrder forms (not the start-up's validate-only one), after checking no client id went out twice."""
    forms = [f for f in fake.add_orders if f.get("validate") != "true"]
    ids = [f["cl_ord_id"] for f in forms] + [r.client_id for v in venues.values() for r in v.sent]
    assert len(ids) == len(set(ids))
    return forms


async def test_the_conversion_leg_reaches_kraken_once_and_fills(store):
    fake, venues, trade, halted = await _trade(store, "answer")
    assert [len(v.sent) for v in venues.values()] == [1, 1]
    (form,) = sent_once(fake, venues)
    assert form == {**form, "pair": "XXBTZUSD", "type": "sell", "ordertype": "limit", "volume": "0.00249350",
                    "price": "40000.0", "timeinforce": "IOC", "cl_ord_id": trade.convert.client_id}
    orders = {o["role"]: o for o in journal_rows(store, "SELECT * FROM orders")}
    assert {r: (o["exchange"], o["symbol"], o["status"], D(o["filled"])) for r, o in orders.items()} == {
        "buy": ("alpha", "ETH/USD", "filled", D(1)), "sell": ("beta", "ETH/BTC", "filled", D(1)),
        "convert": ("kraken", "BTC/USD", "filled", D("0.0024935"))}
    (row,) = journal_rows(store, "SELECT * FROM trades")
    assert row["status"] == "filled" and row["convert"] == "each_trade" and row["conversion"] == "kraken:BTC/USD"
    assert D(row["sell_proceeds"]) == D("0.0024935") and D(row["conversion_proceeds"]) == D("99.480676")
    assert D(row["quote_imbalance"]) == 0 and D(row["realised_pnl"]) == D("-0.779324")
    assert not halted


async def test_a_conversion_kraken_refuses_leaves_the_btc_reported_and_is_not_resent(store):
    fake, venues, trade, halted = await _trade(store, "refuse")
    (form,) = sent_once(fake, venues)  # one AddOrder, never again
    assert form["cl_ord_id"] == trade.convert.client_id
    (row,) = journal_rows(store, "SELECT * FROM trades")
    assert row["status"] == "imbalanced" and D(row["imbalance"]) == 0
    assert D(row["quote_imbalance"]) == D("0.0024935")
    # the BTC left valued at Kraken's bid after its fee: 0.0024935 x 40,000.0 x 0.9974 = 99.480676 USD
    assert D(row["quote_imbalance_value"]) == D("99.480676")
    assert "Q2 imbalance 0.0024935 BTC on beta" in row["detail"] and "not resent" in row["detail"]
    (conv,) = journal_rows(store, "SELECT * FROM orders WHERE role = 'convert'")
    assert conv["status"] == "rejected" and D(conv["filled"]) == 0
    assert halted  # a key without the trading permission halts trading
