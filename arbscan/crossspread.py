"""The three-book calculator: buy BASE/Q1, sell BASE/Q2, convert the Q2 proceeds back to Q1 on a real book.

Pure: no I/O, no clock, ``Decimal`` throughout. It stands beside ``arbscan.spread.evaluate`` (whose
two-book contract it leaves alone) and follows the same rules, with a third book:

* the buy leg walks the asks of BASE/Q1 (taker fee on top, Q1); the sell leg walks the bids of
  BASE/Q2 (taker fee off, Q2); both legs trade the same amount, a whole number of lots
  (``spread.lot_step`` of their two amount steps), at least both ``min_amount``\\ s, each leg's notional
  at least its ``min_cost``;
* the conversion market links Q1 and Q2. When it is **Q2/Q1** the Q2 proceeds are *sold at its bids*
  (the Q1 received is net of its taker fee); when it is **Q1/Q2** Q1 is *bought at its asks* with the
  Q2 proceeds (the Q2 spent includes its fee). Either way the converted amount is a whole multiple of
  the conversion market's own ``amount_step``, reaches its ``min_amount`` and ``min_cost``, and the
  conversion must absorb the whole proceeds within its depth: a thin conversion book limits the size
  exactly as a thin base book does. Proceeds below one conversion step stay unconverted
  (``unconverted``, in Q2) and are not counted as profit;
* ``net_profit`` (Q1) = Q1 received from the conversion - Q1 spent on the buy leg, must be ``> 0``;
  ``net_bps = 10000 * net_profit / buy_cost``;
* ``quote_available`` caps the buy cost (Q1 held on the buy venue), ``base_available`` the amount
  (BASE held on the sell venue); ``None`` means no cap.

No rate is ever assumed: without the conversion book there is nothing to compute.

How the best amount is found, exactly, on the lot grid. Let ``h(n)`` be the profit of ``n`` lots when
the conversion may take any fraction of a step. ``h`` is concave (the two base walks and the
conversion walk only get worse with size), so its best lot ``n*`` is found by bisection. The true
profit ``f(n)`` differs from ``h(n)`` only by the unconverted remainder, so ``f <= h`` everywhere;
and among the lots whose proceeds convert to the same number of conversion steps the fewest lots
earn the most. The search therefore visits, going down from ``n*`` and then up, the fewest lots
reaching each number of conversion steps, and stops on each side at the first lot whose ``h`` is no
better than the best ``f`` found (``h`` only falls from there on). That is exact; a guard of
:data:`MAX_CANDIDATES` candidates per side bounds the work should lot and conversion steps be so
fine and the edge so flat that more candidates lie within one conversion step of the top.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext

from arbscan.model import BookSnapshot, Level, Market
from arbscan.spread import lot_step

__all__ = [
    "CrossOpportunity",
    "evaluate_cross",
    "diagnose_cross",
    "conversion_side",
    "convert_value",
    "top_of_book_edge",
    "first_unit",
    "CROSS_REASONS",
    "MAX_CANDIDATES",
]

_ZERO = Decimal(0)
_ONE = Decimal(1)
_BPS = Decimal(10000)

MAX_CANDIDATES = 100_000
"""At most this many candidate amounts are priced on each side of the concave bound's top."""

CROSS_REASONS = ("no_edge", "depth_or_minimums", "balance")
"""Why ``evaluate_cross`` found nothing, as ``diagnose_cross`` reports it."""


@dataclass(frozen=True, slots=True)
class CrossOpportunity:
    """A profitable cross-quote trade: buy ``amount`` of BASE/Q1, sell it on BASE/Q2, convert Q2 to Q1.

    Buy-leg figures are in Q1, sell-leg figures in Q2, ``net_profit`` in Q1. ``conversion_side`` is
    ``"sell"`` (Q2 sold at the bids of a Q2/Q1 market) or ``"buy"`` (Q1 bought at the asks of a
    Q1/Q2 market); ``conversion_amount`` is in that market's base, ``conversion_vwap`` and
    ``conversion_limit`` in its quote, ``conversion_fee`` in its quote. ``conversion_in`` is the Q2
    the conversion takes, ``conversion_out`` the Q1 it gives (net of fee); ``conversion_rate`` is the
    conversion's VWAP as Q1 per Q2, before fee. ``unconverted`` is the Q2 left (less than one
    conversion step).
    """

    symbol: str  # the buy leg's market, BASE/Q1
    sell_symbol: str  # the sell leg's market, BASE/Q2
    buy_exchange: str
    sell_exchange: str
    conversion_exchange: str
    conversion_symbol: str
    amount: Decimal
    buy_vwap: Decimal
    sell_vwap: Decimal
    buy_limit: Decimal
    sell_limit: Decimal
    buy_cost: Decimal  # Q1 incl. fee
    sell_proceeds: Decimal  # Q2 net of fee
    buy_fee: Decimal  # Q1
    sell_fee: Decimal  # Q2
    conversion_side: str
    conversion_amount: Decimal
    conversion_vwap: Decimal
    conversion_limit: Decimal
    conversion_fee: Decimal
    conversion_in: Decimal  # Q2
    conversion_out: Decimal  # Q1
    conversion_rate: Decimal  # Q1 per Q2, before fee
    unconverted: Decimal  # Q2
    net_profit: Decimal  # Q1
    net_bps: Decimal
    ts: float  # event time of the latest of the three books

    @property
    def buy_notional(self) -> Decimal:
        """Q1 value of the buy leg before fee."""
        return self.buy_cost - self.buy_fee

    @property
    def sell_notional(self) -> Decimal:
        """Q2 value of the sell leg before fee."""
        return self.sell_proceeds + self.sell_fee


