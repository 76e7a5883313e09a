"""The one book-sanity gate: whether a book can be believed, for every path that hands books to the scanner.

A book is **untrue** when a side is empty, when it is crossed or locked (best bid at or above the best
ask), or when one of its numbers cannot mean what a price or an amount of its market means: not a
finite number, not positive, beyond :data:`MAX_NUMBER`, or with more decimal places than the market's
step (``Market.price_step`` for prices, ``Market.amount_step`` for amounts). No decision is taken on
an untrue book: the adapters drop it (and tell the scanner), the replay counts the line and the
scanner counts the routes through it under ``untrue_book`` instead of evaluating them.

- :func:`untrue_reason` judges a whole ``BookSnapshot`` (the ccxt and Kraken adapters call it on every
  book before it is published);
- :func:`line_reason` (:func:`line_gate` for one market) and :func:`believable_levels` judge the levels
  of one replay book line, where an amount of 0 deletes a level (``arbscan.replay.run.BookBuilder`` calls
  them on every line);
- :func:`crossing_reason` names a crossed or locked top of book.

Every function is pure: no clock, no I/O, no state but a cache of the markets' decimal places.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation

from arbscan.model import ZERO, BookSnapshot, Level, Market

__all__ = ["MAX_NUMBER", "untrue_reason", "line_reason", "line_gate", "believable_levels", "crossing_reason", "level_reason"]

MAX_NUMBER = Decimal("1e15")
"""No price or amount of any market is above this (a thousand trillion); a larger one is a glitch."""

_ONE = Decimal(1)
_QUANTA: dict[int, tuple[Market, Decimal, Decimal]] = {}  # id(market) -> (market, price quantum, amount quantum)


def _quantum(step: Decimal) -> Decimal:
    """The smallest decimal place of ``step`` as a power of ten (0.25 -> 0.01, 0.5 -> 0.1, 10 -> 1)."""
    exponent = step.normalize().as_tuple().exponent
    return _ONE.scaleb(min(int(exponent), 0))


def _quanta(market: Market) -> tuple[Decimal, Decimal]:
    cached = _QUANTA.get(id(market))
    if cached is None or cached[0] is not market:  # a market freed and another at its address
        cached = _QUANTA[id(market)] = (market, _quantum(market.price_step), _quantum(market.amount_step))
    return cached[1], cached[2]


def _finer_than(value: Decimal, quantum: Decimal) -> bool:
    """Whether ``value`` has a non-zero digit below ``quantum`` (trailing zeros do not count)."""
    try:
        return bool(value % quantum)
    except InvalidOperation:  # quotient beyond the context's precision: compare exponents exactly
        return int(value.normalize().as_tuple().exponent) < int(quantum.as_tuple().exponent)


def level_reason(price: Decimal, amount: Decimal, market: Market | None, side: str, *, deletion: bool) -> str | None:
    """Why one (price, amount) level cannot be meant, or None; ``deletion``: an amount of 0 is allowed (deletes)."""
    if not isinstance(price, Decimal) or not isinstance(amount, Decimal):
        return f"{side} level ({price!r}, {amount!r}) is not two decimals"
    if not price.is_finite():
        return f"{side} price {price} is not a finite number"
    if price <= 0:
        return f"{side} price {price} is not positive"
    if price > MAX_NUMBER:
        return f"{side} price {price:E} is beyond 1E+15"
    if not amount.is_finite():
        return f"{side} amount {amount} at {price} is not a finite number"
    if amount < 0 or (not amount and not deletion):
        return f"{side} amount {amount} at {price} is not positive"
    if amount > MAX_NUMBER:
        return f"{side} amount {amount:E} at {price} is beyond 1E+15"
    if market is not None:
        price_q, amount_q = _quanta(market)
        if _finer_than(price, price_q):
            return f"{side} price {price} has more digits than the price step {market.price_step}"
        if _finer_than(amount, amount_q):
            return f"{side} amount {amount} at {price} has more digits than the amount step {market.amount_step}"
    return None


def _levels_ok(levels: tuple[Level, ...], market: Market | None, deletion: bool) -> bool:
    """The fast check of :func:`level_reason` for a run of levels: True when every one is sane."""
    if market is not None:
        price_q, amount_q = _quanta(market)
    for price, amount in levels:
        try:
            if not (ZERO < price <= MAX_NUMBER and ZERO <= amount <= MAX_NUMBER) or (not amount and not deletion):
                return False
            if market is not None and (price % price_q or amount % amount_q):
                return False
        except (InvalidOperation, TypeError):  # NaN, a non-decimal, or a quotient beyond the precision
            return False
    return True


def line_reason(bids: tuple[Level, ...], asks: tuple[Level, ...], market: Market | None) -> str | None:
    """Why some level of one replay book line cannot be meant (the first one named), or None when all can.

    An amount of 0 is a deletion and is allowed; ``market`` (None: not known) gives the steps.
    """
    return line_gate(market)(bids, asks)


def line_gate(market: Market | None) -> Callable[[tuple[Level, ...], tuple[Level, ...]], str | None]:
    """:func:`line_reason` for one market, as a function of (bids, asks): the replay's per-line hot path."""
    top = MAX_NUMBER
    price_q, amount_q = _quanta(market) if market is not None else (ZERO, ZERO)

    def named(bids: tuple[Level, ...], asks: tuple[Level, ...]) -> str | None:
        for side, levels in (("bid", bids), ("ask", asks)):  # the first level that cannot be meant
            for price, amount in levels:
                reason = level_reason(price, amount, market, side, deletion=True)
                if reason is not None:
                    return reason
        return None  # only the exact-exponent fallback of level_reason accepted what the fast check did not

    def check_numbers(bids: tuple[Level, ...], asks: tuple[Level, ...]) -> str | None:
        try:
            for price, amount in bids:
                if not (ZERO < price <= top and ZERO <= amount <= top):
                    return named(bids, asks)
            for price, amount in asks:
                if not (ZERO < price <= top and ZERO <= amount <= top):
                    return named(bids, asks)
        except (InvalidOperation, TypeError):  # NaN or a non-decimal
            return named(bids, asks)
        return None

    def check(bids: tuple[Level, ...], asks: tuple[Level, ...]) -> str | None:
        try:
            for price, amount in bids:
                if not (ZERO < price <= top and ZERO <= amount <= top) or price % price_q or amount % amount_q:
                    return named(bids, asks)
            for price, amount in asks:
                if not (ZERO < price <= top and ZERO <= amount <= top) or price % price_q or amount % amount_q:
                    return named(bids, asks)
        except (InvalidOperation, TypeError):  # NaN, a non-decimal, or a quotient beyond the precision
            return named(bids, asks)
        return None

    gate = check if market is not None else check_numbers
    gate.market = market  # type: ignore[attr-defined]  # which market the gate was made for
    return gate


