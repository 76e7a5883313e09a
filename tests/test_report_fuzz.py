"""`arbscan report` never crashes on a journal: any value in any column gives a report or a one-line error (exit 2).

A realistic journal (written through ``Store``: runs, episodes, funnel, feed statistics, paper and live
trades with their orders, fills and balances) is copied for each example and odd values are written
into its columns: absurd decimals, '', garbage text, NULL, huge and negative integers, floats,
'NaN', 'Infinity', '1e26', '-0E-8', bytes that are not UTF-8. Columns are discovered with
``PRAGMA table_info``, so a column added by a later migration is fuzzed without touching this file.
The report then runs through the real command line as text, ``--csv DIR`` and ``--html FILE``.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbscan.cli import command as cli
from arbscan.journal.store import Store

DATA = Path(__file__).parent / "data" / "report"
T0 = 1554076800.0


class _NotUtf8:
    """Marker: write bytes that are not UTF-8 into a TEXT value (a journal written by other tools)."""

    def __repr__(self) -> str:
        return "NOT_UTF8"


NOT_UTF8 = _NotUtf8()
KEEP = object()  # leave the column as it is

ODD_VALUES = st.one_of(
    st.sampled_from(["", "NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "inf", "1e26", "-1e26", "-0E-8",
                     "1E+999999", "-1E-999999", "9" * 80, "0.1e-30", "garbage", "1,5", " 12 ", "\n", "BTC/USD",
                     "<b>x</b>", None, NOT_UTF8, 0, -1, 2**63 - 1, -(2**63), 1e26, -1e308, 1e-300, 0.5]),
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.text(max_size=12),
)


def _write_realistic(path: Path) -> Path:
    """A journal with every table populated: the hand-written report journal plus a run started by Store."""
    data = json.loads((DATA / "journal.json").read_text())
    with Store(path, flush_interval=0.01) as s:
        for table in ("runs", "opportunities", "funnel", "venue_stats", "trades", "orders", "fills", "balances"):
            s.submit_many(table, data[table])
        s.flush()  # runs 1 and 2 are in: the new run is 3
        s.start_run("replay", "fuzz.jsonl", {"min_net_bps": "0"})
        run = s.run_id
        s.submit_many("opportunities", [dict(e, run_id=run, first_seen=e["first_seen"] + 9000,
                                             last_seen=e["last_seen"] + 9000) for e in data["opportunities"][:3]])
        s.submit_many("funnel", [dict(f, run_id=run) for f in data["funnel"][:2]])
        s.submit_many("venue_stats", [dict(v, run_id=run, first_ts=v["first_ts"] + 9000, last_ts=v["last_ts"] + 9000)
                                      for v in data["venue_stats"][:2]])
        s.submit_many("order_events", [{"run_id": run, "client_id": "T1b", "ts": T0 + 9001, "from_status": "created",
                                        "to_status": "submitted", "detail": None}])
        s.submit_many("halts", [{"set_at": T0 + 9002, "reason": "daily loss", "run_id": run, "cleared_at": None,
                                 "cleared_by": None}])
        s.submit_many("alerts", [{"run_id": run, "event": "episode_opened", "destination": "desk", "status": "failed",
                                  "attempts": 3, "queued": T0 + 9003, "finished": T0 + 9004, "event_ts": T0 + 9003,
                                  "title": "opened", "detail": "HTTP 500"}])
        s.submit_many("funding", [{"run_id": 1, "set_id": 1, "ts": T0 + 10, "exchange": "kraken", "asset": "BTC",
                                   "source": "venue", "asset_deposit": 1, "asset_withdraw": 1, "network": "BTC",
                                   "deposit": 1, "withdraw": 1, "withdraw_fee": "0.0001", "withdraw_min": "0.0005",
                                   "deposit_fee": "0", "deposit_min": "0", "confirmations": 3}])
    conn = sqlite3.connect(path)
    # columns a later arbscan may add (counts in funnel and venue_stats) and a run whose process died
    conn.execute("ALTER TABLE funnel ADD COLUMN later_count INTEGER")
    conn.execute("ALTER TABLE venue_stats ADD COLUMN later_feed_count INTEGER")
    conn.execute("UPDATE funnel SET later_count = 2")
    conn.execute("UPDATE venue_stats SET later_feed_count = 1")
    conn.execute("UPDATE runs SET status = 'crashed' WHERE id = 2")
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return _write_realistic(tmp_path_factory.mktemp("fuzz") / "template.db")


def _columns(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                         "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return [(t, r[1]) for t in tables for r in conn.execute(f"PRAGMA table_info({t})")]


def _write(conn: sqlite3.Connection, table: str, column: str, row: int, value: object) -> None:
    """Set one cell (the ``row``-th row, wrapping); a value SQLite refuses there (a rowid, a key clash) is skipped."""
    (count,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    if not count:
        return
    where = f"rowid = (SELECT rowid FROM {table} ORDER BY rowid LIMIT 1 OFFSET {row % count})"
    try:
        if value is NOT_UTF8:
            conn.execute(f"UPDATE {table} SET {column} = CAST(x'ff41fe' AS TEXT) WHERE {where}")
        else:
            conn.execute(f"UPDATE {table} SET {column} = ? WHERE {where}", (value,))
    except (sqlite3.IntegrityError, OverflowError):
        pass


def _run_report(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def _check(code: int, err: str) -> None:
    assert code in (0, 2), f"exit {code}: {err[-3000:]}"
    if code == 2:
        assert err.startswith("arbscan: error: ") and err.count("\n") == 1, err


def _fuzzed_copy(template: Path, workdir: Path, data: st.DataObject) -> Path:
    db = workdir / "j.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copy(template, db)
    conn = sqlite3.connect(db)
    for table, column in _columns(conn):
        value = data.draw(st.one_of(st.just(KEEP), ODD_VALUES), label=f"{table}.{column}")
        if value is not KEEP:
            _write(conn, table, column, data.draw(st.integers(0, 9), label="row"), value)
    conn.commit()
    conn.close()
    return db


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_any_value_in_any_column_gives_a_text_report_and_csv_files(template, tmp_path_factory, data):
    workdir = tmp_path_factory.mktemp("fz", numbered=True)
    db = _fuzzed_copy(template, workdir, data)
    code, _, err = _run_report(["report", "--db", str(db), "--csv", str(workdir / "csv")])
    _check(code, err)


@settings(max_examples=20, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_any_value_in_any_column_gives_an_html_report(template, tmp_path_factory, data):
    workdir = tmp_path_factory.mktemp("fz", numbered=True)
    db = _fuzzed_copy(template, workdir, data)
    code, _, err = _run_report(["report", "--db", str(db), "--html", str(workdir / "r.html")])
    _check(code, err)


@pytest.mark.parametrize("value", ["", "garbage", None, "NaN", "Infinity", "-Infinity", "1e26", "-0E-8", "1E+999999",
                                   2**63 - 1, -(2**63), 1e308, -1.5, NOT_UTF8], ids=repr)
def test_one_odd_value_in_every_column_at_once(template, tmp_path, value):
    db = tmp_path / "j.db"
    shutil.copy(template, db)
    conn = sqlite3.connect(db)
    for table, column in _columns(conn):
        for row in range(10):
            _write(conn, table, column, row, value)
    conn.commit()
    conn.close()
    code, _, err = _run_report(["report", "--db", str(db), "--csv", str(tmp_path / "csv"),
                                "--html", str(tmp_path / "r.html")])
    _check(code, err)


# -- what the report shows of odd values -------------------------------------------------------


def test_decimals_of_any_magnitude_are_shown_without_error():
    from decimal import Decimal

    from arbscan.report.cells import cell
    from arbscan.report.tables import round_to

    assert cell("net_profit", Decimal("123456789012345678901234567.00000001")) == "123456789012345678901234567.00000001"
    assert cell("net_profit", Decimal("1E+999999")) == "1E+999999"
    assert cell("net_profit", Decimal("-1.000E-999999")) == "-1E-999999"
    assert cell("net_profit", Decimal("-0E-8")) == "-0.00000000"
    assert round_to(Decimal("1e26"), Decimal("0.01")) == Decimal("1e26") and \
        cell("net_bps_max", round_to(Decimal("1e26"), Decimal("0.01"))) == "100000000000000000000000000.00"
    assert round_to(Decimal("1E+999999"), Decimal("0.01")) == Decimal("1E+999999")
    assert cell("duration_max_s", 1e300) == "1e+300" and cell("events", 10**26) == str(10**26)


def test_unreadable_values_are_missing_and_the_report_names_their_rows(template, tmp_path):
    from arbscan.report import build_report

    db = tmp_path / "j.db"
    shutil.copy(template, db)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE opportunities SET first_seen = 'soon', net_bps = 'NaN' WHERE id = 2")
    conn.execute("UPDATE venue_stats SET events = 'many' WHERE rowid = 3")
    conn.execute("UPDATE trades SET detail = CAST(x'ff41' AS TEXT), status = 'lost' WHERE id = 'T2'")
    conn.commit()
    conn.close()
    report = build_report(db)
    assert report.notes[:3] == [
        "journal: opportunities.first_seen holds 1 value that is not a time (first: rowid 2, 'soon'); read as missing",
        "journal: opportunities.net_bps holds 1 value that is not a finite decimal (first: rowid 2, 'NaN'); "
        "read as missing",
        "journal: venue_stats.events holds 1 value that is not a whole number (first: rowid 3, 'many'); "
        "read as missing",
    ]
    assert any("'lost' (1)" in n for n in report.notes)
    assert report.tables["episodes"]["first_seen"].isna().sum() == 1  # missing, not a guess
    imbalance = report.tables["imbalances"].set_index("trade_id").loc["T2"]
    assert imbalance["detail"] == "\ufffdA" and imbalance["status"] == "lost"  # shown as far as it can be read


def test_count_columns_added_later_are_shown_after_the_documented_ones(template, tmp_path, capsys):
    import csv

    from arbscan.report import TABLES

    assert cli.main(["report", "--db", str(template), "--csv", str(tmp_path), "--html", str(tmp_path / "r.html")]) == 0
    out = capsys.readouterr().out
    assert "later_count" in out and "later_feed_count" in out
    with open(tmp_path / "funnel.csv", newline="") as f:
        funnel = list(csv.DictReader(f))
    assert list(funnel[0]) == [*TABLES["funnel"], "later_count"]
    # BTC/USD kraken->bitstamp has funnel rows in runs 1, 2 and 3 (2 each), ETH/USD in run 1 only
    assert {(r["symbol"], r["buy_exchange"]): r["later_count"] for r in funnel} == {
        ("BTC/USD", "bitstamp"): "4", ("BTC/USD", "kraken"): "6", ("ETH/USD", "kraken"): "2"}
    with open(tmp_path / "venues.csv", newline="") as f:
        venues = list(csv.DictReader(f))
    assert list(venues[0]) == [*TABLES["venues"], "later_feed_count"]
    assert "later_count" in (tmp_path / "r.html").read_text()


def test_a_crashed_run_is_shown_as_crashed(template, capsys):
    assert cli.main(["report", "--db", str(template)]) == 0
    out = capsys.readouterr().out
    runs = out.split("== Runs ==")[1].split("==")[0]
    assert [ln.split()[2] for ln in runs.strip().splitlines()[1:4]] == ["ok", "crashed", "ok"]
    assert "note: run 2 crashed (the process died)" in out


# -- status and rebalance read the same journals -----------------------------------------------------


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_any_value_in_any_column_gives_a_status_and_a_rebalance_advice(template, tmp_path_factory, data):
    workdir = tmp_path_factory.mktemp("fz", numbered=True)
    db = _fuzzed_copy(template, workdir, data)
    for command in ("status", "rebalance"):
        code, _, err = _run_report([command, "--db", str(db)])
        _check(code, err)


@pytest.mark.parametrize("value", ["", "garbage", "many", None, "NaN", "Infinity", "-Infinity", "1e26", "-0E-8",
                                   "1E+999999", 2**63 - 1, -(2**63), 1e308, -1.5, NOT_UTF8], ids=repr)
def test_status_and_rebalance_with_one_odd_value_in_every_column_at_once(template, tmp_path, value):
    db = tmp_path / "j.db"
    shutil.copy(template, db)
    conn = sqlite3.connect(db)
    for table, column in _columns(conn):
        for row in range(10):
            _write(conn, table, column, row, value)
    conn.commit()
    conn.close()
    for command in ("status", "rebalance"):
        code, _, err = _run_report([command, "--db", str(db)])
        _check(code, err)
