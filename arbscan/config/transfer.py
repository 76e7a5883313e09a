"""The ``transfer`` table of a ``[[venues]]`` entry: what no venue endpoint tells about moving an asset.

::

    [[venues]]
    exchange = "kraken"
    transfer = { BTC = { network = "BTC", fee = "0.0002" },
                 USDT = [ { network = "TRC20", fee = "3" }, { network = "ERC20", fee = "5", deposit = false } ] }

Per asset, one network table or a list of them. Keys: ``network`` (ccxt unified code, required),
``fee`` (withdrawal fee, in the asset), ``min`` (withdrawal minimum), ``deposit_fee``, ``deposit_min``,
``deposit`` and ``withdraw`` (true/false), ``confirmations``. What a table states wins over the venue's own facts;
what it leaves out keeps the venue's. A network no venue lists is taken to work both ways unless
``deposit`` / ``withdraw`` say otherwise.
"""

from __future__ import annotations

from typing import Any

from arbscan.config.values import _bool, _check_keys, _decimal, _int, _str, _table
from arbscan.errors import ConfigError
from arbscan.funding.facts import NetworkFunding, network_code

__all__ = ["parse_transfer", "TRANSFER_KEYS"]

TRANSFER_KEYS = {"network", "fee", "min", "deposit_fee", "deposit_min", "deposit", "withdraw", "confirmations"}
"""The keys of one network table."""


def _network(key: str, raw: Any) -> NetworkFunding:
    table = _table(key, raw)
    _check_keys(key, table, TRANSFER_KEYS)
    if "network" not in table:
        raise ConfigError(f"{key}.network: missing (a ccxt network code such as 'ERC20', 'TRC20', 'BTC')")
    return NetworkFunding(
        network_code(_str(f"{key}.network", table["network"])),
        deposit=_bool(f"{key}.deposit", table["deposit"]) if "deposit" in table else None,
        withdraw=_bool(f"{key}.withdraw", table["withdraw"]) if "withdraw" in table else None,
        withdraw_fee=_decimal(f"{key}.fee", table["fee"]) if "fee" in table else None,
        withdraw_min=_decimal(f"{key}.min", table["min"]) if "min" in table else None,
        deposit_fee=_decimal(f"{key}.deposit_fee", table["deposit_fee"]) if "deposit_fee" in table else None,
        deposit_min=_decimal(f"{key}.deposit_min", table["deposit_min"]) if "deposit_min" in table else None,
        confirmations=_int(f"{key}.confirmations", table["confirmations"]) if "confirmations" in table else None,
    )


def parse_transfer(key: str, raw: Any) -> dict[str, tuple[NetworkFunding, ...]]:
    """``transfer`` (asset -> network table or list of them) as asset -> networks; ``ConfigError`` names a bad key."""
    out: dict[str, tuple[NetworkFunding, ...]] = {}
    for asset, value in _table(key, raw).items():
        name = _str(f"{key}.{asset}", asset).upper()
        items = value if isinstance(value, list) else [value]
        if not items:
            raise ConfigError(f"{key}.{asset}: give at least one network table")
        nets = tuple(_network(f"{key}.{asset}" + (f"[{i}]" if isinstance(value, list) else ""), item)
                     for i, item in enumerate(items))
        seen: set[str] = set()
        for n in nets:
            if n.network in seen:
                raise ConfigError(f"{key}.{asset}: network {n.network!r} is listed twice")
            seen.add(n.network)
        out[name] = nets
    return out
