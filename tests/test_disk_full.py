"""Full disks: the first failed write stops the run with one line; what was committed stays, nothing after a gap.

Two kinds of test for each path (one process, ``--workers``' writer process, the bus's journal consumer,
``record``): a real full filesystem (a small tmpfs this test mounts in its own directory and always
unmounts, root only), and a deterministic fault (the batch commit raises ``OSError(ENOSPC)`` at batch k and
works again after it: space came back mid-run, and still nothing later may be written).
"""

from __future__ import annotations

import errno
import gzip
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ is not installed

from bench.gen_replay import generate  # noqa: E402

from arbscan.cli import command as cli  # noqa: E402
from arbscan.journal.schema import JOURNAL_FAILED  # noqa: E402
from arbscan.journal.writer import BatchCommitter  # noqa: E402
from arbscan.journal.store import Store  # noqa: E402

ENOSPC = os.strerror(errno.ENOSPC)  # "No space left on device"
EPISODE = "symbol, buy_exchange, sell_exchange, first_seen, last_seen, observations, amount, net_profit, net_bps"


# -- a small real filesystem -----------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """``mount(size)`` -> a fresh tmpfs of that size under tmp_path; unmounted at the end, even on failure."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(where)
        return where

    try:
        yield mount
    finally:
        for where in mounted:
            if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", str(where)], capture_output=True)  # a process still holds a file


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill ``disk`` with a file until the filesystem is full, then give back ``leave`` bytes; returns the file."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as fh:
        chunk = b"\0" * 65536
        try:
            while True:
                fh.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        for size in (4096, 1):
            try:
                while True:
                    fh.write(b"\0" * size)
            except OSError:
                pass
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def schema_bytes(disk: Path) -> int:
    """What a new journal takes on ``disk`` while open (its schema, its WAL and shared memory), measured there."""
    def free() -> int:
        st = os.statvfs(disk)
        return st.f_bavail * st.f_frsize

    before = free()
    store = Store(disk / "probe.db")
    taken = before - free()
    store.close()
    for p in disk.glob("probe.db*"):
        p.unlink()
    return taken


# -- a fault at batch k ---------------------------------------------------------------------------------


