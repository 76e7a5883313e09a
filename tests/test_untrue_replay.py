"""Untrue books in a replay, by hand: what the book builder holds after a refused line, and what the scanner
does with the routes through an untrue book. Figures are worked out in the comments."""

from __future__ import annotations

from decimal import Decimal as D

import conftest

from arbscan.replay.run import BookBuilder, BookEvent
from arbscan.scan.scanner import Scanner

SYM = "BTC/USD"
MARKETS = {(ex, SYM): conftest.market(ex, SYM, "0.001", amount_step="0.001", price_step="0.01")
           for ex in ("alpha", "beta")}


def ev(ts, bids, asks, snapshot=False, exchange="alpha", line=1):
    conv = lambda levels: tuple((D(p), D(a)) for p, a in levels)  # noqa: E731
    return BookEvent(ts, exchange, SYM, snapshot, conv(bids), conv(asks), ts, line)


def builder():
    b = BookBuilder(0, MARKETS)
    assert b.apply(ev(1.0, [("99", "1"), ("98", "2")], [("100", "1"), ("101", "2")], snapshot=True)) is not None
    return b


def test_a_crossing_line_is_applied_as_stated_and_the_book_stays_untrue_until_uncrossed():
    b = builder()
    # bid 100.5 crosses the ask at 100; the deletion of 98 and the new ask at 102 are facts too
    assert b.apply(ev(2.0, [("100.5", "3"), ("98", "0")], [("102", "1")])) is None
    assert b.untrue == "crossed (bid 100.5 > ask 100)" and b.refused == 1
    # a line on the other side only leaves the book as crossed as it was: refused too
    assert b.apply(ev(3.0, [("97", "1")], [])) is None
    assert b.untrue == "crossed (bid 100.5 > ask 100)" and b.refused == 2
    assert b.apply(ev(3.5, [], [("103", "1")])) is None and b.refused == 3
    # the recording deletes the ask at 100: best ask 101 is above the best bid 100.5, the book is true
    book = b.apply(ev(4.0, [], [("100", "0")]))
    assert book.bids == ((D("100.5"), D(3)), (D(99), D(1)), (D(97), D(1)))
    assert book.asks == ((D(101), D(2)), (D(102), D(1)), (D(103), D(1)))
    assert b.untrue is None and b.refused == 3


def test_a_market_jump_with_a_missing_deletion_never_reaches_the_scanner():
    """The audit's case: alpha moves from 99/100 to 109/111, the recording misses the deletion of ask 100."""
    b = builder()
    assert b.apply(ev(2.0, [("109", "1")], [("111", "1")])) is None  # bid 109 >= stale ask 100
    assert b.apply(ev(2.2, [], [("111.5", "1")])) is None  # sane on its own; the stale ask 100 still crosses
    assert b.untrue == "crossed (bid 109 > ask 100)"
    book = b.apply(ev(3.0, [("109", "1")], [("111", "1"), ("111.5", "1")], snapshot=True))  # a snapshot replaces it
    assert book.bids == ((D(109), D(1)),) and book.asks == ((D(111), D(1)), (D("111.5"), D(1)))


def test_an_impossible_amount_deletes_its_price_and_an_impossible_price_is_left_out():
    b = builder()
    assert b.apply(ev(2.0, [("98", "-5"), ("1e26", "1")], [("101", "3")])) is None
    assert b.untrue == "bid amount -5 at 98 is not positive"
    book = b.apply(ev(3.0, [], [("101", "4")]))
    assert book.bids == ((D(99), D(1)),)  # never more depth than the venue said: 98 is gone
    assert book.asks == ((D(100), D(1)), (D(101), D(4)))  # the sane level of the refused line was applied


def test_a_crossed_snapshot_is_held_as_stated_until_a_line_uncrosses_it():
    b = builder()
    assert b.apply(ev(2.0, [("110", "1"), ("99", "1")], [("101", "1"), ("111", "1")], snapshot=True)) is None
    assert b.untrue == "crossed (bid 110 > ask 101)"
    assert b.apply(ev(3.0, [("98", "1")], [])) is None  # still crossed: 110 > 101
    book = b.apply(ev(4.0, [("110", "0")], []))  # the bid at 110 deleted: 99 < 101
    assert book.bids == ((D(99), D(1)), (D(98), D(1))) and book.asks == ((D(101), D(1)), (D(111), D(1)))


def test_an_emptied_side_is_untrue_until_it_is_filled_again():
    b = builder()
    assert b.apply(ev(2.0, [("99", "0"), ("98", "0")], [])) is None and b.untrue == "no bids"
    assert b.apply(ev(3.0, [], [("100", "2")])) is None and b.untrue == "no bids"
    book = b.apply(ev(4.0, [("99.5", "1")], []))
    assert book.bids == ((D("99.5"), D(1)),) and book.asks[0] == (D(100), D(2))


