"""``arbscan.parallel.transport.Outbox`` over a JetStream stream: numbered, deduplicated, buffered while NATS is away.

One producer (a shard, the executor) writes through one :class:`BusOutbox` per stream. ``put`` numbers
the item (``seq`` 1, 2, 3, ... in this producer's order), queues it and returns; the bus thread
publishes the queue in order, one message at a time, each with ``Nats-Msg-Id: <run>.<producer>.<seq>``,
and takes it off the queue only once JetStream has acknowledged it (it is then stored, with the
stream's replicas). A publish that fails — NATS unreachable, a timeout, an acknowledgement lost with
the connection — is sent again with the same id once NATS is back: JetStream drops a repeat within its
duplicate window, and the journal consumer drops one beyond it (``seq`` at or below the producer's
last applied one). A producer whose output is deterministic (a replay shard: batches cut by line
position, never by time) can therefore restart from the beginning of its file and resend everything
under the same ids; only what was never stored is written.

While NATS is away the queue grows, up to a bound:

* journal batches (``kind="journal"``) of a replay (``when_full="wait"``): at ``bound`` rows ``put``
  waits until NATS takes some; nothing is ever dropped (its file waits too, the bound is never
  exceeded, and its journal is the one-process journal row for row);
* journal batches of a live shard (``when_full="keep"``): at ``bound`` rows, funnel and
  feed-statistics rows are dropped, oldest first: first those a later queued row of the same route or
  feed replaces (each is a running count, so nothing is lost), then any, so the latest figures of a
  route may be missing until its next write (said in one line). Episodes, trades, orders and
  everything else are never dropped: when only they would be left over the bound, they are kept beyond
  it and it says so (a live shard must go on scanning);
* executor messages (``kind="routes"``): ``put`` waits at ``bound`` messages (a replay), or the oldest
  are dropped (``"drop"``, a live shard: a route is worthless seconds later).

Messages are split so none exceeds what NATS accepts: journal batches by row count (500 rows, so the
split is the same on every run), executor messages by encoded size.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from arbscan.bus.codec import encode_json, encode_pickle
from arbscan.bus.connection import Bus
from arbscan.bus.subjects import token
from arbscan.parallel.transport import Closed

__all__ = ["BusOutbox", "OutboxStats", "ROWS_PER_MESSAGE", "MAX_MESSAGE_BYTES", "STATISTICS_TABLES"]

logger = logging.getLogger(__name__)

ROWS_PER_MESSAGE = 500
"""Journal rows per message at most (a count, so the split of a deterministic producer never changes)."""

MAX_MESSAGE_BYTES = 900_000
"""Executor messages above this are split (NATS refuses payloads above its max_payload, 1 MB by default)."""

STATISTICS_TABLES = frozenset({"funnel", "venue_stats"})
"""Tables whose rows may be dropped from a full buffer: each row is the latest count, a later one replaces it."""

PUBLISH_TIMEOUT_S = 5.0


@dataclass(slots=True)
class _Pending:
    seq: int
    body: Any  # journal: the dict to encode; routes: the encoded bytes
    rows: int


@dataclass(slots=True)
class OutboxStats:
    """What an outbox did: messages published, repeats JetStream recognised, what it held and dropped."""

    published: int = 0
    duplicates: int = 0  # publishes JetStream recognised as repeats (a resend, a restarted replay shard)
    max_rows: int = 0  # the most rows (journal) or messages (routes) held at once
    dropped_rows: int = 0  # funnel / feed statistics rows dropped from a full buffer
    dropped_messages: int = 0  # executor messages dropped from a full buffer (live shards)
    held_over_bound: int = 0  # the most rows held beyond the bound (episodes and trades are never dropped)


class BusOutbox:
    """One producer's ordered channel into a JetStream stream (see the module docstring)."""

    def __init__(self, bus: Bus, subject: str, run: str, producer: str, *, kind: str, bound: int,
                 when_full: str, header: dict[str, Any] | None = None) -> None:
        if kind not in ("journal", "routes"):
            raise ValueError(f"kind must be 'journal' or 'routes', got {kind!r}")
        self.bus = bus
        self.subject = subject
        self.run = run
        self.producer = producer
        self.kind = kind
        self.bound = bound
        self.when_full = when_full
        self.header = dict(header or {})  # fields every message carries (the shard's K and N)
        self.stats = OutboxStats()
        self.seq = 0
        self._queue: deque[_Pending] = deque()
        self._held = 0  # rows (journal) or messages (routes) queued, the one in flight included
        self._in_flight: _Pending | None = None
        self._cond = threading.Condition()
        self._closed = False
        self._said_drop = 0.0
        self._wake: asyncio.Event | None = None
        self._id_prefix = f"{token(run)}.{token(producer)}."
        bus.call(self._start(), timeout=5)

    # -- the producer's side -----------------------------------------------------------------

    def put(self, item: Any) -> None:
        """Queue ``item`` (journal: a batch of ``(op, table, rows, pk)``; routes: anything the executor reads)."""
        if self._closed:
            raise Closed("this outbox is closed")
        if self.kind == "journal":
            for chunk in _chunks(item, ROWS_PER_MESSAGE):
                self._queue_one("rows", chunk, sum(len(w[2]) for w in chunk))
        else:
            for data in self._encode_routes("events", item):
                self._queue_one_encoded(data)

    def announce(self, what: str, body: Any) -> None:
        """Queue a message of another kind (``start``, ``end``, ``report``) in this producer's order."""
        if self.kind == "journal":
            self._queue_one(what, body, 0)
        else:
            for data in self._encode_routes(what, body):
                self._queue_one_encoded(data)

    def close(self, timeout: float | None = None) -> bool:
        """Wait until everything queued is stored by JetStream (``timeout`` None: however long NATS is away).

        Returns False when ``timeout`` passed first (what is left is lost with this process).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._closed = True
            while self._held or self._queue or self._in_flight is not None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(0.2 if left is None else min(0.2, left))
        return True

    def wait_stored(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until JetStream has stored everything queued; False if it has not."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._held or self._queue or self._in_flight is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(0.05, left))
        return True

    @property
    def held(self) -> int:
        """Rows (journal) or messages (routes) waiting to be stored."""
        return self._held

    # -- queueing ----------------------------------------------------------------------------

    def _queue_one(self, what: str, payload: Any, rows: int) -> None:
        with self._cond:
            self._fit(rows)
            self.seq += 1
            body = {"k": what, "run": self.run, "p": self.producer, "s": self.seq, **self.header, "x": payload}
            self._append(_Pending(self.seq, body, rows))
        self._poke()

    def _encode_routes(self, what: str, payload: Any) -> list[bytes]:
        """Pickled messages (numbered when queued: the ``Arbscan-Seq`` header), halved until each fits."""
        data = encode_pickle({"k": what, "run": self.run, "p": self.producer, **self.header, "x": payload})
        if len(data) <= MAX_MESSAGE_BYTES or not isinstance(payload, list) or len(payload) < 2:
            return [data]
        half = len(payload) // 2
        return self._encode_routes(what, payload[:half]) + self._encode_routes(what, payload[half:])

    def _queue_one_encoded(self, data: bytes) -> None:
        with self._cond:
            self._fit(1)
            self.seq += 1
            self._append(_Pending(self.seq, data, 1))
        self._poke()

    def _append(self, pending: _Pending) -> None:
        self._queue.append(pending)
        self._held += pending.rows
        if self._held > self.stats.max_rows:
            self.stats.max_rows = self._held
        over = self._held - self.bound
        if over > self.stats.held_over_bound:
            self.stats.held_over_bound = over
            self._say_dropped(f"nothing more may be dropped: holding {over:,} episode / trade rows beyond the bound "
                              "until NATS is back", dropped=False)

    def _fit(self, rows: int) -> None:
        """Called holding the lock, before ``rows`` more are queued: make room within the bound (module docstring)."""
        if self._held + rows <= self.bound:
            return
        if self.kind == "journal" and self.when_full == "keep":
            dropped = self._drop_statistics(rows, superseded_only=True)
            if self._held + rows > self.bound:
                dropped += self._drop_statistics(rows, superseded_only=False)
            if dropped:
                self.stats.dropped_rows += dropped
                self._say_dropped(f"{self.stats.dropped_rows:,} funnel / feed statistics rows so far (episodes and "
                                  "trades are kept)")
        elif self.when_full == "drop":
            while self._held + rows > self.bound and self._queue:
                self._held -= self._queue.popleft().rows
                self.stats.dropped_messages += 1
            self._say_dropped(f"{self.stats.dropped_messages:,} executor messages so far (a route is worthless "
                              "once it is old)")
        if self.when_full == "wait":
            while self._held and self._held + rows > self.bound and not self._closed:
                self._cond.wait(0.5)

    def _drop_statistics(self, rows: int, superseded_only: bool) -> int:
        """Drop queued statistics rows, oldest first, until ``rows`` more fit; ``superseded_only``: only rows a later
        queued row of the same route or feed replaces (nothing is lost then). Returns how many were dropped."""
        later: set[tuple[Any, ...]] = set()
        replaced: list[set[int]] = []
        if superseded_only:  # newest first: a row is superseded when its key was already seen
            for pending in reversed(self._queue):
                gone = set()
                for i, (op, table, items, pk) in enumerate(pending.body["x"] if pending.body["k"] == "rows" else ()):
                    if table in STATISTICS_TABLES:
                        keys = [c for c in ([pk] if isinstance(pk, str) else pk or ()) if c != "run_id"]
                        for j, row in enumerate(items):
                            key = (table, *(row.get(c) for c in keys))
                            if key in later:
                                gone.add((i, j))
                            later.add(key)
                replaced.append(gone)
            replaced.reverse()
        dropped = 0
        for n, pending in enumerate(self._queue):  # oldest first; the one in flight is no longer in the queue
            if self._held + rows <= self.bound:
                break
            if pending.body["k"] != "rows":
                continue
            work = []
            for i, (op, table, items, pk) in enumerate(pending.body["x"]):
                if table not in STATISTICS_TABLES:
                    work.append([op, table, items, pk])
                    continue
                kept = [r for j, r in enumerate(items) if superseded_only and (i, j) not in replaced[n]]
                dropped += len(items) - len(kept)
                self._held -= len(items) - len(kept)
                pending.rows -= len(items) - len(kept)
                if kept:
                    work.append([op, table, kept, pk])
            pending.body["x"] = work
        return dropped

    def _say_dropped(self, what: str, dropped: bool = True) -> None:
        now = time.monotonic()
        if now - self._said_drop < 10.0:
            return
        self._said_drop = now
        head = f"dropped {what}" if dropped else what
        self.bus.say(f"arbscan: {self.bus.role}: NATS unreachable and bus.buffer_rows = {self.bound:,} reached; {head}")

    def _poke(self) -> None:
        if self._wake is not None:
            self.bus.loop.call_soon_threadsafe(self._wake.set)

    # -- the bus thread's side ----------------------------------------------------------------

    async def _start(self) -> None:
        self._wake = asyncio.Event()
        asyncio.get_running_loop().create_task(self._drain(), name=f"outbox-{self.producer}-{self.kind}")

    async def _drain(self) -> None:
        assert self._wake is not None
        while True:
            with self._cond:
                pending = self._queue.popleft() if self._queue else None
                self._in_flight = pending
            if pending is None:
                await self._wake.wait()
                self._wake.clear()
                continue
            data = pending.body if isinstance(pending.body, bytes) else encode_json(pending.body)
            while True:
                js = self.bus.js
                if js is None or not self.bus.connected.is_set():
                    await self.bus.until_connected()
                    continue
                try:
                    ack = await js.publish(self.subject, data, timeout=PUBLISH_TIMEOUT_S,
                                           headers={"Nats-Msg-Id": f"{self._id_prefix}{pending.seq}",
                                                    "Arbscan-Seq": str(pending.seq)})
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - not stored (or not known to be): the same id again
                    logger.debug("%s: publish of %s #%d failed (%s); resending", self.bus.role, self.kind, pending.seq, exc)
                    await asyncio.sleep(0.05)
                    continue
                break
            with self._cond:
                self._in_flight = None
                self._held -= pending.rows
                self.stats.published += 1
                if getattr(ack, "duplicate", False):
                    self.stats.duplicates += 1
                self._cond.notify_all()


def _chunks(work: list[Any], rows: int) -> list[list[Any]]:
    """``work`` split into lists of at most ``rows`` rows (an item's rows split when needed), order kept."""
    out: list[list[Any]] = [[]]
    count = 0
    for op, table, items, pk in work:
        pk = list(pk) if isinstance(pk, tuple) else pk
        start = 0
        while start < len(items):
            room = rows - count
            if room <= 0:
                out.append([])
                count, room = 0, rows
            part = items[start:start + room]
            out[-1].append([op, table, part, pk])
            count += len(part)
            start += len(part)
    return [c for c in out if c] or [[]]
