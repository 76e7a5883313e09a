"""Typed, frozen settings read from TOML (default ``./arbscan.toml``) with secrets from the environment.

Every key is checked: an unknown key, a wrong type or an impossible value raises ``ConfigError``
naming the key (``venues[1].taker_fee: must not be negative``). With no file at all the defaults
run a public, dry-run scan of BTC/USD and ETH/USD on kraken, bitstamp and coinbase.

Secrets never live here: API keys come from ``<EXCHANGE>_API_KEY`` / ``<EXCHANGE>_API_SECRET``
(see ``adapters.base.load_credentials``); a key-like setting in the file is refused.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arbscan.config.values import (  # noqa: F401 (re-exported: the other sections' parsers import them here)
    DAY_MS,
    DAY_S,
    MAX_DECIMAL,
    _balances,
    _bool,
    _check_keys,
    _decimal,
    _float,
    _int,
    _names,
    _str,
    _str_list,
    _symbol,
    _table,
)
from arbscan.config.web import WebConfig
from arbscan.errors import ConfigError
from arbscan.funding.conversions import Conversion
from arbscan.funding.facts import NetworkFunding
from arbscan.model import Amounts, Balances

if TYPE_CHECKING:
    from arbscan.config.alerts import AlertConfig
    from arbscan.config.bus import BusConfig

__all__ = [
    "Settings",
    "ScannerConfig",
    "VenueConfig",
    "StrategyConfig",
    "LiveConfig",
    "load_settings",
    "parse_settings",
    "DEFAULT_CONFIG_PATH",
    "IMBALANCE_POLICIES",
    "CONVERT_MODES",
    "workers_value",
]

DEFAULT_CONFIG_PATH = Path("arbscan.toml")
IMBALANCE_POLICIES = ("flatten_buy_venue", "flatten_sell_venue", "keep")
ADAPTER_KINDS = ("auto", "native", "ccxt")
KRAKEN_RATE_TIERS = ("starter", "intermediate", "pro")
CONVERT_MODES = ("hold", "each_trade")
"""``[[strategies]] convert``: what a cross-quote trade does with the Q2 its sell leg received."""


@dataclass(frozen=True, slots=True)
class ScannerConfig:
    """What the scanner watches and when a route counts as live."""

    symbols: tuple[str, ...] = ("BTC/USD", "ETH/USD")
    min_net_bps: Decimal = Decimal(0)
    max_book_age_ms: int = 2000
    book_depth: int = 10
    db: str = "arbscan.db"
    status_interval_ms: int = 1000
    workers: int = 1  # symbol shard processes; 1 = one process ("auto" in the file: the machine's cores)
    require_transferable: bool = False  # a route whose inventory cannot move back is not live (transfer_blocked)
    rebalance_batch: int = 1  # trades of one size whose inventory moves back in one transfer (1: the worst case)
    transfer_refresh_s: float = 600.0  # how often a scan asks the venues for their funding facts


@dataclass(frozen=True, slots=True)
class VenueConfig:
    """One venue: which adapter serves it, URL overrides, a fee override, known balances."""

    exchange: str
    adapter: str = "auto"  # auto: native for kraken, ccxt for everything else
    taker_fee: Decimal | None = None  # overrides the venue's fee when set
    rest_url: str | None = None
    ws_url: str | None = None
    poll_interval_ms: int | None = None  # REST polling pace when the venue has no WS books
    balances: Amounts = field(default_factory=dict)  # asset -> amount: paper balances in dry-run; caps sizes
    rate_tier: str | None = None  # native Kraken: the account's verification tier for the REST call counter
    transfer: dict[str, tuple[NetworkFunding, ...]] = field(default_factory=dict)  # asset -> networks (wins)


@dataclass(frozen=True, slots=True)
class StrategyConfig:
    """A named set of trading rules, paper-traded by default and live only with ``--live``."""

    name: str
    symbols: tuple[str, ...] = ()  # empty: every scanned symbol
    venues: tuple[str, ...] = ()  # empty: every configured venue
    min_net_bps: Decimal = Decimal(10)
    min_profit: Decimal = Decimal(0)  # quote
    max_notional: Decimal | None = None  # quote per trade (buy leg, before fee)
    latency_ms: int = 0  # delay between seeing an opportunity and the orders reaching the venues
    cooldown_ms: int = 0  # per route, after a trade
    balances: Balances = field(default_factory=dict)  # venue -> asset -> starting amount
    skip_untransferable: bool = False  # skip routes whose inventory cannot move back (blocked; unknown is taken)
    convert: str = "hold"  # cross-quote trades: keep the Q2 received ('hold') or convert it back each trade ('each_trade')


@dataclass(frozen=True, slots=True)
class LiveConfig:
    """Risk limits and leg-risk policy for live execution."""

    max_notional_per_trade: Decimal = Decimal(100)
    max_exposure: Amounts = field(default_factory=dict)  # asset -> max open inventory
    daily_loss_limit: Decimal = Decimal(50)  # quote; realised loss in a UTC day that halts trading
    max_orders_per_minute: int = 20  # per venue
    max_consecutive_failures: int = 3
    reconcile_deadline_s: float = 60.0
    order_timeout_s: float = 10.0
    imbalance_policy: str = "flatten_buy_venue"
    max_slippage_bps: Decimal = Decimal(30)
    validate_orders: bool = False  # Kraken: send orders with validate=true (never executed)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything arbscan is configured with; build with ``load_settings``."""

    scanner: ScannerConfig = field(default_factory=ScannerConfig)
    venues: tuple[VenueConfig, ...] = (
        VenueConfig("kraken"),
        VenueConfig("bitstamp"),
        VenueConfig("coinbase"),
    )
    strategies: tuple[StrategyConfig, ...] = (StrategyConfig("default"),)
    live: LiveConfig = field(default_factory=LiveConfig)
    alerts: tuple[AlertConfig, ...] = ()  # [[alerts]] destinations (arbscan.config.alerts)
    bus: BusConfig | None = None  # [bus]: NATS JetStream for processes on several hosts (arbscan.config.bus)
    web: WebConfig = field(default_factory=WebConfig)  # [web]: the live web view (arbscan.config.web)
    conversions: tuple[Conversion, ...] = ()  # [[conversions]]: markets converting one quote into another
    source: str | None = None  # path the settings were read from, None for defaults

    def venue(self, exchange: str) -> VenueConfig:
        """The config of one venue; ``ConfigError`` when it is not configured."""
        for v in self.venues:
            if v.exchange == exchange:
                return v
        raise ConfigError(f"venues: {exchange!r} is not configured")

    def fee_overrides(self) -> dict[str, Decimal]:
        """Exchange -> taker fee for every venue whose config sets ``taker_fee``."""
        return {v.exchange: v.taker_fee for v in self.venues if v.taker_fee is not None}

    def transfer_overrides(self) -> dict[str, dict[str, tuple[NetworkFunding, ...]]]:
        """Exchange -> asset -> networks for every venue whose config has a ``transfer`` table."""
        return {v.exchange: dict(v.transfer) for v in self.venues if v.transfer}

    def strategy(self, name: str) -> StrategyConfig:
        """The strategy called ``name``; ``ConfigError`` naming the known ones otherwise."""
        for s in self.strategies:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.strategies) or "none"
        raise ConfigError(f"strategies: no strategy named {name!r} (known: {known})")


