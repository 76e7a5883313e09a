"""Step 3 of the scanner for one route: is it live at this event, and what that does to its episode.

A function of the scanner's state rather than a method, so scanner.py stays the orchestration of
the three steps (ARCHITECTURE.md, "Scanner semantics") and this module the per-route rule: stale ->
counted ``stale``; not crossed, eaten by fees, depth or minimums, balance -> counted by reason;
blocked transfer with ``require_transferable``, below ``min_net_bps`` -> counted; else live.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from arbscan import spread
from arbscan.episodes import call_listener
from arbscan.model import BookSnapshot, Opportunity, Route
from arbscan.records import RouteFunnel
from arbscan.transfers import BLOCKED, figures

if TYPE_CHECKING:
    from arbscan.scanner import Scanner

__all__ = ["evaluate_route"]

_BPS = Decimal(10000)


def evaluate_route(
    self: Scanner, route: Route, funnel: RouteFunnel, t: float, buy: BookSnapshot, sell: BookSnapshot
) -> Opportunity | None:
    """Step 3 for one route of ``self`` (a :class:`arbscan.scanner.Scanner`) at ``t``: live or why not.

    Counts the evaluation in the route's funnel; a live one opens or extends its episode and is
    handed to the scanner's listeners; one that is not live closes the open episode.
    """
    max_age = self._max_age
    if t - buy.ts > max_age or t - sell.ts > max_age:
        funnel.stale += 1
        if route in self.episodes:  # step 1 has closed it already unless t went backwards
            self._open.close(route, t, "stale", None)
        return None
    funnel.evaluated += 1
    if buy.asks and sell.bids:
        bid = sell.bids[0][0]
        ask = buy.asks[0][0]
        if bid <= ask:
            # With fees >= 0, evaluate() would return None and diagnose() "not_crossed":
            # count it without calling them.
            funnel.not_crossed += 1
            if route in self.episodes:
                self._open.close(route, t, "uncrossed", "not_crossed")
            return None
        funnel.crossed_before_fees += 1
        gross = _BPS * (bid - ask) / ask
        if funnel.max_gross_bps is None or gross > funnel.max_gross_bps:
            funnel.max_gross_bps = gross
    symbol, buy_ex, sell_ex = route
    buy_market = self.markets[(buy_ex, symbol)]
    sell_market = self.markets[(sell_ex, symbol)]
    quote_available = self.balances.get(buy_ex, {}).get(buy_market.quote)
    base_available = self.balances.get(sell_ex, {}).get(sell_market.base)
    # Most crossed routes are eaten by fees: the O(1) top-of-book reason spares evaluate + diagnose.
    reason = spread.top_of_book_reason(buy, sell, buy_market, sell_market)
    opp = None
    if reason is None:
        opp = spread.evaluate(buy, sell, buy_market, sell_market, quote_available, base_available)
    if opp is None:
        if reason is None:
            reason = spread.diagnose(buy, sell, buy_market, sell_market, quote_available, base_available)
        if reason is None or not hasattr(funnel, reason):  # cannot happen with a consistent spread module
            reason = "depth_or_minimums"
        setattr(funnel, reason, getattr(funnel, reason) + 1)
        if route in self.episodes:
            self._open.close(route, t, "uncrossed", reason)
        return None
    verdict = self.transfers.verdict(route) if self.funding else None
    if verdict is not None and verdict.status == BLOCKED and self.require_transferable:
        funnel.transfer_blocked += 1
        if route in self.episodes:
            self._open.close(route, t, "uncrossed", "transfer_blocked")
        return None
    if opp.net_bps < self.min_net_bps:
        funnel.below_min_bps += 1
        if route in self.episodes:
            self._open.close(route, t, "uncrossed", "below_min_bps")
        return None
    funnel.live += 1
    self.live_evaluations += 1
    transfer = None if verdict is None else figures(verdict, opp, self.rebalance_batch)
    ep = self.episodes.get(route)
    if ep is None:
        self._open.start(route, opp, t, min(sell.ts, buy.ts), transfer)
        funnel.episodes += 1
    else:
        self._open.observe(ep, opp, t, transfer)
    for listener in self.listeners:
        call_listener(listener, "on_opportunity", opp, t)
    return opp
