"""REST polling: one throttler per venue, shared round-robin, measured against a fake clock (never wall time)."""

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from adapters.ccxt_adapter import CcxtAdapter, PacedThrottler


@pytest.fixture(autouse=True)
def no_keys_from_the_environment(monkeypatch):
    """Public adapters here: keys a developer has set in the environment or keyring must not leak in."""
    monkeypatch.setattr("adapters.ccxt.adapter.load_credentials", lambda exchange: None)


CASSETTE = Path(__file__).resolve().parents[1] / "cassettes" / "test_ccxt_bitstamp" / "markets_and_book.yaml"
# the real Bitstamp ETH/USD book (cryptofeed BITSTAMP.http.0.0), as the cassette holds it
_RAW = json.loads(yaml.safe_load(CASSETTE.read_text())["interactions"][1]["response"]["body"]["string"])
BOOK = {"bids": _RAW["bids"][:5], "asks": _RAW["asks"][:5], "timestamp": int(_RAW["microtimestamp"]) // 1000}


class FakeClock:
    """Time that moves only when someone sleeps."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    async def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


def _polling_adapter(clock, interval_ms=500, **kw):
    return CcxtAdapter("bitstamp", credentials=None, use_websocket=False, poll_interval_ms=interval_ms,
                       clock=clock, wallclock=clock, sleep=clock.sleep, **kw)


async def _collect(adapter, symbols, n):
    out = []
    stream = adapter.watch_books(symbols)
    try:
        async for book in stream:
            out.append(book)
            if len(out) == n:
                break
    finally:
        await stream.aclose()
        await adapter.close()
    return out


async def test_requests_are_spaced_by_the_interval_and_shared_round_robin():
    clock = FakeClock()
    adapter = _polling_adapter(clock)
    calls = []

    async def fetch_order_book(symbol, limit=None, params={}):
        calls.append((clock(), symbol))
        return BOOK

    adapter._exchange.fetch_order_book = fetch_order_book
    symbols = ["ETH/USD", "BTC/USD", "XRP/EUR"]
    books = await _collect(adapter, symbols, 30)
    times = [t for t, _ in calls]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= 0.5 - 1e-9  # never faster than one request per 500 ms for the whole venue
    assert times[29] - times[0] <= 29 * 0.5 + 1e-6  # and not slower either: no idle time
    assert [s for _, s in calls[:30]] == symbols * 10  # fair: strict round-robin
    assert [b.symbol for b in books] == symbols * 10
    assert books[0].bids[0] == (Decimal("3802.90"), Decimal("0.60000000"))
    assert books[0].ts == 1641343695.681  # venue time (microtimestamp), not the fake receive time
    assert books[0].received == times[0]


async def test_interval_never_below_ccxt_rate_limit():
    clock = FakeClock()
    fast = _polling_adapter(clock, interval_ms=10)
    default = CcxtAdapter("bitstamp", credentials=None)
    try:
        assert fast.poll_interval_s == fast._exchange.rateLimit / 1000 == 0.075
        assert default.poll_interval_s == 1.0
    finally:
        await fast.close()
        await default.close()


async def test_a_failing_symbol_backs_off_while_the_others_keep_pace():
    import ccxt

    clock = FakeClock()
    adapter = _polling_adapter(clock, backoff_initial_s=2.0, backoff_max_s=8.0)
    calls = []

    async def fetch_order_book(symbol, limit=None, params={}):
        calls.append((clock(), symbol))
        if symbol == "BAD/USD":
            raise ccxt.RequestTimeout("bitstamp GET https://www.bitstamp.net/api/v2/order_book/badusd/ timed out")
        return BOOK

    adapter._exchange.fetch_order_book = fetch_order_book
    books = await _collect(adapter, ["BAD/USD", "ETH/USD"], 40)
    assert {b.symbol for b in books} == {"ETH/USD"}
    bad = [t for t, s in calls if s == "BAD/USD"]
    gaps = [b - a for a, b in zip(bad, bad[1:])]
    # retried after a doubling backoff 2, 4, 8 s, each retry then waiting at most one 0.5 s throttle slot
    assert len(gaps) >= 3
    for gap, backoff in zip(gaps, [2.0, 4.0, 8.0, 8.0]):
        assert backoff <= gap <= backoff + 0.5 + 1e-9
    good = [t for t, s in calls if s == "ETH/USD"]
    assert max(b - a for a, b in zip(good, good[1:])) <= 1.0 + 1e-9  # at worst shares a slot with a retry


async def test_venue_without_websocket_books_polls():
    adapter = CcxtAdapter("bitbank", credentials=None)  # ccxt has no ccxt.pro class for bitbank
    try:
        assert not adapter.uses_websocket
    finally:
        await adapter.close()


async def test_paced_throttler_on_a_fake_clock():
    clock = FakeClock()
    throttler = PacedThrottler(2, 1.0, clock=clock, sleep=clock.sleep)
    stamps = []
    for _ in range(6):
        async with throttler:
            stamps.append(clock())
    # two per second window: 1000, 1000, 1001, 1001, 1002, 1002
    assert stamps == [1000.0, 1000.0, 1001.0, 1001.0, 1002.0, 1002.0]


async def test_every_symbol_failing_reports_the_venue_down():
    import ccxt

    from arbscan.errors import ExchangeUnavailable

    clock = FakeClock()
    adapter = _polling_adapter(clock)
    calls = []

    async def fetch_order_book(symbol, limit=None, params={}):
        calls.append(symbol)
        raise ccxt.ExchangeNotAvailable("bitstamp GET https://www.bitstamp.net/api/v2/order_book/ethusd/ 503")

    adapter._exchange.fetch_order_book = fetch_order_book
    stream = adapter.watch_books(["ETH/USD", "BTC/USD"])
    try:
        with pytest.raises(ExchangeUnavailable) as info:
            await anext(stream)
    finally:
        await stream.aclose()
        await adapter.close()
    assert calls == ["ETH/USD", "BTC/USD", "ETH/USD", "BTC/USD"]  # two failures each, then reported
    # reported with its cause alone: the driver prints the venue and the class around it
    assert str(info.value) == "HTTP 503 Service Unavailable from https://www.bitstamp.net/api/v2/order_book/ethusd/"


async def test_refused_symbols_stop_alone_and_all_refused_raises():
    import ccxt

    from arbscan.errors import ConfigError

    clock = FakeClock()
    adapter = _polling_adapter(clock)
    calls = []

    async def fetch_order_book(symbol, limit=None, params={}):
        calls.append(symbol)
        if symbol == "ETH/USD":
            return BOOK
        raise ccxt.BadSymbol(f"bitstamp does not have market symbol {symbol}")

    adapter._exchange.fetch_order_book = fetch_order_book
    books = await _collect(adapter, ["NOPE/USD", "ETH/USD"], 5)
    assert [b.symbol for b in books] == ["ETH/USD"] * 5
    assert calls.count("NOPE/USD") == 1  # refused once, never asked again

    adapter = _polling_adapter(FakeClock())
    adapter._exchange.fetch_order_book = fetch_order_book
    stream = adapter.watch_books(["NOPE/USD", "NADA/USD"])
    try:
        with pytest.raises(ConfigError, match="BadSymbol"):
            await anext(stream)
    finally:
        await stream.aclose()
        await adapter.close()


async def test_backoff_wait_sleeps_instead_of_spinning():
    import ccxt

    clock = FakeClock()
    adapter = _polling_adapter(clock, backoff_initial_s=5.0)
    state = {"n": 0}

    async def fetch_order_book(symbol, limit=None, params={}):
        state["n"] += 1
        if symbol == "GONE/USD":
            raise ccxt.BadSymbol("bitstamp does not have market symbol GONE/USD")
        if state["n"] == 2:
            raise ccxt.RequestTimeout("bitstamp timeout")  # ETH/USD backs off 5 s: nothing else is due
        return BOOK

    adapter._exchange.fetch_order_book = fetch_order_book
    books = await _collect(adapter, ["GONE/USD", "ETH/USD"], 2)
    assert len(books) == 2 and state["n"] == 4
    assert 5.0 in [round(s, 6) for s in clock.sleeps]  # one sleep for the whole backoff, no busy loop


def test_one_failure_classifier_for_watched_and_polled_books():
    from adapters.ccxt.streams import Failure, classify_failure
    from arbscan import errors as ae

    payload, refused, auth = ae.UnexpectedPayload("crossed"), ae.ConfigError("BadSymbol: x"), ae.AuthError("keys")
    limited, down, odd = ae.RateLimited("HTTP 429", retry_after=5), ae.ExchangeUnavailable("down"), ae.BookIntegrityError("crc")
    assert classify_failure(payload) == (Failure.SKIP, payload)
    assert classify_failure(refused) == (Failure.REFUSED, refused)
    assert classify_failure(auth) == (Failure.REFUSED, auth)
    assert classify_failure(limited) == (Failure.RETRY, limited)
    assert classify_failure(down) == (Failure.RETRY, down)
    kind, error = classify_failure(odd)  # retried, and reported as the venue being unavailable
    assert (kind, type(error), str(error)) == (Failure.RETRY, ae.ExchangeUnavailable, "BookIntegrityError: crc")
    # what ccxt did not wrap is reported as unreachable, with its cause in words
    kind, error = classify_failure(ConnectionResetError(104, "Connection reset by peer"))
    assert (kind, type(error), str(error)) == (Failure.RETRY, ae.ExchangeUnavailable, "connection reset by the venue")
    kind, error = classify_failure(KeyError("bids"))
    assert (kind, type(error), str(error)) == (Failure.RETRY, ae.ExchangeUnavailable, "KeyError: 'bids'")


async def test_a_venue_down_by_an_untranslated_timeout_is_reported_with_the_cause():
    from arbscan.errors import ExchangeUnavailable

    adapter = _polling_adapter(FakeClock())

    async def fetch_order_book(symbol, limit=None, params={}):
        raise TimeoutError()  # below ccxt: it never saw this one

    adapter._exchange.fetch_order_book = fetch_order_book
    stream = adapter.watch_books(["ETH/USD"])
    try:
        with pytest.raises(ExchangeUnavailable) as info:
            await anext(stream)
    finally:
        await stream.aclose()
        await adapter.close()
    assert str(info.value) == "timed out waiting for the venue"
