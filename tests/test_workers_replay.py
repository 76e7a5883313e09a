"""``replay --workers N``: the journal is the same for every N, and a shard's bad line is reported as one process would.

The reference is ``--workers 1``, the one-process replay the rest of the suite pins down: with two
paper strategies (different latency, cooldown, venues and balances, so shared balances and the order
of trades across symbols matter) on a generated 4-venue x 40-symbol file, N = 2 and 3 must journal
the same rows (``test_golden_journal.dump`` normalises ids and wall-clock columns) and print the same
summary. ``--max-age-ms 150`` makes books go stale now and then, so episodes also close at events of
other symbols (step 1 of the scanner), which a shard only sees as other shards' lines.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ is not installed

from bench.gen_replay import generate  # noqa: E402
from test_golden_journal import dump  # noqa: E402

from arbscan.cli import main  # noqa: E402

VENUES = [f"v{i:02d}" for i in range(4)]
BASES = [f"C{j:04d}" for j in range(40)]


def two_strategies() -> str:
    """fast: every venue, 20 ms, short cooldown, small capital; slow: three venues, 150 ms, more capital."""
    lines = ["[scanner]", "min_net_bps = 0", ""]
    for v in VENUES:
        lines += ["[[venues]]", f'exchange = "{v}"']

    def strategy(name: str, latency: int, cooldown: int, notional: int, usd: int, base: str, extra: str = "") -> None:
        lines.extend(["", "[[strategies]]", f'name = "{name}"', "min_net_bps = 2", f"latency_ms = {latency}",
                      f"cooldown_ms = {cooldown}", f"max_notional = {notional}", extra])
        for v in VENUES:
            lines.append(f"[strategies.balances.{v}]")
            lines.append(f"USD = {usd}")
            lines.extend(f'{b} = "{base}"' for b in BASES)

    strategy("fast", 20, 100, 300, 900, "1.5")
    strategy("slow", 150, 1000, 1000, 3000, "4", 'venues = ["v00", "v01", "v02"]')
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    d = tmp_path_factory.mktemp("workers")
    path = d / "g.jsonl"
    generate(path, venues=4, symbols=40, deltas=20_000, seed=3)
    cfg = d / "two.toml"
    cfg.write_text(two_strategies())
    return path, cfg


def replay(path: Path, cfg: Path, db: Path, workers: int, capsys, *extra: str) -> tuple[int, str, str]:
    rc = main(["replay", str(path), "--config", str(cfg), "--db", str(db), "--no-progress", "--max-age-ms", "150",
               "--workers", str(workers), "--strategy", "fast", "--strategy", "slow", *extra])
    out, err = capsys.readouterr()
    return rc, out, err


def _summary(out: str, n: int) -> list[str]:
    """The printed summary without the line that gives the time taken, and with the journal's name made common."""
    return [ln.replace(f"w{n}.db", "w.db") for ln in out.splitlines() if not ln.startswith("replayed ")]


def test_the_journal_and_the_summary_are_the_same_for_1_2_and_3_workers(generated, tmp_path, capsys):
    path, cfg = generated
    rc, out1, _ = replay(path, cfg, tmp_path / "w1.db", 1, capsys)
    assert rc == 0
    reference = dump(tmp_path / "w1.db", "paper")
    assert len(reference["trades"]) > 50 and len(reference["fills"]) > 100  # the strategies really trade
    assert {r["status"] for r in reference["trades"]} >= {"filled", "imbalanced", "missed"}
    assert {r["close_reason"] for r in reference["opportunities"]} == {"uncrossed", "stale", "end"}
    for n in (2, 3):
        rc, out, err = replay(path, cfg, tmp_path / f"w{n}.db", n, capsys)
        assert rc == 0, err
        assert f"replay with {n} workers" in err
        got = dump(tmp_path / f"w{n}.db", "paper")
        for table, rows in reference.items():
            assert got[table] == rows, f"{table} differs with {n} workers"
        assert _summary(out, n) == _summary(out1, 1)


def test_a_bad_line_stops_the_run_with_the_message_one_process_gives(tmp_path, capsys):
    path = tmp_path / "bad.jsonl"
    generate(path, venues=2, symbols=6, deltas=3000, seed=5)
    lines = path.read_text().splitlines()
    n = 2000
    assert '"type": "book"' in lines[n - 1]
    lines[n - 1] = lines[n - 1].replace('"bids": [', '"bids": [["-1", "1"], ', 1)  # a negative price on line 2000
    path.write_text("\n".join(lines) + "\n")
    errors = []
    for workers in (1, 2):
        rc = main(["replay", str(path), "--db", str(tmp_path / f"b{workers}.db"), "--no-progress",
                   "--workers", str(workers)])
        err = capsys.readouterr().err
        assert rc == 2
        errors.append([ln for ln in err.splitlines() if ln.startswith("arbscan: error:")])
    assert errors[0] == errors[1]
    assert f"line {n}:" in errors[0][0]


def test_workers_must_be_a_positive_number_or_auto(tmp_path, capsys):
    assert main(["replay", "--workers", "0", "--db", str(tmp_path / "x.db")]) == 2
    assert "--workers" in capsys.readouterr().err
    cfg = tmp_path / "c.toml"
    cfg.write_text('[scanner]\nworkers = "many"\n')
    assert main(["replay", "--config", str(cfg), "--db", str(tmp_path / "x.db")]) == 2
    assert "scanner.workers" in capsys.readouterr().err
