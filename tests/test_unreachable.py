"""Both adapters say why a venue is unreachable (issue 13, item 8): DNS, refused, TLS, timeout, HTTP status.

Every cause is real and local: a name under the reserved ``.invalid`` TLD (RFC 6761; it fails at once
here, else a resolver stand-in refuses it), a loopback port nothing listens on, a loopback HTTP server
spoken to as ``https://`` / ``wss://``, a loopback server that accepts and never answers, and the same
HTTP server answering 503. The live driver prints ``f"{public class}: {message}"``; that is what is
checked, whole.
"""

from __future__ import annotations

import asyncio
import socket
import time
from decimal import Decimal
from pathlib import Path

import pytest
from aiohttp import web

from adapters.base import Credentials
from adapters.ccxt_adapter import CcxtAdapter
from adapters.kraken.adapter import KrakenAdapter
from adapters.kraken.rest import KrakenRestClient

BINANCE_MARKETS = (Path(__file__).resolve().parent / "data" / "ccxt" / "binance_exchangeinfo.json").read_text()
INVALID = "api.arbscan-test.invalid"
KEY, SECRET = "PLANTEDkeyUNREACHABLE0123", "UExBTlRFRHNlY3JldA=="  # base64, as Kraken's secrets are

pytestmark = pytest.mark.timeout(60)


def driver_line(exc: BaseException) -> str:
    """What the live driver prints for a failed attempt (``arbscan/scan/scanner.py``): public class and message."""
    kind = next(c.__name__ for c in type(exc).__mro__ if not c.__name__.startswith("_"))
    return f"{kind}: {exc}"


class FaultyVenue:
    """Loopback servers, one per cause; ``url(cause, scheme)`` is the origin that fails that way."""

    def __init__(self) -> None:
        self.writers: list[asyncio.StreamWriter] = []

    async def _http(self, request: web.Request) -> web.Response:
        if request.path == "/api/v3/exchangeInfo":  # Binance's markets, so ccxt.pro gets as far as its stream
            return web.Response(text=BINANCE_MARKETS, content_type="application/json")
        return web.Response(status=503, text="<html><body>down for maintenance</body></html>", content_type="text/html")

    async def _silent(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        await reader.read()  # accept, never answer, until the client gives up

    async def __aenter__(self) -> FaultyVenue:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._http)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.http_port = site._server.sockets[0].getsockname()[1]
        self.silent = await asyncio.start_server(self._silent, "127.0.0.1", 0)
        self.silent_port = self.silent.sockets[0].getsockname()[1]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.closed_port = s.getsockname()[1]  # nothing listens here once the socket is closed
        return self

    async def __aexit__(self, *exc) -> None:
        self.silent.close()
        for writer in self.writers:
            writer.close()
        await self.silent.wait_closed()
        await self.runner.cleanup()

    def url(self, cause: str, ws: bool = False) -> str:
        plain, secure = ("ws", "wss") if ws else ("http", "https")
        return {
            "dns": f"{plain}://{INVALID}",
            "refused": f"{plain}://127.0.0.1:{self.closed_port}",
            "tls": f"{secure}://127.0.0.1:{self.http_port}",
            "timeout": f"{plain}://127.0.0.1:{self.silent_port}",
            "status": f"{plain}://127.0.0.1:{self.http_port}",
        }[cause]