def conversion_side(market: Market, q1: str, q2: str) -> str:
    """``"sell"`` when ``market`` is Q2/Q1 (sell Q2 at its bids), ``"buy"`` when it is Q1/Q2 (buy Q1 at its asks).

    ``ValueError`` when the market does not link the two currencies.
    """
    if market.base == q2 and market.quote == q1:
        return "sell"
    if market.base == q1 and market.quote == q2:
        return "buy"
    raise ValueError(f"{market.exchange} {market.symbol} does not convert {q2} into {q1}")


# -- walks ------------------------------------------------------------------------------------------


def _walk(levels: tuple[Level, ...], amount: Decimal) -> tuple[Decimal, Decimal]:
    """Notional of taking ``amount`` (at most the depth) from ``levels``, and the worst price touched."""
    notional = _ZERO
    left = amount
    price = levels[0][0] if levels else _ZERO
    for price, qty in levels:
        if qty >= left:
            return notional + price * left, price
        notional += price * qty
        left -= qty
    return notional, price


def _spend(levels: tuple[Level, ...], budget: Decimal) -> Decimal:
    """The amount (fractions allowed) whose notional on ``levels`` is ``budget`` (at most the whole depth)."""
    amount = _ZERO
    left = budget
    for price, qty in levels:
        cost = price * qty
        if cost >= left:
            return amount + left / price
        amount += qty
        left -= cost
    return amount


def _depth(levels: tuple[Level, ...]) -> Decimal:
    return sum((q for _, q in levels), _ZERO)


def _notional(levels: tuple[Level, ...]) -> Decimal:
    return sum((p * q for p, q in levels), _ZERO)


def _floor(x: Decimal) -> int:
    return int(x.to_integral_value(rounding=ROUND_FLOOR))


def _ceil(x: Decimal) -> int:
    return int(x.to_integral_value(rounding=ROUND_CEILING))


def _largest(ok: Callable[[int], bool], lo: int, hi: int) -> int:
    """The largest n in [lo, hi] with ``ok(n)`` for a predicate true then false (lo - 1 when none)."""
    if hi < lo or not ok(lo):
        return lo - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _smallest(ok: Callable[[int], bool], lo: int, hi: int) -> int:
    """The smallest n in [lo, hi] with ``ok(n)`` for a predicate false then true (hi + 1 when none)."""
    if hi < lo or not ok(hi):
        return hi + 1
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


