"""``arbscan markets``: what the configured venues list, side by side, and which venue pairs can form routes.

Markets are loaded through the venues' own adapters (as ``scan`` would), which apply the configured
``taker_fee`` overrides. A venue that cannot be reached is named in one line and left out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from arbscan.config.settings import Settings
from arbscan.errors import BadInput, describe
from arbscan.model import Market

__all__ = ["run_markets", "load_all_markets", "markets_lines", "cross_lines", "check_symbols"]

logger = logging.getLogger(__name__)


def run_markets(settings: Settings, symbols: Sequence[str] | None, write: Callable[[str], Any]) -> int:
    """``arbscan markets``: one adapter per venue (``arbscan.parts.build_adapters``), every venue's markets, the table.

    Each line is passed to ``write``; returns the exit code: 1 when no venue could be reached (a network
    failure, not bad input: each venue is named on its own short line and the symbols are listed as unknown).
    """
    import sys

    from arbscan import parts  # looked up per run: tests replace parts.build_adapters

    loaded, failed = asyncio.run(load_all_markets(parts.build_adapters(settings)))
    for line in markets_lines(settings, loaded, failed, symbols):
        write(line)
    if not loaded:
        print(f"arbscan: no venue could be reached ({', '.join(failed) or 'none configured'}); the symbols' "
              "listings are unknown", file=sys.stderr)
        return 1
    return 0


_CAUSE_CHARS = 100
"""A venue's failure is cut to this many characters in the table (the log has it whole)."""


def _short(cause: str) -> str:
    cause = " ".join(cause.split())
    return cause if len(cause) <= _CAUSE_CHARS else cause[: _CAUSE_CHARS - 3] + "..."


async def load_all_markets(adapters: Mapping[str, Any]) -> tuple[dict[str, dict[str, Market]], dict[str, str]]:
    """(venue -> symbol -> Market, venue -> why it could not be loaded), loading every venue at once."""

    async def one(name: str, adapter: Any) -> tuple[str, dict[str, Market] | None, str | None]:
        try:
            markets = await adapter.load_markets()
            return name, dict(markets), None
        except Exception as exc:  # noqa: BLE001 - one line per venue that failed; the others are shown
            return name, None, describe(exc)
        finally:
            try:
                await adapter.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass

    loaded: dict[str, dict[str, Market]] = {}
    failed: dict[str, str] = {}
    for name, markets, error in await asyncio.gather(*(one(n, a) for n, a in adapters.items())):
        if markets is not None:
            loaded[name] = markets
        else:
            failed[name] = error or "unknown error"
    return loaded, failed


def _pct(fee: Decimal) -> str:
    return f"{(fee * 100).normalize():f} %"


def _n(d: Decimal) -> str:
    return "0" if d == 0 else f"{d.normalize():f}"


