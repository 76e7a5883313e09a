"""``[[conversions]]``: the markets that convert one quote currency into another, checked like every setting.

Each table names one market by ``venue`` and unified ``symbol``::

    [[conversions]]
    venue = "kraken"
    symbol = "USDT/USD"

The market links its two currencies both ways (``arbscan.funding.conversions``); a market listed twice,
or a symbol whose two currencies are the same, is refused.
"""

from __future__ import annotations

from typing import Any

from arbscan.config.values import _check_keys, _str, _symbol, _table
from arbscan.errors import ConfigError
from arbscan.funding.conversions import Conversion

__all__ = ["parse_conversions"]


def parse_conversions(raw: Any) -> tuple[Conversion, ...]:
    """The ``[[conversions]]`` array of tables as ``Conversion`` values; ``ConfigError`` naming the bad key."""
    if not isinstance(raw, list):
        raise ConfigError("conversions: must be an array of tables ([[conversions]])")
    out: list[Conversion] = []
    for i, item in enumerate(raw):
        key = f"conversions[{i}]"
        table = _table(key, item)
        _check_keys(key, table, {"venue", "symbol"})
        for name in ("venue", "symbol"):
            if name not in table:
                raise ConfigError(f"{key}.{name}: missing")
        conv = Conversion(_str(f"{key}.venue", table["venue"]).lower(), _symbol(f"{key}.symbol", table["symbol"]))
        if conv.base == conv.quote:
            raise ConfigError(f"{key}.symbol: {conv.symbol!r} converts a currency into itself")
        if conv in out:
            raise ConfigError(f"{key}: {conv.label} is listed twice")
        out.append(conv)
    return tuple(out)
