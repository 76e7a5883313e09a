"""An interrupted ``replay --workers 2`` keeps what one process interrupted at one line keeps: a prefix of the full run.

The full run (two paper strategies on a generated 4-venue x 40-symbol file) is the reference. Each trial starts
the same replay, sends SIGINT once some trades are journaled, and compares: the interrupted run's trades must be
the full run's first trades (same strategy, route and opening time, in the same order), with nothing journaled
after a missing one; every episode journaled must be one of the full run's, or one it had open at the line where
the run stopped (closed with reason ``end``). The interrupted replay prints its summary, then the line it stopped at.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ is not installed

from bench.gen_replay import generate  # noqa: E402
from conftest import journal_number  # noqa: E402
from test_workers_replay import two_strategies  # noqa: E402

from arbscan.cli.command import main  # noqa: E402

TRADE = "strategy, symbol, buy_exchange, sell_exchange, opened"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("interrupt")
    path = d / "long.jsonl"
    generate(path, venues=4, symbols=40, deltas=120_000, seed=11, offset_sd=6.0)
    cfg = d / "two.toml"
    cfg.write_text(two_strategies())
    db = d / "full.db"
    assert main(["replay", str(path), "--config", str(cfg), "--db", str(db), "--no-progress", "--workers", "2",
                 "--strategy", "fast", "--strategy", "slow"]) == 0
    conn = sqlite3.connect(db)
    trades = conn.execute(f"SELECT {TRADE} FROM trades ORDER BY rowid").fetchall()
    conn.close()
    return path, cfg, trades


@pytest.mark.parametrize("after", [40, 400])
def test_an_interrupted_replay_with_2_workers_keeps_a_prefix_of_the_full_runs_trades(full_run, tmp_path, after):
    path, cfg, full = full_run
    assert len(full) > after * 2
    db = tmp_path / "i.db"
    proc = subprocess.Popen([sys.executable, "-m", "arbscan.cli", "replay", str(path), "--config", str(cfg),
                             "--db", str(db), "--no-progress", "--workers", "2", "--strategy", "fast",
                             "--strategy", "slow"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 120
        while journal_number(db, "SELECT count(*) FROM trades") < after and proc.poll() is None:
            assert time.monotonic() < deadline, "no trades journaled"
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    conn = sqlite3.connect(db)
    if conn.execute("SELECT status FROM runs").fetchone() == ("ok",):
        pytest.skip("the replay finished before the signal on this machine")
    assert proc.returncode == 130, err
    got = conn.execute(f"SELECT {TRADE} FROM trades ORDER BY rowid").fetchall()
    conn.close()
    assert after <= len(got) < len(full)
    assert got == full[: len(got)], err[-2000:]  # nothing journaled after a missing trade
    stopped = re.search(r"arbscan: replay interrupted at line ([\d,]+); the journal keeps everything up to there", err)
    assert stopped is not None, err
    assert re.search(r"^interrupted after .* \([\d,]+ book events, " + re.escape(stopped.group(1)) + " lines\\)", out, re.M), out
    assert "strategy fast (paper" in out and "strategy slow (paper" in out  # the summary is printed
