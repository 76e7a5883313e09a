"""The kill switch on the bus: halts in the key-value bucket ``arbscan_halts``, seen by every process at once.

A halt raised by the executor is written to its journal (as on one host) and put in the bucket, one
key per halt (``h<ms>-<host>``, holding the reason, when, and where). ``arbscan resume`` with a bus
clears the journal's halts and deletes every key here; the executor watches the bucket and takes that
as the resume it waits for. ``arbscan status`` lists the keys.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

from arbscan.bus.connection import Bus, bucket_entries
from arbscan.bus.subjects import HALTS_BUCKET, token

__all__ = ["bus_halts", "put_bus_halt", "clear_bus_halts", "read_halts", "write_halt"]


async def read_halts(bus: Bus) -> list[dict[str, Any]]:
    """On the bus loop: the active halts, oldest first (each with its ``key``)."""
    out = []
    for key, value in await bucket_entries(bus, HALTS_BUCKET):
        try:
            out.append({**json.loads(value), "key": key})
        except ValueError:
            out.append({"reason": value.decode(errors="replace"), "key": key, "set_at": 0})
    return sorted(out, key=lambda h: (h.get("set_at", 0), h["key"]))


async def write_halt(bus: Bus, reason: str, ts: float, run: str | None = None) -> str:
    """On the bus loop: put one halt; returns its key."""
    host = socket.gethostname()
    key = f"h{int(ts * 1000)}-{token(host)}"
    value = {"reason": reason, "set_at": ts, "host": host, "run": run}
    await bus.kv[HALTS_BUCKET].put(key, json.dumps(value).encode())
    return key


def bus_halts(bus: Bus, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The active halts (``TimeoutError`` when NATS cannot be reached in ``timeout``)."""
    if not bus.wait_connected(timeout):
        raise TimeoutError(f"NATS at {bus.url} cannot be reached")
    return bus.call(read_halts(bus), timeout=timeout)


def put_bus_halt(bus: Bus, reason: str, ts: float | None = None, run: str | None = None, timeout: float = 5.0) -> str:
    """Put one halt in the bucket now; returns its key."""
    return bus.call(write_halt(bus, reason, time.time() if ts is None else ts, run), timeout=timeout)


def clear_bus_halts(bus: Bus, by: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Delete every halt in the bucket (``arbscan resume``); returns those deleted."""

    async def _clear() -> list[dict[str, Any]]:
        halts = await read_halts(bus)
        for h in halts:
            await bus.kv[HALTS_BUCKET].delete(h["key"])
        return halts

    return bus.call(_clear(), timeout=timeout)