class FailAt:
    """``BatchCommitter._commit`` raising ENOSPC at its k-th call and working before and after it.

    ``committed`` counts the rows per table of the batches that did commit."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.calls = 0
        self.committed: Counter[str] = Counter()

    def install(self, monkeypatch) -> FailAt:
        real = BatchCommitter._commit
        me = self

        def commit(committer, work):
            me.calls += 1
            if me.calls == me.k:
                raise OSError(errno.ENOSPC, ENOSPC)
            real(committer, work)
            for _, table, rows, _ in work:
                me.committed[table] += len(rows)

        monkeypatch.setattr(BatchCommitter, "_commit", commit)
        return self


def rows(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err[-3000:]
    return lines[0]


@pytest.fixture(scope="module")
def long_file(tmp_path_factory):
    """A generated replay with thousands of episodes (about 20 s of work to journal in full)."""
    d = tmp_path_factory.mktemp("full")
    path = d / "long.jsonl"
    generate(path, venues=4, symbols=20, deltas=60_000, seed=5, offset_sd=6.0)
    return path


@pytest.fixture(scope="module")
def reference(long_file, tmp_path_factory):
    """The full run's journal: every later run's episodes must be a prefix of it."""
    db = tmp_path_factory.mktemp("ref") / "ref.db"
    assert cli.main(["replay", str(long_file), "--db", str(db), "--no-progress"]) == 0
    return rows(db, f"SELECT {EPISODE} FROM opportunities ORDER BY id")


def assert_prefix(got: list[tuple], full: list[tuple]) -> None:
    assert len(got) < len(full)
    assert got == full[: len(got)]  # nothing missing before the last row kept: no hole


# -- one process: replay ----------------------------------------------------------------------------------


def test_replay_onto_a_disk_that_fills_stops_at_the_first_failed_write_with_one_line(small_disk, long_file, reference,
                                                                                    capsys):
    disk = small_disk("2m")
    db = disk / "j.db"
    filler = fill(disk, leave=schema_bytes(disk) + 256 * 1024)  # the schema and a few hundred episodes
    started = time.monotonic()
    code = cli.main(["replay", str(long_file), "--db", str(db), "--no-progress"])
    took = time.monotonic() - started
    err = capsys.readouterr().err
    line = one_line(err)
    assert code == 1
    assert line.startswith(f"arbscan: error: journal '{db}': a write failed: {ENOSPC}"), line
    filler.unlink()  # space comes back: what is there must be a prefix, and the run says it lost rows
    got = rows(db, f"SELECT {EPISODE} FROM opportunities ORDER BY id")
    assert got and len(got) < len(reference) // 4, (len(got), len(reference))  # it stopped at once, not at the end
    assert_prefix(got, reference)
    assert rows(db, "SELECT status FROM runs") in ([(JOURNAL_FAILED,)], [("crashed",)], [("running",)])
    assert took < 60


def test_a_failed_batch_stops_the_replay_and_nothing_after_it_is_written_when_space_comes_back(
        long_file, reference, tmp_path, monkeypatch, capsys):
    fault = FailAt(3).install(monkeypatch)
    db = tmp_path / "j.db"
    code = cli.main(["replay", str(long_file), "--db", str(db), "--no-progress"])
    line = one_line(capsys.readouterr().err)
    assert code == 1
    assert line == (f"arbscan: error: journal '{db}': a write failed: {ENOSPC}; the run stopped there (everything "
                    "committed before it stays, nothing after it was written)")
    got = rows(db, f"SELECT {EPISODE} FROM opportunities ORDER BY id")
    assert len(got) == fault.committed["opportunities"] > 0  # the batches before the failed one, and none after
    assert_prefix(got, reference)
    assert rows(db, "SELECT status, ended IS NOT NULL FROM runs") == [(JOURNAL_FAILED, 1)]
    assert fault.calls <= 4  # the run stopped: no batch was even tried after the next one
    # status and report say the run lost rows
    assert cli.main(["status", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "failed: journal write" in out and "run #1 lost rows" in out
    assert cli.main(["report", "--db", str(db)]) == 0
    assert "run 1 lost rows: a journal write failed" in capsys.readouterr().out


# -- a journal on a disk already full ------------------------------------------------------------------------


def test_a_journal_on_a_disk_already_full_leaves_nothing_behind(small_disk, tmp_path, capsys):
    disk = small_disk("256k")
    fill(disk)
    good = tmp_path / "good.jsonl"
    generate(good, venues=2, symbols=1, deltas=50, seed=1)
    code = cli.main(["replay", str(good), "--db", str(disk / "new.db"), "--no-progress"])
    line = one_line(capsys.readouterr().err)
    assert code == 2
    assert line.startswith(f"arbscan: error: journal '{disk / 'new.db'}': cannot be written: {ENOSPC}"), line
    assert sorted(p.name for p in disk.iterdir()) == ["filler"]  # no 0-byte journal, no -wal, no -shm


# -- record ---------------------------------------------------------------------------------------------------


class Streaming:
    """A venue streaming an ever-changing 10-level book every millisecond, until closed."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def load_markets(self):
        from decimal import Decimal as D

        from arbscan.model import Market

        return {"BTC/USD": Market(self.name, "BTC/USD", "BTC", "USD", D("0.001"), D("0.0001"), D("0.01"))}

    async def watch_books(self, symbols):
        import asyncio
        import random
        from decimal import Decimal as D

        from arbscan.model import BookSnapshot

        rnd = random.Random(self.name)
        while True:
            await asyncio.sleep(0.001)
            t = time.time()
            bids = tuple((D(10000 - k * 10 - rnd.randint(0, 9)) / 100, D(rnd.randint(1, 99999)) / 10000) for k in range(10))
            asks = tuple((D(10100 + k * 10 + rnd.randint(0, 9)) / 100, D(rnd.randint(1, 99999)) / 10000) for k in range(10))
            yield BookSnapshot(self.name, "BTC/USD", bids, asks, t, t)

    async def fetch_balances(self):
        return {}

    async def fetch_funding(self, assets):
        return []

    async def close(self):
        pass


