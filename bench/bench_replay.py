"""Benchmark 2: end-to-end replay -> scanner -> journal throughput and per-event decision latency.

Usage (from the repository root)::

    python -m bench.bench_replay                       # the full matrix (a few minutes)
    python -m bench.bench_replay --venues 5 --symbols 10 --deltas 20000 --repeat 3

For every (venues, symbols) cell a synthetic replay file is generated once into ``--workdir``
(``bench/gen_replay.py``: one snapshot per book, then ``--deltas`` deltas on random books), and
the bundled real recording (BitMEX/Deribit, ``arbscan/data``) is run as an extra row. Then, for
``--repeat`` rounds, every cell runs in turn (rounds outermost, so a burst of machine load is
spread over all cells):

* **throughput**: ``arbscan.replay.run.run_replay(file, store, depth=10)`` (what ``arbscan replay FILE``
  runs) with a fresh SQLite journal, timed from opening the file until every event has been
  processed and every journal row queued: reading and parsing the file, rebuilding books, the
  scanner, and the journal's writer thread committing rows concurrently on the same core.
  Events/s counts every book line, snapshots included. The wait for the journal's last batch
  (``Store.flush``: the writer batches for up to 0.2 s) is reported apart as ``flush tail``.
* **decision latency**: the same file's events, read beforehand (not timed); each book is rebuilt
  (``BookBuilder.apply``, timed separately as "build") and then handed to
  ``Scanner.on_book_event`` with a journal attached: that call is the decision (expire stale
  episodes, apply, evaluate every route through the venue, open/close episodes, queue journal rows).
  Percentiles are over the second half of the delta events (the steady state: every book and
  route has been seen), in microseconds.

Each cell's file has ``max(--deltas, --deltas-per-book x books)`` deltas (defaults 20,000 and 10),
so the 1,000-symbol cells are long enough to leave their warm-up; the whole default matrix runs
in about five minutes on the machine in BENCHMARKS.md.

The process is pinned to one CPU (``--cpu``, default 0; ``--cpu -1`` to leave it free), so the
journal's writer thread shares that core with the scanner.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from arbscan.replay.run import BookBuilder, BookEvent, MarketEvent, ReplayReader, demo_path, run_replay
from arbscan.scan.scanner import Scanner
from arbscan.journal.store import Store
from bench.common import fmt_spread, machine, percentile, pin_cpu, save_results, spread
from bench.gen_replay import generate

__all__ = ["main", "run_cell_throughput", "run_cell_latency", "ensure_file"]

VENUES = (2, 5, 10, 20)
SYMBOLS = (1, 10, 100, 1000)


def ensure_file(workdir: Path, venues: int, symbols: int, deltas: int, seed: int) -> Path:
    """The synthetic file of one cell, generated unless it is already in ``workdir``."""
    path = workdir / f"synthetic_v{venues}_s{symbols}_d{deltas}_seed{seed}.jsonl"
    if not path.exists():
        tmp = path.with_suffix(".part")
        generate(tmp, venues, symbols, deltas, seed=seed)
        tmp.rename(path)
    return path


def _store(dbdir: Path, name: str) -> Store:
    db = dbdir / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    store = Store(db)
    store.start_run("replay", source=name)
    return store


def run_cell_throughput(path: Path, dbdir: Path, depth: int = 10) -> dict[str, Any]:
    """One timed end-to-end run of ``path``: replay -> scanner -> journal, until every row is committed."""
    store = _store(dbdir, path.stem)
    gc.collect()
    started = time.perf_counter()
    result = run_replay(path, store, depth=depth)
    replayed = time.perf_counter()
    store.flush()
    flushed = time.perf_counter()
    seconds = replayed - started
    rows = store.db["opportunities"].count
    store.close()
    scanner = result.scanner
    evaluated = sum(f.evaluated for f in scanner.funnels.values())
    return {
        "events": result.book_events,
        "seconds": seconds,
        "events_per_s": result.book_events / seconds,
        "flush_tail_s": flushed - replayed,
        "evaluations": evaluated,
        "live": scanner.live_evaluations,
        "episodes": rows,
    }


def _read_events(path: Path) -> tuple[list[Any], list[BookEvent]]:
    markets, books = [], []
    for ev in ReplayReader(path):
        if type(ev) is BookEvent:
            books.append(ev)
        elif type(ev) is MarketEvent:
            markets.append(ev.market)
    return markets, books


def run_cell_latency(
    path: Path, dbdir: Path, depth: int = 10, events: tuple[list[Any], list[BookEvent]] | None = None
) -> dict[str, Any]:
    """Per-event build and decision times (µs) of ``path``'s delta events, with a journal attached."""
    markets, books = events if events is not None else _read_events(path)
    gc.collect()
    gc.freeze()  # the pre-read events are not the scanner's garbage: keep the collector off them
    store = _store(dbdir, path.stem + "-latency")
    scanner = Scanner({(m.exchange, m.symbol): m for m in markets}, store)
    builder = BookBuilder(depth)
    clock = time.perf_counter_ns
    decide: list[int] = []
    build: list[int] = []
    # percentiles over the second half of the deltas: by then every book and route has been seen
    steady = len(books) - (len(books) - sum(1 for ev in books if ev.snapshot)) // 2
    gc.collect()
    for i, ev in enumerate(books):
        t0 = clock()
        book = builder.apply(ev)
        t1 = clock()
        scanner.on_book_event(book, ev.ts)
        t2 = clock()
        if i >= steady and not ev.snapshot:
            build.append(t1 - t0)
            decide.append(t2 - t1)
    scanner.close()
    store.close()
    gc.unfreeze()
    decide.sort()
    build.sort()
    n = len(decide)
    return {
        "deltas": n,
        "decide_p50_us": percentile(decide, 0.50) / 1000,
        "decide_p99_us": percentile(decide, 0.99) / 1000,
        "decide_max_us": decide[-1] / 1000 if decide else float("nan"),
        "decide_mean_us": sum(decide) / n / 1000 if n else float("nan"),
        "build_p50_us": percentile(build, 0.50) / 1000,
        "build_p99_us": percentile(build, 0.99) / 1000,
    }


