"""Kraken's REST answers as arbscan types: asset pairs (markets, their steps and minimums), orders, client ids.

Pure functions; names come from Kraken's own lists (``XBT`` and ``XDG`` are Kraken's only renamed codes).
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from arbscan.errors import UnexpectedPayload
from arbscan.model import Market, OrderStatus, OrderUpdate

__all__ = ["UNIFIED_ALIASES", "PairInfo", "cl_ord_id_for", "parse_asset_pairs", "parse_order", "unified", "decimal_of"]

log = logging.getLogger("adapters.kraken.adapter")

NAME = "kraken"

UNIFIED_ALIASES: dict[str, str] = {
    # Kraken alt name -> the name everyone else (ccxt, Kraken WS v2) uses
    "XBT": "BTC",
    "XDG": "DOGE",
}

# AssetPairs "status" values where an IOC limit order can trade (absent in older answers: online).
_TRADABLE = frozenset({"online", "limit_only"})

_CL_ORD_ID_TEXT = re.compile(r"^[\x21-\x7e]{1,18}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
_CL_ORD_NAMESPACE = uuid.UUID("6f1c1f3e-8a38-4d51-9c52-7b1b5e0a4b21")

_STATUS = {
    "pending": OrderStatus.SUBMITTED,
    "open": OrderStatus.OPEN,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "closed": OrderStatus.FILLED,
}


def cl_ord_id_for(client_id: str) -> str:
    """The ``cl_ord_id`` Kraken gets for our ``client_id`` (itself when valid, else a UUID-5 of it)."""
    if _CL_ORD_ID_TEXT.match(client_id) or _UUID.match(client_id):
        return client_id
    return str(uuid.uuid5(_CL_ORD_NAMESPACE, client_id))


def unified(alt: str) -> str:
    """Kraken's alt name as everyone else names the asset (``XBT`` -> ``BTC``)."""
    return UNIFIED_ALIASES.get(alt, alt)


def decimal_of(value: Any, what: str) -> Decimal:
    """A number from Kraken's JSON (decoded with ``parse_float=Decimal``) as ``Decimal``; ``UnexpectedPayload`` else."""
    if isinstance(value, float):
        raise UnexpectedPayload(f"kraken: {what} decoded as float")
    try:
        return Decimal(str(value))
    except ArithmeticError:
        raise UnexpectedPayload(f"kraken: {what} is not a number: {value!r}") from None


@dataclass(frozen=True, slots=True)
class PairInfo:
    """One Kraken pair's names and its public (tier-0) market."""

    rest_name: str  # "XXBTZUSD": key of AssetPairs, what REST calls take and return
    ws_name: str  # "XBT/USD"
    base_code: str  # "XXBT"
    quote_code: str  # "ZUSD"
    market: Market  # unified symbol "BTC/USD", public tier-0 taker fee


def parse_asset_pairs(result: dict[str, Any]) -> tuple[dict[str, PairInfo], dict[str, str]]:
    """Markets by unified symbol and unified names by Kraken asset code, from an AssetPairs ``result``."""
    pairs: dict[str, PairInfo] = {}
    assets: dict[str, str] = {}
    for rest_name, info in result.items():
        try:
            wsname = info.get("wsname")
            if not wsname or info.get("status", "online") not in _TRADABLE or rest_name.endswith(".d"):
                continue  # dark pools (no wsname) and pairs where an IOC limit order cannot trade
            base_alt, quote_alt = wsname.split("/")
            base, quote = unified(base_alt), unified(quote_alt)
            assets.setdefault(info["base"], base)
            assets.setdefault(info["quote"], quote)
            lot_decimals = int(info["lot_decimals"])
            pair_decimals = int(info["pair_decimals"])
            tick = info.get("tick_size")
            price_step = decimal_of(tick, "tick_size") if tick is not None else Decimal(1).scaleb(-pair_decimals)
            fees = info.get("fees") or [[0, "0.26"]]
            taker_pct = decimal_of(fees[0][1], f"{rest_name} fee")
            market = Market(
                exchange=NAME,
                symbol=f"{base}/{quote}",
                base=base,
                quote=quote,
                taker_fee=taker_pct / 100,
                amount_step=Decimal(1).scaleb(-lot_decimals),
                price_step=price_step,
                min_amount=decimal_of(info.get("ordermin", 0), "ordermin"),
                min_cost=decimal_of(info.get("costmin", 0), "costmin"),
            )
        except (KeyError, ValueError, TypeError, IndexError, AttributeError, UnexpectedPayload) as exc:
            log.warning("kraken: skipping pair %s (%s)", rest_name, exc)
            continue
        if market.symbol in pairs:
            log.debug("kraken: %s listed twice (%s, %s); keeping the first", market.symbol, pairs[market.symbol].rest_name, rest_name)
            continue
        pairs[market.symbol] = PairInfo(rest_name, wsname, info["base"], info["quote"], market)
    return pairs, assets


def parse_order(client_id: str, symbol: str, txid: str, order: dict[str, Any]) -> OrderUpdate:
    """An ``OrderUpdate`` from one Kraken order record (QueryOrders / OpenOrders / ClosedOrders)."""
    raw_status = order.get("status")
    status = _STATUS.get(raw_status)
    if status is None:
        raise UnexpectedPayload(f"kraken: unknown order status {raw_status!r} for {txid}")
    volume = decimal_of(order.get("vol", 0), "vol")
    filled = decimal_of(order.get("vol_exec", 0), "vol_exec")
    if status is OrderStatus.OPEN and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    elif status is OrderStatus.FILLED and filled < volume:
        # IOC remainder cancelled by the engine: final, partly filled
        status = OrderStatus.CANCELED
    avg = decimal_of(order.get("price", 0), "price") if filled > 0 else None
    return OrderUpdate(
        client_id=client_id,
        exchange=NAME,
        symbol=symbol,
        status=status,
        filled=filled,
        avg_price=avg if avg else None,
        fee=decimal_of(order.get("fee", 0), "fee"),
        exchange_order_id=txid,
    )
