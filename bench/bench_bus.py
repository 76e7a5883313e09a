"""Benchmark 7: beyond one machine — routes and journal rows over NATS JetStream on loopback.

Usage (from the repository root)::

    python -m bench.bench_bus [--routes 2000] [--rate 500] [--rows 100000] [--rounds 3] [--nodes 1|3]

``--nodes 3``: a 3-node cluster instead of one server, started by ``deploy/cluster.sh nats a|b|c`` on
127.0.1.1-3, every stream and bucket with 3 replicas (BENCHMARKS.md section 7b).

Not pinned (a publisher, the server and a receiver run as separate processes, as on a deployment).
A real ``nats-server -js`` (the ``cluster`` extra's binary) on 127.0.0.1, its store in a temporary
directory. Three measurements, then a projection:

1. **Route to executor**: a shard's route message (``("r", line, t, book, others, routes)``: two
   10-level books, one route) put in a routes ``BusOutbox`` at ``--rate`` per second, received by an
   executor process through ``arbscan.bus.executor_proc.BusExecutor`` (the ordered consumer, the hop to
   its event loop) and unpickled; the latency is from ``put`` to the decoded message, both sides
   reading the same monotonic clock. Three ways for the shard: idle between messages (it sleeps), busy
   (its main thread spins, as a shard scanning flat out holds the GIL the bus thread needs), and busy
   with CPython's default 5 ms GIL switch interval instead of the 0.5 ms ``Bus`` sets. Compared in the
   same round with the same message over core NATS (publish / subscribe, nothing stored) and over a
   local pipe between two processes (``--workers``), the shard idle.
   Then floods of messages of 1 and of 20 routes: messages/s stored by one shard's outbox (it waits
   for each acknowledgement), routes/s decoded by the executor, the server's CPU per message; and the
   executor's CPU to unpickle a route, in this process.
2. **Journal rows through JetStream**: one producer puts ready batches of 200 episode rows into a
   journal ``BusOutbox`` as fast as JetStream stores them (rows/s stored); then ``arbscan journal``
   (a separate process) commits the stream into SQLite (rows/s committed, from its first commit to its
   last); then both at once, end to end.
3. **Projection for 20 venues x 1,000 symbols** (about 200,000 book updates/s), from these figures and
   sections 2 and 6: how many shards, and which resource saturates first.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.common import fmt_spread, machine, percentile, save_results, spread

__all__ = ["main"]

ROW = {"symbol": "C0001/USD", "buy_exchange": "v00", "sell_exchange": "v01", "first_seen": 1.0, "last_seen": 2.0,
       "observations": 3, "peak_ts": 1.5, "amount": "1.2345", "buy_vwap": "100.01", "sell_vwap": "100.09",
       "buy_limit": "100.02", "sell_limit": "100.08", "buy_cost": "123.5", "sell_proceeds": "123.6", "buy_fee": "0.06",
       "sell_fee": "0.06", "net_profit": "0.04", "net_bps": "3.2", "closed_at": 2.5, "close_reason": "uncrossed",
       "close_detail": "fees"}
"""An episode row as a shard sends it (the values ``to_db_value`` makes), as section 6's writer benchmark uses."""


def route_message(line: int, sent_ns: int) -> tuple[Any, ...]:
    """A realistic ``r`` message: the event's book, the other book of the route, one live route; ``t`` = send time."""
    from arbscan.model import BookSnapshot, Opportunity

    def book(ex: str, mid: Decimal) -> BookSnapshot:
        bids = tuple((mid - Decimal("0.01") * (i + 1), Decimal("1.5") + i) for i in range(10))
        asks = tuple((mid + Decimal("0.01") * (i + 1), Decimal("2.5") + i) for i in range(10))
        return BookSnapshot(ex, "C0001/USD", bids, asks, 1700000000.0 + line / 1000, 1700000000.0 + line / 1000)

    a, b = book("v00", Decimal("100.00")), book("v01", Decimal("100.10"))
    opp = Opportunity("C0001/USD", "v00", "v01", Decimal("1.5"), Decimal("100.01"), Decimal("100.09"),
                      Decimal("100.01"), Decimal("100.09"), Decimal("150.09"), Decimal("150.06"), Decimal("0.03"),
                      Decimal("2.1"), 1700000000.0)
    return ("r", line, sent_ns, a, ((b, line - 1),), (opp,))


