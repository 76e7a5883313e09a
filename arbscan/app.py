"""Builds and runs arbscan once per command: one adapter per venue, the store, the executors, the listeners.

This is the one place where parts are put together: ``cli.py`` parses arguments and calls
:func:`run_replay_command` here or ``arbscan.app_live.run_live_command`` (scan, record: the same parts
run on the live venues). Every venue gets one adapter, shared by the
feed driver and a live executor. A venue's configured ``taker_fee`` is applied once per source of
markets: a venue's markets get it in its adapter (:func:`build_adapters` passes it to the adapter's
constructor, so the feed driver, a live executor's start-up and ``arbscan markets`` all see it), a
replay file's market lines in ``arbscan.replay.file_market`` (one process and every replay shard).
Paper or live is chosen here, once, by building one executor per strategy.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arbscan import __version__
from arbscan.config import Settings, StrategyConfig
from arbscan.errors import BadInput, ConfigError
from arbscan.executor import Executor
from arbscan.funding import FundingBook
from arbscan.model import Balances, Market
from arbscan.scanner import Scanner

if TYPE_CHECKING:
    from arbscan.alerts import Alerts

__all__ = [
    "build_scanner",
    "build_adapters",
    "starting_balances",
    "paper_executors",
    "live_executor_for",
    "settings_summary",
    "run_replay_command",
    "check_replay_args",
    "alerts_for_run",
    "DRIVER_OPTIONS",
    "ALERT_OPTIONS",
]

logger = logging.getLogger(__name__)

DRIVER_OPTIONS: dict[str, Any] = {}
"""Extra keyword arguments for ``arbscan.feeds.LiveDriver`` (tests shorten ``initial_backoff`` here)."""

ALERT_OPTIONS: dict[str, Any] = {}
"""Extra keyword arguments for ``arbscan.alerts.build_alerts`` (tests shorten ``close_grace_s`` here)."""


def settings_summary(settings: Settings, **extra: Any) -> dict[str, Any]:
    """What a ``runs`` row records about the settings: names and numbers only, never secrets."""
    sc = settings.scanner
    out: dict[str, Any] = {
        "config": settings.source,
        "symbols": list(sc.symbols),
        "min_net_bps": str(sc.min_net_bps),
        "max_book_age_ms": sc.max_book_age_ms,
        "book_depth": sc.book_depth,
        "require_transferable": sc.require_transferable,
        "rebalance_batch": sc.rebalance_batch,
        "venues": [v.exchange for v in settings.venues],
        "version": __version__,
    }
    if settings.alerts:
        out["alerts"] = [a.name for a in settings.alerts]  # names only: their URLs and tokens are secrets
    out.update(extra)
    return out


def build_scanner(settings: Settings, store: Any, balances: Balances) -> Scanner:
    """The scanner of a run: thresholds, balances, and the config's ``transfer`` tables under its funding facts."""
    sc = settings.scanner
    return Scanner({}, store, min_net_bps=sc.min_net_bps, max_book_age_ms=sc.max_book_age_ms, balances=balances,
                   funding=FundingBook(settings.transfer_overrides()), require_transferable=sc.require_transferable,
                   rebalance_batch=sc.rebalance_batch)


def build_adapters(settings: Settings, *, validate_orders: bool = False) -> dict[str, Any]:
    """One adapter per configured venue (``validate_orders``: Kraken orders are sent validate-only)."""
    from adapters import build_adapter

    return {v.exchange: build_adapter(v, settings.scanner.book_depth, validate_orders=validate_orders)
            for v in settings.venues}


def venue_balances(settings: Settings) -> Balances:
    return {v.exchange: dict(v.balances) for v in settings.venues if v.balances}


def starting_balances(strategy: StrategyConfig, fallback: Mapping[str, Mapping[str, Any]] | None) -> Balances:
    """The strategy's own ``balances`` when set, else ``fallback`` (the venues' balances, a replay's lines).

    ``BadInput`` naming the strategy when neither has any: paper trading without capital is meaningless.
    """
    if strategy.balances:
        return {ex: dict(b) for ex, b in strategy.balances.items()}
    if fallback and any(fallback.values()):
        return {ex: dict(b) for ex, b in fallback.items() if b}
    raise BadInput(f"strategy {strategy.name!r}: no starting balances; set strategies.balances in the config "
                   "(or give the replay file balance lines)")


def paper_executors(settings: Settings, names: Iterable[str], store: Any, markets: Mapping[tuple[str, str], Market],
                    fallback: Mapping[str, Mapping[str, Any]] | None, transfers: Any = None) -> list[Executor]:
    """One paper executor per strategy name, in order (``ConfigError`` for an unknown name)."""
    from arbscan.paper import paper_executor

    out = []
    for name in dict.fromkeys(names):
        strategy = settings.strategy(name)
        out.append(paper_executor(strategy, markets, store, starting_balances=starting_balances(strategy, fallback),
                                  transfers=transfers))
    return out


