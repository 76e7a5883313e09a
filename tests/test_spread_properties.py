"""Property tests for spread.evaluate over random books.

The oracle is deliberately different from the calculator: it prices an amount by integrating a
cumulative depth function (``_price_at``/``_notional``) instead of walking two books together.
"""

from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbscan.model import BookSnapshot, Market
from arbscan.spread import evaluate, lot_step

STEPS = [D("0.001"), D("0.01"), D("0.0001"), D("0.0004"), D("0.1")]
FEES = [D(0), D("0.001"), D("0.0026"), D("0.00075"), D("0.004")]


@st.composite
def side(draw, descending):
    n = draw(st.integers(1, 8))
    lo, hi = (9_850, 10_000) if descending else (10_001, 10_150)  # bids below 100.00 < asks
    ticks = draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n, unique=True))
    ticks.sort(reverse=descending)
    amounts = draw(st.lists(st.integers(1, 3_000), min_size=n, max_size=n))
    return tuple((D(t) / 100, D(a) / 1000) for t, a in zip(ticks, amounts))


@st.composite
def venue(draw, name):
    offset = D(draw(st.integers(-300, 300))) / 100  # venues disagree by up to 3 %, so crosses are common
    bids = tuple((p + offset, a) for p, a in draw(side(True)))
    asks = tuple((p + offset, a) for p, a in draw(side(False)))
    market = Market(
        name,
        "BTC/USD",
        "BTC",
        "USD",
        draw(st.sampled_from(FEES)),
        draw(st.sampled_from(STEPS)),
        D("0.01"),
        draw(st.sampled_from([D(0), D(0), D("0.01"), D("0.5")])),
        draw(st.sampled_from([D(0), D(0), D(5), D(50)])),
    )
    return BookSnapshot(name, "BTC/USD", bids, asks, 1.0, 1.0), market


caps = st.one_of(st.none(), st.integers(0, 400_000).map(lambda n: D(n) / 1000))


def _notional(levels, amount):
    """Quote value of ``amount`` taken from ``levels``; None when the book is too thin."""
    total, cum = D(0), D(0)
    for price, qty in levels:
        part = min(qty, amount - cum)
        if part <= 0:
            break
        total += price * part
        cum += part
    return total if cum == amount else None


def _price_at(levels, x):
    """Price of the unit just below cumulative amount ``x`` (x > 0)."""
    cum = D(0)
    for price, qty in levels:
        cum += qty
        if cum >= x:
            return price
    return None


def _profit(buy, sell, bm, sm, amount):
    bn, sn = _notional(buy.asks, amount), _notional(sell.bids, amount)
    if bn is None or sn is None:
        return None, None
    return sn * (1 - sm.taker_fee) - bn * (1 + bm.taker_fee), bn * (1 + bm.taker_fee)


PROPS = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(venue("a"), venue("b"), caps, caps)
def test_result_is_profitable_capped_and_on_the_grid(a, b, quote_cap, base_cap):
    (buy, bm), (sell, sm) = a, b
    opp = evaluate(buy, sell, bm, sm, quote_cap, base_cap)
    if opp is None:
        return
    profit, cost = _profit(buy, sell, bm, sm, opp.amount)
    assert profit == opp.net_profit > 0
    assert cost == opp.buy_cost
    step = lot_step(bm.amount_step, sm.amount_step)
    assert opp.amount % bm.amount_step == 0 and opp.amount % sm.amount_step == 0 and opp.amount % step == 0
    assert opp.amount >= bm.min_amount and opp.amount >= sm.min_amount
    assert opp.buy_notional >= bm.min_cost and opp.sell_notional >= sm.min_cost
    if base_cap is not None:
        assert opp.amount <= base_cap
    if quote_cap is not None:
        assert opp.buy_cost <= quote_cap
    assert opp.buy_limit == _price_at(buy.asks, opp.amount)
    assert opp.sell_limit == _price_at(sell.bids, opp.amount)


@PROPS
@given(venue("a"), venue("b"), caps, caps)
def test_no_larger_amount_by_one_step_is_more_profitable(a, b, quote_cap, base_cap):
    """One more lot either breaks a cap, runs past the depth of a book, or earns no more."""
    (buy, bm), (sell, sm) = a, b
    opp = evaluate(buy, sell, bm, sm, quote_cap, base_cap)
    if opp is None:
        return
    bigger = opp.amount + lot_step(bm.amount_step, sm.amount_step)
    profit, cost = _profit(buy, sell, bm, sm, bigger)
    if profit is None:  # past the depth of a book
        return
    if base_cap is not None and bigger > base_cap:
        return
    if quote_cap is not None and cost > quote_cap:
        return
    assert profit <= opp.net_profit


@PROPS
@given(venue("a"), venue("b"), caps, caps)
def test_edge_never_above_top_of_book_edge(a, b, quote_cap, base_cap):
    (buy, bm), (sell, sm) = a, b
    opp = evaluate(buy, sell, bm, sm, quote_cap, base_cap)
    if opp is None:
        return
    ask_eff = buy.asks[0][0] * (1 + bm.taker_fee)
    top_bps = 10000 * (sell.bids[0][0] * (1 - sm.taker_fee) - ask_eff) / ask_eff
    assert opp.net_bps <= top_bps


@PROPS
@given(venue("a"), venue("b"))
def test_never_profitable_in_both_directions(a, b):
    (book_a, ma), (book_b, mb) = a, b
    forward = evaluate(book_a, book_b, ma, mb)
    backward = evaluate(book_b, book_a, mb, ma)
    assert forward is None or backward is None


@PROPS
@given(venue("a"), venue("b"), caps)
def test_caps_only_shrink_the_trade(a, b, cap):
    (buy, bm), (sell, sm) = a, b
    free = evaluate(buy, sell, bm, sm)
    capped = evaluate(buy, sell, bm, sm, None, cap)
    if capped is not None:
        assert free is not None and capped.amount <= free.amount and capped.net_profit <= free.net_profit