def _bus_config(url: str) -> Any:
    """``[bus]`` for the benchmark's processes: ``replicas`` from ``ARBSCAN_BENCH_REPLICAS`` (3 with ``--nodes 3``)."""
    from arbscan.config.bus import BusConfig

    return BusConfig(url=url, replicas=int(os.environ.get("ARBSCAN_BENCH_REPLICAS", "1")))


class Cluster:
    """Three NATS nodes on 127.0.1.1-3 started by ``deploy/cluster.sh nats a|b|c`` (the documented layout)."""

    ADDRESSES = ("127.0.1.1", "127.0.1.2", "127.0.1.3")

    def __init__(self, store: Path) -> None:
        import shlex
        import socket

        from arbscan.bus.server import server_binary

        def free() -> int:
            while True:
                with socket.socket() as sock:
                    sock.bind((self.ADDRESSES[0], 0))
                    port = sock.getsockname()[1]
                try:
                    for a in self.ADDRESSES[1:]:
                        with socket.socket() as t:
                            t.bind((a, port))
                    return port
                except OSError:
                    continue

        self.script = Path(__file__).resolve().parent.parent / "deploy" / "cluster.sh"
        store.mkdir(parents=True, exist_ok=True)
        env_file = store / "cluster.env"
        values = {"ARBSCAN_NODES": " ".join(f"{h}={a}" for h, a in zip("abc", self.ADDRESSES)),
                  "NATS_PORT": free(), "NATS_CLUSTER_PORT": free(), "NATS_SERVER": server_binary(), "NATS_STORE": store}
        env_file.write_text("".join(f"{k}={shlex.quote(str(v))}\n" for k, v in values.items()))
        self.env = {**os.environ, "ARBSCAN_CLUSTER_ENV": str(env_file)}
        self.url = subprocess.run([str(self.script), "url"], env=self.env, capture_output=True, text=True,
                                  check=True).stdout.strip()
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Cluster:
        for host in "abc":
            self.procs.append(subprocess.Popen([str(self.script), "nats", host], env=self.env, start_new_session=True,
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        asyncio.run(self._ready())
        return self

    async def _ready(self, timeout: float = 30.0) -> None:
        """Until JetStream answers with a meta leader (the three nodes have formed a cluster)."""
        import nats

        async def quiet(exc: Exception) -> None:  # not formed yet: tried again below
            pass

        deadline = time.monotonic() + timeout
        while True:
            try:
                nc = await nats.connect(self.url.split(","), connect_timeout=1, max_reconnect_attempts=1,
                                        error_cb=quiet)
                try:
                    await nc.jetstream().account_info()
                    return
                finally:
                    await nc.close()
            except Exception:  # noqa: BLE001 - not formed yet
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    @property
    def pids(self) -> list[int]:
        """The three nats-server processes (the script execs the server)."""
        return [p.pid for p in self.procs]

    def __exit__(self, *exc: object) -> None:
        import signal

        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(p.pid, signal.SIGKILL)


# -- receivers (separate processes) -------------------------------------------------------------------


def _receive_bus(url: str, count: int, ready: Any, done: Any) -> None:
    """An executor process: BusExecutor's subscription and hop to its loop; records put-to-decoded latencies."""
    from arbscan.bus.codec import decode_pickle
    from arbscan.bus.connection import Bus
    from arbscan.bus.executor_proc import BusExecutor
    from arbscan.config.settings import Settings

    async def run() -> list[int]:
        settings = Settings(bus=_bus_config(url))
        bus = Bus(settings.bus, "bench-executor", lambda line: None).start()
        bus.wait_connected(10)
        ex = BusExecutor(bus, settings, [], lambda *a: [], lambda line: None)
        await ex.follow()
        ready.send(True)
        lat: list[int] = []
        first = last = 0.0
        while len(lat) < count:
            for _seq, data in await ex.next_messages(5.0):
                body = decode_pickle(data)
                now = time.monotonic_ns()
                if body["k"] != "events":
                    continue
                first = first or time.perf_counter()
                last = time.perf_counter()
                for msg in body["x"]:
                    lat.append(now - msg[2])
        bus.close()
        return lat + [int((last - first) * 1e9)]

    done.send(asyncio.run(run()))


def _receive_core(url: str, count: int, ready: Any, done: Any) -> None:
    """The same over core NATS (no stream): publish / subscribe."""
    import nats

    from arbscan.bus.codec import decode_pickle

    async def run() -> list[int]:
        nc = await nats.connect(url.split(","))
        got: list[int] = []
        finished = asyncio.Event()

        async def cb(msg: Any) -> None:
            body = decode_pickle(msg.data)
            now = time.monotonic_ns()
            for m in body["x"]:
                got.append(now - m[2])
            if len(got) >= count:
                finished.set()

        await nc.subscribe("bench.core", cb=cb)
        await nc.flush()
        ready.send(True)
        await asyncio.wait_for(finished.wait(), 120)
        await nc.close()
        return got

    done.send(asyncio.run(run()))


def _receive_pipe(conn: Any, count: int, ready: Any, done: Any) -> None:
    """The same over a local pipe (``--workers``): the parent's wait and ``recv``."""
    ready.send(True)
    got: list[int] = []
    while len(got) < count:
        if conn.poll(1.0):
            items = conn.recv()
            now = time.monotonic_ns()
            for m in items:
                got.append(now - m[2])
    done.send(got)


def _spawn(target: Any, *args: Any) -> tuple[Any, Any, Any]:
    ctx = multiprocessing.get_context("spawn")
    ready_r, ready_w = ctx.Pipe(duplex=False)
    done_r, done_w = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, args=(*args, ready_w, done_w), daemon=True)
    proc.start()
    if not ready_r.poll(60):
        raise RuntimeError("receiver did not start")
    ready_r.recv()
    return proc, done_r, ready_r


def _paced(put: Any, count: int, rate: float, busy: bool = False) -> None:
    """``count`` messages at ``rate``/s; ``busy``: the main thread spins between them (a shard busy scanning,
    holding the GIL the bus thread needs), else it sleeps (a shard with time to spare)."""
    gap = 1.0 / rate
    start = time.perf_counter()
    for i in range(count):
        due = start + i * gap
        if busy:
            while time.perf_counter() < due:
                pass
        else:
            left = due - time.perf_counter()
            if left > 0:
                time.sleep(left)
        put([route_message(i + 1, time.monotonic_ns())])


def _stats(lat_ns: list[int]) -> dict[str, float]:
    s = sorted(lat_ns)
    return {"n": len(s), "p50_us": percentile(s, 0.50) / 1000, "p99_us": percentile(s, 0.99) / 1000,
            "max_us": s[-1] / 1000 if s else float("nan")}


def route_latency(url: str, count: int, rate: float) -> dict[str, Any]:
    """One round: JetStream (the bus), core NATS and a local pipe, the same paced messages."""
    from arbscan.bus.connection import Bus
    from arbscan.bus.outbox import BusOutbox
    from arbscan.bus.subjects import routes_subject
    from arbscan.parallel.transport import pipe

    out: dict[str, Any] = {}
    bus = Bus(_bus_config(url), "bench-shard", lambda line: None).start()
    bus.wait_connected(10)
    variants = (("JetStream, shard idle", False, None), ("JetStream, shard busy", True, None),
                ("JetStream, shard busy, 5 ms GIL interval", True, 0.005))
    for name, busy, interval in variants:
        kept = sys.getswitchinterval()
        if interval is not None:
            sys.setswitchinterval(interval)  # CPython's default, as before Bus set 0.5 ms
        proc, done, _ = _spawn(_receive_bus, url, count)
        box = BusOutbox(bus, routes_subject(0), f"bench-{time.time_ns()}", "shard1", kind="routes", bound=10**9,
                        when_full="wait", header={"shard": 0, "of": 1})
        box.announce("start", {"mode": "scan"})  # the executor opens nothing for it (no strategies): a real first message
        _paced(box.put, count, rate, busy)
        out[name] = _stats(done.recv()[:-1])
        proc.join(10)
        box.close(10)
        sys.setswitchinterval(kept)

    proc, done, _ = _spawn(_receive_core, url, count)

    def core_put(items: list[Any]) -> None:
        from arbscan.bus.codec import encode_pickle

        data = encode_pickle({"x": items})
        bus.loop.call_soon_threadsafe(lambda: asyncio.ensure_future(bus.nc.publish("bench.core", data)))

    _paced(core_put, count, rate)
    out["core NATS, shard idle"] = _stats(done.recv())
    proc.join(10)

    inbox, outbox = pipe()
    proc, done, _ = _spawn(_receive_pipe, inbox.conn, count)
    inbox.close()
    _paced(outbox.put, count, rate)
    out["local pipe (--workers), shard idle"] = _stats(done.recv())
    proc.join(10)
    outbox.close()
    bus.close()
    return out


def route_flood(url: str, count: int, server_pids: list[int], per_message: int = 1) -> dict[str, Any]:
    """As many route messages (``per_message`` routes each) as the executor process takes: messages/s stored and
    decoded, the server's CPU per message."""
    from arbscan.bus.connection import Bus
    from arbscan.bus.outbox import BusOutbox
    from arbscan.bus.subjects import routes_subject

    bus = Bus(_bus_config(url), "bench-shard", lambda line: None).start()
    bus.wait_connected(10)
    proc, done, _ = _spawn(_receive_bus, url, count * per_message)
    box = BusOutbox(bus, routes_subject(0), f"flood-{time.time_ns()}", "shard1", kind="routes", bound=10**9,
                    when_full="wait", header={"shard": 0, "of": 1})
    cpu0 = sum(_cpu_seconds(pid) for pid in server_pids)
    started = time.perf_counter()
    for i in range(count):
        box.put([route_message(i * per_message + j + 1, time.monotonic_ns()) for j in range(per_message)])
    box.close()
    stored_s = time.perf_counter() - started
    got = done.recv()
    receive_s = got[-1] / 1e9
    cpu = sum(_cpu_seconds(pid) for pid in server_pids) - cpu0
    proc.join(10)
    bus.close()
    return {"messages": count, "stored_per_s": count / stored_s,
            "routes_decoded_per_s": (count - 1) * per_message / receive_s if receive_s else 0,
            "server_cpu_us_per_message": cpu * 1e6 / count}


def codec_cost(per_message: int, n: int = 1000) -> tuple[float, float]:
    """µs of CPU to write one route (the shard) and to read it (the executor's restricted unpickler), in a message
    of ``per_message`` routes, measured in this process."""
    from arbscan.bus.codec import decode_pickle, encode_pickle

    body = {"k": "events", "run": "r", "p": "shard1", "shard": 0, "of": 1,
            "x": [route_message(j + 1, 0) for j in range(per_message)]}
    started = time.process_time()
    for _ in range(n):
        data = encode_pickle(body)
    encode = (time.process_time() - started) * 1e6 / (n * per_message)
    started = time.process_time()
    for _ in range(n):
        decode_pickle(data)
    return encode, (time.process_time() - started) * 1e6 / (n * per_message)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- journal rows -------------------------------------------------------------------------------------


def _count(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return conn.execute("SELECT count(*) FROM opportunities").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def _consumer(url: str, db: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "arbscan.cli", "journal", "--bus", url, "--db", str(db)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _watch(db: Path, rows: int, timeout: float = 300.0) -> tuple[float, float]:
    """(perf_counter when the first rows were committed, when all were)."""
    first = None
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        n = _count(db)
        if n and first is None:
            first = time.perf_counter()
        if n >= rows:
            return first or time.perf_counter(), time.perf_counter()
        time.sleep(0.01)
    raise TimeoutError(f"only {_count(db)} of {rows} rows committed")


def journal_rows(url: str, rows: int, workdir: Path, tag: str) -> dict[str, Any]:
    """Stored by JetStream (one producer), committed by ``arbscan journal``, and both at once."""
    from arbscan.bus.connection import Bus
    from arbscan.bus.outbox import BusOutbox
    from arbscan.bus.subjects import JOURNAL_SUBJECT

    bus = Bus(_bus_config(url), "bench-shard", lambda line: None).start()
    bus.wait_connected(10)
    batches = [[("insert", "opportunities", [dict(ROW) for _ in range(200)], None)] for _ in range(rows // 200)]
    out: dict[str, Any] = {}

    box = BusOutbox(bus, JOURNAL_SUBJECT, f"stored-{tag}", "shard1", kind="journal", bound=10**9, when_full="wait")
    started = time.perf_counter()
    for work in batches:
        box.put(work)
    box.close()
    out["stored_rows_per_s"] = rows / (time.perf_counter() - started)

    db = workdir / f"j-{tag}.db"
    started = time.perf_counter()
    consumer = _consumer(url, db)
    try:
        first, last = _watch(db, rows)
        out["committed_rows_per_s"] = rows / (last - first) if last - first > 0.05 else float("nan")  # too short to tell
        out["consumer_start_s"] = first - started
    finally:
        consumer.terminate()
        consumer.wait(30)

    db = workdir / f"e-{tag}.db"
    consumer = _consumer(url, db)
    try:
        time.sleep(1.5)  # started and anchored
        box = BusOutbox(bus, JOURNAL_SUBJECT, f"e2e-{tag}", "shard1", kind="journal", bound=10**9, when_full="wait")
        started = time.perf_counter()
        for work in batches:
            box.put(work)
        _, last = _watch(db, rows)
        out["end_to_end_rows_per_s"] = rows / (last - started)
        box.close()
    finally:
        consumer.terminate()
        consumer.wait(30)
    bus.close()
    return out


# -- the projection -----------------------------------------------------------------------------------


def projection(flood1: dict[str, Any], flood20: dict[str, Any], encode_us: float, decode_us: float,
               journal: dict[str, Any]) -> dict[str, Any]:
    """20 venues x 1,000 symbols, 200,000 book updates/s (module docstring); constants from sections 1, 2 and 6."""
    updates = 200_000
    decide_us, build_us, adapter_us = 90.0, 11.8, 10.0  # section 2 (20 x 1,000: decide mean, build p50); section 1
    per_event_us = decide_us + build_us + adapter_us
    per_shard = 1e6 / per_event_us
    shards = -(-updates // int(per_shard))
    live_per_event = 120_029 / 220_000  # section 2's 20 x 1,000 file: live routes per book event
    episodes_per_event = 25_589 / 220_000
    stats_rows_per_s = (20 * 19 * 1000 + 20 * 1000) / 5.0  # every funnel and feed row, every 5 s, at most
    rows_per_s = updates * episodes_per_event + stats_rows_per_s
    routes_per_s = updates * live_per_event  # every live route, if the strategies accept every one
    shard_routes = per_shard * live_per_event
    with_routes_us = per_event_us + live_per_event * encode_us  # a shard that also writes every live route
    shards_routes = -(-updates // int(1e6 / with_routes_us))
    journal_msgs = rows_per_s / 50  # a scan shard's batches: 50 rows (arbscan.parallel.shard_scan.BATCH_ROWS)
    return {
        "updates_per_s": updates, "per_event_us": per_event_us, "events_per_shard_per_s": per_shard,
        "shards": shards, "per_event_us_with_routes": with_routes_us, "shards_with_routes": shards_routes,
        "journal_rows_per_s": rows_per_s, "routes_per_s": routes_per_s,
        "shard_routes_per_s": shard_routes, "routes_per_message_needed": shard_routes / flood1["stored_per_s"],
        "executor_routes_per_s_max": 1e6 / decode_us, "executor_routes_per_s_bus": flood20["routes_decoded_per_s"],
        "consumer_rows_per_s": journal["committed_rows_per_s"],
        "server_cpu_s_per_s_1": (routes_per_s + journal_msgs) * flood1["server_cpu_us_per_message"] / 1e6,
        "server_cpu_s_per_s_20": (routes_per_s / 20 + journal_msgs) * flood20["server_cpu_us_per_message"] / 1e6,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print the tables; return the results."""
    from arbscan.bus.server import NatsServer

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--routes", type=int, default=2000, help="paced route messages per transport per round")
    p.add_argument("--rate", type=float, default=500.0, help="route messages per second while pacing")
    p.add_argument("--flood", type=int, default=20000, help="route messages in the flood")
    p.add_argument("--rows", type=int, default=100_000, help="journal rows per measurement")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--workdir", default=None)
    p.add_argument("--json", default=None)
    p.add_argument("--nodes", type=int, choices=(1, 3), default=1,
                   help="3: a 3-node cluster (deploy/cluster.sh on 127.0.1.1-3), streams with replicas = 3")
    args = p.parse_args(argv)
    if args.nodes == 3:
        os.environ["ARBSCAN_BENCH_REPLICAS"] = "3"  # every process of the benchmark: streams with 3 copies
    info = machine()
    print(f"machine: {info['cpu']}, {info['nproc']} CPUs, Python {info['python']}, load {' '.join(info['loadavg'])}, "
          f"{info['utc']} UTC")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="arbscan-bench-bus-"))
    results: dict[str, Any] = {"latency": [], "flood": [], "flood20": [], "journal": [], "machine": info}
    for r in range(args.rounds):
        with (Cluster(work / f"store{r}") if args.nodes == 3 else NatsServer(work / f"store{r}")) as server:
            pids = server.pids if args.nodes == 3 else [server.proc.pid]
            results["latency"].append(route_latency(server.url, args.routes, args.rate))
            results["flood"].append(route_flood(server.url, args.flood, pids))
            results["flood20"].append(route_flood(server.url, args.flood // 20, pids, per_message=20))
            results["journal"].append(journal_rows(server.url, args.rows, work, str(r)))
    results["machine_after"] = machine()
    lat = {k: {q: spread([rnd[k][q] for rnd in results["latency"]]) for q in ("p50_us", "p99_us", "max_us")}
           for k in results["latency"][0]}
    print(f"\nroute to executor, {args.routes} messages at {args.rate:g}/s per round, µs, median (min-max) of "
          f"{args.rounds} rounds:")
    print("| transport | p50 µs | p99 µs | max µs |\n|---|---|---|---|")
    for k, v in lat.items():
        print(f"| {k} | {fmt_spread(v['p50_us'], 0)} | {fmt_spread(v['p99_us'], 0)} | {fmt_spread(v['max_us'], 0)} |")
    keys = ("stored_per_s", "routes_decoded_per_s", "server_cpu_us_per_message")
    flood = {k: spread([f[k] for f in results["flood"]]) for k in keys}
    flood20 = {k: spread([f[k] for f in results["flood20"]]) for k in keys}
    costs = {n: [codec_cost(n) for _ in range(args.rounds)] for n in (1, 20)}
    encode = {n: spread([c[0] for c in costs[n]]) for n in (1, 20)}
    decode = {n: spread([c[1] for c in costs[n]]) for n in (1, 20)}
    for name, f, n in (("1 route", flood, args.flood), ("20 routes", flood20, args.flood // 20)):
        print(f"\nflood of {n:,} messages of {name}: stored {fmt_spread(f['stored_per_s'])} messages/s by one shard's "
              f"outbox, {fmt_spread(f['routes_decoded_per_s'])} routes/s decoded by the executor, nats-server CPU "
              f"{fmt_spread(f['server_cpu_us_per_message'], 1)} µs per message")
    print(f"shard CPU to write a route with its books (pickle): {fmt_spread(encode[1], 1)} µs alone in its message, "
          f"{fmt_spread(encode[20], 1)} µs in a message of 20")
    print(f"executor CPU to read a route (restricted unpickler): {fmt_spread(decode[1], 1)} µs alone in its message, "
          f"{fmt_spread(decode[20], 1)} µs in a message of 20")
    journal = {k: spread([j[k] for j in results["journal"]]) for k in results["journal"][0]}
    print(f"\njournal, {args.rows:,} episode rows in batches of 200:")
    print("| measure | rows/s |\n|---|---|")
    print(f"| stored by JetStream, one producer | {fmt_spread(journal['stored_rows_per_s'])} |")
    print(f"| committed by arbscan journal (stream full) | {fmt_spread(journal['committed_rows_per_s'])} |")
    print(f"| end to end, producer and consumer at once | {fmt_spread(journal['end_to_end_rows_per_s'])} |")
    med = lambda d: {k: v["median"] for k, v in d.items()}  # noqa: E731
    proj = projection(med(flood), med(flood20), encode[20]["median"], decode[20]["median"], med(journal))
    results["projection"] = proj
    print(f"\nprojection, 20 venues x 1,000 symbols at {proj['updates_per_s']:,} updates/s: "
          f"{proj['per_event_us']:.0f} µs per event in a shard -> {proj['events_per_shard_per_s']:,.0f} events/s each -> "
          f"{proj['shards']} shards ({proj['per_event_us_with_routes']:.0f} µs and {proj['shards_with_routes']} shards when "
          f"they also write every live route for the executor); journal {proj['journal_rows_per_s']:,.0f} rows/s against "
          f"{proj['consumer_rows_per_s']:,.0f} committed; every live route: {proj['routes_per_s']:,.0f} routes/s "
          f"({proj['shard_routes_per_s']:,.0f} per shard: at least {proj['routes_per_message_needed']:.1f} per message) "
          f"against one executor's {proj['executor_routes_per_s_max']:,.0f} (decoding alone; "
          f"{proj['executor_routes_per_s_bus']:,.0f} measured over the bus); nats-server "
          f"{proj['server_cpu_s_per_s_1']:.1f} CPU s/s at 1 route per message, {proj['server_cpu_s_per_s_20']:.1f} at 20")
    print(f"machine after: load {' '.join(results['machine_after']['loadavg'])}")
    results["summary"] = {"latency": lat, "flood": flood, "flood20": flood20, "encode_us": encode, "decode_us": decode,
                          "journal": journal}
    save_results(args.json, "bus", results)
    return results


if __name__ == "__main__":
    main()
