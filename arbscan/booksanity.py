"""The one book-sanity gate: whether a book can be believed, for every path that hands books to the scanner.

The rule (the compiled core mirrors it exactly): a book is **untrue**, and refused, only when it cannot be
true:

- a side is empty (one-sided), or the book is crossed or locked (best bid at or above the best ask);
- a price is not a finite number, or not positive (``<= 0``);
- an amount is not a finite number or is negative (0 in a book, 0 outside a replay line where it deletes);
- a number's magnitude is absurd: above :data:`MAX_NUMBER` (1e15), or non-zero and below
  :data:`MIN_NUMBER` (1e-18, e.g. ``1e-999999999``);
- one price is listed twice on one side of one line or book (refused, never "the last one wins").

A finite, positive, in-bounds number that is **off the market's step** (more decimal places than
``Market.price_step`` / ``Market.amount_step``) is *not* untrue: venues publish such levels (steps change,
old orders aggregate; real Binance BTCUSDT 2024-08-08 has an ask ``200000 x 25.426189`` with the amount
step 0.00001). It is counted (:func:`off_step_reason` names it; the replay counts the lines in the feed's
``venue_stats.off_step`` and warns once per book) and the level is used as published. No decision is taken
on an untrue book: the adapters drop it (and tell the scanner), the replay counts the line and the
scanner counts the routes through it under ``untrue_book`` instead of evaluating them.

- :func:`untrue_reason` judges a whole ``BookSnapshot`` (the ccxt and Kraken adapters call it on every
  book before it is published);
- :func:`line_reason` (:func:`line_gate` for one market) and :func:`believable_levels` judge the levels
  of one replay book line, where an amount of 0 deletes a level (``arbscan.replay.run.BookBuilder`` calls
  them on every line);
- :func:`crossing_reason` names a crossed or locked top of book;
- :func:`off_step_reason` names the first number of a book or line that is off its market's step
  (counted, never refused).

Every function is pure: no clock, no I/O, no state but a cache of the markets' decimal places.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from arbscan.model import ZERO, BookSnapshot, Level, Market

__all__ = ["MAX_NUMBER", "MIN_NUMBER", "untrue_reason", "line_reason", "line_gate", "believable_levels",
           "crossing_reason", "level_reason", "off_step_reason", "LineGate"]

MAX_NUMBER = Decimal("1e15")
"""No price or amount of any market is above this (a thousand trillion); a larger one is a glitch."""

MIN_NUMBER = Decimal("1e-18")
"""No non-zero price or amount of any market is below this (an ether's wei); a smaller one is a glitch."""

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
    """Why one (price, amount) level cannot be true, or None; ``deletion``: an amount of 0 is allowed (deletes).

    ``market`` is not used for the verdict (a number off its step is not untrue, see :func:`off_step_reason`);
    it stays in the signature for the callers that pass it.
    """
    if not isinstance(price, Decimal) or not isinstance(amount, Decimal):
        return f"{side} level ({price!r}, {amount!r}) is not two decimals"
    if not price.is_finite():
        return f"{side} price {price} is not a finite number"
    if price <= 0:
        return f"{side} price {price} is not positive"
    if price > MAX_NUMBER:
        return f"{side} price {price:E} is beyond 1E+15"
    if price < MIN_NUMBER:
        return f"{side} price {price:E} is below 1E-18"
    if not amount.is_finite():
        return f"{side} amount {amount} at {price} is not a finite number"
    if amount < 0 or (not amount and not deletion):
        return f"{side} amount {amount} at {price} is not positive"
    if amount > MAX_NUMBER:
        return f"{side} amount {amount:E} at {price} is beyond 1E+15"
    if amount and amount < MIN_NUMBER:
        return f"{side} amount {amount:E} at {price} is below 1E-18"
    return None


def _level_off_step(price: Decimal, amount: Decimal, market: Market, side: str) -> str | None:
    price_q, amount_q = _quanta(market)
    if _finer_than(price, price_q):
        return f"{side} price {price} has more digits than the price step {market.price_step}"
    if _finer_than(amount, amount_q):
        return f"{side} amount {amount} at {price} has more digits than the amount step {market.amount_step}"
    return None


def off_step_reason(bids: Iterable[Level], asks: Iterable[Level], market: Market | None) -> str | None:
    """The first number of these levels that is off ``market``'s step, named (None: all on it, or no market).

    Only for levels :func:`level_reason` accepts; such a level is used as published and only counted.
    """
    if market is None:
        return None
    for side, levels in (("bid", bids), ("ask", asks)):
        for price, amount in levels:
            reason = _level_off_step(price, amount, market, side)
            if reason is not None:
                return reason
    return None


def _duplicate(levels: tuple[Level, ...], side: str) -> str | None:
    """``bid price P is listed twice`` when one price appears twice in ``levels``."""
    if len(levels) > 1 and len({price for price, _ in levels}) != len(levels):  # only finite prices reach here
        seen: set[Decimal] = set()
        for price, _ in levels:
            if price in seen:
                return f"{side} price {price} is listed twice in one line"
            seen.add(price)
    return None


def _levels_ok(levels: tuple[Level, ...], deletion: bool) -> bool:
    """The fast check of :func:`level_reason` for a run of levels: True when every one can be true."""
    for price, amount in levels:
        try:
            if not (MIN_NUMBER <= price <= MAX_NUMBER and ZERO <= amount <= MAX_NUMBER) or (not amount and not deletion):
                return False
            if amount and amount < MIN_NUMBER:
                return False
        except (InvalidOperation, TypeError):  # NaN or a non-decimal
            return False
    return True


def line_reason(bids: tuple[Level, ...], asks: tuple[Level, ...], market: Market | None) -> str | None:
    """Why some level of one replay book line cannot be true (the first one named), or None when all can.

    An amount of 0 is a deletion and is allowed; a price listed twice on one side is refused. ``market``
    (None: not known) only matters for the off-step count (:attr:`LineGate.off_step`), never the verdict.
    """
    return line_gate(market)(bids, asks)


class LineGate:
    """:func:`line_reason` for one market, called as ``gate(bids, asks)``: the replay's per-line hot path.

    After each call ``off_step`` says whether a level of that line (true, so applied) is off the
    market's step: the caller counts such lines (``venue_stats.off_step``).
    """

    __slots__ = ("market", "off_step", "_price_q", "_amount_q")

    def __init__(self, market: Market | None) -> None:
        self.market = market
        self.off_step = False
        self._price_q, self._amount_q = _quanta(market) if market is not None else (ZERO, ZERO)

    def _named(self, bids: tuple[Level, ...], asks: tuple[Level, ...]) -> str | None:
        for side, levels in (("bid", bids), ("ask", asks)):  # the first level that cannot be true
            for price, amount in levels:
                reason = level_reason(price, amount, self.market, side, deletion=True)
                if reason is not None:
                    return reason
        return _duplicate(bids, "bid") or _duplicate(asks, "ask")

    def __call__(self, bids: tuple[Level, ...], asks: tuple[Level, ...]) -> str | None:
        self.off_step = False
        low, top = MIN_NUMBER, MAX_NUMBER
        price_q, amount_q = self._price_q, self._amount_q
        off = False
        try:
            for levels in (bids, asks):
                for price, amount in levels:
                    if not (low <= price <= top and ZERO <= amount <= top) or (amount and amount < low):
                        return self._named(bids, asks)
                    if price_q and not off and (price % price_q or amount % amount_q):
                        off = True
        except (InvalidOperation, TypeError):  # NaN, a non-decimal, or a quotient beyond the precision
            reason = self._named(bids, asks)
            if reason is not None:
                return reason
            off = off_step_reason(bids, asks, self.market) is not None
        if (len(bids) > 1 or len(asks) > 1) and (reason := _duplicate(bids, "bid") or _duplicate(asks, "ask")):
            return reason
        if off and self.market is not None:  # the fast check is modulo; confirm exactly (trailing zeros do not count)
            off = off_step_reason(bids, asks, self.market) is not None
        self.off_step = off
        return None


def line_gate(market: Market | None) -> LineGate:
    """The :class:`LineGate` of ``market`` (None: steps not known)."""
    return LineGate(market)


def believable_levels(levels: Iterable[Level], market: Market | None, side: str) -> tuple[Level, ...]:
    """The levels of a replay line that can be applied: a level with an impossible amount at a sane price
    becomes a deletion of that price (never more depth than the venue said), one with an impossible price
    is left out, and so is a price listed twice (which of its amounts is meant cannot be told)."""
    out: list[Level] = []
    levels = tuple(levels)
    twice: set[Decimal] = set()
    if len(levels) > 1:
        seen: set[Decimal] = set()
        for price, _ in levels:
            if isinstance(price, Decimal) and price.is_finite():  # a signalling NaN cannot be hashed
                if price in seen:
                    twice.add(price)
                seen.add(price)
    for price, amount in levels:
        if twice and isinstance(price, Decimal) and price.is_finite() and price in twice:
            continue
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
    """Why ``book`` cannot be believed, or None when it can; ``market`` is not needed for the verdict.

    Checks, in order: both sides hold a level; every level's numbers (see the module docstring); each
    side sorted best first with distinct prices; the top not crossed or locked. A number off the
    market's step is not untrue: :func:`off_step_reason` names it for the caller to count.
    """
    bids, asks = book.bids, book.asks
    if not bids or not asks:
        return "no bids" if not bids else "no asks"
    if not (_levels_ok(bids, False) and _levels_ok(asks, False)):
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
