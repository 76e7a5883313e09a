"""``arbscan scan`` with no network (venues pointed at a closed 127.0.0.1 port) as a real process:
one line per unreachable venue, retries, a clean stop on SIGINT within 5 s; and secrets planted in
the environment never reach stdout, stderr, the log file or the journal."""

from __future__ import annotations

import base64
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

SECRETS = {
    "KRAKEN_API_KEY": "PLANTEDkrakenKEY0123456789abcdefPLANTED",
    "KRAKEN_API_SECRET": base64.b64encode(b"PLANTED-kraken-secret-bytes-0123456789-abcdef").decode(),
    "BITSTAMP_API_KEY": "PLANTEDbitstampKEY987654321",
    "BITSTAMP_API_SECRET": "PLANTEDbitstampSECRETzyxwvu",
    "COINBASE_API_KEY": "PLANTEDcoinbaseKEY13579",
    "COINBASE_API_SECRET": base64.b64encode(b"PLANTED-coinbase-secret-2468").decode(),
    "COINBASE_API_PASSWORD": "PLANTEDcoinbasePASSPHRASE",
}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens here once the socket is closed


def env_with_secrets() -> dict[str, str]:
    env = dict(os.environ)
    env.update(SECRETS)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def write_config(tmp: Path, venues: list[str]) -> Path:
    url = f"127.0.0.1:{closed_port()}"
    text = '[scanner]\nsymbols = ["BTC/USD"]\nstatus_interval_ms = 200\n'
    for v in venues:
        text += f'\n[[venues]]\nexchange = "{v}"\nrest_url = "http://{url}"\nws_url = "ws://{url}"\n'
    cfg = tmp / "offline.toml"
    cfg.write_text(text)
    return cfg


class Reader(threading.Thread):
    """Collects a pipe's bytes as they arrive."""

    def __init__(self, pipe):
        super().__init__(daemon=True)
        self.pipe = pipe
        self.data = b""

    def run(self):
        for chunk in iter(lambda: self.pipe.read1(4096), b""):
            self.data += chunk


@pytest.fixture(scope="module")
def offline_scan(tmp_path_factory):
    """One scan process against unreachable ccxt venues, with keys planted, stopped by SIGINT."""
    tmp = tmp_path_factory.mktemp("offline")
    cfg = write_config(tmp, ["bitstamp", "coinbase"])
    db, log = tmp / "scan.db", tmp / "scan.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "arbscan.cli", "scan", "--config", str(cfg), "--db", str(db), "--log-file", str(log), "-vv"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env_with_secrets(), cwd=tmp,
    )
    out, err = Reader(proc.stdout), Reader(proc.stderr)
    out.start()
    err.start()
    deadline = time.monotonic() + 30
    wanted = (b"arbscan: bitstamp unreachable", b"arbscan: coinbase unreachable")
    while time.monotonic() < deadline and not all(w in err.data for w in wanted) and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    stopped_in = time.monotonic() - sent
    out.join(5)
    err.join(5)
    return {"rc": proc.returncode, "stopped_in": stopped_in, "out": out.data, "err": err.data, "db": db, "log": log}


def test_each_unreachable_venue_is_one_line_and_retried(offline_scan):
    lines = offline_scan["err"].decode().splitlines()
    for venue in ("bitstamp", "coinbase"):
        ours = [ln for ln in lines if ln.startswith(f"arbscan: {venue} unreachable (")]
        assert ours, offline_scan["err"]
        assert all(ln.endswith(" s") and "retrying in" in ln for ln in ours)
    assert b"Traceback" not in offline_scan["err"]


def test_sigint_stops_the_scan_cleanly_within_5_seconds(offline_scan):
    assert offline_scan["rc"] == 0, offline_scan["err"]
    assert offline_scan["stopped_in"] < 5
    assert b"scan stopped:" in offline_scan["out"]
    conn = sqlite3.connect(offline_scan["db"])
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert conn.execute("SELECT mode, status FROM runs").fetchone() == ("scan", "interrupted")


def journal_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def assert_no_secret(blobs: dict[str, bytes]) -> None:
    for name, value in SECRETS.items():
        needles = {value.encode(), value[:12].encode(), base64.b64encode(value.encode())}
        for where, blob in blobs.items():
            for needle in needles:
                assert needle not in blob, f"{name} leaked into {where}"


def test_planted_secrets_never_reach_output_log_or_journal_of_a_scan(offline_scan):
    assert offline_scan["log"].stat().st_size > 0  # -vv really logged something
    assert_no_secret({
        "stdout": offline_scan["out"],
        "stderr": offline_scan["err"],
        "log": offline_scan["log"].read_bytes(),
        "journal": journal_bytes(offline_scan["db"]),
    })


def test_planted_secrets_never_reach_output_log_or_journal_of_a_replay(tmp_path):
    db, log = tmp_path / "r.db", tmp_path / "r.log"
    proc = subprocess.run(
        [sys.executable, "-m", "arbscan.cli", "replay", "--db", str(db), "--log-file", str(log), "-vv", "--no-progress"],
        capture_output=True, env=env_with_secrets(), cwd=tmp_path, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert_no_secret({"stdout": proc.stdout, "stderr": proc.stderr, "log": log.read_bytes(), "journal": journal_bytes(db)})
