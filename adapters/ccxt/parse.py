"""Pure conversions from ccxt's unified dicts to ``arbscan.model`` types: numbers, steps, markets, books, orders.

Numbers become ``Decimal`` without binary-float noise: ccxt hands out floats in its unified fields, and
``Decimal(repr(x))`` is the shortest text that round-trips, i.e. exactly the venue's text for any number
of up to 15 significant digits (tests compare against the raw recorded strings). Anything malformed
raises ``UnexpectedPayload`` naming it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from arbscan.booksanity import untrue_reason
from arbscan.errors import OrderRejected, UnexpectedPayload, UntrueBook
from arbscan.model import ZERO, BookSnapshot, Market, OrderRequest, OrderStatus, OrderUpdate

__all__ = [
    "DECIMAL_PLACES",
    "SIGNIFICANT_DIGITS",
    "TICK_SIZE",
    "to_decimal",
    "step_from_precision",
    "market_from_ccxt",
    "spot_markets",
    "book_from_ccxt",
    "order_update_from_ccxt",
    "our_orders",
    "check_order",
    "binance_permissions",
    "coinbase_permissions",
]

log = logging.getLogger(__name__)

# ccxt precision modes (ccxt.base.decimal_to_precision); repeated here so parsing needs no ccxt import
DECIMAL_PLACES = 2
"""ccxt precision mode: ``precision`` entries count decimal places."""
SIGNIFICANT_DIGITS = 3
"""ccxt precision mode: ``precision`` entries count significant digits (no fixed step)."""
TICK_SIZE = 4
"""ccxt precision mode: ``precision`` entries are the step itself."""

_MAX_PLAUSIBLE_FEE = Decimal("0.05")

_STATUS = {
    "open": OrderStatus.OPEN,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}


def to_decimal(value: Any, what: str = "number") -> Decimal | None:
    """A ccxt number as ``Decimal``: strings and ints exactly, floats by their shortest round-trip text."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise UnexpectedPayload(f"{what}: expected a number, got a boolean")
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise UnexpectedPayload(f"{what}: not a finite number: {value!r}")
        d = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            raise UnexpectedPayload(f"{what}: not a number: {value[:40]!r}") from None
    else:
        raise UnexpectedPayload(f"{what}: expected a number, got {type(value).__name__}")
    if not d.is_finite():
        raise UnexpectedPayload(f"{what}: not a finite number: {value!r}")
    return d


def step_from_precision(value: Any, precision_mode: int, what: str = "precision") -> Decimal:
    """The step size for one ccxt ``precision`` entry: a tick size, or ``10**-n`` for ``n`` decimal places."""
    d = to_decimal(value, what)
    if d is None:
        raise UnexpectedPayload(f"{what}: missing")
    if precision_mode == TICK_SIZE:
        step = d
    elif precision_mode == DECIMAL_PLACES:
        if d != d.to_integral_value():
            raise UnexpectedPayload(f"{what}: {value!r} is not a whole number of decimal places")
        step = Decimal(1).scaleb(-int(d))
    elif precision_mode == SIGNIFICANT_DIGITS:
        # a number of significant digits has no fixed step: the step depends on the price
        raise UnexpectedPayload(f"{what}: significant-digits precision gives no fixed step")
    else:
        raise UnexpectedPayload(f"{what}: unknown ccxt precision mode {precision_mode!r}")
    if step <= 0:
        raise UnexpectedPayload(f"{what}: step must be positive, got {value!r}")
    return step


def _limit(market: Mapping[str, Any], kind: str) -> Decimal:
    limits = market.get("limits") or {}
    d = to_decimal((limits.get(kind) or {}).get("min"), f"limits.{kind}.min")
    return d if d is not None and d > 0 else ZERO


