"""Funding facts: can an asset be deposited on or withdrawn from a venue, over which network, at what cost.

Venues state these per asset and network (ccxt's ``fetch_currencies``, Kraken's ``Assets`` and funding
endpoints); the config fills in what no endpoint tells (``[[venues]] transfer = {...}``, which wins);
a replay file carries them as ``currency`` lines. Networks are named by ccxt's unified network codes
(``ERC20``, ``TRC20``, ``BEP20``, ``BTC``), brought to one spelling by :func:`network_code`, so the
same chain matches across venues.

A fact that is not stated is ``None``: unknown, which is not the same as "off".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

__all__ = [
    "NetworkFunding",
    "AssetFunding",
    "FundingBook",
    "NETWORK_ALIASES",
    "network_code",
    "merge_networks",
    "configured",
    "SOURCES",
    "funding_rows",
    "facts_from_rows",
]

SOURCES = ("venue", "config", "replay")
"""Where a set of facts came from: a venue's endpoints, the config file, a replay file's ``currency`` line."""

NETWORK_ALIASES: dict[str, str] = {
    # ccxt's own table (ccxt.base.exchange.Exchange.networkAliases, ccxt 4.5): alias -> unified code;
    # ccxt applies it in network_id_to_code, so codes from ccxt adapters already use the right side.
    "ETH": "ERC20",
    "TRX": "TRC20",
    "BSC": "BEP20",
    "BSC20": "BEP20",
    "CRONOS": "CRC20",
    "ARB": "ARBITRUM",
    "ARBONE": "ARBITRUM",
    "ARBNOVA": "ARBITRUM_NOVA",
    # older ccxt versions and venues' own names for the same chains
    "OPTIMISM": "OP",
    "POLYGON": "MATIC",
    "TRON": "TRC20",
    "ETHEREUM": "ERC20",
    "BITCOIN": "BTC",
}
"""Spellings of one network that name the same chain, mapped to the code arbscan matches on."""


def network_code(text: str) -> str:
    """The one spelling of a network code: upper case, then :data:`NETWORK_ALIASES` (``"eth"`` -> ``"ERC20"``)."""
    code = text.strip().upper()
    return NETWORK_ALIASES.get(code, code)


@dataclass(frozen=True, slots=True)
class NetworkFunding:
    """What one venue says about moving one asset over one network; ``None`` means not stated (unknown).

    Fees are flat amounts of the asset: ``withdraw_fee`` is what the venue keeps from a withdrawal,
    ``deposit_fee`` what it keeps from a deposit.
    """

    network: str
    deposit: bool | None = None
    withdraw: bool | None = None
    withdraw_fee: Decimal | None = None
    withdraw_min: Decimal | None = None
    deposit_fee: Decimal | None = None
    deposit_min: Decimal | None = None
    confirmations: int | None = None

    def __post_init__(self) -> None:
        if not self.network or self.network != network_code(self.network):
            raise ValueError(f"network {self.network!r} is not a unified code (use network_code())")
        for name in ("withdraw_fee", "withdraw_min", "deposit_fee", "deposit_min"):
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, Decimal):
                raise TypeError(f"NetworkFunding.{name} must be Decimal or None, got {type(value).__name__}")
            if not value.is_finite() or value < 0:
                raise ValueError(f"NetworkFunding.{name} must be a finite, non-negative Decimal, got {value}")
        if self.confirmations is not None and self.confirmations < 0:
            raise ValueError(f"NetworkFunding.confirmations must not be negative, got {self.confirmations}")


@dataclass(frozen=True, slots=True)
class AssetFunding:
    """What one venue says about deposits and withdrawals of one asset: asset-wide switches and each network.

    ``deposit`` / ``withdraw`` are asset-wide (Kraken's ``Assets`` status, a venue's currency flag):
    ``False`` closes every network of the asset on this venue whatever the network says.
    """

    exchange: str
    asset: str
    networks: tuple[NetworkFunding, ...] = ()
    deposit: bool | None = None
    withdraw: bool | None = None
    source: str = "venue"

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"AssetFunding.source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        seen: set[str] = set()
        for n in self.networks:
            if not isinstance(n, NetworkFunding):
                raise TypeError(f"AssetFunding.networks must hold NetworkFunding, got {type(n).__name__}")
            if n.network in seen:
                raise ValueError(f"{self.exchange} {self.asset}: network {n.network} listed twice")
            seen.add(n.network)

    def network(self, code: str) -> NetworkFunding | None:
        """The facts of one network (by unified code), or None when the venue does not list it."""
        for n in self.networks:
            if n.network == code:
                return n
        return None

    def can_withdraw(self, n: NetworkFunding) -> bool | None:
        """Whether ``n`` takes withdrawals here now: False when the asset-wide switch is off, else the network's flag."""
        return False if self.withdraw is False else n.withdraw

    def can_deposit(self, n: NetworkFunding) -> bool | None:
        """Whether ``n`` takes deposits here now: False when the asset-wide switch is off, else the network's flag."""
        return False if self.deposit is False else n.deposit


