"""Benchmark 5: all the cores — ``replay --workers N`` at 5 venues x 1,000 symbols, and what N = 16 would do.

Usage (from the repository root)::

    python -m bench.bench_workers [--venues 5] [--symbols 1000] [--deltas-per-book 10] [--rounds 3]

Not pinned to a CPU: it needs every core. Four measurements, then a projection:

1. **Throughput**: ``arbscan replay FILE`` (``arbscan.app.run_replay_command``, depth 10, no strategy)
   with ``--workers 1`` (one process, the reference) and ``--workers 2``, alternating, timed from the
   call until it returns: spawning the processes, reading the header, every shard's work, the journal
   writer committing everything. Events/s counts every book line. Also each shard's own time.
2. **Decisions per shard**: the same replay with every shard timing each ``Scanner.on_book_event``
   (``timing=True``), with 1 shard process and with 2, the writer process running: p50, p99, max.
3. **Event-loop stall in a shard**: a live shard's loop (a feeder yielding after each event, the feed
   driver's periodic ``write_stats``, the journal's periodic send, a probe task that measures the
   time between its runs) with its rows going to a journal writer *process* — sent from a thread as
   a scan shard does, or on the loop itself — and without a journal; the garbage collector off (its
   pauses are not the journal's), as in benchmark 3. The loop is pinned to one CPU and the writer to
   another (``--stall-cpus``), as the OS would place one shard and the writer on an idle machine.
4. **Writer capacity**: one producer sends ready batches as fast as the pipe takes them; rows/s
   committed by the writer process, for episode inserts and for funnel upserts.
5. **Projection to N = 16**: a shard's time per line is ``c_own / N + c_skip * (N - 1) / N``, with
   ``c_own`` measured by one in-process shard that owns every symbol and ``c_skip`` by one that owns
   none (it reads the whole file and skips every book line); the writer must commit ``r`` rows per
   event (``r`` from the first). Whichever gives fewer events/s saturates first.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import pickle
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

# Light imports only: every process --workers spawns imports this module again (it is __main__), and
# sqlite-utils (with pandas) would add half a second to each start. The rest is imported where used.
from arbscan.config.settings import ScannerConfig, Settings
from arbscan.parallel.journal_writer import WriterSpec, writer_main
from arbscan.parallel.processes import ChildLog
from arbscan.parallel.remote_store import RemoteStore
from arbscan.replay.run import BookBuilder
from arbscan.replay.reader import BookEvent, MarketEvent, ReplayReader
from arbscan.scan.scanner import Scanner
from arbscan.parallel.shard import ReplayShardSpec, run_replay_shard
from arbscan.parallel.shard_scan import BATCH_ROWS, ShardDriver
from arbscan.parallel.transport import ThreadedOutbox, pipe
from bench.common import fmt_spread, machine, percentile, save_results, spread
from bench.gen_replay import generate

__all__ = ["main"]


def _settings(db: Path, workers: int) -> Settings:
    return replace(Settings(), scanner=replace(ScannerConfig(), db=str(db), workers=workers))


def throughput(path: Path, dbdir: Path, workers: int, tag: str) -> dict[str, Any]:
    """One ``arbscan replay`` of ``path``, timed end to end."""
    from arbscan.app import run_replay_command

    db = dbdir / f"t{workers}_{tag}.db"
    begun = time.time()
    started = time.perf_counter()
    run = run_replay_command(_settings(db, workers), path, depth=10, strategies=[])
    wall = time.perf_counter() - started
    ended = time.time()
    events = run.result.book_events
    out = {"events": events, "wall_s": wall, "events_per_s": events / wall}
    reports = getattr(run.result.scanner, "reports", [])
    if reports:
        out["shard_s"] = [r.seconds for r in reports]
        out["shard_cpu_s"] = [r.cpu_seconds for r in reports]
        out["steady_events_per_s"] = events / max(r.seconds for r in reports)
        first = min(r.started_at for r in reports)
        last = max(r.started_at + r.seconds for r in reports)
        writer = run.result.scanner.writer.ended_at
        out["phases_s"] = {"start": first - begun, "shards": last - first, "writer_tail": writer - last,
                           "close": ended - writer}
    return out


def decisions(path: Path, dbdir: Path, workers: int, tag: str) -> list[dict[str, float]]:
    """Per-shard decision times (µs) of one replay with ``workers`` shard processes."""
    from arbscan.parallel.replay_workers import run_replay_workers

    db = dbdir / f"d{workers}_{tag}.db"
    run = run_replay_workers(_settings(db, workers), path, depth=10, strategies=[], timing=True)
    return [r.decide_us for r in sorted(run.result.scanner.reports, key=lambda r: r.index)]


class _NullOutbox:
    """Takes batches like a pipe would (pickled), keeps only the count of rows per table: the producer's cost."""

    def __init__(self, journal: bool) -> None:
        self.journal = journal
        self.bytes = 0
        self.rows: dict[str, int] = {}

    def put(self, item: Any) -> None:
        self.bytes += len(pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL))
        for _, table, rows, _ in item if self.journal else ():
            self.rows[table] = self.rows.get(table, 0) + len(rows)

    def close(self) -> None:
        pass