# -- section parsers -------------------------------------------------------------------------


BPS = Decimal(10_000)
"""The bound of a setting in basis points: 10,000 bps is 100 %."""


def _scanner(raw: dict[str, Any]) -> ScannerConfig:
    _check_keys("scanner", raw, _names(ScannerConfig))
    kw: dict[str, Any] = {}
    if "symbols" in raw:
        kw["symbols"] = _str_list("scanner.symbols", raw["symbols"], _symbol)
        if not kw["symbols"]:
            raise ConfigError("scanner.symbols: must name at least one symbol")
    if "min_net_bps" in raw:
        kw["min_net_bps"] = _decimal("scanner.min_net_bps", raw["min_net_bps"], minimum=None, maximum=BPS)
    if "max_book_age_ms" in raw:
        kw["max_book_age_ms"] = _int("scanner.max_book_age_ms", raw["max_book_age_ms"], minimum=1, maximum=DAY_MS)
    if "book_depth" in raw:
        kw["book_depth"] = _int("scanner.book_depth", raw["book_depth"], minimum=1, maximum=10_000)
    if "db" in raw:
        kw["db"] = _str("scanner.db", raw["db"])
    if "status_interval_ms" in raw:
        kw["status_interval_ms"] = _int("scanner.status_interval_ms", raw["status_interval_ms"], minimum=50, maximum=3_600_000)
    if "workers" in raw:
        kw["workers"] = workers_value("scanner.workers", raw["workers"])
    if "require_transferable" in raw:
        kw["require_transferable"] = _bool("scanner.require_transferable", raw["require_transferable"])
    if "rebalance_batch" in raw:
        kw["rebalance_batch"] = _int("scanner.rebalance_batch", raw["rebalance_batch"], minimum=1, maximum=1_000_000)
    if "transfer_refresh_s" in raw:
        kw["transfer_refresh_s"] = _float("scanner.transfer_refresh_s", raw["transfer_refresh_s"], minimum=10.0, maximum=7 * DAY_S)
    return ScannerConfig(**kw)


