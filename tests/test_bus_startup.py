"""Every bus process started while NATS is away: what it says, how it retries, and what it says once NATS is there.

Each of ``journal``, ``execute``, ``scan --bus`` and ``replay --bus`` is started as a real process against
a loopback port where nothing listens yet; a real ``nats-server`` is started on that port a moment later.
The process must say within about a second what it waits for (``waiting for NATS at URL (connection
refused); retrying in 0.1 s``), try again 0.1 s later and then at doubling waits (its log file has every
attempt), say when it is connected, and never say before that a thing that needs NATS ("committing the
journal stream", "paper-trading") -- nats-py's own first-connection retries (60 tries, 2 s apart) must not
hide any of it.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ is not installed

from bench.gen_replay import generate  # noqa: E402
from test_bus_cluster import Fleet, _wait_until  # noqa: E402
from conftest import venue_launcher  # noqa: E402
from test_workers_scan import CONFIG  # noqa: E402

from arbscan.bus.server import NatsServer, free_port  # noqa: E402

pytestmark = pytest.mark.timeout(90)

SAID_WITHIN_S = 1.0
"""From the process's first try to connect (its log file: 'connecting to NATS') to its waiting line."""

STARTED_WITHIN_S = 15.0
"""From the process's start to its waiting line (its interpreter and imports on a busy machine included)."""


@pytest.fixture
def fleet(tmp_path):
    f = Fleet(tmp_path)
    yield f
    f.kill_all()


@pytest.fixture
def late(tmp_path):
    """A port where nothing listens yet, and a server to start there later (killed at the end)."""
    server = NatsServer(tmp_path / "store", port=free_port())
    yield server
    server.kill()


def _lines_with_times(path: Path, started: float, seen: dict[str, float]) -> None:
    """Note when each new stderr line was first seen (seconds after ``started``)."""
    for line in path.read_text().splitlines():
        seen.setdefault(line, time.monotonic() - started)


def _watch(fleet: Fleet, name: str, started: float, until, timeout: float) -> dict[str, float]:
    """Poll ``name``'s stderr every 10 ms until ``until(lines)``; returns each line with when it was first seen."""
    seen: dict[str, float] = {}
    path = fleet.tmp / f"{name}.{fleet.starts[name]}.err"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _lines_with_times(path, started, seen)
        if until(seen):
            return seen
        if fleet.procs[name].poll() is not None:
            break
        time.sleep(0.01)
    raise AssertionError(f"{name}: not seen in {timeout} s; stderr:\n{path.read_text()[-3000:]}")


def _stamps(log: Path) -> dict[str, float]:
    """When (seconds, from the log file's timestamps) each of a few lines was first logged."""
    from datetime import datetime

    out: dict[str, float] = {}
    for line in log.read_text().splitlines():
        for what in ("connecting to NATS at", "connection refused; next attempt in 0.1 s"):
            if what in line and what not in out:
                out[what] = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return out


def _attempts(log: Path) -> list[float]:
    return [float(m) for m in re.findall(r"connection refused; next attempt in ([\d.]+) s", log.read_text())]


