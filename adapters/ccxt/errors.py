"""The one translation of ccxt exceptions into the arbscan error tree (``map_ccxt_errors``).

The table is keyed by ccxt class *name* and lists every class in ``ccxt.base.errors`` explicitly;
``tests/test_ccxt_errors.py`` walks ccxt's hierarchy and fails when ccxt grows a class that is not
listed here, so a new ccxt error is a conscious decision, not a silent base-class fallback.

Each entry gives two targets: what the error means in general, and what it means while an order is
being *sent*. While sending, anything that leaves the order's fate open (timeouts, resets, 5xx,
unparseable answers, a duplicate client id) becomes ``OrderOutcomeUnknown``: never resend, reconcile.

Messages: a failure with a network cause (DNS, refused, TLS, timeout, an HTTP error status) reads as that
cause alone, in ``adapters.network``'s words (``DNS lookup failed for www.bitstamp.net``); any other reads
``<ccxt class>: <ccxt message>``. Secrets are scrubbed, and the text is one line of at most 300 characters.

This module does not import ccxt, so ``adapters.base`` can re-export it cheaply.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from adapters.network import describe_failure, http_status
from arbscan.errors import (
    ArbscanError,
    AuthError,
    BookIntegrityError,
    ConfigError,
    ExchangeUnavailable,
    InsufficientFunds,
    OrderNotFound,
    OrderOutcomeUnknown,
    OrderRejected,
    RateLimited,
    UnexpectedPayload,
)

__all__ = ["CCXT_ERROR_MAP", "describe_ccxt_failure", "map_ccxt_errors", "translate_ccxt_error"]

log = logging.getLogger(__name__)

_UNKNOWN = OrderOutcomeUnknown

# ccxt class name -> (arbscan class in general, arbscan class while sending an order)
CCXT_ERROR_MAP: dict[str, tuple[type[ArbscanError], type[ArbscanError]]] = {
    # roots: an error ccxt could not classify
    "BaseError": (ExchangeUnavailable, _UNKNOWN),
    "ExchangeError": (ExchangeUnavailable, _UNKNOWN),
    "OperationFailed": (ExchangeUnavailable, _UNKNOWN),
    # credentials and permissions: stop
    "AuthenticationError": (AuthError, AuthError),
    "PermissionDenied": (AuthError, AuthError),
    "AccountNotEnabled": (AuthError, AuthError),
    "AccountSuspended": (AuthError, AuthError),
    "RestrictedLocation": (AuthError, AuthError),
    "ManualInteractionNeeded": (AuthError, AuthError),
    # our request was wrong
    "BadRequest": (ConfigError, OrderRejected),
    "BadSymbol": (ConfigError, OrderRejected),
    "ArgumentsRequired": (ConfigError, OrderRejected),
    "NotSupported": (ConfigError, OrderRejected),
    "InvalidProxySettings": (ConfigError, ConfigError),
    # orders
    "InsufficientFunds": (InsufficientFunds, InsufficientFunds),
    "InvalidOrder": (OrderRejected, OrderRejected),
    "OrderImmediatelyFillable": (OrderRejected, OrderRejected),
    "OrderNotFillable": (OrderRejected, OrderRejected),
    "ContractUnavailable": (OrderRejected, OrderRejected),
    # the client id is already taken: an earlier send may have arrived, so reconcile, never resend
    "DuplicateOrderId": (OrderRejected, _UNKNOWN),
    "OrderNotFound": (OrderNotFound, OrderNotFound),
    "OrderNotCached": (OrderNotFound, OrderNotFound),
    "OperationRejected": (OrderRejected, OrderRejected),
    "MarketClosed": (OrderRejected, OrderRejected),
    "NoChange": (OrderRejected, OrderRejected),
    "MarginModeAlreadySet": (OrderRejected, OrderRejected),
    "InvalidAddress": (OrderRejected, OrderRejected),
    "AddressPending": (OrderRejected, OrderRejected),
    "CancelPending": (ExchangeUnavailable, ExchangeUnavailable),
    # transport: retry later, but an order in flight has an unknown outcome
    "NetworkError": (ExchangeUnavailable, _UNKNOWN),
    "RequestTimeout": (ExchangeUnavailable, _UNKNOWN),
    "ExchangeNotAvailable": (ExchangeUnavailable, _UNKNOWN),
    "OnMaintenance": (ExchangeUnavailable, _UNKNOWN),
    "ExchangeClosedByUser": (ExchangeUnavailable, _UNKNOWN),
    "UnsubscribeError": (ExchangeUnavailable, ExchangeUnavailable),
    # the venue refused the request before acting on it
    "RateLimitExceeded": (RateLimited, RateLimited),
    "DDoSProtection": (RateLimited, RateLimited),
    "InvalidNonce": (ExchangeUnavailable, OrderRejected),
    # books and payloads
    "ChecksumError": (BookIntegrityError, BookIntegrityError),
    "BadResponse": (UnexpectedPayload, _UNKNOWN),
    "NullResponse": (UnexpectedPayload, _UNKNOWN),
}
"""ccxt error class name -> (arbscan error in general, arbscan error while sending an order)."""

_MAX_MESSAGE = 300


def _is_ccxt_error(exc: BaseException) -> bool:
    return any(c.__name__ == "BaseError" and c.__module__.startswith("ccxt") for c in type(exc).__mro__)


def _clean(message: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    message = " ".join(message.split())  # one line
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return message


# ccxt's handle_http_status_code: "<id> <METHOD> <url> <status> <reason> <body>"
_HTTP_ANSWER = re.compile(r"^\S+ [A-Z]+ (https?://\S+) (\d{3})(?: (.*))?$", re.DOTALL)
_URL = re.compile(r"(?:https?|wss?)://[^\s'\"]+")
# ccxt.pro's text when opening a WebSocket takes longer than its connectionTimeout (no URL, no cause)
_WS_OPEN_TIMEOUT = "Connection timeout"


def describe_ccxt_failure(
    exc: BaseException, *, timeout_s: float | None = None, ws_timeout_s: float | None = None
) -> str | None:
    """The network cause of a ccxt failure in plain words, or None when it has none.

    ``timeout_s`` is the REST timeout (ccxt's ``timeout``), ``ws_timeout_s`` the WebSocket opening one.
    """
    text = str(exc)
    answer = _HTTP_ANSWER.match(text)
    if answer:
        return http_status(int(answer.group(2)), answer.group(1), answer.group(3) or "")
    if text == _WS_OPEN_TIMEOUT:
        return "timed out" + (f" after {ws_timeout_s:g} s" if ws_timeout_s else "") + " opening the WebSocket"
    found = _URL.search(text)
    return describe_failure(exc, url=found.group(0) if found else None, timeout_s=timeout_s)


def translate_ccxt_error(
    exc: BaseException,
    *,
    sending_order: bool = False,
    secrets: Iterable[str] = (),
    retry_after: float = 1.0,
    timeout_s: float | None = None,
    ws_timeout_s: float | None = None,
) -> ArbscanError:
    """The arbscan error for one ccxt exception (by the nearest mapped class in its MRO), its cause in words."""
    target: type[ArbscanError] | None = None
    for cls in type(exc).__mro__:
        entry = CCXT_ERROR_MAP.get(cls.__name__)
        if entry is not None and cls.__module__.startswith("ccxt"):
            target = entry[1] if sending_order else entry[0]
            break
    if target is None:  # not a ccxt class at all: unknowable, treat like ccxt's root
        target = _UNKNOWN if sending_order else ExchangeUnavailable
    cause = describe_ccxt_failure(exc, timeout_s=timeout_s, ws_timeout_s=ws_timeout_s)
    message = _clean(cause or f"{type(exc).__name__}: {exc}", tuple(secrets))
    if target is RateLimited:
        return RateLimited(message, retry_after=retry_after)
    return target(message)


@contextmanager
def map_ccxt_errors(
    *,
    sending_order: bool = False,
    secrets: Iterable[str] = (),
    retry_after: float = 1.0,
    timeout_s: float | None = None,
    ws_timeout_s: float | None = None,
) -> Iterator[None]:
    """Translate any ccxt exception raised inside the block into the arbscan error tree.

    ``sending_order=True`` marks the block that sends a new order: transport failures there become
    ``OrderOutcomeUnknown``. ``secrets`` are scrubbed from the message; the ccxt exception is not
    chained (its text may carry request details), only its cause or class name and cleaned message
    survive. ``timeout_s`` / ``ws_timeout_s`` (REST / WebSocket opening) go into "timed out" messages.
    """
    try:
        yield
    except ArbscanError:
        raise
    except Exception as exc:
        if not _is_ccxt_error(exc):
            raise
        translated = translate_ccxt_error(
            exc, sending_order=sending_order, secrets=tuple(secrets), retry_after=retry_after,
            timeout_s=timeout_s, ws_timeout_s=ws_timeout_s,
        )
        log.debug("ccxt %s -> %s", type(exc).__name__, type(translated).__name__)
        raise translated from None
