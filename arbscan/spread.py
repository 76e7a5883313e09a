"""The spread calculator: the best paired trade between two books after fees, depth, steps and balances.

Pure: no I/O, no clock. ``evaluate`` runs on every book update, so it works on the books' own
tuples with local variables and allocates nothing but its result.

The rules (ARCHITECTURE.md, "spread.evaluate"):

* walk the buy venue's asks and the sell venue's bids together; the next unit is worth taking while
  ``bid * (1 - sell_fee) - ask * (1 + buy_fee) > 0``;
* the unit of trade is one lot (see below): the walk's amount is rounded down to whole lots, and the
  one lot that straddles the break-even point is added back when, taken whole, it still earns money
  (its first part earns more than its last part loses) and fits the caps and the depth. Profit per
  unit only falls along the walk, so no later lot can earn anything: the result is the most
  profitable amount on the lot grid;
* ``base_available`` (base held on the sell venue) caps the amount; ``quote_available`` (quote held
  on the buy venue) caps the buy cost including its fee; ``None`` means no cap;
* the amount is rounded down to the coarser of the two amount steps (to their least common
  multiple when neither divides the other), then both legs are re-walked for that amount;
* the amount must reach both venues' ``min_amount`` and each leg's notional its venue's ``min_cost``;
* ``net_profit = sell_notional * (1 - sell_fee) - buy_notional * (1 + buy_fee)`` must be ``> 0``;
* ``net_bps = 10000 * net_profit / (buy_notional * (1 + buy_fee))``.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from math import lcm

from arbscan.model import BookSnapshot, Level, Market, Opportunity

__all__ = ["evaluate", "diagnose", "top_of_book_reason", "lot_step", "REASONS"]

_ZERO = Decimal(0)
_ONE = Decimal(1)
_BPS = Decimal(10000)

REASONS = ("not_crossed", "fees", "depth_or_minimums", "balance")
"""Why ``evaluate`` found nothing, as ``diagnose`` reports it (the scanner's funnel)."""


@lru_cache(maxsize=256)
def lot_step(a: Decimal, b: Decimal) -> Decimal:
    """The step both venues accept: the coarser of ``a`` and ``b`` when it is a multiple of the finer,
    else their least common multiple (0.001 and 0.0004 give 0.002)."""
    coarse, fine = (a, b) if a >= b else (b, a)
    if coarse % fine == 0:
        return coarse
    exp = min(a.as_tuple().exponent, b.as_tuple().exponent)  # type: ignore[operator]
    scale = Decimal(1).scaleb(-exp)
    return Decimal(lcm(int(a * scale), int(b * scale))) / scale


def _walk(levels: tuple[Level, ...], amount: Decimal) -> tuple[Decimal, Decimal]:
    """Quote notional of taking ``amount`` from ``levels`` (best first), and the worst price touched.

    The caller guarantees the levels hold at least ``amount``.
    """
    notional = _ZERO
    left = amount
    price = levels[0][0]
    for price, qty in levels:
        if qty >= left:
            notional += price * left
            break
        notional += price * qty
        left -= qty
    return notional, price


def _marginal_amount(
    asks: tuple[Level, ...],
    bids: tuple[Level, ...],
    kb: Decimal,
    ks: Decimal,
    quote_available: Decimal | None,
    base_available: Decimal | None,
) -> tuple[Decimal, bool]:
    """The largest amount whose every unit is profitable after fees, within both caps (unrounded),
    and whether the walk stopped at break-even (True) rather than at a cap or the end of a book."""
    n_asks = len(asks)
    n_bids = len(bids)
    i = j = 0
    ask_p, ask_left = asks[0]
    bid_p, bid_left = bids[0]
    amount = _ZERO
    quote_left = quote_available
    while True:
        if bid_p * ks <= ask_p * kb:
            return amount, True
        take = ask_left if ask_left < bid_left else bid_left
        capped = False
        if base_available is not None:
            room = base_available - amount
            if take >= room:
                take = room
                capped = True
        if quote_left is not None:
            unit_cost = ask_p * kb
            if take * unit_cost >= quote_left:
                take = quote_left / unit_cost
                capped = True
            else:
                quote_left -= take * unit_cost
        amount += take
        if capped:
            return amount, False
        ask_left -= take
        bid_left -= take
        if not ask_left:
            i += 1
            if i == n_asks:
                return amount, False
            ask_p, ask_left = asks[i]
        if not bid_left:
            j += 1
            if j == n_bids:
                return amount, False
            bid_p, bid_left = bids[j]


def _depth(levels: tuple[Level, ...]) -> Decimal:
    total = _ZERO
    for _, qty in levels:
        total += qty
    return total


def evaluate(
    buy: BookSnapshot,
    sell: BookSnapshot,
    buy_market: Market,
    sell_market: Market,
    quote_available: Decimal | None = None,
    base_available: Decimal | None = None,
) -> Opportunity | None:
    """The most profitable trade buying on ``buy`` and selling on ``sell``, or None when there is none."""
    asks = buy.asks
    bids = sell.bids
    if not asks or not bids:
        return None
    buy_fee = buy_market.taker_fee
    sell_fee = sell_market.taker_fee
    kb = _ONE + buy_fee
    ks = _ONE - sell_fee
    if bids[0][0] * ks <= asks[0][0] * kb:  # the top of book is not profitable: nothing below is
        return None
    if (quote_available is not None and quote_available <= 0) or (base_available is not None and base_available <= 0):
        return None

    raw, at_break_even = _marginal_amount(asks, bids, kb, ks, quote_available, base_available)
    step = lot_step(buy_market.amount_step, sell_market.amount_step)
    amount = (raw // step) * step
    buy_notional = sell_notional = None
    if at_break_even and amount != raw:
        # The lot that straddles break-even: take it whole when it still earns and fits.
        whole = amount + step
        if (
            (base_available is None or whole <= base_available)
            and whole <= _depth(asks)
            and whole <= _depth(bids)
        ):
            wb, wb_limit = _walk(asks, whole)
            ws, ws_limit = _walk(bids, whole)
            if quote_available is None or wb * kb <= quote_available:
                if amount:
                    pb, _ = _walk(asks, amount)
                    ps, _ = _walk(bids, amount)
                    gain = (ws - ps) * ks - (wb - pb) * kb
                else:
                    gain = ws * ks - wb * kb
                if gain > 0:
                    amount = whole
                    buy_notional, buy_limit, sell_notional, sell_limit = wb, wb_limit, ws, ws_limit
    if not amount or amount < buy_market.min_amount or amount < sell_market.min_amount:
        return None

    if buy_notional is None:
        buy_notional, buy_limit = _walk(asks, amount)
    if quote_available is not None:
        # A division on a quote-capped level is rounded to 28 digits; never let that round up past the cap.
        while buy_notional * kb > quote_available:
            amount -= step
            if amount <= 0 or amount < buy_market.min_amount or amount < sell_market.min_amount:
                return None
            buy_notional, buy_limit = _walk(asks, amount)
            sell_notional = None
    if sell_notional is None:
        sell_notional, sell_limit = _walk(bids, amount)
    if buy_notional < buy_market.min_cost or sell_notional < sell_market.min_cost:
        return None

    buy_fee_paid = buy_notional * buy_fee
    sell_fee_paid = sell_notional * sell_fee
    buy_cost = buy_notional + buy_fee_paid
    sell_proceeds = sell_notional - sell_fee_paid
    net_profit = sell_proceeds - buy_cost
    if net_profit <= 0:
        return None
    return Opportunity(
        symbol=buy.symbol,
        buy_exchange=buy.exchange,
        sell_exchange=sell.exchange,
        amount=amount,
        buy_vwap=buy_notional / amount,
        sell_vwap=sell_notional / amount,
        buy_limit=buy_limit,
        sell_limit=sell_limit,
        buy_cost=buy_cost,
        sell_proceeds=sell_proceeds,
        net_profit=net_profit,
        net_bps=_BPS * net_profit / buy_cost,
        ts=buy.ts if buy.ts >= sell.ts else sell.ts,
        buy_fee=buy_fee_paid,
        sell_fee=sell_fee_paid,
    )


def diagnose(
    buy: BookSnapshot,
    sell: BookSnapshot,
    buy_market: Market,
    sell_market: Market,
    quote_available: Decimal | None = None,
    base_available: Decimal | None = None,
) -> str | None:
    """Why ``evaluate`` with the same arguments finds nothing (one of ``REASONS``), or None when it finds a trade.

    ``not_crossed``: the best bid is not above the best ask. ``fees``: it is, but fees eat the top of
    book. ``balance``: a trade exists without the caps but not with them. ``depth_or_minimums``:
    the profitable depth rounds to less than a lot, a minimum amount or a minimum cost (or a side is empty).
    """
    # The top-of-book answers come first: they are O(1) and cover most routes most of the time.
    reason = top_of_book_reason(buy, sell, buy_market, sell_market)
    if reason is not None:
        return reason
    if evaluate(buy, sell, buy_market, sell_market, quote_available, base_available) is not None:
        return None
    if (quote_available is not None or base_available is not None) and evaluate(
        buy, sell, buy_market, sell_market
    ) is not None:
        return "balance"
    return "depth_or_minimums"


def top_of_book_reason(buy: BookSnapshot, sell: BookSnapshot, buy_market: Market, sell_market: Market) -> str | None:
    """Why ``evaluate`` must find nothing, read from the best levels alone (O(1)), or None when only it can tell.

    ``depth_or_minimums`` for an empty side, ``not_crossed`` when the best bid is not above the best
    ask, ``fees`` when it is but fees eat the top of book: in each case ``evaluate`` returns None
    whatever the caps (its own first check is the fee test), so a caller may skip it.
    """
    asks = buy.asks
    bids = sell.bids
    if not asks or not bids:
        return "depth_or_minimums"
    if bids[0][0] <= asks[0][0]:
        return "not_crossed"
    if bids[0][0] * (_ONE - sell_market.taker_fee) <= asks[0][0] * (_ONE + buy_market.taker_fee):
        return "fees"
    return None
