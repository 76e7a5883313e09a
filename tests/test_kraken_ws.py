"""KrakenWsClient against a loopback server that speaks Kraken v2 and replays the real BTC/USD capture.

The server (127.0.0.1, port 0) sends status, subscribe acks, an instrument snapshot and the book
frames of ``tests/data/kraken/orderbook-v2.json`` (real, with Kraken's checksums), and injects faults:
a malformed frame, an abrupt disconnect, a corrupted checksum, and silence. Snapshots the server
sends after a reconnect or resubscribe are the book at frame k with Kraken's checksum of frame k.
Expected book states come from replaying the capture through KrakenBook, whose every state is
confirmed by Kraken's own checksums (tests/test_kraken_book.py).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from adapters.kraken.adapter import KrakenAdapter
from adapters.kraken.book import KrakenBook
from adapters.kraken.ws import (
    DEFAULT_BACKOFF_INITIAL_S,
    DEFAULT_BACKOFF_MAX_S,
    DEFAULT_HEARTBEAT_TIMEOUT_S,
    DEFAULT_WS_URL,
    KrakenWsClient,
    backoff_delay,
)

DATA = Path(__file__).parent / "data" / "kraken"
V2 = json.loads((DATA / "orderbook-v2.json").read_text())
FRAMES = [V2["init"], *V2["updates"]]
RAW = [json.dumps(f, separators=(",", ":")) for f in FRAMES]
TS = {f["data"][0]["timestamp"]: i for i, f in enumerate(FRAMES) if "timestamp" in f["data"][0]}


def _reference_states():
    book = KrakenBook("BTC/USD", 10, 1, 8)
    states = []
    for frame in RAW:
        book.apply(frame)
        states.append(book.snapshot())
    return states


REF = _reference_states()
TS_SECONDS = {REF[i].ts: i for i in TS.values()}

STATUS = '{"channel":"status","type":"update","data":[{"version":"2.0.0","system":"online","api_version":"v2","connection_id":1}]}'
# Instrument data in Kraken's v2 shape; BTC/USD precisions as the capture was recorded (price 1, qty 8).
INSTRUMENT = json.dumps(
    {
        "channel": "instrument",
        "type": "snapshot",
        "data": {
            "assets": [],
            "pairs": [
                {"symbol": "BTC/USD", "base": "BTC", "quote": "USD", "status": "online", "qty_precision": 8,
                 "qty_increment": 0.00000001, "price_precision": 1, "price_increment": 0.1, "cost_precision": 5,
                 "cost_min": 0.5, "qty_min": 0.0001, "tick_size": 0.1},
                {"symbol": "ETH/USD", "base": "ETH", "quote": "USD", "status": "online", "qty_precision": 8,
                 "qty_increment": 0.00000001, "price_precision": 2, "price_increment": 0.01, "cost_precision": 5,
                 "cost_min": 0.5, "qty_min": 0.002, "tick_size": 0.01},
            ],
        },
    }
)


def snapshot_frame(k: int) -> str:
    """The book after frame k as a v2 snapshot carrying Kraken's checksum of frame k."""
    s = REF[k]
    side = lambda levels: ",".join(f'{{"price":{p},"qty":{q}}}' for p, q in levels)  # noqa: E731
    entry = FRAMES[k]["data"][0]
    return (
        '{"channel":"book","type":"snapshot","data":[{"symbol":"BTC/USD",'
        f'"bids":[{side(s.bids)}],"asks":[{side(s.asks)}],"checksum":{entry["checksum"]},'
        f'"timestamp":"{entry["timestamp"]}"}}]}}'
    )


def ack(method: str, channel: str) -> str:
    return json.dumps({"method": method, "result": {"channel": channel, "symbol": "BTC/USD", "depth": 10, "snapshot": True},
                       "success": True, "time_in": "2023-07-30T15:29:58.000000Z", "time_out": "2023-07-30T15:29:58.000100Z"})


class FakeKraken:
    """Loopback Kraken v2: one fault script per connection."""

    def __init__(self) -> None:
        self.connections = 0
        self.received: list[list[dict]] = []

    async def handler(self, ws) -> None:
        conn = self.connections
        self.connections += 1
        log: list[dict] = []
        self.received.append(log)

        async def expect(method: str, channel: str) -> dict:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
            log.append(msg)
            assert msg["method"] == method and msg["params"]["channel"] == channel, msg
            await ws.send(ack(method, channel))
            return msg

        await ws.send(STATUS)
        await expect("subscribe", "instrument")
        await ws.send(INSTRUMENT)
        sub = await expect("subscribe", "book")
        assert sub["params"]["symbol"] == ["BTC/USD"] and sub["params"]["depth"] == 10
        if conn == 0:
            for frame in RAW[0:101]:
                await ws.send(frame)
            await ws.send("{this is not json")
            await ws.send('{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":"abc","qty":1}],"asks":[],"checksum":5}]}')
            for frame in RAW[101:151]:
                await ws.send(frame)
            await asyncio.sleep(0.05)
            ws.transport.abort()  # abrupt disconnect: no close frame
        elif conn == 1:
            await ws.send(snapshot_frame(150))
            for frame in RAW[151:250]:
                await ws.send(frame)
            bad = json.loads(RAW[250])
            bad["data"][0]["checksum"] ^= 0x5A5A
            await ws.send(json.dumps(bad))
            for frame in RAW[251:255]:  # stale updates the client must not publish
                await ws.send(frame)
            await expect("unsubscribe", "book")
            await expect("subscribe", "book")
            await ws.send(snapshot_frame(255))
            for frame in RAW[256:351]:
                await ws.send(frame)
            await ws.wait_closed()  # silence until the client's watchdog gives up
        else:
            try:
                await ws.send(snapshot_frame(350))
                for frame in RAW[351:]:
                    await ws.send(frame)
                while True:
                    await ws.send('{"channel":"heartbeat"}')
                    await asyncio.sleep(0.1)
            except ConnectionClosed:
                pass


