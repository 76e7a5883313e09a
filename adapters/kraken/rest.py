"""Raw Kraken Spot REST client: one method per Kraken endpoint, returning the decoded ``result``.

Kraken sends most numbers as strings, which stay strings here; JSON numbers decode as ``Decimal``,
never float. The adapter turns both into ``Decimal`` at its edge.

https://docs.kraken.com/api/docs/rest-api/

* Public calls are paced with ``asyncio-throttle`` (Kraken limits public calls per IP, about one a
  second).
* Private calls go through Kraken's documented per-key call counter
  (https://docs.kraken.com/api/docs/guides/spot-rest-ratelimits): every call adds 1, ledger and
  trade-history calls add 2, the counter decays per second by tier (starter 15 max / 0.33 s^-1,
  intermediate 20 / 0.5, pro 20 / 1) and we wait instead of exceeding it. ``AddOrder`` and
  ``CancelOrder`` are on the matching engine's separate per-pair limiter, not this counter.
* Each private call takes the key's nonce, signs and sends while holding the key's lock
  (``auth.key_lock``), so nonces reach Kraken strictly increasing.
* ``EAPI:Rate limit exceeded``, ``EService:Throttled``, 5xx and network errors are retried with
  exponential backoff and jitter, except ``AddOrder``: it is never retried, and an outcome we cannot
  know (timeout, reset, 5xx, an unreadable answer) raises ``OrderOutcomeUnknown``.
* Every Kraken error string goes through ``adapters.kraken.errors.map_error`` (one table); a transport
  failure or HTTP error status reads as its cause alone, in ``adapters.network``'s words
  (``DNS lookup failed for api.kraken.com``, ``HTTP 503 Service Unavailable from https://...``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from asyncio_throttle import Throttler

from adapters.base import Credentials, replace_origin
from adapters.kraken.auth import key_lock, nonce_source, sign
from adapters.kraken.errors import map_error
from adapters.kraken.ratelimit import TIERS, CallCounter, counter_for
from adapters.kraken.rest_funding import FundingEndpoints
from adapters.network import describe_failure, http_status, public_url
from arbscan.errors import (
    ArbscanError,
    AuthError,
    ExchangeUnavailable,
    OrderOutcomeUnknown,
    RateLimited,
    TemporaryError,
    UnexpectedPayload,
)

__all__ = [
    "KrakenRestClient",
    "CallCounter",
    "TIERS",
    "DEFAULT_REST_URL",
    "Transport",
    "NotSent",
    "aiohttp_transport",
]

log = logging.getLogger(__name__)

DEFAULT_REST_URL = "https://api.kraken.com"

# Ledger and trade-history calls cost 2 on the call counter; AddOrder/CancelOrder are not counted.
_COST = {"Ledgers": 2, "QueryLedgers": 2, "TradesHistory": 2, "QueryTrades": 2, "ClosedOrders": 2}
_TRADING = frozenset({"AddOrder", "CancelOrder"})

Transport = Callable[[str, str, Mapping[str, str], bytes | None], Awaitable[tuple[int, str]]]
"""``(method, url, headers, body) -> (status, text)``; raise ``NotSent`` when nothing left this host."""


class NotSent(Exception):
    """The transport could not open a connection: the request certainly never reached the venue."""


class _NeverSent(ExchangeUnavailable):
    """The request provably did not reach Kraken's engine (no connection, or Kraken says unprocessed)."""


def aiohttp_transport(timeout_s: float = 10.0) -> tuple[Transport, Callable[[], Awaitable[None]]]:
    """An aiohttp-backed transport and its close function (the session opens lazily)."""
    import aiohttp

    session: aiohttp.ClientSession | None = None

    async def transport(method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> tuple[int, str]:
        nonlocal session
        if session is None or session.closed:
            session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s))
        try:
            async with session.request(method, url, headers=dict(headers), data=body) as resp:
                return resp.status, await resp.text()
        except aiohttp.ClientConnectorError as exc:
            raise NotSent(str(exc)) from exc

    async def close() -> None:
        if session is not None and not session.closed:
            await session.close()

    return transport, close


