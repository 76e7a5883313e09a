"""Mark-to-market: the one rule for what a strategy has made at a moment, used by every figure of it.

A strategy's result at time t = its realised PnL + the unrealised value of what its trades left behind,
in its quote currency. Every trade moves cash (quote: what the sell legs brought net of fee, minus what
the buy legs cost incl. fee, plus flattening orders' quote flow) and may leave base inventory: a long on
the buy venue (``imbalance`` > 0) or a short on the sell venue (``imbalance`` < 0). At t:

* ``total``      = all cash moved + every holding valued at the books at t: a long at the best bid (what
  selling it would bring), a short at the best ask (what buying it back would cost);
* ``realised``   = the trades' ``realised_pnl`` (the matched amount and flattening, after all fees);
* ``unrealised`` = ``total - realised``: the inventory's value at t minus what it cost.

A holding is valued at its own venue's book, else at another venue's book of the same symbol. A
holding whose quote is not the strategy's goes through a :class:`Converter` (a conversion book); an
asset that has no book is *named* in :attr:`Mark.unvalued` and its quote's total is unknown (None) —
never valued at 0 or at par. Pure: books and conversions come in as arguments; Decimal throughout.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from arbscan.model import ZERO, BookSnapshot

__all__ = ["Positions", "Mark", "Converter", "BookConverter", "mark", "trade_cash"]

BookOf = Callable[[str, str], "BookSnapshot | None"]
"""(exchange, symbol) -> the latest book there, or None."""


class Converter(Protocol):
    """Values an amount of one quote asset in the strategy's quote (``arbscan.funding`` conversion markets)."""

    quote: str  # the currency every figure is expressed in

    def value(self, amount: Decimal, asset: str) -> Decimal | None:
        """``amount`` of ``asset`` (signed) in :attr:`quote`, or None when no book converts it."""


@dataclass(frozen=True, slots=True)
class BookConverter:
    """A :class:`Converter` over conversion books ``{(base, quote): book}``: a direct book ``asset/quote``
    (a positive amount at its best bid, a negative one at its best ask) or an inverse one ``quote/asset``
    (a positive amount buys quote at the ask: amount / ask; a negative one at the bid)."""

    quote: str
    books: Mapping[tuple[str, str], BookSnapshot]

    def value(self, amount: Decimal, asset: str) -> Decimal | None:
        """See :class:`Converter`."""
        if asset == self.quote:
            return amount
        direct = self.books.get((asset, self.quote))
        if direct is not None:
            side = direct.bids if amount >= 0 else direct.asks
            return amount * side[0][0] if side else None
        inverse = self.books.get((self.quote, asset))
        if inverse is not None:
            side = inverse.asks if amount >= 0 else inverse.bids
            return amount / side[0][0] if side else None
        return None


def trade_cash(buy_cost: Decimal, sell_proceeds: Decimal, flatten_pnl: Decimal) -> Decimal:
    """The quote a trade moved: sell proceeds net of fee - buy cost incl. fee + flattening orders' quote flow."""
    return sell_proceeds - buy_cost + flatten_pnl


@dataclass(slots=True)
class Positions:
    """What a strategy's trades moved, kept as they settle: cash and realised PnL per quote, holdings per venue."""

    realised: dict[str, Decimal] = field(default_factory=dict)  # quote -> realised PnL after fees
    cash: dict[str, Decimal] = field(default_factory=dict)  # quote -> net quote moved (trade_cash summed)
    holdings: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (exchange, symbol) -> base, + long / - short

    def add(self, symbol: str, buy_exchange: str, sell_exchange: str, *, cash: Decimal, realised: Decimal,
            imbalance: Decimal) -> None:
        """Count one settled trade: its quote moved, its realised PnL and the inventory it left."""
        quote = symbol.partition("/")[2]
        self.cash[quote] = self.cash.get(quote, ZERO) + cash
        self.realised[quote] = self.realised.get(quote, ZERO) + realised
        if imbalance:
            key = (buy_exchange if imbalance > 0 else sell_exchange, symbol)
            left = self.holdings.get(key, ZERO) + imbalance
            if left:
                self.holdings[key] = left
            else:
                self.holdings.pop(key)

    @property
    def quotes(self) -> list[str]:
        """The quote assets the trades moved, sorted."""
        return sorted(self.cash)


@dataclass(frozen=True, slots=True)
class Mark:
    """A strategy's result at one moment, per currency (one when there is a converter or one quote)."""

    ts: float
    realised: dict[str, Decimal]  # currency -> realised PnL
    total: dict[str, Decimal | None]  # currency -> realised + unrealised; None: something in it has no book
    unvalued: tuple[str, ...] = ()  # 'ETH on kraken (ETH/USD: no book)', sorted

    def unrealised(self, currency: str) -> Decimal | None:
        """``total - realised`` of ``currency`` (None when the total is unknown)."""
        total = self.total.get(currency)
        return None if total is None else total - self.realised.get(currency, ZERO)


def _price(book: BookSnapshot | None, amount: Decimal) -> Decimal | None:
    """Where ``amount`` would trade out now: a long at the best bid, a short at the best ask."""
    if book is None:
        return None
    side = book.bids if amount > 0 else book.asks
    return side[0][0] if side else None


def _holding_price(exchange: str, symbol: str, amount: Decimal, book: BookOf, venues: tuple[str, ...]) -> Decimal | None:
    price = _price(book(exchange, symbol), amount)
    if price is not None:
        return price
    for other in venues:
        if other != exchange:
            price = _price(book(other, symbol), amount)
            if price is not None:
                return price
    return None


def mark(positions: Positions, book: BookOf, ts: float, converter: Converter | None = None,
         venues: tuple[str, ...] = ()) -> Mark:
    """The strategy's result at ``ts`` by the module's rule; ``venues`` are tried for a holding whose own
    venue has no book; ``converter`` brings every quote into one currency."""
    realised: dict[str, Decimal] = {}
    total: dict[str, Decimal | None] = {}
    unvalued: list[str] = []

    def into(amount: Decimal, asset: str, what: str) -> tuple[str, Decimal | None]:
        if converter is None or asset == converter.quote:
            return asset, amount
        value = converter.value(amount, asset)
        if value is None:
            unvalued.append(f"{asset} ({what}: no {asset}/{converter.quote} conversion book)")
        return converter.quote, value

    def add(currency: str, value: Decimal | None) -> None:
        known = total.get(currency, ZERO)
        total[currency] = None if known is None or value is None else known + value

    for quote in positions.quotes:
        currency, cash = into(positions.cash[quote], quote, "cash")
        _, gained = into(positions.realised.get(quote, ZERO), quote, "realised")
        realised[currency] = realised.get(currency, ZERO) + (ZERO if gained is None else gained)
        add(currency, cash if gained is not None else None)
    for (exchange, symbol), amount in sorted(positions.holdings.items()):
        base, _, quote = symbol.partition("/")
        price = _holding_price(exchange, symbol, amount, book, venues)
        if price is None:
            unvalued.append(f"{base} on {exchange} ({symbol}: no book)")
            add(converter.quote if converter is not None else quote, None)
            continue
        currency, value = into(amount * price, quote, f"{base} on {exchange}")
        add(currency, value)
    return Mark(ts, realised, total, tuple(sorted(set(unvalued))))
