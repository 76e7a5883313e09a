"""Finding our orders on a ccxt venue by client id, the way the venue allows (``CcxtAdapter``'s look-ups).

By the venue's order id when we placed the order in this process; by client id where the venue's
``fetch_order`` takes one (:data:`FETCH_BY_CLIENT_ID`); else in the venue's open and closed order lists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from arbscan.errors import NotSupported, OrderNotFound, OrderOutcomeUnknown

__all__ = ["OrderLookup", "FETCH_BY_CLIENT_ID", "ORDER_LISTS"]

FETCH_BY_CLIENT_ID = frozenset({"binance", "binanceus", "bitstamp", "coinbaseexchange"})
"""Venues whose ccxt ``fetch_order`` looks an order up by ``params["clientOrderId"]`` (read in each venue's
fetch_order source: binance origClientOrderId, bitstamp client_order_id, coinbaseexchange client_oid)."""

ORDER_LISTS = {"open": ("fetch_open_orders", "fetchOpenOrders"), "closed": ("fetch_closed_orders", "fetchClosedOrders")}
"""Order list kind -> (ccxt method, its ``has`` flag)."""


class OrderLookup:
    """Our orders on one ccxt venue found by client id; ``order_ids`` maps client ids to the venue's ids seen."""

    def __init__(self, exchange: Any, name: str, errors: Callable[[], AbstractContextManager[Any]]) -> None:
        self.exchange = exchange  # the ccxt exchange object
        self.name = name
        self.errors = errors  # the adapter's ccxt error translation (secrets scrubbed)
        self.order_ids: dict[str, str] = {}  # client id -> venue order id

    async def find(self, symbol: str, client_id: str) -> Mapping[str, Any]:
        """The ccxt order for our client id: by the venue id we got back, by client id, else from the venue's lists.

        ``OrderNotFound`` only when the venue was asked everything it can answer; a venue that cannot
        list its finished orders gives ``OrderOutcomeUnknown`` instead (reconcile by hand, never resend).
        """
        ex = self.exchange
        order_id = self.order_ids.get(client_id)
        if order_id is not None:
            with self.errors():
                return await ex.fetch_order(order_id, symbol)
        if self.name in FETCH_BY_CLIENT_ID:
            with self.errors():
                order = await ex.fetch_order(None, symbol, {"clientOrderId": client_id})
            if order.get("id"):
                self.order_ids[client_id] = str(order["id"])
            return order
        searched_closed = False
        for kind in ("open", "closed"):
            try:
                orders = await self.listed(kind, symbol)
            except NotSupported:
                continue
            searched_closed |= kind == "closed"
            for order in orders:
                if order.get("clientOrderId") == client_id:
                    if order.get("id"):
                        self.order_ids[client_id] = str(order["id"])
                    return order
        if not searched_closed:
            raise OrderOutcomeUnknown(f"{self.name}: cannot look up client id {client_id} on {symbol}; check the venue")
        raise OrderNotFound(f"{self.name}: no order with client id {client_id} on {symbol}")

    async def listed(self, kind: str, symbol: str) -> list[Mapping[str, Any]]:
        """The venue's ``kind`` ("open" or "closed") orders on ``symbol`` as ccxt dicts (``NotSupported``: none)."""
        method, has = ORDER_LISTS[kind]
        if not self.exchange.has.get(has):
            raise NotSupported(f"{self.name} cannot list {kind} orders")
        with self.errors():
            return await getattr(self.exchange, method)(symbol)
