"""The contract path of ``CcxtAdapter`` (``adapters/ccxt/`` holds the code, one module per job)."""

from adapters.ccxt.adapter import DEFAULT_POLL_INTERVAL_MS, KEY_PERMISSION_PROBES, CcxtAdapter, rewrite_urls
from adapters.ccxt.parse import (
    DECIMAL_PLACES,
    SIGNIFICANT_DIGITS,
    TICK_SIZE,
    book_from_ccxt,
    market_from_ccxt,
    order_update_from_ccxt,
    step_from_precision,
    to_decimal,
)
from adapters.ccxt.streams import VENUE_DOWN_AFTER, PacedThrottler

__all__ = [
    "CcxtAdapter",
    "PacedThrottler",
    "to_decimal",
    "step_from_precision",
    "market_from_ccxt",
    "book_from_ccxt",
    "order_update_from_ccxt",
    "rewrite_urls",
    "DEFAULT_POLL_INTERVAL_MS",
    "VENUE_DOWN_AFTER",
    "KEY_PERMISSION_PROBES",
    "DECIMAL_PLACES",
    "SIGNIFICANT_DIGITS",
    "TICK_SIZE",
]
