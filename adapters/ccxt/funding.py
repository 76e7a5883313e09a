"""Funding facts through ccxt: each venue's currency list, and withdrawal quotas where a venue has them.

* ``fetch_currencies`` (where ccxt's ``has['fetchCurrencies']`` is True) gives, per asset, the
  asset-wide deposit/withdraw switches and per network (keyed by ccxt's unified network code) the
  switches, withdrawal fee and limits. Some venues answer only with API keys (Bybit, Binance: ccxt
  returns an empty list without them).
* ``WITHDRAWAL_QUOTAS``: venues with a per-asset withdrawal quota endpoint stating the account's own
  withdrawal switch, fee and minimum (KuCoin ``GET /api/v1/withdrawals/quotas``); read with keys, it
  wins over the currency list for its network.
* ``fetch_deposit_withdraw_fees`` (where ``has['fetchDepositWithdrawFees']`` is True), once per refresh
  for the assets still missing a network's withdrawal fee, or missing from the currency list: it only
  fills fees nothing above stated (never replaces a known fee; the config stays on top later). An asset
  the currency list did not give gets its networks from the fees alone, switches unknown. A failure is
  logged and leaves those fees unknown.

Network flags: ccxt's ``deposit`` / ``withdraw`` where stated; where a venue states only a network's
``active`` (Coinbase Exchange's ``status: online``), that stands for both (ccxt's meaning of ``active``:
deposits and withdrawals possible). Anything unstated stays ``None``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from adapters.ccxt.parse import to_decimal
from arbscan.errors import AuthError, NotSupported, UnexpectedPayload
from arbscan.funding.facts import AssetFunding, NetworkFunding, merge_networks, network_code

__all__ = [
    "CONFIRMATIONS_FIELD",
    "WITHDRAWAL_QUOTAS",
    "funding_from_currency",
    "stricter",
    "fees_from_structure",
    "fill_unknown_fees",
    "kucoin_withdrawal_quota",
    "fetch_funding",
]

log = logging.getLogger(__name__)

CONFIRMATIONS_FIELD = {
    "bybit": "confirmation",  # /v5/asset/coin/query-info chains[].confirmation
    "binance": "minConfirm",  # /sapi/v1/capital/config/getall networkList[].minConfirm
    "coinbaseexchange": "network_confirmations",  # /currencies supported_networks[].network_confirmations
    "kucoin": "confirms",  # /api/v3/currencies chains[].confirms
}
"""Where a venue's raw network record (ccxt's ``info``) gives the confirmations a deposit needs."""


def _flag(value: Any, what: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise UnexpectedPayload(f"{what}: expected true/false, got {value!r}")


def _confirmations(exchange: str, info: Any) -> int | None:
    field = CONFIRMATIONS_FIELD.get(exchange)
    if field is None or not isinstance(info, Mapping):
        return None
    value = info.get(field)
    if value is None or value == "":
        return None
    try:
        return int(str(value))
    except ValueError:
        log.debug("%s: confirmations %r not a whole number; left out", exchange, value)
        return None


def _network(exchange: str, asset: str, key: str, net: Mapping[str, Any]) -> NetworkFunding:
    what = f"{exchange} {asset} network {key}"
    active = _flag(net.get("active"), f"{what} active")
    deposit = _flag(net.get("deposit"), f"{what} deposit")
    withdraw = _flag(net.get("withdraw"), f"{what} withdraw")
    limits = net.get("limits") or {}
    return NetworkFunding(
        network_code(key),
        deposit=active if deposit is None else deposit,
        withdraw=active if withdraw is None else withdraw,
        withdraw_fee=to_decimal(net.get("fee"), f"{what} fee"),
        withdraw_min=to_decimal((limits.get("withdraw") or {}).get("min"), f"{what} withdraw min"),
        deposit_min=to_decimal((limits.get("deposit") or {}).get("min"), f"{what} deposit min"),
        confirmations=_confirmations(exchange, net.get("info")),
    )


def _stricter_switch(a: bool | None, b: bool | None) -> bool | None:
    return False if False in (a, b) else None if None in (a, b) else True


def _larger(a: Any, b: Any) -> Any:
    return None if a is None or b is None else max(a, b)


def stricter(a: NetworkFunding, b: NetworkFunding) -> NetworkFunding:
    """Two records of one network (two venue chain ids ccxt maps to one code) as the more restrictive verdict.

    A switch is off when either says off, unknown when either does not say, on only when both say on;
    a fee, minimum or confirmation count is the larger of the two, unknown when either is not stated
    (which of the two chains a transfer would use cannot be told).
    """
    return NetworkFunding(
        a.network,
        deposit=_stricter_switch(a.deposit, b.deposit),
        withdraw=_stricter_switch(a.withdraw, b.withdraw),
        withdraw_fee=_larger(a.withdraw_fee, b.withdraw_fee),
        withdraw_min=_larger(a.withdraw_min, b.withdraw_min),
        deposit_fee=_larger(a.deposit_fee, b.deposit_fee),
        deposit_min=_larger(a.deposit_min, b.deposit_min),
        confirmations=_larger(a.confirmations, b.confirmations),
    )


def funding_from_currency(exchange: str, asset: str, currency: Mapping[str, Any]) -> AssetFunding:
    """One ccxt currency structure (``fetch_currencies()[code]``) as funding facts; ``UnexpectedPayload`` if malformed.

    Two venue chain ids that ccxt maps to one unified code become one network with the more
    restrictive verdict of the two (:func:`stricter`), with a warning when the two records differ.
    """
    if not isinstance(currency, Mapping):
        raise UnexpectedPayload(f"{exchange} currency {asset}: expected an object, got {type(currency).__name__}")
    raw_networks = currency.get("networks") or {}
    if not isinstance(raw_networks, Mapping):
        raise UnexpectedPayload(f"{exchange} currency {asset}: networks must be an object")
    by_code: dict[str, NetworkFunding] = {}
    keys: dict[str, list[str]] = {}
    for key, net in raw_networks.items():
        n = _network(exchange, asset, str(key), net or {})
        keys.setdefault(n.network, []).append(str(key))
        old = by_code.get(n.network)
        if old is not None and old != n:
            log.warning("%s %s: chains %s are all network %s to ccxt and differ; keeping the more restrictive verdict",
                        exchange, asset, ", ".join(keys[n.network]), n.network)
        by_code[n.network] = n if old is None else stricter(old, n)
    networks = list(by_code.values())
    active = _flag(currency.get("active"), f"{exchange} {asset} active")
    deposit = _flag(currency.get("deposit"), f"{exchange} {asset} deposit")
    withdraw = _flag(currency.get("withdraw"), f"{exchange} {asset} withdraw")
    if active is False:  # the whole currency is off: nothing moves whatever its networks say
        deposit = deposit if deposit is not None else False
        withdraw = withdraw if withdraw is not None else False
    return AssetFunding(exchange, asset, tuple(networks), deposit, withdraw)


def kucoin_withdrawal_quota(exchange: str, asset: str, payload: Mapping[str, Any],
                            network_id_to_code: Callable[[str], str]) -> AssetFunding:
    """KuCoin's ``GET /api/v1/withdrawals/quotas`` answer: the account's withdrawal switch, fee and minimum.

    https://www.kucoin.com/docs-new/rest/account-info/withdrawals/get-withdrawal-quotas
    """
    data = payload.get("data") if isinstance(payload, Mapping) else None
    if not isinstance(data, Mapping) or not data.get("chain"):
        raise UnexpectedPayload(f"{exchange} withdrawal quota {asset}: no data.chain in the answer")
    what = f"{exchange} {asset} withdrawal quota"
    n = NetworkFunding(
        network_code(network_id_to_code(str(data["chain"]))),
        withdraw=_flag(data.get("isWithdrawEnabled"), f"{what} isWithdrawEnabled"),
        withdraw_fee=to_decimal(data.get("withdrawMinFee"), f"{what} withdrawMinFee"),
        withdraw_min=to_decimal(data.get("withdrawMinSize"), f"{what} withdrawMinSize"),
    )
    return AssetFunding(exchange, asset, (n,))


WITHDRAWAL_QUOTAS: dict[str, tuple[str, Callable[..., AssetFunding]]] = {
    "kucoin": ("privateGetWithdrawalsQuotas", kucoin_withdrawal_quota),
}
"""Venues with a per-asset withdrawal quota endpoint: ccxt's implicit method and how to read its answer."""


