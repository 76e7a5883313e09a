"""Frozen value types shared by every layer: markets, books, opportunities, orders.

Money and quantities are ``decimal.Decimal`` everywhere; timestamps are unix seconds as ``float``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

__all__ = [
    "Level",
    "Market",
    "BookSnapshot",
    "Opportunity",
    "Side",
    "OrderStatus",
    "OrderRequest",
    "OrderUpdate",
    "Fill",
    "ZERO",
    "FINAL_STATUSES",
    "Route",
    "Amounts",
    "Balances",
]

ZERO = Decimal(0)

Level = tuple[Decimal, Decimal]
"""One price level: (price, amount)."""

Route = tuple[str, str, str]
"""One route: (symbol, buy_exchange, sell_exchange)."""

Amounts = dict[str, Decimal]
"""Free amount per asset on one venue: ``{"USD": Decimal("1000"), "BTC": Decimal("0.5")}``."""

Balances = dict[str, Amounts]
"""Free amounts per venue and asset: exchange -> asset -> amount. A venue that is absent is unknown
(sizes are not capped there); what an absent asset of a listed venue means is up to whoever holds the
balances: the simulated venue of paper trading holds exactly what it lists (absent is 0), a real venue's
balances are known only where fetched or configured (absent is unknown)."""


@dataclass(frozen=True, slots=True)
class Market:
    """One tradable market on one venue, with the venue's real steps, minimums and taker fee."""

    exchange: str  # ccxt id: "kraken", "bitstamp", "coinbase", ...
    symbol: str  # unified "BTC/USD"
    base: str
    quote: str
    taker_fee: Decimal  # fraction: 0.0026 means 0.26 %
    amount_step: Decimal  # amounts are whole multiples of this
    price_step: Decimal
    min_amount: Decimal = ZERO
    min_cost: Decimal = ZERO  # minimum notional in quote

    def __post_init__(self) -> None:
        for name in ("taker_fee", "amount_step", "price_step", "min_amount", "min_cost"):
            value = getattr(self, name)
            if not isinstance(value, Decimal):
                raise TypeError(f"Market.{name} must be Decimal, got {type(value).__name__}")
            if not value.is_finite() or value < 0:
                raise ValueError(f"Market.{name} must be a finite, non-negative Decimal, got {value}")
        if self.amount_step <= 0 or self.price_step <= 0:
            raise ValueError(f"Market {self.exchange} {self.symbol}: steps must be positive")
        if self.taker_fee >= 1:
            raise ValueError(f"Market {self.exchange} {self.symbol}: taker_fee {self.taker_fee} is not a fraction")


def _check_side(levels: tuple[Level, ...], descending: bool, what: str) -> None:
    prev = None
    for level in levels:
        price, amount = level
        if type(price) is not Decimal or type(amount) is not Decimal:
            raise TypeError(f"{what}: levels must be (Decimal, Decimal), got {level!r}")
        if not price > 0:
            raise ValueError(f"{what}: non-positive price {price}")
        if not amount > 0:
            raise ValueError(f"{what}: non-positive amount {amount} at price {price}")
        if prev is not None and (price >= prev if descending else price <= prev):
            raise ValueError(f"{what}: levels not sorted best-first at price {price}")
        prev = price


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """An immutable view of one venue's order book at one moment.

    Construction validates: each side sorted best-first with distinct prices, positive prices and
    amounts, and a book that is not crossed (best bid above best ask). Code that builds books it has
    already validated may use :meth:`trusted` to skip the checks on the hot path.
    """

    exchange: str
    symbol: str
    bids: tuple[Level, ...]  # (price, amount), best (highest) first
    asks: tuple[Level, ...]  # (price, amount), best (lowest) first
    ts: float  # venue time, or receive time when the venue gives none
    received: float  # local receive time

    def __post_init__(self) -> None:
        what = f"{self.exchange} {self.symbol}"
        _check_side(self.bids, True, f"{what} bids")
        _check_side(self.asks, False, f"{what} asks")
        if self.bids and self.asks and self.bids[0][0] > self.asks[0][0]:
            raise ValueError(f"{what}: crossed book (bid {self.bids[0][0]} > ask {self.asks[0][0]})")

    @classmethod
    def trusted(
        cls,
        exchange: str,
        symbol: str,
        bids: tuple[Level, ...],
        asks: tuple[Level, ...],
        ts: float,
        received: float,
    ) -> BookSnapshot:
        """Build without validation, for books whose invariants the caller already guarantees."""
        self = object.__new__(cls)
        setter = object.__setattr__
        setter(self, "exchange", exchange)
        setter(self, "symbol", symbol)
        setter(self, "bids", bids)
        setter(self, "asks", asks)
        setter(self, "ts", ts)
        setter(self, "received", received)
        return self

    @property
    def best_bid(self) -> Decimal | None:
        """Highest bid price, or None for an empty side."""
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        """Lowest ask price, or None for an empty side."""
        return self.asks[0][0] if self.asks else None


