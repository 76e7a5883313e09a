"""The value types reject what a real book or order can never be."""

import dataclasses
from decimal import Decimal as D

import pytest

from arbscan.model import BookSnapshot, Market, OrderRequest, OrderStatus, Side


def lv(*pairs):
    return tuple((D(p), D(a)) for p, a in pairs)


def test_valid_book_and_its_top():
    b = BookSnapshot("kraken", "BTC/USD", lv(("100", "1"), ("99", "2")), lv(("101", "1"), ("102", "3")), 1.0, 1.5)
    assert (b.best_bid, b.best_ask) == (D(100), D(101))


@pytest.mark.parametrize(
    "bids, asks, words",
    [
        (lv(("99", "1"), ("100", "1")), lv(("101", "1")), "sorted"),  # bids ascending
        (lv(("100", "1")), lv(("102", "1"), ("101", "1")), "sorted"),  # asks descending
        (lv(("100", "1"), ("100", "2")), lv(("101", "1")), "sorted"),  # repeated price
        (lv(("100", "0")), lv(("101", "1")), "non-positive amount"),
        (lv(("100", "1")), lv(("101", "-1")), "non-positive amount"),
        (lv(("0", "1")), lv(("101", "1")), "non-positive price"),
        (lv(("102", "1")), lv(("101", "1")), "crossed"),
    ],
)
def test_book_rejects(bids, asks, words):
    with pytest.raises(ValueError, match=words):
        BookSnapshot("kraken", "BTC/USD", bids, asks, 1.0, 1.0)


def test_book_rejects_floats():
    with pytest.raises(TypeError):
        BookSnapshot("kraken", "BTC/USD", ((100.0, D(1)),), (), 1.0, 1.0)


def test_locked_book_and_one_sided_books_are_valid():
    BookSnapshot("x", "BTC/USD", lv(("100", "1")), lv(("100", "1")), 1.0, 1.0)
    BookSnapshot("x", "BTC/USD", (), lv(("100", "1")), 1.0, 1.0)
    BookSnapshot("x", "BTC/USD", (), (), 1.0, 1.0)


def test_values_are_frozen():
    b = BookSnapshot("x", "BTC/USD", (), (), 1.0, 1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.ts = 2.0  # type: ignore[misc]


def test_trusted_skips_checks_but_builds_the_same_value():
    bids, asks = lv(("100", "1")), lv(("101", "1"))
    assert BookSnapshot.trusted("x", "S", bids, asks, 1.0, 2.0) == BookSnapshot("x", "S", bids, asks, 1.0, 2.0)


def test_market_checks():
    ok = dict(exchange="k", symbol="BTC/USD", base="BTC", quote="USD", taker_fee=D("0.0026"),
              amount_step=D("0.00000001"), price_step=D("0.1"))
    Market(**ok)
    with pytest.raises(ValueError):
        Market(**{**ok, "taker_fee": D("-0.001")})
    with pytest.raises(ValueError):
        Market(**{**ok, "amount_step": D(0)})
    with pytest.raises(TypeError):
        Market(**{**ok, "taker_fee": 0.0026})


def test_order_request_needs_positive_decimals():
    OrderRequest("c1", "kraken", "BTC/USD", Side.BUY, D("0.1"), D("30000"))
    with pytest.raises(TypeError):
        OrderRequest("c1", "kraken", "BTC/USD", Side.BUY, 0.1, D("30000"))
    with pytest.raises(ValueError):
        OrderRequest("c1", "kraken", "BTC/USD", Side.SELL, D("0"), D("30000"))


def test_final_statuses():
    assert {s for s in OrderStatus if s.is_final} == {
        OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED
    }
