"""Why decision time grows with the number of symbols: the same events, in file order vs grouped by symbol.

Usage (from the repository root)::

    python -m bench.bench_locality --venues 5 --symbols 1000

Takes one synthetic cell (``bench/gen_replay.py``), applies every snapshot, rebuilds every delta's
book, then times ``Scanner.on_book_event`` over the deltas twice with fresh scanners: once in file
order (consecutive events hit random symbols, so each one finds its books, funnels and Decimals
cold in the CPU caches) and once grouped by symbol (stable sort: each symbol's events keep their
time order, and consecutive events touch the same few objects). ``max_book_age_ms`` is set to an
hour so that no book goes stale in either order, and both orders do exactly the same evaluations:
the script checks the live-evaluation and episode counts are equal. Equal work in less time when
grouped means the growth is memory locality, not the algorithm.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path
from typing import Any

from arbscan.replay.run import BookBuilder
from arbscan.scan.scanner import Scanner
from bench.bench_replay import _read_events, ensure_file
from bench.common import machine, percentile, pin_cpu

__all__ = ["main"]

_HOUR_MS = 3_600_000


def _run(markets: list[Any], snaps: list[Any], deltas: list[Any]) -> tuple[list[int], int, int]:
    # books never go stale here, so both orders do exactly the same evaluations
    scanner = Scanner({(m.exchange, m.symbol): m for m in markets}, None, max_book_age_ms=_HOUR_MS)
    builder = BookBuilder(10)
    for ev in snaps:
        scanner.on_book_event(builder.apply(ev), ev.ts)
    built = [(builder.apply(ev), ev.ts) for ev in deltas]
    gc.collect()
    gc.freeze()
    clock = time.perf_counter_ns
    took = []
    try:
        for book, t in built:
            t0 = clock()
            scanner.on_book_event(book, t)
            took.append(clock() - t0)
    finally:
        gc.unfreeze()
    took.sort()
    return took, scanner.live_evaluations, scanner.episodes_closed + len(scanner.episodes)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Time one cell's deltas in file order and grouped by symbol; print p50 and mean."""
    p = argparse.ArgumentParser(description="decision time: file order vs grouped by symbol")
    p.add_argument("--venues", type=int, default=5)
    p.add_argument("--symbols", type=int, default=1000)
    p.add_argument("--deltas-per-book", type=int, default=10)
    p.add_argument("--cpu", type=int, default=0, help="CPU to pin to; -1: no pinning")
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "arbscan-bench")
    a = p.parse_args(argv)
    pin_cpu(None if a.cpu < 0 else a.cpu)
    a.workdir.mkdir(parents=True, exist_ok=True)
    deltas_n = max(20_000, a.deltas_per_book * a.venues * a.symbols)
    path = ensure_file(a.workdir, a.venues, a.symbols, deltas_n, 1)
    markets, books = _read_events(path)
    snaps = [ev for ev in books if ev.snapshot]
    deltas = [ev for ev in books if not ev.snapshot]
    print("machine:", machine())
    out = {}
    for order, seq in (("file order", deltas), ("grouped by symbol", sorted(deltas, key=lambda ev: ev.symbol))):
        took, live, episodes = _run(markets, snaps, seq)
        out[order] = {"p50_us": percentile(took, 0.5) / 1000, "mean_us": sum(took) / len(took) / 1000,
                      "live": live, "episodes": episodes}
        print(f"{a.venues} venues x {a.symbols} symbols, {order}: p50 {out[order]['p50_us']:.1f} µs, "
              f"mean {out[order]['mean_us']:.1f} µs, {live:,} live evaluations, {episodes:,} episodes")
    same = all(out["file order"][k] == out["grouped by symbol"][k] for k in ("live", "episodes"))
    print("same work in both orders" if same else "WARNING: the orders did different work")
    return out


if __name__ == "__main__":
    main()