def live_executor_for(settings: Settings, names: Sequence[str], store: Any, adapters: Mapping[str, Any],
                      markets: dict[tuple[str, str], Market], validate_orders: bool, transfers: Any = None) -> Executor:
    """The one live executor of ``scan --live``: the first ``--strategy`` (else the first configured).

    Its venues (the strategy's, all configured ones when empty) must all have API keys, else
    ``ConfigError`` naming the variables to set.
    """
    from arbscan.execution_journal import DurableJournal
    from arbscan.live import live_executor, require_credentials

    strategy = settings.strategy(names[0]) if names else settings.strategies[0]
    if len(names) > 1:
        raise ConfigError("--live runs one strategy: name a single --strategy")
    venues = [v.exchange for v in settings.venues if not strategy.venues or v.exchange in strategy.venues]
    if len(venues) < 2:
        raise ConfigError(f"strategies: {strategy.name!r} needs at least two configured venues to trade")
    require_credentials(venues)
    if store is None or getattr(store, "path", None) is None:
        raise ConfigError("--live needs the journal (scanner.db)")
    logger.warning("LIVE trading with strategy %r on %s%s", strategy.name, ", ".join(venues),
                   " (validate only: Kraken checks each order, nothing executes)" if validate_orders else "")
    return live_executor({v: adapters[v] for v in venues}, DurableJournal.for_store(store), settings.live, strategy,
                         markets=markets, validate_only=validate_orders, check_permissions=True,
                         symbols=strategy.symbols or settings.scanner.symbols,
                         transfers=transfers)


def alerts_for_run(settings: Settings, store: Any, *, required: bool = False) -> Alerts | None:
    """The run's alert hub from ``[[alerts]]`` (None without any), audited into ``store``; not started yet.

    ``required`` (``replay --alerts``): ``BadInput`` when no destination is configured. A destination
    whose URL or token is missing stops the run here, before any venue is touched.
    """
    if required and not settings.alerts:
        raise BadInput("--alerts: no [[alerts]] destination is configured")
    if not settings.alerts:
        return None
    from arbscan.alerts import build_alerts

    return build_alerts(settings.alerts, store, **ALERT_OPTIONS)


def attach_alerts(alerts: Alerts, scanner: Scanner, executors: Sequence[Executor]) -> None:
    """Hand the hub to what emits events: the scanner's episodes, each executor's trades and halts."""
    scanner.episode_listeners.append(alerts)
    for ex in executors:
        alerts.watch_executor(ex)


# -- replay --------------------------------------------------------------------------------------


@dataclass(slots=True)
class ReplayRun:
    """What ``arbscan replay`` did: the replay's result, its run id and the executors that traded."""

    result: Any
    run_id: int
    executors: list[Executor]


def check_replay_args(path: Path, depth: int) -> None:
    """``BadInput`` naming the problem when ``path`` is no replay file to read or ``depth`` is negative."""
    if path.is_dir():
        raise BadInput(f"replay file {str(path)!r} is a directory")
    if not path.exists():
        raise BadInput(f"replay file {str(path)!r} does not exist")
    if depth < 0:
        raise BadInput(f"--depth must be 0 or more, got {depth}")


def run_replay_command(settings: Settings, path: Path, *, depth: int, strategies: Sequence[str],
                       progress: Any = None, alerts: bool = False, warn: Callable[[str], None] | None = None) -> ReplayRun:
    """Replay ``path`` into the journal with paper executors for ``strategies``; SIGINT/SIGTERM end it cleanly.

    ``alerts`` (``--alerts``): send ``[[alerts]]`` on the file's clock; off by default so backtests do not spam.
    The settings are checked against the file's markets first (``arbscan.checks``; warnings go to ``warn``),
    before the journal is opened. With ``scanner.workers`` above 1 the symbols are split over that many
    processes (``arbscan.workers``).
    """
    from arbscan.checks import check_settings, replay_markets
    from arbscan.replay import replay_header, run_replay
    from arbscan.store import Store

    check_replay_args(path, depth)
    for line in check_settings(settings, "replay", strategies=strategies, replay=replay_markets(path)):
        (warn or say_warning)(line)
    requested = settings.scanner.workers
    if requested > 1:
        from arbscan.workers import run_replay_workers, workers_for_file

        settings = workers_for_file(settings, path)
        if settings.scanner.workers > 1:
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
        if hub is not None:
            hub.close()  # its last alerts are audited before the journal closes
        if result is not None:
            store.end_run(status, events=result.book_events)
        store.close(status)
        for sig, handler in old_handlers.items():  # only now: a signal during the final flush is harmless
            signal.signal(sig, handler)
    return ReplayRun(result, run_id, executors)


def say_warning(line: str) -> None:
    """A warning about the settings, one line on stderr at start (above any live view)."""
    from arbscan.status import say

    say(f"arbscan: warning: {line}")


def say_unreachable(venue: str, message: str, retry_in: float) -> None:
    """The one line per failed attempt to reach a venue, on stderr (above the live status view)."""
    from arbscan.status import say

    say(f"arbscan: {venue} unreachable ({message}); retrying in {retry_in:.3g} s")

