"""The scanner core driven by hand-built event sequences; expected figures are computed by hand.

Two venues "alpha" and "beta" on BTC/USD, taker fee 0.1 % each, amount step 0.001. With alpha's
ask at 100 (1 BTC) and beta's bid at B (1 BTC), buying 1 BTC on alpha costs 100 * 1.001 = 100.1
and selling it on beta yields B * 0.999, so net profit is B * 0.999 - 100.1:

    B = 100.5  -> 100.3995 - 100.1 = 0.2995  (29.92 bps)
    B = 100.8  -> 100.6992 - 100.1 = 0.5992  (59.86 bps)
    B = 100.6  -> 100.4994 - 100.1 = 0.3994
    B = 100.15 -> 100.04985 < 100.1: crossed before fees, eaten by fees
"""

from __future__ import annotations

from decimal import Decimal as D

import conftest
import pytest

from arbscan.scan.scanner import Scanner
from arbscan.journal.store import Store

SYM = "BTC/USD"


def market(exchange, symbol=SYM, fee="0.001", min_amount="0"):
    return conftest.market(exchange, symbol, fee, amount_step="0.001", price_step="0.01", min_amount=min_amount)


def book(exchange, t, bid, ask, symbol=SYM, amount="1"):
    """One level a side."""
    return conftest.book(exchange, t, [(bid, amount)], [(ask, amount)], symbol)


def scanner(store=None, **kw):
    markets = {("alpha", SYM): market("alpha"), ("beta", SYM): market("beta")}
    kw.setdefault("max_book_age_ms", 10_000)
    return Scanner(markets, store, **kw)


class Recorder:
    def __init__(self):
        self.books, self.opps, self.closed = [], [], []

    def on_book(self, book, t):
        self.books.append((book.exchange, t))

    def on_opportunity(self, opp, t):
        self.opps.append((opp.net_profit, t))

    def on_close(self, t):
        self.closed.append(t)


def run_main_sequence(s):
    s.on_book_event(book("alpha", 0.0, "99", "100"))
    s.on_book_event(book("beta", 0.5, "100.5", "101"))
    s.on_book_event(book("beta", 1.0, "100.8", "101"))
    s.on_book_event(book("beta", 1.5, "100.6", "101"))
    s.on_book_event(book("beta", 2.0, "100.15", "101"))


def test_episode_opens_grows_keeps_peak_and_closes_when_fees_eat_the_cross():
    s = scanner()
    s.on_book_event(book("alpha", 0.0, "99", "100"))
    assert not s.episodes
    s.on_book_event(book("beta", 0.5, "100.5", "101"))
    ep = s.episodes[(SYM, "alpha", "beta")]
    assert (ep.first_seen, ep.observations, ep.peak.net_profit) == (0.5, 1, D("0.2995"))
    s.on_book_event(book("beta", 1.0, "100.8", "101"))
    s.on_book_event(book("beta", 1.5, "100.6", "101"))
    assert (ep.observations, ep.last_seen, ep.peak.net_profit, ep.peak_ts) == (3, 1.5, D("0.5992"), 1.0)
    s.on_book_event(book("beta", 2.0, "100.15", "101"))
    assert not s.episodes
    assert (ep.closed_at, ep.close_reason, ep.close_detail) == (2.0, "uncrossed", "fees")


def test_episode_row_has_the_peak_figures():
    rows = []

    class FakeStore:
        def record_episode(self, ep):
            rows.append(ep.as_row())

    run_main_sequence(scanner(store=FakeStore()))
    (row,) = rows
    assert row["first_seen"] == 0.5 and row["last_seen"] == 1.5 and row["observations"] == 3
    assert row["amount"] == D("1") and row["buy_vwap"] == D("100") and row["sell_vwap"] == D("100.8")
    assert row["buy_cost"] == D("100.1") and row["sell_proceeds"] == D("100.6992")
    assert row["net_profit"] == D("0.5992")
    assert row["net_bps"].quantize(D("0.0001")) == D("59.8601")  # 10000 * 0.5992 / 100.1
    assert row["close_reason"] == "uncrossed"


def test_funnel_counts_every_evaluation_with_one_outcome():
    s = scanner()
    run_main_sequence(s)
    ab = s.funnels[(SYM, "alpha", "beta")]
    ba = s.funnels[(SYM, "beta", "alpha")]
    assert (ab.evaluated, ab.crossed_before_fees, ab.live, ab.fees, ab.episodes) == (4, 4, 3, 1, 1)
    assert (ab.not_crossed, ab.depth_or_minimums, ab.balance, ab.below_min_bps, ab.stale) == (0, 0, 0, 0, 0)
    assert (ba.evaluated, ba.crossed_before_fees, ba.not_crossed, ba.live, ba.episodes) == (4, 0, 4, 0, 0)