def _away_then_back(fleet: Fleet, name: str, late: NatsServer, argv: list[str], tmp: Path, *,
                    needs_nats: tuple[str, ...], away_s: float = 1.6, launcher: Path | None = None) -> list[str]:
    """Start ``argv`` with NATS away, check the waiting line and the retries, start NATS, check the connected line.

    Returns the process's stderr lines in order. ``needs_nats``: lines (substrings) it may say only once connected.
    """
    url = late.url
    log = tmp / f"{name}.log"
    full = [*argv, "--bus", url, "--log-file", str(log)]
    started = time.monotonic()
    if launcher is None:
        fleet.start(name, *full)
    else:  # the fake venues' launcher (a scan shard builds its adapters in its own process)
        n = fleet.starts[name] = fleet.starts.get(name, 0) + 1
        with open(tmp / f"{name}.{n}.out", "wb") as out, open(tmp / f"{name}.{n}.err", "wb") as err:
            fleet.procs[name] = subprocess.Popen([sys.executable, str(launcher), *full], stdout=out, stderr=err,
                                                 start_new_session=True)
    waiting = "waiting for NATS"
    refused = f"at {url} (connection refused); retrying in 0.1 s"
    seen = _watch(fleet, name, started, lambda s: any(waiting in line and refused in line for line in s), 30)
    said = min(t for line, t in seen.items() if waiting in line and refused in line)
    assert said <= STARTED_WITHIN_S, f"{name}: the waiting line came {said:.2f} s after its start"
    stamps = _stamps(log)
    connecting = stamps["connecting to NATS at"]
    first_retry = stamps["connection refused; next attempt in 0.1 s"]
    assert 0 <= first_retry - connecting <= SAID_WITHIN_S, \
        f"{name}: {first_retry - connecting:.2f} s from its first try to its waiting line"
    time.sleep(away_s)
    tries = _attempts(log)
    assert tries[:4] == [0.1, 0.2, 0.4, 0.8][:len(tries)] and len(tries) >= 3, f"{name}: retries {tries}"
    late.start()
    seen = _watch(fleet, name, started, lambda s: any(f"connected to NATS at {url} after" in line for line in s), 15)
    lines = [line for line, _ in sorted(seen.items(), key=lambda kv: kv[1])]
    connected = next(i for i, line in enumerate(lines) if "connected to NATS at" in line)
    for i, line in enumerate(lines):
        if any(claim in line for claim in needs_nats):
            assert i > connected, f"{name} said {line!r} before it was connected"
    assert not any("is back" in line for line in lines), f"{name}: 'is back' is for a connection that was lost"
    return lines


def _replay_file(tmp: Path) -> Path:
    path = tmp / "g.jsonl"
    generate(path, venues=3, symbols=4, deltas=3000, seed=5)
    return path


def test_journal_started_before_nats_waits_says_so_and_commits_once_connected(fleet, late, tmp_path):
    db = tmp_path / "j.db"
    lines = _away_then_back(fleet, "journal", late, ["journal", "--db", str(db)], tmp_path,
                            needs_nats=("committing the journal stream",), away_s=6.6)
    _wait_until("the committing line", lambda: "committing the journal stream" in fleet.err("journal"), fleet, 15)
    tries = _attempts(tmp_path / "journal.log")
    assert tries[:7] == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0]  # doubling, capped at 5 s (6.3 s of waits so far)
    assert lines[0].startswith("arbscan: journal: waiting for NATS (the journal stream) at ")
    assert fleet.stop("journal") == 0


def test_execute_started_before_nats_follows_the_routes_only_once_connected(fleet, late, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    _away_then_back(fleet, "executor", late, ["execute", "--config", str(cfg), "--strategy", "once"], tmp_path,
                    needs_nats=("paper-trading",))
    _wait_until("the following line", lambda: "paper-trading once on the routes" in fleet.err("executor"), fleet, 15)
    assert fleet.stop("executor") == 0


def test_replay_shard_started_before_nats_holds_its_rows_and_sends_them_once_connected(fleet, late, tmp_path):
    path = _replay_file(tmp_path)
    _away_then_back(fleet, "shard1", late, ["replay", str(path), "--shard", "1/1", "--no-progress"], tmp_path,
                    needs_nats=("already stored",))
    assert fleet.wait("shard1", 30) == 0
    err = fleet.err("shard1")
    assert re.search(r"shard 1/1: [\d,]+ book events; journal: \d+ batches \(0 already stored\)", err)


def test_scan_shard_started_before_nats_scans_meanwhile_and_says_when_connected(fleet, late, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    _away_then_back(fleet, "shard1", late, ["scan", "--shard", "1/2", "--config", str(cfg), "--no-status"], tmp_path,
                    needs_nats=(), launcher=venue_launcher(tmp_path, "test_workers_scan", "fake_adapters"))
    fleet.procs["shard1"].send_signal(signal.SIGTERM)
    assert fleet.wait("shard1", 30) == 0
    assert "of run scan-" in fleet.out("shard1")
