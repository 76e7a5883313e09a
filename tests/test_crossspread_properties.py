"""Property: evaluate_cross's amount earns at least as much as every other point of the lot grid.

Every lot-grid amount is priced here by brute force, straight from the rules in arbscan/crossspread.py's
docstring (walk the three books, whole conversion steps, the whole proceeds within the conversion's
depth, every minimum and cap), with no search at all; the calculator must find the best of them.
"""

from decimal import Decimal as D

from conftest import book, market
from hypothesis import given, settings
from hypothesis import strategies as st

from arbscan.crossspread import evaluate_cross


def _walk(levels, amount):
    total, left = D(0), amount
    for price, qty in levels:
        take = min(qty, left)
        total += price * take
        left -= take
    return total if left == 0 else None  # None: deeper than the book


def _price(a, buy, sell, conv, bm, sm, cm, side, quote_available, base_available):
    """Q1 net profit of ``a`` base units, or None when the rules forbid it."""
    if a < bm.min_amount or a < sm.min_amount or (base_available is not None and a > base_available):
        return None
    buy_n, sell_n = _walk(buy.asks, a), _walk(sell.bids, a)
    if buy_n is None or sell_n is None or buy_n < bm.min_cost or sell_n < sm.min_cost:
        return None
    cost = buy_n * (1 + bm.taker_fee)
    if quote_available is not None and cost > quote_available:
        return None
    proceeds = sell_n * (1 - sm.taker_fee)
    step, fee = cm.amount_step, cm.taker_fee
    if side == "sell":  # EUR sold at the bids for USD
        if proceeds > sum(q for _, q in conv.bids):
            return None
        k = int(proceeds // step)
        x = k * step
        notional = _walk(conv.bids, x)
        out = notional * (1 - fee)
    else:  # EUR bought at the asks with USD
        if proceeds > sum(p * q for p, q in conv.asks) * (1 + fee):
            return None
        k = 0
        while _walk(conv.asks, (k + 1) * step) is not None and _walk(conv.asks, (k + 1) * step) * (1 + fee) <= proceeds:
            k += 1
        x = k * step
        notional = _walk(conv.asks, x)
        out = x
    if k == 0 or x < cm.min_amount or notional < cm.min_cost:
        return None
    return out - cost


def _side(draw, prices, n):
    """n distinct prices drawn from ``prices``, amounts 1..30 tenths."""
    ps = draw(st.lists(prices, min_size=1, max_size=n, unique=True))
    return [(p, D(draw(st.integers(1, 30))) / 10) for p in ps]


@st.composite
def cases(draw):
    side = draw(st.sampled_from(["sell", "buy"]))
    asks = sorted(_side(draw, st.integers(90, 110).map(D), 3))
    bids = sorted(_side(draw, st.integers(80, 120).map(D), 3), reverse=True)
    rate = st.sampled_from(["1.05", "1.1", "1.15", "1.2", "1.25"]).map(D)
    fx_bids = sorted([(p, D(draw(st.integers(5, 300)))) for p in draw(st.lists(rate, min_size=1, max_size=2,
                                                                               unique=True))], reverse=True)
    fx_asks = [(fx_bids[0][0] + D("0.05") * i, D(draw(st.integers(5, 300)))) for i in range(1, draw(st.integers(2, 3)))]
    fee = st.sampled_from(["0", "0.001", "0.0025"])
    steps = st.sampled_from(["0.1", "0.2", "0.3"])
    m_usd = market("a", "BTC/USD", draw(fee), amount_step=draw(steps), min_amount=draw(st.sampled_from(["0", "0.3"])),
                   min_cost=draw(st.sampled_from(["0", "25"])))
    m_eur = market("b", "BTC/EUR", draw(fee), amount_step=draw(steps), min_cost=draw(st.sampled_from(["0", "30"])))
    m_fx = market("fx", "EUR/USD", draw(fee), amount_step=draw(st.sampled_from(["0.5", "1", "7", "10"])),
                  price_step="0.01", min_amount=draw(st.sampled_from(["0", "10"])),
                  min_cost=draw(st.sampled_from(["0", "20"])))
    quote = draw(st.sampled_from([None, D(60), D(150)]))
    base = draw(st.sampled_from([None, D("0.7"), D("1.5")]))
    conv = book("fx", 1.0, bids=[(str(p), str(q)) for p, q in fx_bids], asks=[(str(p), str(q)) for p, q in fx_asks],
                symbol="EUR/USD")
    usd_book = lambda pa: book("a", 1.0, symbol="BTC/USD", **pa)  # noqa: E731
    eur_book = lambda pa: book("b", 1.0, symbol="BTC/EUR", **pa)  # noqa: E731
    strs = lambda lv: [(str(p), str(q)) for p, q in lv]  # noqa: E731
    if side == "sell":  # buy BTC/USD, sell BTC/EUR, sell EUR for USD
        return (usd_book({"asks": strs(asks)}), eur_book({"bids": strs(bids)}), conv, m_usd, m_eur, m_fx, side,
                quote, base)
    # buy BTC/EUR, sell BTC/USD, buy EUR with USD: prices of BTC/EUR made smaller so some trades exist
    eur_asks = [(p * D("0.85"), q) for p, q in asks]
    return (eur_book({"asks": strs(eur_asks)}), usd_book({"bids": strs(bids)}), conv, m_eur, m_usd, m_fx, side,
            quote, base)


@settings(max_examples=300, deadline=None)
@given(cases())
def test_best_amount_beats_every_lot_grid_point(case):
    buy, sell, conv, bm, sm, cm, side, quote, base = case
    from arbscan.spread import lot_step

    lot = lot_step(bm.amount_step, sm.amount_step)
    grid = {}
    n = 1
    while n * lot <= D(10):
        p = _price(n * lot, buy, sell, conv, bm, sm, cm, side, quote, base)
        if p is not None:
            grid[n * lot] = p
        n += 1
    best = max(grid.values(), default=None)
    opp = evaluate_cross(buy, sell, conv, bm, sm, cm, quote, base)
    if best is None or best <= 0:
        assert opp is None
        return
    assert opp is not None
    assert opp.amount in grid
    assert grid[opp.amount] == best == opp.net_profit
    assert opp.amount == min(a for a, p in grid.items() if p == best)  # ties: the smaller amount
