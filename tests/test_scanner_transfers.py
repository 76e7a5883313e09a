"""The scanner with funding facts: episodes flagged, transfer_blocked counted when required, unknown shown."""

import sqlite3
from decimal import Decimal as D

from conftest import book, market
from sqlite_utils import Database

from arbscan.funding.facts import AssetFunding, FundingBook, NetworkFunding
from arbscan.journal.schema import MIGRATIONS, migrate
from arbscan.scan.scanner import Scanner

SYM = "BTC/USDT"


def net(code, dep=True, wd=True, fee=None):
    return NetworkFunding(code, dep, wd, None if fee is None else D(fee))


# the README's worked example ("Moving the inventory back")
FACTS = [
    AssetFunding("A", "BTC", (net("BTC", fee="0.0002"), net("LIGHTNING", fee="0.00001"))),
    AssetFunding("B", "BTC", (net("BTC"),)),
    AssetFunding("B", "USDT", (net("ERC20", fee="8"), net("TRC20", fee="1.6"))),
    AssetFunding("A", "USDT", (net("ERC20"), net("TRC20", dep=False))),
]
BTC_STUCK_ON_A = AssetFunding("A", "BTC", (net("BTC", wd=False, fee="0.0002"),))


def _scanner(store=None, **kw):
    s = Scanner({}, store, **kw)
    s.add_market(market("A", SYM, "0.001"))
    s.add_market(market("B", SYM, "0.002"))
    return s


def _cross(s, t):
    """A buys 0.5 BTC at 30000, B bids 30150 for it: net 29.85 USDT (README example)."""
    s.on_book_event(book("A", t, bids=[("29990", "1")], asks=[("30000", "0.5")], symbol=SYM))
    return s.on_book_event(book("B", t, bids=[("30150", "0.5")], asks=[("30160", "1")], symbol=SYM))


def _uncross(s, t):
    s.on_book_event(book("B", t, bids=[("29980", "0.5")], asks=[("30160", "1")], symbol=SYM))