def shard_cost(path: Path, owns_all: bool) -> dict[str, Any]:
    """Seconds per line of one in-process shard that owns every symbol (or none)."""
    symbols = tuple(sorted({ev.market.symbol for ev in ReplayReader(path) if type(ev) is MarketEvent}))
    shards = ((*symbols,), ()) if owns_all else ((), (*symbols,))
    spec = ReplayShardSpec(0, shards, str(path), 1, None, Settings(), 10)
    journal = _NullOutbox(journal=True)
    report = run_replay_shard(spec, journal, _NullOutbox(journal=False), None)
    first = next(ev.ts for ev in ReplayReader(path) if type(ev) is BookEvent)
    return {"lines": report.lines, "book_events": report.book_events, "seconds": report.seconds,
            "s_per_line": report.seconds / report.lines, "rows": journal.rows, "episodes": report.episodes_closed,
            "stats_rows": len(report.funnels) + len(report.feeds),
            "stream_s": (report.last_ts or first) - first}


# -- the writer process ---------------------------------------------------------------------------


class WriterProcess:
    """A journal writer process with one producer pipe, as ``--workers`` starts it."""

    def __init__(self, db: Path, cpu: int | None = None) -> None:
        from arbscan.parallel.processes import spawn
        from arbscan.journal.store import Store

        store = Store(db)
        self.run_id = store.start_run("replay", "bench")
        store.close()
        control_in, self.control = pipe()
        self.report_in, report_out = pipe()
        inbox, self.outbox = pipe()
        self.proc = spawn(writer_main, (WriterSpec(str(db)), os.getpid(), ChildLog(), control_in, {"p": inbox},
                                        report_out), "arbscan-writer")
        for end in (control_in, report_out, inbox):
            end.close()
        if cpu is not None:
            os.sched_setaffinity(self.proc.pid, {cpu})

    def finish(self) -> Any:
        """Close the producer; wait until the writer has committed everything; its report."""
        self.outbox.close()
        self.control.put(("end",))
        while True:
            items = self.report_in.poll()
            if items:
                self.proc.join(timeout=10)
                return items[0]
            time.sleep(0.005)


