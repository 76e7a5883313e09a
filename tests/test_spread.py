"""Table tests for spread.evaluate: every expected figure below was worked out by hand (shown inline)."""

from decimal import Decimal as D

import pytest
from conftest import book, market

from arbscan.spread import diagnose, evaluate, lot_step


def mk(exchange, fee="0", step="0.0001", min_amount="0", min_cost="0"):
    return market(exchange, fee=fee, amount_step=step, min_amount=min_amount, min_cost=min_cost)


def test_no_cross():
    buy, sell = book("a", asks=[("101", "1")]), book("b", bids=[("100", "1")])
    assert evaluate(buy, sell, mk("a"), mk("b")) is None
    assert diagnose(buy, sell, mk("a"), mk("b")) == "not_crossed"


def test_equal_prices_are_not_an_opportunity():
    buy, sell = book("a", asks=[("100", "1")]), book("b", bids=[("100", "1")])
    assert evaluate(buy, sell, mk("a"), mk("b")) is None
    assert diagnose(buy, sell, mk("a"), mk("b")) == "not_crossed"


def test_cross_eaten_by_fees():
    # 100.4 * (1 - 0.0026) = 100.13896 < 100 * (1 + 0.0026) = 100.26
    buy, sell = book("a", asks=[("100", "1")]), book("b", bids=[("100.4", "1")])
    a, b = mk("a", fee="0.0026"), mk("b", fee="0.0026")
    assert evaluate(buy, sell, a, b) is None
    assert diagnose(buy, sell, a, b) == "fees"
    # the same cross without fees is worth 0.4
    opp = evaluate(buy, sell, mk("a"), mk("b"))
    assert opp.net_profit == D("0.4")


def test_zero_fees_single_level():
    buy, sell = book("a", 5.0, asks=[("100", "1")]), book("b", 7.0, bids=[("101", "2")])
    opp = evaluate(buy, sell, mk("a"), mk("b"))
    assert (opp.amount, opp.buy_cost, opp.sell_proceeds, opp.net_profit) == (D(1), D(100), D(101), D(1))
    assert opp.net_bps == D(100)  # 10000 * 1 / 100
    assert (opp.buy_limit, opp.sell_limit) == (D(100), D(101))
    assert (opp.buy_exchange, opp.sell_exchange, opp.symbol) == ("a", "b", "BTC/USD")
    assert opp.ts == 7.0  # the later of the two books
    assert diagnose(buy, sell, mk("a"), mk("b")) is None


def test_cross_spanning_several_levels_on_both_sides_with_fees():
    # buy fee 0.1 % (x1.001), sell fee 0.2 % (x0.998). Walking both sides together:
    #   ask 100   (100.1)    vs bid 103 (102.794): take 0.3 -> 0.3
    #   ask 100   (100.1)    vs bid 102 (101.796): take 0.2 -> 0.5
    #   ask 100.5 (100.6005) vs bid 102 (101.796): take 0.4 -> 0.9
    #   ask 100.5 (100.6005) vs bid 101 (100.798): take 0.3 -> 1.2
    #   ask 102   (102.102)  vs bid 101 (100.798): stop
    # buy notional 0.5*100 + 0.7*100.5 = 120.35; fee 0.12035; cost 120.47035
    # sell notional 0.3*103 + 0.6*102 + 0.3*101 = 122.4; fee 0.2448; proceeds 122.1552
    buy = book("a", asks=[("100", "0.5"), ("100.5", "0.7"), ("102", "1")])
    sell = book("b", bids=[("103", "0.3"), ("102", "0.6"), ("101", "2")])
    opp = evaluate(buy, sell, mk("a", fee="0.001"), mk("b", fee="0.002"))
    assert opp.amount == D("1.2")
    assert opp.buy_cost == D("120.47035")
    assert opp.sell_proceeds == D("122.1552")
    assert opp.net_profit == D("1.68485")
    assert opp.buy_fee == D("0.12035") and opp.sell_fee == D("0.2448")
    assert opp.net_bps == D("16848.5") / D("120.47035")  # 139.856...
    assert (opp.buy_limit, opp.sell_limit) == (D("100.5"), D("101"))
    assert opp.sell_vwap == D("102")  # 122.4 / 1.2
    assert opp.buy_vwap == D("120.35") / D("1.2")


def test_quote_cap_binds_mid_level():
    # 150 USD: 1 BTC at 100 costs 100, the last 50 buy 50/101 = 0.4950.. at 101 -> 1.4950.. -> 1.49 (step 0.01)
    # buy 100 + 0.49*101 = 149.49 <= 150; sell 1.49*105 = 156.45; profit 6.96
    buy = book("a", asks=[("100", "1"), ("101", "1")])
    sell = book("b", bids=[("105", "3")])
    a, b = mk("a", step="0.01"), mk("b", step="0.01")
    opp = evaluate(buy, sell, a, b, quote_available=D(150))
    assert opp.amount == D("1.49")
    assert opp.buy_cost == D("149.49")
    assert opp.net_profit == D("6.96")
    assert opp.buy_limit == D("101")


def test_quote_cap_includes_the_buy_fee():
    # 100.26 USD at fee 0.26 % buys exactly 1 BTC at 100 (cost 100.26); 100.25 buys 0.9999.. -> 0.99
    buy, sell = book("a", asks=[("100", "5")]), book("b", bids=[("110", "5")])
    a, b = mk("a", fee="0.0026", step="0.01"), mk("b", step="0.01")
    assert evaluate(buy, sell, a, b, quote_available=D("100.26")).amount == D(1)
    assert evaluate(buy, sell, a, b, quote_available=D("100.25")).amount == D("0.99")


