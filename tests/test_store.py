"""The SQLite journal: migrations, WAL, exact decimals, batched writes off the caller's thread."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

import pytest

from arbscan.errors import BadInput
from arbscan.model import Side
from arbscan.journal.store import FUNNEL_COUNTS, MIGRATIONS, Store, migrate


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "j.db", flush_interval=0.01)
    s.start_run("replay", "demo.jsonl.gz", {"min_net_bps": Decimal("1.5")})
    yield s
    s.close()


def test_new_journal_is_wal_at_latest_schema_version(tmp_path):
    s = Store(tmp_path / "j.db")
    s.close()
    conn = sqlite3.connect(tmp_path / "j.db")
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"runs", "opportunities", "funnel", "venue_stats"} <= tables


def test_reopening_keeps_rows_and_does_not_rerun_migrations(tmp_path):
    s = Store(tmp_path / "j.db")
    s.start_run("scan")
    s.submit("notes", {"text": "kept"})
    s.close()
    s2 = Store(tmp_path / "j.db")
    assert s2.db.execute("SELECT text FROM notes").fetchall() == [("kept",)]
    assert s2.db.execute("SELECT count(*) FROM runs").fetchone() == (1,)
    s2.close()


def test_appended_migration_runs_once_on_an_old_journal(tmp_path, monkeypatch):
    Store(tmp_path / "j.db").close()
    calls = []

    def add_extra(db):
        calls.append(1)
        db["test_extra"].create({"id": int, "reason": str}, pk="id")

    monkeypatch.setattr("arbscan.journal.schema.MIGRATIONS", [*MIGRATIONS, ("test_extra", add_extra)])
    s = Store(tmp_path / "j.db")
    s.close()
    s = Store(tmp_path / "j.db")
    assert calls == [1]
    assert s.db.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS) + 1,)
    assert "test_extra" in s.db.table_names()
    s.close()


def test_journal_newer_than_code_is_refused(tmp_path):
    conn = sqlite3.connect(tmp_path / "j.db")
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    conn.close()
    with pytest.raises(BadInput, match=r"was written by a newer arbscan \(schema version \d+; this arbscan knows \d+\)"):
        Store(tmp_path / "j.db")


def test_decimals_are_stored_as_exact_text_and_enums_by_value(store):
    store.submit("orders", {"amount": Decimal("0.10000000"), "price": Decimal("29430.3"), "side": Side.BUY})
    store.flush()
    row = store.db.execute("SELECT amount, typeof(amount), price, side FROM orders").fetchone()
    assert row == ("0.10000000", "text", "29430.3", "buy")


@pytest.mark.parametrize(
    ("value", "stored"),
    [("0E-8", "0"), ("0E-10", "0"), ("-0", "0"), ("1E-8", "0.00000001"), ("0.00000001", "0.00000001"),
     ("1E+3", "1000"), ("-2.5E-7", "-0.00000025"), ("1.50", "1.50"), ("123.456E+2", "12345.6")],
)
def test_exact_decimals_are_written_plainly_never_with_an_exponent(store, value, stored):
    store.submit("orders", {"amount": Decimal(value), "detail": {"fee": Decimal(value)}})
    store.flush()
    amount, detail = store.db.execute("SELECT amount, detail FROM orders").fetchone()
    assert amount == stored and Decimal(amount) == Decimal(value)
    assert detail == f'{{"fee": "{stored}"}}'


def test_every_order_column_of_a_paper_journal_is_plain(tmp_path):
    from arbscan.model import OrderRequest
    from arbscan.execution.orders import TrackedOrder

    req = OrderRequest("c1", "alpha", "BTC/USD", Side.BUY, Decimal("1E-3"), Decimal("1.00E+2"))
    row = TrackedOrder(req, "t", "buy", "s", filled=Decimal("0E-8"), fee=Decimal("0E-10")).as_row(1, "paper")
    with Store(tmp_path / "j.db") as s:
        s.start_run("replay")
        s.upsert("orders", row, pk="client_id")
        s.flush()
        text = s.db.execute("SELECT amount, limit_price, filled, fee FROM orders").fetchone()
    assert text == ("0.001", "100", "0", "0")


def test_every_row_carries_the_run_id(store):
    store.submit_many("orders", [{"n": 1}, {"n": 2}])
    store.flush()
    assert store.db.execute("SELECT DISTINCT run_id FROM orders").fetchall() == [(store.run_id,)]


def test_rows_with_new_columns_are_accepted(store):
    store.submit("orders", {"a": 1})
    store.submit("orders", {"a": 2, "b": "x"})
    store.flush()
    assert store.db.execute("SELECT a, b FROM orders ORDER BY a").fetchall() == [(1, None), (2, "x")]


def test_upsert_replaces_by_key_in_submission_order(store):
    pk = ("run_id", "symbol")
    store.upsert("counts", {"symbol": "BTC/USD", "n": 1}, pk)
    store.upsert("counts", {"symbol": "BTC/USD", "n": 7}, pk)
    store.upsert("counts", {"symbol": "ETH/USD", "n": 2}, pk)
    store.flush()
    assert store.db.execute("SELECT symbol, n FROM counts ORDER BY symbol").fetchall() == [("BTC/USD", 7), ("ETH/USD", 2)]


def test_submit_returns_while_another_process_holds_the_write_lock(store):
    other = sqlite3.connect(store.path, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    for i in range(100):  # would block (or fail) here if writes ran on the caller's thread
        store.submit("ticks", {"i": i})
    assert "ticks" not in Store.open_readonly(store.path).table_names()
    other.execute("ROLLBACK")
    store.flush()
    assert store.db.execute("SELECT count(*) FROM ticks").fetchone() == (100,)


def test_close_flushes_everything_accepted_and_ends_the_run(tmp_path):
    s = Store(tmp_path / "j.db", flush_interval=5.0, batch_size=10**6)
    run = s.start_run("replay")
    s.submit_many("ticks", ({"i": i} for i in range(2500)))
    s.close()
    ro = Store.open_readonly(tmp_path / "j.db")
    assert ro.execute("SELECT count(*) FROM ticks").fetchone() == (2500,)
    assert ro.execute("SELECT status, ended IS NOT NULL FROM runs WHERE id = ?", (run,)).fetchone() == ("ok", 1)


def test_context_manager_marks_interrupted_runs(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with Store(tmp_path / "j.db") as s:
            s.start_run("scan")
            s.submit("ticks", {"i": 1})
            raise KeyboardInterrupt
    ro = Store.open_readonly(tmp_path / "j.db")
    assert ro.execute("SELECT status FROM runs").fetchone() == ("interrupted",)
    assert ro.execute("SELECT count(*) FROM ticks").fetchone() == (1,)


def test_readonly_reader_sees_committed_rows_while_writer_is_open(store):
    store.submit("ticks", {"i": 1})
    store.flush()
    ro = Store.open_readonly(store.path)
    assert ro.execute("SELECT count(*) FROM ticks").fetchone() == (1,)
    with pytest.raises(sqlite3.OperationalError):
        ro.execute("INSERT INTO ticks (i) VALUES (2)")


def test_open_readonly_on_missing_file_is_bad_input(tmp_path):
    with pytest.raises(BadInput, match="does not exist"):
        Store.open_readonly(tmp_path / "missing.db")


def test_funnel_table_has_every_counter(store):
    cols = set(store.db["funnel"].columns_dict)
    assert set(FUNNEL_COUNTS) <= cols
    assert {"run_id", "symbol", "buy_exchange", "sell_exchange"} <= cols


def test_settings_summary_is_json(store):
    assert store.db.execute("SELECT mode, source, settings FROM runs").fetchone() == (
        "replay",
        "demo.jsonl.gz",
        '{"min_net_bps": "1.5"}',
    )


def test_migrate_is_idempotent(store):
    assert migrate(store.db) == len(MIGRATIONS)


def test_flush_commits_at_once_without_waiting_for_the_batch_interval(tmp_path):
    s = Store(tmp_path / "j.db", flush_interval=3600.0, batch_size=10**6)
    s.submit("ticks", {"i": 1})
    s.flush()  # would hang for an hour if flush waited for the interval
    assert Store.open_readonly(tmp_path / "j.db").execute("SELECT count(*) FROM ticks").fetchone() == (1,)
    s.flush()  # nothing queued: returns too
    s.close()


@pytest.mark.parametrize(("setup", "cause"), [("missing_dir", "its directory '.*nope' does not exist"),
                                             ("not_a_database", "is not an SQLite database")])
def test_unusable_journal_path_is_bad_input(tmp_path, setup, cause):
    path = tmp_path / "nope" / "j.db" if setup == "missing_dir" else tmp_path / "j.db"
    if setup == "not_a_database":
        path.write_bytes(b"this is a text file, not SQLite" * 100)
    with pytest.raises(BadInput, match=f"journal '.*j.db': {cause}"):
        Store(path)


def test_a_failed_batch_is_reported_once_and_later_batches_are_still_written(store):
    store.submit("ticks", {"i": 1})
    store.flush()
    store.submit("ticks", {"i": object()})  # sqlite cannot store this: the batch fails
    with pytest.raises(RuntimeError, match="rows were lost"):
        store.flush()
    store.submit("ticks", {"i": 3})
    store.flush()  # the failure was reported once; writing goes on
    assert [r[0] for r in store.db.execute("SELECT i FROM ticks ORDER BY i")] == [1, 3]


def test_batch_waits_for_another_writer_instead_of_failing(store):
    other = sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE IF NOT EXISTS other_notes (x)")
    store.submit("ticks", {"i": 1})
    import threading

    threading.Timer(0.3, lambda: other.execute("COMMIT")).start()
    store.flush()
    assert Store.open_readonly(store.path).execute("SELECT count(*) FROM ticks").fetchone() == (1,)


def test_backpressure_blocks_a_producer_until_the_writer_catches_up(store):
    import threading

    other = sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # the writer cannot commit while this is held
    store.submit_many("ticks", ({"i": i} for i in range(100)))
    assert store.backlog == 100
    waiter = threading.Thread(target=store.backpressure, args=(10,))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive()  # still waiting: 100 rows pending > 10
    other.execute("COMMIT")
    waiter.join(30)
    assert not waiter.is_alive() and store.backlog == 0
    store.backpressure()  # nothing pending: returns at once
