"""The web view's endpoints through aiohttp's test client: JSON shapes with hand-computed figures, the event
stream, refusals (token, host, method, too many clients, slow clients), security headers, planted secrets.

The figures of the live route are worked out in ``tests/web_helpers.py``; the journal's trading figures are
``tests/test_dryrun.py``'s hand computation of ``tests/data/dryrun/two_latencies.jsonl``.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from decimal import Decimal as D
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import book, market
from web_helpers import LIVE_FIGURES

from arbscan.cli.command import main
from arbscan.config.settings import parse_settings
from arbscan.config.web import WebConfig
from arbscan.errors import ConfigError
from arbscan.scan.feeds import LiveDriver, VenueState
from arbscan.scan.scanner import Scanner
from arbscan.web import web_listen
from arbscan.web.server import PAGES, Source, WebServer
from arbscan.web.state import ScanState

pytestmark = pytest.mark.timeout(60)
DRYRUN = Path(__file__).parent / "data" / "dryrun"


def live_scanner() -> Scanner:
    """x asks 100, y bids 101 (x -> y live, see LIVE_FIGURES); y -> x: y asks 102 against x's bid 99, not crossed."""
    s = Scanner({("x", "BTC/USD"): market("x", fee="0.001"), ("y", "BTC/USD"): market("y", fee="0.001")})
    s.on_book_event(book("x", 10.0, bids=[("99", "1")], asks=[("100", "1")]))
    s.on_book_event(book("y", 10.0, bids=[("101", "1")], asks=[("102", "1")]))
    return s


def server_for(source: Source, **config) -> WebServer:
    return WebServer(WebConfig(**config), source, listen="127.0.0.1:0")


async def client_of(server: WebServer) -> TestClient:
    client = TestClient(TestServer(server.app, host="127.0.0.1"))
    await client.start_server()
    return client


async def state_of(client: TestClient, **kw) -> dict:
    resp = await client.get("/api/state", **kw)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_routes_show_the_live_route_on_top_with_its_hand_computed_figures():
    scanner = live_scanner()
    state = ScanState(scanner)
    client = await client_of(server_for(Source("test", state.pages)))
    try:
        st = await state_of(client)
    finally:
        await client.close()
    top, other = st["routes"]
    assert (top["symbol"], top["buy"], top["sell"], top["live"]) == ("BTC/USD", "x", "y", True)
    assert {k: top[k] for k in LIVE_FIGURES} == LIVE_FIGURES
    assert (top["reason"], top["buy_age"], top["sell_age"]) == ("", "0.0 s", "0.0 s")
    # y -> x: buy at y's ask 102, sell at x's bid 99: 10000 * (99 - 102) / 102 = -294.1176... bps
    assert (other["buy"], other["live"], other["gross_bps"], other["reason"]) == ("y", False, "-294.12", "not crossed")
    assert other["amount"] == other["profit"] == ""
    assert st["episodes"]["open"][0]["route"] == "BTC/USD buy x sell y"
    assert st["venues"][0]["state"] == "replaying"


async def test_a_route_that_stops_being_live_says_why_and_its_episode_joins_the_timeline():
    scanner = live_scanner()
    state = ScanState(scanner)
    state.pages()
    # y's bid falls to 100.1: crossed by 10 bps before fees, eaten by the 0.2 % of fees
    scanner.on_book_event(book("y", 11.5, bids=[("100.1", "1")], asks=[("102", "1")]))
    st = state.pages()
    top = next(r for r in st["routes"] if r["buy"] == "x")
    assert (top["live"], top["reason"], top["gross_bps"]) == (False, "fees", "10.00")
    # top of book after fees: 10000 * (100.1 * 0.999 - 100.1) / 100.1 = -10.00 bps
    assert top["net_bps"] == "-10.00"
    (closed,) = st["episodes"]["recent"]
    assert (closed["route"], closed["duration"], closed["peak_bps"], closed["closed"]) == (
        "BTC/USD buy x sell y", "1.5 s", "79.82", "uncrossed (fees)")


