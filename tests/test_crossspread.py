"""Table tests for the three-book calculator (arbscan.crossspread): every figure worked out by hand, shown inline.

Routes buy BTC/USD (Q1 = USD) and sell BTC/EUR (Q2 = EUR), converting EUR into USD on EUR/USD (a Q2/Q1
market: sell EUR at its bids), or the other way round (buy BTC/EUR, sell BTC/USD: Q1 = EUR, the same
EUR/USD market is Q1/Q2 and EUR is bought at its asks with the USD proceeds).
"""

from decimal import Decimal as D

import pytest
from conftest import book, market

from arbscan.crossspread import (
    conversion_side,
    convert_value,
    diagnose_cross,
    evaluate_cross,
    first_unit,
    top_of_book_edge,
)


def usd(fee="0", step="0.1", **kw):
    return market("a", "BTC/USD", fee, amount_step=step, **kw)


def eur(fee="0", step="0.1", **kw):
    return market("b", "BTC/EUR", fee, amount_step=step, **kw)


def fx(fee="0", step="0.01", **kw):
    return market("fx", "EUR/USD", fee, amount_step=step, price_step="0.0001", **kw)


def books(asks_usd, bids_eur, fx_bids=(), fx_asks=()):
    return (book("a", 1.0, asks=asks_usd, symbol="BTC/USD"), book("b", 2.0, bids=bids_eur, symbol="BTC/EUR"),
            book("fx", 3.0, bids=fx_bids, asks=fx_asks, symbol="EUR/USD"))


def test_conversion_side_both_directions_and_unrelated():
    assert conversion_side(fx(), "USD", "EUR") == "sell"  # EUR/USD is Q2/Q1: sell EUR at its bids
    assert conversion_side(fx(), "EUR", "USD") == "buy"  # EUR/USD is Q1/Q2: buy EUR at its asks
    with pytest.raises(ValueError, match="does not convert"):
        conversion_side(fx(), "USD", "USDT")


def test_sell_q2_at_bids_single_levels():
    # 1 BTC: cost 100 USD; proceeds 90 EUR -> 90 * 1.2 = 108 USD; net 8 USD, 800 bps; the whole depth.
    buy, sell, conv = books([("100", "1")], [("90", "1")], fx_bids=[("1.2", "1000")], fx_asks=[("1.21", "1000")])
    opp = evaluate_cross(buy, sell, conv, usd(), eur(), fx())
    assert (opp.amount, opp.buy_cost, opp.sell_proceeds) == (D("1.0"), D(100), D(90))
    assert (opp.conversion_side, opp.conversion_amount, opp.conversion_in) == ("sell", D("90.00"), D("90.00"))
    assert (opp.conversion_out, opp.conversion_rate, opp.unconverted) == (D(108), D("1.2"), D(0))
    assert (opp.net_profit, opp.net_bps) == (D(8), D(800))
    assert (opp.symbol, opp.sell_symbol, opp.conversion_exchange, opp.conversion_symbol) == (
        "BTC/USD", "BTC/EUR", "fx", "EUR/USD")
    assert opp.ts == 3.0  # the latest of the three books


def test_buy_q1_at_asks_the_other_direction():
    # Buy BTC/EUR at 80 EUR, sell BTC/USD at 100 USD; EUR bought at EUR/USD asks 1.2 with the USD.
    # 10 lots: 100 USD -> 100 / 1.2 = 83.333.. EUR, whole steps 83.33 EUR cost 99.996 USD (0.004 USD left);
    # net 83.33 - 80 = 3.33 EUR = 416.25 bps. 9 lots: 90 USD -> exactly 75 EUR, net 3.00: less.
    buy = book("b", 1.0, asks=[("80", "1")], symbol="BTC/EUR")
    sell = book("a", 1.0, bids=[("100", "1")], symbol="BTC/USD")
    conv = book("fx", 1.0, bids=[("1.19", "1000")], asks=[("1.2", "1000")], symbol="EUR/USD")
    opp = evaluate_cross(buy, sell, conv, eur(), usd(), fx())
    assert opp.conversion_side == "buy"
    assert (opp.amount, opp.buy_cost, opp.sell_proceeds) == (D("1.0"), D(80), D(100))
    assert (opp.conversion_amount, opp.conversion_in, opp.conversion_out) == (D("83.33"), D("99.996"), D("83.33"))
    assert opp.unconverted == D("0.004")
    assert (opp.net_profit, opp.net_bps) == (D("3.33"), D("416.25"))
    assert opp.conversion_rate == D("0.8333333333333333333333333333")  # Q1 per Q2: 1 / 1.2 to 28 digits


