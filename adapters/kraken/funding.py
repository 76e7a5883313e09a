"""Funding facts from Kraken's own endpoints: can an asset be deposited or withdrawn, over which network, at what fee.

* Public ``Assets``: each asset's ``status`` (:data:`ASSET_STATUS`): ``enabled``, ``deposit_only``,
  ``withdrawal_only`` or ``funding_temporarily_disabled`` — the asset-wide switches.
* With keys (Kraken asks for funding permissions; without them each call is skipped with a warning):
  ``WithdrawMethods`` (the networks the account can withdraw over, with minimums), ``DepositMethods``
  (the deposit methods, with fee and minimum), ``WithdrawAddresses`` + ``WithdrawInfo`` (the fee Kraken
  states for a withdrawal to a saved address), and ``WithdrawStatus`` (the fees charged on recent
  withdrawals, used where ``WithdrawInfo`` gives none).

Kraken names networks in words ("Bitcoin", "Tron"); :data:`NETWORKS` maps them to ccxt's unified codes
(the table ccxt's kraken.py keeps as ``options['withdrawMethods']``, brought to one spelling by
``arbscan.funding.facts.network_code``). A network not in the table is left out with a debug line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from arbscan.errors import ArbscanError, AuthError, UnexpectedPayload
from arbscan.funding.facts import AssetFunding, NetworkFunding, network_code

__all__ = ["ASSET_STATUS", "NETWORKS", "kraken_network", "parse_assets", "fetch_funding"]

log = logging.getLogger(__name__)

ASSET_STATUS: dict[str, tuple[bool, bool]] = {
    # https://docs.kraken.com/api/docs/rest-api/get-asset-info (status): (deposits, withdrawals)
    "enabled": (True, True),
    "deposit_only": (True, False),
    "withdrawal_only": (False, True),
    "funding_temporarily_disabled": (False, False),
}

NETWORKS: dict[str, str] = {
    # Kraken network name -> ccxt unified network code (ccxt kraken.py options['withdrawMethods'])
    "Bitcoin": "BTC", "Lightning": "LIGHTNING", "Ripple": "XRP", "Litecoin": "LTC", "Dogecoin": "DOGE",
    "Stellar": "XLM", "Ethereum": "ERC20", "Arbitrum One": "ARBITRUM", "Arbitrum Nova": "ARBITRUM_NOVA",
    "Polygon": "MATIC", "Optimism": "OP", "zkSync Era": "ZKSYNC", "Ethereum Classic": "ETC", "Zcash": "ZEC",
    "Monero": "XMR", "Tron": "TRC20", "Solana": "SOL", "EOS": "EOS", "Bitcoin Cash": "BCH", "Cardano": "ADA",
    "Qtum": "QTUM", "Tezos": "XTZ", "Cosmos": "ATOM", "Nano": "NANO", "Siacoin": "SC", "Lisk": "LSK",
    "Waves": "WAVES", "ICON": "ICX", "Algorand": "ALGO", "Polkadot": "DOT", "Kava": "KAVA", "Filecoin": "FIL",
    "Kusama": "KSM", "Flow": "FLOW", "Energy Web": "EW", "Mina": "MINA", "Centrifuge": "CFG", "Karura": "KAR",
    "Moonriver": "MOVR", "Shiden": "SDN",
}


def kraken_network(name: str | None) -> str | None:
    """ccxt's unified code for one of Kraken's network names, or None when it is not in :data:`NETWORKS`."""
    code = NETWORKS.get(name or "")
    return None if code is None else network_code(code)


def _dec(value: Any, what: str) -> Decimal | None:
    if value is None or value is False or value == "":
        return None
    if isinstance(value, float):
        raise UnexpectedPayload(f"kraken: {what} decoded as float")
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise UnexpectedPayload(f"kraken: {what} is not a number: {value!r}") from None
    if not d.is_finite() or d < 0:
        raise UnexpectedPayload(f"kraken: {what} must be a non-negative number, got {value!r}")
    return d


def _list(result: Any, endpoint: str) -> list[Mapping[str, Any]]:
    if not isinstance(result, list) or not all(isinstance(r, Mapping) for r in result):
        raise UnexpectedPayload(f"kraken {endpoint}: expected a list of objects")
    return result


def parse_assets(result: Any, unified: Callable[[str], str]) -> tuple[dict[str, tuple[str, bool, bool]], dict[str, str]]:
    """``Assets`` as (unified asset -> (altname, deposits on, withdrawals on), Kraken code or altname -> unified).

    An asset with a status not in :data:`ASSET_STATUS` is left out (unknown) with a warning.
    """
    if not isinstance(result, Mapping):
        raise UnexpectedPayload("kraken Assets: expected an object")
    out: dict[str, tuple[str, bool, bool]] = {}
    names: dict[str, str] = {}
    for code, info in result.items():
        if not isinstance(info, Mapping) or not info.get("altname"):
            raise UnexpectedPayload(f"kraken Assets: {code} has no altname")
        alt = str(info["altname"])
        names[str(code)] = names[alt] = unified(alt)
        status = info.get("status", "enabled")  # absent in answers older than the status field
        switches = ASSET_STATUS.get(status)
        if switches is None:
            log.warning("kraken Assets: %s has unknown status %r; its funding is left unknown", code, status)
            continue
        out.setdefault(unified(alt), (alt, *switches))
    return out, names


class _Funding:
    """What Kraken's private funding endpoints say about one asset, network by network."""

    def __init__(self) -> None:
        self.withdraw: dict[str, dict[str, Any]] = {}  # network -> {"withdraw_min": ...}
        self.deposit: dict[str, dict[str, Any]] = {}  # network -> {"deposit_fee": ..., "deposit_min": ...}
        self.stated_fee: dict[str, Decimal] = {}  # network -> WithdrawInfo fee
        self.paid_fee: dict[str, tuple[float, Decimal]] = {}  # network -> (time, fee) of the latest withdrawal
        self.methods: dict[str, str] = {}  # Kraken method name -> network code

    def networks(self) -> tuple[NetworkFunding, ...]:
        out = []
        for code in dict.fromkeys([*self.withdraw, *self.deposit, *self.stated_fee, *self.paid_fee]):
            w, d = self.withdraw.get(code), self.deposit.get(code)
            fee = self.stated_fee.get(code)
            if fee is None and code in self.paid_fee:
                fee = self.paid_fee[code][1]
            out.append(NetworkFunding(
                code, deposit=True if d is not None else None, withdraw=True if w is not None else None,
                withdraw_fee=fee, withdraw_min=(w or {}).get("withdraw_min"),
                deposit_fee=(d or {}).get("deposit_fee"), deposit_min=(d or {}).get("deposit_min")))
        return tuple(out)