async def test_venues_say_up_unreachable_connecting_with_counts_and_the_last_error_in_one_line():
    scanner = live_scanner()
    driver = LiveDriver(scanner, {}, ("BTC/USD",))
    driver.venues.update({
        "x": VenueState("x", reachable=True),
        "y": VenueState("y", reachable=False, failures=3, last_error="ConnectionRefusedError: refused\nsecond line",
                        checksum_failures=2, rate_limited=1),
        "z": VenueState("z"),
    })
    st = ScanState(scanner, driver).pages()
    rows = {v["name"]: v for v in st["venues"]}
    assert [rows[n]["state"] for n in "xyz"] == ["up", "unreachable", "connecting"]
    y = rows["y"]
    assert (y["reconnects"], y["checksum_failures"], y["last_error"], y["rate_limit"]) == (
        3, 2, "ConnectionRefusedError: refused", "limited 1 times")
    assert [b["symbol"] for b in rows["x"]["books"]] == ["BTC/USD"]


async def test_the_journal_view_shows_each_strategys_trades_outcomes_and_realised_pnl(tmp_path, capsys):
    db = tmp_path / "j.db"
    assert main(["replay", str(DRYRUN / "two_latencies.jsonl"), "--config", str(DRYRUN / "strategies.toml"),
                 "--db", str(db), "--no-progress", "--strategy", "fast", "--strategy", "slow"]) == 0
    capsys.readouterr()
    client = await client_of(server_for(Source("journal", None, db, None, journal_only=True)))
    try:
        await asyncio.sleep(0)  # the journal is read on a worker thread once a second
        for _ in range(50):
            st = await state_of(client)
            if st.get("trading"):
                break
            await asyncio.sleep(0.1)
    finally:
        await client.close()
    trading = {s["strategy"]: s for s in st["trading"]}
    fast, slow = trading["fast"], trading["slow"]
    # test_dryrun.py: fast 2 filled, PnL 0.64675; slow 1 imbalanced (+0.6 BTC) + 1 missed, PnL 0.1791
    assert (fast["trades"], fast["outcomes"], fast["realised"]) == (
        2, [{"status": "filled", "count": 2}], [{"quote": "USD", "pnl": "+0.65"}])
    assert slow["outcomes"] == [{"status": "missed", "count": 1}, {"status": "imbalanced", "count": 1}]
    assert (slow["realised"], slow["imbalances"]) == ([{"quote": "USD", "pnl": "+0.18"}], [{"asset": "BTC", "amount": "0.6"}])
    assert [p[1] for p in fast["pnl_series"]["USD"]] == [0.44775, 0.64675]
    assert {r["buy"] + r["sell"] for r in st["routes"]} == {"xy", "yx"}
    assert st["run"]["mode"] == "replay" and st["episodes"]["recent"]


async def test_the_event_stream_sends_a_snapshot_a_few_times_a_second_never_per_event():
    scanner = live_scanner()
    server = server_for(Source("test", ScanState(scanner).pages), snapshot_interval_ms=100)
    client = await client_of(server)
    try:
        resp = await client.get("/api/events")
        assert resp.headers["Content-Type"] == "text/event-stream"
        events = []
        t = 10.0
        loop = asyncio.get_running_loop()
        started = loop.time()
        while len(events) < 4:
            for _ in range(200):  # 200 book events between two reads: far more events than snapshots
                t += 0.001
                scanner.on_book_event(book("x", t, bids=[("99", "1")], asks=[("100", "1")]))
            line = await asyncio.wait_for(resp.content.readline(), 5)
            if line.startswith(b"data: "):
                events.append(json.loads(line[6:]))
        took = loop.time() - started
        resp.close()
    finally:
        await client.close()
    assert all(e["routes"][0]["live"] for e in events)
    assert scanner.events > 600
    assert server.stats.snapshots <= 2 + took / 0.1 + 1  # at most one per interval (the first is taken at once)


