"""Executors: what turns a strategy's decisions into orders. ``PaperExecutor`` (the default) simulates them.

Paper or live is chosen once, in ``cli.py``, by building one executor per strategy; both are
scanner listeners (``on_book``, ``on_opportunity``, ``on_close``) and journal into the same tables
(``trades``, ``orders``, ``order_events``, ``fills``, ``balances``) with ``mode`` 'paper' or 'live'.

How a paper trade happens (all on the event clock, replay and live alike):

1. ``on_opportunity(opp, t)``: the strategy's rules (``arbscan.strategy``) decide on the executor's
   own copy of the two books, sized by the strategy's balances minus what its trades still in
   flight have reserved. A taken trade is journaled at once (trade 'open', both orders CREATED then
   SUBMITTED) and is due at ``t + latency_ms``.
2. ``on_book(book, t)``: first every trade due at or before ``t`` settles against the books as they
   were *before* this event (the executor's copies: the latest books an order arriving at its due
   time would meet), then the new book replaces the copy. The fills, the trade's ``closed`` time
   and the start of the route's cooldown are at the due time: nothing changed between it and ``t``.
3. Settling: each leg is an IOC limit order for the planned amount at the opportunity's limit
   (``buy_limit`` / ``sell_limit``). It fills what the book offers within the limit, level by level,
   capped by the balance at settle time (the buy leg by the quote incl. fee on the buy venue, the
   sell leg by the base on the sell venue; amounts rounded down to the venue's step), paying the
   venue's taker fee in quote on every fill. The legs are independent: an uneven fill leaves an
   imbalance, reported, kept as inventory in the balances (``imbalance_action`` 'kept'). Filled
   liquidity is removed from the executor's copy of the book until the venue's next update
   replaces it, so two trades settling together cannot fill the same level twice.
4. ``on_close(t)``: trades due by ``t`` settle; trades still in flight are 'missed' with detail
   ``stream_ended`` (their orders never reached a venue before the stream ended).

``summarize(db, run_id, strategy)`` reads a strategy's PnL, fill rate, capital used and inventory
drift back from the journal; ``format_summary`` draws it for the end of a replay.
"""

from __future__ import annotations

import copy
import json
import logging
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from arbscan.config import Settings, StrategyConfig
from arbscan.errors import BadInput
from arbscan.model import BookSnapshot, Level, Market, Opportunity, OrderStatus, Side
from arbscan.orders import IllegalTransition, check_transition
from arbscan.strategy import StrategyRules, micros

__all__ = [
    "Executor",
    "PaperExecutor",
    "PaperTrade",
    "LegResult",
    "simulate_ioc",
    "starting_balances",
    "replay_header",
    "build_paper_executors",
    "cli_executors",
    "print_summaries",
    "StrategySummary",
    "summarize",
    "format_summary",
]

logger = logging.getLogger(__name__)

_ZERO = Decimal(0)
_ONE = Decimal(1)

Balances = dict[str, dict[str, Decimal]]  # exchange -> asset -> free amount
Route = tuple[str, str, str]


# -- the protocol and the order state table ----------------------------------------------------


@runtime_checkable
class Executor(Protocol):
    """One strategy's executor, paper or live: a scanner listener that acts on live opportunities."""

    mode: str  # 'paper' | 'live'

    def on_book(self, book: BookSnapshot, t: float) -> None:
        """A book event was applied at ``t`` (before its routes are evaluated)."""

    def on_opportunity(self, opp: Opportunity, t: float) -> None:
        """A route is live at ``t``; the strategy's rules decide whether to trade it."""

    def on_close(self, t: float) -> None:
        """The stream ended at ``t``: settle or resolve everything in flight."""


# -- fill simulation ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LegResult:
    """One simulated IOC leg: base filled, quote notional, fee, the fills (price, amount), and the cap that bound."""

    filled: Decimal
    notional: Decimal  # quote, before fee
    fee: Decimal  # quote
    fills: tuple[Level, ...]  # (price, amount) per level touched
    capped_by: str | None = None  # 'balance' when the balance stopped the fill, else None

    @property
    def avg_price(self) -> Decimal | None:
        """Average fill price, None when nothing filled."""
        return self.notional / self.filled if self.filled else None


