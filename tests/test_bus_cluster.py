"""Beyond one machine, for real: a ``nats-server -js`` on loopback, shards, the journal consumer and a paper
executor as separate processes, killed and restarted, and the server itself stopped mid-run.

The reference is the one-process replay of the same generated file with the same two paper strategies
(``tests/test_workers_replay.py``'s file and config, compared with its ``dump``: every row of the
journal's tables, ids and wall-clock columns aside). Whatever is killed or stopped, the journal the
consumer writes must equal it: nothing lost, nothing written twice. Every process here is started in
a process group of its own and killed at the end of its test; nothing listens beyond 127.0.0.1.
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

import test_workers_replay  # noqa: E402
from bench.gen_replay import generate  # noqa: E402

from test_bad_input import _logging_kept  # noqa: E402

from arbscan.bus.server import NatsServer  # noqa: E402
from arbscan.cli.command import main  # noqa: E402

REPLAY = ("--no-progress", "--max-age-ms", "150")


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """The generated file, the two strategies, and the one-process journal of it (the reference)."""
    d = tmp_path_factory.mktemp("bus")
    path = d / "g.jsonl"
    generate(path, venues=4, symbols=40, deltas=40_000, seed=3)
    test_workers_replay.with_glitches_and_funding(path)
    cfg = d / "two.toml"
    cfg.write_text(test_workers_replay.two_strategies())
    ref = d / "ref.db"
    with _logging_kept():  # a module fixture: the per-test restore of conftest.py does not cover it
        assert main(["replay", str(path), "--config", str(cfg), "--db", str(ref), *REPLAY,
                     "--strategy", "fast", "--strategy", "slow"]) == 0
    reference = test_workers_replay.dump(ref)
    assert len(reference["trades"]) > 50 and len(reference["opportunities"]) > 300
    return path, cfg, reference


class Fleet:
    """arbscan processes of one test, each in a process group of its own, all killed at the end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.starts: dict[str, int] = {}

    def start(self, name: str, *argv: str) -> subprocess.Popen[bytes]:
        n = self.starts[name] = self.starts.get(name, 0) + 1
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.tmp / f"{name}.{n}.out", "wb") as out, open(self.tmp / f"{name}.{n}.err", "wb") as err:
            proc = subprocess.Popen([sys.executable, "-m", "arbscan.cli", *argv], stdout=out, stderr=err, env=env,
                                    start_new_session=True)
        self.procs[name] = proc
        return proc

    def err(self, name: str, n: int | None = None) -> str:
        return (self.tmp / f"{name}.{n or self.starts[name]}.err").read_text()

    def out(self, name: str, n: int | None = None) -> str:
        return (self.tmp / f"{name}.{n or self.starts[name]}.out").read_text()

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)

    def stop(self, name: str, timeout: float = 20.0) -> int:
        proc = self.procs[name]
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        return proc.wait(timeout)

    def wait(self, name: str, timeout: float = 60.0) -> int:
        return self.procs[name].wait(timeout)

    def kill_all(self) -> None:
        for name in self.procs:
            self.kill(name)


@pytest.fixture
def fleet(tmp_path):
    f = Fleet(tmp_path)
    yield f
    f.kill_all()


@pytest.fixture
def nats(tmp_path):
    server = NatsServer(tmp_path / "store").start()
    yield server
    server.kill()


def _query(db: Path, sql: str, *args: object) -> list[tuple]:
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError:  # not migrated yet
        return []
    finally:
        conn.close()


def _applied(db: Path, producer: str) -> int:
    rows = _query(db, "SELECT last_seq FROM bus_producers WHERE producer LIKE ?", f"%|{producer}")
    return max((r[0] for r in rows), default=0)