def markets_lines(settings: Settings, loaded: Mapping[str, Mapping[str, Market]], failed: Mapping[str, str],
                  symbols: Sequence[str] | None) -> list[str]:
    """The table ``arbscan markets`` prints; ``symbols`` None: the configured ``scanner.symbols``."""
    out = []
    for v in settings.venues:
        if v.exchange in loaded:
            kind = "native" if v.adapter in ("auto", "native") and v.exchange == "kraken" else "ccxt"
            out.append(f"{v.exchange}: {kind} adapter, {len(loaded[v.exchange]):,} markets")
        elif v.exchange in failed:
            out.append(f"{v.exchange}: could not be reached ({_short(failed[v.exchange])})")
    venues = [v.exchange for v in settings.venues if v.exchange in loaded]
    listed: dict[str, list[str]] = {}
    for ex in venues:
        for sym in loaded[ex]:
            listed.setdefault(sym, []).append(ex)
    common = sorted(s for s, exs in listed.items() if len(exs) >= 2)
    out.append(f"symbols listed on two or more of these venues: {len(common):,}")
    wanted = list(symbols) if symbols else list(settings.scanner.symbols)
    head = ("symbol", "venue", "taker fee", "amount step", "price step", "min amount", "min cost")
    rows = [head]
    notes = []
    for sym in wanted:
        exs = listed.get(sym, [])
        if not venues:
            notes.append(f"{sym}: unknown (no venue could be reached)")
        elif len(exs) < 2:
            unknown = f"; unknown on {', '.join(failed)} (not reached)" if failed else ""
            notes.append(f"{sym}: listed on {', '.join(exs) if exs else 'none of the venues reached'}{unknown}; no route")
        for i, ex in enumerate(exs):
            m = loaded[ex][sym]
            rows.append((sym if i == 0 else "", ex, _pct(m.taker_fee), _n(m.amount_step), _n(m.price_step),
                         _n(m.min_amount), _n(m.min_cost)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    out += ["  " + "  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows]
    out += [f"  {n}" for n in notes]
    pairs = _route_pairs(venues, (listed.get(s, []) for s in wanted))
    out.append("routes (both directions): " + (", ".join(f"{a} <-> {b} ({n} symbol{'s' if n > 1 else ''})"
                                                         for (a, b), n in pairs.items()) or "none"))
    out += cross_lines(settings, loaded, wanted)
    return out


def cross_lines(settings: Settings, loaded: Mapping[str, Mapping[str, Market]], wanted: Sequence[str]) -> list[str]:
    """Which ``[[conversions]]`` link which of the wanted markets, the cross-quote routes, why a pair forms none."""
    from arbscan.funding.conversions import cross_pairs, why_no_route

    if not settings.conversions:
        return []  # without [[conversions]] markets of different quotes never pair: nothing to say
    markets = {(ex, sym): m for ex, ms in loaded.items() for sym, m in ms.items() if sym in wanted}
    out = []
    for conv in settings.conversions:
        m = loaded.get(conv.venue, {}).get(conv.symbol)
        if m is None:
            state = "not loaded" if conv.venue not in loaded else "not a market the venue has"
            out.append(f"conversion {conv.label}: {state}; it links nothing")
            continue
        if conv.symbol not in wanted:
            out.append(f"conversion {conv.label}: not among the symbols shown; it links nothing here")
            continue
        out.append(f"conversion {conv.label}: links {conv.base} and {conv.quote} both ways "
                   f"(taker fee {_pct(m.taker_fee)}, step {_n(m.amount_step)} {conv.base})")
    pairs = cross_pairs(markets, settings.conversions)
    out.append("cross-quote routes (buy -> sell via conversion): " + (", ".join(
        f"{p.buy.exchange} {p.buy.symbol} -> {p.sell.exchange} {p.sell.symbol} via {p.conversion.label}"
        for p in pairs) or "none"))
    formed = {(p.buy.exchange, p.buy.symbol, p.sell.exchange, p.sell.symbol) for p in pairs}
    ordered = sorted(markets.values(), key=lambda m: (m.base, m.quote, m.exchange))
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            if a.base != b.base or a.quote == b.quote or (a.exchange, a.symbol, b.exchange, b.symbol) in formed:
                continue
            reason = why_no_route(a, b, settings.conversions, markets) or "a leg is its own conversion"
            out.append(f"  {a.exchange} {a.symbol} and {b.exchange} {b.symbol}: no cross-quote route: {reason}")
    return out


def _route_pairs(venues: Sequence[str], listings: Iterable[Sequence[str]]) -> dict[tuple[str, str], int]:
    """(venue a, venue b) -> how many of the symbols both list, in the configured order."""
    order = {v: i for i, v in enumerate(venues)}
    pairs: dict[tuple[str, str], int] = {}
    for exs in listings:
        ranked = sorted(exs, key=order.__getitem__)
        for i, a in enumerate(ranked):
            for b in ranked[i + 1:]:
                pairs[(a, b)] = pairs.get((a, b), 0) + 1
    return pairs


def check_symbols(symbols: Sequence[str]) -> list[str]:
    """The ``--symbols`` given, upper-cased; ``BadInput`` for one that is not a unified symbol like BTC/USD."""
    out = []
    for s in symbols:
        base, sep, quote = s.strip().upper().partition("/")
        if not sep or not base or not quote or "/" in quote:
            raise BadInput(f"--symbols: {s!r} is not a unified symbol like 'BTC/USD'")
        out.append(f"{base}/{quote}")
    return out
