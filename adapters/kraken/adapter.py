"""KrakenAdapter: the native Kraken venue behind ``adapters.base.ExchangeAdapter``.

Names: Kraken's REST world says ``XXBTZUSD`` (pair), ``XBT/USD`` (wsname) and ``XXBT``/``ZUSD``
(asset codes); WS v2 and arbscan say ``BTC/USD``. The map is built from Kraken's own AssetPairs list:
each pair's ``wsname`` splits into the alt names of its ``base`` and ``quote`` codes, and alt names
become unified names through one explicit table (:data:`UNIFIED_ALIASES`: ``XBT`` -> ``BTC``,
``XDG`` -> ``DOGE``). Nothing is guessed from prefixes.

Client order ids: Kraken's ``cl_ord_id`` takes a UUID or up to 18 characters of free text. Our
client id is sent as is when it fits, else as the UUID-5 of it (deterministic, so reconciliation
after a restart finds the same order).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from adapters.base import AdapterDefaults, Credentials, load_credentials, true_books
from adapters.kraken import funding
from adapters.kraken.rest import KrakenRestClient
from adapters.kraken.ws import KrakenWsClient
from arbscan.booksanity import untrue_reason
from arbscan.errors import (
    ArbscanError,
    BadInput,
    OrderNotFound,
    OrderRejected,
    UnexpectedPayload,
    UntrueBook,
)
from arbscan.funding import AssetFunding
from arbscan.model import BookSnapshot, Market, OrderRequest, OrderStatus, OrderUpdate, Side

__all__ = ["KrakenAdapter", "UNIFIED_ALIASES", "PairInfo", "cl_ord_id_for", "parse_asset_pairs", "parse_order"]

log = logging.getLogger(__name__)

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


def _unified(alt: str) -> str:
    return UNIFIED_ALIASES.get(alt, alt)


def _dec(value: Any, what: str) -> Decimal:
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
            base, quote = _unified(base_alt), _unified(quote_alt)
            assets.setdefault(info["base"], base)
            assets.setdefault(info["quote"], quote)
            lot_decimals = int(info["lot_decimals"])
            pair_decimals = int(info["pair_decimals"])
            tick = info.get("tick_size")
            price_step = _dec(tick, "tick_size") if tick is not None else Decimal(1).scaleb(-pair_decimals)
            fees = info.get("fees") or [[0, "0.26"]]
            taker_pct = _dec(fees[0][1], f"{rest_name} fee")
            market = Market(
                exchange=NAME,
                symbol=f"{base}/{quote}",
                base=base,
                quote=quote,
                taker_fee=taker_pct / 100,
                amount_step=Decimal(1).scaleb(-lot_decimals),
                price_step=price_step,
                min_amount=_dec(info.get("ordermin", 0), "ordermin"),
                min_cost=_dec(info.get("costmin", 0), "costmin"),
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
    volume = _dec(order.get("vol", 0), "vol")
    filled = _dec(order.get("vol_exec", 0), "vol_exec")
    if status is OrderStatus.OPEN and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    elif status is OrderStatus.FILLED and filled < volume:
        # IOC remainder cancelled by the engine: final, partly filled
        status = OrderStatus.CANCELED
    avg = _dec(order.get("price", 0), "price") if filled > 0 else None
    return OrderUpdate(
        client_id=client_id,
        exchange=NAME,
        symbol=symbol,
        status=status,
        filled=filled,
        avg_price=avg if avg else None,
        fee=_dec(order.get("fee", 0), "fee"),
        exchange_order_id=txid,
    )


class KrakenAdapter(AdapterDefaults):
    """Kraken through its own REST and WebSocket v2 APIs: validated books, signed private calls.

    Of the optional members it has ``open_orders``, ``closed_orders``, ``validate_orders`` and
    ``fetch_funding`` (``adapters.kraken.funding``).
    ``api_key_permissions()`` keeps the default None: Kraken has no endpoint that lists a key's
    permissions, and a forbidden call answers ``EGeneral:Permission denied`` (``AuthError``).
    """

    name = NAME

    def __init__(
        self,
        rest_url: str | None = None,
        ws_url: str | None = None,
        depth: int = 10,
        taker_fee: Decimal | None = None,
        credentials: Credentials | None = None,
        validate_orders: bool = False,
        *,
        tier: str | None = "starter",
        rest: KrakenRestClient | None = None,
        ws: KrakenWsClient | None = None,
        **ws_options: Any,
    ) -> None:
        if taker_fee is not None and not isinstance(taker_fee, Decimal):
            raise BadInput("kraken taker_fee override must be a Decimal")
        self._credentials = credentials if credentials is not None else load_credentials(NAME)
        self.rest = rest or KrakenRestClient(rest_url, self._credentials, tier=tier)
        self.ws = ws or KrakenWsClient(ws_url, depth, **ws_options)
        self.depth = depth
        self.taker_fee = taker_fee
        self.validate_orders = validate_orders
        self._pairs: dict[str, PairInfo] = {}
        self._assets: dict[str, str] = {}
        self._by_rest_name: dict[str, str] = {}
        self._txids: dict[str, str] = {}  # our client id -> Kraken txid
        self._client_ids: dict[str, str] = {}  # cl_ord_id sent -> our client id
        self._by_altname: dict[str, str] = {}  # "XBTUSD" (order descriptions) -> "BTC/USD"
        self._funding_warned: set[str] = set()  # funding endpoints the key was refused (warned once)

    def __repr__(self) -> str:
        return f"KrakenAdapter(rest={self.rest.base_url!r}, ws={self.ws.url!r}, keys={'yes' if self._credentials else 'no'})"

    # -- markets -------------------------------------------------------------------------------

    async def load_markets(self) -> dict[str, Market]:
        """Every online Kraken spot pair by unified symbol, with the account's taker fee when keys allow."""
        result = await self.rest.asset_pairs()
        pairs, assets = parse_asset_pairs(result)
        altnames = {name: info.get("altname") for name, info in result.items() if isinstance(info, dict)}
        fees: dict[str, Decimal] = {}
        if self.taker_fee is None and self._credentials is not None:
            fees = await self._account_fees([p.rest_name for p in pairs.values()])
        out: dict[str, Market] = {}
        for symbol, info in pairs.items():
            market = info.market
            fee = self.taker_fee if self.taker_fee is not None else fees.get(info.rest_name)
            if fee is not None:
                market = Market(
                    market.exchange, market.symbol, market.base, market.quote, fee,
                    market.amount_step, market.price_step, market.min_amount, market.min_cost,
                )
                info = PairInfo(info.rest_name, info.ws_name, info.base_code, info.quote_code, market)
            pairs[symbol] = info
            out[symbol] = market
        self._pairs = pairs
        self._assets = assets
        self._by_rest_name = {p.rest_name: s for s, p in pairs.items()}
        self._by_altname = {alt: sym for sym, alt in ((s, altnames.get(p.rest_name)) for s, p in pairs.items()) if alt}
        return out

    async def _account_fees(self, rest_names: list[str]) -> dict[str, Decimal]:
        try:
            result = await self.rest.trade_volume(rest_names)
        except ArbscanError as exc:
            # The public base-tier fee is the highest tier: falling back can only hide opportunities.
            log.warning("kraken: cannot read the account fee tier (%s); using the public tier-0 fee", exc)
            return {}
        fees = {}
        for pair, info in (result.get("fees") or {}).items():
            fees[pair] = _dec(info["fee"], f"{pair} fee") / 100  # Kraken gives percent
        return fees

    async def _pair(self, symbol: str) -> PairInfo:
        if not self._pairs:
            await self.load_markets()
        try:
            return self._pairs[symbol]
        except KeyError:
            raise BadInput(f"kraken has no market {symbol!r}") from None

    # -- books ---------------------------------------------------------------------------------

    async def fetch_book(self, symbol: str, depth: int = 50) -> BookSnapshot:
        """One REST ``Depth`` snapshot of ``symbol``."""
        pair = await self._pair(symbol)
        received = time.time()
        result = await self.rest.depth(pair.rest_name, min(depth, 500))  # Kraken serves at most 500
        if not isinstance(result, dict) or len(result) != 1:
            raise UnexpectedPayload(f"kraken Depth: expected one pair, got {list(result)[:3] if isinstance(result, dict) else type(result).__name__}")
        (book,) = result.values()
        try:
            bids = tuple((_dec(p, "price"), _dec(v, "volume")) for p, v, *_ in book["bids"])
            asks = tuple((_dec(p, "price"), _dec(v, "volume")) for p, v, *_ in book["asks"])
            stamps = [float(level[2]) for level in book["bids"] + book["asks"] if len(level) > 2]
        except (KeyError, TypeError, ValueError) as exc:
            raise UnexpectedPayload(f"kraken Depth: malformed book ({exc})") from None
        ts = max(stamps) if stamps else received
        snap = BookSnapshot.trusted(NAME, symbol, bids, asks, ts, received)
        reason = untrue_reason(snap, pair.market)
        if reason is not None:
            raise UntrueBook(NAME, symbol, ts, reason)
        return snap

    async def watch_books(self, symbols: list[str]) -> AsyncIterator[BookSnapshot]:
        """WebSocket v2 books of ``symbols``: one snapshot after every message whose checksum and book gate pass
        (an untrue one goes to ``on_untrue_book``)."""
        market = lambda symbol: info.market if (info := self._pairs.get(symbol)) is not None else None  # noqa: E731
        async for snap in true_books(self.ws.books(symbols), market, lambda: self.on_untrue_book, NAME):
            yield snap

    # -- account -------------------------------------------------------------------------------

    async def fetch_balances(self) -> dict[str, Decimal]:
        """Free amount per unified asset (``BalanceEx``: balance + credit - credit_used - hold_trade)."""
        if not self._pairs:
            await self.load_markets()
        result = await self.rest.balance_ex()
        out: dict[str, Decimal] = {}
        for code, info in result.items():
            name = self._assets.get(code)
            if name is None:
                log.debug("kraken: asset %s is in no pair; keeping Kraken's name", code)
                name = code
            if isinstance(info, dict):
                free = (
                    _dec(info.get("balance", 0), "balance")
                    + _dec(info.get("credit", 0), "credit")
                    - _dec(info.get("credit_used", 0), "credit_used")
                    - _dec(info.get("hold_trade", 0), "hold_trade")
                )
            else:  # plain Balance shape
                free = _dec(info, "balance")
            out[name] = out.get(name, Decimal(0)) + free
        return out

    # -- orders --------------------------------------------------------------------------------

    async def place_order(self, req: OrderRequest) -> OrderUpdate:
        """An IOC (or ``req.time_in_force``) limit order, sent once; ``OrderOutcomeUnknown`` when the outcome is unknowable."""
        pair = await self._pair(req.symbol)
        cl_ord_id = cl_ord_id_for(req.client_id)
        self._client_ids[cl_ord_id] = req.client_id
        result = await self.rest.add_order(
            pair.rest_name,
            "buy" if req.side is Side.BUY else "sell",
            req.amount,
            req.limit_price,
            timeinforce=req.time_in_force,
            cl_ord_id=cl_ord_id,
            validate=self.validate_orders,
        )
        txids = result.get("txid") or []
        if self.validate_orders or not txids:
            # validate=true: Kraken checked the order and did not place it
            log.info("kraken: order %s validated, not placed: %s", req.client_id, (result.get("descr") or {}).get("order"))
            return OrderUpdate(req.client_id, NAME, req.symbol, OrderStatus.CANCELED, Decimal(0), None, Decimal(0), None)
        txid = str(txids[0])
        self._txids[req.client_id] = txid
        try:
            return await self._query(req.symbol, req.client_id, txid)
        except ArbscanError as exc:
            log.warning("kraken: order %s placed as %s, status not read yet (%s)", req.client_id, txid, exc)
            return OrderUpdate(req.client_id, NAME, req.symbol, OrderStatus.SUBMITTED, Decimal(0), None, Decimal(0), txid)

    async def _query(self, symbol: str, client_id: str, txid: str) -> OrderUpdate:
        result = await self.rest.query_orders([txid])
        order = result.get(txid)
        if order is None:
            raise OrderNotFound(f"kraken: no order {txid}")
        return parse_order(client_id, symbol, txid, order)

    async def fetch_order(self, symbol: str, client_id: str) -> OrderUpdate:
        """Our order by client id: QueryOrders by the txid we know, else OpenOrders/ClosedOrders by ``cl_ord_id``."""
        txid = self._txids.get(client_id)
        if txid is not None:
            try:
                return await self._query(symbol, client_id, txid)
            except (OrderNotFound, OrderRejected):
                log.warning("kraken: QueryOrders does not know %s; searching by client id", txid)
        cl_ord_id = cl_ord_id_for(client_id)
        for call, key in ((self.rest.open_orders, "open"), (self.rest.closed_orders, "closed")):
            result = await call(cl_ord_id=cl_ord_id)
            for found_txid, order in (result.get(key) or {}).items():
                if str(order.get("cl_ord_id")) == cl_ord_id:
                    self._txids[client_id] = found_txid
                    return parse_order(client_id, symbol, found_txid, order)
        raise OrderNotFound(f"kraken: no order with client id {client_id!r}")

    async def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        """Our open orders (those carrying a ``cl_ord_id``), optionally only ``symbol``'s, for reconciliation."""
        if not self._pairs:
            await self.load_markets()
        result = await self.rest.open_orders()
        return self._ours(result.get("open") or {}, symbol)

    async def closed_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        """Our recently closed orders (Kraken's latest 50), optionally only ``symbol``'s, for reconciliation."""
        if not self._pairs:
            await self.load_markets()
        result = await self.rest.closed_orders()
        return self._ours(result.get("closed") or {}, symbol)

    def _ours(self, orders: dict[str, Any], symbol: str | None) -> list[OrderUpdate]:
        out = []
        for txid, order in orders.items():
            cl_ord_id = order.get("cl_ord_id")
            if not cl_ord_id:
                continue  # placed by someone else (another program, the web UI)
            pair_alt = (order.get("descr") or {}).get("pair")
            order_symbol = self._by_altname.get(pair_alt)
            if order_symbol is None:
                log.debug("kraken: order %s on unknown pair %r", txid, pair_alt)
                continue
            if symbol is not None and order_symbol != symbol:
                continue
            client_id = self._client_ids.get(str(cl_ord_id), str(cl_ord_id))
            out.append(parse_order(client_id, order_symbol, txid, order))
        return out

    async def cancel_order(self, symbol: str, client_id: str) -> OrderUpdate:
        """Cancel our order by client id, then report its state (already-closed orders report as they are)."""
        try:
            await self.rest.cancel_order(cl_ord_id=cl_ord_id_for(client_id))
        except OrderNotFound:
            pass  # closed already, or never placed: fetch_order tells which
        return await self.fetch_order(symbol, client_id)

    async def fetch_funding(self, assets: list[str]) -> list[AssetFunding]:
        """Deposit/withdrawal status of ``assets`` (public ``Assets``), with keys also networks, minimums and fees."""
        return await funding.fetch_funding(self.rest, assets, _unified, self._funding_warned)

    async def close(self) -> None:
        """Close the HTTP session (the WebSocket closes with its iterator); safe to call twice."""
        await self.rest.close()
