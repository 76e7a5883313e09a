"""How arbscan shows a value to a person: money, bps, amounts, times; the wide decimal context; labels.

One formatter for the text report, the HTML report and the web view (``money`` to the quote's cents or
a price step, ``bps`` to two decimals, ``amount`` to the market's step, ``when`` in UTC with an age).
Display only: the journal and the CSV files keep every digit. Shared by the tables, the summaries and
the charts, so none of them imports another for these.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from decimal import MAX_EMAX, MIN_EMIN, ROUND_DOWN, ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Any

__all__ = ["WIDE", "num", "route_label", "money", "bps", "amount", "utc", "age", "when"]

WIDE = Context(prec=120, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[])
"""Decimal arithmetic for reports: 120 digits (sums of journal money stay exact), no overflow, no traps."""


def num(v: Any) -> float | None:
    """A float frame value, None when missing (NaN)."""
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def route_label(symbol: str, buy: str, sell: str) -> str:
    """A route in one cell, legend or line: 'BTC/USD buy kraken sell bitstamp'."""
    return f"{symbol} buy {buy} sell {sell}"


# -- numbers people read: one formatter for the text report, the HTML page and the web view ------------

FIAT_LIKE_DECIMALS = 2
"""Cents: how many decimals money in a fiat or fiat-pegged quote (USD, EUR, USDT, USDC, ...) shows."""

CRYPTO_QUOTE_DECIMALS = 8
"""How many decimals money in a crypto quote (BTC, ETH, ...) shows when no price step is known."""

_CENT_QUOTES = frozenset({"USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "USDT", "USDC", "DAI", "BUSD", "TUSD",
                          "FDUSD", "PYUSD", "USDP", "EURT", "EURC"})


def _quantize(value: Decimal, exp: Decimal) -> Decimal:
    with localcontext(WIDE):
        return value.quantize(exp, ROUND_HALF_EVEN)


def _grouped(value: Decimal, places: int) -> str:
    """``value`` with thousands separators and exactly ``places`` decimals."""
    return f"{value:,.{places}f}"


def money(value: Decimal | None, quote: str = "", *, step: Decimal | None = None, sign: bool = False) -> str:
    """Money as people read it: to the quote's cents (or to ``step``, a market's price step), grouped, '' when missing.

    ``quote`` 'USD' -> 2 decimals; a crypto quote -> 8 unless ``step`` says otherwise. ``sign`` shows '+' on gains.
    The value is rounded half-even for display only; the journal and the CSV keep every digit.
    """
    if value is None or not isinstance(value, Decimal) or not value.is_finite():
        return "" if value is None else str(value)
    if step is not None and step > 0:
        places = max(0, -step.normalize().as_tuple().exponent)
    elif quote.upper() in _CENT_QUOTES:
        places = FIAT_LIKE_DECIMALS
    else:
        places = CRYPTO_QUOTE_DECIMALS
    if value.adjusted() > 40:
        return decimal_exponent(value)
    q = _quantize(value, Decimal(1).scaleb(-places))
    if q == 0:
        q = abs(q)  # no '-0.00'
    text = _grouped(q, places)
    return ("+" + text) if sign and q > 0 else text


def bps(value: Decimal | float | None, *, sign: bool = False) -> str:
    """Basis points to two decimals ('6.73'); '' when missing."""
    if value is None:
        return ""
    d = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    if not d.is_finite():
        return str(d)
    if d.adjusted() > 40:
        return decimal_exponent(d)
    q = _quantize(d, Decimal("0.01"))
    if q == 0:
        q = abs(q)
    text = _grouped(q, 2)
    return ("+" + text) if sign and q > 0 else text


def amount(value: Decimal | None, step: Decimal | None = None) -> str:
    """An amount to the market's amount step (rounded down: never shows more than the step allows); '' when missing."""
    if value is None or not isinstance(value, Decimal) or not value.is_finite():
        return "" if value is None else str(value)
    if value.adjusted() > 40:
        return decimal_exponent(value)
    if step is None or step <= 0:
        with localcontext(WIDE):
            text = format(value.normalize(), "f")
        return text
    places = max(0, -step.normalize().as_tuple().exponent)
    with localcontext(WIDE):
        q = (value / step).to_integral_value(ROUND_DOWN) * step
        q = q.quantize(Decimal(1).scaleb(-places))
    return f"{q:.{places}f}"


def decimal_exponent(value: Decimal) -> str:
    """A huge decimal in short scientific form ('1.2E+45'): no page or line fills with digits."""
    return f"{value:.2E}"


def utc(ts: float | None) -> str:
    """A unix time as UTC to the second ('2026-12-07 15:06:00 UTC'); '' when missing."""
    if ts is None or ts != ts:
        return ""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def age(seconds: float | None) -> str:
    """A duration or an age as people say it: '0.4 s', '12 s', '3 min', '2 h 5 min', '3 d 4 h'; '' when missing."""
    if seconds is None or seconds != seconds:
        return ""
    s = max(0.0, float(seconds))
    if s < 10:
        return f"{s:.1f} s"
    if s < 120:
        return f"{s:.0f} s"
    minutes = int(s // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def when(ts: float | None, now: float) -> str:
    """A time in UTC with its relative age: '2026-12-07 15:06:00 UTC (3 min ago)'."""
    if ts is None or ts != ts:
        return ""
    return f"{utc(ts)} ({age(now - ts)} ago)"
