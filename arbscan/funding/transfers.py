"""Can a route's inventory move back, over which network, and what does that cost? Pure functions, no I/O.

After a trade that buys on venue A and sells on venue B, A holds more base and less quote, B the
opposite. Bringing the inventory back takes two transfers:

* the **base leg**: withdraw the base from A, deposit it on B;
* the **quote leg**: withdraw the quote from B, deposit it on A.

A leg is ``open`` when some network both venues list takes the withdrawal on the sending venue and the
deposit on the receiving one; the cheapest such network (withdrawal fee plus any deposit fee, known fees
first) is the one used. A leg is ``closed`` when that is known to be impossible now (a switch is off, no
network in common), and ``unknown`` otherwise (a venue says nothing, a flag is not stated). A route is
``transferable`` when both legs are open, ``blocked`` when one is closed, else ``unknown``: unknown is
never counted as blocked.

``transfer_cost`` is the quote value of both legs' fees for one rebalancing (the base fee valued at the
trade's buy price); ``net_after_transfer = net_profit - transfer_cost / rebalance_batch``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from arbscan.funding.facts import AssetFunding, FundingBook, NetworkFunding
from arbscan.model import ZERO, Market, Opportunity, Route

__all__ = [
    "OPEN",
    "CLOSED",
    "UNKNOWN",
    "TRANSFERABLE",
    "BLOCKED",
    "TRANSFER_STATUSES",
    "Leg",
    "TransferVerdict",
    "TransferFigures",
    "leg",
    "route_verdict",
    "RouteTransfers",
    "figures",
    "net_after_transfer",
    "ranking_edge",
]

OPEN, CLOSED, UNKNOWN = "open", "closed", "unknown"
TRANSFERABLE, BLOCKED = "transferable", "blocked"
TRANSFER_STATUSES = (TRANSFERABLE, BLOCKED, UNKNOWN)
"""The values of ``opportunities.transfer``: both legs can move, one cannot, or not known."""


@dataclass(frozen=True, slots=True)
class Leg:
    """One asset moving from one venue to another: open, closed or unknown, and the network used when open."""

    asset: str
    source: str  # venue withdrawn from
    target: str  # venue deposited on
    status: str  # OPEN | CLOSED | UNKNOWN
    network: str | None = None  # the cheapest open network (closed or unknown: the one it would take)
    fee: Decimal | None = None  # withdrawal fee + deposit fee on that network, in the asset; None: not known
    withdraw_min: Decimal | None = None
    detail: str = ""  # why closed or unknown, in a few words


@dataclass(frozen=True, slots=True)
class TransferVerdict:
    """Both legs of a route and the route's status (``transferable``, ``blocked`` or ``unknown``)."""

    status: str
    base: Leg
    quote: Leg

    @property
    def detail(self) -> str:
        """Why the route is blocked or unknown (empty when transferable)."""
        return "; ".join(leg.detail for leg in (self.base, self.quote) if leg.status != OPEN)


@dataclass(frozen=True, slots=True)
class TransferFigures:
    """What an episode records about moving one trade's inventory back (see the module docstring)."""

    status: str
    detail: str
    base_network: str | None
    quote_network: str | None
    transfer_cost: Decimal | None  # quote, one rebalancing of this trade's base and quote
    net_after_transfer: Decimal | None  # quote


def _fee_key(n_out: NetworkFunding, n_in: NetworkFunding) -> tuple[int, Decimal]:
    fee = _fee(n_out, n_in)
    return (0, fee) if fee is not None else (1, ZERO)


def _fee(n_out: NetworkFunding, n_in: NetworkFunding) -> Decimal | None:
    if n_out.withdraw_fee is None:
        return None
    return n_out.withdraw_fee + (n_in.deposit_fee or ZERO)


