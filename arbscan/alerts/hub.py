"""From arbscan's events to alerts: which destination gets what, once, and when its thresholds are met.

:class:`Alerts` is handed to whatever emits events (``arbscan.app`` wires it):

* the scanner (an episode listener): an episode is announced to a destination once, when its peak
  first reaches the destination's ``min_net_bps`` and ``min_profit`` (at its opening or later), and
  its close goes to the destinations it was announced to;
* each executor: its trades as they finish (``Lifecycle.finished``, paper and live), its kill switch's
  halts raised and cleared (``KillSwitch.listeners``);
* during a scan, :meth:`Alerts.watch` looks at the live driver every second: venues failing for longer
  than ``unreachable_after_s`` and their recovery, books without an update for longer than
  ``stale_after_s`` and their recovery, and the UTC day (its summary goes out when the day is over).

Work on the caller's side is formatting a message and a queue append; delivery is the dispatcher's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from arbscan.alerts import events
from arbscan.alerts.destinations import Destination
from arbscan.alerts.dispatch import Dispatcher
from arbscan.alerts.events import Alert
from arbscan.model import Route
from arbscan.execution.risk import day_start

__all__ = ["Alerts", "DayTally", "WATCH_INTERVAL_S"]

logger = logging.getLogger(__name__)

WATCH_INTERVAL_S = 1.0
"""How often a scan's venues, books and UTC day are looked at."""


@dataclass(slots=True)
class DayTally:
    """What one UTC day's summary says: episodes and their best routes, trades and realised PnL."""

    day: float  # UTC midnight
    since: float  # first moment counted (later than ``day`` when the run started that day)
    episodes: int = 0
    routes: dict[Route, tuple[int, Decimal, Decimal]] = field(default_factory=dict)  # episodes, best profit, its bps
    trades: Counter[tuple[str, str]] = field(default_factory=Counter)  # (mode, status) -> trades
    pnl: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (mode, quote) -> realised PnL

    def add_episode(self, ep: Any) -> None:
        """Count a closed episode (``arbscan.scan.records.Episode``)."""
        self.episodes += 1
        count, best, best_bps = self.routes.get(ep.route, (0, None, None))
        p = ep.peak
        if best is None or p.net_profit > best:
            best, best_bps = p.net_profit, p.net_bps
        self.routes[ep.route] = (count + 1, best, best_bps)

    def add_trade(self, mode: str, trade: Any, outcome: Any) -> None:
        """Count a finished trade and its realised PnL (in its quote currency)."""
        self.trades[(mode, outcome.status)] += 1
        key = (mode, trade.quote)
        self.pnl[key] = self.pnl.get(key, Decimal(0)) + outcome.realised_pnl