class _Conversion:
    """One conversion book priced in conversion steps K: the Q2 it takes (``take``) and the Q1 it gives (``give``)."""

    __slots__ = ("side", "levels", "fee", "step", "capacity", "depth", "k_min")

    def __init__(self, book: BookSnapshot, market: Market, side: str) -> None:
        self.side = side
        self.fee = market.taker_fee
        self.step = market.amount_step
        if side == "sell":
            self.levels = book.bids
            self.capacity = _depth(self.levels)  # Q2 the bids absorb
        else:
            self.levels = book.asks
            self.capacity = _notional(self.levels) * (_ONE + self.fee)  # Q2 the asks absorb
        self.depth = _depth(self.levels)
        depth_k = _floor(self.depth / self.step)
        k = max(1, _ceil(market.min_amount / self.step))
        self.k_min = _smallest(lambda j: _walk(self.levels, j * self.step)[0] >= market.min_cost, k, depth_k) \
            if market.min_cost else k

    def take(self, k: int) -> Decimal:
        """Q2 the conversion of k steps takes (more than the capacity when the book cannot fill k steps)."""
        if k * self.step > self.depth:
            return self.capacity + 1
        if self.side == "sell":
            return k * self.step
        return _walk(self.levels, k * self.step)[0] * (_ONE + self.fee)

    def give(self, k: int) -> Decimal:
        """Q1 the conversion of k steps gives."""
        if self.side == "sell":
            return _walk(self.levels, k * self.step)[0] * (_ONE - self.fee)
        return k * self.step

    def give_any(self, q2: Decimal) -> Decimal:
        """Q1 for ``q2`` (at most the capacity) when any fraction of a step could be converted."""
        if self.side == "sell":
            return _walk(self.levels, q2)[0] * (_ONE - self.fee)
        return _spend(self.levels, q2 / (_ONE + self.fee))

    def steps(self, q2: Decimal) -> int:
        """The most whole steps ``q2`` (at most the capacity) converts."""
        if self.side == "sell":
            return _floor(q2 / self.step)
        k = _floor(_spend(self.levels, q2 / (_ONE + self.fee)) / self.step)
        while k > 0 and self.take(k) > q2:  # the division rounded up
            k -= 1
        while self.take(k + 1) <= q2:
            k += 1
        return k

    def top_rate_beats(self, bid_q2: Decimal, ask_q1: Decimal) -> bool:
        """Whether one Q2 unit of ``bid_q2`` converted at the best conversion level exceeds ``ask_q1``."""
        return bool(self.levels) and _beats(self.side, self.levels[0][0], self.fee, bid_q2, ask_q1)


# -- the calculator ---------------------------------------------------------------------------------


def evaluate_cross(
    buy: BookSnapshot,
    sell: BookSnapshot,
    conversion: BookSnapshot,
    buy_market: Market,
    sell_market: Market,
    conversion_market: Market,
    quote_available: Decimal | None = None,
    base_available: Decimal | None = None,
) -> CrossOpportunity | None:
    """The most profitable cross-quote trade over the three books, or None when there is none."""
    with localcontext() as ctx:
        ctx.prec = 50  # the search's inverse walks divide: rounded far below any step the venues use
        found = _search(buy, sell, conversion, buy_market, sell_market, conversion_market,
                        quote_available, base_available)
    if found is None:
        return None
    conv, amount, k = found  # the figures in the ordinary context, as spread.evaluate's
    return _opportunity(buy, sell, conversion, buy_market, sell_market, conv, amount, k)


def _search(buy: BookSnapshot, sell: BookSnapshot, conversion: BookSnapshot, buy_market: Market,
            sell_market: Market, conversion_market: Market, quote_available: Decimal | None,
            base_available: Decimal | None) -> tuple[_Conversion, Decimal, int] | None:
    """The best (conversion, amount, conversion steps), or None."""
    q1, q2 = buy_market.quote, sell_market.quote
    side = conversion_side(conversion_market, q1, q2)
    if buy_market.base != sell_market.base:
        raise ValueError(f"{buy_market.symbol} and {sell_market.symbol} do not trade the same base")
    asks, bids = buy.asks, sell.bids
    conv = _Conversion(conversion, conversion_market, side)
    if not asks or not bids or not conv.levels:
        return None
    kb = _ONE + buy_market.taker_fee
    ks = _ONE - sell_market.taker_fee
    if not conv.top_rate_beats(bids[0][0] * ks, asks[0][0] * kb):
        return None  # the first unit loses money: every later one loses more (the bound is concave)
    if (quote_available is not None and quote_available <= 0) or (base_available is not None and base_available <= 0):
        return None
    lot = lot_step(buy_market.amount_step, sell_market.amount_step)

    def cost(n: int) -> Decimal:  # Q1 spent on the buy leg for n lots
        return _walk(asks, n * lot)[0] * kb

    def proceeds(n: int) -> Decimal:  # Q2 received from the sell leg for n lots
        return _walk(bids, n * lot)[0] * ks

    # the feasible lots: an interval [n_lo, n_hi]
    room = min(_depth(asks), _depth(bids))
    if base_available is not None:
        room = min(room, base_available)
    n_hi = _floor(room / lot)
    if quote_available is not None:
        n_hi = _largest(lambda n: cost(n) <= quote_available, 0, n_hi)
    n_hi = _largest(lambda n: proceeds(n) <= conv.capacity, 0, n_hi)
    n_lo = max(1, _ceil(buy_market.min_amount / lot), _ceil(sell_market.min_amount / lot))
    if buy_market.min_cost:
        n_lo = _smallest(lambda n: _walk(asks, n * lot)[0] >= buy_market.min_cost, n_lo, n_hi)
    if sell_market.min_cost:
        n_lo = _smallest(lambda n: _walk(bids, n * lot)[0] >= sell_market.min_cost, n_lo, n_hi)
    n_lo = _smallest(lambda n: conv.steps(proceeds(n)) >= conv.k_min, n_lo, n_hi)
    if n_lo > n_hi:
        return None

    def bound(n: int) -> Decimal:  # h(n): any fraction of a conversion step allowed
        return conv.give_any(proceeds(n)) - cost(n)

    def first_lot(k: int, lo: int, hi: int) -> int:  # fewest lots in [lo, hi] whose proceeds convert k steps
        need = conv.take(k)
        return _smallest(lambda n: proceeds(n) >= need, lo, hi)

    # the top of the concave bound
    n_top = _largest(lambda n: n == n_lo or bound(n) > bound(n - 1), n_lo, n_hi)
    best_n = best_k = -1
    best = _ZERO
    # down from the top: the fewest lots for each number of steps
    n = n_top
    for _ in range(MAX_CANDIDATES):
        if n < n_lo or (best_n >= 0 and bound(n) <= best):
            break
        k = conv.steps(proceeds(n))
        m = first_lot(k, n_lo, n)
        f = conv.give(k) - cost(m)
        if best_n < 0 or f > best or (f == best and m < best_n):
            best, best_n, best_k = f, m, k
        n = m - 1
    # up from the top: h falls, so stop at the first lot whose bound is no better
    n = n_top + 1
    prev_k = conv.steps(proceeds(n_top))
    for _ in range(MAX_CANDIDATES):
        if n > n_hi or bound(n) <= best:
            break
        k = conv.steps(proceeds(n))
        if k > prev_k:  # n is the fewest lots for k steps
            f = conv.give(k) - cost(n)
            if f > best:
                best, best_n, best_k = f, n, k
            prev_k = k
            n = first_lot(k + 1, n + 1, n_hi)
        else:
            n = first_lot(prev_k + 1, n + 1, n_hi)
    if best_n < 0 or best <= 0:
        return None
    return conv, best_n * lot, best_k


