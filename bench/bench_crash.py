"""Benchmark: SIGKILL a running ``arbscan replay`` at random moments, many times, and check the journal.

Usage (from the repository root)::

    python -m bench.bench_crash                    # 200 trials
    python -m bench.bench_crash --trials 1000 --events 60000 --workers 2

Each trial starts ``python -m arbscan.cli.command replay FILE --db DB`` on a generated three-venue file
whose routes open and close an episode every few events (so the journal writer commits all the
time), kills it with SIGKILL after a uniformly random delay, then opens the journal with sqlite3 and
runs ``PRAGMA integrity_check``, and checks that no ``opportunities`` row is half written. The
suite runs 20 such trials (``tests/test_replay_crash.py``); this runs as many as you like and
reports how many were killed mid-run, how many rows they had committed, and every failure.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

COLUMNS = ("symbol", "buy_exchange", "sell_exchange", "first_seen", "last_seen", "observations",
           "amount", "net_profit", "net_bps", "close_reason")


def make_replay(path: Path, events: int) -> Path:
    """alpha asks 100; beta and gamma bid 100.8 and 99.5 in turns: an episode closes every few events.

    Also the input of ``tests/test_replay_crash.py``, so the test and this benchmark kill the same replay.
    """
    market = {"type": "market", "symbol": "BTC/USD", "taker_fee": "0.001", "amount_step": "0.001", "price_step": "0.01"}
    with open(path, "w", encoding="utf-8") as fh:
        for ex in ("alpha", "beta", "gamma"):
            fh.write(json.dumps(dict(market, exchange=ex)) + "\n")
        t = 1000.0
        for i in range(events):
            t += 0.01
            ex = ("alpha", "beta", "gamma")[i % 3]
            bid, ask = ("99", "100") if ex == "alpha" else ("100.8" if (i // 3) % 2 else "99.5", "101")
            fh.write(json.dumps({"type": "book", "ts": round(t, 2), "exchange": ex, "symbol": "BTC/USD", "snapshot": True,
                                 "bids": [[bid, "1"], ["98", "2"]], "asks": [[ask, "1"], ["102", "2"]]}) + "\n")
    return path


def trial(path: Path, db: Path, delay: float) -> dict:
    """One kill; returns what the journal looked like afterwards."""
    proc = subprocess.Popen([sys.executable, "-m", "arbscan.cli", "replay", str(path), "--db", str(db), "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    result = {"delay": delay, "killed": proc.returncode == -signal.SIGKILL, "rows": 0, "error": None}
    try:
        conn = sqlite3.connect(db)
        check = conn.execute("PRAGMA integrity_check").fetchone()
        if check != ("ok",):
            result["error"] = f"integrity_check: {check}"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "opportunities" in tables:
            cols = ", ".join(f"count({c})" for c in COLUMNS)
            total, *filled = conn.execute(f"SELECT count(*), {cols} FROM opportunities").fetchone()
            result["rows"] = total
            if filled != [total] * len(COLUMNS):
                result["error"] = "half-written row"
        conn.close()
    except sqlite3.Error as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the trials and print a summary; exit 1 when any journal failed a check."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=200)
    p.add_argument("--events", type=int, default=30_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--max-delay", type=float, default=2.0)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        replay = work / "crash.jsonl"
        make_replay(replay, args.events)
        delays = [rng.uniform(0.1, args.max_delay) for _ in range(args.trials)]
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.workers) as pool:
            results = list(pool.map(lambda a: trial(replay, work / f"j{a[0]}.db", a[1]), enumerate(delays)))
        elapsed = time.perf_counter() - started
    killed = [r for r in results if r["killed"]]
    failures = [r for r in results if r["error"]]
    rows = [r["rows"] for r in killed]
    print(f"{len(results)} trials in {elapsed:.1f} s; {len(killed)} killed mid-run, {len(failures)} failed checks")
    if rows:
        print(f"episode rows committed before the kill: min {min(rows)}, median {statistics.median(rows):.0f}, max {max(rows)}")
    for r in failures:
        print(f"FAILED after {r['delay']:.3f} s: {r['error']}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