def test_parity_would_trade_the_conversion_book_does_not():
    # Bid 101 EUR over ask 100 USD: at 1 EUR = 1 USD a 1 USD edge. At the real bid 0.98 USD per EUR the 101 EUR
    # are 98.98 USD: a loss of 1.02. No trade, reason no_edge.
    buy, sell, conv = books([("100", "1")], [("101", "1")], fx_bids=[("0.98", "1000")])
    assert evaluate_cross(buy, sell, conv, usd(), eur(), fx()) is None
    assert diagnose_cross(buy, sell, conv, usd(), eur(), fx()) == "no_edge"
    assert not top_of_book_edge(buy, sell, conv, usd(), eur(), fx())


def test_fees_and_depth_on_three_books():
    # asks 100 x 0.3, 102 x 1 (fee 0.1 %); bids 90 x 0.5, 88 x 1 (fee 0.2 %); EUR/USD bids 1.2 x 40, 1.15 x 1000
    # (fee 0.1 %, step 0.01 EUR). Lots of 0.1 BTC, f(n) by hand (cost, EUR proceeds, EUR converted, USD out, net):
    #  n=3: 30.03,    26.946, 26.94, 32.295672,   2.265672
    #  n=4: 40.2402,  35.928, 35.92, 43.060896,   2.820696
    #  n=5: 50.4504,  44.91,  44.91, 53.5928535,  3.1424535   <- best: 40 * 1.2 + 4.91 * 1.15 = 53.6465, less 0.1 %
    #  n=6: 60.6606,  53.6924, 53.69, 63.6797565, 3.0191565
    #  n=13: 132.132, 115.1692, 115.16, 134.299566, 2.167566 (still profitable, less so)
    buy, sell, conv = books([("100", "0.3"), ("102", "1")], [("90", "0.5"), ("88", "1")],
                            fx_bids=[("1.2", "40"), ("1.15", "1000")])
    opp = evaluate_cross(buy, sell, conv, usd("0.001"), eur("0.002"), fx("0.001"))
    assert opp.amount == D("0.5")
    assert (opp.buy_cost, opp.buy_fee, opp.buy_limit) == (D("50.4504"), D("0.0504"), D(102))
    assert (opp.sell_proceeds, opp.sell_fee, opp.sell_limit) == (D("44.910"), D("0.090"), D(90))
    assert (opp.conversion_amount, opp.conversion_fee, opp.conversion_limit) == (D("44.91"), D("0.0536465"), D("1.15"))
    assert opp.conversion_out == D("53.5928535")
    assert opp.net_profit == D("3.1424535")


def test_thin_conversion_book_limits_the_size():
    # The EUR/USD bids hold only 45 EUR: 0.1 BTC brings 9 EUR, so at most 5 lots (0.5 BTC, 45 EUR, 54 USD): net 4.
    buy, sell, conv = books([("100", "1")], [("90", "1")], fx_bids=[("1.2", "45")])
    opp = evaluate_cross(buy, sell, conv, usd(), eur(), fx())
    assert (opp.amount, opp.conversion_amount, opp.net_profit) == (D("0.5"), D("45.00"), D("4.0"))
    # 44.99 EUR of bids: 5 lots would leave 0.01 EUR unconvertible -> 4 lots, net 3.2
    buy, sell, conv = books([("100", "1")], [("90", "1")], fx_bids=[("1.2", "44.99")])
    assert evaluate_cross(buy, sell, conv, usd(), eur(), fx()).amount == D("0.4")
    # an empty conversion side: no route
    buy, sell, conv = books([("100", "1")], [("90", "1")], fx_asks=[("1.2", "1000")])
    assert evaluate_cross(buy, sell, conv, usd(), eur(), fx()) is None


def test_conversion_step_makes_fewer_lots_better():
    # EUR/USD in steps of 10 EUR at 1.2; 95 EUR bids, 110 USD asks, 2.1 BTC each. n lots bring 9.5 n EUR,
    # floor(0.95 n) steps: n=21: 19 steps, 228 - 231 = -3; n=20: 19 steps (190 EUR), 228 - 220 = 8; n=19: 18 steps,
    # 216 - 209 = 7. The best is 2.0 BTC, not the whole depth.
    buy, sell, conv = books([("110", "2.1")], [("95", "2.1")], fx_bids=[("1.2", "1000")])
    opp = evaluate_cross(buy, sell, conv, usd(), eur(), fx(step="10"))
    assert (opp.amount, opp.conversion_amount, opp.net_profit, opp.unconverted) == (D("2.0"), D(190), D(8), D(0))


def test_lots_of_both_base_legs():
    # steps 0.3 and 0.2: lots of 0.6 BTC; the 1 BTC of depth takes one lot: net 0.6 * 8 = 4.8
    buy, sell, conv = books([("100", "1")], [("90", "1")], fx_bids=[("1.2", "1000")])
    opp = evaluate_cross(buy, sell, conv, usd(step="0.3"), eur(step="0.2"), fx())
    assert (opp.amount, opp.net_profit) == (D("0.6"), D("4.8"))


