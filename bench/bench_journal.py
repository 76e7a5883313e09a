"""Benchmark 3: the journal with the scanner running: rows written per second, event-loop stalls.

Usage (from the repository root)::

    python -m bench.bench_journal [--venues 5] [--symbols 100] [--deltas 60000] [--rounds 3]

A synthetic replay file with many short episodes (``bench/gen_replay.py`` with a wide
``--offset-sd``, so routes cross and uncross often and every closed episode is a journal row) is
read beforehand. Then, inside one asyncio event loop, as the live scanner runs:

* a **feeder** task rebuilds each book and hands it to ``Scanner.on_book_event`` (which queues a
  row per closed episode), yielding to the loop after every event, as a WebSocket consumer does
  after every frame;
* a **stats** task calls ``LiveDriver.write_stats()`` every ``--stats-interval`` seconds, as the
  live driver's timer does (changed funnel and feed rows queued on the loop thread, in slices);
  "write_stats" in the table is the wall time of one such call, slices and other tasks included;
* a **probe** task loops on ``await asyncio.sleep(0)`` and records the time between its
  consecutive runs: the longest time no other task could run (loop lag).

Each round runs the same events twice, alternating the order: with a SQLite ``Store`` (the
journal's writer thread committing in the background, same CPU) and without a journal
(``store=None``). The stall *caused by writing* is the loop lag with the journal beyond the lag
without it. Rows/s counts the rows committed (``opportunities`` + ``funnel`` + ``venue_stats``
upserts) from the first event until ``Store.flush`` returns; "backlog" is how long that flush took
after the last event (what the writer had not committed yet). The process is pinned to one CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from arbscan.replay.run import BookBuilder, BookEvent, MarketEvent, ReplayReader
from arbscan.scan.feeds import LiveDriver
from arbscan.scan.scanner import Scanner
from arbscan.journal.store import Store
from bench.common import fmt_spread, machine, percentile, pin_cpu, save_results, spread
from bench.gen_replay import generate

__all__ = ["main", "run_once"]


def _set_writer_policy(store: Store, policy: str) -> None:
    """Experiment: change the OS scheduling of the journal's writer thread ("default" leaves the Store's own)."""
    tid = store._writer.native_id
    if policy == "nice0":
        os.setpriority(os.PRIO_PROCESS, tid, 0)
    elif policy == "nice19":
        os.setpriority(os.PRIO_PROCESS, tid, 19)
    elif policy == "idle":
        os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))


class _CountingStore:
    """Wraps a ``Store`` to count the rows queued (the writer commits every one of them)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.rows = 0

    def record_episode(self, episode: Any) -> None:
        self.rows += 1
        self.store.record_episode(episode)

    def record_funnel(self, funnels: Any, now: float | None = None) -> None:
        funnels = list(funnels)
        self.rows += len(funnels)
        self.store.record_funnel(funnels, now=now)

    def record_venue_stats(self, stats: Any) -> None:
        stats = list(stats)
        self.rows += len(stats)
        self.store.record_venue_stats(stats)