def _venue(key: str, raw: Any) -> VenueConfig:
    raw = _table(key, raw)
    _check_keys(key, raw, _names(VenueConfig))
    if "exchange" not in raw:
        raise ConfigError(f"{key}.exchange: missing (the ccxt id, e.g. 'kraken')")
    kw: dict[str, Any] = {"exchange": _str(f"{key}.exchange", raw["exchange"]).lower()}
    if "adapter" in raw:
        kind = _str(f"{key}.adapter", raw["adapter"]).lower()
        if kind not in ADAPTER_KINDS:
            raise ConfigError(f"{key}.adapter: must be one of {', '.join(ADAPTER_KINDS)}, got {kind!r}")
        if kind == "native" and kw["exchange"] != "kraken":
            raise ConfigError(f"{key}.adapter: no native adapter for {kw['exchange']!r} (only kraken)")
        kw["adapter"] = kind
    if "taker_fee" in raw:
        fee = _decimal(f"{key}.taker_fee", raw["taker_fee"])
        if fee >= 1:
            raise ConfigError(f"{key}.taker_fee: a fraction below 1 (0.0026 is 0.26 %), got {raw['taker_fee']!r}")
        kw["taker_fee"] = fee
    for url in ("rest_url", "ws_url"):
        if url in raw:
            kw[url] = _str(f"{key}.{url}", raw[url])
    if "poll_interval_ms" in raw:
        kw["poll_interval_ms"] = _int(f"{key}.poll_interval_ms", raw["poll_interval_ms"], minimum=10, maximum=3_600_000)
    if "balances" in raw:
        kw["balances"] = _balances(f"{key}.balances", raw["balances"])
    if "rate_tier" in raw:
        tier = _str(f"{key}.rate_tier", raw["rate_tier"]).lower()
        if tier not in KRAKEN_RATE_TIERS:
            raise ConfigError(f"{key}.rate_tier: must be one of {', '.join(KRAKEN_RATE_TIERS)}, got {tier!r}")
        if kw["exchange"] != "kraken" or kw.get("adapter") == "ccxt":
            raise ConfigError(f"{key}.rate_tier: only the native Kraken adapter keeps a call counter")
        kw["rate_tier"] = tier
    if "transfer" in raw:
        from arbscan.config.transfer import parse_transfer  # imports this module's parsers

        kw["transfer"] = parse_transfer(f"{key}.transfer", raw["transfer"])
    return VenueConfig(**kw)


def _strategy(key: str, raw: Any) -> StrategyConfig:
    raw = _table(key, raw)
    _check_keys(key, raw, _names(StrategyConfig))
    if "name" not in raw:
        raise ConfigError(f"{key}.name: missing")
    kw: dict[str, Any] = {"name": _str(f"{key}.name", raw["name"])}
    if "symbols" in raw:
        kw["symbols"] = _str_list(f"{key}.symbols", raw["symbols"], _symbol)
    if "venues" in raw:
        kw["venues"] = tuple(v.lower() for v in _str_list(f"{key}.venues", raw["venues"]))
    if "min_net_bps" in raw:
        kw["min_net_bps"] = _decimal(f"{key}.min_net_bps", raw["min_net_bps"], minimum=None, maximum=BPS)
    if "min_profit" in raw:
        kw["min_profit"] = _decimal(f"{key}.min_profit", raw["min_profit"])
    if "max_notional" in raw:
        kw["max_notional"] = _decimal(f"{key}.max_notional", raw["max_notional"])
        if kw["max_notional"] <= 0:
            raise ConfigError(f"{key}.max_notional: must be positive")
    for ms in ("latency_ms", "cooldown_ms"):
        if ms in raw:
            kw[ms] = _int(f"{key}.{ms}", raw[ms], maximum=DAY_MS)
    if "skip_untransferable" in raw:
        kw["skip_untransferable"] = _bool(f"{key}.skip_untransferable", raw["skip_untransferable"])
    if "convert" in raw:
        convert = _str(f"{key}.convert", raw["convert"]).lower()
        if convert not in CONVERT_MODES:
            raise ConfigError(f"{key}.convert: must be one of {', '.join(CONVERT_MODES)}, got {convert!r}")
        kw["convert"] = convert
    if "balances" in raw:
        venues = _table(f"{key}.balances", raw["balances"])
        kw["balances"] = {
            _str(f"{key}.balances", v).lower(): _balances(f"{key}.balances.{v}", b) for v, b in venues.items()
        }
    return StrategyConfig(**kw)