def leg(asset: str, source: str, target: str, out: AssetFunding | None, into: AssetFunding | None) -> Leg:
    """Whether ``asset`` can be withdrawn from ``source`` (facts ``out``) and deposited on ``target`` (``into``)."""
    if out is not None and out.withdraw is False:
        return Leg(asset, source, target, CLOSED, detail=f"{asset} withdrawals off on {source}")
    if into is not None and into.deposit is False:
        return Leg(asset, source, target, CLOSED, detail=f"{asset} deposits off on {target}")
    if out is None or into is None:
        missing = source if out is None else target
        return Leg(asset, source, target, UNKNOWN, detail=f"no {asset} transfer facts for {missing}")
    if not out.networks or not into.networks:
        missing = source if not out.networks else target
        return Leg(asset, source, target, UNKNOWN, detail=f"{missing} lists no {asset} network")
    pairs = [(n, into.network(n.network)) for n in out.networks]
    common = [(n_out, n_in) for n_out, n_in in pairs if n_in is not None]
    if not common:
        return Leg(asset, source, target, CLOSED, detail=f"no {asset} network common to {source} and {target}")
    open_pairs = [(n_out, n_in) for n_out, n_in in common if out.can_withdraw(n_out) and into.can_deposit(n_in)]
    if open_pairs:
        n_out, n_in = min(open_pairs, key=lambda p: _fee_key(*p))
        return Leg(asset, source, target, OPEN, n_out.network, _fee(n_out, n_in), n_out.withdraw_min)
    maybe = [p for p in common if out.can_withdraw(p[0]) is not False and into.can_deposit(p[1]) is not False]
    if maybe:
        names = ", ".join(p[0].network for p in maybe)
        n_out, n_in = min(maybe, key=lambda p: _fee_key(*p))
        return Leg(asset, source, target, UNKNOWN, n_out.network, _fee(n_out, n_in), n_out.withdraw_min,
                   detail=f"{asset} over {names}: {source}/{target} do not say if open")
    n_out, n_in = min(common, key=lambda p: _fee_key(*p))  # the network it would take once open again
    return Leg(asset, source, target, CLOSED, n_out.network, _fee(n_out, n_in), n_out.withdraw_min,
               detail=f"{asset} cannot leave {source} for {target} on any common network ({_why_closed(common, out, into)})")


def _why_closed(common: list[tuple[NetworkFunding, NetworkFunding]], out: AssetFunding, into: AssetFunding) -> str:
    parts = []
    for n_out, n_in in common:
        off = []
        if out.can_withdraw(n_out) is False:
            off.append(f"withdrawals off on {out.exchange}")
        if into.can_deposit(n_in) is False:
            off.append(f"deposits off on {into.exchange}")
        parts.append(f"{n_out.network}: {' and '.join(off)}")
    return "; ".join(parts)


def route_verdict(funding: FundingBook, base: str, quote: str, buy_exchange: str, sell_exchange: str) -> TransferVerdict:
    """The base leg (buy venue -> sell venue) and the quote leg (sell venue -> buy venue) of a route."""
    base_leg = leg(base, buy_exchange, sell_exchange, funding.get(buy_exchange, base), funding.get(sell_exchange, base))
    quote_leg = leg(quote, sell_exchange, buy_exchange, funding.get(sell_exchange, quote), funding.get(buy_exchange, quote))
    if CLOSED in (base_leg.status, quote_leg.status):
        status = BLOCKED
    elif base_leg.status == OPEN and quote_leg.status == OPEN:
        status = TRANSFERABLE
    else:
        status = UNKNOWN
    return TransferVerdict(status, base_leg, quote_leg)


class RouteTransfers:
    """The verdict of each route from one funding book and the markets, cached until the facts change."""

    def __init__(self, funding: FundingBook, markets: Mapping[tuple[str, str], Market]) -> None:
        self.funding = funding
        self.markets = markets  # read by reference (the scanner's)
        self._cache: dict[Route, tuple[int, TransferVerdict]] = {}

    def verdict(self, route: Route) -> TransferVerdict:
        """Whether ``route``'s inventory can move back now; the route's buy market must be known."""
        version = self.funding.version
        cached = self._cache.get(route)
        if cached is not None and cached[0] == version:
            return cached[1]
        symbol, buy_ex, sell_ex = route
        market = self.markets[(buy_ex, symbol)]
        verdict = route_verdict(self.funding, market.base, market.quote, buy_ex, sell_ex)
        self._cache[route] = (version, verdict)
        return verdict


def net_after_transfer(net_profit: Decimal, transfer_cost: Decimal | None, rebalance_batch: int) -> Decimal | None:
    """``net_profit - transfer_cost / rebalance_batch`` (None when the cost is not known)."""
    if transfer_cost is None:
        return None
    return net_profit - transfer_cost / rebalance_batch


def figures(verdict: TransferVerdict, opp: Opportunity, rebalance_batch: int) -> TransferFigures:
    """What an episode records for ``opp``: status, networks, the quote cost of moving it back, the edge after it.

    The cost is known only when both legs are open with known fees; the base fee is valued at ``buy_vwap``.
    """
    cost = None
    base, quote = verdict.base, verdict.quote
    if base.status == OPEN and quote.status == OPEN and base.fee is not None and quote.fee is not None:
        cost = verdict.base.fee * opp.buy_vwap + verdict.quote.fee
    return TransferFigures(verdict.status, verdict.detail, _open(base), _open(quote), cost,
                           net_after_transfer(opp.net_profit, cost, rebalance_batch))


def _open(leg_: Leg) -> str | None:
    return leg_.network if leg_.status == OPEN else None


def ranking_edge(net_profit: Decimal, net_after: Decimal | None) -> Decimal:
    """What a report ranks a route or episode by: ``net_after_transfer`` when known, else ``net_profit``."""
    return net_profit if net_after is None else net_after
