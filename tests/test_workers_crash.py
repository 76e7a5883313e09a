"""``replay --workers 2`` under SIGKILL and SIGINT/SIGTERM: a sound journal, and no process left behind.

Each trial starts ``python -m arbscan.cli.command replay FILE --workers 2`` with two paper strategies (so the
parent's executor writes rows too), waits until its shards and journal writer run and some rows are
committed, then SIGKILLs one process — a shard, the writer or the parent — after a random delay
(seeded). Afterwards the journal must pass ``PRAGMA integrity_check`` with no half-written episode,
and every process of the run must be gone within a few seconds: a killed child makes the parent stop
the others and exit; a killed parent takes its children with it (``PR_SET_PDEATHSIG``; the writer
first commits what it has received). SIGINT and SIGTERM stop the whole run within 5 seconds, flushed.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ is not installed

from bench.bench_crash import COLUMNS as EPISODE_COLUMNS  # noqa: E402
from conftest import journal_number  # noqa: E402
from bench.gen_replay import generate  # noqa: E402
from test_workers_replay import two_strategies  # noqa: E402

SEEDS = [int(s) for s in os.environ.get("ARBSCAN_WORKERS_CRASH_SEEDS", "1,2").split(",")]


@pytest.fixture(scope="module")
def long_replay(tmp_path_factory):
    d = tmp_path_factory.mktemp("workers-crash")
    path = d / "long.jsonl"
    generate(path, venues=4, symbols=40, deltas=120_000, seed=11, offset_sd=6.0)  # a few seconds; many episodes
    cfg = d / "two.toml"
    cfg.write_text(two_strategies())
    return path, cfg


def start(path: Path, cfg: Path, db: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "arbscan.cli", "replay", str(path), "--config", str(cfg), "--db", str(db),
                             "--no-progress", "--workers", "2", "--strategy", "fast", "--strategy", "slow"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def children_running(proc: subprocess.Popen, db: Path, timeout: float = 30.0) -> dict[str, psutil.Process]:
    """The run's children by name, once all three run and the journal has some rows."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            kids = {p.name(): p for p in psutil.Process(proc.pid).children()}
        except psutil.Error:
            kids = {}
        if {"arbscan-shard1", "arbscan-shard2", "arbscan-writer"} <= set(kids) and committed(db) > 0:
            return kids
        time.sleep(0.02)
    pytest.fail(f"the run did not get going (exit {proc.poll()})")


def committed(db: Path) -> int:
    return journal_number(db, "SELECT count(*) FROM opportunities")


def gone_within(procs: list[psutil.Process], seconds: float) -> list[str]:
    """Names of the processes still running after ``seconds`` (a zombie is not running)."""
    deadline = time.monotonic() + seconds
    while True:
        alive = []
        for p in procs:
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(f"{p.name()} ({p.pid})")
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def check_journal(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        cols = ", ".join(f"count({c})" for c in EPISODE_COLUMNS)
        total, *filled = conn.execute(f"SELECT count(*), {cols} FROM opportunities").fetchone()
        assert filled == [total] * len(EPISODE_COLUMNS)  # no half-written row
        return total
    finally:
        conn.close()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("victim", ["shard", "writer", "parent"])
def test_sigkill_of_any_process_leaves_a_sound_journal_and_no_orphan(long_replay, tmp_path, victim, seed):
    path, cfg = long_replay
    db = tmp_path / "j.db"
    proc = start(path, cfg, db)
    try:
        kids = children_running(proc, db)
        parent = psutil.Process(proc.pid)
        everyone = [parent, *parent.children(recursive=True)]  # multiprocessing's resource tracker too
        time.sleep(random.Random(f"{victim}{seed}").uniform(0.0, 1.0))
        target = {"shard": kids["arbscan-shard1"], "writer": kids["arbscan-writer"], "parent": parent}[victim]
        target.send_signal(signal.SIGKILL)
        if victim != "parent":
            _, err = proc.communicate(timeout=30)
            if proc.returncode == 0:
                pytest.skip("the replay finished before the kill on this machine")
            assert proc.returncode == 1, err
            assert b"died" in err or b"writer" in err, err
        assert gone_within(everyone, 5.0) == []
        proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert check_journal(db) > 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_sigint_and_sigterm_stop_every_process_within_5_s_with_the_journal_flushed(long_replay, tmp_path, sig):
    path, cfg = long_replay
    db = tmp_path / "s.db"
    proc = start(path, cfg, db)
    children_running(proc, db)
    everyone = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    sent = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    took = time.monotonic() - sent
    conn = sqlite3.connect(db)
    status = conn.execute("SELECT status FROM runs").fetchone()[0]
    if status == "ok":
        pytest.skip("the replay finished before the signal on this machine")
    assert proc.returncode == 130, err
    assert took < 5.0
    assert gone_within(everyone, 0.5) == []
    assert status == "interrupted"
    assert check_journal(db) > 0
    # every episode the shards closed was flushed, and open ones were closed at the interruption
    assert conn.execute("SELECT sum(episodes) FROM funnel").fetchone()[0] == \
        conn.execute("SELECT count(*) FROM opportunities").fetchone()[0]
