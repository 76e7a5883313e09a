"""Paper trading of cross-quote routes (buy BASE/Q1, sell BASE/Q2, convert Q2 back to Q1); figures by hand.

Markets (``conftest.market``; amount step 0.0001 on the BTC markets, 0.01 EUR on EUR/USD):

* ``a`` BTC/USD, taker fee 0.1 %; ``b`` BTC/EUR, 0.2 %; ``b`` EUR/USD (the conversion), 0.1 %.
* books: a asks 100 x 1 (bids 99), b bids 95 x 1 (asks 96), b EUR/USD bids 1.10 x 1000 (asks 1.11).
* strategy ``x``: min 0 bps, latency 100 ms; a holds 1000 USD, b 2 BTC.

The one route that pays: buy 1 BTC on a, sell it on b, sell the EUR on b's EUR/USD. By hand:

=============================  ==========================================  ==================
leg                            arithmetic                                  result
=============================  ==========================================  ==================
buy 1 BTC on a at 100          100 + 0.1 % fee                              100.1 USD spent
sell 1 BTC on b at 95          95 - 0.2 % fee (0.19)                        94.81 EUR received
convert 94.81 EUR at 1.10      104.291 - 0.1 % fee (0.104291)               104.186709 USD
PnL                            104.186709 - 100.1                           4.086709 USD
=============================  ==========================================  ==================

The reverse route (buy on b in EUR, sell on a in USD, buy EUR at b's 1.11 asks) loses:
99 * 0.999 / (1.11 * 1.001) = 89.0 EUR for 96 * 1.002 = 96.19 EUR.

Times: the route is live at 1.02 (the conversion book arrives last); the legs are due at 1.12; the
conversion leg is sent when they filled (1.12) and is due 100 ms later, at 1.22.
"""

from __future__ import annotations

from decimal import Decimal as D

from conftest import book, market

from arbscan.cli.rebalance import format_plan, rebalance
from arbscan.config.settings import StrategyConfig
from arbscan.execution.paper import paper_executor
from arbscan.execution.summary import format_summary, summarize
from arbscan.funding.conversions import Conversion
from arbscan.scan.scanner import Scanner

MARKETS = {
    ("a", "BTC/USD"): market("a", "BTC/USD", "0.001"),
    ("b", "BTC/EUR"): market("b", "BTC/EUR", "0.002"),
    ("b", "EUR/USD"): market("b", "EUR/USD", "0.001", amount_step="0.01", price_step="0.0001"),
}
CONVERSIONS = [Conversion("b", "EUR/USD")]
BOOKS = [
    book("a", 1.0, bids=[("99", "1")], asks=[("100", "1")], symbol="BTC/USD"),
    book("b", 1.01, bids=[("95", "1")], asks=[("96", "1")], symbol="BTC/EUR"),
    book("b", 1.02, bids=[("1.10", "1000")], asks=[("1.11", "1000")], symbol="EUR/USD"),
]
START = {"a": {"USD": D(1000)}, "b": {"BTC": D(2)}}


def run(events, convert, *, store=None, close_at=1.3, markets=MARKETS, conversions=CONVERSIONS, balances=START):
    """Feed ``events`` through a scanner with ``conversions`` and one paper executor; returns the executor."""
    strategy = StrategyConfig("x", min_net_bps=D(0), latency_ms=100, convert=convert)
    ex = paper_executor(strategy, markets, store, starting_balances=balances)
    sc = Scanner(markets, listeners=[ex], conversions=conversions)
    for b in events:
        sc.on_book_event(b)
    sc.close(close_at)
    return ex


