"""PaperExecutor on hand-built scenarios; every expected figure is worked out by hand in the comments.

Markets: venue ``a`` (where we buy) charges 0.1 %, venue ``b`` (where we sell) 0.2 %, amount step
0.0001. Each test feeds books to a real ``Scanner`` with the executor as its listener.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from conftest import book, market

from arbscan.parts import starting_balances
from arbscan.config.settings import StrategyConfig
from arbscan.errors import BadInput
from arbscan.execution.executor import Executor
from arbscan.model import OrderStatus, OrderUpdate, Side
from arbscan.execution.paper import paper_executor, simulate_ioc
from arbscan.scan.scanner import Scanner
from arbscan.execution.summary import summarize

SYM = "BTC/USD"


def mk(exchange, fee):
    return market(exchange, SYM, fee)


MARKETS = {("a", SYM): mk("a", "0.001"), ("b", SYM): mk("b", "0.002"), ("c", SYM): mk("c", "0")}


def run(events, *, latency_ms=100, balances=None, store=None, close_at=None, **kw):
    """Feed ``events`` (books) through a scanner with one paper executor; returns the executor."""
    strategy = StrategyConfig("s", min_net_bps=D(0), latency_ms=latency_ms, **kw)
    balances = balances or {"a": {"USD": D(1000)}, "b": {"BTC": D(2)}}
    ex = paper_executor(strategy, MARKETS, store, starting_balances=balances)
    sc = Scanner(MARKETS, listeners=[ex])
    for b in events:
        sc.on_book_event(b)
    sc.close(close_at)
    return ex


# One cross: a sells 1 BTC at 100, b buys 1 BTC at 102.
# Plan: amount 1; buy cost 100 * 1.001 = 100.1; sell proceeds 102 * 0.998 = 101.796; profit 1.696.
CROSS = [book("a", 1.0, bids=[("99", "1")], asks=[("100", "1")]), book("b", 1.05, bids=[("102", "1")], asks=[("103", "1")])]


def test_full_fill_moves_both_venues_and_pays_both_fees():
    # decided at 1.05, due at 1.15; the event at 1.2 (on venue c) settles it against the same books,
    # as of the due time (nothing changed in between)
    ex = run(CROSS + [book("c", 1.2, bids=[("1", "1")], asks=[("1000", "1")])])
    (trade,) = ex.trades
    assert (trade.opened, trade.closed) == (1.05, 1.15)
    assert trade.detail is None
    assert trade.status == "filled"
    assert (trade.buy.filled, trade.buy.notional, trade.buy.fee) == (D(1), D(100), D("0.1"))
    assert (trade.sell.filled, trade.sell.notional, trade.sell.fee) == (D(1), D(102), D("0.204"))
    assert trade.realised_pnl == D("1.696")
    # a: USD 1000 - 100.1, BTC +1; b: BTC 2 - 1, USD +101.796
    assert ex.venue.balances == {"a": {"USD": D("899.9"), "BTC": D(1)}, "b": {"BTC": D(1), "USD": D("101.796")}}
    assert ex.reserved == {}


def test_partial_fill_when_the_sell_book_thinned_during_latency():
    # at 1.1 (inside the 100 ms) b's bid at 102 shrinks to 0.4 and the next bid, 101.5, is below the
    # sell limit 102: the sell leg fills 0.4 only; the buy leg fills 1 -> imbalance +0.6 BTC kept.
    thin = book("b", 1.1, bids=[("102", "0.4"), ("101.5", "1")], asks=[("103", "1")])
    ex = run(CROSS + [thin, book("c", 1.2, bids=[("1", "1")], asks=[("1000", "1")])])
    (trade,) = ex.trades
    assert trade.status == "imbalanced"
    assert (trade.sell.filled, trade.sell.notional, trade.sell.fee) == (D("0.4"), D("40.8"), D("0.0816"))
    assert trade.imbalance == D("0.6")
    # matched 0.4: 0.4 * 102 * 0.998 - 0.4 * 100 * 1.001 = 40.7184 - 40.04
    assert trade.realised_pnl == D("0.6784")
    assert ex.venue.balances == {"a": {"USD": D("899.9"), "BTC": D(1)}, "b": {"BTC": D("1.6"), "USD": D("40.7184")}}


def test_the_same_thinning_after_the_orders_arrived_does_not_matter():
    # latency 0: due at 1.05, settled by the event at 1.1 against the books *before* it -> full fill
    thin = book("b", 1.1, bids=[("102", "0.4"), ("101.5", "1")], asks=[("103", "1")])
    ex = run(CROSS + [thin], latency_ms=0)
    assert [t.status for t in ex.trades] == ["filled"]
    assert ex.trades[0].closed == 1.05


def test_both_legs_thinned_is_a_balanced_partial():
    # during latency a's ask keeps 0.3 at 100 (next 100.5 > limit 100) and b's bid keeps 0.3 at 102
    events = CROSS + [
        book("a", 1.08, bids=[("99", "1")], asks=[("100", "0.3"), ("100.5", "1")]),
        book("b", 1.09, bids=[("102", "0.3"), ("101", "1")], asks=[("103", "1")]),
    ]
    ex = run(events, close_at=1.3)
    (trade,) = ex.trades
    assert trade.status == "partial"
    assert (trade.buy.filled, trade.sell.filled) == (D("0.3"), D("0.3"))
    # 0.3 * 102 * 0.998 - 0.3 * 100 * 1.001 = 30.5388 - 30.03
    assert trade.realised_pnl == D("0.5088")
    assert trade.closed == 1.15  # settled by on_close (no event after the due time), as of the due time


def test_miss_when_the_cross_vanished_during_latency():
    # a's ask goes to 101 (> buy limit 100), b's bid to 99 (< sell limit 102): both IOCs expire
    events = CROSS + [book("a", 1.07, bids=[("99", "1")], asks=[("101", "1")]),
                      book("b", 1.08, bids=[("99", "1")], asks=[("103", "1")])]
    ex = run(events, close_at=2.0)
    (trade,) = ex.trades
    assert trade.status == "missed"
    assert (trade.buy.filled, trade.sell.filled) == (D(0), D(0))
    assert ex.venue.balances == {"a": {"USD": D(1000)}, "b": {"BTC": D(2)}}
    assert trade.detail is None  # a plain miss, not "stream ended"


def test_quote_balance_caps_the_planned_size():
    # a holds 50.05 USD: 50.05 / (100 * 1.001) = 0.5 BTC; 0.5 * 102 * 0.998 - 50.05 = 0.848
    ex = run(CROSS, balances={"a": {"USD": D("50.05")}, "b": {"BTC": D(2)}}, close_at=2.0)
    (trade,) = ex.trades
    assert (trade.opp.amount, trade.status, trade.realised_pnl) == (D("0.5"), "filled", D("0.848"))
    assert ex.venue.balances["a"] == {"USD": D(0), "BTC": D("0.5")}


def test_base_balance_caps_the_planned_size():
    ex = run(CROSS, balances={"a": {"USD": D(1000)}, "b": {"BTC": D("0.25")}}, close_at=2.0)
    assert ex.trades[0].opp.amount == D("0.25")
    assert ex.venue.balances["b"] == {"BTC": D(0), "USD": D("25.4490")}  # 0.25 * 102 * 0.998


def test_quote_balance_caps_the_buy_leg_at_settle_time():
    # zero fees (venue c buys, b2 sells). Plan on asks 100 x 0.5 + 101 x 0.5: amount 1, cost 100.5 =
    # the whole balance, limit 101. During latency the 100 level goes: at settle 1 BTC costs 101.
    # The buy leg is capped by the 100.5 USD held: 100.5 / 101 = 0.99504.. -> 0.9950 (step), cost
    # 100.495, 0.005 USD left; the sell leg sells 1 -> imbalance -0.005 BTC, no balance negative.
    markets = {("c", SYM): mk("c", "0"), ("d", SYM): mk("d", "0")}
    strategy = StrategyConfig("s", min_net_bps=D(0), latency_ms=100)
    ex = paper_executor(strategy, markets, None, starting_balances={"c": {"USD": D("100.5")}, "d": {"BTC": D(1)}})
    sc = Scanner(markets, listeners=[ex])
    sc.on_book_event(book("c", 1.0, bids=[("90", "1")], asks=[("100", "0.5"), ("101", "0.5")]))
    sc.on_book_event(book("d", 1.0, bids=[("105", "1")], asks=[("106", "1")]))
    sc.on_book_event(book("c", 1.05, bids=[("90", "1")], asks=[("101", "1")]))
    sc.close(2.0)
    (trade,) = ex.trades
    assert (trade.opp.amount, trade.opp.buy_cost, trade.opp.buy_limit) == (D(1), D("100.5"), D(101))
    assert (trade.buy.filled, trade.buy.notional) == (D("0.9950"), D("100.495"))
    assert "capped by balance" in trade.buy.error and trade.detail.startswith("buy capped by USD balance")
    assert trade.imbalance == D("-0.005")
    assert ex.venue.balances == {"c": {"USD": D("0.005"), "BTC": D("0.9950")}, "d": {"BTC": D(0), "USD": D(105)}}


def test_one_trade_per_route_until_settled_then_cooldown():
    # every 10 ms from 1.05 to 1.54 both books are refreshed (a first, then b) with the same cross;
    # latency 100 ms, cooldown 300 ms. Trade 1 is decided at 1.05 (b's event), due 1.15: the a event
    # at 1.15 settles it first, so the route cools until 1.45; trade 2 is decided at 1.45 (a's event).
    # busy: 1.06..1.14 (9 ticks x 2 events) + 1.45 (b) + 1.46..1.54 (9 x 2) = 37
    # cooldown: 1.15..1.44 (30 ticks x 2 events) = 60
    events = []
    for i in range(50):
        t = round(1.05 + 0.01 * i, 2)
        events += [book("a", t, bids=[("99", "1")], asks=[("100", "1")]), book("b", t, bids=[("102", "1")], asks=[("103", "1")])]
    ex = run(events, balances={"a": {"USD": D(10000)}, "b": {"BTC": D(20)}}, cooldown_ms=300)
    assert [t.opened for t in ex.trades] == [1.05, 1.45]
    # trade 2 is due at 1.55, after the last event (1.54): it ends 'missed' because the stream ended
    assert [(t.status, t.closed) for t in ex.trades] == [("filled", 1.15), ("missed", 1.54)]
    assert ex.trades[1].detail.startswith("stream_ended")
    assert (ex.skips["busy"], ex.skips["cooldown"]) == (37, 60)


def test_several_trades_in_flight_cannot_spend_the_same_quote():
    # a holds 150.15 USD: enough for 1.5 BTC. Two routes buy on a (a->b and a->c); the first takes
    # 1 BTC (100.1 reserved), the second may only plan with the 50.05 left: 0.5 BTC.
    markets = dict(MARKETS)
    strategy = StrategyConfig("s", min_net_bps=D(0), latency_ms=100)
    bal = {"a": {"USD": D("150.15")}, "b": {"BTC": D(5)}, "c": {"BTC": D(5)}}
    ex = paper_executor(strategy, markets, None, starting_balances=bal)
    sc = Scanner(markets, listeners=[ex])
    sc.on_book_event(book("a", 1.0, bids=[("99", "1")], asks=[("100", "5")]))
    sc.on_book_event(book("b", 1.01, bids=[("102", "1")], asks=[("103", "1")]))
    sc.on_book_event(book("c", 1.02, bids=[("102", "5")], asks=[("103", "1")]))
    sc.close(2.0)
    assert [(t.route[2], t.opp.amount, t.status) for t in ex.trades] == [("b", D(1), "filled"), ("c", D("0.5"), "filled")]
    assert ex.venue.balances["a"]["USD"] == D(0)


def test_paper_executor_is_an_executor():
    ex = paper_executor(StrategyConfig("s"), MARKETS, None, starting_balances={"a": {"USD": D(1)}})
    assert isinstance(ex, Executor) and ex.mode == "paper"


def test_trades_in_flight_at_the_end_are_missed_because_the_stream_ended():
    ex = run(CROSS, latency_ms=5000, close_at=1.5)
    (trade,) = ex.trades
    assert trade.status == "missed" and trade.detail.startswith("stream_ended")
    assert ex.venue.balances == {"a": {"USD": D(1000)}, "b": {"BTC": D(2)}}


def test_no_starting_balances_is_bad_input_naming_the_strategy():
    with pytest.raises(BadInput, match="'lazy'"):
        starting_balances(StrategyConfig("lazy"), {})
    with pytest.raises(BadInput, match="'lazy'"):
        paper_executor(StrategyConfig("lazy"), MARKETS, None, starting_balances={})
    own = StrategyConfig("own", balances={"a": {"USD": D(5)}})
    assert starting_balances(own, {"b": {"BTC": D(1)}}) == {"a": {"USD": D(5)}}
    assert starting_balances(StrategyConfig("f"), {"b": {"BTC": D(1)}}) == {"b": {"BTC": D(1)}}


def test_simulate_ioc_respects_the_limit_and_the_base_balance():
    bids = ((D(102), D("0.5")), (D(101), D(1)), (D(100), D(1)))
    leg = simulate_ioc(bids, Side.SELL, D(2), D(101), D("0.002"), D("0.0001"), D("1.25"))
    # base 1.25 caps: 0.5 at 102 + 0.75 at 101 = 51 + 75.75 = 126.75; fee 0.2535
    assert (leg.filled, leg.notional, leg.fee, leg.capped_by) == (D("1.25"), D("126.75"), D("0.2535"), "balance")
    leg = simulate_ioc(bids, Side.SELL, D(2), D(101), D("0.002"), D("0.0001"), D(10))
    assert (leg.filled, leg.fills) == (D("1.5"), ((D(102), D("0.5")), (D(101), D(1))))  # 100 is below the limit


# -- the journal -------------------------------------------------------------------------------


def test_journal_rows_of_a_partial_trade(store):
    thin = book("b", 1.1, bids=[("102", "0.4"), ("101.5", "1")], asks=[("103", "1")])
    run(CROSS + [thin], store=store, close_at=1.2)
    store.flush()
    db, rid = store.db, store.run_id
    (trade,) = db.execute("SELECT id, mode, strategy, status, planned_amount, buy_filled, sell_filled, buy_cost, "
                          "sell_proceeds, realised_pnl, imbalance, imbalance_action, opened, closed FROM trades").fetchall()
    tid = f"paper-{rid}-s-1"
    assert trade[:4] == (tid, "paper", "s", "imbalanced")
    assert [D(x) for x in trade[4:11]] == [D(1), D(1), D("0.4"), D("100.1"), D("40.7184"), D("0.6784"), D("0.6")]
    assert trade[11:] == ("kept", 1.05, 1.15)
    orders = db.execute("SELECT client_id, side, amount, limit_price, status, filled, avg_price, fee, time_in_force "
                        "FROM orders ORDER BY client_id").fetchall()
    assert [(o[0], o[1], D(o[2]), D(o[3]), o[4], D(o[5]), D(o[6]), D(o[7]), o[8]) for o in orders] == [
        (f"{tid}-buy", "buy", D(1), D(100), "filled", D(1), D(100), D("0.1"), "IOC"),
        (f"{tid}-sell", "sell", D(1), D(102), "partially_filled", D("0.4"), D(102), D("0.0816"), "IOC")]
    events = db.execute("SELECT client_id, from_status, to_status FROM order_events ORDER BY id").fetchall()
    assert [e for e in events if e[0].endswith("sell")] == [
        (f"{tid}-sell", None, "created"), (f"{tid}-sell", "created", "submitted"),
        (f"{tid}-sell", "submitted", "partially_filled")]
    fills = db.execute("SELECT exchange, trade_id, side, amount, price, fee, fee_asset, mode FROM fills ORDER BY exchange").fetchall()
    assert [(f[0], f[1], f[2], D(f[3]), D(f[4]), D(f[5]), f[6], f[7]) for f in fills] == [
        ("a", f"{tid}-buy-1", "buy", D(1), D(100), D("0.1"), "USD", "paper"),
        ("b", f"{tid}-sell-1", "sell", D("0.4"), D(102), D("0.0816"), "USD", "paper")]
    bal = [(e, a, D(f), t) for e, a, f, t in db.execute("SELECT exchange, asset, free, trade_id FROM balances ORDER BY id")]
    assert bal[:2] == [("a", "USD", D(1000), None), ("b", "BTC", D(2), None)]
    assert sorted(bal[2:]) == sorted([("a", "BTC", D(1), tid), ("a", "USD", D("899.9"), tid),
                                      ("b", "BTC", D("1.6"), tid), ("b", "USD", D("40.7184"), tid)])


def test_summary_from_the_journal(store):
    # two trades: the partial one above (PnL 0.6784) and, after a 1 s gap, a full fill (PnL 1.696)
    thin = book("b", 1.1, bids=[("102", "0.4"), ("101.5", "1")], asks=[("103", "1")])
    later = [book("b", 3.0, bids=[("102", "1")], asks=[("103", "1")]), book("a", 3.01, bids=[("99", "1")], asks=[("100", "1")])]
    # the a book at 1.0 is stale by 3.0 (max age 2 s) so the b event at 3.0 makes no trade; a's at 3.01 does
    run(CROSS + [thin] + later, store=store, balances={"a": {"USD": D(1000)}, "b": {"BTC": D(5)}}, close_at=4.0)
    store.flush()
    s = summarize(store.db, store.run_id, "s")
    assert (s.trades, s.filled, s.imbalanced, s.partial, s.missed) == (2, 1, 1, 0, 0)
    assert s.realised_pnl == D("2.3744")  # 0.6784 + 1.696
    assert s.fill_rate == D("0.85")  # (2 + 1.4) / (2 * 2)
    assert s.capital_used == D("200.2")
    # base drift = the kept imbalance; quote drift = cash: -200.2 + 40.7184 + 101.796
    assert s.drift() == {"BTC": D("0.6"), "USD": D("-57.6856")}
    assert s.inventory == {"BTC": D("0.6")}


def test_an_illegal_order_move_is_refused_and_halts_the_strategy_as_live(store):
    # The simulated venue fills the buy leg (FILLED), then reports it OPEN again: filled -> open is not
    # in the state table. As live (reconcile.py), the move is refused (nothing journaled for it, the
    # order stays filled), the strategy halts with a reason naming the move, and the run goes on.
    strategy = StrategyConfig("s", min_net_bps=D(0), latency_ms=100)
    ex = paper_executor(strategy, MARKETS, store, starting_balances={"a": {"USD": D(1000)}, "b": {"BTC": D(2)}})
    venue, fill = ex.venue, ex.venue._fill

    def fill_then_reopen(trade, order):
        fill(trade, order)
        if order.role == "buy":
            again = OrderUpdate(order.client_id, "a", SYM, OrderStatus.OPEN, order.filled, order.avg_price, order.fee)
            assert venue.apply(order, again, "the venue contradicts itself") is False

    venue._fill = fill_then_reopen
    sc = Scanner(MARKETS, listeners=[ex])
    for b in CROSS + [book("c", 1.2, bids=[("1", "1")], asks=[("1000", "1")])]:
        sc.on_book_event(b)
    # the same cross again after the trade settled: the halted strategy takes nothing
    sc.on_book_event(book("b", 1.5, bids=[("102", "1")], asks=[("103", "1")]))
    sc.close(2.0)
    store.flush()
    (trade,) = ex.trades
    assert trade.status == "filled" and trade.buy.status is OrderStatus.FILLED
    tid = trade.id
    assert ex.kill.why() == f"a order {tid}-buy: order cannot move from filled to open"
    assert ex.skips["halted"] >= 1
    db = store.db
    (row,) = db.execute("SELECT status, filled, updated FROM orders WHERE client_id = ?", (f"{tid}-buy",)).fetchall()
    assert (row[0], D(row[1]), row[2]) == ("filled", D(1), 1.15)
    events = db.execute("SELECT from_status, to_status FROM order_events WHERE client_id = ? ORDER BY id",
                        (f"{tid}-buy",))
    assert events.fetchall() == [(None, "created"), ("created", "submitted"), ("submitted", "filled")]
    assert db.execute("SELECT status FROM trades").fetchall() == [("filled",)]
