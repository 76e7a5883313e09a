"""``arbscan.bus.outbox.BusOutbox`` against a stand-in for JetStream: ids, order, the bound, what may be dropped.

The stand-in (``FakeJetStream``) stores what is published, recognises a repeated ``Nats-Msg-Id`` as
JetStream does, and can be taken "down" (every publish fails, as with NATS unreachable). The real
server is exercised by ``tests/test_bus_cluster.py``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

import pytest

from arbscan.bus.codec import decode_json, decode_pickle, encode_pickle
from arbscan.bus.outbox import BusOutbox, _chunks
from arbscan.errors import UnexpectedPayload


class FakeJetStream:
    """Publishes into a list; a repeated message id is acknowledged as a duplicate and not stored."""

    def __init__(self) -> None:
        self.up = True
        self.stored: list[tuple[str, bytes]] = []
        self.ids: set[str] = set()

    async def publish(self, subject, data, timeout=None, headers=None):
        await asyncio.sleep(0)
        if not self.up:
            raise ConnectionError("NATS is down")
        msg_id = headers["Nats-Msg-Id"]
        if msg_id in self.ids:
            return SimpleNamespace(duplicate=True)
        self.ids.add(msg_id)
        self.stored.append((msg_id, data))
        return SimpleNamespace(duplicate=False)


class FakeBus:
    """What an outbox uses of ``arbscan.bus.connection.Bus``: a loop on a thread, ``js``, ``connected``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.js = FakeJetStream()
        self.connected = threading.Event()
        self.connected.set()
        self.role, self.url, self.lines = "test", "nats://127.0.0.1:1", []
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def say(self, line: str) -> None:
        self.lines.append(line)

    def call(self, coro, timeout=None):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def until_connected(self) -> None:
        while not self.connected.is_set():
            await asyncio.sleep(0.01)

    def down(self) -> None:
        self.js.up = False
        self.connected.clear()

    def back(self) -> None:
        self.js.up = True
        self.connected.set()

    def close(self) -> None:
        async def cancel() -> None:
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        self.call(cancel(), timeout=2)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(2)
        self.loop.close()


@pytest.fixture
def bus():
    b = FakeBus()
    yield b
    b.close()


def episode_rows(n: int, start: int = 0) -> list:
    return [["insert", "opportunities", [{"symbol": f"S{i}", "net_bps": "1"} for i in range(start, start + n)], None]]


def funnel_rows(n: int, tag: str = "") -> list:
    return [["upsert", "funnel", [{"symbol": f"S{i}", "live": tag} for i in range(n)], ["run_id", "symbol"]]]


def journal(bus, bound=1000, when_full="wait", producer="shard1") -> BusOutbox:
    return BusOutbox(bus, "arbscan.journal", "run-a", producer, kind="journal", bound=bound, when_full=when_full,
                     header={"shard": 0, "of": 2})


def bodies(bus) -> list[dict]:
    return [decode_json(data) for _, data in bus.js.stored]