def rows(store, sql, *params):
    store.flush()
    cur = store.db.execute(sql, params)
    names = [c[0] for c in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def test_each_trade_journals_three_legs_with_the_hand_worked_amounts(store):
    ex = run(BOOKS, "each_trade", store=store)
    (trade,) = ex.trades
    orders = rows(store, "SELECT role, exchange, symbol, side, amount, limit_price, status, filled, avg_price, fee, "
                         "created, updated FROM orders WHERE trade_id = ? ORDER BY created, role", trade.id)
    got = [(o["role"], o["exchange"], o["symbol"], o["side"], D(o["amount"]), D(o["filled"]), D(o["avg_price"]),
            D(o["fee"]), o["status"]) for o in orders]
    assert got == [
        ("buy", "a", "BTC/USD", "buy", D(1), D(1), D(100), D("0.1"), "filled"),
        ("sell", "b", "BTC/EUR", "sell", D(1), D(1), D(95), D("0.19"), "filled"),
        ("convert", "b", "EUR/USD", "sell", D("94.81"), D("94.81"), D("1.10"), D("0.104291"), "filled"),
    ]
    assert D(orders[2]["limit_price"]) == D("1.10")
    assert orders[2]["created"] == 1.12 and orders[2]["updated"] == 1.22  # sent once the legs filled, 100 ms latency
    (row,) = rows(store, "SELECT * FROM trades")
    assert (row["status"], row["sell_symbol"], row["conversion"], row["convert"]) == ("filled", "BTC/EUR", "b:EUR/USD",
                                                                                       "each_trade")
    assert D(row["buy_cost"]) == D("100.1") and D(row["sell_proceeds"]) == D("94.81")  # USD and EUR
    assert D(row["conversion_filled"]) == D("94.81") and D(row["conversion_proceeds"]) == D("104.186709")
    assert D(row["quote_imbalance"]) == 0 and D(row["realised_pnl"]) == D("4.086709")
    assert row["closed"] == 1.22
    fills = rows(store, "SELECT symbol, amount, price FROM fills WHERE client_id = ?", trade.convert.client_id)
    assert [(f["symbol"], D(f["amount"]), D(f["price"])) for f in fills] == [("EUR/USD", D("94.81"), D("1.10"))]
    # a: 1000 - 100.1 USD, +1 BTC; b: 2 - 1 BTC, 94.81 EUR in and out again, +104.186709 USD
    assert ex.venue.balances == {"a": {"USD": D("899.9"), "BTC": D(1)},
                                 "b": {"BTC": D(1), "EUR": D(0), "USD": D("104.186709")}}
    assert ex.reserved == {} and ex.in_flight == 0


def test_a_conversion_book_that_thinned_during_latency_leaves_a_q2_imbalance(store):
    # at 1.15 (after the legs filled at 1.12, before the conversion is due at 1.22) the bids at 1.10 keep 50 EUR
    # and the next, 1.09, is below the limit 1.10: the conversion sells 50 EUR (55 - 0.055 = 54.945 USD).
    # Left: 94.81 - 50 = 44.81 EUR, valued at the book it leaves (1.09): 44.81 * 1.09 * 0.999 = 48.7940571 USD.
    # PnL: 54.945 + 48.7940571 - 100.1 = 3.6390571 USD.
    thin = book("b", 1.15, bids=[("1.10", "50"), ("1.09", "1000")], asks=[("1.11", "1000")], symbol="EUR/USD")
    ex = run(BOOKS + [thin], "each_trade", store=store)
    (trade,) = ex.trades
    assert (trade.convert.filled, trade.convert.status.value) == (D(50), "partially_filled")
    (row,) = rows(store, "SELECT * FROM trades")
    assert (row["status"], row["imbalance_action"]) == ("imbalanced", "kept")
    assert D(row["imbalance"]) == 0  # the base legs matched
    assert D(row["quote_imbalance"]) == D("44.81") and D(row["quote_imbalance_value"]) == D("48.7940571")
    assert D(row["conversion_proceeds"]) == D("54.945") and D(row["realised_pnl"]) == D("3.6390571")
    assert "Q2 imbalance 44.81 EUR on b" in row["detail"] and "not resent" in row["detail"]
    assert ex.venue.balances["b"] == {"BTC": D(1), "EUR": D("44.81"), "USD": D("54.945")}
    assert len(rows(store, "SELECT * FROM orders WHERE role = 'convert'")) == 1  # never sent again


def test_the_stream_ending_before_the_conversion_is_due_leaves_all_the_q2(store):
    # the legs fill at 1.12; the stream ends at 1.15, before the conversion's due time 1.22: it is cancelled
    # unsent and all 94.81 EUR stay, valued 94.81 * 1.10 * 0.999 = 104.186709 USD
    ex = run(BOOKS, "each_trade", store=store, close_at=1.15)
    (trade,) = ex.trades
    assert trade.convert.status.value == "canceled" and trade.convert.filled == 0
    (row,) = rows(store, "SELECT * FROM trades")
    assert row["status"] == "imbalanced" and D(row["quote_imbalance"]) == D("94.81")
    assert D(row["quote_imbalance_value"]) == D("104.186709") and D(row["realised_pnl"]) == D("4.086709")
    assert "stream_ended" in row["detail"] and "Q2 imbalance 94.81 EUR on b" in row["detail"]
    assert ex.venue.balances["b"] == {"BTC": D(1), "EUR": D("94.81")}


def test_hold_keeps_the_q2_values_it_in_the_summary_and_rebalance_proposes_it(store, tmp_path, capsys):
    ex = run(BOOKS, "hold", store=store)
    (trade,) = ex.trades
    assert trade.convert is None
    orders = rows(store, "SELECT role FROM orders")
    assert sorted(o["role"] for o in orders) == ["buy", "sell"]
    (row,) = rows(store, "SELECT * FROM trades")
    assert (row["status"], row["convert"]) == ("filled", "hold")
    assert row["conversion_filled"] is None and D(row["conversion_proceeds"]) == 0
    # 94.81 EUR held, valued at b's EUR/USD bids: 94.81 * 1.10 * 0.999 = 104.186709 USD; PnL 4.086709 as converting
    assert D(row["quote_imbalance"]) == D("94.81") and D(row["quote_imbalance_value"]) == D("104.186709")
    assert D(row["realised_pnl"]) == D("4.086709")
    assert "94.81 EUR on b held (convert = hold)" in row["detail"]
    assert ex.venue.balances == {"a": {"USD": D("899.9"), "BTC": D(1)}, "b": {"BTC": D(1), "EUR": D("94.81")}}

    text = format_summary(summarize(store.db, store.run_id, "x"))
    assert "b          EUR    0 -> 94.81" in text
    assert "quote held by cross-quote trades: 94.81 EUR, valued 104.1867 USD at the conversion books" in text

    store.flush()
    plan = rebalance(store.path, "x", {})
    (conv,) = plan.conversions
    assert (conv.venue, conv.symbol, conv.asset, conv.into, conv.amount, conv.value, conv.side) == (
        "b", "EUR/USD", "EUR", "USD", D("94.81"), D("104.186709"), "sell")
    # after it: USD a -100.1, b +104.186709 -> 100.1 USD from b to a (fee unknown: no funding facts), 4.086709 stays;
    # BTC a +1, b -1 -> 1 BTC from a to b; EUR is back at its start (0) everywhere
    moves = sorted((t.asset, t.source, t.target, t.amount, t.status) for t in plan.transfers)
    assert moves == [("BTC", "a", "b", D(1), "unknown"), ("USD", "b", "a", D("100.1"), "unknown")]
    assert "EUR" not in plan.drift
    out = format_plan(plan)
    assert ("convert 94.81 EUR held by cross-quote trades (received on b) into USD on b EUR/USD (sell EUR at its "
            "bids): about 104.186709 USD") in out


def test_a_q1_q2_conversion_buys_q1_at_its_asks_with_the_q2_received(store):
    # Buy BTC/EUR on b (Q1 = EUR), sell BTC/USD on a (Q2 = USD), convert on a's EUR/USD: it is Q1/Q2, so EUR
    # is bought at its asks with the USD. Conversion fee 0 here, asks 1.25 (0.01 EUR costs 0.0125 USD).
    # n BTC sold bring 101 * 0.999 * n = 100.899 n USD. 80.71 EUR cost 80.71 * 1.25 = 100.8875 USD, reached from
    # n = 0.9999 (100.8889101 USD; 0.9998 brings 100.8788 and buys only 80.70 EUR). The fewest lots that buy
    # a number of steps earn the most, so the best amount is 0.9999, not the whole 1 BTC of depth:
    #   amount  buy cost (75 * n * 1.002)  EUR bought  profit (EUR bought - buy cost)
    #   0.9998  75.134970                  80.70       5.565030
    #   0.9999  75.142485                  80.71       5.567515   <- planned
    #   1       75.15                      80.71       5.56
    # Trade: sell 0.9999 at 101: 100.9899 - 0.1009899 fee = 100.8889101 USD; buy 80.71 EUR for 100.8875 USD;
    # left 0.0014101 USD (less than one step), worth 0.0014101 / 1.25 = 0.00112808 EUR;
    # PnL 80.71 + 0.00112808 - 75.142485 = 5.56864308 EUR.
    # The other way (buy on a, sell on b, EUR sold at 1.24): 74 * 0.998 * 1.24 = 91.58 USD for 102.102: no route.
    markets = {
        ("a", "BTC/USD"): market("a", "BTC/USD", "0.001"),
        ("b", "BTC/EUR"): market("b", "BTC/EUR", "0.002"),
        ("a", "EUR/USD"): market("a", "EUR/USD", "0", amount_step="0.01", price_step="0.0001"),
    }
    books = [
        book("b", 1.0, bids=[("74", "1")], asks=[("75", "1")], symbol="BTC/EUR"),
        book("a", 1.01, bids=[("101", "1")], asks=[("102", "1")], symbol="BTC/USD"),
        book("a", 1.02, bids=[("1.24", "1000")], asks=[("1.25", "1000")], symbol="EUR/USD"),
    ]
    ex = run(books, "each_trade", store=store, markets=markets, conversions=[Conversion("a", "EUR/USD")],
             balances={"b": {"EUR": D(1000)}, "a": {"BTC": D(2)}})
    (trade,) = ex.trades
    c = trade.convert
    assert (c.req.exchange, c.req.symbol, c.req.side.value, c.req.amount, c.req.limit_price) == (
        "a", "EUR/USD", "buy", D("80.71"), D("1.25"))
    assert c.filled == D("80.71") and trade.opp.amount == D("0.9999")
    (row,) = rows(store, "SELECT * FROM trades")
    assert row["status"] == "filled"  # what is left is below one conversion step, not an imbalance
    assert D(row["conversion_proceeds"]) == D("80.71") and D(row["quote_imbalance"]) == D("0.0014101")
    assert D(row["quote_imbalance_value"]) == D("0.00112808") and D(row["realised_pnl"]) == D("5.56864308")
    assert "0.0014101 USD on a left below one conversion step" in row["detail"]
    assert ex.venue.balances == {"b": {"EUR": D("924.857515"), "BTC": D("0.9999")},
                                 "a": {"BTC": D("1.0001"), "USD": D("0.0014101"), "EUR": D("80.71")}}


def test_a_strategy_limited_to_venues_converts_only_on_one_of_them():
    # the conversion on venue c (EUR/USD bids 1.10, c holds 500 EUR): with venues = ["a", "b"] each_trade would send
    # its third leg to c, so the route is skipped ("venue"); hold sends nothing to c and trades
    markets = {**{k: v for k, v in MARKETS.items() if k != ("b", "EUR/USD")},
               ("c", "EUR/USD"): market("c", "EUR/USD", "0.001", amount_step="0.01", price_step="0.0001")}
    books = BOOKS[:2] + [book("c", 1.02, bids=[("1.10", "1000")], asks=[("1.11", "1000")], symbol="EUR/USD")]
    balances = {**START, "c": {"EUR": D(500)}}
    for convert, taken in (("each_trade", 0), ("hold", 1)):
        strategy = StrategyConfig("x", min_net_bps=D(0), latency_ms=100, convert=convert, venues=("a", "b"))
        ex = paper_executor(strategy, markets, None, starting_balances=balances)
        sc = Scanner(markets, listeners=[ex], conversions=[Conversion("c", "EUR/USD")])
        for b in books:
            sc.on_book_event(b)
        sc.close(1.3)
        assert (ex.taken, ex.skips["venue"]) == (taken, 1 - taken), convert