@dataclass(frozen=True, slots=True)
class Opportunity:
    """A profitable paired trade: buy ``amount`` on ``buy_exchange``, sell it on ``sell_exchange``."""

    symbol: str
    buy_exchange: str
    sell_exchange: str
    amount: Decimal  # base units, a whole multiple of the coarser amount step
    buy_vwap: Decimal  # average price paid on the buy leg, before fee
    sell_vwap: Decimal  # average price received on the sell leg, before fee
    buy_limit: Decimal  # worst (highest) ask touched
    sell_limit: Decimal  # worst (lowest) bid touched
    buy_cost: Decimal  # quote spent, including the buy fee
    sell_proceeds: Decimal  # quote received, net of the sell fee
    net_profit: Decimal  # sell_proceeds - buy_cost, in quote
    net_bps: Decimal  # 10000 * net_profit / buy_cost
    ts: float  # event time of the later of the two books
    buy_fee: Decimal = ZERO  # fee paid on the buy leg, in quote
    sell_fee: Decimal = ZERO  # fee paid on the sell leg, in quote

    @property
    def buy_notional(self) -> Decimal:
        """Quote value of the buy leg before fee."""
        return self.buy_cost - self.buy_fee

    @property
    def sell_notional(self) -> Decimal:
        """Quote value of the sell leg before fee."""
        return self.sell_proceeds + self.sell_fee


class Side(Enum):
    """Order side."""

    BUY = "buy"
    SELL = "sell"


class OrderStatus(Enum):
    """Lifecycle state of one order; legal moves live in ``arbscan.execution.orders.TRANSITIONS``."""

    CREATED = "created"
    SUBMITTED = "submitted"
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNKNOWN = "unknown"

    @property
    def is_final(self) -> bool:
        """True when no further fill can happen."""
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED})
"""The one set of final order states: no fill can follow and no move is legal."""


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What we ask a venue to do: a limit order identified by our own client id."""

    client_id: str
    exchange: str
    symbol: str
    side: Side
    amount: Decimal
    limit_price: Decimal
    time_in_force: str = "IOC"

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal) or not isinstance(self.limit_price, Decimal):
            raise TypeError("OrderRequest amount and limit_price must be Decimal")
        if self.amount <= 0 or self.limit_price <= 0:
            raise ValueError(f"OrderRequest {self.client_id}: amount and limit_price must be positive")


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """What a venue says about one of our orders."""

    client_id: str
    exchange: str
    symbol: str
    status: OrderStatus
    filled: Decimal
    avg_price: Decimal | None
    fee: Decimal
    exchange_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of one of our orders; keyed by (exchange, trade_id) so a repeat is ignored."""

    exchange: str
    trade_id: str
    client_id: str
    symbol: str
    side: Side
    amount: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    ts: float
