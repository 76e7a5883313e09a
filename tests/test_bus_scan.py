"""``scan --bus URL --shard K/N`` on fake in-process venues, with the journal consumer and a paper executor,
and ``arbscan status`` showing the live shards from their heartbeats.

The shards run ``tests/test_workers_scan.py``'s fake venues (two symbols, live all the time); each
process here is started in a process group of its own against a loopback ``nats-server`` and killed at
the end.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from test_bus_cluster import Fleet, _query, _wait_until, fleet, nats  # noqa: F401 - fixtures
from test_workers_scan import CONFIG

from arbscan.cli.command import main
from arbscan.execution.summary import summarize

HERE = Path(__file__).resolve().parent


def _fake_venue_shard(tmp: Path) -> Path:
    """A launcher for ``arbscan`` whose venues are the fakes (a shard builds its adapters in its own process)."""
    script = tmp / "fake_arbscan.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(HERE)!r})
        import test_workers_scan
        from arbscan import parts
        from arbscan.cli import command as cli
        from arbscan.config import checks
        parts.build_adapters = test_workers_scan.fake_adapters
        parts.DRIVER_OPTIONS["stats_interval"] = 0.2
        checks.exchange_known = lambda exchange: True
        raise SystemExit(cli.main(sys.argv[1:]))
    """))
    return script


def test_two_scan_shards_on_the_bus_one_executor_trades_both_and_status_shows_them(nats, fleet, tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    db = tmp_path / "bus.db"
    fleet.start("journal", "journal", "--bus", nats.url, "--db", str(db))
    fleet.start("executor", "execute", "--bus", nats.url, "--config", str(cfg), "--strategy", "once")
    _wait_until("the executor to follow", lambda: "paper-trading once" in fleet.err("executor"), fleet, timeout=30)
    launcher = _fake_venue_shard(tmp_path)
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
