"""One NATS connection per process, on a thread of its own, so every role calls it synchronously.

The roles of ``--workers`` (a shard's replay loop, the journal writer, the executor feed) are
synchronous code or run their own event loop; nats-py is asyncio. :class:`Bus` runs nats-py on a
private event loop in a daemon thread and offers what the roles need as plain calls
(:meth:`Bus.call` runs a coroutine there and waits for its result).

Connecting never gives up: a failed attempt is said in one line naming what this process is waiting
for (``arbscan: journal: waiting for NATS at nats://10.0.0.5:4222 (connection refused); retrying in
0.8 s``) and retried after a backoff (0.1 s doubling to 5 s); a lost connection is reconnected the
same way. Every (re)connection first makes sure the streams and buckets exist
(:mod:`arbscan.bus.subjects`), so a NATS server restarted without its store is set up again.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from arbscan.config.bus import BusConfig, bus_credentials

__all__ = ["Bus", "describe_failure", "BACKOFF_S"]

logger = logging.getLogger(__name__)

BACKOFF_S = (0.1, 5.0)
"""Reconnection waits: the first, doubling up to the second."""

SWITCH_INTERVAL_S = 0.0005
"""The GIL switch interval in a process with a bus (CPython's default is 5 ms). A shard's scanning keeps the
main thread busy; every acknowledged publish needs the bus thread a few times, and at 5 ms per hand-over a
busy shard published a few hundred messages a second (BENCHMARKS.md section 7); at 0.5 ms, thousands."""

CONNECT_TIMEOUT_S = 2
"""How long one connection attempt to one server may take (TCP, INFO, CONNECT and the first PONG)."""

SAY_EVERY_S = 15.0
"""While still waiting for the same thing, the waiting line is repeated at most this often."""


class _RoundFailed(Exception):
    """Every server of the list refused one attempt: ends nats-py's own retrying of a first connection."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _Attempt:
    """One round of connection attempts, one per server; ``failed`` raises once each server has failed once."""

    def __init__(self, servers: int) -> None:
        self.servers = max(1, servers)
        self.failures = 0
        self.done = False

    def failed(self, exc: BaseException) -> None:
        if self.done:
            return  # an error of a connection already made: the closed callback handles it
        self.failures += 1
        if self.failures >= self.servers:
            raise _RoundFailed(exc)


def describe_failure(exc: BaseException) -> str:
    """Why a connection attempt failed, for a person: 'connection refused', 'timed out', ..."""
    text = str(exc).lower()
    if isinstance(exc, ConnectionRefusedError) or "refused" in text:
        return "connection refused"
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)) or "timeout" in text:
        return "timed out"
    if "authorization" in text or "authentication" in text:
        return "authorization refused (check ARBSCAN_BUS_USER / ARBSCAN_BUS_PASSWORD / ARBSCAN_BUS_TOKEN)"
    name = type(exc).__name__
    return f"{name}: {exc}" if str(exc) else name