def test_below_min_bps_is_not_live_and_counted():
    s = scanner(min_net_bps=D(40))
    s.on_book_event(book("alpha", 0.0, "99", "100"))
    s.on_book_event(book("beta", 0.5, "100.5", "101"))  # 29.92 bps < 40
    assert not s.episodes
    s.on_book_event(book("beta", 1.0, "100.8", "101"))  # 59.86 bps
    ep = s.episodes[(SYM, "alpha", "beta")]
    assert ep.first_seen == 1.0
    s.on_book_event(book("beta", 1.5, "100.5", "101"))
    assert (ep.close_reason, ep.close_detail) == ("uncrossed", "below_min_bps")
    ab = s.funnels[(SYM, "alpha", "beta")]
    assert (ab.evaluated, ab.live, ab.below_min_bps) == (3, 1, 2)


def test_stale_book_closes_episode_even_when_the_event_is_on_another_route():
    markets = {("alpha", SYM): market("alpha"), ("beta", SYM): market("beta"), ("alpha", "ETH/USD"): market("alpha", "ETH/USD")}
    s = Scanner(markets, None, max_book_age_ms=1000)
    s.on_book_event(book("alpha", 0.0, "99", "100"))
    s.on_book_event(book("beta", 0.2, "100.5", "101"))
    ep = s.episodes[(SYM, "alpha", "beta")]
    s.on_book_event(book("alpha", 0.9, "9", "10", symbol="ETH/USD"))  # alpha BTC is 0.9 s old: fresh
    assert s.episodes
    s.on_book_event(book("alpha", 1.01, "9", "10", symbol="ETH/USD"))  # now 1.01 s old: stale
    assert not s.episodes
    assert (ep.closed_at, ep.close_reason, ep.last_seen) == (1.01, "stale", 0.2)


def test_route_with_a_stale_book_is_not_evaluated():
    s = scanner(max_book_age_ms=1000)
    s.on_book_event(book("alpha", 0.0, "99", "100"))
    s.on_book_event(book("beta", 1.5, "100.5", "101"))  # alpha is 1.5 s old
    assert not s.episodes
    ab = s.funnels[(SYM, "alpha", "beta")]
    ba = s.funnels[(SYM, "beta", "alpha")]
    assert (ab.stale, ab.evaluated, ba.stale, ba.evaluated) == (1, 0, 1, 0)
    s.on_book_event(book("alpha", 2.0, "99", "100"))  # both fresh again
    assert s.episodes and s.funnels[(SYM, "alpha", "beta")].live == 1


def test_age_exactly_max_is_fresh():
    s = scanner(max_book_age_ms=1000)
    s.on_book_event(book("alpha", 0.0, "99", "100"))
    s.on_book_event(book("beta", 1.0, "100.5", "101"))
    assert s.funnels[(SYM, "alpha", "beta")].live == 1


def test_own_old_book_closes_the_episode_before_the_new_one_applies():
    s = scanner(max_book_age_ms=1000)
    s.on_book_event(book("alpha", 0.0, "99", "100"))
    s.on_book_event(book("beta", 0.5, "100.5", "101"))
    first = s.episodes[(SYM, "alpha", "beta")]
    s.on_book_event(book("beta", 1.2, "100.5", "101"))  # alpha's book (t=0) is stale at 1.2
    assert first.close_reason == "stale"
    assert not s.episodes


def test_expire_on_a_timer_closes_stale_episodes():
    s = scanner(max_book_age_ms=1000)
    s.on_book_event(book("alpha", 0.0, "99", "100"))
    s.on_book_event(book("beta", 0.5, "100.5", "101"))
    assert s.expire(0.9) == 0
    assert s.expire(1.1) == 1
    assert not s.episodes


def test_quote_balance_on_the_buy_venue_caps_the_amount():
    s = scanner(balances={"alpha": {"USD": D("50")}})
    s.on_book_event(book("alpha", 0.0, "99", "100"))
    (opp,) = s.on_book_event(book("beta", 0.5, "100.8", "101"))
    assert opp.amount == D("0.499")  # 50 / 100.1 = 0.4995..., rounded down to the step
    assert opp.buy_cost <= D("50")


