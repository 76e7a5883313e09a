"""Alerts in whole runs: ``replay --alerts`` on the hand-computed dry-run file, ``scan`` with a destination that
takes 10 s to answer (the scanner's event loop is not delayed), ``alert-test``, and the journal's summary."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
import time
from decimal import Decimal as D
from pathlib import Path
from types import SimpleNamespace

import pytest
from alert_server import AlertServer, Answer
from conftest import Flapping

from arbscan import app, parts
from arbscan.alerts import alerts_summary
from arbscan.cli.command import main
from arbscan.config import checks
from arbscan.config.settings import parse_settings

DRYRUN = Path(__file__).parent / "data" / "dryrun"
_CLI_LOGGERS = ("", "websockets", "asyncio", "ccxt", "urllib3", "aiohttp", "adapters")


@pytest.fixture(autouse=True)
def _cli_logging_undone():
    """``main()`` configures logging for the process; later tests (caplog on 'adapters') need it as it was."""
    loggers = [logging.getLogger(name) for name in _CLI_LOGGERS]
    saved = [(lg, lg.level, list(lg.handlers)) for lg in loggers]
    yield
    for lg, level, handlers in saved:
        lg.setLevel(level)
        lg.handlers[:] = handlers
HOOK = '\n[[alerts]]\nname = "ops"\nkind = "webhook"\nurl_env = "ARBSCAN_TEST_HOOK"\n'


def replay(tmp_path, *args, alerts=HOOK):
    cfg = tmp_path / "alerts.toml"
    cfg.write_text((DRYRUN / "strategies.toml").read_text() + alerts)
    db = tmp_path / "j.db"
    code = main(["replay", str(DRYRUN / "two_latencies.jsonl"), "--config", str(cfg), "--db", str(db), "--no-progress",
                 "--strategy", "slow", *args])
    return code, db


def test_replay_with_alerts_sends_episodes_and_paper_trades_on_the_files_clock(tmp_path, monkeypatch, capsys):
    # figures from the hand computation in tests/test_dryrun.py: segment A 0.44775 USD (44.62 bps), slow's
    # trade imbalanced 0.6 BTC with PnL 0.1791; segment B 0.199 USD (19.88 bps), slow's trade missed
    with AlertServer() as srv:
        monkeypatch.setenv("ARBSCAN_TEST_HOOK", srv.url + "/hook")
        code, db = replay(tmp_path, "--alerts")
    assert code == 0, capsys.readouterr().err
    docs = [s.json() for s in srv.seen]
    assert [(d["event"], d["ts"]) for d in docs] == [
        ("episode_opened", 100.0), ("trade_finished", 100.2), ("episode_closed", 103.0),
        ("episode_opened", 103.0), ("episode_closed", 103.05), ("trade_finished", 103.2)]
    a_open, imbalanced, _, b_open, _, missed = (d["data"] for d in docs)
    assert (D(a_open["net_profit"]), D(a_open["net_bps"]).quantize(D("0.01"))) == (D("0.44775"), D("44.62"))
    assert (D(b_open["net_profit"]), D(b_open["net_bps"]).quantize(D("0.01"))) == (D("0.199"), D("19.88"))
    assert (imbalanced["status"], D(imbalanced["realised_pnl"]), D(imbalanced["imbalance"])) == ("imbalanced", D("0.1791"), D("0.6"))
    assert (missed["status"], D(missed["realised_pnl"]), missed["mode"]) == ("missed", D(0), "paper")
    assert docs[1]["text"].startswith("arbscan: paper trade paper-1-slow-1 imbalanced: BTC/USD buy x sell y (slow)\n"
                                      "pnl 0.1791 USD (expected 0.44775), bought 1 sold 0.4 of 1 BTC, imbalance 0.6 BTC (kept)")
    conn = sqlite3.connect(db)
    assert alerts_summary(conn) == ["alerts: 6 sent, 0 retried, 0 failed, 0 dropped",
                                    "  ops: 6 sent, 0 retried, 0 failed, 0 dropped"]
    (settings,) = conn.execute("SELECT settings FROM runs").fetchone()
    assert json.loads(settings)["alerts"] == ["ops"] and "hook" not in settings
    capsys.readouterr()
    for command in (["report"], ["status"]):  # both show the counts
        assert main([*command, "--db", str(db)]) == 0
        assert "alerts: 6 sent, 0 retried, 0 failed, 0 dropped" in capsys.readouterr().out


def test_replay_without_the_flag_sends_nothing(tmp_path, monkeypatch):
    with AlertServer() as srv:
        monkeypatch.setenv("ARBSCAN_TEST_HOOK", srv.url + "/hook")
        code, db = replay(tmp_path)
        time.sleep(0.1)
    assert code == 0 and srv.seen == []
    assert alerts_summary(sqlite3.connect(db)) == []


def test_replay_alerts_without_destinations_is_bad_input(tmp_path, capsys):
    code, _ = replay(tmp_path, "--alerts", alerts="")
    assert code == 2
    assert capsys.readouterr().err == "arbscan: error: --alerts: no [[alerts]] destination is configured\n"


def test_a_missing_url_stops_a_scan_before_any_venue_is_touched(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("ARBSCAN_TEST_HOOK", raising=False)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[venues]]\nexchange = "bitstamp"\nrest_url = "http://127.0.0.1:9"\n' + HOOK)
    assert main(["scan", "--config", str(cfg), "--db", str(tmp_path / "j.db"), "--duration", "5"]) == 2
    assert capsys.readouterr().err == ("arbscan: error: alerts 'ops': environment variable ARBSCAN_TEST_HOOK is not "
                                       "set and there is no keyring entry arbscan-alerts/ops holding its URL\n")


def test_summary_counts_failures_and_drops_per_destination(store):
    rows = [("desk", "sent", 1, None), ("desk", "retried", 3, "HTTP 502 Bad Gateway"),
            ("phone", "failed", 4, "timed out after 10 s"), ("phone", "dropped", 0, "queue full (100)")]
    for i, (dest, status, attempts, detail) in enumerate(rows):
        store.submit("alerts", {"event": "halt_raised", "destination": dest, "status": status, "attempts": attempts,
                                "queued": 1714564800.0 + i, "finished": 1714564800.0 + i, "event_ts": 0.0,
                                "title": "t", "detail": detail})
    store.flush()
    assert alerts_summary(store.db) == [
        "alerts: 1 sent, 1 retried, 1 failed, 1 dropped",
        "  desk: 1 sent, 1 retried, 0 failed, 0 dropped",
        "  phone: 0 sent, 0 retried, 1 failed, 1 dropped",
        "  latest failures and drops (newest first, at most 5):",
        "    2024-05-01 12:00:03 UTC halt_raised to phone: dropped (queue full (100))",
        "    2024-05-01 12:00:02 UTC halt_raised to phone: failed after 4 attempts (timed out after 10 s)",
    ]
    assert alerts_summary(store.db, run_id=store.run_id + 1) == []


def test_alert_test_prints_each_outcome_and_exits_2_when_one_fails(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[alerts]]\nname = "desk"\nkind = "slack"\nurl_env = "DESK_URL"\n'
                   '[[alerts]]\nname = "phone"\nkind = "telegram"\ntoken_env = "TG_TOKEN"\nchat_id = 42\n'
                   'max_attempts = 2\nretry_backoff_s = 0.01\n')
    refusal = Answer(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    with AlertServer() as desk, AlertServer(default=refusal) as telegram:
        monkeypatch.setenv("DESK_URL", desk.url + "/services/T/B/X")
        monkeypatch.setenv("TG_TOKEN", "42:token")
        cfg.write_text(cfg.read_text().replace("chat_id = 42\n", f'chat_id = 42\napi_url = "{telegram.url}"\n'))
        assert main(["alert-test", "--config", str(cfg), "--to", "desk"]) == 0
        assert capsys.readouterr().out == "desk (slack): delivered after 1 attempt\n"
        assert main(["alert-test", "--config", str(cfg)]) == 2
        out = capsys.readouterr()
        assert main(["alert-test", "--config", str(cfg), "--to", "pager"]) == 2
        unknown = capsys.readouterr().err
    assert out.out == ("desk (slack): delivered after 1 attempt\n"
                       "phone (telegram): FAILED after 1 attempt: HTTP 401 Unauthorized: Unauthorized\n")
    assert out.err == "arbscan: error: alert-test: 1 of 2 destinations failed: phone\n"
    assert unknown == "arbscan: error: --to: no alert destination named 'pager' (known: desk, phone)\n"
    assert desk.seen[0].json()["text"].startswith("arbscan: test alert to 'desk' from ")
    assert [s.path for s in telegram.seen] == ["/bot42:token/sendMessage"]
    assert telegram.seen[0].json()["chat_id"] == 42


# -- the scanner's event loop with a destination that answers in 10 s ------------------------------

SYM = "BTC/USD"


async def scan_with_lag_probe(settings, seconds):
    """Run ``scan`` for ``seconds``; returns (the run, the largest loop lag seen, tasks left behind)."""
    lags = []
    stop = asyncio.Event()

    async def probe():
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            lags.append(now - last - 0.005)
            last = now

    probing = asyncio.create_task(probe())
    run = await app.run_live_command(settings, "scan", duration=seconds, strategies=[], live=False,
                                     validate_orders=False, out_path=None,
                                     status_view=lambda driver: SimpleNamespace(draw=lambda: None, close=lambda: None), on_unreachable=None)
    stop.set()
    await probing
    left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    return run, max(lags[len(lags) // 10:]), left


async def test_a_destination_answering_in_10_s_does_not_delay_the_scanners_event_loop(tmp_path, monkeypatch):
    venues = {"alpha": Flapping("alpha", [("99", "100")]),
              "beta": Flapping("beta", [("100.8", "101"), ("99.5", "101")])}  # alpha -> beta live every other book
    monkeypatch.setattr(parts, "build_adapters", lambda settings, validate_orders=False: venues)
    monkeypatch.setattr(checks, "exchange_known", lambda exchange: True)  # fake venues have made-up ids
    monkeypatch.setitem(parts.ALERT_OPTIONS, "close_grace_s", 0.3)
    raw = {"scanner": {"symbols": [SYM], "db": str(tmp_path / "plain.db")},
           "venues": [{"exchange": "alpha"}, {"exchange": "beta"}]}
    _, normal_lag, _ = await scan_with_lag_probe(parse_settings(raw), 1.0)  # the same scan without alerts

    raw["scanner"]["db"] = str(tmp_path / "alerts.db")
    raw["alerts"] = [{"name": "slow", "kind": "webhook", "url_env": "ARBSCAN_SLOW_HOOK", "timeout_s": 30, "queue_size": 20}]
    with AlertServer(default=Answer(delay=10.0)) as srv:
        monkeypatch.setenv("ARBSCAN_SLOW_HOOK", srv.url + "/slow")
        started = time.monotonic()
        run, lag, left = await scan_with_lag_probe(parse_settings(raw), 1.5)
        took = time.monotonic() - started
    assert run.scanner.episodes_closed > 50  # alerts were produced all along
    assert len(srv.seen) == 1  # the first one is still waiting for its answer when the scan stops
    print(f"largest loop lag: {lag * 1000:.1f} ms with alerts, {normal_lag * 1000:.1f} ms without")
    assert lag < max(0.1, 2 * normal_lag), (lag, normal_lag)
    assert took < 1.5 + 2.0  # the scan ends on time: a short grace for alerts, not the 10 s answer
    assert left == [] and not any(t.name == "arbscan-alerts" for t in threading.enumerate())
    rows = sqlite3.connect(tmp_path / "alerts.db").execute(
        "SELECT status, attempts, detail, COUNT(*) FROM alerts GROUP BY status, attempts, detail ORDER BY status").fetchall()
    assert sum(n for *_, n in rows) == 2 * run.scanner.episodes_closed  # every open and close is accounted for
    assert {(status, detail) for status, _, detail, _ in rows} == {
        ("failed", "cut off at shutdown"), ("dropped", "queue full (20)"), ("dropped", "not sent before shutdown")}
