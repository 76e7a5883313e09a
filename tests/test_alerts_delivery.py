"""Each destination kind against a loopback server: the exact requests, retries, timeouts, 429 and giving up.

Expected bodies are written out from the services' documented formats: Slack incoming webhooks take
``{"text": ...}``, Discord webhooks ``{"content": ...}`` (at most 2000 characters), Telegram's
``sendMessage`` ``{"chat_id", "text"}`` (at most 4096) at ``/bot<token>/sendMessage``; the generic
webhook gets arbscan's own document.
"""

from __future__ import annotations

import socket
import time

import aiohttp
import pytest
from alert_server import AlertServer, Answer

from arbscan import __version__
from arbscan.config.alerts import AlertConfig
from arbscan.alerts.delivery import Result, deliver, throttler_for
from arbscan.alerts.destinations import Destination, Secret
from arbscan.alerts.events import Alert

TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"  # the example token of Telegram's Bot API docs
HALT = Alert("halt_raised", 1714564800.5, "arbscan: LIVE TRADING HALTED: 3 consecutive failed trades",
             ("strategy main: no order is sent",),
             {"mode": "live", "strategy": "main", "reason": "3 consecutive failed trades", "earlier_run": False})
HALT_TEXT = "arbscan: LIVE TRADING HALTED: 3 consecutive failed trades\nstrategy main: no order is sent"


def destination(kind: str, server: AlertServer, path: str = "/hook/PLANTEDpath", **kw) -> Destination:
    kw.setdefault("retry_backoff_s", 0.05)
    if kind == "telegram":
        cfg = AlertConfig("phone", "telegram", token_env="T", chat_id="-1001234567890", api_url=server.url, **kw)
        return Destination(cfg, Secret(TOKEN))
    return Destination(AlertConfig(kind, kind, url_env="U", **kw), Secret(server.url + path))


async def send(dest: Destination, alert: Alert = HALT) -> Result:
    async with aiohttp.ClientSession() as session:
        return await deliver(session, dest, alert, throttler_for(dest))


@pytest.mark.parametrize("kind, path, body", [
    ("slack", "/services/T000/B000/XXXX", {"text": HALT_TEXT}),
    ("discord", "/api/webhooks/1/abc", {"content": HALT_TEXT, "allowed_mentions": {"parse": []}}),
    ("telegram", f"/bot{TOKEN}/sendMessage",
     {"chat_id": -1001234567890, "text": HALT_TEXT, "disable_web_page_preview": True}),
    ("webhook", "/arbscan", {
        "source": "arbscan", "event": "halt_raised", "ts": 1714564800.5, "time": "2024-05-01T12:00:00.500Z",
        "urgent": True, "title": "arbscan: LIVE TRADING HALTED: 3 consecutive failed trades", "text": HALT_TEXT,
        "data": {"mode": "live", "strategy": "main", "reason": "3 consecutive failed trades", "earlier_run": False}}),
])
async def test_each_kind_posts_its_documented_body_and_headers(kind, path, body):
    with AlertServer([Answer(200, {"ok": True} if kind == "telegram" else b"ok")]) as srv:
        result = await send(destination(kind, srv, path))
    assert result == Result("sent", 1, None)
    (seen,) = srv.seen
    assert seen.path == path
    assert seen.json() == body
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["User-Agent"] == f"arbscan/{__version__}"


async def test_long_messages_are_cut_to_each_service_limit():
    long = Alert("daily_summary", 0.0, "x" * 5000)
    with AlertServer() as srv:
        await send(destination("discord", srv), long)
        await send(destination("telegram", srv), long)
        await send(destination("slack", srv), long)
    discord, telegram, slack = (s.json() for s in srv.seen)
    assert (len(discord["content"]), len(telegram["text"]), len(slack["text"])) == (2000, 4096, 5000)


async def test_5xx_is_retried_with_doubling_backoff():
    with AlertServer([Answer(500), Answer(502)]) as srv:
        result = await send(destination("slack", srv))
    assert result == Result("retried", 3, "HTTP 502 Bad Gateway")
    first, second, third = srv.seen
    assert first.body == second.body == third.body
    assert second.at - first.at >= 0.05 and third.at - second.at >= 0.1


async def test_a_timeout_is_retried():
    with AlertServer([Answer(delay=2.0)]) as srv:
        started = time.monotonic()
        result = await send(destination("discord", srv, timeout_s=0.2))
    assert result == Result("retried", 2, "timed out after 0.2 s")
    assert time.monotonic() - started < 1.5


async def test_429_waits_the_retry_after_header():
    with AlertServer([Answer(429, headers={"Retry-After": "1"})]) as srv:
        result = await send(destination("webhook", srv, retry_backoff_s=0.01))
    assert result == Result("retried", 2, "HTTP 429 Too Many Requests")
    assert srv.seen[1].at - srv.seen[0].at >= 0.95  # the header's second, not the 0.01 s backoff


async def test_telegram_429_waits_the_retry_after_in_its_body():
    refusal = {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
               "parameters": {"retry_after": 1}}
    with AlertServer([Answer(429, refusal)], default=Answer(200, {"ok": True})) as srv:
        result = await send(destination("telegram", srv, retry_backoff_s=0.01))
    assert result == Result("retried", 2, "HTTP 429 Too Many Requests: Too Many Requests: retry after 1")
    assert srv.seen[1].at - srv.seen[0].at >= 0.95


async def test_a_retry_after_too_long_gives_up_at_once():
    with AlertServer([Answer(429, headers={"Retry-After": "3600"})]) as srv:
        result = await send(destination("slack", srv))
    assert result.status == "failed" and result.attempts == 1
    assert result.detail == "HTTP 429 Too Many Requests; Retry-After 3600 s is over 300 s"


async def test_it_gives_up_after_max_attempts():
    with AlertServer(default=Answer(503)) as srv:
        result = await send(destination("slack", srv, max_attempts=3))
    assert result == Result("failed", 3, "HTTP 503 Service Unavailable")
    assert len(srv.seen) == 3


async def test_a_refusal_is_not_retried_and_telegram_says_why():
    refusal = {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
    with AlertServer([Answer(400, refusal)]) as srv:
        result = await send(destination("telegram", srv))
    assert result == Result("failed", 1, "HTTP 400 Bad Request: Bad Request: chat not found")


async def test_an_unreachable_destination_is_retried_then_given_up_without_its_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = AlertConfig("hook", "webhook", url_env="U", max_attempts=2, retry_backoff_s=0.01)
    result = await send(Destination(cfg, Secret(f"http://127.0.0.1:{port}/PLANTED/secret/path")))
    assert result.status == "failed" and result.attempts == 2
    assert result.detail.startswith("cannot connect (") and "PLANTED" not in result.detail