def _wait_until(what: str, check, fleet: Fleet, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    logs = "\n".join(f"--- {p.name}\n{p.read_text()[-1500:]}" for p in sorted(fleet.tmp.glob("*.err")))
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


def _finished(db: Path) -> bool:
    runs = _query(db, "SELECT status FROM runs")
    executor = _query(db, "SELECT ended FROM bus_producers WHERE producer LIKE '%|executor@%'")
    return runs == [("ok",)] and executor == [(1,)]


def _start_consumers(fleet: Fleet, url: str, db: Path, cfg: Path) -> None:
    fleet.start("journal", "journal", "--bus", url, "--db", str(db))
    fleet.start("executor", "execute", "--bus", url, "--config", str(cfg), "--strategy", "fast", "--strategy", "slow")
    _wait_until("the executor to follow the routes",
                lambda: "paper-trading fast, slow" in fleet.err("executor"), fleet, timeout=30)


def _shard(fleet: Fleet, k: int, url: str, path: Path, cfg: Path, *extra: str) -> None:
    fleet.start(f"shard{k}", "replay", str(path), "--bus", url, "--shard", f"{k}/2", "--config", str(cfg),
                *REPLAY, *extra)


def _same_as_reference(db: Path, reference: dict, upserted_later: tuple[str, ...] = ()) -> None:
    """Every table equal, row for row in journal order; ``upserted_later``: as sets of rows (their first write may
    have been dropped while NATS was away, so a route's row was inserted at its next write: same row, later place)."""
    got = test_workers_replay.dump(db)
    for table, rows in reference.items():
        if table in upserted_later:
            key = lambda r: sorted((k, str(v)) for k, v in r.items())  # noqa: E731
            assert sorted(got[table], key=key) == sorted(rows, key=key), f"{table} differs from the one-process journal"
        else:
            assert got[table] == rows, f"{table} differs from the one-process journal"
    assert _query(db, "PRAGMA integrity_check") == [("ok",)]


def test_killed_shard_and_journal_consumer_restart_and_the_journal_is_the_one_process_journal(case, nats, fleet, tmp_path):
    path, cfg, reference = case
    db = tmp_path / "bus.db"
    _start_consumers(fleet, nats.url, db, cfg)
    _shard(fleet, 1, nats.url, path, cfg)
    _shard(fleet, 2, nats.url, path, cfg)
    _wait_until("shard 2's tenth batch in the journal", lambda: _applied(db, "shard2") >= 10, fleet)
    fleet.kill("shard2")  # mid-run: it has sent part of its batches, the rest never left it
    fleet.kill("journal")  # with batches fetched, maybe committed, maybe not acknowledged
    killed_at = _applied(db, "shard2")
    assert fleet.procs["shard2"].returncode == -signal.SIGKILL
    _shard(fleet, 2, nats.url, path, cfg)  # reads its file from the start again: the same batches, the same ids
    fleet.start("journal", "journal", "--bus", nats.url, "--db", str(db))
    _wait_until("the run and the executor's rows to be journaled", lambda: _finished(db), fleet)
    assert fleet.wait("shard1") == 0 and fleet.wait("shard2") == 0
    assert fleet.stop("executor") == 0 and fleet.stop("journal") == 0
    _same_as_reference(db, reference)
    resent = re.search(r"journal: (\d+) batches \((\d+) already stored\)", fleet.err("shard2"))
    assert resent is not None and int(resent.group(2)) >= killed_at  # JetStream knew the ids it had stored
    assert "run replay-g.jsonl-" in fleet.out("executor") and "ended" in fleet.err("executor")


def test_nats_stopped_mid_run_loses_nothing_writes_nothing_twice_and_keeps_the_bound(case, nats, fleet, tmp_path):
    path, cfg, reference = case
    small = tmp_path / "small.toml"
    small.write_text(cfg.read_text() + "\n[bus]\nbuffer_rows = 500\n")  # the smallest bound: it is reached
    db = tmp_path / "bus.db"
    _start_consumers(fleet, nats.url, db, small)
    _shard(fleet, 1, nats.url, path, small)
    _shard(fleet, 2, nats.url, path, small)
    _wait_until("both shards' fifth batches in the journal",
                lambda: _applied(db, "shard1") >= 5 and _applied(db, "shard2") >= 5, fleet)
    nats.stop()
    time.sleep(3.0)
    for name in ("shard1", "shard2", "journal", "executor"):
        assert fleet.procs[name].poll() is None, f"{name} ended while NATS was away"
    nats.start()  # the same port and store: every process reconnects by itself
    _wait_until("the run and the executor's rows to be journaled", lambda: _finished(db), fleet, timeout=90)
    assert fleet.wait("shard1") == 0 and fleet.wait("shard2") == 0
    assert fleet.stop("executor") == 0 and fleet.stop("journal") == 0
    _same_as_reference(db, reference)  # a replay shard drops nothing at the bound (it waits): row for row
    for k in (1, 2):
        err = fleet.err(f"shard{k}")
        assert "waiting for NATS" in err and "is back after" in err
        held = re.search(r"at most ([\d,]+) rows held for NATS \(bus.buffer_rows 500; a replay waits there and drops nothing\)", err)
        assert held is not None and int(held.group(1).replace(",", "")) <= 500
    for name in ("journal", "executor"):
        assert "is back after" in fleet.err(name)
    batches = {k: int(re.search(r"journal: (\d+) batches", fleet.err(f"shard{k}")).group(1)) for k in (1, 2)}
    assert {k: _applied(db, f"shard{k}") for k in (1, 2)} == batches  # each batch applied once, none missing


def test_a_new_journal_on_a_stream_another_journal_already_consumed_goes_on_from_what_is_left(nats, fleet, tmp_path):
    """A work-queue stream forgets what a journal committed: a second journal file must not wait for it."""
    from arbscan.config.bus import BusConfig
    from arbscan.bus.connection import Bus
    from arbscan.bus.outbox import BusOutbox
    from arbscan.bus.subjects import JOURNAL_SUBJECT

    bus = Bus(BusConfig(url=nats.url), "test", lambda line: None).start()
    try:
        assert bus.wait_connected(10)

        def send(run: str, symbols: list[str]) -> None:
            box = BusOutbox(bus, JOURNAL_SUBJECT, run, "shard1", kind="journal", bound=10_000, when_full="wait",
                            header={"shard": 0, "of": 1})
            box.announce("start", {"mode": "replay"})
            for s in symbols:
                box.put([["insert", "opportunities", [{"symbol": s, "buy_exchange": "a", "sell_exchange": "b",
                                                       "first_seen": 1.0, "last_seen": 2.0, "observations": 1}], None]])
            assert box.close(timeout=10)

        first, second = tmp_path / "first.db", tmp_path / "second.db"
        symbols = lambda db: [r[0] for r in _query(db, "SELECT symbol FROM opportunities ORDER BY rowid")]  # noqa: E731
        send("a", ["A/B", "C/D"])
        fleet.start("journal", "journal", "--bus", nats.url, "--db", str(first))
        _wait_until("the first journal's rows", lambda: symbols(first) == ["A/B", "C/D"], fleet, timeout=20)
        assert fleet.stop("journal") == 0
        send("b", ["E/F"])
        fleet.start("journal", "journal", "--bus", nats.url, "--db", str(second))
        _wait_until("the second journal's rows", lambda: symbols(second) == ["E/F"], fleet, timeout=20)
        assert fleet.stop("journal") == 0
        assert "the journal stream starts at 4: messages 1-3 are no longer in it" in fleet.err("journal")
    finally:
        bus.close()


def test_alerts_on_the_bus_are_one_processs_alerts_in_its_order(nats, fleet, tmp_path, monkeypatch):
    """The same [[alerts]] as one process (tests/test_workers_replay.py's case): the shards (--alerts) send their
    episode events, the executor sends the alerts of the run in one process's order and audits them."""
    from alert_server import AlertServer

    data = Path(__file__).parent / "data" / "dryrun"
    cfg = tmp_path / "alerts.toml"
    cfg.write_text((data / "strategies.toml").read_text()
                   + '\n[[alerts]]\nname = "ops"\nkind = "webhook"\nurl_env = "ARBSCAN_TEST_HOOK"\n')
    lines = (data / "two_latencies.jsonl").read_text().splitlines()
    extra = [ln.replace('"BTC/USD"', '"ETH/USD"') for ln in lines if '"type": "market"' in ln]
    path = tmp_path / "two_latencies_two_symbols.jsonl"
    path.write_text("\n".join(extra + lines) + "\n")
    seen = []
    with AlertServer() as srv:
        monkeypatch.setenv("ARBSCAN_TEST_HOOK", srv.url + "/hook")
        with _logging_kept():
            assert main(["replay", str(path), "--config", str(cfg), "--db", str(tmp_path / "one.db"), "--no-progress",
                         "--strategy", "slow", "--alerts"]) == 0
        seen.append([(d["event"], d["ts"], d["data"].get("status")) for d in (s.json() for s in srv.seen)])
    db = tmp_path / "bus.db"
    with AlertServer() as srv:
        monkeypatch.setenv("ARBSCAN_TEST_HOOK", srv.url + "/hook")
        fleet.start("journal", "journal", "--bus", nats.url, "--db", str(db))
        fleet.start("executor", "execute", "--bus", nats.url, "--config", str(cfg), "--strategy", "slow")
        _wait_until("the executor to follow", lambda: "paper-trading slow" in fleet.err("executor"), fleet, timeout=30)
        for k in (1, 2):
            fleet.start(f"shard{k}", "replay", str(path), "--bus", nats.url, "--shard", f"{k}/2", "--config", str(cfg),
                        "--no-progress", "--alerts")
        _wait_until("the run and the executor's rows to be journaled", lambda: _finished(db), fleet)
        assert fleet.stop("executor") == 0 and fleet.stop("journal") == 0
        seen.append([(d["event"], d["ts"], d["data"].get("status")) for d in (s.json() for s in srv.seen)])
    assert seen[0][:3] == [("episode_opened", 100.0, None), ("trade_finished", 100.2, "imbalanced"),
                           ("episode_closed", 103.0, None)]  # tests/test_alerts_run.py has the figures
    assert seen[1] == seen[0]
    audited = lambda p: [r[:2] for r in _query(p, "SELECT destination, event FROM alerts ORDER BY id")]  # noqa: E731
    assert audited(db) == audited(tmp_path / "one.db") and len(audited(db)) == len(seen[0])