def test_base_balance_on_the_sell_venue_caps_the_amount_and_zero_counts_as_balance():
    s = scanner(balances={"beta": {"BTC": D("0.25")}})
    s.on_book_event(book("alpha", 0.0, "99", "100"))
    (opp,) = s.on_book_event(book("beta", 0.5, "100.8", "101"))
    assert opp.amount == D("0.250")
    s.balances["beta"]["BTC"] = D(0)  # updated by an executor
    assert s.on_book_event(book("beta", 1.0, "100.8", "101")) == []
    assert s.funnels[(SYM, "alpha", "beta")].balance == 1


def test_minimum_amount_counts_as_depth_or_minimums():
    markets = {("alpha", SYM): market("alpha", min_amount="2"), ("beta", SYM): market("beta")}
    s = Scanner(markets, None)
    s.on_book_event(book("alpha", 0.0, "99", "100"))
    s.on_book_event(book("beta", 0.5, "100.8", "101"))
    assert s.funnels[(SYM, "alpha", "beta")].depth_or_minimums == 1
    assert not s.episodes


def test_listeners_see_every_book_and_every_live_evaluation():
    rec = Recorder()
    s = scanner(listeners=[rec])
    run_main_sequence(s)
    s.close()
    assert rec.books == [("alpha", 0.0), ("beta", 0.5), ("beta", 1.0), ("beta", 1.5), ("beta", 2.0)]
    assert rec.opps == [(D("0.2995"), 0.5), (D("0.5992"), 1.0), (D("0.3994"), 1.5)]
    assert rec.closed == [2.0]


def test_a_failing_listener_does_not_stop_the_scan():
    class Broken:
        def on_book(self, book, t):
            raise ValueError("bug")

        def on_opportunity(self, opp, t):
            raise ValueError("bug")

    s = scanner(listeners=[Broken()])
    run_main_sequence(s)
    assert s.funnels[(SYM, "alpha", "beta")].live == 3


def test_close_ends_open_episodes_with_reason_end():
    s = scanner()
    s.on_book_event(book("alpha", 0.0, "99", "100"))
    s.on_book_event(book("beta", 0.5, "100.5", "101"))
    ep = s.episodes[(SYM, "alpha", "beta")]
    s.close()
    assert (ep.close_reason, ep.closed_at) == ("end", 0.5)


def test_books_without_a_market_are_ignored():
    s = scanner()
    assert s.on_book_event(book("gamma", 0.0, "99", "100")) == []
    assert ("gamma", SYM) not in s.books and s.events == 0


def test_feed_stats_count_gaps_over_max_age():
    s = scanner(max_book_age_ms=1000)
    for t in (0.0, 0.5, 2.0, 2.1, 3.6):
        s.on_book_event(book("alpha", t, "99", "100"))
    f = s.feeds[("alpha", SYM)]
    assert (f.events, f.first_ts, f.last_ts, f.gaps_over_max_age) == (5, 0.0, 3.6, 2)
    assert f.max_gap_ms == pytest.approx(1500.0)


def test_journal_rows_after_a_run(tmp_path):
    store = Store(tmp_path / "j.db", flush_interval=0.01)
    store.start_run("replay")
    s = scanner(store=store)
    run_main_sequence(s)
    s.close()
    store.close()
    db = Store.open_readonly(tmp_path / "j.db")
    (row,) = list(db["opportunities"].rows)
    assert (row["symbol"], row["buy_exchange"], row["sell_exchange"]) == (SYM, "alpha", "beta")
    assert (row["first_seen"], row["last_seen"], row["observations"]) == (0.5, 1.5, 3)
    assert [D(row[k]) for k in ("amount", "net_profit", "buy_vwap", "sell_vwap")] == [D(1), D("0.5992"), D(100), D("100.8")]
    assert db.execute("SELECT typeof(net_profit), typeof(net_bps) FROM opportunities").fetchone() == ("text", "text")
    assert row["run_id"] == 1 and row["close_reason"] == "uncrossed"
    funnel = {(r["buy_exchange"], r["sell_exchange"]): r for r in db["funnel"].rows}
    assert (funnel[("alpha", "beta")]["live"], funnel[("alpha", "beta")]["fees"]) == (3, 1)
    assert funnel[("beta", "alpha")]["not_crossed"] == 4
    stats = {r["exchange"]: r["events"] for r in db["venue_stats"].rows}
    assert stats == {"alpha": 1, "beta": 4}


def test_funnel_keeps_the_largest_premium_before_fees():
    s = scanner()
    run_main_sequence(s)
    ab = s.funnels[(SYM, "alpha", "beta")]
    assert ab.max_gross_bps == D(80)  # (100.8 - 100) / 100
    assert s.funnels[(SYM, "beta", "alpha")].max_gross_bps is None