def scanner_with_an_episode():
    s = Scanner(dict(MARKETS), None, max_book_age_ms=10_000)
    s.on_book_event(conftest.book("alpha", 1.0, [("99", "1")], [("100", "1")]))
    # beta bids 100.8: buying 1 on alpha costs 100.1, selling on beta brings 100.6992: live
    assert s.on_book_event(conftest.book("beta", 1.5, [("100.8", "1")], [("101", "1")]))
    return s


class Recorder:
    def __init__(self):
        self.books = []

    def on_book(self, book, t):
        self.books.append(book.exchange)

    def on_opportunity(self, opp, t):
        pass


def test_an_untrue_book_closes_the_episodes_through_it_and_its_routes_are_counted_not_evaluated():
    s = scanner_with_an_episode()
    rec = Recorder()
    s.listeners.append(rec)
    s.on_untrue_book("beta", SYM, 2.0, "crossed (bid 200 > ask 101)")
    assert not s.episodes and s.episodes_closed == 1
    assert s.funnels[(SYM, "alpha", "beta")].untrue_book == 1 and s.funnels[(SYM, "beta", "alpha")].untrue_book == 1
    assert s.on_book_event(conftest.book("alpha", 2.5, [("99", "1")], [("100", "1")])) == []  # beta still untrue
    assert s.funnels[(SYM, "alpha", "beta")].untrue_book == 2 and s.funnels[(SYM, "alpha", "beta")].evaluated == 1
    assert s.feeds[("beta", SYM)].rejected == 1 and s.feeds[("beta", SYM)].events == 2
    assert rec.books == ["alpha"]  # listeners never see the untrue book
    assert s.on_book_event(conftest.book("beta", 3.0, [("100.8", "1")], [("101", "1")]))  # true again: live
    assert s.untrue == {}


def test_the_closed_episode_says_why():
    class Store:
        def __init__(self):
            self.rows = []

        def record_episode(self, ep):
            self.rows.append(ep.as_row())

    s = scanner_with_an_episode()
    s.store = store = Store()
    s.on_untrue_book("alpha", SYM, 2.0, "no asks")
    (row,) = store.rows
    assert (row["close_reason"], row["close_detail"], row["closed_at"]) == ("uncrossed", "untrue_book", 2.0)


STALE_ASK = [  # the audit's file: alpha jumps from 99/100 to 109/111, the deletion of its ask at 100 is missing
    {"type": "market", "exchange": "alpha", "symbol": SYM, "taker_fee": "0.001", "amount_step": "0.001", "price_step": "0.01"},
    {"type": "market", "exchange": "beta", "symbol": SYM, "taker_fee": "0.001", "amount_step": "0.001", "price_step": "0.01"},
    {"type": "book", "ts": 1.0, "exchange": "alpha", "symbol": SYM, "snapshot": True, "bids": [["99", "1"]], "asks": [["100", "1"]]},
    {"type": "book", "ts": 1.1, "exchange": "beta", "symbol": SYM, "snapshot": True, "bids": [["99", "1"]], "asks": [["100", "1"]]},
    {"type": "book", "ts": 2.0, "exchange": "alpha", "symbol": SYM, "snapshot": False, "bids": [["109", "1"]], "asks": [["111", "1"]]},
    {"type": "book", "ts": 2.1, "exchange": "beta", "symbol": SYM, "snapshot": True, "bids": [["109", "1"]], "asks": [["110", "1"]]},
    {"type": "book", "ts": 2.2, "exchange": "alpha", "symbol": SYM, "snapshot": False, "bids": [], "asks": [["111.5", "1"]]},
    {"type": "book", "ts": 2.3, "exchange": "beta", "symbol": SYM, "snapshot": False, "bids": [["109.2", "1"]], "asks": []},
]


def test_the_text_report_shows_the_untrue_counts(tmp_path, capsys):
    import json

    from arbscan.cli import command as cli

    path = tmp_path / "stale.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in STALE_ASK))
    assert cli.main(["replay", str(path), "--db", str(tmp_path / "j.db"), "--no-progress"]) == 0
    capsys.readouterr()
    assert cli.main(["report", "--db", str(tmp_path / "j.db")]) == 0
    out = capsys.readouterr().out
    # alpha's lines at 2.0 and 2.2 are refused (bid 109 > stale ask 100): 2 updates. Each of the four book
    # events from 2.0 on touches both routes while alpha is untrue: 4 x 2 = 8 route counts, none evaluated;
    # the only evaluations are beta's snapshot at 1.1 (one per route, not crossed).
    assert "2 routes: 2 evaluations, 0 crossed before fees, 0 live; not live: not_crossed 2; untrue_book 8\n" in out
    assert "2 book updates refused as untrue (crossed, locked, one-sided or impossible numbers; rejected in venues.csv)\n" in out
