"""``CcxtAdapter``: any ccxt exchange id as an ``ExchangeAdapter`` (REST via ccxt, WebSocket via ccxt.pro).

What it does that a bare ccxt loop does not:

- markets carry the venue's real steps (whatever ccxt's precision mode), minimums and taker fee
  (the account's fee from ``fetch_trading_fees`` when keys are present, else the market's public fee,
  and a config override above both); numbers become exact ``Decimal``s (``adapters.ccxt.parse``);
- books come from ccxt.pro's ``watch_order_book`` where ``has['watchOrderBook']``, else from REST
  polling paced by one throttler per venue, shared round-robin by its symbols; a symbol whose stream
  fails is retried with backoff while the others go on (``adapters.ccxt.streams``); every book passes
  the book gate (``arbscan.booksanity``) first, and one it refuses is reported to ``on_untrue_book``;
- order creation is never retried; a transport failure while sending is ``OrderOutcomeUnknown``;
  orders are found again by client id the way the venue allows (``adapters.ccxt.lookup``), and a
  key's permissions are read where the venue reports them (``adapters.ccxt.permissions``);
- every ccxt exception is translated by ``map_ccxt_errors`` with the API key and secret scrubbed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

from adapters.base import AdapterDefaults, Credentials, load_credentials
from adapters.ccxt.errors import map_ccxt_errors
from adapters.ccxt.exchange import new_exchange, order_params, rewrite_urls, ws_open_timeout_s
from adapters.ccxt.funding import fetch_funding
from adapters.ccxt.lookup import OrderLookup
from adapters.ccxt.parse import (book_from_ccxt, check_order, order_update_from_ccxt, our_orders, spot_markets,
                                 to_decimal)
from adapters.ccxt.permissions import KEY_PERMISSION_PROBES, read_key_permissions
from adapters.ccxt.streams import BookStreams
from adapters.network import describe_failure
from arbscan.errors import ArbscanError, AuthError, ConfigError, OrderOutcomeUnknown
from arbscan.funding.facts import AssetFunding
from arbscan.model import ZERO, BookSnapshot, Market, OrderRequest, OrderUpdate

__all__ = ["CcxtAdapter", "DEFAULT_POLL_INTERVAL_MS", "KEY_PERMISSION_PROBES", "order_params", "rewrite_urls"]

log = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL_MS = 1000
"""REST polling spacing per venue when none is configured (never below ccxt's ``rateLimit``)."""


class CcxtAdapter(AdapterDefaults):
    """An ``ExchangeAdapter`` for any ccxt exchange id (see the module docstring for what it adds).

    Of the optional members it has ``api_key_permissions`` where the venue reports them,
    ``open_orders`` / ``closed_orders`` where ccxt can list them, and ``fetch_funding`` where ccxt lists
    the venue's currencies (``adapters.ccxt.funding``); ``validate_orders`` stays False.
    """

    def __init__(
        self,
        exchange_id: str,
        rest_url: str | None = None,
        ws_url: str | None = None,
        taker_fee: Decimal | None = None,
        poll_interval_ms: int | None = None,
        credentials: Credentials | None = None,
        depth: int = 10,
        *,
        use_websocket: bool = True,
        options: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wallclock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 30.0,
    ) -> None:
        import ccxt.async_support as ccxt_async  # imported here: ccxt is slow to import

        if exchange_id not in ccxt_async.exchanges:
            raise ConfigError(f"venue {exchange_id!r}: not a ccxt exchange id")
        if taker_fee is not None and not (isinstance(taker_fee, Decimal) and ZERO <= taker_fee < 1):
            raise ConfigError(f"venue {exchange_id!r}: taker_fee must be a Decimal fraction below 1")
        if depth < 1:
            raise ConfigError(f"venue {exchange_id!r}: depth must be at least 1")
        self.name = exchange_id
        self.depth = depth
        self._taker_fee = taker_fee
        # None means "look in the environment / keyring", as the native Kraken adapter does
        self._credentials = credentials if credentials is not None else load_credentials(exchange_id)
        self._clock = clock
        self._wallclock = wallclock
        self._sleep = sleep
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._markets: dict[str, Market] = {}
        self._exchange = new_exchange(exchange_id, self._credentials, options, rest_url, ws_url)
        self._lookup = OrderLookup(self._exchange, exchange_id, self._errors)
        self._order_ids = self._lookup.order_ids  # client id -> venue order id, for orders we placed
        self._ws = bool(use_websocket and self._exchange.has.get("watchOrderBook"))
        interval_ms = max(poll_interval_ms or DEFAULT_POLL_INTERVAL_MS, float(self._exchange.rateLimit or 0))
        self.poll_interval_s = interval_ms / 1000.0

    def __repr__(self) -> str:
        keys = "with keys" if self._credentials is not None else "public"
        return f"CcxtAdapter({self.name!r}, {keys})"

    __str__ = __repr__

    # -- helpers ---------------------------------------------------------------------------------

    def _secrets(self) -> tuple[str, ...]:
        c = self._credentials
        return () if c is None else tuple(s for s in (c.api_key, c.api_secret, c.password) if s)

    def _errors(self, *, sending_order: bool = False):
        ex = self._exchange
        return map_ccxt_errors(
            sending_order=sending_order,
            secrets=self._secrets(),
            retry_after=max(1.0, float(ex.rateLimit or 0) / 1000.0),
            timeout_s=ex.timeout / 1000.0,
            ws_timeout_s=ws_open_timeout_s(ex),
        )

    def _require_keys(self, what: str) -> None:
        if self._credentials is None:
            prefix = self.name.upper().replace("-", "_")
            raise AuthError(f"{self.name}: {what} needs {prefix}_API_KEY and {prefix}_API_SECRET")

    @property
    def uses_websocket(self) -> bool:
        """True when books come from ccxt.pro's ``watch_order_book``, False when REST is polled."""
        return self._ws

    def rate_limit_headroom(self) -> str:
        """The REST pace against ccxt's ``rateLimit`` for the venue (the spacing it allows between calls)."""
        limit_ms = float(self._exchange.rateLimit or 0)
        allowed = f"1 call per {limit_ms:g} ms" if limit_ms > 0 else "no stated limit"
        if self._ws:
            return f"books over WebSocket; REST at ccxt's pace ({allowed})"
        interval_ms = self.poll_interval_s * 1000.0
        if limit_ms <= 0:
            return f"polling 1 call per {interval_ms:g} ms; the venue states no limit"
        return f"polling 1 call per {interval_ms:g} ms: {limit_ms / interval_ms:.0%} of the venue's {allowed}"

    # -- markets and books -----------------------------------------------------------------------

    async def load_markets(self) -> dict[str, Market]:
        """Active spot markets by unified symbol, with real steps, minimums and taker fee."""
        with self._errors():
            raw = await self._exchange.load_markets()
        account_fees: Mapping[str, Any] = {}
        if self._taker_fee is None and self._credentials is not None and self._exchange.has.get("fetchTradingFees"):
            try:
                with self._errors():
                    account_fees = await self._exchange.fetch_trading_fees()
            except ArbscanError as exc:
                log.warning("%s: account fees unavailable, using public fees: %s", self.name, exc)
        self._markets = spot_markets(self.name, raw, self._exchange.precisionMode, self._taker_fee, account_fees)
        return dict(self._markets)

    async def fetch_book(self, symbol: str, depth: int = 50) -> BookSnapshot:
        """One REST order book snapshot, ``depth`` levels a side."""
        # no limit is passed: venues accept different limit values; the book is cut locally
        with self._errors():
            raw = await self._exchange.fetch_order_book(symbol)
        return book_from_ccxt(self.name, symbol, raw, depth, self._wallclock(), self._markets.get(symbol))

    def watch_books(self, symbols: list[str]) -> AsyncIterator[BookSnapshot]:
        """Books for ``symbols``: ccxt.pro streams where the venue has them, else paced REST polling.

        A failing symbol is retried with backoff while the others go on. When every symbol has failed
        ``VENUE_DOWN_AFTER`` times in a row the venue is down: ``ExchangeUnavailable`` is raised so the
        caller can report it and retry; when every symbol is refused (``ConfigError``/``AuthError``)
        that error is raised. A book the book gate refuses is not yielded: ``on_untrue_book`` hears of it.
        """
        streams = BookStreams(self.name, symbols, clock=self._clock, sleep=self._sleep,
                              backoff_initial_s=self._backoff_initial_s, backoff_max_s=self._backoff_max_s,
                              on_untrue=lambda *untrue: self.on_untrue_book and self.on_untrue_book(*untrue))
        if self._ws:
            return streams.books(self._watched_book)
        return streams.books(self._polled_book, poll_interval_s=self.poll_interval_s)

    async def _watched_book(self, symbol: str) -> BookSnapshot:
        with self._errors():
            raw = await self._exchange.watch_order_book(symbol)
        return book_from_ccxt(self.name, symbol, raw, self.depth, self._wallclock(), self._markets.get(symbol))

    async def _polled_book(self, symbol: str) -> BookSnapshot:
        return await self.fetch_book(symbol, self.depth)

    # -- account and orders ----------------------------------------------------------------------

    async def fetch_balances(self) -> dict[str, Decimal]:
        """Free amount per asset (assets the venue lists with no free amount are left out)."""
        self._require_keys("fetch_balances")
        with self._errors():
            raw = await self._exchange.fetch_balance()
        out: dict[str, Decimal] = {}
        for asset, free in (raw.get("free") or {}).items():
            d = to_decimal(free, f"{self.name} balance {asset}")
            if d is not None:
                out[asset] = d
        return out

    async def place_order(self, req: OrderRequest) -> OrderUpdate:
        """Send one limit order (IOC by default) with our client id; never retried.

        A timeout, reset or 5xx while sending raises ``OrderOutcomeUnknown``: reconcile by client id.
        """
        self._require_keys("place_order")
        if req.exchange != self.name:
            raise ConfigError(f"order {req.client_id} is for {req.exchange!r}, not {self.name!r}")
        check_order(self.name, req, self._markets.get(req.symbol))
        params = order_params(self.name, req, self._exchange.features)
        # amounts and prices go to ccxt as strings: no binary float between our Decimal and the wire
        try:
            with self._errors(sending_order=True):
                raw = await self._exchange.create_order(
                    req.symbol, "limit", req.side.value, str(req.amount), str(req.limit_price), params
                )
        except ArbscanError:
            raise
        except (asyncio.TimeoutError, OSError) as exc:  # transport failures ccxt did not wrap
            cause = describe_failure(exc, timeout_s=self._exchange.timeout / 1000.0) or type(exc).__name__
            raise OrderOutcomeUnknown(f"{self.name} order {req.client_id}: {cause}") from None
        update = order_update_from_ccxt(self.name, req.client_id, req.symbol, raw)
        if update.exchange_order_id:
            self._order_ids[req.client_id] = update.exchange_order_id
        return update

    async def fetch_order(self, symbol: str, client_id: str) -> OrderUpdate:
        """The venue's view of our order; ``OrderNotFound`` when the venue has none with this client id."""
        self._require_keys("fetch_order")
        return order_update_from_ccxt(self.name, client_id, symbol, await self._lookup.find(symbol, client_id))

    async def cancel_order(self, symbol: str, client_id: str) -> OrderUpdate:
        """Cancel our order and return its state after the cancel."""
        self._require_keys("cancel_order")
        order_id = self._order_ids.get(client_id)
        if order_id is None:
            order_id = str((await self._lookup.find(symbol, client_id))["id"])
        with self._errors():
            raw = await self._exchange.cancel_order(order_id, symbol)
        if not raw or raw.get("status") is None:
            # many venues answer a cancel with the id only: ask for the resulting state
            raw = await self._lookup.find(symbol, client_id)
        return order_update_from_ccxt(self.name, client_id, symbol, raw)

    async def api_key_permissions(self) -> list[str] | None:
        """What the key may do, where the venue reports it (see ``KEY_PERMISSION_PROBES``); None when it cannot.

        Names are the venue's own, except that a permission to move funds off the venue is named
        ``withdraw (<venue field>)`` so the live executor refuses it.
        """
        if self.name not in KEY_PERMISSION_PROBES:
            return None
        self._require_keys("api_key_permissions")
        return await read_key_permissions(self._exchange, self.name, self._errors)

    async def fetch_funding(self, assets: list[str]) -> list[AssetFunding]:
        """Deposit/withdrawal switches, networks, fees and minimums of ``assets`` (see ``adapters.ccxt.funding``)."""
        return await fetch_funding(self._exchange, self.name, assets, self._credentials is not None, self._errors)

    async def open_orders(self, symbol: str) -> list[OrderUpdate]:
        """Our open orders on ``symbol`` (those with a client id); ``NotSupported`` when the venue cannot list them."""
        self._require_keys("open_orders")
        return our_orders(self.name, symbol, await self._lookup.listed("open", symbol))

    async def closed_orders(self, symbol: str) -> list[OrderUpdate]:
        """Our recently closed orders on ``symbol`` (those with a client id); ``NotSupported`` when it cannot list them."""
        self._require_keys("closed_orders")
        return our_orders(self.name, symbol, await self._lookup.listed("closed", symbol))

    async def close(self) -> None:
        """Close ccxt's HTTP session and sockets; safe to call twice."""
        try:
            await self._exchange.close()
        except Exception as exc:  # noqa: BLE001 - closing must not raise
            log.debug("%s: error while closing: %s", self.name, type(exc).__name__)
