"""Benchmark 7c: an executor's share of the routes at 20 x 1,000 — decoding per route, and one of several split by shard.

Usage (from the repository root)::

    python -m bench.bench_split [--venues 20] [--symbols 50] [--deltas 60000] [--seconds 6] [--rate 20000]

Not pinned, not in ``bench.run_all`` (a real ``nats-server -js`` on 127.0.0.1, an executor process).

1. **What the executor reads.** A generated replay (``bench.gen_replay``; ``--venues`` x ``--symbols``, every
   symbol on every venue) through one replay shard's tap (``arbscan.parallel.shard.run_replay_shard``) with a
   strategy that takes every live route: the executor's messages exactly as a shard sends them, in its
   batches (one per watermark). Counted: live routes, route messages, the other books sent whole and sent as
   a reference (the executor holds that version already), book updates (``b``) sent. Then the CPU to unpickle those batches
   (``arbscan.bus.codec.decode_pickle``, in this process), per route, as sent and with every other book
   sent whole (the format before references).
2. **One executor of several** (``execute --shards 1``): two shards' outboxes (subjects ``arbscan.routes.1``
   and ``.2``) publish the captured messages, ``--per-batch`` to a bus message, at ``--rate`` routes/s each for ``--seconds``; an executor
   process (``BusExecutor`` following shard 1 only) decodes what it gets. Reported: the routes/s it
   decoded, that it got none of shard 2's, and the latency from a batch's ``put`` to its decoding, p50/p99.
   Then a flood (no pacing): the most routes/s one executor decodes from the bus.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import machine, percentile

__all__ = ["main"]


class _Keep:
    """An outbox that keeps what it is given."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    def put(self, item: Any) -> None:
        self.items.append(item)

    def close(self) -> None:
        pass


class _NeverSent(dict):
    """``ExecutionTap.sent`` that never matches: every other book goes whole (the format before references)."""

    def get(self, key: Any, default: Any = None) -> Any:
        return None


def capture(path: Path, whole: bool = False) -> list[list[Any]]:
    """The executor's message batches of a one-shard replay of ``path`` with a strategy taking every route."""
    from arbscan.config.settings import parse_settings
    from arbscan.parallel import shard as shard_mod
    from arbscan.parallel.replay_workers import venues_per_symbol
    from arbscan.parallel.shard import ReplayShardSpec, run_replay_shard
    from arbscan.parallel.shard_map import ShardMap

    settings = parse_settings({"scanner": {"min_net_bps": 0}, "strategies": [{"name": "all", "min_net_bps": 0}]})
    shards = ShardMap.build(venues_per_symbol(path), 1).shards
    spec = ReplayShardSpec(0, shards, str(path), None, None, settings, 10, tuple(settings.strategies), 20)
    events, journal = _Keep(), _Keep()
    init = shard_mod.ExecutionTap.__init__
    if whole:
        def patched(self: Any, *a: Any, **kw: Any) -> None:
            init(self, *a, **kw)
            self.sent = _NeverSent()
        shard_mod.ExecutionTap.__init__ = patched
    try:
        run_replay_shard(spec, journal, events, None)
    finally:
        shard_mod.ExecutionTap.__init__ = init
    return [b for b in events.items if isinstance(b, list) and b]


def counts(batches: list[list[Any]]) -> dict[str, int]:
    routes = messages = whole = refs = updates = 0
    for batch in batches:
        for msg in batch:
            updates += msg[0] == "b"
            if msg[0] != "r":
                continue
            messages += 1
            routes += len(msg[5])
            for other, _version in msg[4]:
                if type(other) is tuple:
                    refs += 1
                else:
                    whole += 1
    return {"routes": routes, "route_messages": messages, "others_whole": whole, "others_referenced": refs,
            "book_updates": updates}


def decode_us(batches: list[list[Any]], rounds: int = 3) -> float:
    """CPU µs per route to unpickle the batches as the bus carries them (best of ``rounds``)."""
    from arbscan.bus.codec import decode_pickle, encode_pickle

    datas = [encode_pickle({"k": "events", "run": "r", "p": "shard1", "shard": 0, "of": 1, "x": b}) for b in batches]
    routes = counts(batches)["routes"]
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for d in datas:
            decode_pickle(d)
        best = min(best, time.process_time() - started)
    return best * 1e6 / routes


def _receiver(url: str, seconds: float, ready: Any, done: Any) -> None:
    """An executor process following shard 1 only: decodes what comes, records put-to-decoded latencies."""
    import asyncio

    from arbscan.bus.codec import decode_pickle
    from arbscan.bus.connection import Bus
    from arbscan.bus.executor_proc import BusExecutor
    from arbscan.config.bus import BusConfig
    from arbscan.config.settings import Settings

    async def run() -> dict[str, Any]:
        settings = Settings(bus=BusConfig(url=url))
        bus = Bus(settings.bus, "bench-executor", lambda line: None).start()
        bus.wait_connected(10)
        ex = BusExecutor(bus, settings, [], lambda *a: [], lambda line: None, shards=frozenset({0}))
        await ex.follow()
        ready.send(True)
        lat: list[int] = []
        routes, shards = 0, set()
        first = last = 0.0
        quiet_until = time.monotonic() + seconds + 30
        while time.monotonic() < quiet_until:
            got = await ex.next_messages(2.0)
            if not got and routes:
                break
            for _seq, data in got:
                body = decode_pickle(data)
                now = time.monotonic_ns()
                shards.add(body["shard"])
                if body["k"] != "events":
                    continue
                first = first or time.perf_counter()
                last = time.perf_counter()
                x = body["x"]
                lat.append(now - x[0][1])
                routes += sum(len(m[5]) for m in x if m[0] == "r")
        bus.close()
        return {"lat": lat, "routes": routes, "seconds": last - first, "shards": sorted(shards)}

    done.send(asyncio.run(run()))