@pytest.mark.parametrize("markets", [
    (usd(min_amount="1.1"), eur(), fx()),  # buy leg's min_amount above the depth
    (usd(), eur(min_cost="91"), fx()),  # sell leg's notional at most 90 EUR
    (usd(min_cost="101"), eur(), fx()),  # buy leg's notional at most 100 USD
    (usd(), eur(), fx(min_amount="91")),  # the conversion's min_amount: at most 90 EUR to convert
    (usd(), eur(), fx(min_cost="108.01")),  # the conversion's notional: at most 108 USD
])
def test_minimums_on_all_three_markets(markets):
    buy, sell, conv = books([("100", "1")], [("90", "1")], fx_bids=[("1.2", "1000")])
    assert evaluate_cross(buy, sell, conv, *markets) is None
    assert diagnose_cross(buy, sell, conv, *markets) == "depth_or_minimums"


def test_minimums_met_exactly():
    # 1 BTC: 90 EUR converted, 108 USD: every minimum reached exactly still trades
    buy, sell, conv = books([("100", "1")], [("90", "1")], fx_bids=[("1.2", "1000")])
    opp = evaluate_cross(buy, sell, conv, usd(min_amount="1", min_cost="100"), eur(min_cost="90"),
                         fx(min_amount="90", min_cost="108"))
    assert opp.amount == D("1.0")


def test_balances_cap_the_size():
    buy, sell, conv = books([("100", "1")], [("90", "1")], fx_bids=[("1.2", "1000")])
    # 50 USD on the buy venue: 5 lots (cost exactly 50), net 4
    assert evaluate_cross(buy, sell, conv, usd(), eur(), fx(), quote_available=D(50)).net_profit == D("4.0")
    # 0.25 BTC on the sell venue: 2 lots, net 1.6
    assert evaluate_cross(buy, sell, conv, usd(), eur(), fx(), base_available=D("0.25")).amount == D("0.2")
    # 5 USD buys less than a lot
    assert evaluate_cross(buy, sell, conv, usd(), eur(), fx(), quote_available=D(5)) is None
    assert diagnose_cross(buy, sell, conv, usd(), eur(), fx(), quote_available=D(5)) == "balance"


def test_convert_value_both_ways():
    conv = book("fx", 1.0, bids=[("1.2", "10"), ("1.1", "10")], asks=[("1.25", "10")], symbol="EUR/USD")
    # 15 EUR into USD at the bids: 10 * 1.2 + 5 * 1.1 = 17.5, less 0.1 % = 17.4825
    assert convert_value(D(15), "USD", conv, fx("0.001")) == D("17.4825")
    # 10 USD into EUR at the asks, fee on top: 10 / 1.25 = 8 EUR with no fee
    assert convert_value(D(10), "EUR", conv, fx()) == D(8)
    assert convert_value(D(21), "USD", conv, fx()) is None  # more than the bids hold
    assert convert_value(D(0), "USD", conv, fx()) == D(0)
    with pytest.raises(ValueError):
        convert_value(D(1), "GBP", conv, fx())


def test_first_unit_both_directions_with_fees_and_no_side():
    # Sell EUR at the bids: 1 BTC costs 100 * 1.001 = 100.1 USD; sold for 90 * 0.999 = 89.91 EUR, converted at
    # 1.2 after 0.002: 89.91 * 1.2 * 0.998 = 107.676216 USD; 7.576216 / 100.1 = 756.8647... bps.
    buy, sell, conv = books([("100", "1")], [("90", "1")], fx_bids=[("1.2", "1000")])
    earns, got = first_unit(buy, sell, conv, usd("0.001"), eur("0.001"), fx("0.002"))
    assert earns and got.quantize(D("0.0001")) == D("756.8647")
    assert top_of_book_edge(buy, sell, conv, usd("0.001"), eur("0.001"), fx("0.002"))
    # Buy EUR at the asks: 1 BTC costs 80 EUR; sold for 100 USD, which buy 100 / (1.25 * 1.0) = 80 EUR: 0 bps,
    # and no edge (the first unit only breaks even).
    buy = book("b", 1.0, asks=[("80", "1")], symbol="BTC/EUR")
    sell = book("a", 1.0, bids=[("100", "1")], symbol="BTC/USD")
    conv = book("fx", 1.0, asks=[("1.25", "1000")], symbol="EUR/USD")
    assert first_unit(buy, sell, conv, eur(), usd(), fx()) == (False, 0)
    assert not top_of_book_edge(buy, sell, conv, eur(), usd(), fx())
    # The conversion side the route needs is empty (EUR/USD has asks only; selling EUR needs bids): no figure.
    buy, sell, conv = books([("100", "1")], [("90", "1")], fx_asks=[("1.21", "1000")])
    assert first_unit(buy, sell, conv, usd(), eur(), fx()) is None
    assert not top_of_book_edge(buy, sell, conv, usd(), eur(), fx())