@pytest.mark.parametrize("name", ["rec.jsonl.gz", "rec.jsonl"])
def test_record_onto_a_full_disk_stops_at_once_and_leaves_a_part_file_that_replays(small_disk, tmp_path, monkeypatch,
                                                                                  capsys, name):
    from arbscan import parts
    from arbscan.config import checks

    monkeypatch.setattr(parts, "build_adapters", lambda settings, validate_orders=False:
                        {v.exchange: Streaming(v.exchange) for v in settings.venues})
    monkeypatch.setattr(checks, "exchange_known", lambda exchange: True)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[scanner]\nsymbols = ["BTC/USD"]\n\n[[venues]]\nexchange = "alpha"\n\n[[venues]]\nexchange = "beta"\n')
    disk = small_disk("1m")
    target = disk / name
    target.write_bytes(b"an earlier recording")
    fill(disk, leave=400 * 1024)
    started = time.monotonic()
    code = cli.main(["record", "--out", str(target), "--force", "--duration", "60", "--no-status", "--config", str(cfg)])
    took = time.monotonic() - started
    line = one_line(capsys.readouterr().err)
    assert code == 1 and took < 30, (code, took)
    [part] = disk.glob(f"{name}.*.part")
    assert line.startswith(f"arbscan: error: recording '{target}': a write failed: {ENOSPC}"), line
    assert f"'{part}' keeps the " in line and f"'{target}' was not touched" in line
    assert target.read_bytes() == b"an earlier recording"
    raw = part.read_bytes()
    text = gzip.decompress(raw).decode() if name.endswith(".gz") else raw.decode()  # a complete gzip member
    assert text.endswith("\n") and text.count("\n") > 100
    copy = tmp_path / ("copy" + "".join(Path(name).suffixes))
    copy.write_bytes(raw)
    assert cli.main(["replay", str(copy), "--db", str(tmp_path / "r.db"), "--no-progress"]) == 0
    assert capsys.readouterr().out.count("replayed ") == 1


# -- --workers: the journal writer process ---------------------------------------------------------------------


def by_symbol(episodes: list[tuple]) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    for row in episodes:
        out.setdefault(row[0], []).append(row)
    return out


