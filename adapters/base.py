"""The one protocol every venue adapter implements, and the helpers all adapters share.

=========================  ========  ==================================================================
member                     required  notes; for an optional member, what "the venue cannot" looks like
=========================  ========  ==================================================================
``name``                   yes       ccxt id of the venue: "kraken", "bitstamp", ...
``load_markets``           yes       ``Market`` per unified symbol, with real steps, minimums, fee
``fetch_book``             yes       one REST snapshot
``watch_books``            yes       WebSocket where the venue has it, else paced REST polling
``fetch_balances``         keys      free amount per asset; raises ``AuthError`` without keys
``place_order``            keys      IOC limit order; never retried automatically
``fetch_order``            keys      by our client id
``cancel_order``           keys      by our client id
``close``                  yes       releases sessions and sockets; safe to call twice
``api_key_permissions()``  optional  async; the key's permission names (a right to move funds off the
                                     venue contains "withdraw"); cannot: returns None
``open_orders(symbol)``    optional  async; our open orders (those with our client ids) as
                                     ``OrderUpdate``; cannot: raises ``NotSupported``
``closed_orders(symbol)``  optional  async; our recently finished orders, likewise; cannot: raises
                                     ``NotSupported``
``validate_orders``        optional  True when orders are sent validate-only: the venue checks them and
                                     places nothing (Kraken's ``validate=true``); cannot: False
``fetch_funding(assets)``  optional  async; ``arbscan.funding.facts.AssetFunding`` of those assets the venue
                                     states (deposit/withdraw switches, networks by ccxt unified code,
                                     fees, minimums); an asset it says nothing about is left out;
                                     cannot: raises ``NotSupported``
``on_untrue_book``         optional  set by the caller: called ``(symbol, ts, reason)`` for every book the
                                     book gate (``arbscan.booksanity``) refused, in stream order, instead
                                     of yielding it; unset: None (untrue books are only logged)
``rate_limit_headroom()``  optional  plain call (the web view's Venues page asks it a few times a second):
                                     one line on the request budget left; cannot: returns None
=========================  ========  ==================================================================

``ExchangeAdapter`` holds the required members (``isinstance`` checks them); :class:`AdapterDefaults`
holds the optional ones with their "cannot" answers. Both real adapters inherit ``AdapterDefaults`` and
override what their venue can do, so callers use the optional members directly, without ``getattr``.

Adapters take and return ``arbscan.model`` types only; nothing above ``adapters/`` sees venue JSON.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

from adapters.ccxt.errors import map_ccxt_errors  # the one ccxt error translation (imports no ccxt)
from arbscan.booksanity import off_step_reason, untrue_reason
from arbscan.errors import AuthError, NotSupported
from arbscan.funding.facts import AssetFunding
from arbscan.model import BookSnapshot, Market, OrderRequest, OrderUpdate

log = logging.getLogger(__name__)

__all__ = [
    "true_books",
    "ExchangeAdapter",
    "AdapterDefaults",
    "Credentials",
    "load_credentials",
    "replace_origin",
    "map_ccxt_errors",
]


@runtime_checkable
class ExchangeAdapter(Protocol):
    """A venue as arbscan sees it (see the table in this module's docstring)."""

    name: str

    async def load_markets(self) -> dict[str, Market]: ...

    async def fetch_book(self, symbol: str, depth: int = 50) -> BookSnapshot: ...

    def watch_books(self, symbols: list[str]) -> AsyncIterator[BookSnapshot]: ...

    async def fetch_balances(self) -> dict[str, Decimal]: ...

    async def place_order(self, req: OrderRequest) -> OrderUpdate: ...

    async def fetch_order(self, symbol: str, client_id: str) -> OrderUpdate: ...

    async def cancel_order(self, symbol: str, client_id: str) -> OrderUpdate: ...

    async def close(self) -> None: ...


class AdapterDefaults:
    """The optional members of an adapter, each answering "the venue cannot"; adapters override what they can."""

    name: str

    validate_orders: bool = False
    """True when orders are sent validate-only (checked by the venue, never placed)."""

    on_untrue_book: Callable[[str, float, str], None] | None = None
    """Set by the caller (the live driver): hears ``(symbol, ts, reason)`` of every book the gate refused."""

    async def api_key_permissions(self) -> list[str] | None:
        """The key's permission names where the venue reports them; None: the venue cannot tell."""
        return None

    async def open_orders(self, symbol: str) -> list[OrderUpdate]:
        """Our open orders on ``symbol``; raises ``NotSupported`` when the venue cannot list them."""
        raise NotSupported(f"{self.name} cannot list open orders")

    async def closed_orders(self, symbol: str) -> list[OrderUpdate]:
        """Our recently finished orders on ``symbol``; raises ``NotSupported`` when the venue cannot list them."""
        raise NotSupported(f"{self.name} cannot list closed orders")

    def rate_limit_headroom(self) -> str | None:
        """How much of the venue's request budget is left, in one line for the web view's Venues page;
        None: the adapter cannot tell (the page says "not reported")."""
        return None

    async def fetch_funding(self, assets: list[str]) -> list[AssetFunding]:
        """What the venue states about depositing and withdrawing ``assets``; ``NotSupported`` when it states nothing."""
        raise NotSupported(f"{self.name} states no deposit or withdrawal facts")


@dataclass(frozen=True, slots=True)
class Credentials:
    """API credentials for one venue; ``repr`` and ``str`` never show the secret parts."""

    exchange: str
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    password: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"Credentials(exchange={self.exchange!r}, api_key=***, api_secret=***)"

    __str__ = __repr__


def load_credentials(exchange: str, environ: dict[str, str] | None = None) -> Credentials | None:
    """Credentials for ``exchange`` from ``<EXCHANGE>_API_KEY``/``_API_SECRET``/``_API_PASSWORD``, else a keyring.

    Returns None when neither source has both key and secret. The keyring (optional extra
    ``arbscan[keyring]``) is looked up under service ``arbscan-<exchange>`` with user names
    ``api_key``, ``api_secret`` and ``api_password``.
    """
    env = os.environ if environ is None else environ
    prefix = exchange.upper().replace("-", "_")
    key = env.get(f"{prefix}_API_KEY")
    secret = env.get(f"{prefix}_API_SECRET")
    password = env.get(f"{prefix}_API_PASSWORD")
    if key and secret:
        return Credentials(exchange, key, secret, password or None)
    if key or secret:
        raise AuthError(f"{prefix}_API_KEY and {prefix}_API_SECRET must be set together")
    try:  # keyring is optional
        import keyring  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        service = f"arbscan-{exchange}"
        key = keyring.get_password(service, "api_key")
        secret = keyring.get_password(service, "api_secret")
        password = keyring.get_password(service, "api_password")
    except Exception:  # noqa: BLE001 - no usable keyring backend is the same as no keys
        return None
    if key and secret:
        return Credentials(exchange, key, secret, password or None)
    return None


def replace_origin(url: str, override: str | None) -> str:
    """Replace scheme, host and port of ``url`` with those of ``override``, keeping the path and query.

    ``replace_origin("https://api.kraken.com/0/public/Depth", "http://127.0.0.1:8080")``
    gives ``"http://127.0.0.1:8080/0/public/Depth"``. A path in ``override`` is ignored.
    """
    if not override:
        return url
    src = urlsplit(url)
    dst = urlsplit(override)
    return urlunsplit((dst.scheme, dst.netloc, src.path, src.query, src.fragment))


async def true_books(books: AsyncIterator[BookSnapshot], market: Callable[[str], Market | None],
                     listener: Callable[[], Callable[[str, float, str], None] | None],
                     venue: str) -> AsyncIterator[BookSnapshot]:
    """The books of ``books`` that pass the book gate against ``market(symbol)``; each refused one goes to
    the adapter's ``on_untrue_book`` (``listener()`` reads it at that moment), logged once per untrue spell."""
    untrue: set[str] = set()
    off_step_told: set[str] = set()  # a level off the market's step is true: used, and said once per book
    async for book in books:
        known = market(book.symbol)
        reason = untrue_reason(book, known)
        if reason is None:
            untrue.discard(book.symbol)
            if book.symbol not in off_step_told and (off := off_step_reason(book.bids, book.asks, known)) is not None:
                off_step_told.add(book.symbol)
                log.warning("%s %s: a level off the market's step (%s); used as published", venue, book.symbol, off)
            yield book
            continue
        if book.symbol not in untrue:
            untrue.add(book.symbol)
            log.warning("%s %s: untrue book (%s); not used until a true book comes", venue, book.symbol, reason)
        report = listener()
        if report is not None:
            report(book.symbol, book.ts, reason)
