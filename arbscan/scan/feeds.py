"""The live feed driver: venues' book streams into the scanner, with reconnects and balance refreshes.

:class:`LiveDriver` runs one task per venue (load markets, then consume ``watch_books``) and the
scanner's timers (step 1 on the event clock, funnel and feed statistics every few seconds). A venue
that fails is reported in one line per attempt and retried with exponential backoff while the others
go on; venues with API keys have their balances read at start and every ``balance_refresh_s``; every
venue is asked for its funding facts (deposit and withdrawal switches, networks, fees) of the scanned
assets once its markets are loaded and every ``funding_refresh_s`` after.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from arbscan.errors import (AuthError, BadInput, BookIntegrityError, NotSupported, RateLimited, UnexpectedPayload,
                            describe, public_name)
from arbscan.scan.scanner import Scanner

__all__ = ["LiveDriver", "VenueState"]

logger = logging.getLogger(__name__)


def balances_not_fetched(name: str, exc: BaseException) -> str:
    """The warning when a venue's balances could not be fetched (the error's public class, never a private one)."""
    return f"{name} balances not fetched ({public_name(exc)}); sizes not capped there"

_STATS_SLICE_ROWS = 100
"""Funnel and feed rows the live driver journals per event-loop turn (about 0.3 ms of work)."""


@dataclass(slots=True)
class VenueState:
    """What the live driver knows about one venue, for the status view."""

    name: str
    reachable: bool | None = None  # None: not tried yet
    last_error: str | None = None
    failures: int = 0
    markets: int = 0
    next_retry: float | None = None  # monotonic time of the next attempt
    down_since: float | None = None  # monotonic time of the first failure since books last arrived
    checksum_failures: int = 0  # books dropped and resubscribed because the venue's checksum disagreed
    rate_limited: int = 0  # failed attempts the venue (or our own counter) answered with "slow down"


@dataclass
class LiveDriver:
    """Drives a :class:`Scanner` from live adapters until ``stop`` is set.

    Per venue: load markets, then consume ``watch_books`` (the adapter's ``on_untrue_book`` set to tell the
    scanner of books its gate refused); any failure (network down, venue error,
    stream ended) is reported once per failure in one line and retried with exponential backoff,
    never crashing the other venues. Step 1 of the scanner runs on a timer on the event clock
    (the last event time plus the local time elapsed since). ``AuthError`` and ``BadInput`` stop
    only that venue.
    """

    scanner: Scanner
    adapters: Mapping[str, Any]
    symbols: tuple[str, ...]
    depth: int = 10
    expire_interval: float = 0.25
    stats_interval: float = 5.0
    initial_backoff: float = 1.0
    max_backoff: float = 30.0
    on_unreachable: Callable[[str, str, float], None] | None = None  # (venue, message, retry_in_s)
    balance_venues: tuple[str, ...] = ()  # venues whose balances are read from the venue (keys set)
    balance_refresh_s: float = 60.0
    funding_refresh_s: float = 600.0  # how often venues are asked for their funding facts; 0: never
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    venues: dict[str, VenueState] = field(default_factory=dict)
    _last_event_mono: float | None = None

    def now(self) -> float:
        """The scanner's event clock advanced by the local time elapsed since the last event."""
        if self.scanner.clock is None or self._last_event_mono is None:
            return time.time()
        return self.scanner.clock + (time.monotonic() - self._last_event_mono)

    async def run(self) -> None:
        """Run every venue and the timers until ``stop`` is set; then close the scanner (not the adapters)."""
        tasks = [asyncio.create_task(self._venue(name, a), name=f"venue-{name}") for name, a in self.adapters.items()]
        tasks.append(asyncio.create_task(self._timers(), name="scanner-timers"))
        if self.balance_venues:
            tasks.append(asyncio.create_task(self._balances(), name="balance-refresh"))
        if self.funding_refresh_s > 0:
            tasks.append(asyncio.create_task(self._funding(), name="funding-refresh"))
        try:
            await self.stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.scanner.close(self.now() if self.scanner.clock is not None else None)

    async def close_adapters(self) -> None:
        """Close every adapter (after whatever else uses them, such as a live executor, is done)."""
        await asyncio.gather(*(self._close_adapter(n, a) for n, a in self.adapters.items()))

    async def _balances(self) -> None:
        """Read the balances of ``balance_venues`` now and every ``balance_refresh_s``: they cap sizes."""
        balances = self.scanner.balances
        while True:
            for name in self.balance_venues:
                try:
                    fetched = await self.adapters[name].fetch_balances()
                    first = name not in balances
                    balances[name] = dict(fetched)
                    if first:
                        logger.info("%s balances fetched; they cap sizes", name)
                except Exception as exc:  # noqa: BLE001 - without balances sizes are simply not capped
                    logger.warning("%s", balances_not_fetched(name, exc))
            await asyncio.sleep(self.balance_refresh_s)

    def _assets(self, name: str) -> list[str]:
        """The base and quote assets of the markets scanned on venue ``name``."""
        markets = [m for (ex, _), m in self.scanner.markets.items() if ex == name]
        return list(dict.fromkeys(a for m in markets for a in (m.base, m.quote)))

    async def refresh_funding(self) -> None:
        """Ask the venues for their funding facts as ``run`` does, until cancelled (``scan --workers``' parent runs only this)."""
        await self._funding()

    async def _funding(self) -> None:
        """Ask each venue for the funding facts of its scanned assets once its markets load, then every ``funding_refresh_s``.

        A failed ask is retried after at most a minute; a venue that states nothing is not asked again.
        """
        unsupported: set[str] = set()
        failing: set[str] = set()  # warned once; quiet until the venue answers again
        due: dict[str, float] = {}  # venue -> monotonic time of its next ask
        while True:
            for name, adapter in self.adapters.items():
                assets = self._assets(name)
                if name in unsupported or not assets or time.monotonic() < due.get(name, 0.0):
                    continue  # a venue whose markets are not loaded yet is asked at a later round
                try:
                    facts = await adapter.fetch_funding(assets)
                except NotSupported as exc:
                    unsupported.add(name)
                    logger.info("%s: %s; transfers there are unknown unless the config sets them", name, exc)
                    continue
                except Exception as exc:  # noqa: BLE001 - without facts transfers are unknown, not blocked
                    log = logger.debug if name in failing else logger.warning
                    log("%s funding facts not fetched (%s); kept what was known", name, public_name(exc))
                    failing.add(name)
                    due[name] = time.monotonic() + min(self.funding_refresh_s, 60.0)
                    continue
                if name in failing:
                    failing.discard(name)
                    logger.info("%s funding facts fetched again", name)
                due[name] = time.monotonic() + self.funding_refresh_s
                for f in facts:
                    self.scanner.set_funding(f, self.now())
            await asyncio.sleep(min(self.funding_refresh_s, 1.0))

    async def _close_adapter(self, name: str, adapter: Any) -> None:
        try:
            await asyncio.wait_for(adapter.close(), timeout=2.0)
        except Exception as exc:  # noqa: BLE001 - closing is best effort
            logger.debug("closing %s: %s", name, exc)

    async def _timers(self) -> None:
        last_stats = time.monotonic()
        while True:
            await asyncio.sleep(self.expire_interval)
            if self.scanner.episodes:
                self.scanner.expire(self.now())
            if time.monotonic() - last_stats >= self.stats_interval:
                last_stats = time.monotonic()
                await self.write_stats()

    async def write_stats(self) -> None:
        """Journal the changed funnel and feed rows in slices of about 100, yielding to the event loop between them."""
        while self.scanner.write_stats(max_rows=_STATS_SLICE_ROWS):
            await asyncio.sleep(0)

    async def _sleep_or_stop(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            pass

    async def _venue(self, name: str, adapter: Any) -> None:
        state = self.venues.setdefault(name, VenueState(name))
        backoff = self.initial_backoff
        loaded = False
        while not self.stop.is_set():
            try:
                if not loaded:
                    markets = await adapter.load_markets()
                    wanted = [s for s in self.symbols if s in markets]
                    missing = [s for s in self.symbols if s not in markets]
                    if missing:
                        logger.warning("%s does not list %s; not scanned there", name, ", ".join(missing))
                    for sym in wanted:
                        self.scanner.add_market(markets[sym])  # the venue's taker_fee override is the adapter's
                    state.markets = len(wanted)
                    loaded = True
                    if not wanted:
                        logger.warning("%s: none of the scanned symbols is listed; venue idle", name)
                        return
                    symbols = wanted
                # books the adapter's gate refuses reach the scanner as untrue, in their place in the stream
                adapter.on_untrue_book = (lambda symbol, ts, reason, venue=name:
                                          self.scanner.on_untrue_book(venue, symbol, ts, reason))
                async for book in adapter.watch_books(symbols):
                    if not state.reachable:
                        if state.failures:
                            logger.warning("%s reachable again", name)
                            back = getattr(self.on_unreachable, "reachable", None)
                            if back is not None:
                                back(name)
                        state.reachable = True
                        state.last_error = None
                        state.down_since = None
                    backoff = self.initial_backoff
                    try:
                        self.scanner.on_book_event(book)
                    except Exception:  # a book the core cannot handle is skipped, never the whole feed
                        logger.exception("%s: book skipped", name)
                    self._last_event_mono = time.monotonic()
                    if self.stop.is_set():
                        return
                raise ConnectionError("book stream ended")
            except asyncio.CancelledError:
                raise
            except (AuthError, BadInput) as exc:
                state.reachable = False
                state.last_error = str(exc)
                state.down_since = state.down_since or time.monotonic()
                logger.error("%s stopped: %s", name, exc)
                return
            except (UnexpectedPayload, BookIntegrityError) as exc:  # the venue is up; its stream needs a restart
                if isinstance(exc, BookIntegrityError):
                    state.checksum_failures += 1
                logger.warning("%s: %s; resubscribing", name, exc)
                await self._sleep_or_stop(min(backoff, 1.0))
                backoff = min(backoff * 2, self.max_backoff)
            except Exception as exc:  # noqa: BLE001 - every other failure is retried with backoff
                state.reachable = False
                state.failures += 1
                if isinstance(exc, RateLimited):
                    state.rate_limited += 1
                message = describe(exc)
                state.last_error = message
                state.next_retry = time.monotonic() + backoff
                state.down_since = state.down_since or time.monotonic()
                if self.on_unreachable is not None:
                    self.on_unreachable(name, message, backoff)
                else:
                    logger.warning("%s unreachable (%s); retrying in %.0f s", name, message, backoff)
                await self._sleep_or_stop(backoff)
                backoff = min(backoff * 2, self.max_backoff)
