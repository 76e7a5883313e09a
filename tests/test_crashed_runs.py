"""Runs killed without a goodbye: a run records its pid and host, and the next process that opens the
journal marks it ``crashed`` once its process is gone (and only then)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

from arbscan.journal.file import mark_crashed_runs, process_alive, this_host
from arbscan.journal.store import Store

CHILD = """
import sys, time
from arbscan.journal.store import Store
store = Store(sys.argv[1])
store.start_run("scan", "child")
store.submit("opportunities", {"symbol": "BTC/USD", "buy_exchange": "a", "sell_exchange": "b", "net_bps": "1"})
store.flush()
print("ready", flush=True)
time.sleep(120)
"""


def _status(db, run_id):
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
    finally:
        conn.close()


def test_a_run_killed_with_sigkill_is_marked_crashed_by_the_next_open(tmp_path):
    db = tmp_path / "j.db"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        conn = sqlite3.connect(db)
        pid, host, status = conn.execute("SELECT pid, host, status FROM runs").fetchone()
        conn.close()
        assert (pid, host, status) == (child.pid, this_host(), "running")
        Store.open_readonly(db).conn.close()  # the process is alive: nothing to mark
        assert _status(db, 1) == "running"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
    ro = Store.open_readonly(db)  # a report's open marks it
    assert ro.execute("SELECT status, ended FROM runs").fetchone() == ("crashed", None)
    assert ro.execute("SELECT count(*) FROM opportunities").fetchone() == (1,)  # what it journaled is kept
    ro.conn.close()


def test_a_writer_open_marks_dead_runs_and_keeps_live_and_foreign_ones(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    try:
        with Store(tmp_path / "j.db") as s:
            s.start_run("replay")
        conn = sqlite3.connect(tmp_path / "j.db")
        now = time.time()
        rows = [
            (now, "running", gone.pid, this_host()),  # 2: its process is gone
            (now + 5, "running", sleeper.pid, this_host()),  # 3: its process runs (started before the run)
            (now - 3600, "running", sleeper.pid, this_host()),  # 4: that pid now belongs to a later process
            (now, "running", gone.pid, "another-host"),  # 5: cannot be checked from here
            (now, "running", None, None),  # 6: journaled by an older arbscan
            (now, "ok", gone.pid, this_host()),  # 7: finished properly
        ]
        conn.executemany("INSERT INTO runs (started, status, pid, host) VALUES (?, ?, ?, ?)", rows)
        conn.commit()
        conn.close()
        with Store(tmp_path / "j.db"):
            pass
        conn = sqlite3.connect(tmp_path / "j.db")
        statuses = [s for (s,) in conn.execute("SELECT status FROM runs ORDER BY id")]
        conn.close()
        assert statuses == ["ok", "crashed", "running", "crashed", "running", "running", "ok"]
    finally:
        sleeper.kill()
        sleeper.wait()


def test_this_process_is_alive_and_a_reaped_one_is_not():
    assert process_alive(os.getpid(), time.time() - 10)
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    assert not process_alive(p.pid)


def test_a_journal_without_the_pid_column_is_left_alone(tmp_path):
    conn = sqlite3.connect(tmp_path / "old.db")
    conn.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, status TEXT)")
    conn.execute("INSERT INTO runs (status) VALUES ('running')")
    assert mark_crashed_runs(conn) == []
    conn.close()