async def test_a_token_is_needed_for_every_page_and_endpoint_bearer_or_one_time_link_cookie():
    server = WebServer(WebConfig(), Source("test", ScanState(live_scanner()).pages), listen="127.0.0.1:0",
                       token="s3cret-token-for-test")
    server.url = "http://127.0.0.1/"
    client = await client_of(server)
    try:
        for path in ["/", "/venues", "/static/app.js", "/api/state", "/api/events"]:
            resp = await client.get(path)
            assert resp.status == 401, path
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await client.get("/api/state", headers={"Authorization": "Bearer wrong"})).status == 401
        assert (await client.get("/api/state", headers={"Authorization": "Bearer s3cret-token-for-test"})).status == 200
        link = server.login_url().replace("http://127.0.0.1", "")
        resp = await client.get(link, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == "/"
        cookie = resp.cookies["arbscan_web"]
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        assert (await client.get("/api/state")).status == 200  # the session cookie is sent from now on
        client.session.cookie_jar.clear()
        assert (await client.get(link, allow_redirects=False)).status == 401  # used once already
        assert (await client.get("/api/state")).status == 401
    finally:
        await client.close()


async def test_read_only_loopback_host_names_only_and_at_most_n_live_pages():
    server = server_for(Source("test", ScanState(live_scanner()).pages), max_clients=2)
    client = await client_of(server)
    try:
        assert (await client.post("/api/state")).status == 405
        assert (await client.get("/api/state", headers={"Host": "attacker.example:8765"})).status == 403
        first, second = await client.get("/api/events"), await client.get("/api/events")
        assert (first.status, second.status) == (200, 200)
        third = await client.get("/api/events")
        assert third.status == 503
        first.close()
        second.close()
    finally:
        await client.close()


async def test_a_client_too_slow_to_take_its_events_is_dropped():
    scanner = Scanner({(ex, f"S{i}/USD"): market(ex, f"S{i}/USD") for ex in "xy" for i in range(150)})
    for i in range(150):  # 300 routes: each snapshot is tens of kilobytes
        for ex in "xy":
            scanner.on_book_event(book(ex, 1.0, bids=[("99", "1")], asks=[("100", "1")], symbol=f"S{i}/USD"))
    server = server_for(Source("test", ScanState(scanner).pages), snapshot_interval_ms=50)
    client = await client_of(server)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_connect(sock, ("127.0.0.1", client.port))
        await loop.sock_sendall(sock, f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{client.port}\r\n\r\n".encode())
        for _ in range(200):  # never read: the stream backs up until the server gives up on it
            await asyncio.sleep(0.05)
            if server.stats.dropped:
                break
        assert server.stats.dropped == 1 and not server.clients
    finally:
        sock.close()
        await client.close()


async def test_every_response_has_the_security_headers_and_the_page_loads_only_its_own_files():
    client = await client_of(server_for(Source("test", ScanState(live_scanner()).pages)))
    try:
        for path in ["/", *[f"/{p}" for p in PAGES], "/static/app.js", "/static/app.css", "/api/state", "/nothing"]:
            resp = await client.get(path)
            csp = resp.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp, path
            assert resp.headers["X-Content-Type-Options"] == "nosniff" and resp.headers["X-Frame-Options"] == "DENY"
        html = await (await client.get("/trading")).text()
    finally:
        await client.close()
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/app.js" defer>']  # no inline script
    static = Path(__file__).resolve().parent.parent / "arbscan" / "web" / "static"
    for f in static.iterdir():
        text = f.read_text()
        urls = set(re.findall(r"(?:https?:)?//[\w.-]+", text)) - {"http://www.w3.org"}  # the SVG namespace name
        assert not urls, (f.name, urls)


async def test_no_page_or_endpoint_shows_a_planted_secret(tmp_path, monkeypatch):
    planted = {"KRAKEN_API_KEY": "PLANTEDkrakenKEY0123", "KRAKEN_API_SECRET": "UExBTlRFRHNlY3JldA==",
               "ARBSCAN_PLANTED_HOOK": "https://hooks.example.invalid/PLANTEDhook0123",
               "ARBSCAN_WEB_TOKEN": "PLANTEDwebTOKEN0123"}
    for k, v in planted.items():
        monkeypatch.setenv(k, v)
    scanner = live_scanner()
    driver = LiveDriver(scanner, {}, ("BTC/USD",))
    # an error that echoes a request with the key and the alert URL in it
    driver.venues["x"] = VenueState("x", reachable=False, failures=1,
                                    last_error=f"HTTPError: POST {planted['ARBSCAN_PLANTED_HOOK']}?key={planted['KRAKEN_API_KEY']}")
    server = WebServer(WebConfig(), Source("scan", ScanState(scanner, driver).pages), listen="127.0.0.1:0",
                       token=planted["ARBSCAN_WEB_TOKEN"])
    client = await client_of(server)
    auth = {"Authorization": f"Bearer {planted['ARBSCAN_WEB_TOKEN']}"}
    seen = []
    try:
        for path in ["/", *[f"/{p}" for p in PAGES], "/static/app.js", "/static/app.css", "/api/state"]:
            resp = await client.get(path, headers=auth)
            assert resp.status == 200
            seen.append(await resp.text() + json.dumps(dict(resp.headers)))
        resp = await client.get("/api/events", headers=auth)
        seen.append((await resp.content.readline()).decode())
        resp.close()
    finally:
        await client.close()
    everything = "\n".join(seen)
    assert "[redacted]" in everything  # the error line is shown, without what it hid
    for name, value in planted.items():
        assert value not in everything, name


def test_a_non_loopback_address_without_a_token_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ARBSCAN_WEB_TOKEN", raising=False)
    db = tmp_path / "never.db"
    code = main(["replay", str(DRYRUN / "two_latencies.jsonl"), "--config", str(DRYRUN / "strategies.toml"),
                 "--db", str(db), "--no-progress", "--web", "0.0.0.0:8765"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("arbscan: error: --web 0.0.0.0:8765: a non-loopback address needs "
                                                   "a token; set ARBSCAN_WEB_TOKEN")
    assert not db.exists()  # refused before the journal was touched
    code = main(["serve", "--db", str(db), "--listen", "192.0.2.1:80"])
    assert code == 2 and capsys.readouterr().err.count("\n") == 1


def test_serve_refuses_a_missing_journal_or_run_in_one_line(tmp_path, capsys):
    assert main(["serve", "--db", str(tmp_path / "none.db")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    db = tmp_path / "j.db"
    assert main(["replay", str(DRYRUN / "two_latencies.jsonl"), "--config", str(DRYRUN / "strategies.toml"),
                 "--db", str(db), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["serve", "--db", str(db), "--run", "99"]) == 2
    assert capsys.readouterr().err == f"arbscan: error: --run 99: the journal {str(db)!r} has no such run\n"


def test_the_web_settings_are_checked_and_the_token_never_comes_from_the_file():
    assert parse_settings({"web": {"enabled": True, "listen": "127.0.0.1:9000", "max_clients": 3}}).web == WebConfig(
        enabled=True, listen="127.0.0.1:9000", max_clients=3)
    for bad, words in [({"token": "x"}, "web.token: the token is a secret"), ({"listen": "nope"}, "web.listen: 'nope' is not HOST:PORT"),
                       ({"listen": "h:99999"}, "no port between"), ({"max_clients": 0}, "web.max_clients"),
                       ({"colour": 1}, "web.colour: unknown setting")]:
        with pytest.raises(ConfigError, match=re.escape(words)):
            parse_settings({"web": bad})
    assert web_listen(WebConfig(), None) is None and web_listen(WebConfig(enabled=True), None) == "127.0.0.1:8765"
    assert web_listen(WebConfig(), "") == "127.0.0.1:8765" and web_listen(WebConfig(), "127.0.0.2:1") == "127.0.0.2:1"


def test_amounts_of_the_live_route_are_decimal_text_to_the_markets_step():
    st = ScanState(live_scanner()).pages()
    assert D(st["routes"][0]["amount"]) == D(1) and st["routes"][0]["amount"] == "1.0000"
