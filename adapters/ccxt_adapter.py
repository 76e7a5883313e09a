"""``CcxtAdapter``: any ccxt exchange id as an ``ExchangeAdapter`` (REST via ccxt, WebSocket via ccxt.pro).

What it does that a bare ccxt loop does not:

- markets carry the venue's real steps (whatever ccxt's precision mode), minimums and taker fee
  (the account's fee from ``fetch_trading_fees`` when keys are present, else the market's public fee,
  and a config override above both);
- numbers become ``Decimal`` without binary-float noise: ccxt hands out floats in its unified fields,
  and ``Decimal(repr(x))`` is the shortest text that round-trips, i.e. exactly the venue's text for any
  number of up to 15 significant digits (tests compare against the raw recorded strings);
- books come from ccxt.pro's ``watch_order_book`` where ``has['watchOrderBook']``, else from REST
  polling paced by one asyncio-throttle throttler per venue, shared round-robin by its symbols; a
  symbol whose stream fails is retried with backoff while the others go on;
- order creation is never retried; a transport failure while sending is ``OrderOutcomeUnknown``;
- every ccxt exception is translated by ``map_ccxt_errors`` with the API key and secret scrubbed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from asyncio_throttle import Throttler

from adapters.base import Credentials, load_credentials, replace_origin
from adapters.ccxt_errors import map_ccxt_errors
from arbscan.errors import (
    ArbscanError,
    AuthError,
    ConfigError,
    ExchangeUnavailable,
    OrderNotFound,
    OrderOutcomeUnknown,
    OrderRejected,
    RateLimited,
    UnexpectedPayload,
)
from arbscan.model import ZERO, BookSnapshot, Market, OrderRequest, OrderStatus, OrderUpdate

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
]

log = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL_MS = 1000
"""REST polling spacing per venue when none is configured (never below ccxt's ``rateLimit``)."""

# ccxt precision modes (ccxt.base.decimal_to_precision); repeated here so parsing needs no ccxt import
DECIMAL_PLACES = 2
"""ccxt precision mode: ``precision`` entries count decimal places."""
SIGNIFICANT_DIGITS = 3
"""ccxt precision mode: ``precision`` entries count significant digits (no fixed step)."""
TICK_SIZE = 4
"""ccxt precision mode: ``precision`` entries are the step itself."""

# arbscan scans spot markets only; venues whose market list spans other products by default are told
# to load spot only (binance would otherwise also call its futures exchangeInfo endpoints).
_DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    "binance": {"fetchMarkets": {"types": ["spot"]}},
    "binanceus": {"fetchMarkets": {"types": ["spot"]}},
}

_MAX_PLAUSIBLE_FEE = Decimal("0.05")

# Venues where ccxt passes ``timeInForce`` through unchanged and the venue wants its own field.
# Bitstamp: limit orders are IOC with ``ioc_order=True`` (https://www.bitstamp.net/api/#tag/Orders);
# an ignored ``timeInForce`` would leave a resting GTC order behind.
_TIME_IN_FORCE_PARAMS: dict[str, dict[str, dict[str, Any]]] = {
    "bitstamp": {"IOC": {"ioc_order": True}, "FOK": {"fok_order": True}, "GTC": {}},
}

# Venues whose ccxt ``fetch_order`` looks an order up by ``params["clientOrderId"]`` (read in each
# venue's fetch_order source: binance origClientOrderId, bitstamp client_order_id, coinbaseexchange
# client_oid). Elsewhere an order we did not place in this process is searched in the venue's lists.
_FETCH_BY_CLIENT_ID = frozenset({"binance", "binanceus", "bitstamp", "coinbaseexchange"})

_STATUS = {
    "open": OrderStatus.OPEN,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}


# -- pure conversions ----------------------------------------------------------------------------