async def run_once(
    markets: list[Any],
    books: list[BookEvent],
    db: Path | None,
    stats_interval: float,
    writer_policy: str = "default",
    rate: float = 0.0,
) -> dict[str, Any]:
    """One pass over ``books`` in an event loop, with a journal at ``db`` (or none); returns lag and row figures."""
    store = None
    counting = None
    if db is not None:
        store = Store(db)
        _set_writer_policy(store, writer_policy)
        store.start_run("scan", source="bench")
        counting = _CountingStore(store)
    scanner = Scanner({(m.exchange, m.symbol): m for m in markets}, counting)
    driver = LiveDriver(scanner, {}, ())
    builder = BookBuilder(10)
    gaps: list[float] = []
    stats_stalls: list[float] = []
    done = asyncio.Event()
    clock = time.perf_counter

    async def probe() -> None:
        if rate:
            # The loop must be free to idle between paced events, so this probe sleeps: it asks for a
            # wake-up every millisecond and records how late it comes (epoll rounds a timeout up to
            # whole milliseconds, so up to about 1 ms of lateness is the timer's, with or without a journal).
            loop = asyncio.get_running_loop()
            while not done.is_set():
                due = loop.time() + 0.001
                await asyncio.sleep(0.001)
                gaps.append(loop.time() - due)
            return
        last = clock()
        while not done.is_set():
            await asyncio.sleep(0)
            now = clock()
            gaps.append(now - last)
            last = now

    async def stats() -> None:
        while not done.is_set():
            await asyncio.sleep(stats_interval)
            t0 = clock()
            await driver.write_stats()  # the live driver's own stats write (in slices)
            stats_stalls.append(clock() - t0)

    async def feed() -> None:
        if not rate:
            for ev in books:
                scanner.on_book_event(builder.apply(ev), ev.ts)
                await asyncio.sleep(0)
        else:  # paced like frames off the network: the loop idles between them when it is ahead
            begin = clock()
            for i, ev in enumerate(books):
                scanner.on_book_event(builder.apply(ev), ev.ts)
                ahead = begin + (i + 1) / rate - clock()
                await asyncio.sleep(ahead if ahead > 0 else 0)
        done.set()

    if gc.isenabled():
        gc.collect()
    started = clock()
    tasks = [asyncio.create_task(probe()), asyncio.create_task(stats())]
    await feed()
    fed = clock()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    scanner.close()
    rows = 0
    closed = clock()
    if store is not None:
        store.flush()
        rows = counting.rows if counting else 0
        store.close()
    finished = clock()
    gaps.sort()
    return {
        "events": len(books),
        "feed_s": fed - started,
        "events_per_s": len(books) / (fed - started),
        "rows": rows,
        "rows_per_s": rows / (finished - started) if rows else 0.0,
        "backlog_s": finished - closed,  # committing what was still queued when the feed ended
        "episodes": scanner.episodes_closed,
        "lag_max_ms": gaps[-1] * 1000 if gaps else 0.0,
        "lag_p999_ms": percentile(gaps, 0.999) * 1000,
        "lag_p99_ms": percentile(gaps, 0.99) * 1000,
        "lag_p50_ms": percentile(gaps, 0.50) * 1000,
        "lag_over_1ms": sum(1 for g in gaps if g > 0.001),
        "lag_samples": len(gaps),
        "stats_stall_max_ms": max(stats_stalls) * 1000 if stats_stalls else 0.0,
        "stats_calls": len(stats_stalls),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the journal benchmark; print a Markdown table; optionally save JSON (``--json``)."""
    p = argparse.ArgumentParser(description="journal rows/s and event-loop stalls with the scanner running")
    p.add_argument("--venues", type=int, default=5)
    p.add_argument("--symbols", type=int, default=100)
    p.add_argument("--deltas", type=int, default=60_000)
    p.add_argument("--offset-sd", type=float, default=8.0, help="wider: more crossings, more episodes")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--stats-interval", type=float, default=0.25, help="seconds between write_stats calls")
    p.add_argument("--switch-interval-ms", type=float, default=None,
                   help="sys.setswitchinterval for this run (default: leave Python's 5 ms)")
    p.add_argument("--writer-policy", choices=("default", "nice0", "nice19", "idle"), default="default",
                   help="experiment: OS scheduling of the journal's writer thread")
    p.add_argument("--rate", type=float, default=0.0,
                   help="events per second to feed (0: as fast as the loop goes, the loop never idles); with a "
                        "rate the probe measures how late a 1 ms timer fires instead of spinning")
    p.add_argument("--no-gc", action="store_true",
                   help="experiment: disable the cyclic garbage collector during the runs (tells its pauses apart)")
    p.add_argument("--cpu", type=int, default=0, help="CPU to pin to; -1: no pinning")
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "arbscan-bench")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    pin_cpu(None if a.cpu < 0 else a.cpu)
    if a.switch_interval_ms is not None:
        sys.setswitchinterval(a.switch_interval_ms / 1000)
    a.workdir.mkdir(parents=True, exist_ok=True)
    path = a.workdir / f"journal_v{a.venues}_s{a.symbols}_d{a.deltas}_sd{a.offset_sd}.jsonl"
    if not path.exists():
        generate(path, a.venues, a.symbols, a.deltas, offset_sd=a.offset_sd)
    markets, books = [], []
    for ev in ReplayReader(path):
        if type(ev) is BookEvent:
            books.append(ev)
        elif type(ev) is MarketEvent:
            markets.append(ev.market)
    gc.collect()
    gc.freeze()  # the pre-read events are not the scanner's garbage: keep the collector off them
    if a.no_gc:
        gc.disable()
    print("machine:", machine(), "switch interval", sys.getswitchinterval(), "gc", gc.isenabled())
    dbdir = Path(tempfile.mkdtemp(prefix="arbscan-bench-journal-"))
    runs: dict[str, list[dict[str, Any]]] = {"journal": [], "no journal": []}
    try:
        for rnd in range(a.rounds):
            order = ["journal", "no journal"] if rnd % 2 == 0 else ["no journal", "journal"]
            for kind in order:
                db = dbdir / f"r{rnd}.db" if kind == "journal" else None
                r = asyncio.run(run_once(markets, books, db, a.stats_interval, a.writer_policy, a.rate))
                runs[kind].append(r)
                print(f"round {rnd + 1} {kind}: {r['events_per_s']:,.0f} events/s, {r['rows']:,} rows "
                      f"({r['rows_per_s']:,.0f}/s, backlog {r['backlog_s']:.2f} s), loop lag max {r['lag_max_ms']:.2f} ms p99.9 "
                      f"{r['lag_p999_ms']:.3f} ms, {r['lag_over_1ms']} gaps over 1 ms, "
                      f"write_stats max {r['stats_stall_max_ms']:.2f} ms", flush=True)
    finally:
        shutil.rmtree(dbdir, ignore_errors=True)
        gc.unfreeze()
        gc.enable()
    keys = ("events_per_s", "rows_per_s", "backlog_s", "lag_max_ms", "lag_p999_ms", "lag_p99_ms", "stats_stall_max_ms", "lag_over_1ms")
    summary = {kind: {k: spread([r[k] for r in rs]) for k in keys} | {"rows": rs[0]["rows"], "episodes": rs[0]["episodes"]}
               for kind, rs in runs.items()}
    excess = [j["lag_max_ms"] - n["lag_max_ms"] for j, n in zip(runs["journal"], runs["no journal"])]
    summary["stall_caused_by_writing_ms"] = spread(excess)
    print()
    print("| run | events/s | rows/s committed | loop lag max ms | p99.9 ms | p99 ms | write_stats max ms |")
    print("|---|---|---|---|---|---|---|")
    for kind in runs:
        s = summary[kind]
        print(f"| {kind} | {fmt_spread(s['events_per_s'])} | {fmt_spread(s['rows_per_s'])} | {fmt_spread(s['lag_max_ms'], 2)} | "
              f"{fmt_spread(s['lag_p999_ms'], 3)} | {fmt_spread(s['lag_p99_ms'], 3)} | {fmt_spread(s['stats_stall_max_ms'], 2)} |")
    print(f"\nlongest stall with the journal beyond the longest without, per round: {fmt_spread(summary['stall_caused_by_writing_ms'], 2)} ms")
    save_results(a.json, "journal", {"args": {k: str(v) for k, v in vars(a).items()}, "summary": summary, "raw": runs})
    return summary


if __name__ == "__main__":
    main()
