"""Scripted venues for the live-execution tests: ``ExchangeAdapter``s whose order outcomes follow a script.

Imported by the other ``test_live*`` modules; the tests here only pin the fakes' own behaviour.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from adapters.base import AdapterDefaults, ExchangeAdapter
from arbscan.config.settings import LiveConfig
from arbscan.errors import InsufficientFunds, OrderNotFound, OrderOutcomeUnknown
from arbscan.execution.journal import DurableJournal
from arbscan.execution.executor import Executor
from arbscan.execution.live import live_executor
from arbscan.model import (
    Market,
    Opportunity,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Side,
)
from arbscan.execution.orders import TRANSITIONS
from arbscan.journal.store import Store

D = Decimal
FEE = D("0.0026")
OUTCOMES = ("filled", "partial", "rejected", "unknown_filled", "unknown_notfound")
PARTIAL = D("0.4")  # what a 'partial' IOC fills of a 1.0 order


class Crash(BaseException):
    """Stands for the process dying at this point (not an Exception: nothing in the executor catches it)."""


def market(exchange: str) -> Market:
    """BTC/USD with Kraken-like steps and fee."""
    return Market(exchange, "BTC/USD", "BTC", "USD", FEE, D("0.0001"), D("0.1"), D("0.0001"), D(0))


def opportunity(amount: str = "1", buy: str = "alpha", sell: str = "beta") -> Opportunity:
    """Buy ``amount`` BTC on ``buy`` up to 100.0, sell on ``sell`` down to 101.0 (figures by hand, fees 0.26 %)."""
    a = D(amount)
    buy_cost = a * D("100.0") * (1 + FEE)
    proceeds = a * D("101.0") * (1 - FEE)
    return Opportunity("BTC/USD", buy, sell, a, D("100.0"), D("101.0"), D("100.0"), D("101.0"),
                       buy_cost, proceeds, proceeds - buy_cost, D(10000) * (proceeds - buy_cost) / buy_cost, 1.0)


class ScriptedVenue(AdapterDefaults):
    """A venue whose answers to ``place_order`` follow ``script`` (one outcome per order, then 'filled').

    Outcomes: filled, partial (IOC fills 0.4 then the rest is cancelled), rejected, unknown_filled
    (the order fills but the answer is lost), unknown_notfound (the answer is lost and the venue never
    got it), unknown_listed (like unknown_filled but only the order lists know it), hang_filled (fills,
    then the answer never comes), resting (stays open until cancelled), crash_before / crash_after
    (the process dies before / after the venue got the order).
    """

    def __init__(self, name: str, script: list[str] | None = None, *, state: dict | None = None,
                 markets: dict[str, Market] | None = None) -> None:
        self.name = name
        self.markets = markets  # what load_markets returns (default: BTC/USD, ``market(name)``)
        self.script = list(script or [])
        self.sent: list[OrderRequest] = []  # every place_order call, in order
        self.orders: dict[str, OrderUpdate] = {} if state is None else state  # the venue's own records
        self.listed_only: set[str] = set()
        self.lookups = 0
        self.cancels: list[str] = []
        self.validate_orders = False
        self.balances: dict[str, Decimal] = {}  # what fetch_balances reports

    async def load_markets(self) -> dict[str, Market]:
        return dict(self.markets) if self.markets is not None else {"BTC/USD": market(self.name)}

    async def fetch_book(self, symbol, depth=50):
        raise NotImplementedError

    async def watch_books(self, symbols):  # pragma: no cover - not used by the executor
        if False:
            yield None

    async def fetch_balances(self) -> dict[str, Decimal]:
        return dict(self.balances)

    def _record(self, req: OrderRequest, status: OrderStatus, filled: Decimal) -> OrderUpdate:
        avg = req.limit_price if filled else None
        update = OrderUpdate(req.client_id, self.name, req.symbol, status, filled, avg,
                             filled * req.limit_price * FEE, f"{self.name}-{len(self.orders) + 1}")
        self.orders[req.client_id] = update
        return update

    async def place_order(self, req: OrderRequest) -> OrderUpdate:
        assert req.exchange == self.name and req.time_in_force == "IOC"
        self.sent.append(req)
        if self.validate_orders:  # as KrakenAdapter(validate_orders=True): checked by the venue, never executed
            return OrderUpdate(req.client_id, self.name, req.symbol, OrderStatus.CANCELED, D(0), None, D(0))
        outcome = self.script.pop(0) if self.script else "filled"
        if outcome == "filled":
            return self._record(req, OrderStatus.FILLED, req.amount)
        if outcome == "partial":
            return self._record(req, OrderStatus.CANCELED, min(PARTIAL, req.amount))
        if outcome == "rejected":
            raise InsufficientFunds(f"{self.name}: insufficient funds")
        if outcome in ("unknown_filled", "unknown_listed"):
            self._record(req, OrderStatus.FILLED, req.amount)
            if outcome == "unknown_listed":
                self.listed_only.add(req.client_id)
            raise OrderOutcomeUnknown(f"{self.name}: read timeout")
        if outcome == "unknown_notfound":
            raise OrderOutcomeUnknown(f"{self.name}: connection reset")
        if outcome == "hang_filled":
            self._record(req, OrderStatus.FILLED, req.amount)
            await asyncio.sleep(3600)
        if outcome == "resting":
            return self._record(req, OrderStatus.OPEN, D(0))
        if outcome == "crash_before":
            raise Crash()
        if outcome == "crash_after":
            self._record(req, OrderStatus.FILLED, req.amount)
            raise Crash()
        raise AssertionError(f"unknown outcome {outcome}")

    async def fetch_order(self, symbol: str, client_id: str) -> OrderUpdate:
        self.lookups += 1
        if client_id in self.orders and client_id not in self.listed_only:
            return self.orders[client_id]
        raise OrderNotFound(f"{self.name}: no order {client_id}")

    async def closed_orders(self, symbol: str) -> list[OrderUpdate]:
        return [o for o in self.orders.values() if o.status in (OrderStatus.FILLED, OrderStatus.CANCELED)]

    async def open_orders(self, symbol: str) -> list[OrderUpdate]:
        return [o for o in self.orders.values() if o.status is OrderStatus.OPEN]

    async def cancel_order(self, symbol: str, client_id: str) -> OrderUpdate:
        self.cancels.append(client_id)
        o = self.orders[client_id]
        if o.status is OrderStatus.OPEN:
            self.orders[client_id] = OrderUpdate(o.client_id, o.exchange, o.symbol, OrderStatus.CANCELED, o.filled,
                                                 o.avg_price, o.fee, o.exchange_order_id)
        return self.orders[client_id]

    async def close(self) -> None:
        pass


def live_config(**kw) -> LiveConfig:
    """Fast deadlines for tests; everything else as given."""
    base = dict(max_notional_per_trade=D(1000), reconcile_deadline_s=0.2, order_timeout_s=0.2,
                max_consecutive_failures=100, daily_loss_limit=D(1000), max_orders_per_minute=1000)
    base.update(kw)
    return LiveConfig(**base)


async def started_executor(store: Store, venues: dict[str, ScriptedVenue], **kw) -> Executor:
    """A live executor on ``store``'s file with scripted venues, start-up reconciliation done."""
    cfg = kw.pop("config", None) or live_config()
    strategy = kw.pop("strategy", None)
    ex = live_executor(venues, DurableJournal.for_store(store), cfg, strategy, poll_interval_s=0.01, **kw)
    await ex.start()
    return ex