def _rows(store, sql):
    store.flush()
    conn = sqlite3.connect(store.path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def test_episode_records_the_networks_cost_and_edge_after_moving_back(store):
    s = _scanner(store, rebalance_batch=1)
    for f in FACTS:
        s.set_funding(f, 0.5)
    assert _cross(s, 1.0)
    _uncross(s, 1.1)
    (row,) = _rows(store, "SELECT * FROM opportunities")
    assert (row["transfer"], row["base_network"], row["quote_network"]) == ("transferable", "BTC", "ERC20")
    assert (D(row["net_profit"]), D(row["transfer_cost"]), D(row["net_after_transfer"])) == (
        D("29.85"), D("14"), D("15.85"))
    assert row["transfer_detail"] is None


def test_base_that_cannot_leave_the_buy_venue_is_flagged_but_still_journaled(store):
    s = _scanner(store)
    for f in (*FACTS, BTC_STUCK_ON_A):
        s.set_funding(f, 0.5)
    assert _cross(s, 1.0)  # not required: still live
    _uncross(s, 1.1)
    (row,) = _rows(store, "SELECT * FROM opportunities")
    assert row["transfer"] == "blocked"
    assert row["transfer_detail"] == "BTC cannot leave A for B on any common network (BTC: withdrawals off on A)"
    assert row["transfer_cost"] is None and row["net_after_transfer"] is None
    assert s.funnels[(SYM, "A", "B")].transfer_blocked == 0


def test_required_transferability_counts_transfer_blocked_and_opens_no_episode(store):
    s = _scanner(store, require_transferable=True)
    for f in (*FACTS, BTC_STUCK_ON_A):
        s.set_funding(f, 0.5)
    assert _cross(s, 1.0) == []
    assert _cross(s, 1.2) == []
    funnel = s.funnels[(SYM, "A", "B")]  # evaluated at B's first book, then at A's and B's second ones
    assert (funnel.evaluated, funnel.transfer_blocked, funnel.live, funnel.episodes) == (3, 3, 0, 0)
    s.close()
    (row,) = _rows(store, "SELECT * FROM funnel WHERE buy_exchange = 'A'")
    assert row["transfer_blocked"] == 3
    assert _rows(store, "SELECT * FROM opportunities") == []


def test_a_network_switching_off_ends_the_episode_when_required(store):
    s = _scanner(store, require_transferable=True)
    for f in FACTS:
        s.set_funding(f, 0.5)
    assert _cross(s, 1.0)
    s.set_funding(BTC_STUCK_ON_A, 1.05)
    assert _cross(s, 1.1) == []
    (row,) = _rows(store, "SELECT * FROM opportunities")
    assert (row["close_reason"], row["close_detail"], row["closed_at"]) == ("uncrossed", "transfer_blocked", 1.1)


def test_unknown_is_shown_as_unknown_and_never_blocks(store):
    s = _scanner(store, require_transferable=True)
    s.set_funding(FACTS[0], 0.5)  # only A's BTC is known
    assert _cross(s, 1.0)
    _uncross(s, 1.1)
    (row,) = _rows(store, "SELECT * FROM opportunities")
    assert row["transfer"] == "unknown"
    assert row["transfer_detail"] == "no BTC transfer facts for B; no USDT transfer facts for B"


def test_no_facts_at_all_is_unknown_and_skips_the_work(store):
    s = _scanner(store, require_transferable=True)
    s.transfers.verdict = None  # would fail if called: with no facts the scanner never asks
    assert _cross(s, 1.0)
    _uncross(s, 1.1)
    (row,) = _rows(store, "SELECT * FROM opportunities")
    assert (row["transfer"], row["transfer_detail"]) == ("unknown", "no transfer facts known")


def test_funding_facts_are_journaled_and_read_back(store):
    s = _scanner(store, funding=FundingBook({"A": {"USDT": (NetworkFunding("ERC20", withdraw_fee=D("5")),)}}))
    s.set_funding(FACTS[3], 2.0)
    rows = _rows(store, "SELECT * FROM funding ORDER BY id")
    assert [(r["ts"], r["exchange"], r["asset"], r["network"], r["deposit"], r["withdraw_fee"]) for r in rows] == [
        (2.0, "A", "USDT", "ERC20", 1, "5"), (2.0, "A", "USDT", "TRC20", 0, None)]  # the config's fee on top
    assert len({r["set_id"] for r in rows}) == 1


def test_a_journal_from_before_this_change_opens_and_gains_the_columns(tmp_path):
    path = tmp_path / "old.db"
    db = Database(path)
    for index, (_, fn) in enumerate(MIGRATIONS[:3]):  # the schema as it shipped: version 3
        fn(db)
        db.conn.execute(f"PRAGMA user_version = {index + 1}")
    db["runs"].insert({"id": 1, "mode": "scan", "status": "ok"})
    db["funnel"].insert({"run_id": 1, "symbol": SYM, "buy_exchange": "A", "sell_exchange": "B", "evaluated": 7})
    db.conn.commit()
    assert migrate(db) == len(MIGRATIONS)
    (row,) = db["funnel"].rows
    assert (row["evaluated"], row["transfer_blocked"]) == (7, 0)  # nothing journaled is lost
    assert {"transfer", "net_after_transfer"} <= set(db["opportunities"].columns_dict)
    assert "funding" in db.table_names()


def test_the_run_summary_shows_transfer_blocked_only_when_required():
    import io

    from arbscan.execution.summary import print_funnel

    for required in (False, True):
        s = _scanner(require_transferable=required)
        for f in (*FACTS, BTC_STUCK_ON_A):
            s.set_funding(f, 0.5)
        _cross(s, 1.0)
        out = io.StringIO()
        print_funnel(s, out)
        head, *rows = out.getvalue().splitlines()
        assert head.rstrip().endswith("transfer blocked") is required
        if required:
            (a_to_b,) = [r for r in rows if "A -> B" in r]
            assert a_to_b.split()[-1] == "1"