async def collect(client: KrakenWsClient, last_index: int) -> list:
    got = []
    gen = client.books(["BTC/USD"])
    try:
        async for snap in gen:
            got.append(snap)
            if TS_SECONDS.get(snap.ts) == last_index:
                break
    finally:
        await gen.aclose()
    return got


def test_defaults_are_krakens_and_the_issues():
    client = KrakenWsClient()
    assert client.url == DEFAULT_WS_URL == "wss://ws.kraken.com/v2"
    assert client.depth == 10
    assert DEFAULT_HEARTBEAT_TIMEOUT_S == client.heartbeat_timeout_s == 5.0
    assert (DEFAULT_BACKOFF_INITIAL_S, DEFAULT_BACKOFF_MAX_S) == (0.5, 60.0)
    assert KrakenWsClient("ws://127.0.0.1:9").url == "ws://127.0.0.1:9/v2"


def test_backoff_doubles_from_half_a_second_to_a_minute_with_jitter():
    top = [backoff_delay(a, 0.5, 60.0, rng=lambda: 1.0) for a in range(10)]
    assert top == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    assert backoff_delay(3, 0.5, 60.0, rng=lambda: 0.0) == 2.0  # jitter floor: half the step
    assert backoff_delay(1000, 0.5, 60.0, rng=lambda: 1.0) == 60.0