def merge_networks(base: Iterable[NetworkFunding], over: Iterable[NetworkFunding]) -> tuple[NetworkFunding, ...]:
    """``base``'s networks with ``over``'s laid on top: a network in ``over`` replaces the fields it states.

    A field ``over`` leaves ``None`` keeps ``base``'s value; networks only in ``over`` are added as they are.
    """
    merged = {n.network: n for n in base}
    for n in over:
        old = merged.get(n.network)
        if old is None:
            merged[n.network] = n
            continue
        changes = {name: getattr(n, name) for name in _NETWORK_FIELDS if getattr(n, name) is not None}
        merged[n.network] = replace(old, **changes)
    return tuple(merged.values())


def configured(n: NetworkFunding) -> NetworkFunding:
    """A network from the config where no venue lists it: taken to work both ways unless the config says otherwise."""
    return replace(n, deposit=True if n.deposit is None else n.deposit, withdraw=True if n.withdraw is None else n.withdraw)


_NETWORK_FIELDS = ("deposit", "withdraw", "withdraw_fee", "withdraw_min", "deposit_fee", "deposit_min", "confirmations")


class FundingBook:
    """The funding facts a run knows: the latest per (venue, asset), with the config's ``transfer`` tables on top.

    ``overrides`` maps exchange -> asset -> networks from the config; they win over what a venue or a
    replay file says, field by field, and stand alone where nothing else is known. ``version`` grows
    with every change, so callers can cache what they derive from the facts.
    """

    def __init__(self, overrides: Mapping[str, Mapping[str, Iterable[NetworkFunding]]] | None = None) -> None:
        self._overrides = {ex: {asset: tuple(nets) for asset, nets in assets.items()}
                           for ex, assets in (overrides or {}).items()}
        self._stated: dict[tuple[str, str], AssetFunding] = {}
        self._merged: dict[tuple[str, str], AssetFunding] = {}
        for ex, assets in self._overrides.items():
            for asset, nets in assets.items():
                self._merged[(ex, asset)] = AssetFunding(ex, asset, tuple(configured(n) for n in nets), source="config")
        self.version = 0

    def __bool__(self) -> bool:
        return bool(self._merged)

    def __len__(self) -> int:
        return len(self._merged)

    def get(self, exchange: str, asset: str) -> AssetFunding | None:
        """What is known about ``asset`` on ``exchange`` (config laid over the venue's facts), or None."""
        return self._merged.get((exchange, asset))

    def set(self, facts: AssetFunding) -> AssetFunding:
        """Replace what is known about ``facts``' venue and asset; returns the facts with the config laid on top."""
        key = (facts.exchange, facts.asset)
        self._stated[key] = facts
        over = self._overrides.get(facts.exchange, {}).get(facts.asset)
        if over is None:
            merged = facts
        else:  # a configured network the venue does not list is taken to work (see configured())
            over = tuple(n if facts.network(n.network) is not None else configured(n) for n in over)
            merged = replace(facts, networks=merge_networks(facts.networks, over))
        self._merged[key] = merged
        self.version += 1
        return merged

    def items(self) -> list[AssetFunding]:
        """Every (venue, asset) known, config included, in (venue, asset) order."""
        return [self._merged[k] for k in sorted(self._merged)]


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _unflag(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def funding_rows(facts: AssetFunding, ts: float | None, set_id: int) -> list[dict[str, Any]]:
    """``facts`` as rows of the journal's ``funding`` table: one per network, one without a network if none."""
    head = {"set_id": set_id, "ts": ts, "exchange": facts.exchange, "asset": facts.asset, "source": facts.source,
            "asset_deposit": _flag(facts.deposit), "asset_withdraw": _flag(facts.withdraw)}
    rows = []
    for n in facts.networks or (None,):
        row = dict(head)
        row["network"] = None if n is None else n.network
        if n is not None:
            row.update(deposit=_flag(n.deposit), withdraw=_flag(n.withdraw), withdraw_fee=n.withdraw_fee,
                       withdraw_min=n.withdraw_min, deposit_fee=n.deposit_fee, deposit_min=n.deposit_min,
                       confirmations=n.confirmations)
        rows.append(row)
    return rows


def facts_from_rows(rows: Iterable[Mapping[str, Any]]) -> AssetFunding:
    """One set of facts back from its ``funding`` rows (all of one ``set_id``)."""
    rows = list(rows)
    first = rows[0]
    networks = tuple(
        NetworkFunding(r["network"], _unflag(r.get("deposit")), _unflag(r.get("withdraw")), _dec(r.get("withdraw_fee")),
                       _dec(r.get("withdraw_min")), _dec(r.get("deposit_fee")), _dec(r.get("deposit_min")),
                       r.get("confirmations"))
        for r in rows if r.get("network") is not None
    )
    return AssetFunding(first["exchange"], first["asset"], networks, _unflag(first.get("asset_deposit")),
                        _unflag(first.get("asset_withdraw")), first.get("source") or "venue")