def believable_levels(levels: Iterable[Level], market: Market | None, side: str) -> tuple[Level, ...]:
    """The levels of a replay line that can be applied: a level with an impossible amount at a sane price
    becomes a deletion of that price (never more depth than the venue said), one with an impossible price
    is left out."""
    out: list[Level] = []
    for price, amount in levels:
        if level_reason(price, amount, market, side, deletion=True) is None:
            out.append((price, amount))
        elif level_reason(price, ZERO, market, side, deletion=True) is None:
            out.append((price, ZERO))
    return tuple(out)


def crossing_reason(best_bid: Decimal, best_ask: Decimal) -> str | None:
    """``crossed (bid X > ask Y)`` / ``locked (bid X = ask X)`` when the best bid is not below the best ask, else None."""
    if best_bid > best_ask:
        return f"crossed (bid {best_bid} > ask {best_ask})"
    if best_bid == best_ask:
        return f"locked (bid {best_bid} = ask {best_ask})"
    return None


def untrue_reason(book: BookSnapshot, market: Market | None) -> str | None:
    """Why ``book`` cannot be believed, or None when it is sane; ``market`` (None: not known) gives the steps.

    Checks, in order: both sides hold a level; every level's numbers (see the module docstring); each
    side sorted best first with distinct prices; the top not crossed or locked.
    """
    bids, asks = book.bids, book.asks
    if not bids or not asks:
        return "no bids" if not bids else "no asks"
    if not (_levels_ok(bids, market, False) and _levels_ok(asks, market, False)):
        for side, levels in (("bid", bids), ("ask", asks)):
            for price, amount in levels:
                reason = level_reason(price, amount, market, side, deletion=False)
                if reason is not None:
                    return reason
    for side, levels, descending in (("bid", bids, True), ("ask", asks, False)):
        prev = None
        for price, _ in levels:
            if prev is not None and (price >= prev if descending else price <= prev):
                return f"{side}s not sorted best first at {price}"
            prev = price
    return crossing_reason(bids[0][0], asks[0][0])