def to_decimal(value: Any, what: str = "number") -> Decimal | None:
    """A ccxt number as ``Decimal``: strings and ints exactly, floats by their shortest round-trip text."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise UnexpectedPayload(f"{what}: expected a number, got a boolean")
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise UnexpectedPayload(f"{what}: not a finite number: {value!r}")
        d = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            raise UnexpectedPayload(f"{what}: not a number: {value[:40]!r}") from None
    else:
        raise UnexpectedPayload(f"{what}: expected a number, got {type(value).__name__}")
    if not d.is_finite():
        raise UnexpectedPayload(f"{what}: not a finite number: {value!r}")
    return d


def step_from_precision(value: Any, precision_mode: int, what: str = "precision") -> Decimal:
    """The step size for one ccxt ``precision`` entry: a tick size, or ``10**-n`` for ``n`` decimal places."""
    d = to_decimal(value, what)
    if d is None:
        raise UnexpectedPayload(f"{what}: missing")
    if precision_mode == TICK_SIZE:
        step = d
    elif precision_mode == DECIMAL_PLACES:
        if d != d.to_integral_value():
            raise UnexpectedPayload(f"{what}: {value!r} is not a whole number of decimal places")
        step = Decimal(1).scaleb(-int(d))
    elif precision_mode == SIGNIFICANT_DIGITS:
        # a number of significant digits has no fixed step: the step depends on the price
        raise UnexpectedPayload(f"{what}: significant-digits precision gives no fixed step")
    else:
        raise UnexpectedPayload(f"{what}: unknown ccxt precision mode {precision_mode!r}")
    if step <= 0:
        raise UnexpectedPayload(f"{what}: step must be positive, got {value!r}")
    return step


def _limit(market: Mapping[str, Any], kind: str) -> Decimal:
    limits = market.get("limits") or {}
    d = to_decimal((limits.get(kind) or {}).get("min"), f"limits.{kind}.min")
    return d if d is not None and d > 0 else ZERO


def market_from_ccxt(
    exchange: str,
    market: Mapping[str, Any],
    precision_mode: int,
    taker_fee: Decimal | None = None,
    account_fee: Mapping[str, Any] | None = None,
) -> Market:
    """One ccxt market dict as a ``Market``; fee from ``taker_fee`` (config) > ``account_fee`` > the market."""
    symbol = market.get("symbol")
    if not isinstance(symbol, str) or "/" not in symbol:
        raise UnexpectedPayload(f"{exchange}: market without a unified symbol: {symbol!r}")
    precision = market.get("precision") or {}
    amount_step = step_from_precision(precision.get("amount"), precision_mode, f"{exchange} {symbol} precision.amount")
    price_step = step_from_precision(precision.get("price"), precision_mode, f"{exchange} {symbol} precision.price")
    public_fee = to_decimal(market.get("taker"), f"{exchange} {symbol} taker fee")
    fee = taker_fee
    if fee is None and account_fee:
        fee = to_decimal(account_fee.get("taker"), f"{exchange} {symbol} account taker fee")
        if fee is not None and fee > (2 * public_fee if public_fee else _MAX_PLAUSIBLE_FEE):
            # ccxt 4.5 passes bitstamp's percent figures ("0.16000" = 0.16 %) through as fractions;
            # an account fee far above the venue's public base tier is a unit error, not a price
            log.warning("%s %s: account taker fee %s is implausible; using the public fee %s",
                        exchange, symbol, fee, public_fee)
            fee = None
    if fee is None:
        fee = public_fee
    if fee is None:
        raise UnexpectedPayload(f"{exchange} {symbol}: the venue publishes no taker fee; set taker_fee in its config")
    if not ZERO <= fee < 1:
        raise UnexpectedPayload(f"{exchange} {symbol}: taker fee {fee} is not a fraction")
    return Market(
        exchange=exchange,
        symbol=symbol,
        base=str(market.get("base") or symbol.split("/")[0]),
        quote=str(market.get("quote") or symbol.split("/")[1].split(":")[0]),
        taker_fee=fee,
        amount_step=amount_step,
        price_step=price_step,
        min_amount=_limit(market, "amount"),
        min_cost=_limit(market, "cost"),
    )


def _levels(raw: Any, depth: int, what: str, descending: bool) -> tuple[tuple[Decimal, Decimal], ...]:
    if not isinstance(raw, list):
        raise UnexpectedPayload(f"{what}: expected a list of levels")
    out: list[tuple[Decimal, Decimal]] = []
    for level in raw:
        if not isinstance(level, (list, tuple)) or len(level) < 2:
            raise UnexpectedPayload(f"{what}: malformed level {level!r}")
        price = to_decimal(level[0], f"{what} price")
        amount = to_decimal(level[1], f"{what} amount")
        if price is None or amount is None:
            raise UnexpectedPayload(f"{what}: malformed level {level!r}")
        if amount > 0:  # a zero amount is a deleted level some venues still list
            out.append((price, amount))
    out.sort(key=lambda lv: lv[0], reverse=descending)
    return tuple(out[:depth])


def book_from_ccxt(exchange: str, symbol: str, book: Mapping[str, Any], depth: int, received: float) -> BookSnapshot:
    """A ccxt order book as a validated ``BookSnapshot``; ``ts`` is venue time, else ``received``."""
    what = f"{exchange} {symbol}"
    bids = _levels(book.get("bids"), depth, f"{what} bids", True)
    asks = _levels(book.get("asks"), depth, f"{what} asks", False)
    ts_ms = book.get("timestamp")
    ts = float(ts_ms) / 1000.0 if isinstance(ts_ms, (int, float)) and not isinstance(ts_ms, bool) else received
    try:
        return BookSnapshot(exchange, symbol, bids, asks, ts, received)
    except (TypeError, ValueError) as exc:
        raise UnexpectedPayload(f"{what}: invalid book: {exc}") from None


def _fee_total(order: Mapping[str, Any], what: str) -> Decimal:
    fees = order.get("fees")
    if not fees:
        fees = [order["fee"]] if order.get("fee") else []
    total = ZERO
    for fee in fees:
        cost = to_decimal((fee or {}).get("cost"), f"{what} fee")
        if cost is not None:
            total += cost
    return total


def order_update_from_ccxt(exchange: str, client_id: str, symbol: str, order: Mapping[str, Any]) -> OrderUpdate:
    """A ccxt order dict as an ``OrderUpdate`` (fees summed as the venue reports them)."""
    what = f"{exchange} order {client_id}"
    raw_status = order.get("status")
    filled = to_decimal(order.get("filled"), f"{what} filled") or ZERO
    amount = to_decimal(order.get("amount"), f"{what} amount")
    if raw_status is None:
        # the venue acknowledged without a state (e.g. a bare order id): it exists, state unknown yet
        status = OrderStatus.SUBMITTED
    else:
        status = _STATUS.get(str(raw_status).lower())
        if status is None:
            raise UnexpectedPayload(f"{what}: unknown order status {raw_status!r}")
    if status is OrderStatus.OPEN and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    if status is OrderStatus.FILLED and amount is not None and filled < amount:
        # ccxt reports "closed" for an IOC that filled partly on some venues: it is finished, not full
        status = OrderStatus.CANCELED
    avg = to_decimal(order.get("average"), f"{what} average")
    if avg is None and filled > 0:
        cost = to_decimal(order.get("cost"), f"{what} cost")
        avg = cost / filled if cost is not None else None
    order_id = order.get("id")
    return OrderUpdate(
        client_id=client_id,
        exchange=exchange,
        symbol=order.get("symbol") or symbol,
        status=status,
        filled=filled,
        avg_price=avg if filled > 0 else None,
        fee=_fee_total(order, what),
        exchange_order_id=str(order_id) if order_id not in (None, "") else None,
    )


def rewrite_urls(urls: Any, rest_url: str | None, ws_url: str | None) -> Any:
    """A copy of ccxt's ``urls['api']`` tree with every http(s) URL moved to ``rest_url`` and ws(s) to ``ws_url``."""
    if isinstance(urls, dict):
        return {k: rewrite_urls(v, rest_url, ws_url) for k, v in urls.items()}
    if isinstance(urls, list):
        return [rewrite_urls(v, rest_url, ws_url) for v in urls]
    if isinstance(urls, str):
        lower = urls.lower()
        if lower.startswith(("ws://", "wss://")):
            return replace_origin(urls, ws_url)
        if lower.startswith(("http://", "https://")):
            return replace_origin(urls, rest_url)
    return urls


