"""One error tree for arbscan, organised by what the caller should do.

::

    ArbscanError
    ├── BadInput                  fix the input; the CLI prints one line and exits 2
    │   ├── ConfigError           a setting is unknown, mistyped or impossible (names the key)
    │   └── ReplayFileError       a replay file line is malformed (names the line number)
    ├── TemporaryError            retry with backoff
    │   ├── RateLimited           wait at least ``retry_after`` seconds first
    │   └── ExchangeUnavailable   network down, venue in maintenance, 5xx
    ├── AuthError                 stop: keys missing, wrong, or with forbidden permissions
    ├── OrderError                the order did not do what was asked
    │   ├── InsufficientFunds     not enough balance on the venue
    │   ├── OrderRejected         the venue refused the order (size, price, market closed, ...)
    │   ├── OrderNotFound         the venue has no order with this id
    │   └── OrderOutcomeUnknown   never resend; reconcile by client id
    ├── BookIntegrityError        drop the book and resubscribe
    │   └── ChecksumMismatch      the venue's CRC32 disagrees with our book
    ├── UnexpectedPayload         the venue sent something we cannot parse; log and skip
    │   └── UntrueBook            a book the book gate refused: skip it, tell the scanner (untrue_book)
    ├── NotSupported              the venue cannot do this (list orders, ...): fall back or go without
    ├── TradingHalted             the kill switch is set; needs ``arbscan resume``
    ├── WriteFailed               the journal or a recording could not be written (disk full, I/O error):
    │                             the run stops at once; what was written before stays, nothing after it
    └── IllegalTransition         an order move its state table forbids: halt trading, keep our state

Messages never contain secrets: callers pass names of things, never key material.
"""

from __future__ import annotations

__all__ = [
    "describe",
    "ArbscanError",
    "BadInput",
    "ConfigError",
    "ReplayFileError",
    "TemporaryError",
    "RateLimited",
    "ExchangeUnavailable",
    "AuthError",
    "OrderError",
    "InsufficientFunds",
    "OrderRejected",
    "OrderNotFound",
    "OrderOutcomeUnknown",
    "BookIntegrityError",
    "ChecksumMismatch",
    "UnexpectedPayload",
    "UntrueBook",
    "TradingHalted",
    "IllegalTransition",
    "NotSupported",
    "WriteFailed",
]


def public_name(exc: BaseException) -> str:
    """The name of ``exc``'s class as a person may read it: a private subclass is named by its public parent."""
    return next(c.__name__ for c in type(exc).__mro__ if not c.__name__.startswith("_"))


def describe(exc: BaseException) -> str:
    """``PublicClass: message`` for one line to a person (a private subclass is named by its public parent)."""
    kind = public_name(exc)
    text = str(exc)
    return f"{kind}: {text}" if text else kind


class ArbscanError(Exception):
    """Root of every error arbscan raises on purpose."""


class BadInput(ArbscanError):
    """The user's input is wrong: fix it. The CLI exits 2 with this one-line message."""


class ConfigError(BadInput):
    """A setting is unknown, of the wrong type, or impossible; the message names the key."""


class ReplayFileError(BadInput):
    """A replay file cannot be read; the message names the file and line number."""


class TemporaryError(ArbscanError):
    """A transient failure: retry with backoff."""


class RateLimited(TemporaryError):
    """The venue (or our own counter) says slow down; wait ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ExchangeUnavailable(TemporaryError):
    """The venue cannot be reached or is in maintenance."""


class AuthError(ArbscanError):
    """Credentials are missing, invalid, or have permissions we refuse: stop."""


class OrderError(ArbscanError):
    """An order did not do what was asked."""


class InsufficientFunds(OrderError):
    """The venue says the balance does not cover the order."""


class OrderRejected(OrderError):
    """The venue refused the order; nothing was executed."""


class OrderNotFound(OrderError):
    """The venue knows no order with this id."""


class OrderOutcomeUnknown(OrderError):
    """We cannot tell whether the order reached the venue: never resend, reconcile by client id."""


class BookIntegrityError(ArbscanError):
    """A book can no longer be trusted: drop it and resubscribe."""


class ChecksumMismatch(BookIntegrityError):
    """The venue's checksum disagrees with the book we hold."""

    def __init__(self, symbol: str, expected: int, computed: int) -> None:
        super().__init__(f"{symbol}: checksum mismatch (venue {expected}, ours {computed})")
        self.symbol = symbol
        self.expected = expected
        self.computed = computed


class UnexpectedPayload(ArbscanError):
    """A venue message we cannot parse; log it and skip it."""


class UntrueBook(UnexpectedPayload):
    """A book the book gate (``arbscan.booksanity``) refused: crossed, locked, one-sided or impossible numbers."""

    def __init__(self, exchange: str, symbol: str, ts: float, reason: str) -> None:
        super().__init__(f"{exchange} {symbol}: untrue book ({reason})")
        self.exchange = exchange
        self.symbol = symbol
        self.ts = ts
        self.reason = reason


class NotSupported(ArbscanError):
    """The venue (or its adapter) cannot do what was asked; the caller falls back or goes without."""


class TradingHalted(ArbscanError):
    """The kill switch is set in the journal; trading resumes only after ``arbscan resume``."""


class IllegalTransition(ArbscanError):
    """An order was asked to make a move its transition table forbids (a bug, or a venue contradicting itself)."""


class WriteFailed(ArbscanError):
    """The journal or a recording could not be written (disk full, I/O error): the run stops at once.

    The message is one line naming the file and the cause (``No space left on device``); what was
    committed before the failed write stays, and nothing after it is written. The CLI exits 1.
    """
