"""The parts of ``--workers N`` one at a time: the symbol assignment, the reader's skip of other shards' lines,
the merge by line number, and the remote journal."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal as D

import pytest
from conftest import book

from arbscan.parallel.executor_feed import ExecutorFeed, LineMerge
from arbscan.errors import ReplayFileError
from arbscan.parallel.remote_store import RemoteStore
from arbscan.replay.reader import BookEvent, ForeignBook, ReplayReader, demo_path
from arbscan.parallel.shard_map import ShardMap, assign


# -- the assignment --------------------------------------------------------------------------------


def test_symbols_go_to_the_least_loaded_shard_most_venues_first():
    # by hand: A(5) -> 0 [5,0]; B(3) -> 1 [5,3]; C(3) -> 1 [5,6]; D(1) -> 0 [6,6]; E(1) -> 0 (tie: lowest) [7,6]
    assert assign({"A": 5, "B": 3, "C": 3, "D": 1, "E": 1}, 2) == (("A", "D", "E"), ("B", "C"))
    # equal venue counts: by name, round robin
    assert assign({"X": 2, "W": 2, "Z": 2, "Y": 2}, 3) == (("W", "Z"), ("X",), ("Y",))


def test_the_assignment_does_not_depend_on_the_order_symbols_are_listed_in():
    weights = {f"S{i:03d}": 2 + i % 4 for i in range(50)}
    reverse = dict(reversed(list(weights.items())))
    assert assign(weights, 4) == assign(reverse, 4)


def test_every_symbol_has_one_owner_including_symbols_assigned_later():
    shards = ShardMap.build({"A": 3, "B": 2}, 3)
    assert [shards.owner(s) for s in ("A", "B")] == [0, 1]
    late = [ShardMap.build({"A": 3, "B": 2}, 3).owner("LATE/USD") for _ in range(2)]
    assert late[0] == late[1] and 0 <= late[0] < 3
    assert shards.describe({"A": 3, "B": 2}) == ["shard 1/3: 1 symbols, 3 books: A", "shard 2/3: 1 symbols, 2 books: B",
                                                 "shard 3/3: 0 symbols, 0 books"]


# -- the reader's skip ------------------------------------------------------------------------------


def test_other_shards_lines_keep_their_time_and_line_number(tmp_path):
    # the bundled real recording, in the recorder's layout: one venue's books are "foreign"
    full = [ev for ev in ReplayReader(demo_path()) if isinstance(ev, BookEvent)]
    owns_deribit = lambda symbol: False  # noqa: E731 - the demo has one symbol: every book line is foreign
    skipped = [ev for ev in ReplayReader(demo_path(), owns=owns_deribit) if isinstance(ev, (BookEvent, ForeignBook))]
    assert [(ev.ts, ev.line) for ev in skipped] == [(ev.ts, ev.line) for ev in full]
    assert all(type(ev) is ForeignBook for ev in skipped)


def test_a_line_in_another_layout_is_parsed_in_full_and_still_skipped(tmp_path):
    path = tmp_path / "r.jsonl.gz"
    market = {"type": "market", "exchange": "x", "symbol": "A/USD", "taker_fee": "0", "amount_step": "1", "price_step": "1"}
    reordered = {"symbol": "A/USD", "exchange": "x", "type": "book", "ts": 5.0, "snapshot": True,
                 "bids": [["1", "1"]], "asks": [["2", "1"]]}
    with gzip.open(path, "wt") as fh:
        fh.write(json.dumps(market) + "\n" + json.dumps(reordered) + "\n")
    events = list(ReplayReader(path, owns=lambda s: s != "A/USD"))
    assert events[-1] == ForeignBook(5.0, 2)


def test_time_going_back_on_another_shards_line_is_still_an_error(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(
        '{"type": "market", "exchange": "x", "symbol": "A/USD", "taker_fee": "0", "amount_step": "1", "price_step": "1"}\n'
        '{"type": "book", "ts": 5.0, "exchange": "x", "symbol": "A/USD", "snapshot": true, "bids": [], "asks": []}\n'
        '{"type": "book", "ts": 4.0, "exchange": "x", "symbol": "A/USD", "snapshot": true, "bids": [], "asks": []}\n')
    with pytest.raises(ReplayFileError, match="line 3: ts 4.0 goes back in time"):
        list(ReplayReader(path, owns=lambda s: False))


# -- the merge --------------------------------------------------------------------------------------


def test_the_merge_never_passes_a_line_another_shard_may_still_precede():
    merge = LineMerge(2)
    merge.add(0, [("r", 3), ("r", 7), ("w", 10)])
    assert list(merge.ready()) == []  # shard 1 has said nothing: it may still send line 1
    merge.add(1, [("b", 5), ("w", 6)])
    assert [m[1] for m in merge.ready()] == [3, 5, 6]  # 7 waits: shard 1 is only known up to 6
    merge.add(1, [("w", 12)])
    assert [m[1] for m in merge.ready()] == [7, 10]
    merge.finish(0)
    assert [m[1] for m in merge.ready()] == [12]


class _Executor:
    def __init__(self):
        self.calls = []

    def on_book(self, b, t):
        self.calls.append(("book", b.exchange, t))

    def on_opportunity(self, opp, t):
        self.calls.append(("opp", opp, t))

    def on_tick(self, t):
        self.calls.append(("tick", t))

    def on_close(self, t):
        self.calls.append(("close", t))


def test_a_routes_other_book_replaces_the_executors_copy_only_when_it_is_another_version():
    ex = _Executor()
    feed = ExecutorFeed([ex], {})
    a, b = book("a", 1.0, [("99", "1")], [("100", "1")]), book("b", 1.5, [("101", "1")], [("102", "1")])
    feed.apply(("r", 10, 2.0, a, ((b, 8),), ("opp1",)))
    feed.apply(("r", 12, 2.5, a, ((b, 8),), ("opp2",)))  # b is the same version: the executor's copy stays
    feed.apply(("r", 14, 3.0, a, ((b, 13),), ()))
    feed.apply(("w", 20, 3.5, 1.0, 0))
    feed.close(None)
    assert ex.calls == [("book", "a", 2.0), ("book", "b", 2.0), ("opp", "opp1", 2.0), ("book", "a", 2.5),
                        ("opp", "opp2", 2.5), ("book", "a", 3.0), ("book", "b", 3.0), ("tick", 3.5), ("close", 3.5)]


# -- the remote journal -----------------------------------------------------------------------------


class _Outbox:
    def __init__(self):
        self.batches = []

    def put(self, item):
        self.batches.append(item)


def test_rows_leave_as_stored_in_batches_of_the_configured_size():
    out = _Outbox()
    now = [0.0]
    store = RemoteStore(out, 7, batch_rows=3, flush_interval=0.2, clock=lambda: now[0])
    store.submit("t", {"x": D("1.50")})
    store.upsert("u", {"id": 1, "amount": D("2")}, pk="id")
    assert out.batches == []
    store.submit_many("t", [{"x": D("1E-8"), "flag": True}])  # stored as plain text; a bool as 1
    assert out.batches == [[("insert", "t", [{"x": "1.50", "run_id": 7}], None),
                            ("upsert", "u", [{"id": 1, "amount": "2", "run_id": 7}], "id"),
                            ("insert", "t", [{"x": "0.00000001", "flag": 1, "run_id": 7}], None)]]
    store.submit("t", {"x": 1})
    store.tick()
    assert len(out.batches) == 1  # not due yet
    now[0] = 0.25
    store.tick()
    assert out.batches[1] == [("insert", "t", [{"x": 1, "run_id": 7}], None)]


# -- the writer's committer --------------------------------------------------------------------------


def test_the_writer_commits_known_tables_directly_and_anything_new_through_sqlite_utils(tmp_path):
    import sqlite3
    import threading

    from sqlite_utils import Database

    from arbscan.parallel.journal_writer import FastCommitter
    from arbscan.journal.store import Store

    store = Store(tmp_path / "j.db")  # creates and migrates the journal
    run_id = store.start_run("replay")
    store.close()
    conn = sqlite3.connect(tmp_path / "j.db", isolation_level=None, check_same_thread=False)
    committer = FastCommitter(conn, Database(conn), threading.Lock())
    key = ("run_id", "symbol", "buy_exchange", "sell_exchange")
    funnel = {"run_id": run_id, "symbol": "A/USD", "buy_exchange": "x", "sell_exchange": "y", "evaluated": 1, "live": 0}
    committer.commit([("upsert", "funnel", [funnel], key),
                      ("upsert", "funnel", [dict(funnel, evaluated=5)], key),  # the same route again: updated
                      ("upsert", "funnel", [{**funnel, "live": 2, "evaluated": 6}], key)])
    committer.commit([("insert", "extra_table", [{"a": 1}], None)])  # a new table: sqlite-utils creates it
    committer.commit([("insert_ignore", "extra_table", [{"a": 2, "b": "new column"}], None)])
    assert conn.execute("SELECT evaluated, live FROM funnel").fetchall() == [(6, 2)]
    assert conn.execute("SELECT a, b FROM extra_table ORDER BY a").fetchall() == [(1, None), (2, "new column")]
    assert committer.error is None


def test_the_parent_counts_venues_per_symbol_from_the_lines_before_the_first_book(tmp_path):
    from arbscan.parallel.replay_workers import venues_per_symbol

    path = tmp_path / "h.jsonl"
    path.write_text(
        '{"type": "market", "exchange": "x", "symbol": "A/USD", "taker_fee": "0", "amount_step": "1", "price_step": "1"}\n'
        '{"symbol": "a/usd", "type": "market", "exchange": "Y", "taker_fee": "0", "amount_step": "1", "price_step": "1"}\n'
        '{"type": "balance", "exchange": "x", "asset": "USD", "free": "1"}\n'
        '{"type": "market", "exchange": "x", "symbol": "B/USD", "taker_fee": "0", "amount_step": "1", "price_step": "1"}\n'
        '{"type": "book", "ts": 1.0, "exchange": "x", "symbol": "A/USD", "snapshot": true, "bids": [], "asks": []}\n'
        '{"type": "market", "exchange": "z", "symbol": "C/USD", "taker_fee": "0", "amount_step": "1", "price_step": "1"}\n')
    assert venues_per_symbol(path) == {"A/USD": 2, "B/USD": 1}  # C/USD comes after the first book: crc32 decides


# -- the status view over every shard ---------------------------------------------------------------


def test_the_status_view_adds_up_every_shards_venues_books_and_counts():
    from arbscan.parallel.shard_status import ShardStatus, WorkersView
    from arbscan.scan.view import StatusView

    statuses = {
        0: ShardStatus({"kraken": (True, 0, None, None), "bitstamp": (True, 1, None, None)}, {("kraken", "BTC/USD"): 99.5},
                       events=10, live_evaluations=2, episodes_closed=1, open_episodes=[], clock=100.0),
        1: ShardStatus({"kraken": (True, 0, None, None), "bitstamp": (False, 3, "ConnectionError: refused", 12.5)},
                       {("kraken", "ETH/USD"): 99.0}, events=5, live_evaluations=1, episodes_closed=2,
                       open_episodes=[], clock=99.8),
    }
    view = WorkersView(statuses)
    view.refresh()
    assert view.now() == 100.0
    assert (view.venues["kraken"].reachable, view.venues["bitstamp"].reachable) == (True, False)  # one shard cannot
    assert view.venues["bitstamp"].failures == 4 and view.venues["bitstamp"].down_since == 12.5
    lines = StatusView(view, enabled=False).render()
    assert lines[1].startswith("kraken") and "BTC/USD 500 ms" in lines[1] and "ETH/USD 1,000 ms" in lines[1]
    assert lines[0].startswith("bitstamp") and "unreachable" in lines[0]
    assert lines[-1] == "events 15  live evaluations 3  open episodes 0  closed episodes 3"


def test_auto_workers_are_the_cores_this_process_may_use(monkeypatch):
    import os

    from arbscan.config import settings as config

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)  # e.g. taskset -c 0,3,5
    assert config.workers_value("--workers", "auto") == 3
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # macOS, Windows: every core
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert config.workers_value("scanner.workers", "auto") == 8


def test_a_shard_that_keeps_dying_waits_twice_as_long_each_time_up_to_30_s():
    from arbscan.parallel.supervisor import RestartBackoff

    backoff = RestartBackoff(2)  # 1 s, doubling, at most 30 s; from 1 s again after a minute of running
    waits, now = [], 1000.0
    for _ in range(8):  # shard 1 dies 0.5 s after every start
        backoff.started(0, now)
        now += 0.5
        waits.append(backoff.after_death(0, now))
        now += waits[-1]
    assert waits == [1, 2, 4, 8, 16, 30, 30, 30]
    assert backoff.after_death(1, now) == 1  # each shard has its own
    backoff.started(0, now)
    assert backoff.after_death(0, now + 59.9) == 30  # ran under a minute: still backing off
    backoff.started(0, now + 100)
    assert backoff.after_death(0, now + 160) == 1  # ran a minute: back to the first delay
    backoff.started(0, now + 161)
    assert backoff.after_death(0, now + 161.5) == 2  # and doubles again while it keeps dying
