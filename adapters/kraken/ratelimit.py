"""Kraken's REST call counter, kept locally so arbscan waits instead of being rate limited.

Kraken counts private calls per API key: each call adds to a counter that decays every second, and a
call that would take it over the tier's maximum is refused (``EAPI:Rate limit exceeded``). See
https://docs.kraken.com/api/docs/guides/spot-rest-ratelimits/ for the tiers and costs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from adapters.base import Credentials
from adapters.kraken.auth import key_fingerprint

__all__ = ["TIERS", "CallCounter", "counter_for"]

TIERS: dict[str, tuple[float, float]] = {
    # tier: (max counter, decay per second), from Kraken's REST rate-limit guide
    "starter": (15.0, 0.33),
    "intermediate": (20.0, 0.5),
    "pro": (20.0, 1.0),
}

class CallCounter:
    """Kraken's per-key REST call counter, kept locally so we wait instead of being rate limited."""

    def __init__(self, maximum: float, decay_per_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.maximum = maximum
        self.decay_per_s = decay_per_s
        self._clock = clock
        self._value = 0.0
        self._at = clock()

    @property
    def value(self) -> float:
        """The counter now, after decay."""
        now = self._clock()
        return max(0.0, self._value - (now - self._at) * self.decay_per_s)

    def wait_time(self, cost: float) -> float:
        """Seconds to wait before a call of ``cost`` fits under the maximum."""
        over = self.value + cost - self.maximum
        return over / self.decay_per_s if over > 0 else 0.0

    async def acquire(self, cost: float = 1.0, sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        """Wait until ``cost`` fits, then add it."""
        while (delay := self.wait_time(cost)) > 0:
            await sleep(delay)
        now = self._clock()
        self._value = max(0.0, self._value - (now - self._at) * self.decay_per_s) + cost
        self._at = now

    def penalise(self) -> None:
        """After Kraken said ``EAPI:Rate limit exceeded``: assume the counter is full."""
        self._value = self.maximum
        self._at = self._clock()


_COUNTERS: dict[tuple[str, str], CallCounter] = {}


def counter_for(credentials: Credentials | None, tier: str) -> CallCounter:
    """Kraken counts calls per API key: every client of one key in this process shares one counter."""
    if credentials is None:
        return CallCounter(*TIERS[tier])
    slot = (key_fingerprint(credentials.api_key), tier)
    counter = _COUNTERS.get(slot)
    if counter is None:
        counter = _COUNTERS[slot] = CallCounter(*TIERS[tier])
    return counter
