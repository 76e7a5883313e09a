"""Live trading of cross-quote routes on scripted venues: a third venue for the conversion market.

Venues (``test_live_fakes.ScriptedVenue``: IOC orders fill at their limit, taker fee 0.26 % in quote):
``alpha`` trades BTC/USD, ``beta`` BTC/EUR, ``gamma`` EUR/USD (the conversion, amount step 0.01 EUR).
The plan (by hand, as a scanner would hand it over): buy 1 BTC on alpha up to 100 USD, sell it on beta
down to 95 EUR, sell the EUR on gamma down to 1.10 USD. The scripted fills:

=====================  =========================================  ===================
leg                    arithmetic                                 result
=====================  =========================================  ===================
buy 1 BTC at 100       100 + 0.26 % (0.26)                        100.26 USD spent
sell 1 BTC at 95       95 - 0.26 % (0.247)                        94.753 EUR received
convert 94.75 EUR      94.753 rounded down to the 0.01 step;      103.954015 USD
at 1.10                104.225 - 0.26 % (0.270985)
left                   94.753 - 94.75                             0.003 EUR
=====================  =========================================  ===================

The EUR left is valued at gamma's book as the executor last saw it, after gamma's 0.26 % fee.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from test_live_fakes import (
    FEE,
    Crash,
    ScriptedVenue,
    assert_journal_consistent,
    assert_no_duplicate_orders,
    journal_rows,
    live_config,
)

from arbscan.config.settings import StrategyConfig
from arbscan.crossspread import CrossOpportunity
from arbscan.execution.journal import DurableJournal
from arbscan.execution.live import live_executor
from arbscan.execution.summary import format_summary, summarize
from arbscan.model import BookSnapshot, Market

D = Decimal
EACH_TRADE = StrategyConfig("x", convert="each_trade")


def _market(exchange: str, symbol: str, step: str) -> Market:
    base, quote = symbol.split("/")
    return Market(exchange, symbol, base, quote, FEE, D(step), D("0.0001"), D(0), D(0))


MARKETS = {"alpha": {"BTC/USD": _market("alpha", "BTC/USD", "0.0001")},
           "beta": {"BTC/EUR": _market("beta", "BTC/EUR", "0.0001")},
           "gamma": {"EUR/USD": _market("gamma", "EUR/USD", "0.01")}}


def venues(alpha=(), beta=(), gamma=(), state=None) -> dict[str, ScriptedVenue]:
    """The three scripted venues (``state``: the venue-side records of an earlier process)."""
    scripts = {"alpha": alpha, "beta": beta, "gamma": gamma}
    return {name: ScriptedVenue(name, list(scripts[name]), markets=MARKETS[name],
                                state=None if state is None else state[name].orders) for name in scripts}


def markets() -> dict[tuple[str, str], Market]:
    return {(ex, sym): m for ex, ms in MARKETS.items() for sym, m in ms.items()}


def gamma_book(bid: str = "1.10") -> BookSnapshot:
    return BookSnapshot("gamma", "EUR/USD", ((D(bid), D(1000)),), ((D("1.11"), D(1000)),), 1.0, 1.0)


def plan() -> CrossOpportunity:
    """Buy 1 BTC on alpha <= 100, sell on beta >= 95, convert the EUR on gamma >= 1.10 (the figures above)."""
    z = D(0)
    return CrossOpportunity(
        symbol="BTC/USD", sell_symbol="BTC/EUR", buy_exchange="alpha", sell_exchange="beta",
        conversion_exchange="gamma", conversion_symbol="EUR/USD", amount=D(1), buy_vwap=D(100), sell_vwap=D(95),
        buy_limit=D(100), sell_limit=D(95), buy_cost=D("100.26"), sell_proceeds=D("94.753"), buy_fee=D("0.26"),
        sell_fee=D("0.247"), conversion_side="sell", conversion_amount=D("94.75"), conversion_vwap=D("1.10"),
        conversion_limit=D("1.10"), conversion_fee=D("0.270985"), conversion_in=D("94.75"),
        conversion_out=D("103.954015"), conversion_rate=D("1.10"), unconverted=D("0.003"),
        net_profit=D("3.694015"), net_bps=z, ts=1.0)


async def executor(store, vs, *, book: BookSnapshot | None = gamma_book(), strategy=EACH_TRADE):
    """A live executor on the three venues; ``book`` (gamma's) is known before start-up runs."""
    ex = live_executor(vs, DurableJournal.for_store(store), live_config(), strategy, markets=markets(),
                       poll_interval_s=0.01)
    if book is not None:
        ex.venue.on_book(book, 1.0)
    await ex.start()
    return ex


def trade_row(store) -> dict:
    (row,) = journal_rows(store, "SELECT * FROM trades")
    return row


def orders_by_role(store) -> dict[str, dict]:
    return {o["role"]: o for o in journal_rows(store, "SELECT * FROM orders")}


async def test_three_legs_each_sent_once(store):
    vs = venues()
    ex = await executor(store, vs)
    trade = await ex.execute(plan())
    assert [len(v.sent) for v in vs.values()] == [1, 1, 1]
    (conv,) = vs["gamma"].sent
    assert (conv.symbol, conv.side.value, conv.amount, conv.limit_price, conv.time_in_force) == (
        "EUR/USD", "sell", D("94.75"), D("1.10"), "IOC")
    orders = orders_by_role(store)
    assert {r: (o["exchange"], o["symbol"], o["status"], D(o["filled"])) for r, o in orders.items()} == {
        "buy": ("alpha", "BTC/USD", "filled", D(1)), "sell": ("beta", "BTC/EUR", "filled", D(1)),
        "convert": ("gamma", "EUR/USD", "filled", D("94.75"))}
    row = trade_row(store)
    assert row["status"] == "filled" and trade.status == "filled"
    assert D(row["sell_proceeds"]) == D("94.753") and D(row["conversion_proceeds"]) == D("103.954015")
    # 0.003 EUR left below a step, valued 0.003 * 1.10 * 0.9974 = 0.00329142 USD;
    # PnL 103.954015 + 0.00329142 - 100.26 = 3.69730642 USD
    assert D(row["quote_imbalance"]) == D("0.003") and D(row["quote_imbalance_value"]) == D("0.00329142")
    assert D(row["realised_pnl"]) == D("3.69730642")
    assert "left below one conversion step" in row["detail"]
    assert_journal_consistent(store, vs, row["id"])
    assert not ex.kill.halted


async def test_the_intent_is_on_disk_before_the_conversion_is_sent(store):
    seen = []

    class Watching(ScriptedVenue):
        async def place_order(self, req):
            seen.append(journal_rows(store, "SELECT status FROM orders WHERE client_id = ?", req.client_id))
            return await super().place_order(req)

    vs = venues()
    vs["gamma"] = Watching("gamma", markets=MARKETS["gamma"])
    ex = await executor(store, vs)
    await ex.execute(plan())
    assert seen == [[{"status": "created"}]]


async def test_a_refused_conversion_leaves_a_q2_imbalance_and_is_never_resent(store):
    # gamma refuses (insufficient funds): all 94.753 EUR stay. gamma's book now bids 1.05:
    # 94.753 * 1.05 * 0.9974 = 99.23197431 USD; PnL 99.23197431 - 100.26 = -1.02802569 USD
    vs = venues(gamma=["rejected"])
    ex = await executor(store, vs, book=gamma_book("1.05"))
    trade = await ex.execute(plan())
    assert len(vs["gamma"].sent) == 1 and vs["gamma"].lookups == 0
    row = trade_row(store)
    assert (row["status"], row["imbalance_action"], D(row["imbalance"])) == ("imbalanced", "kept", D(0))
    assert D(row["quote_imbalance"]) == D("94.753") and D(row["quote_imbalance_value"]) == D("99.23197431")
    assert D(row["conversion_filled"]) == 0 and D(row["realised_pnl"]) == D("-1.02802569")
    assert "Q2 imbalance 94.753 EUR on beta" in row["detail"] and "not resent" in row["detail"]
    assert orders_by_role(store)["convert"]["status"] == "rejected"
    assert ex.risk.consecutive_failures == 1  # a conversion that did not complete is a failed trade
    assert trade.quote_imbalance == D("94.753")
    assert_journal_consistent(store, vs, row["id"])
    assert_no_duplicate_orders(vs)


async def test_a_conversion_that_fills_partly_leaves_the_rest(store):
    # the IOC fills 0.4 EUR: 0.44 - 0.26 % = 0.438856 USD; 94.353 EUR left, 94.353 * 1.10 * 0.9974 = 103.51845042
    vs = venues(gamma=["partial"])
    ex = await executor(store, vs)
    await ex.execute(plan())
    assert len(vs["gamma"].sent) == 1
    row = trade_row(store)
    assert row["status"] == "imbalanced"
    assert D(row["conversion_filled"]) == D("0.4") and D(row["conversion_proceeds"]) == D("0.438856")
    assert D(row["quote_imbalance"]) == D("94.353") and D(row["quote_imbalance_value"]) == D("103.51845042")
    assert "filled 0.4 of 94.75" in row["detail"]
    assert_journal_consistent(store, vs, row["id"])


async def test_a_lost_answer_is_reconciled_by_client_id_not_resent(store):
    vs = venues(gamma=["unknown_filled"])
    ex = await executor(store, vs)
    await ex.execute(plan())
    assert len(vs["gamma"].sent) == 1 and vs["gamma"].lookups >= 1
    row = trade_row(store)
    assert row["status"] == "filled" and D(row["conversion_filled"]) == D("94.75")
    assert D(row["realised_pnl"]) == D("3.69730642")
    assert not ex.kill.halted


async def test_hold_sends_no_conversion_leg(store):
    # the EUR stay on beta: 94.753 * 1.10 * 0.9974 = 103.95730642 USD; PnL 3.69730642 USD
    vs = venues()
    ex = await executor(store, vs, strategy=StrategyConfig("x", convert="hold"))
    await ex.execute(plan())
    assert vs["gamma"].sent == []
    row = trade_row(store)
    assert (row["status"], row["convert"], row["conversion_filled"]) == ("filled", "hold", None)
    assert D(row["quote_imbalance"]) == D("94.753") and D(row["quote_imbalance_value"]) == D("103.95730642")
    assert D(row["realised_pnl"]) == D("3.69730642")


async def test_halted_after_the_legs_the_conversion_is_not_sent(store):
    # a halt that comes while the legs are out (set when beta answers): the EUR are reported, not converted
    vs = venues()
    ex = await executor(store, vs)

    class HaltingBeta(ScriptedVenue):
        async def place_order(self, req):
            update = await super().place_order(req)
            ex.kill.halt("test: halted while the legs were out")
            return update

    vs["beta"] = ex.venue.adapters["beta"] = HaltingBeta("beta", markets=MARKETS["beta"])
    await ex.execute(plan())
    assert vs["gamma"].sent == []
    row = trade_row(store)
    assert row["status"] == "imbalanced" and D(row["quote_imbalance"]) == D("94.753")
    assert "conversion not sent: trading halted" in row["detail"]


# -- restarts: a conversion intent left by a process that died -------------------------------------------------


async def test_crash_before_the_conversion_is_sent_settles_at_start_up_without_sending(store):
    vs = venues(gamma=["crash_before"])
    ex = await executor(store, vs)
    with pytest.raises(Crash):
        await ex.execute(plan())
    assert orders_by_role(store)["convert"]["status"] == "created"  # the intent was on disk before the send

    again = venues(state=vs)
    await executor(store, again, book=None)  # a new process: no book seen yet
    assert all(v.sent == [] for v in again.values())
    conv = orders_by_role(store)["convert"]
    assert conv["status"] == "rejected" and "never placed" in conv["error"]
    row = trade_row(store)
    assert row["status"] == "imbalanced" and D(row["quote_imbalance"]) == D("94.753")
    # no conversion book to value the EUR with: carried at cost, so the PnL is 0, not -100.26
    assert row["quote_imbalance_value"] is None and D(row["realised_pnl"]) == 0
    assert "start-up" in row["detail"] and "carried at its cost" in row["detail"]
    assert_journal_consistent(store, again, row["id"])
    text = format_summary(summarize(str(store.path), row["run_id"], "x", "live"))
    assert "quote held by cross-quote trades: 94.753 EUR" in text and "some EUR not valued" in text


async def test_crash_after_the_conversion_was_sent_counts_its_fill_at_start_up(store):
    vs = venues(gamma=["crash_after"])
    ex = await executor(store, vs)
    with pytest.raises(Crash):
        await ex.execute(plan())
    again = venues(state=vs)
    ex2 = await executor(store, again)
    assert all(v.sent == [] for v in again.values())
    row = trade_row(store)
    assert row["status"] == "filled" and D(row["conversion_filled"]) == D("94.75")
    assert D(row["conversion_proceeds"]) == D("103.954015") and D(row["realised_pnl"]) == D("3.69730642")
    assert_journal_consistent(store, again, row["id"])
    # and it trades again with new client ids only
    await ex2.execute(plan())
    ids = [r.client_id for v in (*vs.values(), *again.values()) for r in v.sent]
    assert len(ids) == len(set(ids)) == 6
