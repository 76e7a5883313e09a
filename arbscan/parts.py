"""The parts every process builds from the settings: adapters, the scanner, executors, alerts, run records.

``arbscan.app`` puts these together once per command; the processes of ``--workers N``
(``arbscan.parallel``) and of the bus (``arbscan.bus``) build their own share from the same functions,
so a shard's scanner is the one process's scanner. Every venue gets one adapter, shared by the feed
driver and a live executor. A venue's configured ``taker_fee`` is applied once per source of markets:
a venue's markets get it in its adapter (:func:`build_adapters` passes it to the adapter's constructor,
so the feed driver, a live executor's start-up and ``arbscan markets`` all see it), a replay file's
market lines in ``arbscan.replay.run.file_market``. Paper or live is chosen here, once, by building one
executor per strategy.

Layer: below ``arbscan.app``, ``parallel``, ``bus`` and ``web``; above scan, replay, execution, alerts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arbscan import __version__
from arbscan.config.settings import Settings, StrategyConfig
from arbscan.errors import BadInput, ConfigError
from arbscan.execution.executor import Executor
from arbscan.funding.facts import FundingBook
from arbscan.model import Balances, Market
from arbscan.scan.scanner import Scanner

if TYPE_CHECKING:
    from arbscan.alerts import Alerts

__all__ = [
    "LiveRun",
    "ReplayRun",
    "attach_alerts",
    "venue_balances",
    "say_warning",
    "say_unreachable",
    "UnreachableLines",
    "build_scanner",
    "build_adapters",
    "starting_balances",
    "paper_executors",
    "live_executor_for",
    "settings_summary",
    "check_replay_args",
    "alerts_for_run",
    "DRIVER_OPTIONS",
    "ALERT_OPTIONS",
]

logger = logging.getLogger(__name__)

DRIVER_OPTIONS: dict[str, Any] = {}
"""Extra keyword arguments for ``arbscan.scan.feeds.LiveDriver`` (tests shorten ``initial_backoff`` here)."""

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
                   rebalance_batch=sc.rebalance_batch, conversions=settings.conversions)


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
    from arbscan.execution.paper import paper_executor

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
    from arbscan.execution.journal import DurableJournal
    from arbscan.execution.live import live_executor, require_credentials

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


@dataclass(slots=True)
class LiveRun:
    """What ``arbscan scan`` / ``record`` did."""

    scanner: Scanner
    run_id: int | None
    executors: list[Executor] = field(default_factory=list)
    books_recorded: int = 0


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


def say_warning(line: str) -> None:
    """A warning about the settings, one line on stderr at start (above any live view)."""
    from arbscan.scan.view import say

    say(f"arbscan: warning: {line}")


def say_unreachable(venue: str, message: str, retry_in: float) -> None:
    """The one line per failed attempt to reach a venue, on stderr (above the live status view)."""
    from arbscan.scan.view import say

    say(f"arbscan: {venue} unreachable ({message}); retrying in {retry_in:.3g} s")



UNREACHABLE_SUMMARY_EVERY_S = 600.0
"""How often one line sums up the venues still unreachable (between their state changes nothing is said)."""


class UnreachableLines:
    """What the person reads about unreachable venues: one line per venue per state change, and a summary.

    Called as ``on_unreachable(venue, message, retry_in)`` for every failed attempt; says the first failure
    of a venue (and again when its cause changes or after it was reachable, :meth:`reachable`), and at most
    every :data:`UNREACHABLE_SUMMARY_EVERY_S` one line naming the venues still down. 20 venues down for an
    hour: 20 lines and 6 summaries, not one line per retry (the log at ``-v`` keeps every attempt).
    """

    def __init__(self, say: Callable[[str], None] | None = None, clock: Callable[[], float] | None = None,
                 summary_every_s: float = UNREACHABLE_SUMMARY_EVERY_S) -> None:
        import time

        from arbscan.scan.view import say as say_line

        self.say = say or say_line
        self.clock = clock or time.monotonic
        self.summary_every_s = summary_every_s
        self.down: dict[str, str] = {}  # venue -> the cause last said
        self.last_summary = self.clock()

    def __call__(self, venue: str, message: str, retry_in: float) -> None:
        logger.info("%s unreachable (%s); retrying in %.3g s", venue, message, retry_in)
        if self.down.get(venue) != message:
            self.down[venue] = message
            self.say(f"arbscan: {venue} unreachable ({message}); retrying in {retry_in:.3g} s")
        now = self.clock()
        if now - self.last_summary >= self.summary_every_s:
            self.last_summary = now
            names = sorted(self.down)
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            self.say(f"arbscan: {len(names)} venue{'s' if len(names) != 1 else ''} still unreachable ({shown}); retrying")

    def reachable(self, venue: str) -> None:
        """``venue`` sent a book again: its next failure is a state change, said again."""
        self.down.pop(venue, None)
