"""The one formatter people read (arbscan.report.format): hand-worked values."""

from decimal import Decimal as D

from arbscan.report.format import age, amount, bps, money, utc, when


def test_money_shows_the_quotes_cents_grouped_and_never_minus_zero():
    assert money(D("146.689331085166934034445266"), "USD") == "146.69"
    assert money(D("1234567.5"), "USDT", sign=True) == "+1,234,567.50"
    assert money(D("-3.2349"), "EUR") == "-3.23"
    assert money(D("-0.004"), "USD") == "0.00"
    assert money(None, "USD") == ""


def test_money_in_a_crypto_quote_or_at_a_price_step():
    assert money(D("0.000123456789"), "BTC") == "0.00012346"
    assert money(D("12.3456"), "USD", step=D("0.1")) == "12.3"
    assert money(D("1E+99"), "USD") == "1.00E+99"


def test_bps_two_decimals_half_even():
    assert bps(D("6.7349")) == "6.73"
    assert bps(D("15.015")) == "15.02"
    assert bps(D("-0.001")) == "0.00"
    assert bps(D("2.5"), sign=True) == "+2.50"


def test_amount_to_the_markets_step_rounded_down():
    assert amount(D("0.123456789"), D("0.0001")) == "0.1234"
    assert amount(D("5"), D("0.01")) == "5.00"
    assert amount(D("7"), D("1")) == "7"
    assert amount(D("0.50000"), None) == "0.5"


def test_times_in_utc_with_a_relative_age():
    assert utc(1690700000.123) == "2023-07-30 06:53:20 UTC"
    assert age(4.25) == "4.2 s" and age(42) == "42 s" and age(600) == "10 min"
    assert age(3 * 3600 + 5 * 60) == "3 h 5 min" and age(3 * 86400 + 4 * 3600) == "3 d 4 h"
    assert when(1690700000.0, 1690700000.0 + 180) == "2023-07-30 06:53:20 UTC (3 min ago)"
