"""cProfile of the hot paths, printed as the top functions by own time (what BENCHMARKS.md quotes).

Usage (from the repository root)::

    python -m bench.profile_hot_path [--top 15] [--venues 5] [--symbols 100]

Three profiles, each with the per-event (or per-frame) own time of the top functions:

* ``kraken``: ``KrakenBook.apply`` over the 510 real frames, 20 passes;
* ``decide``: ``Scanner.on_book_event`` alone over a synthetic cell's books (rebuilt beforehand);
* ``replay``: ``run_replay`` end to end (no journal: cProfile sees only the main thread).

cProfile adds a fixed cost per call, so the absolute times are inflated; the shares and the calls
per event are what point at the hot spots.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
from pathlib import Path
from typing import Any

from adapters.kraken.book import KrakenBook
from arbscan.replay.run import BookBuilder, BookEvent, MarketEvent, ReplayReader, run_replay
from arbscan.scan.scanner import Scanner
from bench.bench_kraken_book import load_frames
from bench.bench_replay import ensure_file

__all__ = ["main", "top_functions"]


def top_functions(profile: cProfile.Profile, per: int, top: int) -> list[tuple[str, float, float, float]]:
    """(function, calls per unit, own µs per unit, cumulative µs per unit) of the ``top`` by own time."""
    stats = pstats.Stats(profile)
    rows = []
    for (filename, line, name), (_, ncalls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{Path(filename).name}:{line}({name})" if line else name
        rows.append((where, ncalls / per, tottime / per * 1e6, cumtime / per * 1e6))
    rows.sort(key=lambda r: -r[2])
    return rows[:top]


def _print(title: str, unit: str, rows: list[tuple[str, float, float, float]]) -> None:
    print(f"\n### {title}\n")
    print(f"| function | calls per {unit} | own µs per {unit} | cumulative µs per {unit} |")
    print("|---|---|---|---|")
    for where, calls, own, cum in rows:
        print(f"| `{where}` | {calls:.2f} | {own:.2f} | {cum:.2f} |")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the three profiles and print their tables."""
    p = argparse.ArgumentParser(description="cProfile of the hot paths")
    p.add_argument("--top", type=int, default=12)
    p.add_argument("--venues", type=int, default=5)
    p.add_argument("--symbols", type=int, default=100)
    p.add_argument("--deltas", type=int, default=20_000)
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "arbscan-bench")
    a = p.parse_args(argv)
    out: dict[str, Any] = {}

    frames = load_frames()
    book = KrakenBook("BTC/USD", 10, 1, 8)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(20):
        for frame in frames:
            book.apply(frame)
    prof.disable()
    out["kraken"] = top_functions(prof, 20 * len(frames), a.top)
    _print("KrakenBook.apply, 510 real frames x 20", "frame", out["kraken"])

    a.workdir.mkdir(parents=True, exist_ok=True)
    deltas = max(a.deltas, 10 * a.venues * a.symbols)
    path = ensure_file(a.workdir, a.venues, a.symbols, deltas, 1)
    markets, events = [], []
    for ev in ReplayReader(path):
        if type(ev) is BookEvent:
            events.append(ev)
        elif type(ev) is MarketEvent:
            markets.append(ev.market)
    builder = BookBuilder(10)
    built = [(builder.apply(ev), ev.ts) for ev in events]
    scanner = Scanner({(m.exchange, m.symbol): m for m in markets}, None)
    prof = cProfile.Profile()
    prof.enable()
    for bk, t in built:
        scanner.on_book_event(bk, t)
    prof.disable()
    out["decide"] = top_functions(prof, len(built), a.top)
    _print(f"Scanner.on_book_event, {a.venues} venues x {a.symbols} symbols", "event", out["decide"])

    prof = cProfile.Profile()
    prof.enable()
    result = run_replay(path, None, depth=10)
    prof.disable()
    out["replay"] = top_functions(prof, result.book_events, a.top)
    _print(f"run_replay end to end, {a.venues} venues x {a.symbols} symbols", "event", out["replay"])
    return out


if __name__ == "__main__":
    main()