def _live(raw: dict[str, Any]) -> LiveConfig:
    _check_keys("live", raw, _names(LiveConfig))
    kw: dict[str, Any] = {}
    for k in ("max_notional_per_trade", "daily_loss_limit", "max_slippage_bps"):
        if k in raw:
            kw[k] = _decimal(f"live.{k}", raw[k], maximum=BPS if k.endswith("_bps") else MAX_DECIMAL)
    if "max_exposure" in raw:
        kw["max_exposure"] = _balances("live.max_exposure", raw["max_exposure"])
    for k in ("max_orders_per_minute", "max_consecutive_failures"):
        if k in raw:
            kw[k] = _int(f"live.{k}", raw[k], minimum=1)
    for k in ("reconcile_deadline_s", "order_timeout_s"):
        if k in raw:
            kw[k] = _float(f"live.{k}", raw[k], minimum=0.1)
    if "imbalance_policy" in raw:
        policy = _str("live.imbalance_policy", raw["imbalance_policy"])
        if policy not in IMBALANCE_POLICIES:
            raise ConfigError(f"live.imbalance_policy: must be one of {', '.join(IMBALANCE_POLICIES)}, got {policy!r}")
        kw["imbalance_policy"] = policy
    if "validate_orders" in raw:
        kw["validate_orders"] = _bool("live.validate_orders", raw["validate_orders"])
    return LiveConfig(**kw)


def _array_of_tables(key: str, raw: Any, parse: Any, unique: str) -> tuple[Any, ...]:
    """``[[key]]`` tables parsed one by one; the field ``unique`` may not repeat."""
    if not isinstance(raw, list):
        raise ConfigError(f"{key}: must be an array of tables ([[{key}]])")
    items = tuple(parse(f"{key}[{i}]", t) for i, t in enumerate(raw))
    seen: set[str] = set()
    for i, item in enumerate(items):
        value = getattr(item, unique)
        if value in seen:
            raise ConfigError(f"{key}[{i}].{unique}: {value!r} is listed twice")
        seen.add(value)
    return items


def parse_settings(raw: dict[str, Any], source: str | None = None) -> Settings:
    """Build ``Settings`` from a decoded TOML document, checking every key."""
    _check_keys("", raw, {"scanner", "venues", "strategies", "live", "alerts", "bus", "web", "conversions"})
    kw: dict[str, Any] = {"source": source}
    if "scanner" in raw:
        kw["scanner"] = _scanner(_table("scanner", raw["scanner"]))
    if "venues" in raw:
        kw["venues"] = _array_of_tables("venues", raw["venues"], _venue, "exchange")
    if "strategies" in raw:
        kw["strategies"] = _array_of_tables("strategies", raw["strategies"], _strategy, "name")
    if "live" in raw:
        kw["live"] = _live(_table("live", raw["live"]))
    if "alerts" in raw:
        from arbscan.config.alerts import parse_alerts  # its parsers build on this module's

        kw["alerts"] = parse_alerts(raw["alerts"])
    if "bus" in raw:
        from arbscan.config.bus import parse_bus  # its parsers build on this module's

        kw["bus"] = parse_bus(raw["bus"])
    if "web" in raw:
        from arbscan.config.web import parse_web  # its parsers build on this module's

        kw["web"] = parse_web(raw["web"])
    if "conversions" in raw:
        from arbscan.config.conversions import parse_conversions  # its parsers build on this module's

        kw["conversions"] = parse_conversions(raw["conversions"])
    return Settings(**kw)


def load_settings(path: str | Path | None = None) -> Settings:
    """Read settings from ``path``, or from ``./arbscan.toml`` when it exists, else the defaults.

    A ``path`` that was named but does not exist, or a file that is not valid TOML, is a ``ConfigError``.
    """
    if path is None:
        if not DEFAULT_CONFIG_PATH.exists():
            return Settings()
        path = DEFAULT_CONFIG_PATH
    p = Path(path)
    try:
        text = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file {str(p)!r} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {str(p)!r} cannot be read: {exc.strerror}") from None
    try:
        raw = tomllib.loads(text.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {str(p)!r} is not valid TOML: {exc}") from None
    return parse_settings(raw, source=str(p))


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity mask, e.g. under ``taskset`` or a container), else all of them."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # no sched_getaffinity (macOS, Windows)
        return os.cpu_count() or 1


def workers_value(key: str, value: Any) -> int:
    """A number of worker processes: a whole number of at least 1, or ``"auto"`` (the cores this process may use)."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return usable_cores()
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key}: must be a whole number of at least 1 or 'auto', got {value!r}")
    return value

