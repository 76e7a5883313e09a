"""``scan --bus URL --shard K/N`` on fake in-process venues, with the journal consumer and a paper executor,
and ``arbscan status`` showing the live shards from their heartbeats.

The shards run ``tests/test_workers_scan.py``'s fake venues (two symbols, live all the time); each
process here is started in a process group of its own against a loopback ``nats-server`` and killed at
the end.
"""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import venue_launcher
from test_bus_cluster import Fleet, _query, _wait_until, fleet, nats  # noqa: F401 - fixtures
from test_workers_scan import CONFIG

from arbscan.cli.command import main
from arbscan.execution.summary import summarize


def test_two_scan_shards_on_the_bus_one_executor_trades_both_and_status_shows_them(nats, fleet, tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    db = tmp_path / "bus.db"
    fleet.start("journal", "journal", "--bus", nats.url, "--db", str(db))
    fleet.start("executor", "execute", "--bus", nats.url, "--config", str(cfg), "--strategy", "once")
    _wait_until("the executor to follow", lambda: "paper-trading once" in fleet.err("executor"), fleet, timeout=30)
    launcher = venue_launcher(tmp_path, 'test_workers_scan', 'fake_adapters')
    for k in (1, 2):
        name = f"shard{k}"
        n = fleet.starts[name] = 1
        with open(tmp_path / f"{name}.{n}.out", "wb") as out, open(tmp_path / f"{name}.{n}.err", "wb") as err:
            fleet.procs[name] = subprocess.Popen(
                [sys.executable, str(launcher), "scan", "--bus", nats.url, "--shard", f"{k}/2", "--config", str(cfg),
                 "--no-status"], stdout=out, stderr=err, start_new_session=True)
    _wait_until("both routes traded", lambda: _query(db, "SELECT count(*) FROM trades") == [(2,)], fleet, timeout=40)

    def status() -> str:
        assert main(["status", "--db", str(db), "--bus", nats.url]) == 0
        return capsys.readouterr().out

    _wait_until("both heartbeats", lambda: "shards on the bus: 2 alive" in status(), fleet, timeout=10)
    out = status()
    assert "shard 1/2 (scan)" in out and "shard 2/2 (scan)" in out and "halts on the bus: none" in out
    assert "#1 scan    running" in out

    for k in (1, 2):
        fleet.procs[f"shard{k}"].send_signal(signal.SIGTERM)
    assert fleet.wait("shard1", 30) == 0 and fleet.wait("shard2", 30) == 0
    _wait_until("the run to end", lambda: _query(db, "SELECT status FROM runs") == [("ok",)], fleet)
    _wait_until("the executor's end", lambda: _query(
        db, "SELECT ended FROM bus_producers WHERE producer LIKE '%|executor@%'") == [(1,)], fleet)
    assert fleet.stop("executor") == 0 and fleet.stop("journal") == 0
    conn = sqlite3.connect(db)
    episodes = conn.execute("SELECT symbol, close_reason FROM opportunities ORDER BY symbol").fetchall()
    assert episodes == [("BTC/USD", "end"), ("ETH/USD", "end")]  # live the whole time, closed when each shard ended
    s = summarize(conn, 1, "once")
    assert (s.trades, s.filled) == (2, 2)  # one trade per route (long cooldown), on both shards' symbols
    assert {r[0] for r in conn.execute("SELECT symbol FROM funnel")} == {"BTC/USD", "ETH/USD"}
    conn.close()
    assert main(["status", "--db", str(db), "--bus", nats.url]) == 0
    assert "shards on the bus: none alive" in capsys.readouterr().out  # a clean stop removes the heartbeat
    assert "of run scan-" in fleet.out("shard1") and "stopped:" in fleet.out("shard1")


def _scan_shard(fleet, launcher: Path, k: int, url: str, cfg: Path) -> None:
    name = f"shard{k}"
    n = fleet.starts[name] = fleet.starts.get(name, 0) + 1
    with open(fleet.tmp / f"{name}.{n}.out", "wb") as out, open(fleet.tmp / f"{name}.{n}.err", "wb") as err:
        fleet.procs[name] = subprocess.Popen(
            [sys.executable, str(launcher), "scan", "--bus", url, "--shard", f"{k}/2", "--config", str(cfg),
             "--no-status"], stdout=out, stderr=err, start_new_session=True)


def test_a_killed_scan_shards_open_episode_is_closed_stale_by_the_journal_once_its_heartbeat_is_gone(
        nats, fleet, tmp_path):
    """As the parent of --workers does (tests/test_workers_scan.py): closed 'stale' / 'shard_died', its successor's
    own episode after it; the other shard's episode is left alone."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    db = tmp_path / "bus.db"
    fleet.start("journal", "journal", "--bus", nats.url, "--db", str(db))
    launcher = venue_launcher(tmp_path, 'test_workers_scan', 'fake_adapters')
    for k in (1, 2):
        _scan_shard(fleet, launcher, k, nats.url, cfg)
    _wait_until("shard 1's open episode reported", lambda: _query(
        db, "SELECT count(*) FROM bus_open WHERE producer LIKE '%|shard1@%' AND work LIKE '%BTC/USD%'") == [(1,)],
        fleet, timeout=40)
    killed = time.time()
    fleet.kill("shard1")  # SIGKILL: its episode is open, nothing closes it but the journal consumer
    _wait_until("the stale close", lambda: _query(db, "SELECT count(*) FROM opportunities") == [(1,)], fleet, timeout=20)
    found = time.time()
    (reason, detail, closed_at, symbol), = _query(db, "SELECT close_reason, close_detail, closed_at, symbol FROM opportunities")
    assert (symbol, reason, detail) == ("BTC/USD", "stale", "shard_died")
    assert killed - 1.0 <= closed_at <= found + 1.0  # its event clock (venue time: now) plus the time since its report
    assert found - killed >= 4.0  # not before its heartbeat expired (5 s after its last beat)
    assert re.search(r"journal: shard 1/2 of run scan-\S+ \(shard1@\S+\) is gone \(no heartbeat for 5 s\); "
                     r"1 open episode\(s\) closed as stale", fleet.err("journal"))
    _scan_shard(fleet, launcher, 1, nats.url, cfg)  # its successor opens an episode of its own
    for k in (1, 2):
        _wait_until(f"shard {k} running", lambda: "connected to NATS" in fleet.err(f"shard{k}"), fleet, timeout=20)
    time.sleep(1.5)
    for k in (1, 2):
        fleet.procs[f"shard{k}"].send_signal(signal.SIGTERM)
    assert fleet.wait("shard1", 30) == 0 and fleet.wait("shard2", 30) == 0
    _wait_until("the run to end", lambda: _query(db, "SELECT status FROM runs") == [("ok",)], fleet)
    assert fleet.stop("journal") == 0
    rows = _query(db, "SELECT symbol, close_reason, close_detail FROM opportunities ORDER BY id")
    assert rows == [("BTC/USD", "stale", "shard_died"), ("BTC/USD", "end", None), ("ETH/USD", "end", None)] or \
        sorted(rows) == [("BTC/USD", "end", None), ("BTC/USD", "stale", "shard_died"), ("ETH/USD", "end", None)]
    left = _query(db, "SELECT producer, stale FROM bus_open")  # the ones that ended are gone; the dead one is kept
    assert len(left) == 1 and "|shard1@" in left[0][0] and "opportunities" in left[0][1]  # (withdrawn if it sends again)


def test_two_executors_never_trade_one_strategy_the_second_takes_over_once_the_first_is_gone(nats, fleet, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    fleet.start("first", "execute", "--bus", nats.url, "--config", str(cfg), "--strategy", "once")
    _wait_until("the first executor to follow", lambda: "paper-trading once" in fleet.err("first"), fleet, timeout=30)
    fleet.start("second", "execute", "--bus", nats.url, "--config", str(cfg), "--strategy", "once")
    _wait_until("the second executor to wait", lambda: "waiting for executor@" in fleet.err("second"), fleet, timeout=30)
    assert "(strategy 'once') to stop trading once (two executors never trade one strategy" in fleet.err("second")
    time.sleep(2.0)  # the first renews its claim every second: the second still waits
    assert "paper-trading" not in fleet.err("second")
    fleet.kill("first")
    killed = time.monotonic()
    _wait_until("the second executor to take over", lambda: "paper-trading once" in fleet.err("second"), fleet,
                timeout=20)
    assert time.monotonic() - killed >= 3.0  # not before the first's claim expired (5 s after its last renewal)
    assert fleet.stop("second") == 0
    fleet.start("third", "execute", "--bus", nats.url, "--config", str(cfg), "--strategy", "once")
    _wait_until("the third executor to follow at once (a clean stop releases the claim)",
                lambda: "paper-trading once" in fleet.err("third"), fleet, timeout=15)
    assert "waiting for executor@" not in fleet.err("third")
    assert fleet.stop("third") == 0
