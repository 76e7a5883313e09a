"""Three hosts on one machine for the cluster tests: network namespaces joined by a bridge, or loopback addresses.

:class:`Hosts` makes hosts ``a``, ``b`` and ``c``: three network namespaces, each with one interface
(``eth0``, 10.230.0.1-3/24) whose veth peer is on a bridge in a fourth namespace (the switch), so the
machine's own namespace gets no interface, address or route. A process is put on a host by prefixing its
command with ``ip netns exec NAME`` (:meth:`Hosts.on`); :meth:`Hosts.cut` takes a host's switch port down
(``ip link set ... down``: its packets go nowhere, as with a pulled cable) and :meth:`Hosts.heal` brings it up.

Names are unique per test (``arbscan-t<pid>-<random>-<host>``, the pid of the pytest process that made
them); :meth:`Hosts.close` kills every process left in them and deletes them, and :func:`sweep` removes the
namespaces of test processes that are gone (a run killed before its finalizers ran). Where namespaces are
refused (not root, no ``ip``, a container without CAP_SYS_ADMIN) or ``ARBSCAN_TEST_NETNS=0``, the hosts are
three loopback addresses (127.0.1.1-3) instead, ``mode`` says ``loopback``, ``refused`` says why, and
``cut`` raises: a test needing a partition must skip saying so.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time

__all__ = ["Hosts", "sweep", "PREFIX"]

PREFIX = "arbscan-t"
HOSTS = ("a", "b", "c")
SUBNET = "10.230.0"
_OURS = re.compile(rf"^{PREFIX}(\d+)-[0-9a-f]+-(?:switch|[abc])$")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=10)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _namespaces() -> list[str]:
    try:
        out = _ip("netns", "list", check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _remove(name: str) -> None:
    """Kill every process in namespace ``name`` (by pid) and delete it."""
    try:
        pids = _ip("netns", "pids", name, check=False).stdout.split()
    except (OSError, subprocess.SubprocessError):
        pids = []
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    for _ in range(50):
        if _ip("netns", "del", name, check=False).returncode == 0 or name not in _namespaces():
            return
        time.sleep(0.1)


def sweep() -> list[str]:
    """Delete the namespaces left by test processes that no longer run; returns their names."""
    gone = []
    for name in _namespaces():
        m = _OURS.match(name)
        if m and not _alive(int(m.group(1))):
            _remove(name)
            gone.append(name)
    return gone


def _free_on_all(addresses: list[str]) -> int:
    """A TCP port free on every one of ``addresses`` now."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind((addresses[0], 0))
            port = s.getsockname()[1]
        try:
            for a in addresses[1:]:
                with socket.socket() as t:
                    t.bind((a, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no port free on every loopback address")


class Hosts:
    """Hosts a, b, c (see the module docstring); ``close`` removes everything, also after a failure."""

    def __init__(self) -> None:
        self.tag = f"{PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
        self.ns = {h: f"{self.tag}-{h}" for h in HOSTS}
        self.switch = f"{self.tag}-switch"
        self.made: list[str] = []
        self.refused: str | None = None
        self.mode = "netns"
        self.ips = {h: f"{SUBNET}.{i + 1}" for i, h in enumerate(HOSTS)}
        self.ports = (4222, 6222)  # each namespace has its own ports
        sweep()
        if os.environ.get("ARBSCAN_TEST_NETNS", "1") == "0":
            self._loopback("ARBSCAN_TEST_NETNS=0")
            return
        try:
            self._make()
        except (OSError, subprocess.SubprocessError) as exc:
            detail = exc.stderr.strip() if isinstance(exc, subprocess.CalledProcessError) and exc.stderr else str(exc)
            self.close()
            self._loopback(f"network namespaces refused ({detail})")

    def _loopback(self, why: str) -> None:
        self.refused = why
        self.mode = "loopback"
        self.made = []
        self.ips = {h: f"127.0.1.{i + 1}" for i, h in enumerate(HOSTS)}
        addresses = list(self.ips.values())
        self.ports = (_free_on_all(addresses), _free_on_all(addresses))

    def _make(self) -> None:
        _ip("netns", "add", self.switch)
        self.made.append(self.switch)
        sw = ["netns", "exec", self.switch, "ip"]
        _ip(*sw, "link", "add", "br0", "type", "bridge")
        _ip(*sw, "link", "set", "br0", "up")
        for h in HOSTS:
            ns = self.ns[h]
            _ip("netns", "add", ns)
            self.made.append(ns)
            _ip(*sw, "link", "add", f"port-{h}", "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip(*sw, "link", "set", f"port-{h}", "master", "br0", "up")
            on = ["netns", "exec", ns, "ip"]
            _ip(*on, "link", "set", "lo", "up")
            _ip(*on, "addr", "add", f"{self.ips[h]}/24", "dev", "eth0")
            _ip(*on, "link", "set", "eth0", "up")
        for h in HOSTS[1:]:  # a reaches every other host: a refused connection is an answer from it
            if self.reaches("a", h) != "refused":
                raise OSError(f"host a does not reach host {h} over the bridge")

    def reaches(self, src: str, dst: str, timeout: float = 1.0) -> str:
        """What a TCP connection from ``src`` to a closed port of ``dst`` gets: 'refused' (reached) or 'timed out'."""
        code = ("import socket, sys\n"
                "try:\n"
                f"    socket.create_connection(({self.ips[dst]!r}, 9), timeout={timeout})\n"
                "except ConnectionRefusedError:\n    print('refused')\n"
                "except OSError as exc:\n    print('timed out' if isinstance(exc, TimeoutError) else type(exc).__name__)\n"
                "else:\n    print('open')\n")
        return self.run(src, [sys.executable, "-c", code]).stdout.strip()

    def on(self, host: str) -> list[str]:
        """The prefix that runs a command on ``host`` (empty on loopback)."""
        return ["ip", "netns", "exec", self.ns[host]] if self.mode == "netns" else []

    def cut(self, host: str) -> None:
        """Take ``host``'s switch port down: nothing reaches it and nothing leaves it."""
        if self.mode != "netns":
            raise RuntimeError(f"a link cannot be cut without network namespaces: {self.refused}")
        _ip("netns", "exec", self.switch, "ip", "link", "set", f"port-{host}", "down")

    def heal(self, host: str) -> None:
        """Bring ``host``'s switch port up again."""
        _ip("netns", "exec", self.switch, "ip", "link", "set", f"port-{host}", "up")

    def run(self, host: str, argv: list[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` on ``host`` to its end."""
        return subprocess.run([*self.on(host), *argv], capture_output=True, text=True, timeout=timeout)

    def describe(self) -> str:
        """One line: how the hosts are made."""
        if self.mode == "netns":
            return f"three network namespaces {', '.join(self.ns.values())} on a bridge in {self.switch}"
        return f"three loopback addresses {', '.join(self.ips.values())} ({self.refused})"

    def close(self) -> None:
        """Kill what runs in the namespaces and delete them (the switch last; its veth ends go with the hosts)."""
        for name in reversed(self.made):
            _remove(name)
        self.made = []


def shell(argv: list[str]) -> str:
    """``argv`` as one shell line (for messages)."""
    return " ".join(shlex.quote(a) for a in argv)
