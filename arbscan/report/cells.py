"""How one value is shown, the same in the terminal, the CSV files and the HTML page.

Exact decimals without exponent (beyond 10^40 with one), times as UTC ISO-8601 with
milliseconds, seconds to 0.001, milliseconds to 0.1, ratios to 4 decimals, '' for missing.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation, localcontext
from typing import TYPE_CHECKING, Any

from arbscan.report.read import isnull, iso
from arbscan.report.format import WIDE, amount, bps, in_cents, money

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["cell", "shown", "decimal_text", "formatted", "is_number", "count_text", "span_text", "MONEY_COLUMNS"]

_TIME_COLS = {"started", "ended", "first_event", "last_event", "first_seen", "last_seen", "opened", "closed", "as_of"}
_SECONDS_COLS = {"duration_median_s", "duration_p90_s", "duration_max_s", "live_s", "covered_s", "span_s",
                 "duration_s"}
_MS_COLS = {"mean_gap_ms", "max_gap_ms"}
_RATIO_COLS = {"live_share", "events_per_s"}


def cell(column: str, value: Any) -> str:
    """One value of ``column`` as the report shows it; missing -> ''."""
    if isnull(value):
        return ""
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and abs(value) >= 1e15 and column not in _TIME_COLS:
        return format(value, ".6g")  # no journal figure is this large: shown, not padded with digits
    if column in _TIME_COLS:
        return iso(float(value))
    if column in _SECONDS_COLS:
        return f"{float(value):.3f}"
    if column in _MS_COLS:
        return f"{float(value):.1f}"
    if column in _RATIO_COLS:
        return f"{float(value):.4f}"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))  # counts and ids (pandas makes them float next to a NULL)
    return str(value)


MONEY_COLUMNS = frozenset({
    "net_profit", "net_profit_total", "net_profit_median", "net_profit_max", "gross_profit_total", "fees_total",
    "net_after_transfer_total", "net_after_transfer", "transfer_cost", "buy_fee", "sell_fee", "buy_cost",
    "sell_proceeds", "expected_profit", "expected_profit_total", "realised_pnl", "realised_pnl_total", "flatten_pnl",
    "flatten_pnl_total", "value",
})
"""Columns of money in the row's quote currency: shown to the quote's cents (``arbscan.report.format.money``)."""

_BALANCE_COLUMNS = {"start", "final", "change"}  # an amount of the row's ``asset``


def shown(column: str, value: Any, quote: str = "", asset: str = "") -> str:
    """One value as a person reads it in the text and HTML views: money to the quote's cents, bps to 0.01,
    amounts without trailing zeros; other values as :func:`cell` (the CSV files keep every digit)."""
    if isinstance(value, Decimal) and value.is_finite():
        if column in MONEY_COLUMNS and quote:
            return money(value, quote)
        if "bps" in column:
            return bps(value)
        if column in _BALANCE_COLUMNS and asset:
            return money(value, asset) if in_cents(asset) else amount(value)
        if column not in MONEY_COLUMNS and column != "fee_share":
            return amount(value)
    return cell(column, value)


def _quotes(df: pd.DataFrame) -> list[str]:
    """The quote currency of each row: its ``quote``, else its symbol's, else the route label's symbol's."""
    for col in ("quote", "symbol", "route"):
        if col in df.columns:
            return [str(v).split(" ", 1)[0].partition("/")[2] if col != "quote" else str(v) for v in df[col]]
    return [""] * len(df)


def decimal_text(value: Decimal) -> str:
    """An exact decimal without exponent; beyond 10^40 (or below 10^-40) with one, so any magnitude prints short."""
    if value.is_finite() and -40 <= value.adjusted() <= 40:
        return format(value, "f")
    if value.is_finite():
        with localcontext(WIDE):
            return str(value.normalize())  # 1E+999999, not 120 digits of a sum
    return str(value)  # NaN, Infinity


def formatted(df: pd.DataFrame, display: bool = False) -> pd.DataFrame:
    """The frame with every value replaced by its text, columns in order: every digit (:func:`cell`, the CSV
    files), or with ``display`` as people read it (:func:`shown`, the text and HTML views)."""
    import pandas as pd

    cols = list(df.columns)
    if not display:
        return pd.DataFrame({c: [cell(c, v) for v in df[c].tolist()] for c in cols}, columns=cols)
    quotes = _quotes(df)
    assets = [str(a) for a in df["asset"]] if "asset" in df.columns else [""] * len(df)
    return pd.DataFrame({c: [shown(c, v, q, a) for v, q, a in zip(df[c].tolist(), quotes, assets)] for c in cols},
                        columns=cols)


def is_number(text: str) -> bool:
    """Whether a shown value reads as a number (right-aligned in text, sorted as a number in HTML): '1,234.50' too."""
    try:
        Decimal(text.replace(",", ""))
    except InvalidOperation:
        return False
    return True


def count_text(n: int) -> str:
    """A count with thousands separators: 13,033."""
    return f"{n:,}"


def span_text(values: list[int]) -> str:
    """The range of some counts, '9,000-11,000', or one figure when they are all equal."""
    lo, hi = min(values), max(values)
    return count_text(lo) if lo == hi else f"{count_text(lo)}-{count_text(hi)}"