def _summarise(runs: list[dict[str, Any]], lats: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "events": runs[0]["events"],
        "evaluations": runs[0]["evaluations"],
        "live": runs[0]["live"],
        "episodes": runs[0]["episodes"],
        "events_per_s": spread([r["events_per_s"] for r in runs]),
        "flush_tail_s": spread([r["flush_tail_s"] for r in runs]),
    }
    for key in ("decide_p50_us", "decide_p99_us", "decide_mean_us", "decide_max_us", "build_p50_us", "build_p99_us"):
        out[key] = spread([x[key] for x in lats])
    return out


def _table(summary: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| cell | book events | live evals / evals | episodes | events/s median (min-max) | flush tail s | decide p50 µs | decide p99 µs | decide mean µs | build p50 µs |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in summary.items():
        lines.append(
            f"| {name} | {s['events']:,} | {s['live']:,} / {s['evaluations']:,} | {s['episodes']:,} | "
            f"{fmt_spread(s['events_per_s'])} | {s['flush_tail_s']['median']:.2f} | {fmt_spread(s['decide_p50_us'], 1)} | "
            f"{fmt_spread(s['decide_p99_us'], 1)} | {fmt_spread(s['decide_mean_us'], 1)} | "
            f"{fmt_spread(s['build_p50_us'], 1)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the matrix; print a Markdown table; optionally save JSON (``--json``)."""
    p = argparse.ArgumentParser(description="end-to-end replay -> scanner -> journal benchmark")
    p.add_argument("--venues", type=int, nargs="+", default=list(VENUES))
    p.add_argument("--symbols", type=int, nargs="+", default=list(SYMBOLS))
    p.add_argument("--deltas", type=int, default=20_000, help="delta events per cell at least (after one snapshot per book)")
    p.add_argument("--deltas-per-book", type=int, default=10, help="and at least this many per book (steady state)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--depth", type=int, default=10, help="levels per side handed to the scanner (arbscan replay's default)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "arbscan-bench")
    p.add_argument("--cpu", type=int, default=0, help="CPU to pin to; -1: no pinning")
    p.add_argument("--switch-interval-ms", type=float, default=None,
                   help="sys.setswitchinterval for this run (default: leave Python's 5 ms)")
    p.add_argument("--no-demo", action="store_true", help="skip the bundled real recording")
    p.add_argument("--json", type=Path, default=None, help="write results here")
    a = p.parse_args(argv)

    pin_cpu(None if a.cpu < 0 else a.cpu)
    if a.switch_interval_ms is not None:
        sys.setswitchinterval(a.switch_interval_ms / 1000)
    a.workdir.mkdir(parents=True, exist_ok=True)
    dbdir = Path(tempfile.mkdtemp(prefix="arbscan-bench-db-"))
    cells: dict[str, Path] = {}
    if not a.no_demo:
        cells["real demo (2 venues, 1 symbol)"] = demo_path()
    for v in a.venues:
        for s in a.symbols:
            deltas = max(a.deltas, a.deltas_per_book * v * s)
            cells[f"{v} venues x {s} symbols"] = ensure_file(a.workdir, v, s, deltas, a.seed)
    print("machine:", machine(), "switch interval", sys.getswitchinterval())
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in cells}
    lats: dict[str, list[dict[str, Any]]] = {name: [] for name in cells}
    try:
        for rnd in range(a.repeat):
            for name, path in cells.items():
                runs[name].append(run_cell_throughput(path, dbdir, a.depth))
                lats[name].append(run_cell_latency(path, dbdir, a.depth))
                r, x = runs[name][-1], lats[name][-1]
                print(f"round {rnd + 1} {name}: {r['events_per_s']:,.0f} events/s, decide p50 "
                      f"{x['decide_p50_us']:.1f} µs p99 {x['decide_p99_us']:.1f} µs", flush=True)
    finally:
        shutil.rmtree(dbdir, ignore_errors=True)
    summary = {name: _summarise(runs[name], lats[name]) for name in cells}
    print()
    print(_table(summary))
    save_results(a.json, "replay", {"deltas": a.deltas, "depth": a.depth, "switch_interval_s": sys.getswitchinterval(), "repeat": a.repeat, "pinned_cpu": a.cpu,
                                    "cells": summary, "raw": {"throughput": runs, "latency": lats}})
    return summary


if __name__ == "__main__":
    main()