class Bus:
    """A NATS connection with JetStream on a private event loop (see the module docstring).

    ``role`` names this process in its lines (``shard 1/2``, ``journal``, ``executor``);
    ``on_connect`` coroutines run after every (re)connection, after the streams are ensured.
    """

    def __init__(self, config: BusConfig, role: str, say: Callable[[str], None] | None = None,
                 backoff: tuple[float, float] = BACKOFF_S) -> None:
        if not config.url:
            raise ValueError("a Bus needs bus.url")
        self.config = config
        self.url = config.url
        self.servers = [s for s in config.url.split(",") if s]
        self.role = role
        self.say = say or _say
        self.backoff = backoff
        self.credentials = bus_credentials()  # a half-set pair is a ConfigError now, not at the first attempt
        self.nc: Any = None
        self.js: Any = None
        self.kv: dict[str, Any] = {}
        self.on_connect: list[Callable[[], Awaitable[None]]] = []
        self.connected = threading.Event()
        self.down_since: float | None = time.monotonic()  # not connected yet counts as down
        self.waiting_for = "NATS"  # what this process says it waits for, refined by its owner
        self.loop = asyncio.new_event_loop()
        self._closed_event: asyncio.Event | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._run_loop, name="arbscan-bus", daemon=True)
        self._manager: asyncio.Future[Any] | None = None
        self._said: tuple[str, float] = ("", 0.0)
        self._ever_connected = False

    # -- life ------------------------------------------------------------------------------

    def start(self) -> Bus:
        """Start the thread and begin connecting (returns at once)."""
        if sys.getswitchinterval() > SWITCH_INTERVAL_S:
            sys.setswitchinterval(SWITCH_INTERVAL_S)
        logger.info("%s: connecting to NATS at %s", self.role, self.url)
        self._thread.start()
        self._manager = asyncio.run_coroutine_threadsafe(self._manage(), self.loop)
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Close the connection and stop the thread (pending calls fail)."""
        if not self._thread.is_alive():
            return
        self._stopping = True

        async def _shut() -> None:
            if self.nc is not None and not self.nc.is_closed:
                try:
                    await asyncio.wait_for(self.nc.flush(timeout=1), 1.5)
                except Exception:  # noqa: BLE001 - closing is best effort
                    pass
                try:
                    await asyncio.wait_for(self.nc.close(), timeout)
                except Exception:  # noqa: BLE001
                    pass
            if self._closed_event is not None:
                self._closed_event.set()

        try:
            asyncio.run_coroutine_threadsafe(_shut(), self.loop).result(timeout + 2)
        except Exception:  # noqa: BLE001
            pass
        if self._manager is not None:
            self._manager.cancel()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        try:
            pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        finally:
            self.loop.close()

    # -- calls from other threads ----------------------------------------------------------

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float | None = None) -> Any:
        """Run ``coro`` on the bus loop and wait for its result (``timeout`` seconds; None: as long as it takes)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def submit(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` on the bus loop; returns a ``concurrent.futures.Future``."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def wait_connected(self, timeout: float | None = None) -> bool:
        """Block until connected (and the streams exist); False after ``timeout``."""
        return self.connected.wait(timeout)

    async def until_connected(self) -> None:
        """On the bus loop: wait until connected."""
        while not self.connected.is_set():
            await asyncio.sleep(0.05)

    # -- the connection manager ------------------------------------------------------------

    async def _manage(self) -> None:
        import nats

        from arbscan.bus.subjects import ensure

        delay = self.backoff[0]
        while not self._stopping:
            self._closed_event = asyncio.Event()
            closed = self._closed_event
            attempt = _Attempt(len(self.servers))

            async def on_closed() -> None:
                closed.set()

            async def on_error(exc: Exception) -> None:
                attempt.failed(exc)  # raises _RoundFailed once every server has refused this round
                logger.debug("NATS: %s", exc)

            try:
                # nats-py retries the first connection by itself (max_reconnect_attempts, 2 s apart) whatever
                # allow_reconnect says; on_error ends that after one try per server, so the waiting line and the
                # backoff here are the only ones (tests/test_bus_startup.py)
                nc = await nats.connect(servers=self.servers, name=f"arbscan {self.role}", allow_reconnect=False,
                                        connect_timeout=CONNECT_TIMEOUT_S, reconnect_time_wait=0,
                                        ping_interval=2, max_outstanding_pings=3,
                                        closed_cb=on_closed, disconnected_cb=on_closed, error_cb=on_error,
                                        **self.credentials)
                attempt.done = True
                self.nc, self.js = nc, nc.jetstream()
                self.kv = await ensure(self.js, self.config)
                self._say_connected(nc)  # before the hooks: what they say (following, committing) comes after it
                for hook in self.on_connect:
                    await hook()
            except Exception as exc:  # noqa: BLE001 - every failure is waited out the same way
                attempt.done = True
                if self.nc is not None:
                    try:
                        await self.nc.close()
                    except Exception:  # noqa: BLE001
                        pass
                self.nc = self.js = None
                cause = exc.cause if isinstance(exc, _RoundFailed) else exc
                self._waiting(describe_failure(cause), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff[1])
                continue
            delay = self.backoff[0]
            self.down_since = None
            self.connected.set()
            self._ever_connected = True
            self._said = ("", 0.0)
            await closed.wait()
            self.connected.clear()
            self.down_since = time.monotonic()
            self.js = None
            if not self._stopping:
                self._waiting("connection lost", 0.0)

    def _say_connected(self, nc: Any) -> None:
        """'connected to NATS at URL' (with how long it waited), or 'NATS at URL is back after 4.0 s'."""
        down = None if self.down_since is None else time.monotonic() - self.down_since
        where = getattr(getattr(nc, "connected_url", None), "netloc", None)
        at = f"nats://{where}" if where else self.url
        if self._ever_connected:
            self.say(f"arbscan: {self.role}: NATS at {at} is back" + (f" after {down:.1f} s" if down else ""))
        else:
            waited = f" after {down:.1f} s" if self._said[0] and down else ""
            self.say(f"arbscan: {self.role}: connected to NATS at {at}{waited}")

    def _waiting(self, why: str, retry_in: float) -> None:
        """One line: what this process waits for, why, and when it tries again (not repeated for 15 s)."""
        if retry_in:
            logger.info("%s: NATS at %s: %s; next attempt in %.2g s", self.role, self.url, why, retry_in)
        now = time.monotonic()
        if self._said[0] == why and now - self._said[1] < SAY_EVERY_S:
            return
        self._said = (why, now)
        retry = f"; retrying in {retry_in:.2g} s" if retry_in else "; reconnecting"
        self.say(f"arbscan: {self.role}: waiting for {self.waiting_for} at {self.url} ({why}){retry}")


def _say(line: str) -> None:
    from arbscan.scan.view import say

    say(line)


async def bucket_entries(bus: Bus, bucket: str) -> list[tuple[str, bytes]]:
    """On the bus loop: every (key, value) of a key-value bucket now, empty values and vanished keys left out."""
    from nats.js.errors import NoKeysError

    kv = bus.kv[bucket]
    try:
        keys = await kv.keys()
    except NoKeysError:
        return []
    out = []
    for key in keys:
        try:
            entry = await kv.get(key)
        except Exception:  # noqa: BLE001 - deleted or expired between the listing and the read
            continue
        if entry.value:
            out.append((key, entry.value))
    return out
