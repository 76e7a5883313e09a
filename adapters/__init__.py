"""Venue adapters: everything venue-specific lives below this package; ``build_adapter`` picks one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from arbscan.errors import ConfigError

if TYPE_CHECKING:
    from adapters.base import ExchangeAdapter
    from arbscan.config.settings import VenueConfig

__all__ = ["build_adapter", "NATIVE_EXCHANGES"]

NATIVE_EXCHANGES = frozenset({"kraken"})
"""Venues with a native adapter, used for ``adapter = "auto"`` and ``"native"``."""


def build_adapter(venue: VenueConfig, depth: int = 10, *, validate_orders: bool = False) -> ExchangeAdapter:
    """The adapter for one configured venue: native Kraken for kraken (unless ``adapter = "ccxt"``), ccxt otherwise."""
    kind = venue.adapter
    if kind not in ("auto", "native", "ccxt"):
        raise ConfigError(f"venue {venue.exchange!r}: adapter must be auto, native or ccxt, got {kind!r}")
    if kind == "native" and venue.exchange not in NATIVE_EXCHANGES:
        raise ConfigError(f"venue {venue.exchange!r}: no native adapter (only {', '.join(sorted(NATIVE_EXCHANGES))})")
    if kind in ("auto", "native") and venue.exchange == "kraken":
        from adapters.kraken.adapter import KrakenAdapter  # lazy: keeps ccxt and aiohttp imports out of the way

        return KrakenAdapter(
            rest_url=venue.rest_url,
            ws_url=venue.ws_url,
            depth=depth,
            taker_fee=venue.taker_fee,
            validate_orders=validate_orders,
            tier=venue.rate_tier or "starter",
        )
    from adapters.ccxt_adapter import CcxtAdapter

    return CcxtAdapter(
        venue.exchange,
        rest_url=venue.rest_url,
        ws_url=venue.ws_url,
        taker_fee=venue.taker_fee,
        poll_interval_ms=venue.poll_interval_ms,
        depth=depth,
    )
