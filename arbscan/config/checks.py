"""Whether the settings can mean what they say, judged before anything starts.

:func:`check_settings` raises ``ConfigError`` naming the key of the first setting that cannot mean what it
says, and returns the warning lines for settings that are legal but make a strategy unable to trade.
``arbscan scan``, ``replay`` and ``record`` call it at their start, before the journal or a venue is
touched; it starts nothing itself (``check-config`` calls the very same function). For a replay it
needs the replay file's venues and symbols: :func:`replay_markets` reads its market lines once.

Errors (exit 2, one line naming the key):

- a ``rest_url`` that is not ``http(s)://`` with a host, a ``ws_url`` that is not ``ws(s)://`` with one;
- an exchange id arbscan has no adapter for (``exchange_known``), except, in a replay, a venue of the file;
- in a replay, a venue override (``taker_fee``, ``balances``) for a venue the file does not have;
- a strategy name (``--strategy``) that is not configured;
- a strategy's ``venues``, ``symbols`` or ``balances`` naming a venue or symbol that exists nowhere
  (scan: not configured / not in ``scanner.symbols``; replay: neither configured nor in the file).

Warnings: ``scanner.min_net_bps`` above a strategy's own (it only sees routes the scanner calls live),
a strategy left with fewer than two venues, a strategy venue or symbol a replay file does not have, and
``scanner.symbols`` that a replay ignores.
"""

from __future__ import annotations

import difflib
import gzip
import importlib.util
import json
import sys
from decimal import Decimal
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from arbscan.config.settings import ScannerConfig, Settings, StrategyConfig
from arbscan.errors import ConfigError

__all__ = ["check_settings", "replay_markets", "ReplayMarkets", "exchange_known", "COMMANDS_CHECKED"]

COMMANDS_CHECKED = ("scan", "record", "replay", "check-config")
"""The ``command`` values :func:`check_settings` knows; ``check-config`` checks everything a scan would."""


@dataclass(frozen=True, slots=True)
class ReplayMarkets:
    """The venues and symbols of a replay file's market lines."""

    venues: frozenset[str]
    symbols: frozenset[str]


def replay_markets(path: str | Path) -> ReplayMarkets:
    """The venues and symbols of ``path``'s market lines, from one pass that parses only those lines.

    A line that cannot be read is left to the replay itself, which names it by number.
    """
    venues: set[str] = set()
    symbols: set[str] = set()
    try:
        with open(path, "rb") as raw:
            head = raw.read(2)
            raw.seek(0)
            stream = gzip.GzipFile(fileobj=raw, mode="rb") if head == b"\x1f\x8b" else raw
            for line in stream:
                if b'"market"' not in line:
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if isinstance(obj, dict) and obj.get("type") == "market":
                    exchange, symbol = obj.get("exchange"), obj.get("symbol")
                    if isinstance(exchange, str) and isinstance(symbol, str):
                        venues.add(exchange.lower())
                        symbols.add(symbol.upper())
    except (OSError, EOFError, gzip.BadGzipFile):
        pass  # unreadable or truncated: the replay reports it with its line number
    return ReplayMarkets(frozenset(venues), frozenset(symbols))


def exchange_known(exchange: str) -> bool:
    """Whether arbscan has an adapter for ``exchange``: a native one, or ccxt knows the id.

    Without importing ccxt (a second of start-up) when it is not loaded yet: ccxt keeps one module per
    exchange id, named after it, so the module's file is looked for.
    """
    from adapters import NATIVE_EXCHANGES

    if exchange in NATIVE_EXCHANGES:
        return True
    loaded = sys.modules.get("ccxt.async_support") or sys.modules.get("ccxt")
    if loaded is not None:
        return exchange in loaded.exchanges
    spec = importlib.util.find_spec("ccxt")
    if spec is None or spec.origin is None:  # pragma: no cover - ccxt is a dependency
        return False
    return (exchange.isidentifier() and not exchange.startswith("_")
            and exchange not in ("base", "pro", "abstract", "async_support", "test")
            and (Path(spec.origin).parent / f"{exchange}.py").is_file())


