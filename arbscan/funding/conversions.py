"""Conversions between quote currencies: which real market links two quotes, and which markets they pair.

A conversion is a market named in the config (``[[conversions]] venue = "kraken"  symbol = "USDT/USD"``).
It links its two currencies in both directions: a route that buys BASE/Q1 and sells BASE/Q2 converts
its Q2 proceeds back into Q1 on it (sells Q2 at its bids when it is Q2/Q1, buys Q1 at its asks when it
is Q1/Q2; ``arbscan.crossspread``). Nothing here assumes a rate: no conversion, no route, and
USD is not USDT unless a USDT/USD book says at what price.

:func:`value_in` (the same walk, any fraction of a step) values an amount of one quote in another at a
conversion book, for summaries and equity.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from arbscan.crossspread import convert_value
from arbscan.model import Market

__all__ = ["Conversion", "CrossPair", "cross_pairs", "linking", "why_no_route", "value_in"]

value_in = convert_value
"""``value_in(amount, into, book, market)``: ``amount`` of the market's other currency in ``into``, walking
``book`` after the taker fee (None when the book is too thin); see ``arbscan.crossspread.convert_value``."""


@dataclass(frozen=True, slots=True)
class Conversion:
    """One conversion market: ``venue`` and unified ``symbol`` (``"USDT/USD"``), linking its base and quote."""

    venue: str
    symbol: str

    @property
    def base(self) -> str:
        """The market's base currency."""
        return self.symbol.split("/")[0]

    @property
    def quote(self) -> str:
        """The market's quote currency."""
        return self.symbol.split("/")[1]

    @property
    def label(self) -> str:
        """``venue:symbol``, as the journal's ``conversion`` column says it."""
        return f"{self.venue}:{self.symbol}"

    def links(self, a: str, b: str) -> bool:
        """Whether this market converts between currencies ``a`` and ``b`` (either way round)."""
        return {a, b} == {self.base, self.quote} and a != b


@dataclass(frozen=True, slots=True)
class CrossPair:
    """One cross-quote route: buy ``buy`` (BASE/Q1), sell ``sell`` (BASE/Q2), convert on ``conversion``."""

    buy: Market
    sell: Market
    conversion: Conversion


def linking(conversions: Iterable[Conversion], a: str, b: str) -> list[Conversion]:
    """The conversions that link currencies ``a`` and ``b``, in config order."""
    return [c for c in conversions if c.links(a, b)]


def cross_pairs(markets: Mapping[tuple[str, str], Market], conversions: Iterable[Conversion]) -> list[CrossPair]:
    """Every cross-quote route the markets and conversions form, both directions, in a stable order.

    Two markets pair when they trade the same base in two different quotes and some conversion whose
    market is loaded links those quotes; the pair may be on one venue (its two quotes) or two.
    """
    convs = [c for c in conversions if (c.venue, c.symbol) in markets]
    ordered = sorted(markets.values(), key=lambda m: (m.base, m.quote, m.exchange, m.symbol))
    out: list[CrossPair] = []
    for buy in ordered:
        for sell in ordered:
            if buy.base != sell.base or buy.quote == sell.quote:
                continue
            for conv in linking(convs, buy.quote, sell.quote):
                if (buy.exchange, buy.symbol) == (conv.venue, conv.symbol) or (sell.exchange, sell.symbol) == (
                        conv.venue, conv.symbol):
                    continue  # a leg cannot be its own conversion
                out.append(CrossPair(buy, sell, conv))
    return out


def why_no_route(a: Market, b: Market, conversions: Iterable[Conversion],
                 markets: Mapping[tuple[str, str], Market]) -> str | None:
    """Why markets ``a`` and ``b`` form no cross-quote route (one line), or None when they form one."""
    if a.base != b.base:
        return f"different bases ({a.base}, {b.base})"
    if a.quote == b.quote:
        return "same quote: a same-symbol route" if a.symbol == b.symbol else "same quote"
    convs = linking(conversions, a.quote, b.quote)
    if not convs:
        return f"no conversion links {a.quote} and {b.quote} (add [[conversions]] with a {b.quote}/{a.quote} " \
               f"or {a.quote}/{b.quote} market)"
    if not any((c.venue, c.symbol) in markets for c in convs):
        names = ", ".join(c.label for c in convs)
        return f"conversion {names} is not a market the venue has"
    return None