class PacedThrottler(Throttler):
    """asyncio-throttle's ``Throttler`` with an injectable clock and sleep (tests pin time with them)."""

    def __init__(
        self,
        rate_limit: int,
        period: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        retry_interval: float = 0.01,
    ) -> None:
        super().__init__(rate_limit, period=period, retry_interval=retry_interval)
        self._clock = clock
        self._sleep = sleep

    def flush(self) -> None:
        """Forget requests that left the window."""
        now = self._clock()
        while self._task_logs and now - self._task_logs[0] >= self.period:
            self._task_logs.popleft()

    async def acquire(self) -> None:
        """Wait until one more request fits in the window, then count it."""
        while True:
            self.flush()
            if len(self._task_logs) < self.rate_limit:
                break
            # sleep until the oldest request leaves the window rather than spinning
            wait = self.period - (self._clock() - self._task_logs[0])
            await self._sleep(max(wait, self.retry_interval))
        self._task_logs.append(self._clock())


VENUE_DOWN_AFTER = 2
"""Consecutive failures of every symbol after which ``watch_books`` reports the venue down."""


class _StreamState:
    """What the book workers of one ``watch_books`` call share: the queue and failure counts."""

    def __init__(self, symbols: list[str]) -> None:
        self.active = symbols
        self.failures = dict.fromkeys(symbols, 0)
        self.queue: asyncio.Queue[BookSnapshot | BaseException] = asyncio.Queue(maxsize=1000)

    def deliver(self, symbol: str, snapshot: BookSnapshot) -> None:
        self.failures[symbol] = 0
        if self.queue.full():  # a slow consumer loses the oldest book, never the newest
            self.queue.get_nowait()
        self.queue.put_nowait(snapshot)

    def fail(self, exc: BaseException) -> None:
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(exc)


