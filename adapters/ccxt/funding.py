"""Funding facts through ccxt: each venue's currency list, and withdrawal quotas where a venue has them.

* ``fetch_currencies`` (where ccxt's ``has['fetchCurrencies']`` is True) gives, per asset, the
  asset-wide deposit/withdraw switches and per network (keyed by ccxt's unified network code) the
  switches, withdrawal fee and limits. Some venues answer only with API keys (Bybit, Binance: ccxt
  returns an empty list without them).
* ``WITHDRAWAL_QUOTAS``: venues with a per-asset withdrawal quota endpoint stating the account's own
  withdrawal switch, fee and minimum (KuCoin ``GET /api/v1/withdrawals/quotas``); read with keys, it
  wins over the currency list for its network.

Network flags: ccxt's ``deposit`` / ``withdraw`` where stated; where a venue states only a network's
``active`` (Coinbase Exchange's ``status: online``), that stands for both (ccxt's meaning of ``active``:
deposits and withdrawals possible). Anything unstated stays ``None``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from adapters.ccxt.parse import to_decimal
from arbscan.errors import NotSupported, UnexpectedPayload
from arbscan.funding import AssetFunding, NetworkFunding, merge_networks, network_code

__all__ = [
    "CONFIRMATIONS_FIELD",
    "WITHDRAWAL_QUOTAS",
    "funding_from_currency",
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


def funding_from_currency(exchange: str, asset: str, currency: Mapping[str, Any]) -> AssetFunding:
    """One ccxt currency structure (``fetch_currencies()[code]``) as funding facts; ``UnexpectedPayload`` if malformed."""
    if not isinstance(currency, Mapping):
        raise UnexpectedPayload(f"{exchange} currency {asset}: expected an object, got {type(currency).__name__}")
    raw_networks = currency.get("networks") or {}
    if not isinstance(raw_networks, Mapping):
        raise UnexpectedPayload(f"{exchange} currency {asset}: networks must be an object")
    networks = []
    seen: set[str] = set()
    for key, net in raw_networks.items():
        n = _network(exchange, asset, str(key), net or {})
        if n.network in seen:  # two venue ids ccxt maps to one chain: keep the first
            log.debug("%s %s: network %s listed twice; keeping the first", exchange, asset, n.network)
            continue
        seen.add(n.network)
        networks.append(n)
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


async def fetch_funding(exchange: Any, name: str, assets: Iterable[str], has_keys: bool,
                        errors: Callable[[], Any]) -> list[AssetFunding]:
    """The funding facts ccxt's ``exchange`` can give for ``assets`` (see the module docstring).

    ``errors()`` is the adapter's ccxt error translation (a context manager). ``NotSupported`` when the
    venue has neither a currency list nor (with keys) a quota endpoint.
    """
    wanted = list(dict.fromkeys(assets))
    quota = WITHDRAWAL_QUOTAS.get(name) if has_keys else None
    listed = exchange.has.get("fetchCurrencies") is True
    if not listed and quota is None:
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
    return [facts[a] for a in wanted if a in facts]
