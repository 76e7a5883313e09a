"""``scan --workers 2 --web``: the parent serves the merged view of both shards (venues, books, open episodes
from their status reports; route funnels from the journal they write)."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request

import psutil
import pytest
from test_workers_scan import CONFIG, fake_adapters

from arbscan import parts
from arbscan.cli import command as cli
from arbscan.config import checks

pytestmark = pytest.mark.timeout(120)


def test_the_parent_of_two_shards_serves_every_shards_venues_routes_and_episodes(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(parts, "build_adapters", fake_adapters)
    monkeypatch.setattr(parts, "DRIVER_OPTIONS", {"stats_interval": 0.2})
    monkeypatch.setattr(checks, "exchange_known", lambda exchange: True)
    monkeypatch.delenv("ARBSCAN_WEB_TOKEN", raising=False)
    said: list[str] = []
    monkeypatch.setattr("arbscan.scan.view.say", said.append)
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    seen: dict = {}

    def look() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            url = next((m.group(1) for s in said if (m := re.search(r"web view at (\S+)", s))), None)
            if url:
                try:
                    st = json.loads(urllib.request.urlopen(url + "api/state", timeout=5).read())
                except OSError:
                    st = {}
                live = {(r["symbol"], r["buy"], r["sell"]) for r in st.get("routes", []) if r["live"]}
                if len(live) == 2 and len(st.get("episodes", {}).get("open", [])) == 2:
                    seen.update(st)
                    return
            time.sleep(0.2)

    watcher = threading.Thread(target=look, daemon=True)
    watcher.start()
    rc = cli.main(["scan", "--config", str(cfg), "--db", str(tmp_path / "scan.db"), "--no-status", "--workers", "2",
                   "--duration", "12", "--web", "127.0.0.1:0"])
    watcher.join(timeout=5)
    capsys.readouterr()
    assert rc == 0
    assert seen, "the merged view never showed both shards' live routes"
    assert seen["counts"]["shards"] == "2"
    assert {(r["symbol"], r["buy"], r["sell"]) for r in seen["routes"] if r["live"]} == {
        ("BTC/USD", "alpha", "beta"), ("ETH/USD", "alpha", "beta")}
    venues = {v["name"]: v for v in seen["venues"]}
    assert {n: v["state"] for n, v in venues.items()} == {"alpha": "up", "beta": "up"}
    assert sorted(b["symbol"] for b in venues["alpha"]["books"]) == ["BTC/USD", "ETH/USD"]
    assert [p.name() for p in psutil.Process().children(recursive=True) if p.name().startswith("arbscan-")] == []