class Alerts:
    """The alert hub of one run: sources in (see the module docstring), one dispatcher out."""

    def __init__(self, destinations: Sequence[Destination], dispatcher: Dispatcher) -> None:
        self.destinations = list(destinations)
        self.dispatcher = dispatcher
        self._announced: dict[Route, list[Destination]] = {}
        self._tally: DayTally | None = None
        self._down: dict[tuple[str, str], float] = {}  # (destination, venue) -> monotonic time it went down
        self._stale: dict[tuple[str, str], dict[str, float]] = {}  # book -> destination -> its ts when stale
        self._venue_dests = [d for d in self.destinations if d.wants("venue_unreachable") or d.wants("venue_recovered")]
        self._feed_dests = [d for d in self.destinations if d.wants("feed_stale") or d.wants("feed_recovered")]

    def __repr__(self) -> str:
        return f"Alerts({', '.join(repr(d.name) for d in self.destinations)})"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start delivering (the dispatcher's thread)."""
        self.dispatcher.start()

    def close(self) -> None:
        """Let queued alerts go out for a short grace, then stop; every alert is in the audit by then."""
        self.dispatcher.close()

    def send(self, alert: Alert, to: Sequence[Destination] | None = None) -> None:
        """Queue ``alert`` for every destination (of ``to``) that wants its event."""
        for d in self.destinations if to is None else to:
            if d.wants(alert.event):
                self.dispatcher.submit(d.name, alert)

    # -- the scanner's episodes ----------------------------------------------------------------

    def episode_opened(self, ep: Any, t: float) -> None:
        """An episode opened: announce it where its figures meet the thresholds."""
        self.episode_peak(ep, t)

    def episode_peak(self, ep: Any, t: float) -> None:
        """An open episode has a new peak: announce it to destinations whose thresholds it now meets."""
        p = ep.peak
        told = self._announced.get(ep.route)
        alert = None
        for d in self.destinations:
            cfg = d.config
            if (told is None or d not in told) and p.net_bps >= cfg.min_net_bps and p.net_profit >= cfg.min_profit:
                if told is None:
                    told = self._announced[ep.route] = []
                told.append(d)
                if d.wants("episode_opened"):
                    alert = alert or events.episode_opened(ep, t)
                    self.dispatcher.submit(d.name, alert)

    def episode_closed(self, ep: Any, t: float) -> None:
        """An episode closed: count it for the day; tell the destinations it was announced to."""
        self._roll(t)
        assert self._tally is not None
        self._tally.add_episode(ep)
        told = self._announced.pop(ep.route, None)
        if told:
            self.send(events.episode_closed(ep, t), told)

    # -- executors -----------------------------------------------------------------------------

    def watch_executor(self, executor: Any) -> None:
        """Listen to one executor's finished trades and kill switch (paper or live)."""
        executor.lifecycle.finished.append(self.trade_listener(executor.mode))
        kill = executor.kill
        kill.listeners.append(self.halt_listener(executor.mode, executor.name, kill.clock))

    def trade_listener(self, mode: str) -> Callable[[Any, Any, bool], None]:
        """A ``Lifecycle.finished`` listener for ``mode`` ('paper' | 'live')."""

        def finished(trade: Any, outcome: Any, startup: bool) -> None:
            t = trade.closed if trade.closed is not None else time.time()
            self._roll(t)
            assert self._tally is not None
            self._tally.add_trade(mode, trade, outcome)
            to = [d for d in self.destinations if d.wants("trade_finished")
                  and (not d.config.trade_statuses or outcome.status in d.config.trade_statuses)]
            if to:
                self.send(events.trade_finished(mode, trade, outcome, startup, t), to)

        return finished

    def halt_listener(self, mode: str, strategy: str, clock: Callable[[], float]) -> Callable[[str, str], None]:
        """A ``KillSwitch`` listener of ``(event, reason)``: 'raised', 'loaded' (an earlier run's) or 'cleared'."""

        def on_halt(event: str, reason: str) -> None:
            t = clock()
            if event == "cleared":
                self.send(events.halt_cleared(mode, strategy, reason, t))
            else:
                self.send(events.halt_raised(mode, strategy, reason, t, earlier=event == "loaded"))

        return on_halt

    # -- a scan's venues, books and days -------------------------------------------------------

    async def watch(self, driver: Any, interval: float = WATCH_INTERVAL_S) -> None:
        """Until cancelled, every ``interval`` seconds: :meth:`check` the live driver."""
        while True:
            await asyncio.sleep(interval)
            try:
                self.check(driver, driver.now(), time.monotonic())
            except Exception:  # noqa: BLE001 - a bug here must not end the scan
                logger.exception("alerts: checking venues and books failed")

    def check(self, driver: Any, now: float, mono: float) -> None:
        """Venues down or back, books stale or updated again, the day's end; ``now`` is the event clock."""
        self._roll(now)
        for d in self._venue_dests:
            after = d.config.unreachable_after_s
            for name, state in driver.venues.items():
                key = (d.name, name)
                since = state.down_since
                if since is not None and key not in self._down and mono - since >= after:
                    self._down[key] = since
                    self.send(events.venue_unreachable(name, mono - since, state.last_error, now), [d])
                elif since is None and key in self._down:
                    self.send(events.venue_recovered(name, mono - self._down.pop(key), now), [d])
        if self._feed_dests:
            self._check_books(driver.scanner.books, now)

    def _check_books(self, books: Any, now: float) -> None:
        dests = self._feed_dests
        least = min(d.config.stale_after_s for d in dests)
        stale = self._stale
        for key, book in books.items():
            age = now - book.ts
            told = stale.get(key)
            if told is None and age < least:
                continue
            exchange, symbol = key
            for d in dests:
                was = told.get(d.name) if told is not None else None
                if was is None and age >= d.config.stale_after_s:
                    told = stale.setdefault(key, {})
                    told[d.name] = book.ts
                    self.send(events.feed_stale(exchange, symbol, age, now), [d])
                elif was is not None and book.ts > was:
                    del told[d.name]  # type: ignore[union-attr]
                    self.send(events.feed_recovered(exchange, symbol, book.ts - was, now), [d])
            if told is not None and not told:
                del stale[key]

    def _roll(self, t: float) -> None:
        """Start the tally of ``t``'s UTC day; when a day is over, send its summary first."""
        tally = self._tally
        day = day_start(t)
        if tally is None:
            self._tally = DayTally(day, t)
        elif day > tally.day:
            self.send(events.daily_summary(tally, t))
            self._tally = DayTally(day, day)
