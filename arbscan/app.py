"""Builds and runs arbscan once per command: ``replay`` on a file, ``scan`` and ``record`` on the live venues.

``arbscan.cli`` parses the arguments and calls :func:`run_replay_command` or :func:`run_live_command`
here; the parts come from ``arbscan.parts`` (one adapter per venue, the scanner, the journal, the
executors, alerts). A replay runs the file on its own clock in this process, or over N symbol shards
(``arbscan.parallel.replay_workers``) with ``scanner.workers`` above 1. A live run is one feed driver
(``arbscan.scan.feeds.LiveDriver``) over one adapter per venue; the journal and the executors for
``scan``, a replay file for ``record``; signals, the status view, alerts and a clean close (a trade in
flight settles, the last alerts go out, the recording is renamed into place or kept aside) in that order.

Layer: just below the CLI; it may import every other layer.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from arbscan import parts  # build_adapters and DRIVER_OPTIONS are looked up per run: tests replace them there
from arbscan.config.settings import Settings
from arbscan.errors import BadInput, ConfigError
from arbscan.execution.executor import Executor
from arbscan.parts import (
    LiveRun,
    ReplayRun,
    alerts_for_run,
    attach_alerts,
    build_scanner,
    check_replay_args,
    live_executor_for,
    paper_executors,
    say_warning,
    settings_summary,
    venue_balances,
)
from arbscan.replay.writer import BookRecorder, ReplayWriter

__all__ = ["run_replay_command", "run_live_command"]

logger = logging.getLogger(__name__)


def run_replay_command(settings: Settings, path: Path, *, depth: int, strategies: Sequence[str],
                       progress: Any = None, alerts: bool = False, warn: Callable[[str], None] | None = None,
                       web: str | None = None) -> ReplayRun:
    """Replay ``path`` into the journal with paper executors for ``strategies``; SIGINT/SIGTERM end it cleanly.

    ``alerts`` (``--alerts``): send ``[[alerts]]`` on the file's clock; off by default so backtests do not spam.
    The settings are checked against the file's markets first (``arbscan.config.checks``; warnings go to ``warn``),
    before the journal is opened. With ``scanner.workers`` above 1 the symbols are split over that many
    processes (``arbscan.parallel.replay_workers``). ``web`` (HOST:PORT): serve the live web view
    (``arbscan.web``) on a thread of its own while the file plays.
    """
    from arbscan.config.checks import check_settings, replay_markets
    from arbscan.replay.run import replay_header, run_replay
    from arbscan.journal.store import Store

    check_replay_args(path, depth)
    if web is not None:
        from arbscan.web.server import check_listen, web_token

        check_listen(web, web_token())  # a refused address stops the run before the journal is touched
    for line in check_settings(settings, "replay", strategies=strategies, replay=replay_markets(path)):
        (warn or say_warning)(line)
    requested = settings.scanner.workers
    if requested > 1:
        from arbscan.parallel.replay_workers import run_replay_workers, workers_for_file

        settings = workers_for_file(settings, path)
        if settings.scanner.workers > 1:
            if web is not None:
                raise BadInput("replay --web runs the file in one process: drop --workers (or scanner.workers)")
            return run_replay_workers(settings, path, depth=depth, strategies=strategies, progress=progress,
                                      alerts=alerts, requested=requested)
    sc = settings.scanner
    store = Store(sc.db)
    run_id = store.start_run("replay", str(path), settings_summary(settings, depth=depth))
    balances = venue_balances(settings)  # the file's balance lines override these
    scanner = build_scanner(settings, store, balances)
    hub = None
    try:
        executors: list[Executor] = []
        if strategies:
            fallback = venue_balances(settings)
            for exchange, assets in replay_header(path).items():
                fallback.setdefault(exchange, {}).update(assets)
            executors = paper_executors(settings, strategies, store, scanner.markets, fallback, scanner.transfers)
        if alerts:
            hub = alerts_for_run(settings, store, required=True)
    except BaseException:
        store.close("error")  # a refused strategy is a failed run, not an empty successful one
        raise
    scanner.listeners.extend(executors)
    server = None
    if web is not None:
        from arbscan.web import replay_server

        server = replay_server(settings.web, web, scanner, sc.db, run_id, f"replay {path.name}", _secrets(settings))
        try:
            server.start()
        except BaseException:
            store.close("error")
            raise
    if hub is not None:
        attach_alerts(hub, scanner, executors)
        hub.start()
    stop_requested: list[int] = []

    def _request_stop(signum: int, frame: Any) -> None:
        stop_requested.append(signum)  # the replay loop checks this after every event and ends cleanly

    old_handlers = {sig: signal.signal(sig, _request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    status = "error"
    result = None
    try:
        result = run_replay(path, store, scanner=scanner, depth=depth, progress=progress,
                            should_stop=lambda: bool(stop_requested), fee_overrides=settings.fee_overrides())
        status = "interrupted" if result.interrupted else "ok"
    finally:
        if progress:
            progress.done()
        if server is not None:
            server.stop()
        if hub is not None:
            hub.close()  # its last alerts are audited before the journal closes
        try:
            if result is not None:
                store.end_run(status, events=result.book_events)  # WriteFailed when the last rows cannot be written
        finally:
            store.close(status)
            for sig, handler in old_handlers.items():  # only now: a signal during the final flush is harmless
                signal.signal(sig, handler)
    return ReplayRun(result, run_id, executors)



def _keyed_venues(settings: Settings, adapters: Mapping[str, Any]) -> tuple[str, ...]:
    """Venues with API keys and no configured balances: their own balances are read and cap sizes."""
    from adapters.base import load_credentials

    return tuple(v.exchange for v in settings.venues
                 if not v.balances and v.exchange in adapters and load_credentials(v.exchange) is not None)


async def run_live_command(settings: Settings, mode: str, *, duration: float | None, strategies: Sequence[str],
                           live: bool, validate_orders: bool, out_path: str | None, status_view: Callable[[Any], Any],
                           on_unreachable: Callable[[str, str, float], None], force: bool = False,
                           warn: Callable[[str], None] | None = None, web: str | None = None) -> LiveRun:
    """``scan`` (journal, executors) or ``record`` (a replay file) on the configured venues until stopped.

    The settings are checked first (``arbscan.config.checks``; warnings go to ``warn``). ``record`` refuses an
    existing ``out_path`` unless ``force``; the file appears only when the recording closes with books in
    it (a recording that got none leaves no file, one stopped by an error leaves its ``.part`` file).
    A ``scan`` with ``scanner.workers`` above 1 splits the symbols over that many processes
    (``arbscan.parallel.scan_workers``). ``web`` (HOST:PORT, ``scan`` only): serve the live web view
    (``arbscan.web``) on this event loop.
    """
    from arbscan.config.checks import check_settings
    from arbscan.scan.feeds import LiveDriver

    sc = settings.scanner
    if not settings.venues:
        raise ConfigError("venues: none configured")
    if validate_orders and not live:
        raise BadInput("--validate-orders needs --live (it is the last step before live orders)")
    if duration is not None and not (0 < duration < float("inf")):
        raise BadInput(f"--duration must be a positive number of seconds, got {duration}")
    if mode == "record" and out_path is not None and Path(out_path).exists() and not force:
        raise BadInput(f"--out {out_path!r} already exists; pass --force to replace it (the new recording replaces "
                       "it only once it closes properly)")
    if web is not None:
        from arbscan.web.server import check_listen, web_token

        check_listen(web, web_token())
    trading = list(strategies) if strategies or not live else [settings.strategies[0].name] if settings.strategies else []
    for line in check_settings(settings, mode, strategies=trading):
        (warn or say_warning)(line)
    if mode == "scan" and sc.workers > 1:
        from arbscan.parallel.scan_workers import run_scan_workers

        return await run_scan_workers(settings, duration=duration, strategies=strategies, live=live,
                                      validate_orders=validate_orders, status_view=status_view,
                                      on_unreachable=on_unreachable, web=_workers_web(settings, web))
    store = writer = hub = None
    executors: list[Executor] = []
    scanner = build_scanner(settings, None, venue_balances(settings))
    try:  # everything that can refuse bad input, before any venue is touched
        validate = live and (validate_orders or settings.live.validate_orders)
        if mode == "scan":
            from arbscan.journal.store import Store

            store = scanner.store = Store(sc.db)
            store.start_run("scan", ",".join(v.exchange for v in settings.venues), settings_summary(settings))
            hub = alerts_for_run(settings, store)
        else:
            writer = ReplayWriter(out_path)
        adapters = parts.build_adapters(settings, validate_orders=validate)
        if live:
            executors = [live_executor_for(settings, strategies, store, adapters, scanner.markets, validate,
                                           scanner.transfers)]
        elif strategies and store is not None:
            executors = paper_executors(settings, strategies, store, scanner.markets, venue_balances(settings),
                                        scanner.transfers)
    except BaseException:
        if store is not None:
            store.close("error")
        if writer is not None:
            writer.discard()
        raise
    scanner.listeners.extend(executors)
    if hub is not None:
        attach_alerts(hub, scanner, executors)
    if writer is not None:
        scanner.listeners.append(BookRecorder(writer, scanner.markets))
    driver = LiveDriver(scanner, adapters, sc.symbols, depth=sc.book_depth, on_unreachable=on_unreachable,
                        balance_venues=_keyed_venues(settings, adapters) if store else (),
                        funding_refresh_s=sc.transfer_refresh_s, **parts.DRIVER_OPTIONS)
    loop = asyncio.get_running_loop()
    interrupted = False
    write_failed: list[BaseException] = []

    def _on_signal() -> None:
        nonlocal interrupted
        interrupted = True
        driver.stop.set()

    def _on_write_failure(exc: BaseException) -> None:  # the journal's writer thread, or the recorder
        write_failed.append(exc)
        loop.call_soon_threadsafe(driver.stop.set)

    if store is not None:
        store.on_failure(_on_write_failure)
    if writer is not None:
        writer.on_failure = _on_write_failure

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, _on_signal)
    view = status_view(driver)
    server = None
    if web is not None and store is not None:
        from arbscan.web import live_server

        server = live_server(settings.web, web, scanner, driver, adapters, sc.db, store.run_id, "scan",
                             _secrets(settings))

    async def _status_loop() -> None:
        while True:
            await asyncio.sleep(sc.status_interval_ms / 1000)
            view.draw()

    status_task = asyncio.create_task(_status_loop())
    watch_task = None
    if hub is not None:
        hub.start()
        watch_task = asyncio.create_task(hub.watch(driver), name="alerts-watch")
    if duration:
        loop.call_later(duration, driver.stop.set)
    outcome = "error"
    try:
        if server is not None:
            await server.start()
        await driver.run()
        outcome = "error" if write_failed else "interrupted" if interrupted else "ok"
    finally:
        background = [t for t in (status_task, watch_task) if t is not None]
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if server is not None:
            await server.stop()
        view.close()
        for ex in executors:  # a live trade in flight settles first (bounded by its deadlines)
            await ex.close()
        await driver.close_adapters()
        if hub is not None:  # its last alerts go out (a short grace) and are audited before the journal closes
            await loop.run_in_executor(None, hub.close)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if writer is not None:
            _finish_recording(writer, outcome)
        if store is not None:
            if mode == "scan" and outcome != "error" and not scanner.events:
                outcome = "unreachable"  # no venue sent a book: the run saw nothing (exit 1, as record)
            try:
                store.end_run(outcome, events=scanner.events)  # WriteFailed (run marked) after a failed write
            finally:
                store.close(outcome)
    if writer is not None and writer.failure is not None:
        raise writer.failure
    return LiveRun(scanner, store.run_id if store is not None else None, executors,
                   writer.books if writer is not None else 0)


def _finish_recording(writer: ReplayWriter, outcome: str) -> None:
    """Rename a recording into place when it closed properly with books; else leave the target untouched."""
    if writer.failure is not None:
        writer.abandon()  # the one line is the caller's: WriteFailed names the .part file
    elif outcome == "error":
        kept = writer.abandon()
        logger.error("recording stopped by an error; what it recorded is in %s (%s was not touched)", kept, writer.path)
    elif writer.books:
        writer.close()
    else:
        writer.discard()


def _secrets(settings: Settings) -> list[str]:
    """Values the web view must never show: what the alert destinations' environment variables hold."""
    import os

    names = [n for a in settings.alerts for n in (a.url_env, a.token_env) if n]
    return [os.environ[n] for n in names if os.environ.get(n)]


def _workers_web(settings: Settings, web: str | None) -> Callable[[Any, int], Any] | None:
    """For ``scan --workers N``: a factory of the parent's web view over the shards' merged view (or None)."""
    if web is None:
        return None

    def make(view: Any, run_id: int) -> Any:
        from arbscan.web import workers_server

        return workers_server(settings.web, web, view, settings.scanner.db, run_id,
                              f"scan with {settings.scanner.workers} workers", _secrets(settings))
    return make