def _opportunity(buy: BookSnapshot, sell: BookSnapshot, conversion: BookSnapshot, buy_market: Market,
                 sell_market: Market, conv: _Conversion, amount: Decimal, k: int) -> CrossOpportunity:
    buy_notional, buy_limit = _walk(buy.asks, amount)
    sell_notional, sell_limit = _walk(sell.bids, amount)
    buy_fee = buy_notional * buy_market.taker_fee
    sell_fee = sell_notional * sell_market.taker_fee
    buy_cost = buy_notional + buy_fee
    sell_proceeds = sell_notional - sell_fee
    conv_amount = k * conv.step
    conv_notional, conv_limit = _walk(conv.levels, conv_amount)
    conv_fee = conv_notional * conv.fee
    conv_vwap = conv_notional / conv_amount
    if conv.side == "sell":  # Q2 sold, Q1 received net of fee
        conv_in, conv_out, rate = conv_amount, conv_notional - conv_fee, conv_vwap
    else:  # Q1 bought, Q2 paid incl. fee
        conv_in, conv_out, rate = conv_notional + conv_fee, conv_amount, conv_amount / conv_notional
    net = conv_out - buy_cost
    return CrossOpportunity(
        symbol=buy.symbol, sell_symbol=sell.symbol, buy_exchange=buy.exchange, sell_exchange=sell.exchange,
        conversion_exchange=conversion.exchange, conversion_symbol=conversion.symbol,
        amount=amount, buy_vwap=buy_notional / amount, sell_vwap=sell_notional / amount,
        buy_limit=buy_limit, sell_limit=sell_limit, buy_cost=buy_cost, sell_proceeds=sell_proceeds,
        buy_fee=buy_fee, sell_fee=sell_fee, conversion_side=conv.side, conversion_amount=conv_amount,
        conversion_vwap=conv_vwap, conversion_limit=conv_limit, conversion_fee=conv_fee,
        conversion_in=conv_in, conversion_out=conv_out, conversion_rate=rate,
        unconverted=sell_proceeds - conv_in, net_profit=net, net_bps=_BPS * net / buy_cost,
        ts=max(buy.ts, sell.ts, conversion.ts),
    )