def _binance_permissions(raw: dict[str, Any]) -> list[str]:
    # https://developers.binance.com/docs/wallet/account/api-key-permission
    # {"enableReading": true, "enableSpotAndMarginTrading": true, "enableWithdrawals": false, ...}
    out = []
    for key, value in raw.items():
        if value is True and (key.startswith("enable") or key.startswith("permits")):
            out.append("withdraw (enableWithdrawals)" if key == "enableWithdrawals" else key)
    return sorted(out)


def _coinbase_permissions(raw: dict[str, Any]) -> list[str]:
    # https://docs.cdp.coinbase.com/advanced-trade/reference/retailbrokerageapi_getapikeypermissions
    # {"can_view": true, "can_trade": true, "can_transfer": false, "portfolio_uuid": "...", ...}
    # can_transfer lets the key send funds off Coinbase: a withdrawal.
    out = []
    for key in ("can_view", "can_trade", "can_transfer"):
        if raw.get(key) is True:
            out.append("withdraw (can_transfer)" if key == "can_transfer" else key)
    return out


KEY_PERMISSION_PROBES: dict[str, tuple[str, Callable[[dict[str, Any]], list[str]]]] = {
    "binance": ("sapiGetAccountApiRestrictions", _binance_permissions),
    "coinbase": ("v3PrivateGetBrokerageKeyPermissions", _coinbase_permissions),
}
"""Venues whose API reports what a key may do: ccxt's implicit method and how to read its answer."""


