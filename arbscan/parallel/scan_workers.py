"""``scan --workers N`` (N >= 2): live symbol shards, the journal writer, and the one executor in the parent.

The parent opens the run, splits ``scanner.symbols`` over the shards (``arbscan.parallel.shard_map``, printed at
start), starts the writer and the shards (``arbscan.parallel.shard_scan``) and handles what they send as it
comes: the executors (paper, or the one live executor) get routes and book updates through
``arbscan.parallel.executor_feed.ExecutorFeed``; the status view shows every shard's venues and books. All
private venue calls happen here, in one process: balances of venues with keys (read at start and
every minute, then sent to every shard, where they cap sizes), the venues' funding facts (every
``scanner.transfer_refresh_s``; journaled here, then sent to every shard) and a live executor's
orders. An ``[[alerts]]`` hub runs here too, on the shards' episodes and status reports and on the
executors' trades.

A shard that dies is reported in one line and started again after a backoff (1 s doubling to 30 s);
the episodes it had open, as of its last status report (every second), are journaled as closed
``stale`` with ``close_detail = 'shard_died'`` at the time it was found dead (episodes that opened
after that report, and observations since it, are lost), and its successor continues the route
funnels and feed statistics its predecessor journaled (up to 5 s of counts may be missing). The
journal writer dying stops the scan (exit 1). SIGINT/SIGTERM or ``--duration`` stop every process
within a few seconds with the journal flushed.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from arbscan.scan.feeds import balances_not_fetched
from collections.abc import Callable, Sequence
from typing import Any

from arbscan.errors import WriteFailed
from arbscan.journal.schema import JOURNAL_FAILED
from arbscan.config.settings import Settings
from arbscan.parallel.executor_feed import ExecutorFeed
from arbscan.scan.feeds import LiveDriver
from arbscan.parallel.remote_store import RemoteStore
from arbscan.parallel.supervisor import ScanSupervisor
from arbscan.parallel.shard_map import ShardMap
from arbscan.parallel.transport import pipe

__all__ = ["run_scan_workers"]

logger = logging.getLogger(__name__)


class _FundingAsker(LiveDriver):
    """The parent's share of the feed driver: it asks the venues for the scanned assets' funding facts.

    With keys that is a private call, so it happens here, in one process; the facts go to the parent's
    scanner (which journals them and keeps them for the executors) and from it to every shard.
    """

    def _assets(self, name: str) -> list[str]:
        """The assets of ``scanner.symbols``: the parent has no markets of its own to take them from."""
        return list(dict.fromkeys(a for sym in self.symbols for a in sym.split("/")))


class _ToShards:
    """A listener of the parent's scanner: funding facts it takes are sent to every shard."""

    def __init__(self, supervisor: ScanSupervisor) -> None:
        self.supervisor = supervisor

    def on_funding(self, facts: Any, t: float | None) -> None:
        """Send the facts (as the parent's scanner now holds them) to every shard."""
        self.supervisor.send_funding(facts)


