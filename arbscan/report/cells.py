"""How one value is shown, the same in the terminal, the CSV files and the HTML page.

Exact decimals without exponent (beyond 10^40 with one), times as UTC ISO-8601 with
milliseconds, seconds to 0.001, milliseconds to 0.1, ratios to 4 decimals, '' for missing.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation, localcontext
from typing import TYPE_CHECKING, Any

from arbscan.report.read import isnull, iso
from arbscan.report.format import WIDE

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["cell", "decimal_text", "formatted", "is_number", "count_text", "span_text"]

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


def decimal_text(value: Decimal) -> str:
    """An exact decimal without exponent; beyond 10^40 (or below 10^-40) with one, so any magnitude prints short."""
    if value.is_finite() and -40 <= value.adjusted() <= 40:
        return format(value, "f")
    if value.is_finite():
        with localcontext(WIDE):
            return str(value.normalize())  # 1E+999999, not 120 digits of a sum
    return str(value)  # NaN, Infinity


def formatted(df: pd.DataFrame) -> pd.DataFrame:
    """The frame with every value replaced by its text (:func:`cell`), columns in order."""
    import pandas as pd

    cols = list(df.columns)
    return pd.DataFrame({c: [cell(c, v) for v in df[c].tolist()] for c in cols}, columns=cols)


def is_number(text: str) -> bool:
    """Whether a shown value reads as a number (right-aligned in text, sorted as a number in HTML)."""
    try:
        Decimal(text)
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
