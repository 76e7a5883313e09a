"""Alerts leave through bounded queues drained on their own thread: the scanner never waits on a destination.

Each destination has an :class:`Outbox` (a bounded queue) and its own drain task. The tasks run on
the dispatcher's thread, in an event loop of their own, so neither a slow destination nor aiohttp's
work ever runs on the scanner's loop (or in a replay's loop-less thread): :meth:`Dispatcher.submit`
takes a lock, appends and wakes the drain task, and returns. When an outbox is full the oldest alert
that is not urgent is dropped and counted; urgent ones (halts) are never dropped, the bound gives way.

Every alert ends as one row of the journal's ``alerts`` table (through ``audit``): ``sent``,
``retried`` (delivered after a retry), ``failed`` (given up, or cut off at shutdown) or ``dropped``.
:meth:`Dispatcher.close` gives what is queued ``close_grace_s`` to go out, then cancels the rest.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from arbscan.alerts.delivery import Result, deliver, throttler_for
from arbscan.alerts.destinations import Destination
from arbscan.alerts.events import Alert

__all__ = ["Outbox", "Queued", "Dispatcher", "CLOSE_GRACE_S", "audit_row"]

logger = logging.getLogger(__name__)

CLOSE_GRACE_S = 2.0
"""How long queued alerts may still go out when the run ends (a scan stops within a few seconds)."""

_DROP_WARNING_EVERY_S = 60.0


@dataclass(slots=True)
class Queued:
    """An alert waiting in an outbox, with the wall time it was queued."""

    alert: Alert
    queued: float


class Outbox:
    """A destination's bounded queue; see the module docstring for what is dropped when it is full."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: deque[Queued] = deque()
        self.dropped = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.items)

    def put(self, item: Queued) -> Queued | None:
        """Queue ``item``; returns the item dropped to make room (``item`` itself when it cannot go in), or None."""
        with self._lock:
            items = self.items
            if len(items) < self.size:
                items.append(item)
                return None
            for i, old in enumerate(items):
                if not old.alert.urgent:
                    del items[i]
                    items.append(item)
                    self.dropped += 1
                    return old
            if item.alert.urgent:  # all urgent: halts are never dropped, the bound gives way
                items.append(item)
                return None
            self.dropped += 1
            return item

    def get(self) -> Queued | None:
        """The oldest queued item, or None."""
        with self._lock:
            return self.items.popleft() if self.items else None


def audit_row(destination: str, item: Queued, status: str, attempts: int, detail: str | None) -> dict[str, Any]:
    """A row of table ``alerts``: the destination's name (never its URL), the outcome and its times."""
    a = item.alert
    return {"event": a.event, "destination": destination, "status": status, "attempts": attempts,
            "queued": item.queued, "finished": time.time(), "event_ts": a.ts, "title": a.title, "detail": detail}


