"""The order state machine (against a hand-written table) and the tracker's durable journal."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

import pytest

from arbscan.errors import ConfigError
from arbscan.execution.journal import DurableJournal
from arbscan.model import OrderRequest, OrderStatus, OrderUpdate, Side
from arbscan.execution.orders import IllegalTransition, OrderTracker, TrackedOrder, check_transition
from arbscan.journal.store import Store

D = Decimal
S = OrderStatus

# Hand-written: "from: to to to" (the legal moves); every other pair must raise.
LEGAL = """
created: submitted open partially_filled filled canceled rejected expired unknown
submitted: open partially_filled filled canceled rejected expired unknown
open: partially_filled filled canceled expired unknown
partially_filled: partially_filled filled canceled expired unknown
unknown: submitted open partially_filled filled canceled rejected expired
filled:
canceled:
rejected:
expired:
"""


def _legal() -> set[tuple[OrderStatus, OrderStatus]]:
    out = set()
    for line in LEGAL.strip().splitlines():
        old, _, news = line.partition(":")
        out |= {(S(old), S(n)) for n in news.split()}
    return out


@pytest.mark.parametrize("old", list(S))
def test_every_move_is_legal_exactly_when_the_table_says(old):
    legal = _legal()
    for new in S:
        if (old, new) in legal:
            check_transition(old, new)
        else:
            with pytest.raises(IllegalTransition):
                check_transition(old, new)


def test_some_moves_that_must_never_happen():
    for old, new in [(S.FILLED, S.OPEN), (S.REJECTED, S.FILLED), (S.OPEN, S.CREATED), (S.UNKNOWN, S.CREATED),
                     (S.OPEN, S.REJECTED), (S.CANCELED, S.CANCELED)]:
        with pytest.raises(IllegalTransition):
            check_transition(old, new)


def test_a_fill_never_shrinks():
    with pytest.raises(IllegalTransition, match="shrink"):
        check_transition(S.PARTIALLY_FILLED, S.FILLED, D("0.5"), D("0.4"))


@pytest.fixture
def journal(tmp_path):
    store = Store(tmp_path / "j.db")
    store.start_run("scan")
    j = DurableJournal.for_store(store)
    yield j
    j.close()
    store.close()


def _read(journal, sql, *params):
    conn = sqlite3.connect(str(journal.path))  # a second connection sees only committed rows
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


REQ = OrderRequest("cid-1", "kraken", "BTC/USD", Side.BUY, D("1.0"), D("101.5"))


def _update(status, filled, avg, fee="0"):
    return OrderUpdate("cid-1", "kraken", "BTC/USD", status, D(filled), None if avg is None else D(avg), D(fee), "OABC")


def test_intent_is_committed_when_intent_returns(journal):
    tracker = OrderTracker(journal, clock=lambda: 100.0)
    tracker.intent(REQ, "t1", "buy", "s")
    (row,) = _read(journal, "SELECT * FROM orders")
    assert (row["status"], row["amount"], row["limit_price"], row["side"], row["mode"]) == ("created", "1.0", "101.5", "buy", "live")
    assert row["run_id"] == journal.run_id and row["created"] == 100.0
    with pytest.raises(IllegalTransition):
        tracker.intent(REQ, "t1", "buy", "s")  # a client id is used once


def test_fills_are_journaled_per_increase_and_repeats_are_ignored(journal):
    tracker = OrderTracker(journal, clock=lambda: 1.0)
    tracker.intent(REQ, "t1", "buy", "s")
    tracker.apply(_update(S.OPEN, "0", None))
    tracker.apply(_update(S.PARTIALLY_FILLED, "0.4", "100", "0.1"))
    tracker.apply(_update(S.PARTIALLY_FILLED, "0.4", "100", "0.1"))  # the same news again
    order = tracker.apply(_update(S.FILLED, "1.0", "100.6", "0.25"))
    fills = _read(journal, "SELECT amount, price, fee, trade_id FROM fills ORDER BY ts, trade_id")
    # by hand: 0.4 @ 100, then the rest: (1.0 * 100.6 - 0.4 * 100) / 0.6 = 101.0, fee 0.25 - 0.1
    assert [(D(f["amount"]), D(f["price"]), D(f["fee"])) for f in fills] == [
        (D("0.4"), D("100"), D("0.1")), (D("0.6"), D("101"), D("0.15"))]
    events = _read(journal, "SELECT from_status, to_status FROM order_events ORDER BY id")
    assert [(e["from_status"], e["to_status"]) for e in events] == [
        (None, "created"), ("created", "open"), ("open", "partially_filled"), ("partially_filled", "filled")]
    assert order.status is S.FILLED and order.exchange_order_id == "OABC"
    # a fill seen again (e.g. after a restart) is stored once
    journal.write(fills=[dict(exchange="kraken", trade_id=fills[0]["trade_id"], client_id="cid-1", symbol="BTC/USD",
                              side="buy", amount=D("0.4"), price=D(100), fee=D("0.1"), fee_asset="USD", ts=2.0)])
    assert len(_read(journal, "SELECT * FROM fills")) == 2


def test_an_illegal_update_raises_and_changes_nothing(journal):
    tracker = OrderTracker(journal)
    tracker.intent(REQ, "t1", "buy", "s")
    tracker.apply(_update(S.FILLED, "1.0", "101"))
    with pytest.raises(IllegalTransition):
        tracker.apply(_update(S.OPEN, "1.0", "101"))
    (row,) = _read(journal, "SELECT status FROM orders")
    assert row["status"] == "filled"
    assert len(_read(journal, "SELECT * FROM order_events")) == 2


def test_unfinished_orders_come_back_exactly(journal):
    tracker = OrderTracker(journal)
    tracker.intent(REQ, "t1", "buy", "s")
    tracker.mark("cid-1", S.UNKNOWN, "read timeout")
    (again,) = [TrackedOrder.from_row(r) for r in journal.unfinished_order_rows()]
    assert again.req == REQ and again.status is S.UNKNOWN and again.error == "read timeout"


def test_journal_needs_a_migrated_file(tmp_path):
    with pytest.raises(ConfigError):
        DurableJournal(":memory:")
    sqlite3.connect(str(tmp_path / "empty.db")).close()
    with pytest.raises(ConfigError, match="execution tables"):
        DurableJournal(tmp_path / "empty.db")


def test_halts_persist_until_cleared(journal):
    journal.set_halt("first", 1.0)
    journal.set_halt("second", 2.0)
    assert [h["reason"] for h in journal.active_halts()] == ["first", "second"]
    assert journal.clear_halts("ops", 3.0) == 2
    assert journal.active_halts() == []
    rows = _read(journal, "SELECT cleared_by, cleared_at FROM halts")
    assert rows == [{"cleared_by": "ops", "cleared_at": 3.0}] * 2
