"""The one table of Kraken error strings and where each lands in arbscan's error tree.

https://docs.kraken.com/api/docs/guides/spot-errors

Kraken answers ``{"error": ["EOrder:Insufficient funds"], "result": ...}``; some strings carry a
suffix (``EGeneral:Invalid arguments:volume``, ``EService: Throttled: 1690000000``). Lookup ignores
spaces after colons, takes the longest table entry the string starts with, and falls back to the
category prefix (``EOrder:`` -> ``OrderRejected``) for strings Kraken adds later.
"""

from __future__ import annotations

import re
import time

from arbscan.errors import (
    ArbscanError,
    AuthError,
    BadInput,
    ExchangeUnavailable,
    InsufficientFunds,
    OrderNotFound,
    OrderRejected,
    RateLimited,
    UnexpectedPayload,
)

__all__ = ["KRAKEN_ERRORS", "CATEGORY_FALLBACK", "map_error", "normalize"]

# Seconds to wait on a rate-limit error that gives no time of its own.
_DEFAULT_RETRY_AFTER = 2.0
_LOCKOUT_RETRY_AFTER = 60.0

KRAKEN_ERRORS: dict[str, type[ArbscanError]] = {
    # Authentication and permissions: stop.
    "EAPI:Invalid key": AuthError,
    "EAPI:Invalid signature": AuthError,
    # Another client is using this key with higher nonces: give it its own key.
    "EAPI:Invalid nonce": AuthError,
    "EAPI:Bad request": AuthError,
    "EAPI:Feature disabled": AuthError,
    "EGeneral:Permission denied": AuthError,
    "EOrder:Trading agreement required": AuthError,
    # Rate limits: wait, then retry (never for AddOrder; see rest.py).
    "EAPI:Rate limit exceeded": RateLimited,
    "EOrder:Rate limit exceeded": RateLimited,
    "EService:Throttled": RateLimited,
    "EGeneral:Temporary lockout": RateLimited,
    "EGeneral:Too many requests": RateLimited,
    # The venue is down or busy: retry with backoff.
    "EService:Unavailable": ExchangeUnavailable,
    "EService:Busy": ExchangeUnavailable,
    "EService:Deadline elapsed": ExchangeUnavailable,
    "EService:Timeout": ExchangeUnavailable,
    "EGeneral:Internal error": ExchangeUnavailable,
    "EService:Internal error": ExchangeUnavailable,
    # Orders.
    "EOrder:Insufficient funds": InsufficientFunds,
    "EOrder:Insufficient margin": InsufficientFunds,
    "EOrder:Margin allowance exceeded": InsufficientFunds,
    "EOrder:Margin level too low": InsufficientFunds,
    "EOrder:Unknown order": OrderNotFound,
    "EOrder:Invalid order": OrderRejected,
    "EOrder:Invalid price": OrderRejected,
    "EOrder:Order minimum not met": OrderRejected,
    "EOrder:Cost minimum not met": OrderRejected,
    "EOrder:Tick size check failed": OrderRejected,
    "EOrder:Orders limit exceeded": OrderRejected,
    "EOrder:Positions limit exceeded": OrderRejected,
    "EOrder:Scheduled orders limit exceeded": OrderRejected,
    "EOrder:Unknown position": OrderRejected,
    "EOrder:Cannot open position": OrderRejected,
    "EOrder:Domain rate limit exceeded": RateLimited,
    "EService:Market in cancel_only mode": OrderRejected,
    "EService:Market in post_only mode": OrderRejected,
    "EService:Market in limit_only mode": OrderRejected,
    "EGeneral:Invalid arguments": OrderRejected,
    # Queries with a wrong name: the user (or config) asked for something Kraken does not list.
    "EQuery:Unknown asset pair": BadInput,
    "EQuery:Unknown asset": BadInput,
    "EGeneral:Unknown method": UnexpectedPayload,
}

CATEGORY_FALLBACK: dict[str, type[ArbscanError]] = {
    "EAPI:": AuthError,
    "EOrder:": OrderRejected,
    "EService:": ExchangeUnavailable,
    "EGeneral:": UnexpectedPayload,
    "EQuery:": BadInput,
    "EFunding:": OrderRejected,
    "ESession:": AuthError,
}

_SPACES_AFTER_COLON = re.compile(r":\s+")
_BY_LENGTH = sorted(KRAKEN_ERRORS, key=len, reverse=True)
_THROTTLED_UNTIL = re.compile(r"Throttled:(\d+(?:\.\d+)?)")


def normalize(error: str) -> str:
    """The error string with whitespace after colons removed (``EService: Throttled: 1`` -> ``EService:Throttled:1``)."""
    return _SPACES_AFTER_COLON.sub(":", error.strip())


def _lookup(error: str) -> type[ArbscanError]:
    for key in _BY_LENGTH:
        if error.startswith(key):
            return KRAKEN_ERRORS[key]
    for prefix, cls in CATEGORY_FALLBACK.items():
        if error.startswith(prefix):
            return cls
    return UnexpectedPayload


def map_error(errors: list[str] | str, endpoint: str = "", now: float | None = None) -> ArbscanError:
    """The arbscan exception for Kraken's ``error`` list (first entry decides), message naming the endpoint."""
    items = [errors] if isinstance(errors, str) else list(errors)
    first = normalize(str(items[0])) if items else "EGeneral:Unknown error"
    cls = _lookup(first)
    message = f"kraken {endpoint}: {'; '.join(str(e) for e in items)}" if endpoint else f"kraken: {first}"
    if cls is RateLimited:
        retry_after = _DEFAULT_RETRY_AFTER
        if first.startswith("EGeneral:Temporary lockout"):
            retry_after = _LOCKOUT_RETRY_AFTER
        match = _THROTTLED_UNTIL.search(first)
        if match:
            until = float(match.group(1))
            current = time.time() if now is None else now
            retry_after = max(until - current, _DEFAULT_RETRY_AFTER / 2)
        return RateLimited(message, retry_after=retry_after)
    return cls(message)
