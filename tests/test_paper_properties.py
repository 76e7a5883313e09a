"""Property: over random streams of books, a paper strategy's balances never go negative.

Random venues (fees, steps), two symbols sharing each venue's USD, random books that cross each other often, random balances (some
venues without one of the assets), latency, max_notional and cooldown. After every event every
balance is >= 0; at the end each asset's change equals what the fills moved, and every fill is
within its order's limit.
"""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from arbscan.config.settings import StrategyConfig
from arbscan.model import BookSnapshot, Market
from arbscan.execution.paper import paper_executor
from arbscan.scan.scanner import Scanner

SYMBOLS = ("BTC/USD", "ETH/USD")  # two symbols share each venue's USD
VENUES = ("a", "b", "c")

levels = st.lists(st.tuples(st.integers(1, 30), st.integers(1, 40)), min_size=1, max_size=4)


@st.composite
def book_event(draw):
    venue = draw(st.sampled_from(VENUES))
    symbol = draw(st.sampled_from(SYMBOLS))
    top_bid = draw(st.integers(990, 1010))  # tenths of a USD
    gap = draw(st.integers(1, 6))
    bids, asks = [], []
    price = top_bid
    for step, amount in draw(levels):
        bids.append((D(price) / 10, D(amount) / 10))
        price -= step
    price = top_bid + gap
    for step, amount in draw(levels):
        asks.append((D(price) / 10, D(amount) / 10))
        price += step
    dt = draw(st.integers(0, 120))  # ms since the previous event
    return venue, symbol, tuple(bids), tuple(asks), dt


_amount = st.decimals(min_value=0, max_value=300, places=2)
balance = st.one_of(st.none(), _amount, _amount, _amount)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=st.lists(book_event(), min_size=8, max_size=40),
    fees=st.tuples(*[st.sampled_from(["0", "0.001", "0.0026"])] * 3),
    steps=st.tuples(*[st.sampled_from(["0.0001", "0.001", "0.01"])] * 3),
    quotes=st.tuples(balance, balance, balance),
    bases=st.tuples(balance, balance, balance),
    latency_ms=st.sampled_from([0, 30, 100, 400]),
    max_notional=st.one_of(st.none(), st.decimals(min_value=5, max_value=200, places=1)),
    cooldown_ms=st.sampled_from([0, 50]),
)
def test_balances_never_go_negative(events, fees, steps, quotes, bases, latency_ms, max_notional, cooldown_ms):
    markets = {(v, sym): Market(v, sym, sym[:3], "USD", D(f), D(s), D("0.1"))
               for v, f, s in zip(VENUES, fees, steps) for sym in SYMBOLS}
    start: dict[str, dict[str, D]] = {}
    for v, q, b in zip(VENUES, quotes, bases):
        if q is not None:
            start.setdefault(v, {})["USD"] = q
        if b is not None:
            start.setdefault(v, {})["BTC"] = b / 100  # 0..3 BTC
            start.setdefault(v, {})["ETH"] = b / 50  # 0..6 ETH
    if not start:
        start = {"a": {"USD": D(100)}}
    strategy = StrategyConfig("p", min_net_bps=D(0), latency_ms=latency_ms, max_notional=max_notional,
                              cooldown_ms=cooldown_ms)
    ex = paper_executor(strategy, markets, None, starting_balances=start)
    sc = Scanner(markets, listeners=[ex])
    t = 1000.0
    for venue, symbol, bids, asks, dt in events:
        t += dt / 1000
        sc.on_book_event(BookSnapshot(venue, symbol, bids, asks, t, t), t)
        for assets in ex.venue.balances.values():
            assert all(v >= 0 for v in assets.values()), ex.venue.balances
        assert all(v >= 0 for v in ex.reserved.values())
    sc.close(t + 0.05)
    event("trades" if ex.trades else "no trade")
    if any(tr.status in ("partial", "imbalanced") for tr in ex.trades):
        event("a partial or uneven fill")
    for assets in ex.venue.balances.values():
        assert all(v >= 0 for v in assets.values()), ex.venue.balances
    assert not len(ex.venue.scheduler) and not ex.reserved

    # every change is explained by the fills, and every fill is within its limit
    def total(bal, asset):
        return sum((a.get(asset, D(0)) for a in bal.values()), D(0))

    moved = {"BTC": D(0), "ETH": D(0), "USD": D(0)}
    for tr in ex.trades:
        moved[tr.base] += tr.buy.filled - tr.sell.filled
        moved["USD"] += tr.sell.quote_flow + tr.buy.quote_flow
        assert all(f.price <= tr.opp.buy_limit for f in tr.buy.fills)
        assert all(f.price >= tr.opp.sell_limit for f in tr.sell.fills)
        assert tr.buy.filled <= tr.opp.amount and tr.sell.filled <= tr.opp.amount
    for asset, change in moved.items():
        assert total(ex.venue.balances, asset) - total(start, asset) == change, asset