@pytest.fixture
async def venue(monkeypatch):
    started = time.monotonic()
    try:
        socket.getaddrinfo(INVALID, 443)
        offline_failure = False
    except socket.gaierror:
        offline_failure = time.monotonic() - started < 2.0
    if not offline_failure:  # a resolver that answers or hangs on .invalid: stand in for it
        real = socket.getaddrinfo

        def getaddrinfo(host, *args, **kwargs):
            if str(host).endswith(".invalid"):
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return real(host, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    async with FaultyVenue() as v:
        yield v


def expected(cause: str, v: FaultyVenue, path: str, timeout: str, ws: bool = False) -> str:
    host = INVALID if cause == "dns" else "127.0.0.1"
    return {
        "dns": f"ExchangeUnavailable: DNS lookup failed for {host}",
        "refused": f"ExchangeUnavailable: connection refused by 127.0.0.1:{v.closed_port}",
        "timeout": f"ExchangeUnavailable: timed out after {timeout} waiting for 127.0.0.1",
        "status": f"ExchangeUnavailable: HTTP 503 Service Unavailable from {v.url('status', ws)}{path}",
    }[cause]


CAUSES = ["dns", "refused", "tls", "timeout", "status"]


def check(line: str, cause: str, v: FaultyVenue, path: str, timeout: str, ws: bool = False) -> None:
    if cause == "tls":  # OpenSSL words the reason its own way ("wrong version number" here)
        assert line.startswith("ExchangeUnavailable: TLS handshake failed with 127.0.0.1: "), line
        assert len(line) > len("ExchangeUnavailable: TLS handshake failed with 127.0.0.1: ")
    else:
        assert line == expected(cause, v, path, timeout, ws)
    assert KEY not in line and SECRET not in line and "\n" not in line


@pytest.mark.parametrize("cause", CAUSES)
async def test_ccxt_rest(venue, cause):
    adapter = CcxtAdapter("bitstamp", rest_url=venue.url(cause), credentials=Credentials("bitstamp", KEY, SECRET),
                          taker_fee=Decimal("0.004"))
    adapter._exchange.timeout = 300  # ms: ccxt's own request timeout
    try:
        with pytest.raises(Exception) as info:
            await adapter.load_markets()
    finally:
        await adapter.close()
    check(driver_line(info.value), cause, venue, "/api/v2/markets/", "0.3 s")


@pytest.mark.parametrize("cause", CAUSES)
async def test_ccxt_websocket(venue, cause):
    async def no_wait(seconds):
        await asyncio.sleep(0)

    adapter = CcxtAdapter("binance", rest_url=venue.url("status"), ws_url=venue.url(cause, ws=True), credentials=None,
                          sleep=no_wait, options={"ws": {"connectionTimeout": 1000}})
    stream = adapter.watch_books(["NKN/USDT"])
    try:
        await adapter.load_markets()
        with pytest.raises(Exception) as info:
            await anext(stream)  # every symbol failed twice: the venue is reported down
    finally:
        await stream.aclose()
        await adapter.close()
    line = driver_line(info.value)
    if cause == "timeout":  # ccxt.pro says neither where nor how long: the wait is its connectionTimeout
        assert line == "ExchangeUnavailable: timed out after 1 s opening the WebSocket"
    else:
        check(line, cause, venue, "/ws/0", "1 s", ws=True)


@pytest.mark.parametrize("cause", CAUSES)
async def test_kraken_rest(venue, cause):
    rest = KrakenRestClient(venue.url(cause), Credentials("kraken", KEY, SECRET), tier=None, timeout_s=0.3, max_retries=0)
    adapter = KrakenAdapter(rest=rest, credentials=Credentials("kraken", KEY, SECRET))
    try:
        with pytest.raises(Exception) as info:
            await adapter.load_markets()
        check(driver_line(info.value), cause, venue, "/0/public/AssetPairs", "0.3 s")
        with pytest.raises(Exception) as info:
            await rest.balance_ex()  # a signed call: the key and signature stay out of the message too
        check(driver_line(info.value), cause, venue, "/0/private/BalanceEx", "0.3 s")
    finally:
        await adapter.close()


@pytest.mark.parametrize("cause", CAUSES)
async def test_kraken_websocket(venue, cause):
    sleeps = []

    async def no_wait(seconds):
        sleeps.append(seconds)
        await asyncio.sleep(0)

    adapter = KrakenAdapter(ws_url=venue.url(cause, ws=True), credentials=None, open_timeout_s=0.3, sleep=no_wait)
    stream = adapter.watch_books(["BTC/USD"])
    try:
        with pytest.raises(Exception) as info:
            await anext(stream)
    finally:
        await stream.aclose()
        await adapter.close()
    check(driver_line(info.value), cause, venue, "/v2", "0.3 s", ws=True)
    assert len(sleeps) == 1  # one reconnect of its own (logged), then the second failure is reported


async def test_kraken_websocket_url_that_is_not_one_is_a_config_error():
    from arbscan.errors import ConfigError

    adapter = KrakenAdapter(ws_url="http://127.0.0.1:9", credentials=None)
    stream = adapter.watch_books(["BTC/USD"])
    try:
        with pytest.raises(ConfigError, match="kraken ws_url: 'http://127.0.0.1:9/v2' is not a WebSocket URL"):
            await anext(stream)
    finally:
        await stream.aclose()
        await adapter.close()


def test_urls_in_messages_keep_host_and_path_only():
    from adapters.network import http_status, public_url

    assert public_url("https://user:pw@api.kraken.com:443/0/private/Balance?nonce=1&sig=abc#x") == (
        "https://api.kraken.com:443/0/private/Balance")
    assert http_status(599, "http://127.0.0.1:9/x?k=v") == "HTTP 599 from http://127.0.0.1:9/x"
    long_answer = "Service Unavailable " + "y" * 200
    assert http_status(503, "https://h/p", long_answer) == f"HTTP 503 Service Unavailable from https://h/p: {'y' * 120}..."