def test_base_cap_binds_mid_level():
    # 0.8 BTC on the sell venue: 0.5 at 102 + 0.3 at 101.5 -> sell 51 + 30.45 = 81.45; buy 80; profit 1.45
    buy = book("a", asks=[("100", "2")])
    sell = book("b", bids=[("102", "0.5"), ("101.5", "1")])
    opp = evaluate(buy, sell, mk("a", step="0.001"), mk("b", step="0.001"), base_available=D("0.8"))
    assert opp.amount == D("0.8")
    assert opp.sell_proceeds == D("81.45")
    assert opp.net_profit == D("1.45")
    assert opp.sell_limit == D("101.5")


def test_rounds_down_to_the_coarser_step():
    # 0.1234 profitable; buy step 0.01, sell step 0.0001 -> 0.12; buy 12, sell 12.12, profit 0.12
    buy, sell = book("a", asks=[("100", "0.1234")]), book("b", bids=[("101", "1")])
    opp = evaluate(buy, sell, mk("a", step="0.01"), mk("b", step="0.0001"))
    assert opp.amount == D("0.12")
    assert opp.net_profit == D("0.12")
    # the same with the roles of the steps swapped
    assert evaluate(buy, sell, mk("a", step="0.0001"), mk("b", step="0.01")).amount == D("0.12")


def test_straddling_lot_is_taken_only_when_it_earns():
    # Profitable depth is 0.15 (asks run out at 100; the next ask is above the bid); step 0.1.
    # Next ask 102: the lot 0.1..0.2 earns 0.05*(101-100) and loses 0.05*(102-101): 0, not taken -> 0.1
    buy, sell = book("a", asks=[("100", "0.15"), ("102", "1")]), book("b", bids=[("101", "1")])
    opp = evaluate(buy, sell, mk("a", step="0.1"), mk("b", step="0.1"))
    assert (opp.amount, opp.net_profit) == (D("0.1"), D("0.1"))
    # Next ask 101.5: the lot earns 0.05 and loses 0.025 -> taken: buy 15 + 5.075, sell 20.2, profit 0.125
    buy = book("a", asks=[("100", "0.15"), ("101.5", "1")])
    opp = evaluate(buy, sell, mk("a", step="0.1"), mk("b", step="0.1"))
    assert (opp.amount, opp.net_profit, opp.buy_limit) == (D("0.2"), D("0.125"), D("101.5"))
    # ... but never past a cap: 0.15 BTC held on the sell venue rounds down to 0.1
    opp = evaluate(buy, sell, mk("a", step="0.1"), mk("b", step="0.1"), base_available=D("0.15"))
    assert (opp.amount, opp.net_profit) == (D("0.1"), D("0.1"))


def test_steps_that_do_not_divide_each_other_use_their_common_multiple():
    assert lot_step(D("0.001"), D("0.0004")) == D("0.002")
    assert lot_step(D("0.01"), D("0.001")) == D("0.01")
    buy, sell = book("a", asks=[("100", "0.1234")]), book("b", bids=[("101", "1")])
    opp = evaluate(buy, sell, mk("a", step="0.001"), mk("b", step="0.0004"))
    assert opp.amount == D("0.122")  # 61 lots of 0.002


@pytest.mark.parametrize("side", ["a", "b"])
def test_min_amount_on_either_venue_rejects(side):
    buy, sell = book("a", asks=[("100", "1")]), book("b", bids=[("101", "2")])
    markets = {"a": mk("a"), "b": mk("b")}
    markets[side] = mk(side, min_amount="1.5")
    assert evaluate(buy, sell, markets["a"], markets["b"]) is None
    assert diagnose(buy, sell, markets["a"], markets["b"]) == "depth_or_minimums"
    markets[side] = mk(side, min_amount="1")  # exactly the minimum passes
    assert evaluate(buy, sell, markets["a"], markets["b"]).amount == D(1)


def test_min_cost_on_each_venue_rejects():
    buy, sell = book("a", asks=[("100", "1")]), book("b", bids=[("101", "2")])
    assert evaluate(buy, sell, mk("a", min_cost="100.01"), mk("b")) is None  # buy notional 100
    assert evaluate(buy, sell, mk("a"), mk("b", min_cost="101.01")) is None  # sell notional 101
    assert evaluate(buy, sell, mk("a", min_cost="100"), mk("b", min_cost="101")).net_profit == D(1)


def test_balance_caps_reported_as_balance():
    buy, sell = book("a", asks=[("100", "1")]), book("b", bids=[("101", "2")])
    a, b = mk("a", step="0.01"), mk("b", step="0.01")
    assert evaluate(buy, sell, a, b, quote_available=D(0)) is None
    assert diagnose(buy, sell, a, b, quote_available=D(0)) == "balance"
    # 0.5 USD buys 0.005 BTC, below one lot of 0.01
    assert diagnose(buy, sell, a, b, quote_available=D("0.5")) == "balance"
    assert diagnose(buy, sell, a, b, base_available=D("0.009")) == "balance"


def test_empty_side():
    buy, sell = book("a", bids=[("99", "1")]), book("b", bids=[("101", "2")])
    assert evaluate(buy, sell, mk("a"), mk("b")) is None
    assert diagnose(buy, sell, mk("a"), mk("b")) == "depth_or_minimums"


def test_depth_exhausted_on_the_buy_side():
    # only 0.3 offered below the bid: the trade stops where the asks run out
    buy, sell = book("a", asks=[("100", "0.3")]), book("b", bids=[("101", "2")])
    opp = evaluate(buy, sell, mk("a"), mk("b"))
    assert opp.amount == D("0.3") and opp.net_profit == D("0.3")