def _exchange_ids() -> list[str]:
    """Every exchange id arbscan has an adapter for (for suggestions)."""
    from adapters import NATIVE_EXCHANGES

    try:
        import ccxt.async_support as ccxt_async
    except ImportError:  # pragma: no cover - ccxt is a dependency
        return sorted(NATIVE_EXCHANGES)
    return sorted(set(ccxt_async.exchanges) | NATIVE_EXCHANGES)


def _listing(names: Iterable[str]) -> str:
    return ", ".join(sorted(names)) or "none"


def _did_you_mean(name: str, names: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(names), n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


def _check_url(key: str, url: str | None, schemes: tuple[str, ...]) -> None:
    if url is None:
        return
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        wanted = " or ".join(f"{s}://" for s in schemes)
        article = "an" if wanted[0] in "aeiouh" else "a"
        raise ConfigError(f"{key}: {url!r} is not {article} {wanted} URL with a host (e.g. {schemes[0]}://127.0.0.1:8080)")


def _in_use(settings: Settings, names: Sequence[str] | None) -> list[tuple[int, StrategyConfig]]:
    if names is None:
        return list(enumerate(settings.strategies))
    for name in names:
        settings.strategy(name)  # ConfigError naming the known ones for a name that is not configured
    wanted = set(names)
    return [(i, s) for i, s in enumerate(settings.strategies) if s.name in wanted]


HIGH_TAKER_FEE = Decimal("0.01")
"""A configured ``taker_fee`` above this (1 %) is warned about: no venue charges that; 0.26 means 26 %."""


def check_settings(settings: Settings, command: str = "check-config", *, strategies: Sequence[str] | None = None,
                   replay: ReplayMarkets | None = None, known_exchange: Callable[[str], bool] | None = None) -> list[str]:
    """Raise ``ConfigError`` naming the key of the first setting that cannot mean what it says; return warnings.

    ``command``: one of :data:`COMMANDS_CHECKED`; ``strategies``: the names the run trades (None: every
    configured strategy); ``replay``: the replay file's markets (``command == "replay"``);
    ``known_exchange``: whether an exchange id has an adapter (default :func:`exchange_known`, looked up
    when called).
    """
    if command not in COMMANDS_CHECKED:
        raise ValueError(f"unknown command {command!r}")
    known = known_exchange if known_exchange is not None else exchange_known
    for i, v in enumerate(settings.venues):
        _check_url(f"venues[{i}].rest_url", v.rest_url, ("http", "https"))
        _check_url(f"venues[{i}].ws_url", v.ws_url, ("ws", "wss"))
    file_venues = replay.venues if replay is not None else frozenset()
    for i, v in enumerate(settings.venues):
        if v.exchange in file_venues:
            continue
        if command == "replay" and (v.taker_fee is not None or v.balances):
            what = "taker_fee" if v.taker_fee is not None else "balances"
            raise ConfigError(f"venues[{i}].{what}: {v.exchange!r} is not a venue of the replay file (its venues: "
                              f"{_listing(file_venues)}){_did_you_mean(v.exchange, file_venues)}")
        if not known(v.exchange):
            where = f" nor a venue of the replay file ({_listing(file_venues)})" if command == "replay" else ""
            raise ConfigError(f"venues[{i}].exchange: {v.exchange!r} is not an exchange arbscan knows (a ccxt id "
                              f"such as 'kraken' or 'bitstamp'){where}{_did_you_mean(v.exchange, _exchange_ids())}")
    warnings: list[str] = _check_conversions(settings, command, replay)
    for i, v in enumerate(settings.venues):
        if v.taker_fee is not None and v.taker_fee > HIGH_TAKER_FEE:
            warnings.append(f"venues[{i}].taker_fee: {v.taker_fee} is {(v.taker_fee * 100).normalize():f} % a trade; fees are "
                            "fractions (0.0026 is 0.26 %): is that meant?")
    if command == "replay":
        file_symbols = replay.symbols if replay is not None else frozenset()
        if settings.scanner.symbols != ScannerConfig().symbols and set(settings.scanner.symbols) != file_symbols:
            warnings.append(f"scanner.symbols: replay ignores it and replays every market of the file "
                            f"({_listing(file_symbols)})")
    for i, s in _in_use(settings, strategies):
        warnings += _check_strategy(settings, command, i, s, replay)
    return warnings


def _check_conversions(settings: Settings, command: str, replay: ReplayMarkets | None) -> list[str]:
    """Errors for ``[[conversions]]`` that name no venue of the run or cannot run sharded; warnings for unused ones."""
    if not settings.conversions:
        return []
    if settings.scanner.workers > 1:
        raise ConfigError("conversions: cross-quote routes need the books of several symbols in one scanner and "
                          f"are not split over processes; set scanner.workers = 1 or drop --workers (it is "
                          f"{settings.scanner.workers})")
    in_file = command == "replay" and replay is not None
    venues = set(replay.venues) if in_file else {v.exchange for v in settings.venues}
    warnings = []
    for i, c in enumerate(settings.conversions):
        if c.venue not in venues:
            where = "not a venue of the replay file" if in_file else "not a configured venue"
            raise ConfigError(f"conversions[{i}].venue: {c.venue!r} is {where} (venues: {_listing(venues)})"
                              f"{_did_you_mean(c.venue, venues)}")
        symbols = set(replay.symbols) if in_file else set(settings.scanner.symbols)
        if c.symbol not in symbols:
            if not in_file:
                raise ConfigError(f"conversions[{i}].symbol: {c.symbol!r} is not in scanner.symbols; add it so its "
                                  "book is watched like any other")
            warnings.append(f"conversions[{i}]: {c.label} is not a market of the replay file: it links nothing")
            continue
        quotes = {sym.split("/")[1] for sym in symbols if sym != c.symbol}
        if not {c.base, c.quote} <= quotes:
            warnings.append(f"conversions[{i}]: {c.label} links {c.base} and {c.quote}, but the markets "
                            f"{'of the file' if in_file else 'scanned'} are quoted in {_listing(quotes)} only: "
                            "it forms no route")
    return warnings


def _check_strategy(settings: Settings, command: str, i: int, s: StrategyConfig, replay: ReplayMarkets | None) -> list[str]:
    """Errors for one strategy's venues, symbols and balances that exist nowhere; warnings for the rest."""
    key = f"strategies[{i}]"
    configured = {v.exchange for v in settings.venues}
    scanned = set(settings.scanner.symbols)
    in_file = command == "replay" and replay is not None
    venues = configured | (replay.venues if in_file else set())
    symbols = (replay.symbols | scanned) if in_file else scanned
    where_v = "neither configured nor a venue of the replay file" if in_file else "not a configured venue"
    where_s = "neither in scanner.symbols nor a symbol of the replay file" if in_file else "not in scanner.symbols"
    for name in s.venues:
        if name not in venues:
            raise ConfigError(f"{key}.venues: {name!r} is {where_v} (venues: {_listing(venues)})"
                              f"{_did_you_mean(name, venues)}")
    for name in s.balances:
        if name not in venues:
            raise ConfigError(f"{key}.balances: {name!r} is {where_v} (venues: {_listing(venues)})"
                              f"{_did_you_mean(name, venues)}")
    for sym in s.symbols:
        if sym not in symbols:
            raise ConfigError(f"{key}.symbols: {sym!r} is {where_s} (symbols: {_listing(symbols)})"
                              f"{_did_you_mean(sym, symbols)}")
    warnings = []
    scope = set(replay.venues) if in_file else configured
    if in_file:
        missing = [v for v in s.venues if v not in replay.venues] + [x for x in s.symbols if x not in replay.symbols]
        if missing:
            warnings.append(f"{key}: {s.name!r} names {_listing(missing)}, not in the replay file: it cannot trade there")
    tradable = (set(s.venues) if s.venues else scope) & scope
    if len(tradable) < 2:
        warnings.append(f"{key}.venues: {s.name!r} can trade on {_listing(tradable)} only: a route needs two venues, "
                        "so it will never trade")
    if settings.scanner.min_net_bps > s.min_net_bps:
        warnings.append(f"scanner.min_net_bps ({settings.scanner.min_net_bps}) is above {key}.min_net_bps "
                        f"({s.min_net_bps}) of {s.name!r}: the strategy only sees routes the scanner calls live, "
                        f"at {settings.scanner.min_net_bps} bps or more")
    return warnings