async def run_scan_workers(settings: Settings, *, duration: float | None, strategies: Sequence[str], live: bool,
                           validate_orders: bool, status_view: Callable[[Any], Any],
                           on_unreachable: Callable[[str, str, float], None],
                           web: Callable[[Any, int], Any] | None = None) -> Any:
    """``scan`` with ``settings.scanner.workers`` shards until stopped; returns ``arbscan.parts.LiveRun``.

    ``web(view, run_id)``: a web server (``arbscan.web``) over the shards' merged view, served on this loop.
    """
    from adapters.base import load_credentials

    from arbscan import parts
    from arbscan.parts import LiveRun
    from arbscan.scan.view import say
    from arbscan.journal.store import Store

    sc = settings.scanner
    validate = live and (validate_orders or settings.live.validate_orders)
    shard_map = ShardMap.build({sym: len(settings.venues) for sym in sc.symbols}, sc.workers)
    store = Store(sc.db)
    run_id = store.start_run("scan", ",".join(v.exchange for v in settings.venues),
                             parts.settings_summary(settings, workers=sc.workers))
    keyed = tuple(v.exchange for v in settings.venues if not v.balances and load_credentials(v.exchange) is not None)
    adapters: dict[str, Any] = {}
    executors: list[Any] = []
    sup: ScanSupervisor | None = None
    hub = None
    outcome = "error"
    loop = asyncio.get_running_loop()
    try:
        journal_in, journal_out = pipe()
        journal = RemoteStore(journal_out, run_id, sc.db)
        here = parts.build_scanner(settings, journal, {})  # no books: the routes' markets, funding facts, transfers
        if live or keyed or sc.transfer_refresh_s > 0:  # private calls are the parent's alone (Kraken nonces)
            adapters = parts.build_adapters(settings, validate_orders=validate)
        if live:
            executors = [parts.live_executor_for(settings, strategies, store, adapters, here.markets, validate,
                                               here.transfers)]
        elif strategies:
            venue_balances = {v.exchange: dict(v.balances) for v in settings.venues if v.balances}
            executors = parts.paper_executors(settings, strategies, journal, here.markets, venue_balances, here.transfers)
        hub = parts.alerts_for_run(settings, store)  # audited through the parent's own journal
        for ex in executors if hub is not None else ():
            hub.watch_executor(ex)
        idle = sum(1 for syms in shard_map.shards if not syms)  # more workers than symbols
        note = f"; {idle} without a symbol, not started" if idle else ""
        say(f"arbscan: scan with {sc.workers} workers (symbols split by venues, stable{note}):")
        for k, line in enumerate(shard_map.describe({sym: len(settings.venues) for sym in sc.symbols})):
            say(f"  {line}" + ("" if shard_map.shards[k] else " (not started)"))
        logger.info("shards: %s", shard_map.shards)
        feed = ExecutorFeed(executors, here.markets, None, [hub] if hub is not None else ())
        sup = ScanSupervisor(settings, shard_map, run_id, feed, journal, journal_in, parts.build_adapters,
                             tuple(ex.strategy for ex in executors), say, on_unreachable, dict(parts.DRIVER_OPTIONS),
                             episodes=hub is not None)
        here.listeners.append(_ToShards(sup))
        for k in range(shard_map.count):
            if shard_map.shards[k]:  # more workers than symbols: the others would have nothing to watch
                sup.start_shard(k)
        asker = _FundingAsker(here, adapters, sc.symbols, funding_refresh_s=sc.transfer_refresh_s)
        server = web(sup.view, run_id) if web is not None else None
        if server is not None:
            await server.start()
        try:
            interrupted = await _run_until_stopped(sup, loop, duration, keyed, adapters, status_view,
                                                   sc.status_interval_ms,
                                                   asker if adapters and sc.transfer_refresh_s > 0 else None, hub)
        finally:
            if server is not None:
                await server.stop()
        last = [r.last_ts for r in sup.reports.values() if r.last_ts is not None]
        sup.feed.close(max(last) if last else None)
        for ex in executors:  # a live trade in flight settles first (bounded by its deadlines)
            await ex.close()
        totals = sup.totals()
        totals.require_transferable = sc.require_transferable
        for ex, skipped in zip(executors, totals.skipped):
            ex.skips.update(skipped)
        await sup.finish_writer()
        if sup.failure is not None:
            if sup.write_failed:
                outcome = JOURNAL_FAILED
                raise WriteFailed(sup.failure)
            raise RuntimeError(sup.failure)
        outcome = "interrupted" if interrupted else "ok"
        store.end_run(outcome, events=totals.events)
        return LiveRun(totals, run_id, executors)
    finally:
        if sup is not None:
            sup.processes.stop_all()
        if hub is not None:
            hub.close()  # its last alerts are audited before the journal closes
        await asyncio.gather(*(_close(a) for a in adapters.values()))
        store.close(outcome)


async def _run_until_stopped(sup: ScanSupervisor, loop: asyncio.AbstractEventLoop, duration: float | None,
                             keyed: tuple[str, ...], adapters: dict[str, Any], status_view: Callable[[Any], Any],
                             status_interval_ms: int, asker: _FundingAsker | None, hub: Any) -> bool:
    """Watch, refresh balances and funding facts, draw the status and check alerts until a signal, ``duration`` or
    a failure; then stop the shards."""
    interrupted = []

    def on_signal() -> None:
        interrupted.append(True)
        sup.stop_event.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    view = status_view(sup.view)

    async def draw() -> None:
        while True:
            await asyncio.sleep(status_interval_ms / 1000)
            sup.view.refresh()
            view.draw()

    async def balances() -> None:
        while True:
            for name in keyed:
                try:
                    sup.send_balances(name, dict(await adapters[name].fetch_balances()))
                except Exception as exc:  # noqa: BLE001 - without balances sizes are simply not capped
                    logger.warning("%s", balances_not_fetched(name, exc))
            await asyncio.sleep(60.0)

    tasks = [asyncio.create_task(sup.watch()), asyncio.create_task(draw())]
    if keyed:
        tasks.append(asyncio.create_task(balances()))
    if asker is not None:
        tasks.append(asyncio.create_task(asker.refresh_funding(), name="funding-refresh"))
    if hub is not None:
        hub.start()
        tasks.append(asyncio.create_task(hub.watch(sup.view), name="alerts-watch"))
    if duration:
        loop.call_later(duration, sup.stop_event.set)
    try:
        await sup.stop_event.wait()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        view.close()
        await sup.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return bool(interrupted)


async def _close(adapter: Any) -> None:
    try:
        await asyncio.wait_for(adapter.close(), timeout=2.0)
    except Exception as exc:  # noqa: BLE001 - closing is best effort
        logger.debug("closing an adapter: %s", exc)
