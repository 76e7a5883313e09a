"""Books of one ccxt venue as a stream: ccxt.pro watches per symbol, or REST polled round-robin.

Both ways share one queue, one failure count per symbol and one failure classifier
(:func:`classify_failure`): a malformed book is skipped, an untrue one (``UntrueBook``) is reported in
its place in the stream to ``on_untrue``, a symbol the venue refuses stops alone, anything
else backs the symbol off (doubling from ``backoff_initial_s`` to ``backoff_max_s``), and when every
symbol has failed ``VENUE_DOWN_AFTER`` times in a row the venue is reported down to the consumer: the
last failure is raised, an ``ExchangeUnavailable`` or ``RateLimited`` whose message names the cause.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from asyncio_throttle import Throttler

from adapters.network import describe_failure
from arbscan.errors import (
    ArbscanError,
    AuthError,
    ConfigError,
    ExchangeUnavailable,
    RateLimited,
    TemporaryError,
    UnexpectedPayload,
    UntrueBook,
)
from arbscan.model import BookSnapshot

__all__ = ["BookStreams", "Failure", "PacedThrottler", "VENUE_DOWN_AFTER", "classify_failure"]

log = logging.getLogger(__name__)

VENUE_DOWN_AFTER = 2
"""Consecutive failures of every symbol after which ``watch_books`` reports the venue down."""

BookGetter = Callable[[str], Awaitable[BookSnapshot]]
"""One book of a symbol: the next watched update, or one REST snapshot."""


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


class Failure(enum.Enum):
    """What a failed book fetch means for its symbol."""

    SKIP = "skip"  # the venue sent a book we cannot use: log it, take the next one at once
    REFUSED = "refused"  # the venue refuses this symbol (unknown market, keys): stop it alone
    RETRY = "retry"  # anything else (network, venue down, rate limit): back off, then try again


def classify_failure(exc: BaseException) -> tuple[Failure, ArbscanError]:
    """The one classification of a failed book fetch, watched or polled, and the error to report for it.

    A failure to retry is reported as a ``TemporaryError``: translated ones as they are, anything else
    (a bare ``OSError`` or timeout from below ccxt, a bad checksum, a bug in a handler) as
    ``ExchangeUnavailable`` naming its cause.
    """
    if isinstance(exc, UnexpectedPayload):
        return Failure.SKIP, exc
    if isinstance(exc, (ConfigError, AuthError)):
        return Failure.REFUSED, exc
    if isinstance(exc, TemporaryError):
        return Failure.RETRY, exc
    return Failure.RETRY, ExchangeUnavailable(describe_failure(exc) or f"{type(exc).__name__}: {exc}")


class BookStreams:
    """The workers of one ``watch_books`` call: what they share (the queue, failure counts) and how they react."""

    def __init__(
        self,
        name: str,
        symbols: list[str],
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[Any]],
        backoff_initial_s: float,
        backoff_max_s: float,
        on_untrue: Callable[[str, float, str], None] | None = None,
    ) -> None:
        self.name = name
        self.on_untrue = on_untrue  # (symbol, ts, reason) of every book the gate refused, in stream order
        self.untrue: set[str] = set()  # symbols whose latest book was refused (logged once per spell)
        self.active = list(dict.fromkeys(symbols))
        self.failures = dict.fromkeys(self.active, 0)
        self.queue: asyncio.Queue[BookSnapshot | BaseException] = asyncio.Queue(maxsize=1000)
        self._clock = clock
        self._sleep = sleep
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s

    async def books(self, get: BookGetter, *, poll_interval_s: float | None = None) -> AsyncIterator[BookSnapshot]:
        """Every book ``get`` brings: one worker per symbol, or with ``poll_interval_s`` one paced poller."""
        if poll_interval_s is None:
            tasks = [asyncio.create_task(self._watch(s, get), name=f"{self.name}:{s}") for s in self.active]
        else:
            tasks = [asyncio.create_task(self._poll(get, poll_interval_s), name=f"{self.name}:poll")]
        try:
            while True:
                item = await self.queue.get()
                if isinstance(item, UntrueBook):
                    self._report_untrue(item)
                    continue
                if isinstance(item, BaseException):
                    raise item
                self.untrue.discard(item.symbol)
                yield item
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _report_untrue(self, item: UntrueBook) -> None:
        """An untrue book in its place in the stream: logged when its symbol's spell starts, always reported."""
        if item.symbol not in self.untrue:
            self.untrue.add(item.symbol)
            log.warning("%s; not used until a true book comes", item)
        if self.on_untrue is not None:
            self.on_untrue(item.symbol, item.ts, item.reason)

    def _deliver(self, symbol: str, snapshot: BookSnapshot) -> None:
        self.failures[symbol] = 0
        self._put(snapshot)

    def _put(self, item: BookSnapshot | BaseException) -> None:
        if self.queue.full():  # a slow consumer loses the oldest book, never the newest
            self.queue.get_nowait()
        self.queue.put_nowait(item)

    def _backoff(self, failures: int, exc: BaseException) -> float:
        delay = min(self._backoff_max_s, self._backoff_initial_s * 2 ** max(failures - 1, 0))
        if isinstance(exc, RateLimited):
            delay = max(delay, exc.retry_after)
        return delay

    def _failed(self, symbol: str, exc: BaseException) -> float | None:
        """React to one failure of ``symbol``: seconds before its next try (0: at once), or None when it stops."""
        kind, error = classify_failure(exc)
        if isinstance(error, UntrueBook):  # the venue answers: its book goes to the consumer's side, in order
            self.failures[symbol] = 0
            self._put(error)
            return 0.0
        if kind is Failure.SKIP:
            log.warning("%s %s: skipping book: %s", self.name, symbol, error)
            return 0.0
        if kind is Failure.REFUSED:
            log.error("%s %s: books stopped: %s", self.name, symbol, error)
            self.active.remove(symbol)
            if not self.active:
                self._put(error)
            return None
        self.failures[symbol] += 1
        if all(self.failures[s] >= VENUE_DOWN_AFTER for s in self.active):
            # the venue is down: report the cause itself (the consumer names the venue), no prefix of ours
            self._put(error)
        delay = self._backoff(self.failures[symbol], error)
        log.warning("%s %s: books failed (%s), retry %d in %.1f s", self.name, symbol, error, self.failures[symbol], delay)
        return delay

    async def _watch(self, symbol: str, get: BookGetter) -> None:
        while True:
            try:
                snapshot = await get(symbol)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - classified: one failing symbol must not stop the others
                delay = self._failed(symbol, exc)
                if delay is None:
                    return
                if delay:
                    await self._sleep(delay)
                continue
            self._deliver(symbol, snapshot)

    async def _poll(self, get: BookGetter, interval_s: float) -> None:
        # one throttler for the venue: one request per interval, symbols taken round-robin
        throttler = PacedThrottler(1, interval_s, clock=self._clock, sleep=self._sleep)
        not_before = dict.fromkeys(self.active, float("-inf"))
        while self.active:
            due = [s for s in self.active if self._clock() >= not_before[s]]
            if not due:
                await self._sleep(max(min(not_before[s] for s in self.active) - self._clock(), 0.0))
                continue
            for symbol in due:
                async with throttler:
                    try:
                        snapshot = await get(symbol)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # noqa: BLE001 - classified: one failing symbol must not stop the others
                        delay = self._failed(symbol, exc)
                        if delay:
                            not_before[symbol] = self._clock() + delay
                        continue
                self._deliver(symbol, snapshot)
