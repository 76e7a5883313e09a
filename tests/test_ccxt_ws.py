"""The ccxt.pro path over a loopback server replaying real Binance depth frames, and URL rewriting."""

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import pytest
from aiohttp import WSMsgType, web

from adapters.ccxt_adapter import CcxtAdapter, rewrite_urls


@pytest.fixture(autouse=True)
def no_keys_from_the_environment(monkeypatch):
    """Public adapters here: keys a developer has set in the environment or keyring must not leak in."""
    monkeypatch.setattr("adapters.ccxt.adapter.load_credentials", lambda exchange: None)


DATA = Path(__file__).resolve().parent / "data" / "ccxt"
EXCHANGE_INFO = (DATA / "binance_exchangeinfo.json").read_text()
SNAPSHOT = (DATA / "binance_nknusdt_depth_snapshot.json").read_text()
FRAMES = [json.loads(line)["frame"] for line in (DATA / "binance_nknusdt_depth_diffs.jsonl").read_text().splitlines()]


def _reference_book(depth: int):
    """Binance's documented diff-depth rule applied by hand: each level replaces, amount 0 deletes."""
    snap = json.loads(SNAPSHOT)
    last = snap["lastUpdateId"]
    sides = {"b": {Decimal(p): Decimal(q) for p, q in snap["bids"]}, "a": {Decimal(p): Decimal(q) for p, q in snap["asks"]}}
    for frame in FRAMES:
        data = json.loads(frame)["data"]
        if data["u"] <= last:
            continue
        for key in ("b", "a"):
            for p, q in data[key]:
                if Decimal(q) == 0:
                    sides[key].pop(Decimal(p), None)
                else:
                    sides[key][Decimal(p)] = Decimal(q)
    bids = tuple(sorted(sides["b"].items(), reverse=True)[:depth])
    asks = tuple(sorted(sides["a"].items())[:depth])
    return bids, asks


class Loopback:
    """Binance on 127.0.0.1: REST exchangeInfo and depth, and a WS that answers SUBSCRIBE and replays frames."""

    def __init__(self, drop_first_after: int | None = None):
        self.drop_first_after = drop_first_after  # close the first connection after this many frames
        self.connections = 0
        self.requests: list[str] = []
        self.subscriptions: list[dict] = []
        self.runner = None
        self.origin = ""

    async def rest(self, request):
        self.requests.append(str(request.rel_url))
        if request.path == "/api/v3/exchangeInfo":
            return web.Response(text=EXCHANGE_INFO, content_type="application/json")
        if request.path == "/api/v3/depth" and request.query.get("symbol") == "NKNUSDT":
            return web.Response(text=SNAPSHOT, content_type="application/json")
        return web.Response(status=404, text='{"code": -1121, "msg": "Invalid symbol."}', content_type="application/json")

    async def ws(self, request):
        self.requests.append("WS " + request.path)
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        self.connections += 1
        drop_after = self.drop_first_after if self.connections == 1 else None
        async for msg in sock:
            if msg.type != WSMsgType.TEXT:
                break
            sub = json.loads(msg.data)
            self.subscriptions.append(sub)
            await sock.send_str(json.dumps({"result": None, "id": sub["id"]}))
            await asyncio.sleep(0.05)  # let the client ask for its snapshot, as on the real venue
            for i, frame in enumerate(FRAMES):  # the real frames, byte for byte, a little paced
                if drop_after is not None and i == drop_after:
                    await sock.close()  # the venue drops the link mid-stream
                    return sock
                await sock.send_str(frame)
                await asyncio.sleep(0.005)
        return sock

    async def __aenter__(self):
        app = web.Application()
        app.router.add_route("GET", "/ws/{tail:.*}", self.ws)
        app.router.add_route("GET", "/api/{tail:.*}", self.rest)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.origin = f"127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc):
        await self.runner.cleanup()


async def test_ccxt_pro_books_from_replayed_binance_frames():
    last_event_ms = json.loads(FRAMES[-1])["data"]["E"]
    async with Loopback() as server:
        adapter = CcxtAdapter(
            "binance", rest_url=f"http://{server.origin}", ws_url=f"ws://{server.origin}", credentials=None, depth=10
        )
        assert adapter.uses_websocket
        books = []
        stream = adapter.watch_books(["NKN/USDT"])
        try:
            async with asyncio.timeout(20):
                async for book in stream:
                    books.append(book)
                    if book.ts * 1000 >= last_event_ms:
                        break
        finally:
            await stream.aclose()
            await adapter.close()
    assert server.subscriptions[0]["method"] == "SUBSCRIBE"
    assert server.subscriptions[0]["params"] == ["nknusdt@depth@100ms"]
    assert "/api/v3/depth?symbol=NKNUSDT&limit=1000" in server.requests
    assert len(books) >= 2
    # venue time from the frames' "E", receive time from our clock
    event_times = {json.loads(f)["data"]["E"] for f in FRAMES}
    assert all(round(b.ts * 1000) in event_times for b in books)
    assert all(b.received >= b.ts - 10**9 for b in books)
    bids, asks = _reference_book(10)
    assert (books[-1].bids, books[-1].asks) == (bids, asks)
    assert books[-1].best_bid < books[-1].best_ask