def market_from_ccxt(
    exchange: str,
    market: Mapping[str, Any],
    precision_mode: int,
    taker_fee: Decimal | None = None,
    account_fee: Mapping[str, Any] | None = None,
) -> Market:
    """One ccxt market dict as a ``Market``; fee from ``taker_fee`` (config) > ``account_fee`` > the market."""
    symbol = market.get("symbol")
    if not isinstance(symbol, str) or "/" not in symbol:
        raise UnexpectedPayload(f"{exchange}: market without a unified symbol: {symbol!r}")
    precision = market.get("precision") or {}
    amount_step = step_from_precision(precision.get("amount"), precision_mode, f"{exchange} {symbol} precision.amount")
    price_step = step_from_precision(precision.get("price"), precision_mode, f"{exchange} {symbol} precision.price")
    public_fee = to_decimal(market.get("taker"), f"{exchange} {symbol} taker fee")
    fee = taker_fee
    if fee is None and account_fee:
        fee = to_decimal(account_fee.get("taker"), f"{exchange} {symbol} account taker fee")
        if fee is not None and fee > (2 * public_fee if public_fee else _MAX_PLAUSIBLE_FEE):
            # ccxt 4.5 passes bitstamp's percent figures ("0.16000" = 0.16 %) through as fractions;
            # an account fee far above the venue's public base tier is a unit error, not a price
            log.warning("%s %s: account taker fee %s is implausible; using the public fee %s",
                        exchange, symbol, fee, public_fee)
            fee = None
    if fee is None:
        fee = public_fee
    if fee is None:
        raise UnexpectedPayload(f"{exchange} {symbol}: the venue publishes no taker fee; set taker_fee in its config")
    if not ZERO <= fee < 1:
        raise UnexpectedPayload(f"{exchange} {symbol}: taker fee {fee} is not a fraction")
    return Market(
        exchange=exchange,
        symbol=symbol,
        base=str(market.get("base") or symbol.split("/")[0]),
        quote=str(market.get("quote") or symbol.split("/")[1].split(":")[0]),
        taker_fee=fee,
        amount_step=amount_step,
        price_step=price_step,
        min_amount=_limit(market, "amount"),
        min_cost=_limit(market, "cost"),
    )


def spot_markets(
    exchange: str,
    markets: Mapping[str, Mapping[str, Any]],
    precision_mode: int,
    taker_fee: Decimal | None = None,
    account_fees: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Market]:
    """The active spot markets of ccxt's ``load_markets`` answer; one that cannot be read is logged and left out."""
    out: dict[str, Market] = {}
    for symbol, m in markets.items():
        if not m.get("spot") or m.get("active") is False:
            continue
        try:
            out[symbol] = market_from_ccxt(exchange, m, precision_mode, taker_fee, (account_fees or {}).get(symbol))
        except UnexpectedPayload as exc:
            log.warning("%s: skipping market %s: %s", exchange, symbol, exc)
    return out


def _levels(raw: Any, depth: int, what: str, descending: bool) -> tuple[tuple[Decimal, Decimal], ...]:
    if not isinstance(raw, list):
        raise UnexpectedPayload(f"{what}: expected a list of levels")
    out: list[tuple[Decimal, Decimal]] = []
    for level in raw:
        if not isinstance(level, (list, tuple)) or len(level) < 2:
            raise UnexpectedPayload(f"{what}: malformed level {level!r}")
        price = to_decimal(level[0], f"{what} price")
        amount = to_decimal(level[1], f"{what} amount")
        if price is None or amount is None:
            raise UnexpectedPayload(f"{what}: malformed level {level!r}")
        if amount > 0:  # a zero amount is a deleted level some venues still list
            out.append((price, amount))
    out.sort(key=lambda lv: lv[0], reverse=descending)
    return tuple(out[:depth])


def book_from_ccxt(exchange: str, symbol: str, book: Mapping[str, Any], depth: int, received: float,
                   market: Market | None = None) -> BookSnapshot:
    """A ccxt order book as a ``BookSnapshot`` that passed the book gate; ``ts`` is venue time, else ``received``.

    A book the gate refuses (``arbscan.booksanity``: one-sided, crossed, locked, or a number ``market``'s
    steps cannot mean) raises ``UntrueBook``, an ``UnexpectedPayload`` naming the reason.
    """
    what = f"{exchange} {symbol}"
    bids = _levels(book.get("bids"), depth, f"{what} bids", True)
    asks = _levels(book.get("asks"), depth, f"{what} asks", False)
    ts_ms = book.get("timestamp")
    ts = float(ts_ms) / 1000.0 if isinstance(ts_ms, (int, float)) and not isinstance(ts_ms, bool) else received
    snap = BookSnapshot.trusted(exchange, symbol, bids, asks, ts, received)
    reason = untrue_reason(snap, market)
    if reason is not None:
        raise UntrueBook(exchange, symbol, ts, reason)
    return snap


def _fee_total(order: Mapping[str, Any], what: str) -> Decimal:
    fees = order.get("fees")
    if not fees:
        fees = [order["fee"]] if order.get("fee") else []
    total = ZERO
    for fee in fees:
        cost = to_decimal((fee or {}).get("cost"), f"{what} fee")
        if cost is not None:
            total += cost
    return total