def simulate_ioc(
    levels: tuple[Level, ...],
    side: Side,
    amount: Decimal,
    limit: Decimal,
    fee_rate: Decimal,
    step: Decimal,
    balance: Decimal,
) -> LegResult:
    """Fill an IOC limit order for ``amount`` against ``levels`` (asks for a buy, bids for a sell), best first.

    A buy takes asks priced at or below ``limit`` while the cost incl. fee fits ``balance`` (quote);
    a sell takes bids at or above ``limit`` up to ``balance`` (base). A level cut by the balance is
    rounded down to ``step``. Pure: the levels are not changed.
    """
    buy = side is Side.BUY
    left = amount
    if not buy and balance < left:
        left = (balance // step) * step
    capped = "balance" if not buy and balance < amount else None
    quote_left = balance
    k = _ONE + fee_rate
    fills: list[Level] = []
    filled = notional = _ZERO
    for price, qty in levels:
        if left <= 0:
            break
        if (price > limit) if buy else (price < limit):
            break
        take = qty if qty < left else left
        if buy:
            cost = price * take * k
            if cost > quote_left:
                take = ((quote_left / (price * k)) // step) * step
                while take > 0 and price * take * k > quote_left:  # a division rounded up: step back
                    take -= step
                capped = "balance"
                if take <= 0:
                    break
                cost = price * take * k
            quote_left -= cost
        fills.append((price, take))
        filled += take
        notional += price * take
        left -= take
        if capped and buy:
            break
    fee = sum((p * a * fee_rate for p, a in fills), _ZERO)
    return LegResult(filled, notional, fee, tuple(fills), capped)


def _consume(levels: tuple[Level, ...], fills: tuple[Level, ...]) -> tuple[Level, ...]:
    """``levels`` minus what ``fills`` took (levels emptied are dropped)."""
    taken = dict(fills)
    out = []
    for price, qty in levels:
        t = taken.get(price)
        if t is None:
            out.append((price, qty))
        elif qty > t:
            out.append((price, qty - t))
    return tuple(out)


# -- the paper executor ------------------------------------------------------------------------


@dataclass(slots=True)
class PaperTrade:
    """One paired paper trade: the plan when decided and, once settled, what both legs did."""

    id: str
    route: Route
    opp: Opportunity  # the sized plan
    decided: float
    due: float
    buy_market: Market
    sell_market: Market
    due_us: int = 0  # ``due`` in whole microseconds: the comparisons with the event clock are exact
    status: str = "open"  # 'open' | 'filled' | 'partial' | 'imbalanced' | 'missed'
    buy: LegResult | None = None
    sell: LegResult | None = None
    settled: float | None = None
    detail: str | None = None

    @property
    def imbalance(self) -> Decimal:
        """Base bought minus base sold (+ long on the buy venue, - short on the sell venue)."""
        if self.buy is None or self.sell is None:
            return _ZERO
        return self.buy.filled - self.sell.filled

    @property
    def realised_pnl(self) -> Decimal:
        """Quote PnL of the matched amount (both legs filled) after both fees; the larger leg counts pro rata."""
        if self.buy is None or self.sell is None:
            return _ZERO
        bought, sold = self.buy.filled, self.sell.filled
        if not bought or not sold:
            return _ZERO
        cost = self.buy.notional + self.buy.fee
        proceeds = self.sell.notional - self.sell.fee
        if bought == sold:
            return proceeds - cost  # exact: the same sums that moved the balances
        if bought > sold:
            return proceeds - cost * sold / bought
        return proceeds * bought / sold - cost


class PaperExecutor:
    """Paper-trades one strategy: the default executor, a scanner listener (see the module docstring).

    ``markets`` maps (exchange, symbol) to ``Market`` and is read by reference (pass the scanner's
    dict, or bind it later with :meth:`bind_markets`). ``store`` is an ``arbscan.store.Store`` or
    None (no journal). ``starting_balances`` (exchange -> asset -> amount) is the strategy's capital;
    an asset not listed is zero. ``run_id`` names the trade ids (default: the store's run).
    """

    mode = "paper"

    def __init__(
        self,
        strategy: StrategyConfig,
        markets: Mapping[tuple[str, str], Market],
        store: Any = None,
        *,
        starting_balances: Mapping[str, Mapping[str, Decimal]],
        run_id: int | None = None,
    ) -> None:
        if not starting_balances or not any(starting_balances.values()):
            raise BadInput(f"strategy {strategy.name!r}: no starting balances (paper trading needs capital)")
        self.strategy = strategy
        self.name = strategy.name
        self.rules = StrategyRules(strategy)
        self.markets = markets
        self.store = store
        self.starting: Balances = {ex: dict(b) for ex, b in starting_balances.items()}
        self.balances: Balances = copy.deepcopy(self.starting)
        self.reserved: dict[tuple[str, str], Decimal] = {}
        self.books: dict[tuple[str, str], BookSnapshot] = {}
        self.pending: deque[PaperTrade] = deque()
        self.trades: list[PaperTrade] = []
        self.skips: Counter[str] = Counter()
        self.decisions = 0
        self.clock: float | None = None
        self._run_id = run_id
        self._seq = 0
        self._started = False
        self._closed = False
        self._order_status: dict[str, OrderStatus] = {}
        self._warned_markets: set[tuple[str, str]] = set()
        self._trade_rows: dict[str, dict[str, Any]] = {}
        self._order_rows: dict[str, dict[str, Any]] = {}

    # -- wiring ----------------------------------------------------------------------------

    def bind_markets(self, markets: Mapping[tuple[str, str], Market]) -> None:
        """Read markets from ``markets`` from now on (the live scanner's dict, filled as venues load)."""
        self.markets = markets

    @property
    def run_id(self) -> int:
        """The run the trade ids and journal rows belong to (0 without a store run)."""
        if self._run_id is not None:
            return self._run_id
        rid = getattr(self.store, "run_id", None)
        return rid if rid is not None else 0

    # -- listener --------------------------------------------------------------------------

    def on_book(self, book: BookSnapshot, t: float) -> None:
        """Settle trades due by ``t`` on the books as they were before this event, then keep the new book."""
        self._start(t)
        self.clock = t
        if self.pending and self.pending[0].due_us <= micros(t):
            self._settle_due(t)
        self.books[(book.exchange, book.symbol)] = book

    def on_opportunity(self, opp: Opportunity, t: float) -> None:
        """Let the strategy's rules decide on this live route; a taken trade is journaled and due at ``t + latency``."""
        self._start(t)
        symbol, buy_ex, sell_ex = opp.symbol, opp.buy_exchange, opp.sell_exchange
        buy_market = self.markets.get((buy_ex, symbol))
        sell_market = self.markets.get((sell_ex, symbol))
        buy = self.books.get((buy_ex, symbol))
        sell = self.books.get((sell_ex, symbol))
        if buy_market is None or sell_market is None or buy is None or sell is None:
            key = (buy_ex, sell_ex)
            if key not in self._warned_markets:
                self._warned_markets.add(key)
                logger.warning("strategy %s: no market or book for %s %s/%s; route skipped", self.name, symbol, buy_ex, sell_ex)
            self.skips["no_market"] += 1
            return
        quote = self._free(buy_ex, buy_market.quote)
        base = self._free(sell_ex, sell_market.base)
        decision = self.rules.decide(buy, sell, buy_market, sell_market, quote, base, t)
        self.decisions += 1
        if decision.opportunity is None:
            self.skips[decision.reason or "no_trade"] += 1
            return
        self._open(decision.opportunity, buy_market, sell_market, t)

    def on_close(self, t: float) -> None:
        """Settle what is due by ``t``; trades still in flight end 'missed' (the stream ended first)."""
        if self._closed:
            return
        self._start(t)
        self._settle_due(t)
        if self.pending:
            logger.info("strategy %s: %d trade(s) still in flight when the stream ended at %.3f: counted as missed",
                        self.name, len(self.pending), t)
        while self.pending:
            trade = self.pending.popleft()
            self._miss_at_end(trade, t)
        self._closed = True

    # -- internals -------------------------------------------------------------------------

    def _free(self, exchange: str, asset: str) -> Decimal:
        held = self.balances.get(exchange, {}).get(asset, _ZERO)
        free = held - self.reserved.get((exchange, asset), _ZERO)
        return free if free > 0 else _ZERO

    def _reserve(self, exchange: str, asset: str, amount: Decimal) -> None:
        key = (exchange, asset)
        left = self.reserved.get(key, _ZERO) + amount
        if left > 0:
            self.reserved[key] = left
        else:
            self.reserved.pop(key, None)

    def _start(self, t: float) -> None:
        if self._started:
            return
        self._started = True
        if self.store is not None:
            rows = [
                self._balance_row(ex, asset, amount, t, None)
                for ex, assets in sorted(self.starting.items())
                for asset, amount in sorted(assets.items())
            ]
            self.store.submit_many("balances", rows)

    def _balance_row(self, exchange: str, asset: str, free: Decimal, t: float, trade_id: str | None) -> dict[str, Any]:
        return {"run_id": self.run_id, "mode": self.mode, "strategy": self.name, "exchange": exchange,
                "asset": asset, "free": free, "ts": t, "trade_id": trade_id}

    def _open(self, opp: Opportunity, buy_market: Market, sell_market: Market, t: float) -> None:
        self._seq += 1
        trade_id = f"paper-{self.run_id}-{self.name}-{self._seq}"
        route = (opp.symbol, opp.buy_exchange, opp.sell_exchange)
        due_us = micros(t) + self.strategy.latency_ms * 1000
        trade = PaperTrade(trade_id, route, opp, t, due_us / 1_000_000, buy_market, sell_market, due_us)
        self.rules.opened(route, trade_id)
        self._reserve(opp.buy_exchange, buy_market.quote, opp.buy_cost)
        self._reserve(opp.sell_exchange, sell_market.base, opp.amount)
        self.pending.append(trade)
        self.trades.append(trade)
        logger.info("strategy %s: %s buy %s %s on %s <= %s, sell on %s >= %s, expected %s, due %.3f",
                    self.name, trade_id, opp.amount, opp.symbol, opp.buy_exchange, opp.buy_limit,
                    opp.sell_exchange, opp.sell_limit, opp.net_profit, trade.due)
        if self.store is None:
            for cid in (trade_id + "-buy", trade_id + "-sell"):
                self._move(cid, OrderStatus.CREATED, t)
                self._move(cid, OrderStatus.SUBMITTED, t)
            return
        self._trade_row(trade_id, {
            "id": trade_id, "run_id": self.run_id, "mode": self.mode, "strategy": self.name, "symbol": opp.symbol,
            "buy_exchange": opp.buy_exchange, "sell_exchange": opp.sell_exchange, "opened": t, "status": "open",
            "planned_amount": opp.amount, "buy_limit": opp.buy_limit, "sell_limit": opp.sell_limit,
            "expected_profit": opp.net_profit, "imbalance_action": "none",
            "detail": f"due at {trade.due:.6f} (latency {self.strategy.latency_ms} ms)",
        })
        for role, side, exchange, limit in (("buy", Side.BUY, opp.buy_exchange, opp.buy_limit),
                                            ("sell", Side.SELL, opp.sell_exchange, opp.sell_limit)):
            cid = f"{trade_id}-{role}"
            # the intent first, then the submission: the journal holds the order before it "leaves"
            self._move(cid, OrderStatus.CREATED, t)
            self._order_row(cid, {
                "client_id": cid, "run_id": self.run_id, "mode": self.mode, "strategy": self.name,
                "trade_id": trade_id, "role": role, "exchange": exchange, "symbol": opp.symbol,
                "side": side, "amount": opp.amount, "limit_price": limit, "time_in_force": "IOC",
                "status": OrderStatus.CREATED, "filled": _ZERO, "fee": _ZERO, "created": t, "updated": t,
            })
            self._move(cid, OrderStatus.SUBMITTED, t)
            self._order_row(cid, {"status": OrderStatus.SUBMITTED, "updated": t})

    # The writer batches upserts of one table into one statement over the union of their columns,
    # so every upsert carries the whole row (a partial row would blank the columns it lacks).
    def _trade_row(self, trade_id: str, changes: dict[str, Any], final: bool = False) -> None:
        row = self._trade_rows.setdefault(trade_id, {})
        row.update(changes)
        self.store.upsert("trades", dict(row), pk="id")
        if final:
            del self._trade_rows[trade_id]

    def _order_row(self, client_id: str, changes: dict[str, Any], final: bool = False) -> None:
        row = self._order_rows.setdefault(client_id, {})
        row.update(changes)
        self.store.upsert("orders", dict(row), pk="client_id")
        if final:
            del self._order_rows[client_id]

    def _move(self, client_id: str, new: OrderStatus, t: float, detail: str | None = None) -> None:
        """One order status move, checked against the live orders' table (``arbscan.orders.TRANSITIONS``)."""
        old = self._order_status.get(client_id)
        if old is None:
            if new is not OrderStatus.CREATED:
                raise IllegalTransition(f"order {client_id}: must start created, not {new.value}")
        else:
            check_transition(old, new)
        if new.is_final or new is OrderStatus.PARTIALLY_FILLED:
            self._order_status.pop(client_id, None)  # a paper IOC is done once it settles
        else:
            self._order_status[client_id] = new
        if self.store is not None:
            self.store.submit("order_events", {
                "run_id": self.run_id, "client_id": client_id, "ts": t,
                "from_status": old.value if old else None, "to_status": new.value, "detail": detail,
            })

    def _settle_due(self, t: float) -> None:
        now = micros(t)
        while self.pending and self.pending[0].due_us <= now:
            trade = self.pending.popleft()
            # Nothing happened between the due time and this event (it would have settled the trade),
            # so the fills happen at the due time: the books then are the executor's current copies.
            self._settle(trade, trade.due)

    def _settle(self, trade: PaperTrade, t: float) -> None:
        opp = trade.opp
        symbol = opp.symbol
        bm, sm = trade.buy_market, trade.sell_market
        self._reserve(opp.buy_exchange, bm.quote, -opp.buy_cost)
        self._reserve(opp.sell_exchange, sm.base, -opp.amount)
        buy_key, sell_key = (opp.buy_exchange, symbol), (opp.sell_exchange, symbol)
        buy_book, sell_book = self.books[buy_key], self.books[sell_key]
        buy_bal = self.balances.setdefault(opp.buy_exchange, {})
        sell_bal = self.balances.setdefault(opp.sell_exchange, {})
        buy = simulate_ioc(buy_book.asks, Side.BUY, opp.amount, opp.buy_limit, bm.taker_fee, bm.amount_step,
                           buy_bal.get(bm.quote, _ZERO))
        if buy.filled:
            buy_bal[bm.quote] = buy_bal.get(bm.quote, _ZERO) - buy.notional - buy.fee
            buy_bal[bm.base] = buy_bal.get(bm.base, _ZERO) + buy.filled
        sell = simulate_ioc(sell_book.bids, Side.SELL, opp.amount, opp.sell_limit, sm.taker_fee, sm.amount_step,
                            sell_bal.get(sm.base, _ZERO))
        if sell.filled:
            sell_bal[sm.base] = sell_bal.get(sm.base, _ZERO) - sell.filled
            sell_bal[sm.quote] = sell_bal.get(sm.quote, _ZERO) + sell.notional - sell.fee
        if buy.fills:
            self.books[buy_key] = BookSnapshot.trusted(buy_book.exchange, symbol, buy_book.bids,
                                                       _consume(buy_book.asks, buy.fills), buy_book.ts, buy_book.received)
        if sell.fills:
            self.books[sell_key] = BookSnapshot.trusted(sell_book.exchange, symbol, _consume(sell_book.bids, sell.fills),
                                                        sell_book.asks, sell_book.ts, sell_book.received)
        trade.buy, trade.sell, trade.settled = buy, sell, t
        planned = opp.amount
        if not buy.filled and not sell.filled:
            trade.status = "missed"
        elif buy.filled != sell.filled:
            trade.status = "imbalanced"
        elif buy.filled == planned:
            trade.status = "filled"
        else:
            trade.status = "partial"
        notes = []
        if buy.capped_by:
            notes.append(f"buy capped by {bm.quote} balance")
        if sell.capped_by:
            notes.append(f"sell capped by {sm.base} balance")
        if trade.imbalance:
            notes.append(f"imbalance {trade.imbalance} {bm.base} kept as inventory")
            logger.info("strategy %s: %s uneven fill (bought %s, sold %s %s); imbalance %s kept as inventory",
                        self.name, trade.id, buy.filled, sell.filled, bm.base, trade.imbalance)
        trade.detail = "; ".join(notes) or None
        self.rules.closed(trade.route, t)
        self._journal_settle(trade, t)

    def _leg_status(self, leg: LegResult, planned: Decimal) -> OrderStatus:
        if leg.filled == planned:
            return OrderStatus.FILLED
        if leg.filled:
            return OrderStatus.PARTIALLY_FILLED
        return OrderStatus.EXPIRED

    def _journal_settle(self, trade: PaperTrade, t: float) -> None:
        opp = trade.opp
        legs = (("buy", Side.BUY, opp.buy_exchange, trade.buy, trade.buy_market),
                ("sell", Side.SELL, opp.sell_exchange, trade.sell, trade.sell_market))
        for role, side, exchange, leg, market in legs:
            assert leg is not None
            cid = f"{trade.id}-{role}"
            status = self._leg_status(leg, opp.amount)
            detail = None if status is OrderStatus.FILLED else (
                "IOC: the rest cancelled" if leg.filled else "IOC: nothing within the limit")
            if leg.capped_by:
                detail = f"{detail}; capped by balance" if detail else "capped by balance"
            self._move(cid, status, t, detail)
            if self.store is None:
                continue
            self._order_row(cid, {
                "status": status, "filled": leg.filled, "avg_price": leg.avg_price,
                "fee": leg.fee, "updated": t, "error": detail,
            }, final=True)
            self.store.submit_ignore("fills", [{
                "exchange": exchange, "trade_id": f"{cid}-{i}", "run_id": self.run_id, "mode": self.mode,
                "client_id": cid, "symbol": opp.symbol, "side": side, "amount": amount, "price": price,
                "fee": price * amount * market.taker_fee, "fee_asset": market.quote, "ts": t,
            } for i, (price, amount) in enumerate(leg.fills, 1)])
        if self.store is None:
            return
        assert trade.buy is not None and trade.sell is not None
        imbalance = trade.imbalance
        self._trade_row(trade.id, {
            "closed": t, "status": trade.status,
            "buy_filled": trade.buy.filled, "sell_filled": trade.sell.filled,
            "buy_cost": trade.buy.notional + trade.buy.fee, "sell_proceeds": trade.sell.notional - trade.sell.fee,
            "flatten_amount": _ZERO, "flatten_pnl": _ZERO, "realised_pnl": trade.realised_pnl,
            "imbalance": imbalance, "imbalance_action": "kept" if imbalance else "none", "detail": trade.detail,
        }, final=True)
        rows = []
        for exchange, market in ((opp.buy_exchange, trade.buy_market), (opp.sell_exchange, trade.sell_market)):
            for asset in (market.base, market.quote):
                rows.append(self._balance_row(exchange, asset, self.balances[exchange].get(asset, _ZERO), t, trade.id))
        self.store.submit_many("balances", rows)

    def _miss_at_end(self, trade: PaperTrade, t: float) -> None:
        opp = trade.opp
        self._reserve(opp.buy_exchange, trade.buy_market.quote, -opp.buy_cost)
        self._reserve(opp.sell_exchange, trade.sell_market.base, -opp.amount)
        nothing = LegResult(_ZERO, _ZERO, _ZERO, ())
        trade.buy = trade.sell = nothing
        trade.status, trade.settled = "missed", t
        trade.detail = f"stream_ended: due at {trade.due:.6f}, the stream ended at {t:.6f}"
        self.rules.closed(trade.route, t)
        for role in ("buy", "sell"):
            cid = f"{trade.id}-{role}"
            self._move(cid, OrderStatus.CANCELED, t, "stream ended before the order reached the venue")
            if self.store is not None:
                self._order_row(cid, {"status": OrderStatus.CANCELED, "updated": t,
                                      "error": "stream ended before the order reached the venue"}, final=True)
        if self.store is not None:
            self._trade_row(trade.id, {
                "closed": t, "status": "missed", "buy_filled": _ZERO, "sell_filled": _ZERO,
                "buy_cost": _ZERO, "sell_proceeds": _ZERO, "flatten_amount": _ZERO, "flatten_pnl": _ZERO,
                "realised_pnl": _ZERO, "imbalance": _ZERO, "imbalance_action": "none", "detail": trade.detail,
            }, final=True)


# -- building executors ------------------------------------------------------------------------


def starting_balances(strategy: StrategyConfig, fallback: Mapping[str, Mapping[str, Decimal]] | None) -> Balances:
    """The strategy's own ``balances`` when set, else ``fallback`` (replay ``balance`` lines, venue config).

    Raises ``BadInput`` naming the strategy when neither has any: paper trading without capital is meaningless.
    """
    if strategy.balances:
        return {ex: dict(b) for ex, b in strategy.balances.items()}
    if fallback and any(fallback.values()):
        return {ex: dict(b) for ex, b in fallback.items() if b}
    raise BadInput(
        f"strategy {strategy.name!r}: no starting balances; set strategies.balances in the config "
        "(or give the replay file balance lines)"
    )


def _num(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TypeError("not a number")
    return Decimal(repr(value) if isinstance(value, float) else value)


def replay_header(path: str | Path) -> tuple[dict[tuple[str, str], Market], Balances]:
    """The markets of a replay file and its starting balances (``balance`` lines before the first ``book`` line).

    Decodes only market and balance lines, so it is cheap next to a replay. A line it cannot read is
    skipped here: the replay itself reports it with its line number.
    """
    from arbscan.replay import _open_text

    markets: dict[tuple[str, str], Market] = {}
    balances: Balances = {}
    text, raw = _open_text(Path(path))
    seen_book = False
    try:
        for line in text:
            if '"market"' not in line and '"balance"' not in line:
                if not seen_book and '"book"' in line:
                    seen_book = True
                continue
            try:
                obj = json.loads(line)
                kind = obj.get("type")
                if kind == "market":
                    symbol = str(obj["symbol"]).upper()
                    base, _, quote = symbol.partition("/")
                    m = Market(str(obj["exchange"]).lower(), symbol, obj.get("base", base), obj.get("quote", quote),
                               _num(obj["taker_fee"]), _num(obj["amount_step"]), _num(obj["price_step"]),
                               _num(obj.get("min_amount", "0")), _num(obj.get("min_cost", "0")))
                    markets[(m.exchange, m.symbol)] = m
                elif kind == "balance":
                    if seen_book:
                        logger.info("a balance line after the first book line is not a starting balance")
                        continue
                    balances.setdefault(str(obj["exchange"]).lower(), {})[str(obj["asset"]).upper()] = _num(obj["free"])
                elif kind == "book":
                    seen_book = True
            except (ValueError, TypeError, KeyError, ArithmeticError, AttributeError):
                continue
    finally:
        text.close()
        raw.close()
    return markets, balances


def build_paper_executors(
    settings: Settings,
    names: Iterable[str],
    store: Any,
    markets: Mapping[tuple[str, str], Market],
    fallback_balances: Mapping[str, Mapping[str, Decimal]] | None,
) -> list[PaperExecutor]:
    """One ``PaperExecutor`` per strategy name (``ConfigError`` for an unknown name, ``BadInput`` without capital)."""
    executors = []
    seen: set[str] = set()
    for name in names:
        if name in seen:
            continue
        seen.add(name)
        strategy = settings.strategy(name)
        executors.append(PaperExecutor(strategy, markets, store,
                                       starting_balances=starting_balances(strategy, fallback_balances)))
    return executors


def cli_executors(
    settings: Settings,
    names: Iterable[str],
    store: Any,
    replay_file: str | Path | None = None,
) -> list[PaperExecutor]:
    """The paper executors ``arbscan replay/scan --strategy NAME`` run (one per name, in order).

    Starting balances: the strategy's own, else the venues' configured balances overlaid with the
    replay file's ``balance`` lines. Markets: the replay file's; a live scan binds the scanner's
    (``bind_markets``) once it exists.
    """
    fallback: Balances = {v.exchange: dict(v.balances) for v in settings.venues if v.balances}
    markets: dict[tuple[str, str], Market] = {}
    if replay_file is not None:
        markets, file_balances = replay_header(replay_file)
        from arbscan.replay import with_fee_overrides

        overrides = settings.fee_overrides()
        markets = {key: with_fee_overrides(m, overrides) for key, m in markets.items()}
        for exchange, assets in file_balances.items():
            fallback.setdefault(exchange, {}).update(assets)
    return build_paper_executors(settings, names, store, markets, fallback)


def print_summaries(listeners: Iterable[Any], db: Any, run_id: int | None, out: Any) -> None:
    """Print the one-screen summary of every paper or live executor among ``listeners`` (after the store is closed)."""
    if run_id is None:
        return
    for ex in listeners:
        mode, strategy = getattr(ex, "mode", None), getattr(ex, "strategy", None)
        config = strategy if isinstance(strategy, StrategyConfig) else None
        name = config.name if config is not None else strategy  # the live executor keeps the name only
        if not isinstance(mode, str) or not isinstance(name, str):
            continue
        print(format_summary(summarize(db, run_id, name, mode), config), file=out)
        skips = getattr(ex, "skips", None)
        if skips is not None:
            taken = len(getattr(ex, "trades", ()))
            why = ", ".join(f"{reason} {n}" for reason, n in sorted(skips.items())) or "none"
            print(f"  live routes seen {taken + sum(skips.values())}: taken {taken}; skipped: {why}", file=out)


# -- reading results back from the journal -----------------------------------------------------


@dataclass(slots=True)
class StrategySummary:
    """A strategy's results in one run, read from the journal."""

    strategy: str
    run_id: int
    mode: str
    trades: int = 0
    filled: int = 0
    partial: int = 0
    imbalanced: int = 0
    missed: int = 0
    missed_stream_end: int = 0  # of ``missed``: still in flight when the stream ended
    planned: Decimal = _ZERO  # base, both legs counted once
    buy_filled: Decimal = _ZERO
    sell_filled: Decimal = _ZERO
    expected_profit: Decimal = _ZERO
    realised_pnl: Decimal = _ZERO  # matched amounts, after all fees
    capital_used: Decimal = _ZERO  # quote spent on buy legs incl. fees (turnover)
    max_trade_cost: Decimal = _ZERO  # largest single buy leg incl. fee
    imbalance: Decimal = _ZERO  # sum of trades' imbalances (base)
    start: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (exchange, asset) -> amount
    final: dict[tuple[str, str], Decimal] = field(default_factory=dict)

    @property
    def fill_rate(self) -> Decimal | None:
        """Base filled over base ordered, both legs (None without trades)."""
        if not self.planned:
            return None
        return (self.buy_filled + self.sell_filled) / (2 * self.planned)

    def drift(self) -> dict[str, Decimal]:
        """Final minus starting amount per asset, summed over venues: base drift is inventory, quote drift is cash PnL."""
        out: dict[str, Decimal] = {}
        for (ex, asset), amount in self.final.items():
            out[asset] = out.get(asset, _ZERO) + amount
        for (ex, asset), amount in self.start.items():
            out[asset] = out.get(asset, _ZERO) - amount
        return out


def _dec(text: Any) -> Decimal:
    return Decimal(text) if text not in (None, "") else _ZERO


def summarize(db: Any, run_id: int, strategy: str, mode: str = "paper") -> StrategySummary:
    """PnL, fill counts, fill rate, capital used, balances and inventory drift of ``strategy`` in ``run_id``.

    ``db`` is a sqlite-utils ``Database``, a ``sqlite3.Connection`` or a journal path (opened read-only).
    Flush the store first: rows still queued are not seen.
    """
    if isinstance(db, (str, Path)):
        from arbscan.store import Store

        db = Store.open_readonly(db)
    execute = db.execute
    s = StrategySummary(strategy, run_id, mode)
    rows = execute(
        "SELECT status, planned_amount, buy_filled, sell_filled, expected_profit, realised_pnl, buy_cost, imbalance, detail "
        "FROM trades WHERE run_id = ? AND mode = ? AND strategy = ?", (run_id, mode, strategy),
    ).fetchall()
    for status, planned, bf, sf, expected, pnl, cost, imbalance, detail in rows:
        s.trades += 1
        if status in ("filled", "partial", "imbalanced", "missed"):
            setattr(s, status, getattr(s, status) + 1)
        if status == "missed" and detail and detail.startswith("stream_ended"):
            s.missed_stream_end += 1
        s.planned += _dec(planned)
        s.buy_filled += _dec(bf)
        s.sell_filled += _dec(sf)
        s.expected_profit += _dec(expected)
        s.realised_pnl += _dec(pnl)
        c = _dec(cost)
        s.capital_used += c
        s.max_trade_cost = max(s.max_trade_cost, c)
        s.imbalance += _dec(imbalance)
    for ex, asset, free, trade_id in execute(
        "SELECT exchange, asset, free, trade_id FROM balances WHERE run_id = ? AND mode = ? AND strategy = ? ORDER BY id",
        (run_id, mode, strategy),
    ).fetchall():
        if trade_id is None and (ex, asset) not in s.start:
            s.start[(ex, asset)] = _dec(free)
        s.final[(ex, asset)] = _dec(free)
    return s


def _q(d: Decimal, places: str = "0.01") -> str:
    return f"{d.quantize(Decimal(places)):,}" if d.is_finite() else str(d)


def format_summary(s: StrategySummary, strategy: StrategyConfig | None = None) -> str:
    """A one-screen text summary of one strategy's run."""
    lines = []
    head = f"strategy {s.strategy} ({s.mode}, run {s.run_id})"
    if strategy is not None:
        head += (f": latency {strategy.latency_ms} ms, min {strategy.min_net_bps} bps, min profit {strategy.min_profit}, "
                 f"max notional {strategy.max_notional if strategy.max_notional is not None else 'none'}, "
                 f"cooldown {strategy.cooldown_ms} ms")
    lines.append(head)
    missed = f"{s.missed} missed" + (f" ({s.missed_stream_end} because the stream ended)" if s.missed_stream_end else "")
    lines.append(f"  trades {s.trades}: {s.filled} filled, {s.partial} partial, {s.imbalanced} imbalanced, {missed}")
    rate = s.fill_rate
    lines.append(f"  fill rate {'-' if rate is None else f'{rate * 100:.1f} %'} "
                 f"(ordered {s.planned.normalize():f}, bought {s.buy_filled.normalize():f}, sold {s.sell_filled.normalize():f})")
    lines.append(f"  PnL after fees {_q(s.realised_pnl, '0.0001')} (expected at decision {_q(s.expected_profit, '0.0001')})")
    lines.append(f"  capital used {_q(s.capital_used)} quote on buy legs incl. fees (largest trade {_q(s.max_trade_cost)})")
    if s.final:
        lines.append("  balances (start -> end):")
        for (ex, asset) in sorted(s.final):
            start = s.start.get((ex, asset), _ZERO)
            lines.append(f"    {ex:<10} {asset:<6} {start.normalize():f} -> {s.final[(ex, asset)].normalize():f}")
    drift = {a: d for a, d in s.drift().items() if d}
    if drift:
        lines.append("  drift over all venues: " + ", ".join(f"{a} {d.normalize():+f}" for a, d in sorted(drift.items())))
    if s.imbalance:
        lines.append(f"  inventory from uneven fills: {s.imbalance.normalize():+f} base (kept, not flattened)")
    return "\n".join(lines)
from arbscan.live import LiveExecutor  # noqa: E402,F401