class Dispatcher:
    """Delivers alerts to destinations on a thread of its own (see the module docstring).

    ``audit(row)`` receives one ``alerts`` row per alert and destination (None: not journaled);
    it is called from the dispatcher's thread and from whoever submits (for drops).
    """

    def __init__(self, destinations: Iterable[Destination], audit: Callable[[Mapping[str, Any]], None] | None = None,
                 *, close_grace_s: float = CLOSE_GRACE_S) -> None:
        self.destinations = {d.name: d for d in destinations}
        self.outboxes = {name: Outbox(d.config.queue_size) for name, d in self.destinations.items()}
        self.audit = audit
        self.close_grace_s = close_grace_s
        self.counts: Counter[tuple[str, str]] = Counter()  # (destination, status) -> alerts
        self._counts_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: dict[str, asyncio.Event] = {}
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._warned: dict[str, float] = {}

    # -- the submitting side (any thread) ------------------------------------------------------

    def submit(self, destination: str, alert: Alert) -> None:
        """Queue ``alert`` for ``destination`` and return at once; a full queue drops as the module docstring says."""
        item = Queued(alert, time.time())
        if self._closed:
            self._record(destination, item, "dropped", 0, "queued after shutdown")
            return
        box = self.outboxes[destination]
        dropped = box.put(item)
        if dropped is not None:
            self._record(destination, dropped, "dropped", 0, f"queue full ({box.size})")
            now = time.monotonic()
            if now - self._warned.get(destination, -_DROP_WARNING_EVERY_S) >= _DROP_WARNING_EVERY_S:
                self._warned[destination] = now
                logger.warning("alerts to %s: queue full, oldest alerts dropped (%d so far)", destination, box.dropped)
        if dropped is not item:
            self._wakeup(destination)

    def _wakeup(self, destination: str) -> None:
        loop, wake = self._loop, self._wake.get(destination)
        if loop is None or wake is None:
            return  # not started yet: the drain task finds the item when it starts
        try:
            loop.call_soon_threadsafe(wake.set)
        except RuntimeError:  # the loop has just closed (shutdown): the item is recorded as dropped there
            pass

    def _record(self, destination: str, item: Queued, status: str, attempts: int, detail: str | None) -> None:
        with self._counts_lock:
            self.counts[(destination, status)] += 1
        if self.audit is None:
            return
        try:
            self.audit(audit_row(destination, item, status, attempts, detail))
        except Exception as exc:  # noqa: BLE001 - a closed journal must not break delivery; the count stays
            logger.debug("alert audit row not written: %s", type(exc).__name__)

    # -- the dispatcher's thread ---------------------------------------------------------------

    def start(self) -> None:
        """Start the dispatcher's thread and its drain tasks (returns once they run)."""
        if self._thread is not None:
            return
        ready = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(ready),), name="arbscan-alerts",
                                        daemon=True)
        self._thread.start()
        ready.wait(10)

    async def _main(self, ready: threading.Event) -> None:
        self._stop = asyncio.Event()
        self._wake = {name: asyncio.Event() for name in self.destinations}
        self._loop = asyncio.get_running_loop()
        try:
            await self._serve(ready)
        finally:
            ready.set()
            self._loop = None
            self._drop_left("not sent before shutdown")

    async def _serve(self, ready: threading.Event) -> None:
        assert self._stop is not None
        async with aiohttp.ClientSession() as session:
            tasks = [asyncio.create_task(self._drain(session, d), name=f"alerts-{d.name}")
                     for d in self.destinations.values()]
            ready.set()
            await self._stop.wait()
            for wake in self._wake.values():
                wake.set()
            if tasks:
                _, pending = await asyncio.wait(tasks, timeout=self.close_grace_s)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)

    async def _drain(self, session: aiohttp.ClientSession, dest: Destination) -> None:
        box, wake = self.outboxes[dest.name], self._wake[dest.name]
        throttler = throttler_for(dest)
        stop = self._stop
        assert stop is not None
        attempts = [0]

        def on_attempt(n: int) -> None:
            attempts[0] = n

        while True:
            item = box.get()
            if item is None:
                if stop.is_set():
                    return
                wake.clear()
                if len(box):
                    continue
                await wake.wait()
                continue
            attempts[0] = 0
            try:
                result: Result = await deliver(session, dest, item.alert, throttler, on_attempt=on_attempt)
            except asyncio.CancelledError:
                self._record(dest.name, item, "failed", attempts[0], "cut off at shutdown")
                raise
            except Exception as exc:  # noqa: BLE001 - a bug in one delivery must not stop the destination
                logger.exception("alert %s to %s failed unexpectedly", item.alert.event, dest.name)
                result = Result("failed", attempts[0], type(exc).__name__)
            if not result.ok:
                logger.warning("alert %s to %s given up after %d attempt(s): %s", item.alert.event, dest.name,
                               result.attempts, result.detail)
            self._record(dest.name, item, result.status, result.attempts, result.detail)

    def _drop_left(self, why: str) -> None:
        for name, box in self.outboxes.items():
            while (item := box.get()) is not None:
                self._record(name, item, "dropped", 0, why)

    def close(self) -> None:
        """Give queued alerts ``close_grace_s`` to go out, cut off the rest (recorded), and end the thread."""
        if self._closed:
            return
        self._closed = True
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None:
            self._drop_left("dispatcher never started")
            return
        if loop is not None and stop is not None:
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:
                pass
        thread.join(self.close_grace_s + 10)
        if thread.is_alive():  # pragma: no cover - the grace bounds the drain tasks
            logger.warning("alert dispatcher did not stop in time")
