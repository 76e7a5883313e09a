"""Pure conversions of ccxt dicts: hand-computed answers, no network, no ccxt exchange object."""

from decimal import Decimal

import pytest

from adapters.ccxt_adapter import (
    DECIMAL_PLACES,
    SIGNIFICANT_DIGITS,
    TICK_SIZE,
    book_from_ccxt,
    market_from_ccxt,
    order_update_from_ccxt,
    step_from_precision,
    to_decimal,
)
from arbscan.errors import UnexpectedPayload
from arbscan.model import OrderStatus


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.1, "0.1"),  # Decimal(0.1) would be 0.1000000000000000055511151231257827...
        (1e-08, "0.00000001"),
        (0.0026, "0.0026"),
        (3802.9, "3802.90"),
        (29430.2, "29430.2"),
        (0.35210000, "0.3521"),
        (123456789.12345678, "123456789.12345678"),  # 17 significant digits still round-trip
        ("0.00010000", "0.0001"),
        (7, "7"),
    ],
)
def test_to_decimal_gives_the_venue_number(value, expected):
    assert to_decimal(value) == Decimal(expected)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), True, "abc", [1]])
def test_to_decimal_refuses_non_numbers(bad):
    with pytest.raises(UnexpectedPayload):
        to_decimal(bad)


@pytest.mark.parametrize(
    ("value", "mode", "expected"),
    [
        (8, DECIMAL_PLACES, "0.00000001"),
        (8.0, DECIMAL_PLACES, "0.00000001"),
        (2, DECIMAL_PLACES, "0.01"),
        (0, DECIMAL_PLACES, "1"),
        (-1, DECIMAL_PLACES, "10"),  # ccxt allows negative places: multiples of ten
        (0.01, TICK_SIZE, "0.01"),
        (1e-05, TICK_SIZE, "0.00001"),
        (0.5, TICK_SIZE, "0.5"),
        (25, TICK_SIZE, "25"),
    ],
)
def test_step_from_either_precision_mode(value, mode, expected):
    assert step_from_precision(value, mode) == Decimal(expected)


@pytest.mark.parametrize(
    ("value", "mode"),
    [(5, SIGNIFICANT_DIGITS), (None, TICK_SIZE), (0, TICK_SIZE), (2.5, DECIMAL_PLACES), (1, 99)],
)
def test_steps_that_cannot_be_known_are_refused(value, mode):
    with pytest.raises(UnexpectedPayload):
        step_from_precision(value, mode)


CCXT_MARKET = {
    "symbol": "ETH/USD", "base": "ETH", "quote": "USD", "spot": True, "active": True, "taker": 0.004,
    "precision": {"amount": 1e-08, "price": 0.01},
    "limits": {"amount": {"min": 0.001, "max": None}, "cost": {"min": 20.0, "max": None}},
}


def test_market_fee_precedence():
    public = market_from_ccxt("bitstamp", CCXT_MARKET, TICK_SIZE)
    assert (public.taker_fee, public.amount_step, public.price_step) == (Decimal("0.004"), Decimal("1E-8"), Decimal("0.01"))
    assert (public.min_amount, public.min_cost) == (Decimal("0.001"), Decimal("20"))
    account = market_from_ccxt("bitstamp", CCXT_MARKET, TICK_SIZE, account_fee={"taker": 0.0016})
    assert account.taker_fee == Decimal("0.0016")
    config = market_from_ccxt("bitstamp", CCXT_MARKET, TICK_SIZE, Decimal("0.001"), {"taker": 0.0016})
    assert config.taker_fee == Decimal("0.001")
    # a percent figure passed on as a fraction (0.16 for 0.16 %) is refused for the public fee
    assert market_from_ccxt("bitstamp", CCXT_MARKET, TICK_SIZE, account_fee={"taker": 0.16}).taker_fee == Decimal("0.004")


def test_market_without_any_fee_is_refused():
    with pytest.raises(UnexpectedPayload, match="taker_fee"):
        market_from_ccxt("x", {**CCXT_MARKET, "taker": None}, TICK_SIZE)


def test_book_sorts_cuts_drops_zero_levels_and_uses_venue_time():
    raw = {"bids": [[100.0, 1.0], [101.5, 0.0], [99.5, 2.0], [101.0, 0.25]], "asks": [[102.0, 1.0], [101.75, 3.0]],
           "timestamp": 1641343695681}
    book = book_from_ccxt("bitstamp", "ETH/USD", raw, 2, received=1641343696.0)
    assert book.bids == ((Decimal("101.0"), Decimal("0.25")), (Decimal("100.0"), Decimal("1.0")))
    assert book.asks == ((Decimal("101.75"), Decimal("3.0")), (Decimal("102.0"), Decimal("1.0")))
    assert (book.ts, book.received) == (1641343695.681, 1641343696.0)


@pytest.mark.parametrize(
    "raw",
    [
        {"bids": [[101.0, 1.0]], "asks": [[100.0, 1.0]]},  # crossed
        {"bids": [[101.0]], "asks": []},  # a level without an amount
        {"bids": None, "asks": []},
        {"bids": [["x", 1.0]], "asks": []},
    ],
)
def test_malformed_books_are_unexpected_payloads(raw):
    with pytest.raises(UnexpectedPayload):
        book_from_ccxt("bitstamp", "ETH/USD", raw, 10, received=1.0)


@pytest.mark.parametrize(
    ("status", "amount", "filled", "expected"),
    [
        ("open", 1.0, 0.0, OrderStatus.OPEN),
        ("open", 1.0, 0.4, OrderStatus.PARTIALLY_FILLED),
        ("closed", 1.0, 1.0, OrderStatus.FILLED),
        ("closed", 1.0, 0.4, OrderStatus.CANCELED),  # an IOC that filled partly is finished, not full
        ("canceled", 1.0, 0.4, OrderStatus.CANCELED),
        ("expired", 1.0, 0.0, OrderStatus.EXPIRED),
        ("rejected", 1.0, 0.0, OrderStatus.REJECTED),
        (None, None, None, OrderStatus.SUBMITTED),
    ],
)
def test_order_status_table(status, amount, filled, expected):
    update = order_update_from_ccxt("x", "cid", "ETH/USD", {"id": "42", "status": status, "amount": amount, "filled": filled})
    assert update.status is expected
    assert update.exchange_order_id == "42"


def test_order_fill_price_and_fees():
    order = {"id": 7, "status": "closed", "amount": 0.5, "filled": 0.5, "average": None, "cost": 1900.45,
             "fees": [{"cost": 0.11128, "currency": "USD"}, {"cost": 0.01, "currency": "USD"}]}
    update = order_update_from_ccxt("x", "cid", "ETH/USD", order)
    assert (update.filled, update.avg_price, update.fee) == (Decimal("0.5"), Decimal("3800.9"), Decimal("0.12128"))


def test_unknown_order_status_is_unexpected():
    with pytest.raises(UnexpectedPayload, match="partially_done"):
        order_update_from_ccxt("x", "cid", "ETH/USD", {"id": "1", "status": "partially_done"})
