"""`arbscan report` through the real command line, on the bundled demo's journal right after the README's first command."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest

from arbscan.cli import command as cli
from arbscan.report import TABLES

ROUTE_KEYS = ("symbol", "buy_exchange", "sell_exchange")


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    """`arbscan replay --db demo.db` (the README's first command) in an empty directory."""
    d = tmp_path_factory.mktemp("demo")
    old = os.getcwd()
    os.chdir(d)
    try:
        assert cli.main(["replay", "--db", "demo.db", "--no-progress"]) == 0
    finally:
        os.chdir(old)
    return d / "demo.db"


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_report_on_the_demo_journal(demo_db, tmp_path, capsys):
    capsys.readouterr()
    assert cli.main(["report", "--db", str(demo_db), "--csv", str(tmp_path / "csv"),
                     "--html", str(tmp_path / "demo.html")]) == 0
    out = capsys.readouterr().out
    assert "== Routes" in out and "== Route funnel" in out and "== Venues" in out
    funnel = {tuple(r[k] for k in ROUTE_KEYS): r for r in _rows(tmp_path / "csv" / "funnel.csv")}
    # the recording's known shape (shared/realdata PROVENANCE.md): Deribit's best bid sits above BitMEX's
    # best ask throughout, by less than the 0.075 % taker fees; the books are never crossed the other way
    up = funnel[("BTC/USD", "bitmex", "deribit")]
    down = funnel[("BTC/USD", "deribit", "bitmex")]
    assert int(up["evaluated"]) > 0 and up["crossed_before_fees"] == up["evaluated"] == up["fees"]
    assert up["live"] == "0" and up["main_reason_not_live"] == "fees"
    assert down["crossed_before_fees"] == "0" and down["not_crossed"] == down["evaluated"]
    venues = {r["exchange"]: r for r in _rows(tmp_path / "csv" / "venues.csv")}
    # BitMEX: 1 snapshot + 3,718 deltas; Deribit: 1 snapshot + 3,769 deltas (PROVENANCE.md)
    assert venues["bitmex"]["events"] == "3719" and venues["deribit"]["events"] == "3770"
    assert venues["bitmex"]["first_event"].startswith("2019-04-01T00:00:02.68")
    routes = _rows(tmp_path / "csv" / "routes.csv")
    assert {r["episodes"] for r in routes} == {"0"}
    # joint window 00:00:02.68 - 00:00:59.85 (PROVENANCE.md): about 57.2 s covered on both routes
    assert all(57.0 < float(r["covered_s"]) < 57.3 for r in routes)
    for name in TABLES:
        with open(tmp_path / "csv" / f"{name}.csv", newline="") as f:
            assert tuple(next(csv.reader(f))) == TABLES[name]
    assert "<h1>arbscan report</h1>" in (tmp_path / "demo.html").read_text()


def test_report_appears_in_the_cli_help(capsys):
    assert cli.main(["report", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--db", "--since", "--until", "--symbol", "--run", "--csv", "--html"):
        assert flag in out


def test_console_script_exits_2_with_one_line_on_a_missing_journal(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "arbscan.cli", "report", "--db", str(tmp_path / "missing.db")],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("arbscan: error: ") and proc.stderr.count("\n") == 1
    assert "missing.db" in proc.stderr and proc.stdout == ""


def test_bad_run_argument_is_an_argparse_error(demo_db, capsys):
    assert cli.main(["report", "--db", str(demo_db), "--run", "first"]) == 2
    assert "--run" in capsys.readouterr().err


def test_reports_while_a_replay_process_is_writing_the_journal(tmp_path):
    from arbscan.report import build_report

    db = tmp_path / "busy.db"
    proc = subprocess.Popen([sys.executable, "-m", "arbscan.cli", "replay", "--db", str(db), "--no-progress"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    reports = 0
    try:
        while proc.poll() is None:
            if db.exists():
                report = build_report(db, charts=False)  # never raises, never blocks the writer
                reports += 1
                assert report.empty or len(report.tables["runs"]) == 1
    finally:
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert reports > 0, "the replay ended before a report could run"
    final = build_report(db, charts=False)
    assert final.tables["runs"]["status"].tolist() == ["ok"]
    assert final.tables["venues"]["events"].tolist() == [3719, 3770]


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(m for m in ('pandas', 'matplotlib') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


def test_importing_the_cli_loads_neither_pandas_nor_matplotlib():
    assert _modules_after("import arbscan.cli.command") == set()


def test_importing_the_report_package_does_not_load_matplotlib():
    # pandas may come in through arbscan.journal.store (sqlite_utils imports it when it is installed)
    assert "matplotlib" not in _modules_after("import arbscan.report")