def test_replay_workers_onto_a_disk_that_fills_stops_with_one_line_and_keeps_a_prefix_of_each_shard(
        small_disk, long_file, reference, tmp_path):
    disk = small_disk("3m")
    db = disk / "j.db"
    filler = fill(disk, leave=900 * 1024)
    done = subprocess.run([sys.executable, "-m", "arbscan.cli", "replay", str(long_file), "--db", str(db),
                           "--no-progress", "--workers", "2"], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    assert done.returncode == 1, done.stderr[-3000:]
    said = [ln for ln in done.stderr.splitlines() if ln.strip() and not ln.startswith(("arbscan: replay with", "  shard"))]
    assert len(said) == 1, done.stderr[-3000:]  # the shard split, then one line
    assert said[0].startswith(f"arbscan: error: journal '{db}': a write failed: {ENOSPC}"), said
    filler.unlink()
    got = by_symbol(rows(db, f"SELECT {EPISODE} FROM opportunities ORDER BY id"))
    full = by_symbol(reference)
    assert got and sum(map(len, got.values())) < len(reference) // 2
    for symbol, kept in got.items():
        assert kept == full[symbol][: len(kept)], symbol  # each shard's rows: a prefix, no hole
    assert rows(db, "SELECT status FROM runs") == [(JOURNAL_FAILED,)]


def test_the_writer_process_stops_at_the_first_failed_batch_and_commits_nothing_after_it(tmp_path, monkeypatch):
    from arbscan.journal.store import Store
    from arbscan.parallel.journal_writer import CONTROL, FastCommitter, WriterSpec, run_writer
    from arbscan.parallel.transport import PipeMux, pipe

    db = tmp_path / "j.db"
    with Store(db) as store:
        store.start_run("replay")  # run 1, whose rows the shard sends
    monkeypatch.setattr(FastCommitter, "_groups", lambda self, work: None)  # every batch through sqlite-utils
    fault = FailAt(3).install(monkeypatch)
    mux = PipeMux()
    control_in, control_out = pipe()
    shard_in, shard_out = pipe()
    mux.add(CONTROL, control_in)
    mux.add("shard1", shard_in)
    sent = [f"S{i:03d}/USD" for i in range(40)]

    def produce() -> None:
        for symbol in sent:
            shard_out.put([("insert", "opportunities", [{"run_id": 1, "symbol": symbol, "buy_exchange": "a",
                                                         "sell_exchange": "b", "first_seen": 1.0, "last_seen": 2.0,
                                                         "observations": 1}], None)])
            time.sleep(0.03)  # batches of a few rows: the 3rd commit comes before the last row is sent
        shard_out.close()
        control_out.put(("end",))

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        report = run_writer(WriterSpec(str(db), batch_rows=2, flush_interval=0.01), mux)
    finally:
        producer.join(timeout=10)
    assert report.write_failed
    assert report.error == (f"journal '{db}': a write failed: {ENOSPC}; the run stopped there (everything committed "
                            "before it stays, nothing after it was written)")
    kept = [r[0] for r in rows(db, "SELECT symbol FROM opportunities ORDER BY rowid")]
    assert len(kept) == fault.committed["opportunities"] > 0
    assert kept == sent[: len(kept)] and len(kept) < len(sent) - 10  # a prefix; it stopped at once
    assert fault.calls == 3  # nothing was even tried after the failed batch


# -- one process: scan -------------------------------------------------------------------------------------------


class Flickering(Streaming):
    """alpha quotes 99 / 100; beta's bid flicks between 100.8 (alpha -> beta is live) and 99.5 every 5 ms:
    an episode opens and closes every 10 ms."""

    async def watch_books(self, symbols):
        import asyncio
        from decimal import Decimal as D

        from arbscan.model import BookSnapshot

        live = False
        while True:
            await asyncio.sleep(0.005)
            t = time.time()
            live = not live
            bid = D("99") if self.name == "alpha" else D("100.8") if live else D("99.5")
            ask = D("100") if self.name == "alpha" else D("101")
            yield BookSnapshot(self.name, "BTC/USD", ((bid, D(1)),), ((ask, D(1)),), t, t)


def test_a_failed_batch_stops_a_scan_at_once_and_nothing_after_it_is_written(tmp_path, monkeypatch, capsys):
    from arbscan import parts
    from arbscan.config import checks

    monkeypatch.setattr(parts, "build_adapters", lambda settings, validate_orders=False:
                        {v.exchange: Flickering(v.exchange) for v in settings.venues})
    monkeypatch.setattr(checks, "exchange_known", lambda exchange: True)
    fault = FailAt(3).install(monkeypatch)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[scanner]\nsymbols = ["BTC/USD"]\n\n[[venues]]\nexchange = "alpha"\n\n[[venues]]\nexchange = "beta"\n')
    db = tmp_path / "s.db"
    started = time.monotonic()
    code = cli.main(["scan", "--db", str(db), "--duration", "60", "--no-status", "--config", str(cfg)])
    took = time.monotonic() - started
    out, err = capsys.readouterr()
    assert code == 1 and took < 15, (code, took, err)
    assert one_line(err) == (f"arbscan: error: journal '{db}': a write failed: {ENOSPC}; the run stopped there "
                             "(everything committed before it stays, nothing after it was written)")
    (episodes,) = rows(db, "SELECT count(*) FROM opportunities")[0]
    assert episodes == fault.committed["opportunities"] > 0  # the batches before the failed one, none after
    assert rows(db, "SELECT status FROM runs") == [(JOURNAL_FAILED,)]


# -- the bus: the journal consumer -----------------------------------------------------------------------------


def test_the_bus_journal_stops_acknowledging_at_a_failed_write_and_goes_on_from_there_once_started_again(
        tmp_path, monkeypatch):
    from arbscan.bus.connection import Bus
    from arbscan.bus.journal_consumer import JournalConsumer, run_journal
    from arbscan.bus.outbox import BusOutbox
    from arbscan.bus.server import NatsServer, server_binary
    from arbscan.bus.subjects import JOURNAL_SUBJECT
    from arbscan.config.bus import BusConfig
    from arbscan.errors import WriteFailed

    if server_binary() is None:
        pytest.skip("nats-server not installed")
    server = NatsServer(tmp_path / "nats").start()
    bus = Bus(BusConfig(url=server.url), "test", lambda line: None).start()
    sent = [f"S{i:03d}/USD" for i in range(30)]
    try:
        assert bus.wait_connected(10)
        box = BusOutbox(bus, JOURNAL_SUBJECT, "r", "shard1", kind="journal", bound=10_000, when_full="wait",
                        header={"shard": 0, "of": 1})
        box.announce("start", {"mode": "replay"})
        for symbol in sent[:10]:
            box.put([["insert", "opportunities", [{"symbol": symbol, "buy_exchange": "a", "sell_exchange": "b",
                                                   "first_seen": 1.0, "last_seen": 2.0, "observations": 1}], None]])
        real, calls = JournalConsumer._rows, []

        def rows_failing_at_the_third(consumer, run_id, work):
            calls.append(1)
            if len(calls) == 3:
                raise sqlite3.OperationalError("database or disk is full")
            return real(consumer, run_id, work)

        monkeypatch.setattr(JournalConsumer, "_rows", rows_failing_at_the_third)
        db = tmp_path / "j.db"
        stop, said, outcome = threading.Event(), [], {}

        def consume() -> None:
            try:
                outcome["consumer"] = run_journal(bus, str(db), stop, said.append)
            except BaseException as exc:  # noqa: BLE001 - the test looks at it
                outcome["error"] = exc

        first = threading.Thread(target=consume)
        first.start()
        deadline = time.monotonic() + 10
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        for symbol in sent[10:]:  # these arrive after the failure: they wait in the stream
            box.put([["insert", "opportunities", [{"symbol": symbol, "buy_exchange": "a", "sell_exchange": "b",
                                                   "first_seen": 1.0, "last_seen": 2.0, "observations": 1}], None]])
        assert box.close(timeout=10)
        first.join(timeout=10)
        stop.set()
        assert not first.is_alive()
        error = outcome.get("error")
        assert isinstance(error, WriteFailed), outcome
        assert str(error).startswith(f"journal '{db}': a write failed: {ENOSPC} (SQLite: database or disk is full)")
        assert "were not acknowledged and stay in the stream" in str(error)
        kept = [r[0] for r in rows(db, "SELECT symbol FROM opportunities ORDER BY rowid")]
        assert kept == sent[: len(kept)] and len(kept) < 10  # a prefix, nothing past the failed batch
        monkeypatch.setattr(JournalConsumer, "_rows", real)  # space is back: started again, it goes on from there
        stop = threading.Event()
        outcome.clear()
        again = threading.Thread(target=consume)
        again.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(rows(db, "SELECT symbol FROM opportunities")) < len(sent):
            time.sleep(0.05)
        stop.set()
        again.join(timeout=10)
        assert "error" not in outcome, outcome
        assert [r[0] for r in rows(db, "SELECT symbol FROM opportunities ORDER BY rowid")] == sent  # all, once, in order
    finally:
        bus.close()
        server.stop()


def test_scan_workers_onto_a_disk_that_fills_stops_with_one_line(small_disk, tmp_path, monkeypatch, capsys):
    import psutil
    from test_workers_scan import CONFIG, fake_adapters

    from arbscan import parts
    from arbscan.config import checks

    monkeypatch.setattr(parts, "build_adapters", fake_adapters)  # the shards import it by name
    monkeypatch.setattr(parts, "DRIVER_OPTIONS", {"stats_interval": 0.05})  # counts journaled often: the disk fills
    monkeypatch.setattr(checks, "exchange_known", lambda exchange: True)
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    disk = small_disk("2m")
    db = disk / "s.db"
    filler = fill(disk, leave=schema_bytes(disk) + 160 * 1024)  # the schema, then a few seconds of rows
    started = time.monotonic()
    code = cli.main(["scan", "--config", str(cfg), "--db", str(db), "--no-status", "--workers", "2",
                     "--duration", "60", "--strategy", "once"])
    took = time.monotonic() - started
    err = capsys.readouterr().err
    said = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith(("arbscan: scan with", "  shard"))
            and "funding facts not fetched" not in ln]  # the fake venues state no funding facts
    assert code == 1 and took < 45, (code, took, err[-2000:])
    assert len(said) == 1, err[-3000:]
    assert said[0].startswith(f"arbscan: error: journal '{db}': a write failed: {ENOSPC}"), said
    assert [p.name() for p in psutil.Process().children(recursive=True) if p.name().startswith("arbscan-")] == []
    filler.unlink()
    assert rows(db, "SELECT status FROM runs") == [(JOURNAL_FAILED,)]
