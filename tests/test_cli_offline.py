"""``arbscan scan`` with no network (venues pointed at a closed 127.0.0.1 port) as a real process:
one line per unreachable venue, retries, a clean stop on SIGINT within 5 s; and secrets planted in
the environment (API keys, alert destinations' URLs and bot token) never reach stdout, stderr, the
log file or the journal, while alerts about the unreachable venues are tried and given up."""

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
ALERT_SECRETS = {  # the secret parts: webhook URLs are these paths on the closed port, the bot token as is
    "ARBSCAN_ALERT_WEBHOOK": "/hooks/PLANTEDwebhookPATHsecret0123456789",
    "ARBSCAN_ALERT_SLACK": "/services/T0PLANTED/B0PLANTED/PLANTEDslackSECRETpart",
    "ARBSCAN_ALERT_DISCORD": "/api/webhooks/123/PLANTEDdiscordSECRETpart",
    "ARBSCAN_ALERT_TELEGRAM": "987654321:PLANTEDtelegramBOTtokenPart_xyz",
}
ALERTS = """
[[alerts]]
name = "hook"
kind = "webhook"
url_env = "ARBSCAN_ALERT_WEBHOOK"
{common}
[[alerts]]
name = "desk"
kind = "slack"
url_env = "ARBSCAN_ALERT_SLACK"
{common}
[[alerts]]
name = "chat"
kind = "discord"
url_env = "ARBSCAN_ALERT_DISCORD"
{common}
[[alerts]]
name = "phone"
kind = "telegram"
token_env = "ARBSCAN_ALERT_TELEGRAM"
chat_id = -1001234567890
api_url = "{origin}"
{common}
"""


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens here once the socket is closed


def env_with_secrets(alerts_origin: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(SECRETS)
    if alerts_origin is not None:
        env.update({k: v if k.endswith("TELEGRAM") else alerts_origin + v for k, v in ALERT_SECRETS.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def write_config(tmp: Path, venues: list[str], alerts_origin: str | None = None) -> Path:
    url = f"127.0.0.1:{closed_port()}"
    text = '[scanner]\nsymbols = ["BTC/USD"]\nstatus_interval_ms = 200\n'
    for v in venues:
        text += f'\n[[venues]]\nexchange = "{v}"\nrest_url = "http://{url}"\nws_url = "ws://{url}"\n'
    if alerts_origin is not None:  # alert the moment a venue fails; two quick attempts each
        text += ALERTS.format(origin=alerts_origin, common="unreachable_after_s = 0\nmax_attempts = 2\n"
                                                            "retry_backoff_s = 0.1\n")
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
    origin = f"http://127.0.0.1:{closed_port()}"
    cfg = write_config(tmp, ["bitstamp", "coinbase"], alerts_origin=origin)
    db, log = tmp / "scan.db", tmp / "scan.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "arbscan.cli", "scan", "--config", str(cfg), "--db", str(db), "--log-file", str(log), "-vv"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env_with_secrets(origin), cwd=tmp,
    )
    out, err = Reader(proc.stdout), Reader(proc.stderr)
    out.start()
    err.start()
    deadline = time.monotonic() + 30
    wanted = (b"arbscan: bitstamp unreachable", b"arbscan: coinbase unreachable",
              *(f"alert venue_unreachable to {name} given up".encode() for name in ("hook", "desk", "chat", "phone")))
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
    # no venue was ever reached: exit 1 and the run marked so (issue 28 item 11), still stopped cleanly
    assert offline_scan["rc"] == 1, offline_scan["err"]
    assert b"arbscan: nothing scanned (no venue sent a book)" in offline_scan["err"]
    assert offline_scan["stopped_in"] < 5
    assert b"scan stopped:" in offline_scan["out"]
    conn = sqlite3.connect(offline_scan["db"])
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert conn.execute("SELECT mode, status FROM runs").fetchone() == ("scan", "unreachable")


def journal_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def assert_no_secret(blobs: dict[str, bytes]) -> None:
    for name, value in {**SECRETS, **ALERT_SECRETS}.items():
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


def test_alerts_about_unreachable_venues_were_tried_and_journaled_by_name(offline_scan):
    conn = sqlite3.connect(offline_scan["db"])
    rows = conn.execute("SELECT DISTINCT destination, event, status, attempts, detail FROM alerts "
                        "WHERE status = 'failed' AND attempts = 2 ORDER BY destination").fetchall()
    assert {r[0] for r in rows} == {"chat", "desk", "hook", "phone"}
    assert all(r[1] == "venue_unreachable" and r[4].startswith("cannot connect (") for r in rows)


def test_planted_alert_secrets_never_reach_the_output_or_log_of_alert_test(tmp_path):
    origin = f"http://127.0.0.1:{closed_port()}"
    cfg = write_config(tmp_path, ["bitstamp"], alerts_origin=origin)
    log = tmp_path / "alert-test.log"
    proc = subprocess.run(
        [sys.executable, "-m", "arbscan.cli", "alert-test", "--config", str(cfg), "--log-file", str(log), "-vv"],
        capture_output=True, env=env_with_secrets(origin), cwd=tmp_path, timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout.count(b"FAILED after 2 attempts: cannot connect (") == 4, proc.stdout
    assert proc.stderr.endswith(b"arbscan: error: alert-test: 4 of 4 destinations failed: hook, desk, chat, phone\n")
    assert_no_secret({"stdout": proc.stdout, "stderr": proc.stderr, "log": log.read_bytes()})


def test_a_secret_written_into_the_config_is_refused_without_repeating_it(tmp_path):
    leaks = {
        "alerts[0].webhook_url: secrets are not read from the config file":
            f'kind = "slack"\nwebhook_url = "https://hooks.slack.com{ALERT_SECRETS["ARBSCAN_ALERT_SLACK"]}"',
        "alerts[0].token_env: must be the NAME of an environment variable":
            f'kind = "telegram"\nchat_id = 1\ntoken_env = "{ALERT_SECRETS["ARBSCAN_ALERT_TELEGRAM"]}"',
    }
    for message, table in leaks.items():
        cfg = tmp_path / "leaky.toml"
        cfg.write_text(f'[[alerts]]\nname = "x"\n{table}\n')
        proc = subprocess.run([sys.executable, "-m", "arbscan.cli", "alert-test", "--config", str(cfg)],
                              capture_output=True, env=env_with_secrets(), cwd=tmp_path, timeout=60)
        assert proc.returncode == 2
        assert proc.stderr.startswith(f"arbscan: error: {message}".encode()), proc.stderr
        assert_no_secret({"stdout": proc.stdout, "stderr": proc.stderr})


def test_planted_secrets_never_reach_output_log_or_journal_of_a_replay(tmp_path):
    db, log = tmp_path / "r.db", tmp_path / "r.log"
    proc = subprocess.run(
        [sys.executable, "-m", "arbscan.cli", "replay", "--db", str(db), "--log-file", str(log), "-vv", "--no-progress"],
        capture_output=True, env=env_with_secrets(), cwd=tmp_path, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert_no_secret({"stdout": proc.stdout, "stderr": proc.stderr, "log": log.read_bytes(), "journal": journal_bytes(db)})