def diagnose_cross(
    buy: BookSnapshot,
    sell: BookSnapshot,
    conversion: BookSnapshot,
    buy_market: Market,
    sell_market: Market,
    conversion_market: Market,
    quote_available: Decimal | None = None,
    base_available: Decimal | None = None,
) -> str | None:
    """Why ``evaluate_cross`` with the same arguments finds nothing (one of :data:`CROSS_REASONS`), or None.

    ``no_edge``: the first unit, converted at the best conversion level, does not pay for itself after
    the three fees. ``balance``: a trade exists without the caps but not with them.
    ``depth_or_minimums``: the rest (lots, minimums of any of the three markets, depth, a side empty).
    """
    if not top_of_book_edge(buy, sell, conversion, buy_market, sell_market, conversion_market):
        return "no_edge"
    if evaluate_cross(buy, sell, conversion, buy_market, sell_market, conversion_market,
                      quote_available, base_available) is not None:
        return None
    if (quote_available is not None or base_available is not None) and evaluate_cross(
            buy, sell, conversion, buy_market, sell_market, conversion_market) is not None:
        return "balance"
    return "depth_or_minimums"


def _beats(side: str, price: Decimal, fee: Decimal, bid_q2: Decimal, ask_q1: Decimal) -> bool:
    """Whether ``bid_q2`` (Q2 after the sell fee) converted at ``price`` after ``fee`` exceeds ``ask_q1``.

    Multiplied out on both sides (no division): the decision is exact, never a rounding's."""
    if side == "sell":
        return bid_q2 * price * (_ONE - fee) > ask_q1
    return bid_q2 > ask_q1 * price * (_ONE + fee)


def _top(buy: BookSnapshot, sell: BookSnapshot, conversion: BookSnapshot, buy_market: Market, sell_market: Market,
         conversion_market: Market) -> tuple[str, Decimal, Decimal, Decimal] | None:
    """(conversion side, its best price, Q2 the first unit's sale gives, Q1 its purchase costs), fees on; None: a
    side is empty."""
    if not buy.asks or not sell.bids:
        return None
    side = conversion_side(conversion_market, buy_market.quote, sell_market.quote)
    levels = conversion.bids if side == "sell" else conversion.asks
    if not levels:
        return None
    return (side, levels[0][0], sell.bids[0][0] * (_ONE - sell_market.taker_fee),
            buy.asks[0][0] * (_ONE + buy_market.taker_fee))


def top_of_book_edge(buy: BookSnapshot, sell: BookSnapshot, conversion: BookSnapshot, buy_market: Market,
                     sell_market: Market, conversion_market: Market) -> bool:
    """Whether the first unit earns after the three fees at the three best levels (O(1); False: no trade)."""
    top = _top(buy, sell, conversion, buy_market, sell_market, conversion_market)
    return top is not None and _beats(top[0], top[1], conversion_market.taker_fee, top[2], top[3])


def first_unit(buy: BookSnapshot, sell: BookSnapshot, conversion: BookSnapshot, buy_market: Market,
               sell_market: Market, conversion_market: Market) -> tuple[bool, Decimal] | None:
    """``top_of_book_edge``'s decision and the first unit's net bps after the three fees, from one look at the
    three best levels (None: a side is empty). The bps is a figure for the funnel; the decision stays the
    multiplied-out comparison's."""
    top = _top(buy, sell, conversion, buy_market, sell_market, conversion_market)
    if top is None:
        return None
    side, price, q2, cost = top
    fee = conversion_market.taker_fee
    q1 = q2 * price * (_ONE - fee) if side == "sell" else q2 / (price * (_ONE + fee))
    return _beats(side, price, fee, q2, cost), _BPS * (q1 - cost) / cost


def convert_value(amount: Decimal, into: str, book: BookSnapshot, market: Market) -> Decimal | None:
    """``amount`` of the other currency of ``market`` valued in ``into`` by walking ``book`` after the taker fee.

    Sells at the bids when ``into`` is the market's quote, buys at the asks when it is its base (any
    fraction of a step, as a valuation); None when the book is too thin for the whole amount.
    ``ValueError`` when ``into`` is neither currency of the market.
    """
    if amount < 0:
        raise ValueError(f"cannot convert a negative amount {amount}")
    if not amount:
        return _ZERO
    fee = market.taker_fee
    with localcontext() as ctx:
        ctx.prec = 50
        if into == market.quote:  # amount is base: sell it at the bids
            if _depth(book.bids) < amount:
                return None
            return _walk(book.bids, amount)[0] * (_ONE - fee)
        if into == market.base:  # amount is quote: buy base at the asks, fee on top
            if _notional(book.asks) * (_ONE + fee) < amount:
                return None
            return +_spend(book.asks, amount / (_ONE + fee))
    raise ValueError(f"{market.exchange} {market.symbol} does not convert into {into}")

