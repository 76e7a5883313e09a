"""A scan's funding facts on the bus: shard 1 asks the venues, every shard and executor of the run follows.

In one process the scanner asks each venue for the funding facts of the scanned assets (deposit and
withdrawal switches, networks, fees; ``arbscan.scan.feeds.LiveDriver``), journals every set and
judges each route's transfers with them; ``scan --workers``' parent asks and sends them to its shards.
On the bus there is no parent: shard 1/N asks the venues for the assets of every ``scanner.symbols``
entry (the parent's job; with keys a private call, so one process makes it), journals each set as
one process would (its journal batches, set ids counted as one process counts them) and puts the
facts, as its scanner now holds them, into the key-value bucket ``arbscan_funding`` under
``<run>.<exchange>.<asset>``. Every shard of the run (shard 1 too: a restarted shard 1 goes on
counting set ids from there) and every executor trading it follow the bucket
(:class:`FundingShare`): the latest facts of each venue and asset at once when they start, every new
set as it is put. Facts put while NATS is away wait here and go when it is back (the latest per key).

A replay's facts come from its file's ``currency`` lines, which every replay shard reads itself
(``arbscan.parallel.shard``); the bucket is for scans.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from arbscan.bus.codec import decode_pickle, encode_pickle
from arbscan.bus.connection import Bus
from arbscan.bus.subjects import FUNDING_BUCKET, token
from arbscan.errors import UnexpectedPayload

__all__ = ["FundingShare"]

logger = logging.getLogger(__name__)


class FundingShare:
    """One run's funding facts in the bucket: :meth:`publish` puts a set, ``on_facts(set_id, facts)`` gets each
    set put by anyone, newer than what this process has (called on the bus loop: hand it to your own loop)."""

    def __init__(self, bus: Bus, run: str, on_facts: Callable[[int, Any], None] | None = None) -> None:
        self.bus = bus
        self.prefix = token(run)
        self.on_facts = on_facts
        self.latest: dict[str, int] = {}  # key -> newest set id seen or put (bus loop only)
        self.pending: dict[str, bytes] = {}  # key -> value not yet stored (bus loop only)
        self.received = 0
        self._wake: asyncio.Event | None = None
        self._task: Any = None

    def key(self, exchange: str, asset: str) -> str:
        """The bucket key of one venue's asset in this run."""
        return f"{self.prefix}.{token(exchange)}.{token(asset)}"

    def start(self) -> FundingShare:
        """Begin following the bucket (and storing what is published); returns at once."""
        self._task = self.bus.submit(self._run())
        return self

    def stop(self) -> None:
        """Stop following (what is still pending is given up: call :meth:`flush` first to wait for it)."""
        if self._task is not None:
            self.bus.loop.call_soon_threadsafe(self._task.cancel)

    def publish(self, set_id: int, facts: Any) -> None:
        """Put one set of facts (an ``AssetFunding``, as the publishing scanner holds it) for the run; any thread."""
        key = self.key(facts.exchange, facts.asset)
        value = encode_pickle((set_id, facts))

        def queue() -> None:
            self.latest[key] = max(self.latest.get(key, 0), set_id)
            self.pending[key] = value
            if self._wake is not None:
                self._wake.set()

        self.bus.loop.call_soon_threadsafe(queue)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until what was published is stored (False when NATS did not take it in time)."""
        async def empty() -> None:
            while self.pending:
                await asyncio.sleep(0.02)

        try:
            self.bus.call(empty(), timeout=timeout)
            return True
        except Exception:  # noqa: BLE001 - timed out: NATS is away
            return False

    async def _run(self) -> None:
        self._wake = asyncio.Event()
        while True:
            kv = self.bus.kv.get(FUNDING_BUCKET)
            if kv is None or not self.bus.connected.is_set():
                await asyncio.sleep(0.05)
                continue
            try:
                watcher = await kv.watch(f"{self.prefix}.>")
                await self._follow(kv, watcher)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the connection went: watched again once it is back
                logger.debug("funding facts: %s", exc)
                await asyncio.sleep(0.1)

    async def _follow(self, kv: Any, watcher: Any) -> None:
        import nats.errors

        try:
            while self.bus.connected.is_set():
                await self._store(kv)
                try:
                    entry = await watcher.updates(timeout=0.1)
                except nats.errors.TimeoutError:
                    continue
                if entry is not None and entry.value:
                    self._take(entry.key, entry.value)
        finally:
            try:
                await watcher.stop()
            except Exception:  # noqa: BLE001 - the connection is gone already
                pass

    async def _store(self, kv: Any) -> None:
        while self.pending:
            key, value = next(iter(self.pending.items()))
            await kv.put(key, value)
            if self.pending.get(key) is value:
                del self.pending[key]

    def _take(self, key: str, value: bytes) -> None:
        try:
            set_id, facts = decode_pickle(value)
        except (UnexpectedPayload, TypeError, ValueError) as exc:
            logger.error("funding facts skipped (%s): %s", key, exc)
            return
        if set_id <= self.latest.get(key, 0):
            return  # what this process put itself, or older than what it has
        self.latest[key] = set_id
        self.received += 1
        if self.on_facts is not None:
            try:
                self.on_facts(set_id, facts)
            except Exception:  # noqa: BLE001 - a listener's bug must not stop the following
                logger.exception("funding facts listener failed")