def journal_rows(store: Store, sql: str, *params) -> list[dict]:
    """Rows of a query on the journal file (committed data only)."""
    import sqlite3

    conn = sqlite3.connect(str(store.path))
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


def assert_journal_consistent(store: Store, venues: dict[str, ScriptedVenue], trade_id: str) -> None:
    """The journal agrees with itself and with what the venues hold, for one paired trade."""
    orders = journal_rows(store, "SELECT * FROM orders WHERE trade_id = ?", trade_id)
    (trade,) = journal_rows(store, "SELECT * FROM trades WHERE id = ?", trade_id)
    assert {o["role"] for o in orders} >= {"buy", "sell"}
    for o in orders:
        events = journal_rows(store, "SELECT * FROM order_events WHERE client_id = ? ORDER BY id", o["client_id"])
        assert events[0]["from_status"] is None and events[0]["to_status"] == "created"
        for prev, ev in zip(events, events[1:]):
            assert ev["from_status"] == prev["to_status"]
            assert OrderStatus(ev["to_status"]) in TRANSITIONS[OrderStatus(ev["from_status"])]
        assert events[-1]["to_status"] == o["status"]
        fills = journal_rows(store, "SELECT amount FROM fills WHERE client_id = ?", o["client_id"])
        assert sum((D(f["amount"]) for f in fills), D(0)) == D(o["filled"])
        at_venue = venues[o["exchange"]].orders.get(o["client_id"])
        if at_venue is not None and o["status"] != "unknown":
            assert D(o["filled"]) == at_venue.filled
        if at_venue is None:
            assert D(o["filled"]) == 0 and o["status"] in ("rejected", "unknown")
    by_role = {o["role"]: o for o in orders if o["role"] in ("buy", "sell")}
    assert D(trade["buy_filled"]) == D(by_role["buy"]["filled"])
    assert D(trade["sell_filled"]) == D(by_role["sell"]["filled"])
    signed = sum((D(o["filled"]) * (1 if o["side"] == "buy" else -1) for o in orders if o["role"] != "convert"),
                 D(0))  # the base; a cross-quote conversion leg trades the two quotes
    assert D(trade["imbalance"]) == signed
    assert (trade["status"] == "unknown") == any(o["status"] == "unknown" for o in orders)
    assert trade["closed"] is not None


def assert_no_duplicate_orders(venues: dict[str, ScriptedVenue]) -> None:
    """No client id was ever sent twice, on any venue."""
    ids = [r.client_id for v in venues.values() for r in v.sent]
    assert len(ids) == len(set(ids))


def test_scripted_venue_is_an_exchange_adapter():
    assert isinstance(ScriptedVenue("alpha"), ExchangeAdapter)


async def test_scripted_venue_loses_the_answer_but_keeps_the_order():
    v = ScriptedVenue("alpha", ["unknown_filled"])
    req = OrderRequest("c1", "alpha", "BTC/USD", Side.BUY, D(1), D(100))
    with pytest.raises(OrderOutcomeUnknown):
        await v.place_order(req)
    assert (await v.fetch_order("BTC/USD", "c1")).status is OrderStatus.FILLED