def _fee(entry: Any, what: str) -> Any:
    """A flat fee from one ``{fee, percentage}`` record of ccxt's fee structure (None: not stated, or a percentage)."""
    if not isinstance(entry, Mapping) or entry.get("percentage"):  # a share of the amount is not a flat fee
        return None
    return to_decimal(entry.get("fee"), what)


def fees_from_structure(exchange: str, asset: str, fees: Mapping[str, Any]) -> tuple[NetworkFunding, ...]:
    """The per-network flat fees of one ccxt deposit/withdraw fee structure (``fetch_deposit_withdraw_fees()[code]``)."""
    networks = fees.get("networks") if isinstance(fees, Mapping) else None
    if not isinstance(networks, Mapping):
        raise UnexpectedPayload(f"{exchange} fees {asset}: networks must be an object")
    out: dict[str, NetworkFunding] = {}
    for key, entry in networks.items():
        what = f"{exchange} {asset} network {key}"
        entry = entry if isinstance(entry, Mapping) else {}
        n = NetworkFunding(network_code(str(key)), withdraw_fee=_fee(entry.get("withdraw"), f"{what} withdraw fee"),
                           deposit_fee=_fee(entry.get("deposit"), f"{what} deposit fee"))
        out[n.network] = n if n.network not in out else stricter(out[n.network], n)
    return tuple(out.values())


