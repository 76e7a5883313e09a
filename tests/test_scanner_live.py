"""The live driver around the scanner core, with fake adapters (no network)."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal as D

from arbscan.errors import AuthError
from arbscan.scan.feeds import LiveDriver
from arbscan.model import BookSnapshot, Market
from arbscan.scan.scanner import Scanner

SYM = "BTC/USD"


class Venue:
    """Sends the given (bid, ask) quotes a few ms apart, then stays silent."""

    def __init__(self, name, quotes, fail=()):
        self.name = name
        self.quotes = quotes
        self.fail = list(fail)  # exceptions raised by load_markets, one per call, before it succeeds
        self.calls = 0
        self.closed = False

    async def load_markets(self):
        self.calls += 1
        if self.fail:
            raise self.fail.pop(0)
        return {SYM: Market(self.name, SYM, "BTC", "USD", D("0.001"), D("0.001"), D("0.01"))}

    async def watch_books(self, symbols):
        for bid, ask in self.quotes:
            await asyncio.sleep(0.005)
            t = time.time()
            yield BookSnapshot(self.name, SYM, ((D(bid), D(1)),), ((D(ask), D(1)),), t, t)
        await asyncio.sleep(3600)

    async def close(self):
        self.closed = True


async def run_for(driver, seconds):
    task = asyncio.create_task(driver.run())
    await asyncio.sleep(seconds)
    driver.stop.set()
    await asyncio.wait_for(task, 5)
    await driver.close_adapters()


async def test_timer_closes_episodes_whose_books_went_silent():
    s = Scanner({}, None, max_book_age_ms=200)
    venues = {"alpha": Venue("alpha", [("99", "100")]), "beta": Venue("beta", [("100.8", "101")])}
    driver = LiveDriver(s, venues, (SYM,), expire_interval=0.02)
    closed = []
    s.store = type("Store", (), {"record_episode": lambda self, ep: closed.append(ep),
                                 "record_funnel": lambda self, f, now=None: None,
                                 "record_venue_stats": lambda self, v: None})()
    await run_for(driver, 0.6)
    assert [ep.close_reason for ep in closed] == ["stale"]
    assert all(v.closed for v in venues.values())


async def test_failing_venue_is_retried_with_growing_backoff_while_others_run():
    s = Scanner({}, None, max_book_age_ms=60_000)
    reports = []
    flaky = Venue("beta", [("100.8", "101")], fail=[ConnectionError("refused"), ConnectionError("refused")])
    venues = {"alpha": Venue("alpha", [("99", "100")]), "beta": flaky}
    driver = LiveDriver(s, venues, (SYM,), initial_backoff=0.05,
                        on_unreachable=lambda v, msg, delay: reports.append((v, msg, delay)))
    await run_for(driver, 0.6)
    assert reports == [("beta", "ConnectionError: refused", 0.05), ("beta", "ConnectionError: refused", 0.1)]
    assert flaky.calls == 3
    assert s.funnels[(SYM, "alpha", "beta")].live == 1


async def test_auth_error_stops_only_that_venue():
    s = Scanner({}, None)
    venues = {"alpha": Venue("alpha", [("99", "100")]), "beta": Venue("beta", [], fail=[AuthError("bad key")])}
    driver = LiveDriver(s, venues, (SYM,), initial_backoff=0.01)
    await run_for(driver, 0.2)
    assert venues["beta"].calls == 1
    assert driver.venues["beta"].last_error == "bad key"
    assert s.feeds[("alpha", SYM)].events == 1


async def test_stop_is_prompt_even_while_waiting_to_retry():
    s = Scanner({}, None)
    venues = {"beta": Venue("beta", [], fail=[ConnectionError("refused")] * 5)}
    driver = LiveDriver(s, venues, (SYM,), initial_backoff=30)
    task = asyncio.create_task(driver.run())
    await asyncio.sleep(0.1)
    started = time.monotonic()
    driver.stop.set()
    await asyncio.wait_for(task, 5)
    await driver.close_adapters()
    assert time.monotonic() - started < 1


async def test_the_driver_takes_the_venues_markets_as_they_are():
    # a configured taker_fee is the adapter's (tests/test_fee_override.py); the driver applies nothing again
    s = Scanner({}, None)
    venues = {"alpha": Venue("alpha", [("99", "100")])}
    driver = LiveDriver(s, venues, (SYM,))
    await run_for(driver, 0.1)
    assert s.markets[("alpha", SYM)].taker_fee == D("0.001")


class Garbled(Venue):
    """Yields one good book, then a malformed message error, then (after resubscribing) good books."""

    def __init__(self, name):
        super().__init__(name, [("100.8", "101")])
        self.streams = 0

    async def watch_books(self, symbols):
        self.streams += 1
        t = time.time()
        yield BookSnapshot(self.name, SYM, ((D("100.8"), D(1)),), ((D(101), D(1)),), t, t)
        if self.streams == 1:
            from arbscan.errors import UnexpectedPayload

            raise UnexpectedPayload("beta: unknown field 'foo'")
        await asyncio.sleep(3600)


async def test_malformed_venue_message_is_logged_and_the_stream_resumed(caplog):
    s = Scanner({}, None, max_book_age_ms=60_000)
    reports = []
    beta = Garbled("beta")
    driver = LiveDriver(s, {"alpha": Venue("alpha", [("99", "100")]), "beta": beta}, (SYM,), initial_backoff=0.05,
                        on_unreachable=lambda *a: reports.append(a))
    await run_for(driver, 0.5)
    assert beta.streams == 2 and reports == []
    assert s.feeds[("beta", SYM)].events == 2
    assert "unknown field 'foo'; resubscribing" in caplog.text


async def test_a_book_the_core_rejects_is_skipped_not_the_feed():
    s = Scanner({}, None, max_book_age_ms=60_000)
    calls = []
    real = s.on_book_event

    def flaky(book, t=None):
        calls.append(book)
        if len(calls) == 1:
            raise ValueError("bad book")
        return real(book, t)

    s.on_book_event = flaky
    venues = {"alpha": Venue("alpha", [("99", "100"), ("99", "100")])}
    driver = LiveDriver(s, venues, (SYM,))
    await run_for(driver, 0.2)
    assert len(calls) == 2 and s.feeds[("alpha", SYM)].events == 1
