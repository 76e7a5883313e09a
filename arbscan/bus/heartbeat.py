"""Heartbeats: every shard says once a second that it is alive, in a key-value bucket that forgets it 5 s later.

Each shard process puts one key, ``<run>.<shard>``, in the bucket ``arbscan_shards`` (time to live
``HEARTBEAT_TTL_S``) every second while it is connected, holding what ``arbscan status`` shows: run,
shard K/N, host, pid, mode, since when, and what it holds for NATS. A shard that stops cleanly deletes
its key; one that dies simply stops beating, and its key expires. :func:`live_shards` reads them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from arbscan.bus.connection import Bus, bucket_entries
from arbscan.bus.subjects import SHARDS_BUCKET, token

__all__ = ["Heartbeat", "live_shards", "shard_lines", "BEAT_S"]

logger = logging.getLogger(__name__)

BEAT_S = 1.0


class Heartbeat:
    """Beats for one shard process on the bus loop until :meth:`stop`."""

    def __init__(self, bus: Bus, run: str, shard: int, of: int, mode: str, info: Callable[[], dict[str, Any]]) -> None:
        self.bus = bus
        self.key = f"{token(run)}.shard{shard + 1}"
        self.base = {"run": run, "shard": shard + 1, "of": of, "mode": mode, "host": socket.gethostname(),
                     "pid": os.getpid(), "since": time.time()}
        self.info = info
        self._task: Any = None

    def start(self) -> Heartbeat:
        """Begin beating (returns at once)."""
        self._task = self.bus.submit(self._beat())
        return self

    async def _beat(self) -> None:
        while True:
            kv = self.bus.kv.get(SHARDS_BUCKET)
            if kv is None or not self.bus.connected.is_set():
                await asyncio.sleep(0.05)  # the first beat as soon as NATS is there
                continue
            try:
                extra = self.info()
                await kv.put(self.key, json.dumps({**self.base, **extra, "at": time.time()}).encode())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a missed beat; the connection manager says why
                logger.debug("heartbeat not sent: %s", exc)
            await asyncio.sleep(BEAT_S)

    def stop(self) -> None:
        """Stop beating and remove the key (best effort: when NATS is away it expires by itself)."""
        if self._task is not None:
            self._task.cancel()

        async def _delete() -> None:
            kv = self.bus.kv.get(SHARDS_BUCKET)
            if kv is not None and self.bus.connected.is_set():
                await kv.delete(self.key)

        try:
            self.bus.call(_delete(), timeout=2)
        except Exception as exc:  # noqa: BLE001
            logger.debug("heartbeat key not deleted: %s", exc)


async def _read(bus: Bus) -> list[dict[str, Any]]:
    out = []
    for _key, value in await bucket_entries(bus, SHARDS_BUCKET):
        try:
            out.append(json.loads(value))
        except ValueError:
            continue
    return sorted(out, key=lambda h: (h.get("run", ""), h.get("shard", 0)))


def live_shards(bus: Bus, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The heartbeats of every shard alive now (connected first; ``TimeoutError`` when NATS cannot be reached)."""
    if not bus.wait_connected(timeout):
        raise TimeoutError(f"NATS at {bus.url} cannot be reached")
    return bus.call(_read(bus), timeout=timeout)


def shard_lines(beats: list[dict[str, Any]], now: float | None = None) -> list[str]:
    """What ``arbscan status`` prints about the live shards."""
    now = time.time() if now is None else now
    if not beats:
        return ["shards on the bus: none alive (no heartbeat in the last 5 s)"]
    out = [f"shards on the bus: {len(beats)} alive"]
    for b in beats:
        held = b.get("held_rows", 0)
        out.append(f"  {b.get('run')}: shard {b.get('shard')}/{b.get('of')} ({b.get('mode')}) on {b.get('host')} "
                   f"pid {b.get('pid')}, up {max(0.0, now - float(b.get('since', now))):.0f} s, "
                   f"{b.get('events', 0):,} book events, {held:,} rows waiting for NATS")
    return out