async def test_a_failing_symbol_is_retried_without_stopping_the_other():
    calls = {"NKN/USDT": 0, "BAD/ONE": 0}
    sleeps = []

    async def fake_sleep(seconds):
        sleeps.append(seconds)
        await asyncio.sleep(0)

    adapter = CcxtAdapter("binance", credentials=None, sleep=fake_sleep, backoff_initial_s=1.0, backoff_max_s=4.0)
    snap = json.loads(SNAPSHOT)

    async def watch_order_book(symbol, limit=None, params={}):
        import ccxt

        calls[symbol] += 1
        await asyncio.sleep(0)
        if symbol == "BAD/ONE":
            raise ccxt.NetworkError("binance connection reset")
        return {"bids": [[float(p), float(q)] for p, q in snap["bids"][:3]],
                "asks": [[float(p), float(q)] for p, q in snap["asks"][:3]], "timestamp": 1633998512068 + calls[symbol]}

    adapter._exchange.watch_order_book = watch_order_book
    got = []
    stream = adapter.watch_books(["BAD/ONE", "NKN/USDT"])
    try:
        async for book in stream:
            got.append(book)
            if len(got) == 20:
                break
    finally:
        await stream.aclose()
        await adapter.close()
    assert {b.symbol for b in got} == {"NKN/USDT"}
    assert calls["BAD/ONE"] >= 3
    assert sleeps[:3] == [1.0, 2.0, 4.0] and max(sleeps) == 4.0  # doubling backoff, capped


def test_rewrite_keeps_paths_for_every_binance_url():
    import ccxt.pro

    urls = ccxt.pro.binance().urls["api"]
    out = rewrite_urls(urls, "http://127.0.0.1:8080", "ws://127.0.0.1:9090")
    assert out["ws"]["spot"] == "ws://127.0.0.1:9090/ws"
    assert out["public"] == "http://127.0.0.1:8080/api/v3"
    assert out["fapiPublic"] == "http://127.0.0.1:8080/fapi/v1"

    def leaves(tree):
        if isinstance(tree, dict):
            for v in tree.values():
                yield from leaves(v)
        elif isinstance(tree, str):
            yield tree

    rewritten = list(leaves(out))
    assert rewritten and all(u.startswith(("http://127.0.0.1:8080/", "ws://127.0.0.1:9090/")) for u in rewritten)


def test_rewrite_reaches_the_urls_ccxt_builds():
    adapter = CcxtAdapter("bitstamp", rest_url="http://127.0.0.1:8080", ws_url="ws://127.0.0.1:9090", credentials=None)
    ex = adapter._exchange
    assert ex.urls["api"]["public"] == "http://127.0.0.1:8080/api"
    assert ex.urls["api"]["ws"] == "ws://127.0.0.1:9090"
    # the URL ccxt signs and sends for the order book keeps Bitstamp's path
    request = ex.sign("order_book/{pair}/", ["public"], "GET", {"pair": "ethusd"})
    assert request["url"] == "http://127.0.0.1:8080/api/v2/order_book/ethusd/"
    asyncio.run(adapter.close())


async def test_a_malformed_book_is_logged_and_skipped(caplog):
    adapter = CcxtAdapter("binance", credentials=None)
    books = iter([
        {"bids": [[0.36, 1.0]], "asks": [[0.35, 1.0]], "timestamp": 1},  # crossed: the venue sent nonsense
        {"bids": [[0.3521, 672.0]], "asks": [[0.3529, 10968.0]], "timestamp": 1633998512568},
    ])

    async def watch_order_book(symbol, limit=None, params={}):
        await asyncio.sleep(0)
        return next(books)

    adapter._exchange.watch_order_book = watch_order_book
    stream = adapter.watch_books(["NKN/USDT"])
    try:
        book = await anext(stream)
    finally:
        await stream.aclose()
        await adapter.close()
    assert (book.best_bid, book.best_ask, book.ts) == (Decimal("0.3521"), Decimal("0.3529"), 1633998512.568)
    assert "crossed" in caplog.text


async def test_dropped_stream_is_retried_with_backoff_and_resumes():
    last_event_ms = json.loads(FRAMES[-1])["data"]["E"]
    sleeps = []

    async def quick_sleep(seconds):  # the backoff is recorded, not waited for
        sleeps.append(seconds)
        await asyncio.sleep(0.01)

    async with Loopback(drop_first_after=40) as server:
        adapter = CcxtAdapter("binance", rest_url=f"http://{server.origin}", ws_url=f"ws://{server.origin}",
                              credentials=None, sleep=quick_sleep)
        books = []
        stream = adapter.watch_books(["NKN/USDT"])
        try:
            async with asyncio.timeout(30):
                async for book in stream:
                    books.append(book)
                    if book.ts * 1000 >= last_event_ms:
                        break
        finally:
            await stream.aclose()
            await adapter.close()
    assert server.connections == 2
    assert sleeps and sleeps[0] == 1.0  # first retry after the initial backoff
    assert server.requests.count("/api/v3/depth?symbol=NKNUSDT&limit=1000") == 2  # a fresh snapshot after reconnect
    bids, asks = _reference_book(10)
    assert (books[-1].bids, books[-1].asks) == (bids, asks)
