"""Kraken WebSocket v2 public client: instrument data, validated books, watchdog and reconnects.

https://docs.kraken.com/api/docs/websocket-v2/book and .../websocket-v2/instrument

One connection serves every requested symbol:

1. subscribe ``instrument`` and wait for its snapshot: each book's price and qty precision come from
   the stream, never from a table;
2. subscribe ``book`` at the configured depth (10 by default) for the symbols the instrument list has;
3. apply every book message to that symbol's :class:`KrakenBook` (CRC32 checked each time) and yield
   its ``BookSnapshot``. On a checksum mismatch the book is dropped, the symbol is unsubscribed and
   subscribed again, and nothing is published for it until a fresh snapshot validates;
4. a frame we cannot parse is logged and skipped;
5. no message at all for ``heartbeat_timeout_s`` (5 s; Kraken sends heartbeats every second) means the
   connection is dead: close it and reconnect with exponential backoff (jittered to 50-100 %) from
   ``backoff_initial_s`` (0.5 s) to ``backoff_max_s`` (60 s), reset after a good book subscribe. Every
   book is cleared on reconnect and waits for the new connection's snapshot. A resubscribed book that
   has no validated snapshot within ``resync_timeout_s`` (10 s) also forces a reconnect;
6. when ``unreachable_after`` (2) connection attempts in a row fail before the WebSocket opens (DNS,
   refused, TLS, timeout, an HTTP status instead of the upgrade), Kraken is unreachable:
   ``ExchangeUnavailable`` is raised naming the cause (``DNS lookup failed for ws.kraken.com``) and the
   caller retries. A ``ws_url`` that is not a WebSocket URL raises ``ConfigError`` at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from adapters.base import replace_origin
from adapters.kraken.book import KrakenBook
from adapters.network import describe_failure
from arbscan.errors import BookIntegrityError, ChecksumMismatch, ConfigError, ExchangeUnavailable, UnexpectedPayload
from arbscan.model import BookSnapshot

__all__ = [
    "KrakenWsClient",
    "DEFAULT_WS_URL",
    "BOOK_DEPTHS",
    "DEFAULT_HEARTBEAT_TIMEOUT_S",
    "DEFAULT_BACKOFF_INITIAL_S",
    "DEFAULT_BACKOFF_MAX_S",
    "DEFAULT_RESYNC_TIMEOUT_S",
    "DEFAULT_UNREACHABLE_AFTER",
    "backoff_delay",
]

log = logging.getLogger(__name__)

DEFAULT_WS_URL = "wss://ws.kraken.com/v2"
BOOK_DEPTHS = (10, 25, 100, 500, 1000)  # the depths Kraken's v2 book channel accepts
DEFAULT_HEARTBEAT_TIMEOUT_S = 5.0
DEFAULT_BACKOFF_INITIAL_S = 0.5
DEFAULT_BACKOFF_MAX_S = 60.0
DEFAULT_RESYNC_TIMEOUT_S = 10.0  # a resubscribed book must validate a fresh snapshot within this
DEFAULT_UNREACHABLE_AFTER = 2  # failed connection attempts in a row after which books() raises


def backoff_delay(attempt: int, initial_s: float, max_s: float, rng: Callable[[], float] = random.random) -> float:
    """Delay before reconnect ``attempt`` (0-based): exponential from ``initial_s``, capped at ``max_s``, jittered to 50-100 %."""
    base = min(max_s, initial_s * (2 ** min(attempt, 32)))
    return base * (0.5 + 0.5 * rng())


class _Dead(Exception):
    """The connection went silent past the heartbeat timeout (internal)."""


class _Stuck(Exception):
    """A resubscribed book got no fresh snapshot in time: start over on a new connection (internal)."""


class KrakenWsClient:
    """Validated Kraken v2 books for a set of symbols, surviving disconnects, silence and bad checksums."""

    def __init__(
        self,
        ws_url: str | None = None,
        depth: int = 10,
        *,
        heartbeat_timeout_s: float = DEFAULT_HEARTBEAT_TIMEOUT_S,
        backoff_initial_s: float = DEFAULT_BACKOFF_INITIAL_S,
        backoff_max_s: float = DEFAULT_BACKOFF_MAX_S,
        open_timeout_s: float = 10.0,
        close_timeout_s: float = 1.0,
        resync_timeout_s: float = DEFAULT_RESYNC_TIMEOUT_S,
        unreachable_after: int = DEFAULT_UNREACHABLE_AFTER,
        rng: Callable[[], float] = random.random,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        if depth < 1:
            raise ConfigError(f"kraken book depth must be positive, got {depth}")
        if depth not in BOOK_DEPTHS:
            # Kraken only streams these depths, and its checksums only hold for the depth subscribed:
            # take the next one up (the caller trims), or the deepest Kraken has.
            rounded = next((d for d in BOOK_DEPTHS if d >= depth), BOOK_DEPTHS[-1])
            log.info("kraken ws: book depth %d is not one Kraken streams; subscribing %d", depth, rounded)
            depth = rounded
        # An override replaces scheme, host and port and keeps Kraken's path (/v2), per the contract.
        self.url = replace_origin(DEFAULT_WS_URL, ws_url)
        self.depth = depth
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.open_timeout_s = open_timeout_s
        self.close_timeout_s = close_timeout_s
        self.resync_timeout_s = resync_timeout_s
        self.unreachable_after = unreachable_after
        self._rng = rng
        self._sleep = sleep
        self.connections = 0  # connections opened so far (for status and tests)
        self.resubscribes = 0  # book resubscriptions after a checksum mismatch
        self._req_id = 0

    async def books(self, symbols: list[str]) -> AsyncIterator[BookSnapshot]:
        """Yield a ``BookSnapshot`` after every validated book message of any of ``symbols``, forever."""
        wanted = list(dict.fromkeys(symbols))
        attempt = 0
        failed_opens = 0  # connection attempts in a row that failed before the WebSocket opened
        while True:
            session: _Session | None = None
            try:
                async with connect(
                    self.url,
                    open_timeout=self.open_timeout_s,
                    ping_interval=None,  # Kraken's heartbeats are the liveness signal
                    max_size=2**24,
                    compression=None,
                    # A connection we leave is abandoned: do not wait 10 s for a close handshake
                    # queued behind frames nobody will read.
                    close_timeout=self.close_timeout_s,
                ) as ws:
                    self.connections += 1
                    log.info("kraken ws: connected to %s", self.url)
                    session = _Session(self, ws, wanted)
                    async for snap in session.run():
                        yield snap
            except _Dead:
                log.warning("kraken ws: no message for %.1f s; reconnecting", self.heartbeat_timeout_s)
            except _Stuck as exc:
                log.warning("kraken ws: %s got no fresh snapshot within %.1f s of resubscribing; reconnecting", exc, self.resync_timeout_s)
            except ConnectionClosed as exc:
                log.warning("kraken ws: connection closed (%s); reconnecting", exc)
            except InvalidURI:
                raise ConfigError(f"kraken ws_url: {self.url!r} is not a WebSocket URL") from None
            except (OSError, asyncio.TimeoutError, InvalidHandshake) as exc:
                cause = describe_failure(exc, url=self.url, timeout_s=self.open_timeout_s) or f"{exc.__class__.__name__}: {exc}"
                if session is None:
                    failed_opens += 1
                    if failed_opens >= self.unreachable_after:
                        raise ExchangeUnavailable(cause) from None
                log.warning("kraken ws: cannot connect (%s)", cause)
            if session is not None:
                failed_opens = 0
            if session is not None and session.subscribed:
                attempt = 0  # the last connection got as far as a good book subscribe
            delay = backoff_delay(attempt, self.backoff_initial_s, self.backoff_max_s, self._rng)
            attempt += 1
            log.info("kraken ws: reconnect attempt %d in %.2f s", attempt, delay)
            await self._sleep(delay)

    def next_req_id(self) -> int:
        """A fresh request id for subscribe/unsubscribe messages."""
        self._req_id += 1
        return self._req_id


class _Session:
    """One connection's state: instruments, books, pending resubscriptions."""

    def __init__(self, client: KrakenWsClient, ws: Any, symbols: list[str]) -> None:
        self.client = client
        self.ws = ws
        self.symbols = symbols
        self.books: dict[str, KrakenBook] = {}
        self.subscribed = False
        self._book_subscribe_sent = False
        self.resyncing: dict[str, float] = {}  # symbol -> loop time of its resubscribe

    async def _send(self, message: dict[str, Any]) -> None:
        message["req_id"] = self.client.next_req_id()
        await self.ws.send(orjson.dumps(message).decode())

    async def _subscribe_books(self, symbols: list[str]) -> None:
        await self._send(
            {"method": "subscribe", "params": {"channel": "book", "symbol": symbols, "depth": self.client.depth, "snapshot": True}}
        )

    async def _resubscribe(self, symbol: str) -> None:
        self.client.resubscribes += 1
        self.resyncing[symbol] = asyncio.get_running_loop().time()
        await self._send({"method": "unsubscribe", "params": {"channel": "book", "symbol": [symbol], "depth": self.client.depth}})
        await self._subscribe_books([symbol])

    async def run(self) -> AsyncIterator[BookSnapshot]:
        """Subscribe, then yield snapshots until the connection dies (raises ``_Dead`` or ``ConnectionClosed``)."""
        await self._send({"method": "subscribe", "params": {"channel": "instrument", "snapshot": True}})
        timeout = self.client.heartbeat_timeout_s
        while True:
            try:
                frame = await asyncio.wait_for(self.ws.recv(), timeout)
            except asyncio.TimeoutError:
                raise _Dead from None
            if self.resyncing:
                now = asyncio.get_running_loop().time()
                for symbol, since in self.resyncing.items():
                    if now - since > self.client.resync_timeout_s:
                        raise _Stuck(symbol)
            try:
                message = orjson.loads(frame)
                if not isinstance(message, dict):
                    raise UnexpectedPayload("frame is not a JSON object")
                channel = message.get("channel")
                if channel == "book":
                    for snap in await self._on_book(message, frame):
                        yield snap
                elif channel == "instrument":
                    await self._on_instrument(message)
                elif "method" in message:
                    self._on_ack(message)
                elif channel in ("heartbeat", "status"):
                    pass
                else:
                    log.debug("kraken ws: ignoring channel %r", channel)
            except (orjson.JSONDecodeError, UnexpectedPayload, KeyError, TypeError, ValueError) as exc:
                log.warning("kraken ws: skipping malformed frame (%s): %.200r", exc.__class__.__name__, frame)

    def _on_ack(self, message: dict[str, Any]) -> None:
        result = message.get("result") or {}
        if message.get("success") is False:
            log.error("kraken ws: %s failed: %s", message.get("method"), message.get("error"))
        elif message.get("method") == "subscribe" and result.get("channel") == "book":
            self.subscribed = True
            log.info("kraken ws: subscribed book %s depth %s", result.get("symbol"), result.get("depth"))

    async def _on_instrument(self, message: dict[str, Any]) -> None:
        data = message["data"]
        pairs = data["pairs"] if isinstance(data, dict) else []
        changed: list[str] = []
        for pair in pairs:
            symbol = pair.get("symbol")
            if symbol not in self.symbols:
                continue
            pp, qp = int(pair["price_precision"]), int(pair["qty_precision"])
            book = self.books.get(symbol)
            if book is None or (book.price_precision, book.qty_precision) != (pp, qp):
                self.books[symbol] = KrakenBook(symbol, self.client.depth, pp, qp)
                if book is not None:
                    changed.append(symbol)
        if not self._book_subscribe_sent and message.get("type") == "snapshot":
            missing = [s for s in self.symbols if s not in self.books]
            if missing:
                log.error("kraken ws: not in Kraken's instrument list, not watched: %s", ", ".join(missing))
            ready = [s for s in self.symbols if s in self.books]
            if ready:
                await self._subscribe_books(ready)
                self._book_subscribe_sent = True
        for symbol in changed:  # precision changed: the old book cannot be checked any more
            log.warning("kraken ws: %s precision changed; resubscribing", symbol)
            await self._resubscribe(symbol)

    async def _on_book(self, message: dict[str, Any], frame: str | bytes) -> list[BookSnapshot]:
        if message["type"] not in ("snapshot", "update"):
            raise UnexpectedPayload(f"book message type {message['type']!r}")
        out = []
        # Each book takes the whole message and picks its own entries (Kraken sends one symbol per
        # message in practice); the raw frame lets it re-read numbers too large for an exact float.
        for symbol in dict.fromkeys(entry["symbol"] for entry in message["data"]):
            book = self.books.get(symbol)
            if book is None:
                continue
            try:
                book.apply(message, frame)
            except ChecksumMismatch as exc:
                log.warning("kraken ws: %s; dropping the book and resubscribing", exc)
                book.clear()
                await self._resubscribe(symbol)
                continue
            except BookIntegrityError:
                continue  # an update for a book waiting for its snapshot: ignore it
            except UnexpectedPayload as exc:
                log.warning("kraken ws: skipping malformed book message: %s", exc)
                continue
            self.resyncing.pop(symbol, None)
            out.append(book.snapshot())
        return out