def writer_capacity(dbdir: Path, rows: int, kind: str) -> dict[str, Any]:
    """Rows/s the writer process commits when one producer sends ready batches as fast as it can."""
    w = WriterProcess(dbdir / f"w_{kind}.db")
    time.sleep(0.5)  # let it start
    batch = 200
    if kind == "episodes":
        row = {"run_id": w.run_id, "symbol": "C0001/USD", "buy_exchange": "v00", "sell_exchange": "v01",
               "first_seen": 1.0, "last_seen": 2.0, "observations": 3, "peak_ts": 1.5, "amount": "1.2345",
               "buy_vwap": "100.01", "sell_vwap": "100.09", "buy_limit": "100.02", "sell_limit": "100.08",
               "buy_cost": "123.5", "sell_proceeds": "123.6", "buy_fee": "0.06", "sell_fee": "0.06",
               "net_profit": "0.04", "net_bps": "3.2", "closed_at": 2.5, "close_reason": "uncrossed",
               "close_detail": "fees"}
        work = [[("insert", "opportunities", [dict(row) for _ in range(batch)], None)] for _ in range(rows // batch)]
    else:
        pk = ("run_id", "symbol", "buy_exchange", "sell_exchange")
        counts = {k: 7 for k in ("evaluated", "crossed_before_fees", "live", "not_crossed", "fees", "depth_or_minimums",
                                 "balance", "below_min_bps", "stale", "episodes")}
        work = [[("upsert", "funnel", [{"run_id": w.run_id, "symbol": f"C{(i * batch + j) % 5000:04d}/USD",
                                        "buy_exchange": "v00", "sell_exchange": "v01", "max_gross_bps": "3.1",
                                        "updated": 1.0, **counts} for j in range(batch)], pk)]
                for i in range(rows // batch)]
    started = time.perf_counter()
    for item in work:
        w.outbox.put(item)
    report = w.finish()
    seconds = time.perf_counter() - started
    return {"rows": report.rows, "seconds": seconds, "rows_per_s": report.rows / seconds}


# -- the stall in a shard -------------------------------------------------------------------------


async def loop_stall(markets: list[Any], books: list[BookEvent], db: Path | None, stats_interval: float,
                     threaded: bool = True, writer_cpu: int | None = None) -> dict[str, Any]:
    """One pass over ``books`` in a live shard's loop, rows to a writer process at ``db`` (or no journal).

    ``threaded``: batches are sent from a thread, as a scan shard sends them; else on the loop itself.
    ``writer_cpu``: the CPU the writer process is pinned to.
    """
    writer = WriterProcess(db, writer_cpu) if db is not None else None
    if writer is not None:
        await asyncio.sleep(0.5)
        if threaded:
            writer.outbox = ThreadedOutbox(writer.outbox)
    store = RemoteStore(writer.outbox, writer.run_id, db, batch_rows=BATCH_ROWS) if writer is not None else None
    scanner = Scanner({(m.exchange, m.symbol): m for m in markets}, store)
    driver = ShardDriver(scanner, {}, ())  # what a scan shard runs
    builder = BookBuilder(10)
    gaps: list[float] = []
    done = asyncio.Event()
    clock = time.perf_counter

    async def probe() -> None:
        last = clock()
        while not done.is_set():
            await asyncio.sleep(0)
            now = clock()
            gaps.append(now - last)
            last = now

    async def timers() -> None:
        last_stats = clock()
        while not done.is_set():
            await asyncio.sleep(0.1)
            if store is not None:
                store.tick()  # what a scan shard's timer does
            if clock() - last_stats >= stats_interval:
                last_stats = clock()
                await driver.write_stats()

    started = clock()
    tasks = [asyncio.create_task(probe()), asyncio.create_task(timers())]
    for ev in books:
        scanner.on_book_event(builder.apply(ev), ev.ts)
        await asyncio.sleep(0)
    fed = clock()
    done.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    scanner.close()
    rows = 0
    if writer is not None:
        store.flush()
        rows = writer.finish().rows
    gaps.sort()
    return {"events_per_s": len(books) / (fed - started), "rows": rows, "lag_max_ms": gaps[-1] * 1000,
            "lag_p999_ms": percentile(gaps, 0.999) * 1000, "lag_over_1ms": sum(1 for g in gaps if g > 0.001)}


# -- main -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run benchmark 5; print Markdown tables; optionally save JSON (``--json``)."""
    p = argparse.ArgumentParser(description="replay --workers N: events/s, decisions per shard, stalls, writer capacity")
    p.add_argument("--venues", type=int, default=5)
    p.add_argument("--symbols", type=int, default=1000)
    p.add_argument("--deltas-per-book", type=int, default=10)
    p.add_argument("--min-deltas", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--long-deltas-per-book", type=int, default=40,
                   help="a second, longer file at the same scale, where starting the processes weighs less (0: none)")
    p.add_argument("--stall-rounds", type=int, default=5)
    p.add_argument("--stall-symbols", type=int, default=100, help="symbols of the stall measurement's file (5 venues)")
    p.add_argument("--stall-deltas", type=int, default=60_000)
    p.add_argument("--writer-rows", type=int, default=100_000)
    p.add_argument("--project", type=int, default=16, help="N to project to")
    p.add_argument("--stall-cpus", default="0,1", help="CPUs of the shard loop and of the writer in the stall "
                   "measurement ('-1': not pinned)")
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "arbscan-bench")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    from bench.bench_replay import ensure_file

    a.workdir.mkdir(parents=True, exist_ok=True)
    deltas = max(a.min_deltas, a.deltas_per_book * a.venues * a.symbols)
    path = ensure_file(a.workdir, a.venues, a.symbols, deltas, 1)
    files = {"cell": path}
    if a.long_deltas_per_book:
        files["long"] = ensure_file(a.workdir, a.venues, a.symbols, a.long_deltas_per_book * a.venues * a.symbols, 1)
    print("machine:", machine(), flush=True)
    dbdir = Path(tempfile.mkdtemp(prefix="arbscan-bench-workers-"))
    out: dict[str, Any] = {"files": {k: str(v) for k, v in files.items()}, "throughput": {}, "speedup": {}}
    try:
        for name, file in files.items():
            runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
            for rnd in range(a.rounds):
                for n in ((1, 2) if rnd % 2 == 0 else (2, 1)):
                    r = throughput(file, dbdir, n, f"{name}{rnd}")
                    runs[n].append(r)
                    phases = ", ".join(f"{k} {v:.2f} s" for k, v in r.get("phases_s", {}).items())
                    print(f"{name} file, round {rnd + 1}, --workers {n}: {r['events']:,} events in {r['wall_s']:.2f} s = "
                          f"{r['events_per_s']:,.0f} events/s" + (f" ({phases})" if phases else ""), flush=True)
            out["throughput"][name] = {
                n: {"events_per_s": spread([r["events_per_s"] for r in rs]), "events": rs[0]["events"],
                    **({"steady_events_per_s": spread([r["steady_events_per_s"] for r in rs]),
                        "phases_s": {k: spread([r["phases_s"][k] for r in rs]) for k in rs[0]["phases_s"]}}
                       if "steady_events_per_s" in rs[0] else {})} for n, rs in runs.items()}
            out["speedup"][name] = spread([b["events_per_s"] / a_["events_per_s"] for a_, b in zip(runs[1], runs[2])])
        out["decisions"] = {n: decisions(path, dbdir, n, "x") for n in (1, 2)}
        for n, shards in out["decisions"].items():
            for k, d in enumerate(shards):
                print(f"{n} shard process(es), shard {k + 1}: decision p50 {d['p50']:.1f} µs, p99 {d['p99']:.1f} µs, "
                      f"max {d['max']:.0f} µs over {d['n']:,} events", flush=True)
        out["writer"] = {kind: writer_capacity(dbdir, a.writer_rows, kind) for kind in ("episodes", "funnel")}
        for kind, w in out["writer"].items():
            print(f"writer capacity, {kind}: {w['rows']:,} rows in {w['seconds']:.2f} s = {w['rows_per_s']:,.0f} rows/s",
                  flush=True)
        stall_path = a.workdir / f"journal_v5_s{a.stall_symbols}_d{a.stall_deltas}_sd8.0.jsonl"
        if not stall_path.exists():
            generate(stall_path, 5, a.stall_symbols, a.stall_deltas, offset_sd=8.0)
        markets = [ev.market for ev in ReplayReader(stall_path) if type(ev) is MarketEvent]
        books = [ev for ev in ReplayReader(stall_path) if type(ev) is BookEvent]
        affinity = os.sched_getaffinity(0)
        cpus = [int(c) for c in a.stall_cpus.split(",")] if a.stall_cpus != "-1" else []
        cpus = cpus if all(c in affinity for c in cpus) else []  # a machine without those CPUs: not pinned
        if cpus:
            os.sched_setaffinity(0, {cpus[0]})
        gc.collect()
        gc.freeze()
        gc.disable()
        stalls: dict[str, list[dict[str, Any]]] = {"journal, sent from a thread (as scan shards do)": [],
                                                   "journal, sent on the loop": [], "no journal": []}
        try:
            for rnd in range(a.stall_rounds):
                for i, kind in enumerate(stalls):
                    db = dbdir / f"s{rnd}_{i}.db" if kind.startswith("journal") else None
                    r = asyncio.run(loop_stall(markets, books, db, 0.25, threaded="thread" in kind,
                                               writer_cpu=cpus[1] if len(cpus) > 1 else None))
                    stalls[kind].append(r)
                    print(f"stall round {rnd + 1}, {kind}: longest {r['lag_max_ms']:.2f} ms, p99.9 {r['lag_p999_ms']:.3f} ms, "
                          f"{r['lag_over_1ms']} gaps over 1 ms, {r['rows']:,} rows", flush=True)
        finally:
            gc.unfreeze()
            gc.enable()
            os.sched_setaffinity(0, affinity)
        out["stall"] = {kind: {k: spread([r[k] for r in rs]) for k in ("lag_max_ms", "lag_p999_ms", "lag_over_1ms")}
                        | {"rows": rs[0]["rows"]} for kind, rs in stalls.items()}
        own, skip = shard_cost(path, True), shard_cost(path, False)
        out["projection"] = project(own, skip, out["writer"], a.project)
    finally:
        shutil.rmtree(dbdir, ignore_errors=True)
    print_tables(out)
    save_results(a.json, "workers", out)
    return out


def project(own: dict[str, Any], skip: dict[str, Any], writer: dict[str, Any], n: int) -> dict[str, Any]:
    """Events/s the shards and the writer could sustain at ``n`` shards (one core each), from measured costs.

    The writer's load per event: one row per episode (episodes per event as measured), plus the funnel
    and feed rows (one per route and per book, at most) every 5 s of the stream's clock; in a replay of
    this file that clock runs ``stream_s / events`` per event, in a live scan it is wall time.
    """
    events_per_line = own["book_events"] / own["lines"]
    episodes_per_event = own["episodes"] / own["book_events"]
    stream_s_per_event = own["stream_s"] / own["book_events"]
    stats_rows_per_event = own["stats_rows"] / 5.0 * stream_s_per_event if stream_s_per_event else 0.0
    rows_per_event = episodes_per_event + stats_rows_per_event
    capacity = min(w["rows_per_s"] for w in writer.values())  # the slower kind, to be safe
    out = {"c_own_us_per_line": own["s_per_line"] * 1e6, "c_skip_us_per_line": skip["s_per_line"] * 1e6,
           "episodes_per_event": episodes_per_event, "stats_rows_per_5s": own["stats_rows"],
           "stats_rows_per_event_replay": stats_rows_per_event, "rows_per_event_replay": rows_per_event,
           "writer_rows_per_s": capacity, "writer_bound_events_per_s_replay": capacity / rows_per_event,
           "writer_bound_events_per_s_live": (capacity - own["stats_rows"] / 5.0) / episodes_per_event
           if episodes_per_event else None, "by_n": {}}
    for k in (1, 2, 4, 8, n):
        line_s = own["s_per_line"] / k + skip["s_per_line"] * (k - 1) / k
        out["by_n"][k] = events_per_line / line_s
    shard_bound = out["by_n"][n]
    writer_bound = min(out["writer_bound_events_per_s_replay"], out["writer_bound_events_per_s_live"] or float("inf"))
    out["saturates_first"] = ("the shards: each reads and skips every other shard's line" if shard_bound < writer_bound
                              else "the writer")
    return out


def print_tables(out: dict[str, Any]) -> None:
    """The Markdown tables BENCHMARKS.md shows."""
    print("\n| file | book events | --workers | events/s end to end | speed-up vs 1 | events/s while the shards run "
          "| starting s | shards s | writer's tail s | closing s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, t in out["throughput"].items():
        for n, s in t.items():
            steady = fmt_spread(s["steady_events_per_s"]) if "steady_events_per_s" in s else "-"
            speed = "1 x" if n == 1 else f"{fmt_spread(out['speedup'][name], 2)} x"
            ph = s.get("phases_s", {})
            cells = " | ".join(fmt_spread(ph[k], 2) if k in ph else "-" for k in ("start", "shards", "writer_tail", "close"))
            print(f"| {name} | {s['events']:,} | {n} | {fmt_spread(s['events_per_s'])} | {speed} | {steady} | {cells} |")
    print("\n| shard processes | shard | decision p50 µs | p99 µs | max µs | events |")
    print("|---|---|---|---|---|---|")
    for n, shards in out["decisions"].items():
        for k, d in enumerate(shards):
            print(f"| {n} | {k + 1} | {d['p50']:.1f} | {d['p99']:.1f} | {d['max']:.0f} | {d['n']:,} |")
    print("\n| loop | longest stall ms | p99.9 ms | gaps over 1 ms | rows |")
    print("|---|---|---|---|---|")
    for kind, s in out["stall"].items():
        print(f"| {kind} | {fmt_spread(s['lag_max_ms'], 2)} | {fmt_spread(s['lag_p999_ms'], 3)} | "
              f"{fmt_spread(s['lag_over_1ms'])} | {s['rows']:,} |")
    print("\n| writer process | rows/s committed |")
    print("|---|---|")
    for kind, w in out["writer"].items():
        print(f"| {kind} | {w['rows_per_s']:,.0f} |")
    pr = out["projection"]
    live = pr["writer_bound_events_per_s_live"]
    print(f"\nprojection: c_own {pr['c_own_us_per_line']:.1f} µs/line, c_skip {pr['c_skip_us_per_line']:.2f} µs/line; "
          f"writer {pr['writer_rows_per_s']:,.0f} rows/s; {pr['episodes_per_event']:.4f} episodes/event and "
          f"{pr['stats_rows_per_5s']:,} funnel+feed rows per 5 s of stream: the writer keeps up to "
          f"{pr['writer_bound_events_per_s_replay']:,.0f} events/s in this replay"
          + (f", {live:,.0f} events/s live" if live else ""))
    print("| N | events/s the shards could do (one core each) |")
    print("|---|---|")
    for k, v in pr["by_n"].items():
        print(f"| {k} | {v:,.0f} |")
    print(f"saturates first: {pr['saturates_first']}")


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