def over_bus(url: str, batches: list[list[Any]], rate: float | None, seconds: float) -> dict[str, Any]:
    """Shards 1 and 2 publish ``batches`` (each at ``rate`` routes/s, or as fast as they can); the executor follows 1."""
    from arbscan.bus.connection import Bus
    from arbscan.bus.outbox import BusOutbox
    from arbscan.bus.subjects import routes_subject
    from arbscan.config.bus import BusConfig

    ctx = multiprocessing.get_context("spawn")
    ready_r, ready_w = ctx.Pipe(duplex=False)
    done_r, done_w = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_receiver, args=(url, seconds, ready_w, done_w), daemon=True)
    proc.start()
    if not ready_r.poll(60):
        raise RuntimeError("receiver did not start")
    ready_r.recv()
    bus = Bus(BusConfig(url=url), "bench-shards", lambda line: None).start()
    bus.wait_connected(10)
    run = f"split-{time.time_ns()}"
    boxes = [BusOutbox(bus, routes_subject(k), run, f"shard{k + 1}", kind="routes", bound=10**9, when_full="wait",
                       header={"shard": k, "of": 2}) for k in (0, 1)]
    for box in boxes:
        box.announce("start", {"mode": "scan"})
    per_batch = [sum(len(m[5]) for m in b if m[0] == "r") for b in batches]
    sent = 0
    start = time.perf_counter()
    i = 0
    while time.perf_counter() - start < seconds:
        b = batches[i % len(batches)]
        for box in boxes:
            box.put([("L", time.monotonic_ns()), *b])
        sent += per_batch[i % len(batches)]
        i += 1
        if rate:
            due = start + sent / rate
            left = due - time.perf_counter()
            if left > 0:
                time.sleep(left)
    for box in boxes:
        box.close(60)
    got = done_r.recv()
    proc.join(10)
    bus.close()
    lat = sorted(got["lat"])
    return {"sent_routes_per_shard": sent, "offered_per_s": sent / seconds, "received_routes": got["routes"],
            "decoded_per_s": got["routes"] / got["seconds"] if got["seconds"] else 0.0, "shards_seen": got["shards"],
            "p50_ms": percentile(lat, 0.5) / 1e6, "p99_ms": percentile(lat, 0.99) / 1e6, "batches": len(lat)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from arbscan.bus.server import NatsServer
    from bench.gen_replay import generate

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--venues", type=int, default=20)
    p.add_argument("--symbols", type=int, default=50)
    p.add_argument("--deltas", type=int, default=60_000)
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--rate", type=float, default=20_000.0, help="routes/s each shard offers while pacing")
    p.add_argument("--per-batch", type=int, default=20, help="executor messages per bus message")
    args = p.parse_args(argv)
    info = machine()
    print(f"machine: {info['cpu']}, {info['nproc']} CPUs, Python {info['python']}, load {' '.join(info['loadavg'])}, "
          f"{info['utc']} UTC")
    work = Path(tempfile.mkdtemp(prefix="arbscan-bench-split-"))
    path = work / "g.jsonl"
    generate(path, venues=args.venues, symbols=args.symbols, deltas=args.deltas, seed=7)
    batches = capture(path)
    whole = capture(path, whole=True)
    c, cw = counts(batches), counts(whole)
    assert c["routes"] == cw["routes"], (c, cw)
    d, dw = decode_us(batches), decode_us(whole)
    print(f"{args.venues} venues x {args.symbols} symbols, {args.deltas:,} deltas: {c['routes']:,} live routes in "
          f"{c['route_messages']:,} route messages, {len(batches):,} batches; other books: {c['others_whole']:,} whole, "
          f"{c['others_referenced']:,} referenced ({cw['others_whole']:,} whole before references); "
          f"{c['book_updates']:,} book updates")
    print(f"executor CPU to read a route: {d:.1f} µs as sent ({1e6 / d:,.0f} routes/s per core), {dw:.1f} µs with every "
          f"other book whole ({1e6 / dw:,.0f} routes/s)")
    results: dict[str, Any] = {"counts": c, "counts_whole": cw, "decode_us": d, "decode_us_whole": dw, "machine": info}
    # a replay shard sends one batch per watermark (500 lines, hundreds of routes); a scan shard one per turn of its
    # event loop: the bus part sends the same messages in batches of --per-batch messages
    small = [b[i:i + args.per_batch] for b in batches for i in range(0, len(b), args.per_batch)]
    with NatsServer(work / "store") as server:
        paced = over_bus(server.url, small, args.rate, args.seconds)
        flood = over_bus(server.url, small, None, args.seconds)
    results.update(paced=paced, flood=flood, machine_after=machine())
    for name, r in (("paced", paced), ("flood", flood)):
        print(f"{name}: shards 1 and 2 each offered {r['offered_per_s']:,.0f} routes/s; the executor (--shards 1) decoded "
              f"{r['decoded_per_s']:,.0f} routes/s, {r['received_routes']:,} of shard 1's {r['sent_routes_per_shard']:,}, "
              f"from shards {[s + 1 for s in r['shards_seen']]}; put to decoded p50 {r['p50_ms']:.1f} ms, "
              f"p99 {r['p99_ms']:.1f} ms over {r['batches']:,} batches")
    print(f"machine after: load {' '.join(results['machine_after']['loadavg'])}")
    return results


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