class CcxtAdapter:
    """An ``ExchangeAdapter`` for any ccxt exchange id (see the module docstring for what it adds)."""

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
        import ccxt.pro as ccxt_pro

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
        self._order_ids: dict[str, str] = {}  # client id -> venue order id, for orders we placed

        cls = getattr(ccxt_pro, exchange_id) if exchange_id in ccxt_pro.exchanges else getattr(ccxt_async, exchange_id)
        merged_options = {**_DEFAULT_OPTIONS.get(exchange_id, {}), **dict(options or {})}
        merged_options.setdefault("maxRetriesOnFailure", 0)  # ccxt's default too; orders force 0 below
        config: dict[str, Any] = {"enableRateLimit": True, "options": merged_options}
        if self._credentials is not None:
            config["apiKey"] = self._credentials.api_key
            config["secret"] = self._credentials.api_secret
            if self._credentials.password:
                config["password"] = self._credentials.password
        self._exchange = cls(config)
        if rest_url or ws_url:
            self._exchange.urls["api"] = rewrite_urls(self._exchange.urls.get("api"), rest_url, ws_url)
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
        retry_after = max(1.0, float(self._exchange.rateLimit or 0) / 1000.0)
        return map_ccxt_errors(sending_order=sending_order, secrets=self._secrets(), retry_after=retry_after)

    def _require_keys(self, what: str) -> None:
        if self._credentials is None:
            prefix = self.name.upper().replace("-", "_")
            raise AuthError(f"{self.name}: {what} needs {prefix}_API_KEY and {prefix}_API_SECRET")

    @property
    def uses_websocket(self) -> bool:
        """True when books come from ccxt.pro's ``watch_order_book``, False when REST is polled."""
        return self._ws

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
        markets: dict[str, Market] = {}
        mode = self._exchange.precisionMode
        for symbol, m in raw.items():
            if not m.get("spot") or m.get("active") is False:
                continue
            try:
                markets[symbol] = market_from_ccxt(self.name, m, mode, self._taker_fee, account_fees.get(symbol))
            except UnexpectedPayload as exc:
                log.warning("%s: skipping market %s: %s", self.name, symbol, exc)
        self._markets = markets
        return dict(markets)

    async def fetch_book(self, symbol: str, depth: int = 50) -> BookSnapshot:
        """One REST order book snapshot, ``depth`` levels a side."""
        # no limit is passed: venues accept different limit values; the book is cut locally
        with self._errors():
            raw = await self._exchange.fetch_order_book(symbol)
        return book_from_ccxt(self.name, symbol, raw, depth, self._wallclock())

    async def watch_books(self, symbols: list[str]) -> AsyncIterator[BookSnapshot]:
        """Books for ``symbols``: ccxt.pro streams where the venue has them, else paced REST polling.

        A failing symbol is retried with backoff while the others go on. When every symbol has failed
        ``VENUE_DOWN_AFTER`` times in a row the venue is down: ``ExchangeUnavailable`` is raised so the
        caller can report it and retry; when every symbol is refused (``ConfigError``/``AuthError``)
        that error is raised.
        """
        state = _StreamState(list(dict.fromkeys(symbols)))
        if self._ws:
            tasks = [asyncio.create_task(self._watch_one(s, state), name=f"{self.name}:{s}") for s in state.active]
        else:
            tasks = [asyncio.create_task(self._poll(state), name=f"{self.name}:poll")]
        try:
            while True:
                item = await state.queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _backoff(self, failures: int, exc: BaseException) -> float:
        delay = min(self._backoff_max_s, self._backoff_initial_s * 2 ** max(failures - 1, 0))
        if isinstance(exc, RateLimited):
            delay = max(delay, exc.retry_after)
        return delay

    def _failed(self, state: _StreamState, symbol: str, exc: BaseException) -> float:
        """Count one failure of ``symbol``; returns its backoff, or raises into the stream when the venue is down."""
        state.failures[symbol] += 1
        if all(state.failures[s] >= VENUE_DOWN_AFTER for s in state.active):
            state.fail(ExchangeUnavailable(f"{self.name}: every book stream is failing ({exc})"))
        delay = self._backoff(state.failures[symbol], exc)
        log.warning("%s %s: books failed (%s), retry %d in %.1f s", self.name, symbol, exc, state.failures[symbol], delay)
        return delay

    def _refused(self, state: _StreamState, symbol: str, exc: ArbscanError) -> None:
        log.error("%s %s: books stopped: %s", self.name, symbol, exc)
        state.active.remove(symbol)
        if not state.active:
            state.fail(exc)

    async def _watch_one(self, symbol: str, state: _StreamState) -> None:
        while True:
            try:
                with self._errors():
                    raw = await self._exchange.watch_order_book(symbol)
                snapshot = book_from_ccxt(self.name, symbol, raw, self.depth, self._wallclock())
            except asyncio.CancelledError:
                raise
            except UnexpectedPayload as exc:
                log.warning("%s %s: skipping book: %s", self.name, symbol, exc)
                continue
            except (ConfigError, AuthError) as exc:
                self._refused(state, symbol, exc)
                return
            except Exception as exc:  # noqa: BLE001 - one failing symbol must not stop the others
                await self._sleep(self._failed(state, symbol, exc))
                continue
            state.deliver(symbol, snapshot)

    async def _poll(self, state: _StreamState) -> None:
        # one throttler for the venue: one request per interval, symbols taken round-robin
        throttler = PacedThrottler(1, self.poll_interval_s, clock=self._clock, sleep=self._sleep)
        not_before = dict.fromkeys(state.active, float("-inf"))
        while state.active:
            due = [s for s in state.active if self._clock() >= not_before[s]]
            if not due:
                await self._sleep(max(min(not_before[s] for s in state.active) - self._clock(), 0.0))
                continue
            for symbol in due:
                async with throttler:
                    try:
                        snapshot = await self.fetch_book(symbol, self.depth)
                    except asyncio.CancelledError:
                        raise
                    except UnexpectedPayload as exc:
                        log.warning("%s %s: skipping book: %s", self.name, symbol, exc)
                        continue
                    except (ConfigError, AuthError) as exc:
                        self._refused(state, symbol, exc)
                        continue
                    except Exception as exc:  # noqa: BLE001 - one failing symbol must not stop the others
                        not_before[symbol] = self._clock() + self._failed(state, symbol, exc)
                        continue
                state.deliver(symbol, snapshot)

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
        self._preflight(req)
        tif = req.time_in_force.upper()
        supported = ((self._exchange.features or {}).get("spot") or {}).get("createOrder") or {}
        if supported.get("timeInForce") and not supported["timeInForce"].get(tif):
            raise OrderRejected(f"{self.name}: time in force {tif} is not supported")
        # amounts and prices go to ccxt as strings: no binary float between our Decimal and the wire
        venue_tif = _TIME_IN_FORCE_PARAMS.get(self.name)
        if venue_tif is not None and tif not in venue_tif:
            raise OrderRejected(f"{self.name}: time in force {tif} is not supported")
        tif_params = venue_tif[tif] if venue_tif is not None else {"timeInForce": tif}
        # maxRetriesOnFailure=0: ccxt must not resend this request whatever its options say
        params = {**tif_params, "clientOrderId": req.client_id, "maxRetriesOnFailure": 0}
        try:
            with self._errors(sending_order=True):
                raw = await self._exchange.create_order(
                    req.symbol, "limit", req.side.value, str(req.amount), str(req.limit_price), params
                )
        except ArbscanError:
            raise
        except (asyncio.TimeoutError, OSError) as exc:  # transport failures ccxt did not wrap
            raise OrderOutcomeUnknown(f"{self.name} order {req.client_id}: {type(exc).__name__}") from None
        update = order_update_from_ccxt(self.name, req.client_id, req.symbol, raw)
        if update.exchange_order_id:
            self._order_ids[req.client_id] = update.exchange_order_id
        return update

    def _preflight(self, req: OrderRequest) -> None:
        """Refuse, before sending, an order the venue would reject or ccxt would silently round.

        ccxt truncates amounts and rounds prices to the market's precision; a rounded-up buy limit would
        pay more than asked, so an amount or price off the venue's step is refused here instead.
        """
        market = self._markets.get(req.symbol)
        if market is None:
            return  # markets not loaded through us: ccxt and the venue still check
        what = f"{self.name} order {req.client_id} {req.symbol}"
        if req.amount % market.amount_step != 0:
            raise OrderRejected(f"{what}: amount {req.amount} is not a multiple of the step {market.amount_step}")
        if req.limit_price % market.price_step != 0:
            raise OrderRejected(f"{what}: price {req.limit_price} is not a multiple of the tick {market.price_step}")
        if req.amount < market.min_amount:
            raise OrderRejected(f"{what}: amount {req.amount} is below the minimum {market.min_amount}")
        if req.amount * req.limit_price < market.min_cost:
            raise OrderRejected(
                f"{what}: notional {req.amount * req.limit_price} is below the minimum {market.min_cost} {market.quote}"
            )

    async def _find(self, symbol: str, client_id: str) -> Mapping[str, Any]:
        """The ccxt order for our client id: by the venue id we got back, by client id, else from the venue's lists.

        ``OrderNotFound`` only when the venue was asked everything it can answer; a venue that cannot
        list its finished orders gives ``OrderOutcomeUnknown`` instead (reconcile by hand, never resend).
        """
        ex = self._exchange
        order_id = self._order_ids.get(client_id)
        if order_id is not None:
            with self._errors():
                return await ex.fetch_order(order_id, symbol)
        if self.name in _FETCH_BY_CLIENT_ID:
            with self._errors():
                order = await ex.fetch_order(None, symbol, {"clientOrderId": client_id})
            if order.get("id"):
                self._order_ids[client_id] = str(order["id"])
            return order
        searched_closed = False
        for method, has in (("fetch_open_orders", "fetchOpenOrders"), ("fetch_closed_orders", "fetchClosedOrders")):
            if not ex.has.get(has):
                continue
            searched_closed |= method == "fetch_closed_orders"
            with self._errors():
                orders = await getattr(ex, method)(symbol)
            for order in orders:
                if order.get("clientOrderId") == client_id:
                    if order.get("id"):
                        self._order_ids[client_id] = str(order["id"])
                    return order
        if not searched_closed:
            raise OrderOutcomeUnknown(f"{self.name}: cannot look up client id {client_id} on {symbol}; check the venue")
        raise OrderNotFound(f"{self.name}: no order with client id {client_id} on {symbol}")

    async def fetch_order(self, symbol: str, client_id: str) -> OrderUpdate:
        """The venue's view of our order; ``OrderNotFound`` when the venue has none with this client id."""
        self._require_keys("fetch_order")
        return order_update_from_ccxt(self.name, client_id, symbol, await self._find(symbol, client_id))

    async def cancel_order(self, symbol: str, client_id: str) -> OrderUpdate:
        """Cancel our order and return its state after the cancel."""
        self._require_keys("cancel_order")
        order_id = self._order_ids.get(client_id)
        if order_id is None:
            order_id = str((await self._find(symbol, client_id))["id"])
        with self._errors():
            raw = await self._exchange.cancel_order(order_id, symbol)
        if not raw or raw.get("status") is None:
            # many venues answer a cancel with the id only: ask for the resulting state
            raw = await self._find(symbol, client_id)
        return order_update_from_ccxt(self.name, client_id, symbol, raw)

    async def api_key_permissions(self) -> list[str] | None:
        """What the key may do, where the venue reports it (see ``KEY_PERMISSION_PROBES``); None when it cannot.

        Names are the venue's own, except that a permission to move funds off the venue is named
        ``withdraw (<venue field>)`` so the live executor refuses it.
        """
        probe = KEY_PERMISSION_PROBES.get(self.name)
        if probe is None:
            return None
        self._require_keys("api_key_permissions")
        method, read = probe
        with self._errors():
            raw = await getattr(self._exchange, method)()
        if not isinstance(raw, dict):
            raise UnexpectedPayload(f"{self.name} key permissions: expected an object, got {type(raw).__name__}")
        return read(raw)

    async def open_orders(self, symbol: str) -> list[OrderUpdate]:
        """Our open orders on ``symbol`` (those with a client id), for reconciliation; [] if the venue cannot list."""
        return await self._orders("fetch_open_orders", "fetchOpenOrders", symbol)

    async def closed_orders(self, symbol: str) -> list[OrderUpdate]:
        """Our recently closed orders on ``symbol`` (those with a client id); [] if the venue cannot list."""
        return await self._orders("fetch_closed_orders", "fetchClosedOrders", symbol)

    async def _orders(self, method: str, has: str, symbol: str) -> list[OrderUpdate]:
        self._require_keys(method)
        if not self._exchange.has.get(has):
            # nothing to add: fetch_order already asked the venue directly, or said it cannot tell
            log.debug("%s: the venue cannot list orders (%s)", self.name, has)
            return []
        with self._errors():
            raw = await getattr(self._exchange, method)(symbol)
        out = []
        for order in raw:
            cid = order.get("clientOrderId")
            if not cid:
                continue
            try:
                out.append(order_update_from_ccxt(self.name, str(cid), symbol, order))
            except UnexpectedPayload as exc:
                log.warning("%s: skipping order %s: %s", self.name, cid, exc)
        return out

    async def close(self) -> None:
        """Close ccxt's HTTP session and sockets; safe to call twice."""
        try:
            await self._exchange.close()
        except Exception as exc:  # noqa: BLE001 - closing must not raise
            log.debug("%s: error while closing: %s", self.name, type(exc).__name__)