def _until(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_batches_are_numbered_in_order_with_ids_a_repeat_is_recognised(bus):
    box = journal(bus)
    box.announce("start", {"mode": "replay"})
    box.put(episode_rows(3))
    box.put(episode_rows(2, start=3))
    assert box.close(timeout=5)
    assert [i for i, _ in bus.js.stored] == ["run-a.shard1.1", "run-a.shard1.2", "run-a.shard1.3"]
    got = bodies(bus)
    assert [b["k"] for b in got] == ["start", "rows", "rows"]
    assert [b["s"] for b in got] == [1, 2, 3] and {b["shard"] for b in got} == {0}
    again = journal(bus)  # the same producer started again (a replay shard re-reading its file)
    again.announce("start", {"mode": "replay"})
    again.put(episode_rows(3))
    again.put(episode_rows(2, start=3))
    again.put(episode_rows(1, start=5))
    assert again.close(timeout=5)
    assert again.stats.duplicates == 3 and len(bus.js.stored) == 4  # only batch 4 is new


def test_a_batch_is_split_by_row_count_the_same_way_every_time():
    work = [["insert", "opportunities", [{"i": i} for i in range(700)], None],
            ["upsert", "funnel", [{"i": i} for i in range(400)], ("run_id", "symbol")]]
    chunks = _chunks(work, 500)
    assert [sum(len(w[2]) for w in c) for c in chunks] == [500, 500, 100]
    assert chunks[1][0][1] == "opportunities" and chunks[1][1][1] == "funnel" and chunks[1][1][3] == ["run_id", "symbol"]
    assert _chunks(work, 500) == chunks


def test_while_nats_is_down_the_oldest_statistics_rows_go_first_and_episodes_stay(bus):
    box = journal(bus, bound=600, when_full="keep")
    bus.down()
    box.put(episode_rows(100))
    _until(lambda: box._in_flight is not None)  # taken by the sender: in flight, it can no longer be changed
    box.put(funnel_rows(200, "old"))
    box.put(funnel_rows(200, "new"))
    box.put(episode_rows(250, start=100))  # 750 > 600: the oldest statistics rows make room
    assert box.held == 550 and box.stats.dropped_rows == 200
    assert any("buffer_rows = 600 reached; dropped 200 funnel" in line for line in bus.lines)
    bus.back()
    assert box.close(timeout=5)
    got = bodies(bus)
    tags = [r["live"] for b in got for w in b["x"] if w[1] == "funnel" for r in w[2]]
    assert tags == ["new"] * 200  # the older write of the same routes was dropped, the newer kept
    symbols = [r["symbol"] for b in got for w in b["x"] if w[1] == "opportunities" for r in w[2]]
    assert symbols == [f"S{i}" for i in range(350)]  # every episode, in order
    assert [b["s"] for b in got] == [1, 2, 3, 4]  # an emptied batch is still sent: the numbers stay contiguous


def test_a_live_shard_keeps_episodes_beyond_the_bound_and_says_so(bus):
    box = journal(bus, bound=500, when_full="keep")
    bus.down()
    box.put(episode_rows(100))
    box.put(funnel_rows(100))
    box.put(episode_rows(450, start=100))  # dropping the statistics is not enough: 550 held
    assert box.held == 550 and box.stats.held_over_bound == 50 and box.stats.dropped_rows == 100
    bus.back()
    assert box.close(timeout=5)
    assert sum(len(w[2]) for b in bodies(bus) for w in b["x"]) == 550


def test_a_replay_waits_at_the_bound_and_never_exceeds_it(bus):
    box = journal(bus, bound=500, when_full="wait")
    bus.down()
    box.put(episode_rows(300))
    box.put(episode_rows(200, start=300))
    done = threading.Event()

    def more() -> None:
        box.put(episode_rows(100, start=500))
        done.set()

    threading.Thread(target=more, daemon=True).start()
    time.sleep(0.3)
    assert not done.is_set() and box.held == 500  # the producer waits for NATS
    bus.back()
    assert done.wait(5)
    assert box.close(timeout=5)
    assert box.stats.max_rows <= 500 and box.stats.held_over_bound == 0


def test_a_replay_drops_no_statistics_row_at_the_bound_it_waits(bus):
    box = journal(bus, bound=500, when_full="wait")
    bus.down()
    box.put(funnel_rows(200, "old"))
    box.put(funnel_rows(200, "new"))  # supersedes every row of the first batch: still not dropped
    done = threading.Event()

    def more() -> None:
        box.put(funnel_rows(200, "newest"))
        done.set()

    threading.Thread(target=more, daemon=True).start()
    time.sleep(0.3)
    assert not done.is_set() and box.held == 400 and box.stats.dropped_rows == 0
    assert not any("dropped" in line for line in bus.lines)
    bus.back()
    assert done.wait(5) and box.close(timeout=5)
    tags = [r["live"] for b in bodies(bus) for w in b["x"] if w[1] == "funnel" for r in w[2]]
    assert tags == ["old"] * 200 + ["new"] * 200 + ["newest"] * 200  # every write, in order


def test_a_live_shard_drops_its_oldest_routes_when_full(bus):
    box = BusOutbox(bus, "arbscan.routes", "run-a", "shard1@x", kind="routes", bound=3, when_full="drop",
                    header={"shard": 0, "of": 1})
    bus.down()
    box.put([("w", 0, 0.0, 0.0, 0)])
    _until(lambda: box._in_flight is not None)  # the sender has taken it: in flight, it is not dropped
    for i in range(1, 5):
        box.put([("w", i, float(i), 0.0, i)])
    assert box.held == 3 and box.stats.dropped_messages == 2
    bus.back()
    assert box.close(timeout=5)
    lines = [decode_pickle(data)["x"][0][1] for _, data in bus.js.stored]
    assert lines == [0, 3, 4]  # 0 was in flight when NATS went; 1 and 2 were the oldest waiting


def test_routes_messages_build_only_arbscan_values():
    import os
    import pickle

    from arbscan.model import BookSnapshot
    from decimal import Decimal

    book = BookSnapshot("x", "A/B", ((Decimal("1"), Decimal("2")),), ((Decimal("3"), Decimal("4")),), 1.0, 1.0)
    assert decode_pickle(encode_pickle({"x": [("b", 1, 1.0, book)]}))["x"][0][3] == book

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with pytest.raises(UnexpectedPayload, match="posix.system|os.system"):
        decode_pickle(pickle.dumps(Evil()))


def test_books_and_routes_travel_as_their_fields_and_come_back_equal_and_nothing_else_is_rebuilt_that_way():
    from decimal import Decimal

    from arbscan.bus.codec import _make
    from arbscan.model import BookSnapshot, Market

    book = BookSnapshot("x", "A/B", ((Decimal("1"), Decimal("2")),), ((Decimal("3"), Decimal("4")),), 1.0, 2.0)
    data = encode_pickle({"x": [("b", 7, 1.0, book)]})
    assert b"_make" in data and b"_reconstructor" not in data  # not the dict of slots pickle writes by default
    back = decode_pickle(data)["x"][0][3]
    assert back == book and type(back) is BookSnapshot and back.asks[0][1] == Decimal("4")
    market = Market("x", "A/B", "A", "B", Decimal("0.001"), Decimal("0.01"), Decimal("0.1"))
    assert decode_pickle(encode_pickle(market)) == market  # other values as before
    with pytest.raises(UnexpectedPayload, match="rebuilds 'Market'"):  # _make builds only books and routes
        _make(Market, ("x",) * 9)
