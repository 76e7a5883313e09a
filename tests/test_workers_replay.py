"""``replay --workers N``: the journal is the same for every N, and a shard's bad line is reported as one process would.

The reference is ``--workers 1``, the one-process replay the rest of the suite pins down: with two
paper strategies (different latency, cooldown, venues and balances, so shared balances and the order
of trades across symbols matter) on a generated 4-venue x 40-symbol file, N = 2 and 3 must journal
the same rows (``test_golden_journal.dump`` normalises ids and wall-clock columns) and print the same
summary. ``--max-age-ms 150`` makes books go stale now and then, so episodes also close at events of
other symbols (step 1 of the scanner), which a shard only sees as other shards' lines.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ is not installed

import test_golden_journal  # noqa: E402
from bench.gen_replay import generate  # noqa: E402

from arbscan.config import checks  # noqa: E402
from arbscan.cli.command import main  # noqa: E402

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


def with_glitches_and_funding(path: Path) -> None:
    """Three book lines that cross their book (the book gate refuses them), each followed by a line deleting
    the crossing bid (the book is true again), and two ``currency`` lines."""
    lines = path.read_text().splitlines()
    after: dict[int, str] = {}  # original line index -> the line inserted after it
    for n in (4000, 9000, 15000):
        obj = json.loads(lines[n])
        assert obj["type"] == "book"
        obj["bids"] = [["999.99", "1"], *obj["bids"]]
        lines[n] = json.dumps(obj)
        after[n] = json.dumps({**obj, "snapshot": False, "bids": [["999.99", "0"]], "asks": []})
    for n, (venue, asset) in ((6000, ("v01", "C0003")), (12000, ("v02", "USD"))):
        ts = json.loads(lines[n])["ts"]
        after[n] = json.dumps({"type": "currency", "ts": ts, "exchange": venue, "asset": asset,
                               "deposit": True, "withdraw": False})
    out = []
    for n, line in enumerate(lines):
        out.append(line)
        if n in after:
            out.append(after[n])
    path.write_text("\n".join(out) + "\n")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    d = tmp_path_factory.mktemp("workers")
    path = d / "g.jsonl"
    generate(path, venues=4, symbols=40, deltas=20_000, seed=3)
    with_glitches_and_funding(path)
    cfg = d / "two.toml"
    cfg.write_text(two_strategies())
    return path, cfg


def dump(db: Path) -> dict[str, list[dict]]:
    """``test_golden_journal.dump`` of every column (it leaves out those added after its golden files) and of ``funding``."""
    g = test_golden_journal
    saved = g.TABLES, g.DROPPED
    g.TABLES, g.DROPPED = (*g.TABLES, "funding"), {"funnel": {"updated"}}
    try:
        return g.dump(db, "paper")
    finally:
        g.TABLES, g.DROPPED = saved


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
    reference = dump(tmp_path / "w1.db")
    assert len(reference["trades"]) > 50 and len(reference["fills"]) > 100  # the strategies really trade
    assert {r["status"] for r in reference["trades"]} >= {"filled", "imbalanced", "missed"}
    assert {r["close_reason"] for r in reference["opportunities"]} == {"uncrossed", "stale", "end"}
    assert sum(r["rejected"] for r in reference["venue_stats"]) == 3  # the glitches were refused
    assert {r["transfer"] for r in reference["opportunities"]} == {"blocked", "unknown"}  # the currency lines count
    assert len(reference["funding"]) == 2
    for n in (2, 3):
        rc, out, err = replay(path, cfg, tmp_path / f"w{n}.db", n, capsys)
        assert rc == 0, err
        assert f"replay with {n} workers" in err
        got = dump(tmp_path / f"w{n}.db")
        for table, rows in reference.items():
            assert got[table] == rows, f"{table} differs with {n} workers"
        assert _summary(out, n) == _summary(out1, 1)


def test_a_bad_line_stops_the_run_with_the_message_one_process_gives(tmp_path, capsys):
    path = tmp_path / "bad.jsonl"
    generate(path, venues=2, symbols=6, deltas=3000, seed=5)
    lines = path.read_text().splitlines()
    n = 2000
    obj = json.loads(lines[n - 1])
    obj["asks"] = [["abc", "1"], *obj["asks"]]  # not a number at all: malformed (a glitch would not stop it)
    lines[n - 1] = json.dumps(obj)
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


def test_replay_alerts_come_in_one_processs_order_with_2_workers(tmp_path, monkeypatch, capsys):
    from alert_server import AlertServer

    data = Path(__file__).parent / "data" / "dryrun"  # the hand-computed file of tests/test_dryrun.py
    cfg = tmp_path / "alerts.toml"
    cfg.write_text((data / "strategies.toml").read_text()
                   + '\n[[alerts]]\nname = "ops"\nkind = "webhook"\nurl_env = "ARBSCAN_TEST_HOOK"\n')
    # a second symbol (market lines, no books) so that 2 workers are 2 shards: N is capped at the symbols
    lines = (data / "two_latencies.jsonl").read_text().splitlines()
    extra = [ln.replace('"BTC/USD"', '"ETH/USD"') for ln in lines if '"type": "market"' in ln]
    path = tmp_path / "two_latencies_two_symbols.jsonl"
    path.write_text("\n".join(extra + lines) + "\n")
    seen = []
    for workers in (1, 2):
        with AlertServer() as srv:
            monkeypatch.setenv("ARBSCAN_TEST_HOOK", srv.url + "/hook")
            rc = main(["replay", str(path), "--config", str(cfg), "--db",
                       str(tmp_path / f"a{workers}.db"), "--no-progress", "--strategy", "slow", "--alerts",
                       "--workers", str(workers)])
        err = capsys.readouterr().err
        assert rc == 0, err
        assert workers == 1 or "replay with 2 workers (symbols split by venues, stable)" in err
        seen.append([(d["event"], d["ts"], d["data"].get("status")) for d in (s.json() for s in srv.seen)])
    assert seen[0][:3] == [("episode_opened", 100.0, None), ("trade_finished", 100.2, "imbalanced"),
                           ("episode_closed", 103.0, None)]  # tests/test_alerts_run.py has the figures
    assert seen[1] == seen[0]


def test_a_trade_due_before_another_shards_episode_closes_is_told_of_first(tmp_path, monkeypatch, capsys):
    # AAA/USD (shard 1) opens a trade at 100.0, due at 100.2, and its books never change again; BBB/USD
    # (shard 2) closes an episode at 101.0. One process settles the trade at that event, before the close.
    from alert_server import AlertServer

    m = '{{"type": "market", "exchange": "{}", "symbol": "{}", "taker_fee": "0", "amount_step": "0.01", "price_step": "0.01"}}'
    b = '{{"type": "book", "ts": {}, "exchange": "{}", "symbol": "{}", "snapshot": {}, "bids": {}, "asks": {}}}'
    path = tmp_path / "two.jsonl"
    path.write_text("\n".join([
        m.format("x", "AAA/USD"), m.format("y", "AAA/USD"), m.format("x", "BBB/USD"), m.format("y", "BBB/USD"),
        b.format(100.0, "x", "AAA/USD", "true", '[["99", "1"]]', '[["100", "1"]]'),
        b.format(100.0, "y", "AAA/USD", "true", '[["101", "1"]]', '[["102", "1"]]'),
        b.format(100.05, "x", "BBB/USD", "true", '[["99", "1"]]', '[["100", "1"]]'),
        b.format(100.05, "y", "BBB/USD", "true", '[["101", "1"]]', '[["102", "1"]]'),
        b.format(101.0, "y", "BBB/USD", "false", '[["101", "0"], ["99.5", "1"]]', "[]"),
        b.format(102.0, "x", "BBB/USD", "false", "[]", '[["100", "2"]]'),
    ]) + "\n")
    cfg = tmp_path / "a.toml"
    cfg.write_text('[[venues]]\nexchange = "x"\n[[venues]]\nexchange = "y"\n'
                   '[[strategies]]\nname = "s"\nsymbols = ["AAA/USD"]\nmin_net_bps = 0\nlatency_ms = 200\n'
                   '[strategies.balances.x]\nUSD = 1000\n[strategies.balances.y]\nAAA = 5\n'
                   '[[alerts]]\nname = "ops"\nkind = "webhook"\nurl_env = "ARBSCAN_TEST_HOOK"\n')
    monkeypatch.setattr(checks, "exchange_known", lambda exchange: True)
    seen = []
    for workers in (1, 3):  # 3 asked for, 2 symbols: 2 shards (a third would read the file for nothing)
        with AlertServer() as srv:
            monkeypatch.setenv("ARBSCAN_TEST_HOOK", srv.url + "/hook")
            rc = main(["replay", str(path), "--config", str(cfg), "--db", str(tmp_path / f"t{workers}.db"),
                       "--no-progress", "--max-age-ms", "60000", "--strategy", "s", "--alerts", "--workers", str(workers)])
        err = capsys.readouterr().err
        assert rc == 0, err
        assert workers == 1 or "replay with 2 workers (--workers 3 capped at the file's 2 symbols; " in err
        seen.append([(d["event"], d["ts"]) for d in (s.json() for s in srv.seen)])
    assert seen[0][:4] == [("episode_opened", 100.0), ("episode_opened", 100.05), ("trade_finished", 100.2),
                           ("episode_closed", 101.0)]
    assert seen[1] == seen[0]


def test_more_workers_than_the_files_symbols_are_capped_and_one_symbol_runs_in_one_process(tmp_path, capsys):
    # the bundled demo has one symbol (BTC/USD on bitmex and deribit): no shard process is started
    assert main(["replay", "--db", str(tmp_path / "d.db"), "--no-progress", "--workers", "4"]) == 0
    err = capsys.readouterr().err
    assert "arbscan: replay in one process (--workers 4 capped at the file's 1 symbol)" in err
    assert "replay with" not in err