def fill_unknown_fees(facts: AssetFunding | None, exchange: str, asset: str,
                      fees: tuple[NetworkFunding, ...]) -> AssetFunding:
    """``facts`` with only its unknown fees taken from ``fees``; without ``facts``, the fees' networks alone.

    A fee already stated is kept; a network the currency list did not name is not added to it.
    """
    if facts is None:
        return AssetFunding(exchange, asset, fees)
    given = {n.network: n for n in fees}
    networks = []
    for n in facts.networks:
        extra = given.get(n.network)
        if extra is not None:
            n = replace(n, withdraw_fee=n.withdraw_fee if n.withdraw_fee is not None else extra.withdraw_fee,
                        deposit_fee=n.deposit_fee if n.deposit_fee is not None else extra.deposit_fee)
        networks.append(n)
    return replace(facts, networks=tuple(networks))


def _needs_fees(facts: AssetFunding | None) -> bool:
    return facts is None or any(n.withdraw_fee is None for n in facts.networks)


async def _fill_fees(exchange: Any, name: str, wanted: list[str], facts: dict[str, AssetFunding],
                     errors: Callable[[], Any]) -> None:
    """One ``fetch_deposit_withdraw_fees`` call for the assets still missing a withdrawal fee (see the module docstring)."""
    needed = [a for a in wanted if _needs_fees(facts.get(a))]
    if not needed:
        return
    try:
        with errors():
            answer = await exchange.fetch_deposit_withdraw_fees(needed)
        for asset in needed:
            structure = (answer or {}).get(asset)
            if structure is not None:
                facts[asset] = fill_unknown_fees(facts.get(asset), name, asset,
                                                 fees_from_structure(name, asset, structure))
    except AuthError as exc:  # most venues state fees only to a signed request: expected on a keyless scan
        log.info("%s fetch_deposit_withdraw_fees(%s) needs API keys; those withdrawal fees stay unknown (%s)",
                 name, ", ".join(needed), exc)
    except Exception as exc:  # noqa: BLE001 - the fees stay unknown; the currency list's facts stand
        log.warning("%s fetch_deposit_withdraw_fees(%s) failed; those withdrawal fees stay unknown (%s: %s)",
                    name, ", ".join(needed), type(exc).__name__, exc)


async def fetch_funding(exchange: Any, name: str, assets: Iterable[str], has_keys: bool,
                        errors: Callable[[], Any]) -> list[AssetFunding]:
    """The funding facts ccxt's ``exchange`` can give for ``assets`` (see the module docstring).

    ``errors()`` is the adapter's ccxt error translation (a context manager). ``NotSupported`` when the
    venue has neither a currency list, nor a fee list, nor (with keys) a quota endpoint.
    """
    wanted = list(dict.fromkeys(assets))
    quota = WITHDRAWAL_QUOTAS.get(name) if has_keys else None
    listed = exchange.has.get("fetchCurrencies") is True
    fees = exchange.has.get("fetchDepositWithdrawFees") is True
    if not listed and quota is None and not fees:
        raise NotSupported(f"{name} lists no currencies through ccxt")
    facts: dict[str, AssetFunding] = {}
    if listed:
        with errors():
            currencies = await exchange.fetch_currencies()
        for asset in wanted:
            if (currencies or {}).get(asset) is not None:
                facts[asset] = funding_from_currency(name, asset, currencies[asset])
    if quota is not None:
        method, read = quota
        for asset in wanted:
            with errors():
                raw = await getattr(exchange, method)({"currency": asset})
            account = read(name, asset, raw, lambda chain: exchange.network_id_to_code(chain, asset))
            old = facts.get(asset)
            facts[asset] = account if old is None else AssetFunding(
                name, asset, merge_networks(old.networks, account.networks), old.deposit, old.withdraw)
    if fees:
        await _fill_fees(exchange, name, wanted, facts, errors)
    return [facts[a] for a in wanted if a in facts]
