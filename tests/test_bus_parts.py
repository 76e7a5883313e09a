"""The bus's parts without a server: ``[bus]`` settings, credentials, run names, ``K/N``, the journal consumer's bookkeeping."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from arbscan.bus.codec import encode_json
from arbscan.config.bus import BusConfig, bus_credentials, parse_bus
from arbscan.bus.journal_consumer import JournalConsumer
from arbscan.bus.server import server_binary
from arbscan.bus.shard_proc import parse_shard, run_name
from arbscan.cli.command import main
from arbscan.config.settings import Settings, parse_settings
from arbscan.errors import ConfigError


def test_bus_settings_are_checked_and_a_url_with_a_password_is_refused_without_repeating_it():
    assert parse_bus({"url": "nats://10.0.0.1:4222, nats://10.0.0.2:4222", "replicas": 3}) == \
        BusConfig("nats://10.0.0.1:4222,nats://10.0.0.2:4222", 3)
    with pytest.raises(ConfigError) as err:
        parse_bus({"url": "nats://trader:s3cret@10.0.0.1:4222"})
    assert "s3cret" not in str(err.value) and "ARBSCAN_BUS_PASSWORD" in str(err.value)
    assert parse_settings({"bus": {"url": "tls://nats.example:4222"}}).bus.url == "tls://nats.example:4222"
    assert parse_settings({}).bus is None  # no [bus]: one host, as before


def test_bus_credentials_come_from_the_environment_in_pairs(monkeypatch):
    for name in ("ARBSCAN_BUS_USER", "ARBSCAN_BUS_PASSWORD", "ARBSCAN_BUS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert bus_credentials() == {}
    monkeypatch.setenv("ARBSCAN_BUS_TOKEN", "t0ken")
    assert bus_credentials() == {"token": "t0ken"}
    monkeypatch.setenv("ARBSCAN_BUS_USER", "arb")
    with pytest.raises(ConfigError, match="ARBSCAN_BUS_PASSWORD is not set"):
        bus_credentials()
    monkeypatch.setenv("ARBSCAN_BUS_PASSWORD", "pw")
    assert bus_credentials() == {"user": "arb", "password": "pw"}


def test_shard_k_of_n():
    assert parse_shard("1/2") == (0, 2) and parse_shard(" 3/3 ") == (2, 3)
    for bad in ("2", "0/2", "3/2", "a/b", "1/0", "-1/2"):
        with pytest.raises(ValueError):
            parse_shard(bad)


def test_a_runs_default_name_is_the_same_on_every_host_and_changes_with_what_makes_a_different_run(tmp_path):
    f = tmp_path / "day.jsonl"
    f.write_text('{"type": "market"}\n' * 10)
    copy = tmp_path / "elsewhere"
    copy.mkdir()
    (copy / "day.jsonl").write_bytes(f.read_bytes())
    s = Settings()
    name = run_name("replay", s, 2, f, 10)
    assert name.startswith("replay-day.jsonl-") and name.endswith("-n2")
    assert run_name("replay", s, 2, copy / "day.jsonl", 10) == name  # another host's copy of the file
    assert run_name("replay", s, 3, f, 10) != name and run_name("replay", s, 2, f, 5) != name
    assert run_name("scan", s, 2) == run_name("scan", s, 2) != run_name("scan", s, 4)


def test_the_server_binary_comes_with_the_cluster_extra():
    path = server_binary()
    assert path is not None and Path(path).name.startswith("nats-server")


def _msg(run: str, producer: str, seq: int, kind: str, x, **extra) -> bytes:
    return encode_json({"k": kind, "run": run, "p": producer, "s": seq, **extra, "x": x})


def _episode(symbol: str) -> list:
    return [["insert", "opportunities", [{"symbol": symbol, "buy_exchange": "a", "sell_exchange": "b",
                                          "first_seen": 1.0, "last_seen": 2.0, "observations": 1}], None]]


def test_the_journal_consumer_applies_each_batch_once_in_order_whatever_comes_twice(tmp_path):
    db = str(tmp_path / "j.db")
    c = JournalConsumer(db)
    start = _msg("r1", "shard1", 1, "start", {"mode": "replay", "source": "f.jsonl"}, shard=0, of=2)
    c.apply([(1, start), (2, _msg("r1", "shard1", 2, "rows", _episode("A/B"), shard=0, of=2))])
    c.apply([(2, _msg("r1", "shard1", 2, "rows", _episode("A/B"), shard=0, of=2)),  # a redelivery
             (3, _msg("r1", "shard1", 2, "rows", _episode("A/B"), shard=0, of=2)),  # a resend beyond the window
             (4, _msg("r1", "shard1", 3, "rows", _episode("C/D"), shard=0, of=2))])
    c.close()
    again = JournalConsumer(db)  # a restart reads its bookkeeping back
    assert again.cursor == 4 and again.last_seq == {"r1|shard1": 3}
    again.apply([(4, _msg("r1", "shard1", 3, "rows", _episode("C/D"), shard=0, of=2)),
                 (5, _msg("r1", "shard2", 1, "start", {"mode": "replay"}, shard=1, of=2)),
                 (6, _msg("r1", "shard1", 4, "end", {"status": "ok", "events": 10}, shard=0, of=2))])
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT symbol, run_id FROM opportunities ORDER BY rowid").fetchall() == [("A/B", 1), ("C/D", 1)]
    assert conn.execute("SELECT status, ended FROM runs").fetchone() == ("running", None)  # one shard of two ended
    again.apply([(7, _msg("r1", "shard2", 2, "end", {"status": "interrupted", "events": 5}, shard=1, of=2))])
    assert conn.execute("SELECT mode, source, status, events, pid FROM runs").fetchone() == \
        ("replay", "f.jsonl", "interrupted", 15, None)
    assert json.loads(conn.execute("SELECT settings FROM runs").fetchone()[0])["bus_run"] == "r1"
    assert c.repeats == 1 and again.repeats == 0  # a redelivery is known by its stream sequence, a resend by its number
    again.close()
    conn.close()


def test_a_scan_shard_started_again_reopens_its_run_and_rows_of_a_newer_producer_find_their_columns(tmp_path):
    db = str(tmp_path / "j.db")
    c = JournalConsumer(db)
    c.apply([(1, _msg("s", "shard1@h-1", 1, "start", {"mode": "scan"}, shard=0, of=1)),
             (2, _msg("s", "shard1@h-1", 2, "end", {"status": "ok", "events": 3}, shard=0, of=1))])
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT status FROM runs").fetchone() == ("ok",)
    c.apply([(3, _msg("s", "shard1@h-2", 1, "start", {"mode": "scan"}, shard=0, of=1)),
             (4, _msg("s", "shard1@h-2", 2, "rows", [["insert", "venue_stats", [
                 {"exchange": "a", "symbol": "A/B", "events": 1, "from_the_future": "x"}], None]], shard=0, of=1))])
    assert conn.execute("SELECT status, ended FROM runs").fetchone() == ("running", None)
    assert conn.execute("SELECT from_the_future, run_id FROM venue_stats").fetchall() == [("x", 1)]
    conn.close()
    c.close()


def test_status_without_a_bus_is_as_before(tmp_path, capsys):
    db = tmp_path / "j.db"
    JournalConsumer(str(db)).close()
    assert main(["status", "--db", str(db)]) == 0
    assert "shards on the bus" not in capsys.readouterr().out


def test_a_gone_scan_shards_episodes_close_stale_at_its_clock_and_are_withdrawn_if_it_sends_again(tmp_path):
    import sqlite3

    from arbscan.bus.codec import encode_json
    from arbscan.bus.journal_consumer import JournalConsumer

    db = tmp_path / "j.db"
    c = JournalConsumer(str(db))

    def msg(seq: int, kind: str, x) -> tuple[int, bytes]:
        return seq, encode_json({"k": kind, "run": "r", "p": "shard1@h", "s": seq, "shard": 0, "of": 1, "x": x})

    open_row = {"symbol": "A/B", "buy_exchange": "a", "sell_exchange": "b", "first_seen": 90.0, "last_seen": 99.0,
                "observations": 4, "closed_at": 100.0, "close_reason": "stale", "close_detail": "shard_died"}
    c.apply([msg(1, "start", {"mode": "scan"}), msg(2, "open", {"clock": 100.0, "work": [
        ["insert", "opportunities", [open_row], None]]})])
    received = c.open["r|shard1@h"].received
    assert c.close_gone({"shard1@h"}, now=received + 60) == []  # its heartbeat is there: alive
    assert c.close_gone(set(), now=received + 4.9) == []  # not 5 s since its report yet
    [(key, report, closed)] = c.close_gone(set(), now=received + 10.0)
    assert (key, closed, report.shard) == ("r|shard1@h", 1, 0)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT symbol, observations, closed_at, close_reason, close_detail, run_id FROM opportunities"
                        ).fetchall() == [("A/B", 4, 110.0, "stale", "shard_died", 1)]  # its clock 100 + 10 s since
    assert c.close_gone(set(), now=received + 20.0) == []  # once
    real = {**open_row, "last_seen": 104.0, "observations": 7, "closed_at": 104.0, "close_reason": "uncrossed",
            "close_detail": None}
    c.apply([msg(3, "rows", [["insert", "opportunities", [real], None]])])  # it was only cut off: it sends again
    assert conn.execute("SELECT observations, close_reason FROM opportunities").fetchall() == [(7, "uncrossed")]
    c.apply([msg(4, "end", {"status": "ok"})])
    assert conn.execute("SELECT count(*) FROM bus_open").fetchall() == [(0,)]
    conn.close()
    c.close()
