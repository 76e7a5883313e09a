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
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

from adapters.base import AdapterDefaults, Credentials, load_credentials, true_books
from adapters.kraken import funding
from adapters.kraken.parse import (
    UNIFIED_ALIASES,
    PairInfo,
    cl_ord_id_for,
    decimal_of,
    parse_asset_pairs,
    parse_order,
    unified,
)
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
from arbscan.funding.facts import AssetFunding
from arbscan.model import BookSnapshot, Market, OrderRequest, OrderStatus, OrderUpdate, Side

__all__ = ["KrakenAdapter", "UNIFIED_ALIASES", "PairInfo", "cl_ord_id_for", "parse_asset_pairs", "parse_order"]

log = logging.getLogger(__name__)

NAME = "kraken"

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

    def rate_limit_headroom(self) -> str:
        """Kraken's per-key call counter as kept here (books come over WebSocket and cost none of it)."""
        counter = self.rest.counter
        if counter is None or self._credentials is None:
            return "public calls only (books over WebSocket, not counted)"
        left = max(0.0, counter.maximum - counter.value)
        return f"{left:.1f} of {counter.maximum:g} private calls left (decays {counter.decay_per_s:g}/s)"

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
            fees[pair] = decimal_of(info["fee"], f"{pair} fee") / 100  # Kraken gives percent
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
            bids = tuple((decimal_of(p, "price"), decimal_of(v, "volume")) for p, v, *_ in book["bids"])
            asks = tuple((decimal_of(p, "price"), decimal_of(v, "volume")) for p, v, *_ in book["asks"])
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
                    decimal_of(info.get("balance", 0), "balance")
                    + decimal_of(info.get("credit", 0), "credit")
                    - decimal_of(info.get("credit_used", 0), "credit_used")
                    - decimal_of(info.get("hold_trade", 0), "hold_trade")
                )
            else:  # plain Balance shape
                free = decimal_of(info, "balance")
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
        return await funding.fetch_funding(self.rest, assets, unified, self._funding_warned)

    async def close(self) -> None:
        """Close the HTTP session (the WebSocket closes with its iterator); safe to call twice."""
        await self.rest.close()