def order_update_from_ccxt(exchange: str, client_id: str, symbol: str, order: Mapping[str, Any]) -> OrderUpdate:
    """A ccxt order dict as an ``OrderUpdate`` (fees summed as the venue reports them)."""
    what = f"{exchange} order {client_id}"
    raw_status = order.get("status")
    filled = to_decimal(order.get("filled"), f"{what} filled") or ZERO
    amount = to_decimal(order.get("amount"), f"{what} amount")
    if raw_status is None:
        # the venue acknowledged without a state (e.g. a bare order id): it exists, state unknown yet
        status = OrderStatus.SUBMITTED
    else:
        status = _STATUS.get(str(raw_status).lower())
        if status is None:
            raise UnexpectedPayload(f"{what}: unknown order status {raw_status!r}")
    if status is OrderStatus.OPEN and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    if status is OrderStatus.FILLED and amount is not None and filled < amount:
        # ccxt reports "closed" for an IOC that filled partly on some venues: it is finished, not full
        status = OrderStatus.CANCELED
    avg = to_decimal(order.get("average"), f"{what} average")
    if avg is None and filled > 0:
        cost = to_decimal(order.get("cost"), f"{what} cost")
        avg = cost / filled if cost is not None else None
    order_id = order.get("id")
    return OrderUpdate(
        client_id=client_id,
        exchange=exchange,
        symbol=order.get("symbol") or symbol,
        status=status,
        filled=filled,
        avg_price=avg if filled > 0 else None,
        fee=_fee_total(order, what),
        exchange_order_id=str(order_id) if order_id not in (None, "") else None,
    )


def our_orders(exchange: str, symbol: str, orders: Iterable[Mapping[str, Any]]) -> list[OrderUpdate]:
    """The orders of a ccxt order list that carry a client id (ours), as ``OrderUpdate``s; malformed ones logged and left out."""
    out = []
    for order in orders:
        cid = order.get("clientOrderId")
        if not cid:
            continue
        try:
            out.append(order_update_from_ccxt(exchange, str(cid), symbol, order))
        except UnexpectedPayload as exc:
            log.warning("%s: skipping order %s: %s", exchange, cid, exc)
    return out


def check_order(exchange: str, req: OrderRequest, market: Market | None) -> None:
    """Refuse (``OrderRejected``), before sending, an order the venue would reject or ccxt would silently round.

    ccxt truncates amounts and rounds prices to the market's precision; a rounded-up buy limit would
    pay more than asked, so an amount or price off the venue's step is refused here instead. Without a
    market (markets not loaded through the adapter) ccxt and the venue still check.
    """
    if market is None:
        return
    what = f"{exchange} order {req.client_id} {req.symbol}"
    if req.amount % market.amount_step != 0:
        raise OrderRejected(f"{what}: amount {req.amount} is not a multiple of the step {market.amount_step}")
    if req.limit_price % market.price_step != 0:
        raise OrderRejected(f"{what}: price {req.limit_price} is not a multiple of the tick {market.price_step}")
    if req.amount < market.min_amount:
        raise OrderRejected(f"{what}: amount {req.amount} is below the minimum {market.min_amount}")
    if req.amount * req.limit_price < market.min_cost:
        raise OrderRejected(
            f"{what}: notional {req.amount * req.limit_price} is below the minimum {market.min_cost} {market.quote}"
        )


def binance_permissions(raw: dict[str, Any]) -> list[str]:
    """Permission names from Binance's API-key restrictions answer (withdrawal named ``withdraw (...)``)."""
    # https://developers.binance.com/docs/wallet/account/api-key-permission
    # {"enableReading": true, "enableSpotAndMarginTrading": true, "enableWithdrawals": false, ...}
    out = []
    for key, value in raw.items():
        if value is True and (key.startswith("enable") or key.startswith("permits")):
            out.append("withdraw (enableWithdrawals)" if key == "enableWithdrawals" else key)
    return sorted(out)


def coinbase_permissions(raw: dict[str, Any]) -> list[str]:
    """Permission names from Coinbase's key-permissions answer (a transfer right named ``withdraw (...)``)."""
    # https://docs.cdp.coinbase.com/advanced-trade/reference/retailbrokerageapi_getapikeypermissions
    # {"can_view": true, "can_trade": true, "can_transfer": false, "portfolio_uuid": "...", ...}
    # can_transfer lets the key send funds off Coinbase: a withdrawal.
    out = []
    for key in ("can_view", "can_trade", "can_transfer"):
        if raw.get(key) is True:
            out.append("withdraw (can_transfer)" if key == "can_transfer" else key)
    return out

