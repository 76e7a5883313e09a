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
    filler = fill(disk, leave=400 * 1024)  # the schema and a few hundred episodes
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