async def test_recovers_from_disconnect_corruption_malformed_frame_and_silence():
    server = FakeKraken()
    async with serve(server.handler, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        client = KrakenWsClient(
            f"ws://127.0.0.1:{port}", heartbeat_timeout_s=0.4, backoff_initial_s=0.01, backoff_max_s=0.05
        )
        got = await asyncio.wait_for(collect(client, 509), 30)

    indices = [TS_SECONDS.get(s.ts, 0) for s in got]
    # Published: frames 0-150; after the reconnect the snapshot at 150 then 151-249; nothing from the
    # corrupted frame 250 or the stale 251-254; the fresh snapshot at 255, 256-350; after the silence
    # the snapshot at 350, then 351-509.
    expected = list(range(0, 151)) + list(range(150, 250)) + list(range(255, 351)) + list(range(350, 510))
    assert indices == expected
    for snap, k in zip(got, indices):
        assert snap.bids == REF[k].bids and snap.asks == REF[k].asks, k
    assert got[-1].bids[0] == REF[509].bids[0] and got[-1].asks[0] == REF[509].asks[0]
    assert server.connections == 3 == client.connections
    assert client.resubscribes == 1
    conn1 = [(m["method"], m["params"]["channel"]) for m in server.received[1]]
    assert conn1 == [("subscribe", "instrument"), ("subscribe", "book"), ("unsubscribe", "book"), ("subscribe", "book")]


async def test_adapter_watch_books_uses_the_ws_url_override():
    server = FakeKraken()
    server.connections = 2  # the clean script: snapshot then the rest of the capture
    async with serve(server.handler, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        adapter = KrakenAdapter(ws_url=f"ws://127.0.0.1:{port}", credentials=None, heartbeat_timeout_s=1.0)
        got = []
        gen = adapter.watch_books(["BTC/USD"])
        async for snap in gen:
            got.append(snap)
            if TS_SECONDS.get(snap.ts) == 509:
                break
        await gen.aclose()
        await adapter.close()
    assert len(got) == 160 and got[-1].bids == REF[509].bids


@pytest.mark.parametrize("symbols", [["NOPE/USD", "BTC/USD"]])
async def test_unknown_symbols_are_logged_and_the_rest_is_watched(symbols, caplog):
    server = FakeKraken()
    server.connections = 2
    async with serve(server.handler, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        client = KrakenWsClient(f"ws://127.0.0.1:{port}", heartbeat_timeout_s=1.0, close_timeout_s=0.1)
        gen = client.books(symbols)
        first = await asyncio.wait_for(gen.__anext__(), 10)
        await gen.aclose()
    assert first.bids == REF[350].bids
    assert "NOPE/USD" in caplog.text


async def test_backoff_grows_on_failures_and_resets_after_a_good_subscribe():
    class Flaky(FakeKraken):
        async def handler(self, ws) -> None:
            n = self.connections
            if n < 2:
                self.connections += 1
                ws.transport.abort()  # refuse to talk: no subscribe possible
                return
            if n == 2:
                self.connections += 1
                await ws.send(STATUS)
                await ws.recv()
                await ws.send(INSTRUMENT)
                await ws.recv()
                await ws.send(ack("subscribe", "book"))
                ws.transport.abort()  # good subscribe, then a drop
                return
            self.connections = 2  # the clean script
            await FakeKraken.handler(self, ws)

    delays = []

    async def sleep(d):
        delays.append(d)
        await asyncio.sleep(0)

    server = Flaky()
    async with serve(server.handler, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        client = KrakenWsClient(f"ws://127.0.0.1:{port}", heartbeat_timeout_s=1.0, backoff_initial_s=0.5,
                                backoff_max_s=60.0, rng=lambda: 1.0, sleep=sleep, close_timeout_s=0.1)
        gen = client.books(["BTC/USD"])
        first = await asyncio.wait_for(gen.__anext__(), 10)
        await gen.aclose()
    assert first.bids == REF[350].bids
    assert delays == [0.5, 1.0, 0.5]  # two failures double it; the good subscribe resets it


def _load_jsonl(name: str):
    headers, frames = {}, []
    with open(DATA / name) as fh:
        for line in fh:
            obj = json.loads(line)
            if "frame" in obj:
                frames.append(obj["frame"])
            else:
                headers[obj["symbol"]] = obj
    return headers, frames


async def test_ten_pairs_at_depth_1000_take_their_precision_from_the_instrument_channel():
    headers, frames = _load_jsonl("book1000_10pairs_2021-04-17.jsonl")
    instrument = json.dumps({"channel": "instrument", "type": "snapshot", "data": {"assets": [], "pairs": [
        {"symbol": s, "price_precision": h["price_precision"], "qty_precision": h["qty_precision"], "status": "online"}
        for s, h in headers.items()]}})
    subscribed = []

    async def handler(ws):
        await ws.send(STATUS)
        await ws.recv()
        await ws.send(instrument)
        subscribed.append(json.loads(await ws.recv()))
        for frame in frames:
            await ws.send(frame)
        try:
            while True:
                await ws.send('{"channel":"heartbeat"}')
                await asyncio.sleep(0.1)
        except ConnectionClosed:
            pass

    reference = {s: KrakenBook(s, 1000, h["price_precision"], h["qty_precision"]) for s, h in headers.items()}
    for frame in frames:
        reference[json.loads(frame)["data"][0]["symbol"]].apply(frame)

    async with serve(handler, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        client = KrakenWsClient(f"ws://127.0.0.1:{port}", depth=1000, heartbeat_timeout_s=2.0)
        last = {}
        count = 0
        gen = client.books(list(headers))
        async for snap in gen:
            count += 1
            last[snap.symbol] = snap
            if count == len(frames):
                break
        await gen.aclose()

    assert subscribed[0]["params"]["depth"] == 1000 and sorted(subscribed[0]["params"]["symbol"]) == sorted(headers)
    assert client.resubscribes == 0 and count == 4279
    for symbol, book in reference.items():
        assert last[symbol].bids == book.snapshot().bids and last[symbol].asks == book.snapshot().asks, symbol


async def test_a_resubscribe_that_never_brings_a_snapshot_forces_a_reconnect():
    class NoResync(FakeKraken):
        async def handler(self, ws) -> None:
            if self.connections == 0:
                self.connections += 1
                await ws.send(STATUS)
                await ws.recv()
                await ws.send(INSTRUMENT)
                await ws.recv()
                await ws.send(ack("subscribe", "book"))
                await ws.send(RAW[0])
                bad = json.loads(RAW[1])
                bad["data"][0]["checksum"] ^= 1
                await ws.send(json.dumps(bad))
                await ws.recv()  # unsubscribe
                await ws.recv()  # subscribe: acknowledged, but no snapshot ever comes
                await ws.send(ack("subscribe", "book"))
                try:
                    while True:
                        await ws.send('{"channel":"heartbeat"}')
                        await asyncio.sleep(0.05)
                except ConnectionClosed:
                    return
            self.connections = 2
            await FakeKraken.handler(self, ws)

    server = NoResync()
    async with serve(server.handler, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        client = KrakenWsClient(f"ws://127.0.0.1:{port}", heartbeat_timeout_s=1.0, resync_timeout_s=0.3,
                                backoff_initial_s=0.01, close_timeout_s=0.1)
        gen = client.books(["BTC/USD"])
        first = await asyncio.wait_for(gen.__anext__(), 10)
        second = await asyncio.wait_for(gen.__anext__(), 10)
        await gen.aclose()
    assert first.bids == REF[0].bids  # the snapshot before the corruption
    assert second.bids == REF[350].bids  # nothing in between: the next book is the new connection's
    assert client.connections == 2 and client.resubscribes == 1