async def _call(what: str, call: Any, warned: set[str]) -> Any:
    """One private call; a refused key or a failure is logged once per endpoint and read as "nothing known"."""
    try:
        return await call
    except AuthError as exc:
        if what not in warned:
            warned.add(what)
            log.warning("kraken %s refused (%s): those funding facts stay unknown; set them in the config "
                        "([[venues]] transfer) or give the key Kraken's funding permissions", what, exc)
    except ArbscanError as exc:
        log.warning("kraken %s failed (%s); those funding facts stay unknown this time", what, exc)
    return None


async def fetch_funding(rest: Any, assets: Iterable[str], unified: Callable[[str], str],
                        warned: set[str] | None = None) -> list[AssetFunding]:
    """The funding facts of ``assets`` (unified names) from Kraken's endpoints (see the module docstring)."""
    warned = set() if warned is None else warned
    wanted = list(dict.fromkeys(assets))
    status, names = parse_assets(await rest.assets(), unified)
    found = {a: status[a] for a in wanted if a in status}
    per_asset = {a: _Funding() for a in found}
    if rest.has_credentials and found:
        await _private_facts(rest, found, per_asset, names, warned)
    return [AssetFunding("kraken", a, per_asset[a].networks(), deposit, withdraw)
            for a, (_, deposit, withdraw) in found.items()]


async def _private_facts(rest: Any, found: Mapping[str, tuple[str, bool, bool]], per_asset: dict[str, _Funding],
                         names: Mapping[str, str], warned: set[str]) -> None:
    """Fill ``per_asset`` from the private endpoints; they name assets by code ("XXBT") or altname ("XBT")."""

    def _asset_of(name: Any) -> str | None:
        asset = names.get(str(name))
        return asset if asset in per_asset else None

    methods = await _call("WithdrawMethods", rest.withdraw_methods(), warned)
    for m in _list(methods, "WithdrawMethods") if methods is not None else ():
        asset = _asset_of(m.get("asset"))
        code = kraken_network(m.get("network"))
        if asset is None or code is None:
            log.debug("kraken WithdrawMethods: %s over %r left out", m.get("asset"), m.get("network"))
            continue
        per_asset[asset].withdraw[code] = {"withdraw_min": _dec(m.get("minimum"), "WithdrawMethods minimum")}
        per_asset[asset].methods[str(m.get("method"))] = code
    for asset, (alt, _, _) in found.items():
        deposits = await _call("DepositMethods", rest.deposit_methods(alt), warned)
        funding = per_asset[asset]
        for m in _list(deposits, "DepositMethods") if deposits is not None else ():
            name = str(m.get("method"))
            code = funding.methods.get(name) or kraken_network(name) or kraken_network(name.removesuffix(" (Hex)"))
            if code is None:
                log.debug("kraken DepositMethods: %s method %r has no known network; left out", asset, name)
                continue
            funding.deposit[code] = {"deposit_fee": _dec(m.get("fee"), "DepositMethods fee"),
                                     "deposit_min": _dec(m.get("minimum"), "DepositMethods minimum")}
    addresses = await _call("WithdrawAddresses", rest.withdraw_addresses(), warned)
    for a in _list(addresses, "WithdrawAddresses") if addresses is not None else ():
        asset = _asset_of(a.get("asset"))
        if asset is None or not a.get("verified") or not a.get("key"):
            continue
        funding = per_asset[asset]
        code = funding.methods.get(str(a.get("method")))
        if code is None or code in funding.stated_fee:
            continue
        amount = funding.withdraw[code]["withdraw_min"] or Decimal(1)
        info = await _call("WithdrawInfo", rest.withdraw_info(found[asset][0], str(a["key"]), amount), warned)
        fee = _dec(info.get("fee"), "WithdrawInfo fee") if isinstance(info, Mapping) else None
        if fee is not None:
            funding.stated_fee[code] = fee
    recent = await _call("WithdrawStatus", rest.withdraw_status(), warned)
    for w in _list(recent, "WithdrawStatus") if recent is not None else ():
        asset = _asset_of(w.get("asset"))
        fee = _dec(w.get("fee"), "WithdrawStatus fee")
        if asset is None or fee is None:
            continue
        funding = per_asset[asset]
        code = kraken_network(w.get("network")) or funding.methods.get(str(w.get("method")))
        when = float(w.get("time") or 0)
        if code is not None and (code not in funding.paid_fee or when >= funding.paid_fee[code][0]):
            funding.paid_fee[code] = (when, fee)