def _decode(text: str, endpoint: str) -> Any:
    try:
        payload = json.loads(text, parse_float=Decimal)
    except ValueError:
        raise UnexpectedPayload(f"kraken {endpoint}: response is not JSON") from None
    if not isinstance(payload, dict) or "error" not in payload:
        raise UnexpectedPayload(f"kraken {endpoint}: response has no 'error' field")
    return payload


def _num(value: Decimal | int | str) -> str:
    """A number as Kraken wants it in a form body: plain digits, never exponent notation."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite number: {value}")
        return format(value, "f")
    if isinstance(value, float):  # money never travels as float
        raise TypeError("use Decimal, not float, for prices and amounts")
    return str(value)


class KrakenRestClient(FundingEndpoints):
    """Kraken REST endpoints by their Kraken names; each returns the decoded ``result`` (no floats).

    The funding endpoints (``withdraw_methods``, ``deposit_methods``, ...) are in ``adapters.kraken.rest_funding``.
    """

    def __init__(
        self,
        rest_url: str | None = None,
        credentials: Credentials | None = None,
        *,
        tier: str | None = "starter",
        public_calls_per_s: float = 1.0,
        transport: Transport | None = None,
        timeout_s: float = 10.0,
        max_retries: int = 4,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.base_url = replace_origin(DEFAULT_REST_URL, rest_url).rstrip("/")
        self._credentials = credentials
        if tier is not None and tier not in TIERS:
            raise ValueError(f"unknown Kraken tier {tier!r} (known: {', '.join(TIERS)})")
        self.counter = counter_for(credentials, tier) if tier else None
        self._throttler = Throttler(rate_limit=1, period=1.0 / public_calls_per_s)
        self.timeout_s = timeout_s
        if transport is None:
            transport, self._close = aiohttp_transport(timeout_s)
        else:
            self._close = None
        self._transport = transport
        self.max_retries = max_retries
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"KrakenRestClient(base_url={self.base_url!r}, keys={'yes' if self._credentials else 'no'})"

    @property
    def has_credentials(self) -> bool:
        """True when private endpoints can be called."""
        return self._credentials is not None

    async def close(self) -> None:
        """Close the HTTP session (safe to call twice)."""
        if self._close is not None:
            await self._close()

    # -- plumbing ------------------------------------------------------------------------------

    def _backoff(self, attempt: int, error: ArbscanError) -> float:
        delay = min(self.backoff_max_s, self.backoff_initial_s * 2**attempt)
        delay *= 0.5 + random.random() / 2
        if isinstance(error, RateLimited):
            delay = max(delay, error.retry_after)
        return delay

    @staticmethod
    def _result(payload: dict[str, Any], endpoint: str) -> Any:
        errors = [e for e in payload.get("error") or [] if not str(e).startswith("W")]
        if errors:
            raise map_error(errors, endpoint)
        if "result" not in payload:
            raise UnexpectedPayload(f"kraken {endpoint}: response has no result")
        return payload["result"]

    async def _send(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, endpoint: str) -> Any:
        try:
            status, text = await self._transport(method, url, headers, body)
        except Exception as exc:  # noqa: BLE001 - any transport failure (aiohttp.ClientError, ...) is a network fault
            # the cause alone (DNS, refused, TLS, timeout, ...): the caller names Kraken and the endpoint
            cause = describe_failure(exc, url=url, timeout_s=self.timeout_s)
            if isinstance(exc, NotSent):
                raise _NeverSent(cause or f"cannot connect to {public_url(url)}") from None
            raise ExchangeUnavailable(cause or f"{exc.__class__.__name__} from {public_url(url)}") from None
        if status == 429:
            raise RateLimited(http_status(status, url), retry_after=2.0)
        if status >= 500:
            raise ExchangeUnavailable(http_status(status, url))
        if status in (401, 403):
            raise AuthError(http_status(status, url))
        payload = _decode(text, endpoint)
        return self._result(payload, endpoint)

    async def _with_retries(self, endpoint: str, call: Callable[[], Awaitable[Any]]) -> Any:
        attempt = 0
        while True:
            try:
                return await call()
            except TemporaryError as exc:
                if isinstance(exc, RateLimited) and self.counter is not None and "EAPI:Rate limit" in str(exc):
                    self.counter.penalise()
                if attempt >= self.max_retries:
                    raise
                delay = self._backoff(attempt, exc)
                # map_error's messages already start "kraken <endpoint>: "; say it once
                log.warning("kraken %s: %s; retrying in %.2f s", endpoint, str(exc).removeprefix(f"kraken {endpoint}: "), delay)
                attempt += 1
                await self._sleep(delay)

    async def public(self, endpoint: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET ``/0/public/<endpoint>`` with pacing and retries; the decoded ``result``."""
        query = urlencode({k: _num(v) for k, v in (params or {}).items() if v is not None})
        url = f"{self.base_url}/0/public/{endpoint}" + (f"?{query}" if query else "")

        async def call() -> Any:
            async with self._throttler:
                return await self._send("GET", url, {}, None, endpoint)

        return await self._with_retries(endpoint, call)

    async def private(self, endpoint: str, params: Mapping[str, Any] | None = None) -> Any:
        """POST ``/0/private/<endpoint>`` signed, counted, serialised per key; the decoded ``result``.

        ``AddOrder`` is sent exactly once: ambiguous failures raise ``OrderOutcomeUnknown``.
        """
        if self._credentials is None:
            raise AuthError(f"kraken {endpoint}: needs KRAKEN_API_KEY and KRAKEN_API_SECRET")
        if endpoint == "AddOrder":
            return await self._add_order_once(params or {})
        return await self._with_retries(endpoint, lambda: self._signed(endpoint, params or {}))

    async def _signed(self, endpoint: str, params: Mapping[str, Any]) -> Any:
        creds = self._credentials
        assert creds is not None
        path = f"/0/private/{endpoint}"
        fields = {k: _num(v) if not isinstance(v, bool) else str(v).lower() for k, v in params.items() if v is not None}
        async with key_lock(creds.api_key):
            if self.counter is not None and endpoint not in _TRADING:
                await self.counter.acquire(_COST.get(endpoint, 1), self._sleep)
            nonce = nonce_source(creds.api_key).next()
            body = urlencode({"nonce": nonce, **fields})
            try:
                signature = sign(path, nonce, body, creds.api_secret)
            except ValueError:
                raise AuthError("KRAKEN_API_SECRET is not valid base64") from None
            headers = {
                "API-Key": creds.api_key,
                "API-Sign": signature,
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            }
            return await self._send("POST", self.base_url + path, headers, body.encode(), endpoint)

    async def _add_order_once(self, params: Mapping[str, Any]) -> Any:
        try:
            return await self._signed("AddOrder", params)
        except RateLimited:
            raise  # Kraken refused it before the engine saw it: nothing was placed
        except ExchangeUnavailable as exc:
            if isinstance(exc, _NeverSent) or "Deadline elapsed" in str(exc):
                raise  # never left this host / Kraken says it did not process it
            raise OrderOutcomeUnknown(f"{exc}; the order may or may not be on the book: reconcile by client id") from None
        except UnexpectedPayload as exc:
            raise OrderOutcomeUnknown(f"{exc}; reconcile by client id") from None

    # -- public endpoints ----------------------------------------------------------------------

    async def system_status(self) -> Any:
        """https://docs.kraken.com/api/docs/rest-api/get-system-status : ``{"status": "online", "timestamp": ...}``."""
        return await self.public("SystemStatus")

    async def assets(self, assets: list[str] | None = None) -> Any:
        """https://docs.kraken.com/api/docs/rest-api/get-asset-info : asset code -> {altname, decimals, ...}."""
        return await self.public("Assets", {"asset": ",".join(assets) if assets else None})

    async def asset_pairs(self, pairs: list[str] | None = None) -> Any:
        """https://docs.kraken.com/api/docs/rest-api/get-tradable-asset-pairs : pair name -> pair info."""
        return await self.public("AssetPairs", {"pair": ",".join(pairs) if pairs else None})

    async def depth(self, pair: str, count: int = 100) -> Any:
        """https://docs.kraken.com/api/docs/rest-api/get-order-book : pair name -> {asks, bids} of [price, volume, ts]."""
        return await self.public("Depth", {"pair": pair, "count": count})

    async def ticker(self, pairs: list[str]) -> Any:
        """https://docs.kraken.com/api/docs/rest-api/get-ticker-information : pair name -> ticker fields."""
        return await self.public("Ticker", {"pair": ",".join(pairs)})

    # -- private endpoints ---------------------------------------------------------------------

    async def balance(self) -> Any:
        """https://docs.kraken.com/api/docs/rest-api/get-account-balance : asset -> total balance."""
        return await self.private("Balance")

    async def balance_ex(self) -> Any:
        """https://docs.kraken.com/api/docs/rest-api/get-extended-balance : asset -> {balance, hold_trade, ...}."""
        return await self.private("BalanceEx")

    async def trade_volume(self, pairs: list[str] | None = None) -> Any:
        """https://docs.kraken.com/api/docs/rest-api/get-trade-volume : 30-day volume and the account's fee tier per pair."""
        return await self.private("TradeVolume", {"pair": ",".join(pairs) if pairs else None})

    async def add_order(
        self,
        pair: str,
        side: str,
        volume: Decimal,
        price: Decimal | None = None,
        *,
        ordertype: str = "limit",
        timeinforce: str | None = "IOC",
        cl_ord_id: str | None = None,
        validate: bool = False,
        oflags: str | None = None,
    ) -> Any:
        """https://docs.kraken.com/api/docs/rest-api/add-order : ``{"descr": ..., "txid": [...]}``; sent once, never retried."""
        if side not in ("buy", "sell"):
            raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")
        params: dict[str, Any] = {
            "ordertype": ordertype,
            "type": side,
            "volume": volume,
            "pair": pair,
            "price": price,
            "timeinforce": timeinforce,
            "cl_ord_id": cl_ord_id,
            "oflags": oflags,
        }
        if validate:
            params["validate"] = True
        return await self.private("AddOrder", params)

    async def cancel_order(self, txid: str | None = None, cl_ord_id: str | None = None) -> Any:
        """https://docs.kraken.com/api/docs/rest-api/cancel-order : ``{"count": n}`` by Kraken txid or our cl_ord_id."""
        if (txid is None) == (cl_ord_id is None):
            raise ValueError("give exactly one of txid and cl_ord_id")
        return await self.private("CancelOrder", {"txid": txid, "cl_ord_id": cl_ord_id})

    async def query_orders(self, txids: list[str], *, trades: bool = False) -> Any:
        """https://docs.kraken.com/api/docs/rest-api/get-orders-info : txid -> order info."""
        return await self.private("QueryOrders", {"txid": ",".join(txids), "trades": trades or None})

    async def open_orders(self, *, cl_ord_id: str | None = None, userref: int | None = None) -> Any:
        """https://docs.kraken.com/api/docs/rest-api/get-open-orders : ``{"open": {txid: order}}``."""
        return await self.private("OpenOrders", {"cl_ord_id": cl_ord_id, "userref": userref})

    async def closed_orders(
        self, *, cl_ord_id: str | None = None, userref: int | None = None, start: int | None = None
    ) -> Any:
        """https://docs.kraken.com/api/docs/rest-api/get-closed-orders : ``{"closed": {txid: order}, "count": n}``."""
        return await self.private("ClosedOrders", {"cl_ord_id": cl_ord_id, "userref": userref, "start": start})
