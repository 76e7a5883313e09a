"""The book gate on the live paths: both adapters refuse untrue books and tell the scanner, which counts the
routes through them as ``untrue_book`` until a true book comes; and the gate itself on hand-made books."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import conftest
import pytest

from adapters.ccxt_adapter import CcxtAdapter
from adapters.kraken.adapter import KrakenAdapter
from arbscan.booksanity import untrue_reason
from arbscan.errors import UntrueBook
from arbscan.scan.feeds import LiveDriver
from arbscan.model import BookSnapshot
from arbscan.scan.scanner import Scanner

SYM = "BTC/USD"


def snap(ex, bids, asks, t=1.0, symbol=SYM):
    lv = lambda side: tuple((D(p), D(a)) for p, a in side)  # noqa: E731
    return BookSnapshot.trusted(ex, symbol, lv(bids), lv(asks), t, t)


@pytest.mark.parametrize(
    ("bids", "asks", "reason"),
    [
        ([("99", "1")], [("100", "1")], None),
        ([("100", "1")], [("100", "1")], "locked (bid 100 = ask 100)"),
        ([("101", "1")], [("100", "1")], "crossed (bid 101 > ask 100)"),
        ([], [("100", "1")], "no bids"),
        ([("99", "1")], [], "no asks"),
        ([("99", "0")], [("100", "1")], "bid amount 0 at 99 is not positive"),
        ([("99", "-1")], [("100", "1")], "bid amount -1 at 99 is not positive"),
        ([("-99", "1")], [("100", "1")], "bid price -99 is not positive"),
        ([("99", "1")], [("NaN", "1")], "ask price NaN is not a finite number"),
        ([("99", "1")], [("100", "sNaN")], "ask amount sNaN at 100 is not a finite number"),
        ([("99", "1")], [("1e16", "1")], "ask price 1E+16 is beyond 1E+15"),
        ([("99.001", "1")], [("100", "1")], None),  # off the step is not untrue (issue 28): counted, used
        ([("1e-999999999", "1")], [("100", "1")], "bid price 1E-999999999 is below 1E-18"),
        ([("99.0100", "1")], [("100", "1.00010000")], None),  # trailing zeros are not digits
        ([("99", "0.00001")], [("100", "1")], None),
        ([("99", "1e-19")], [("100", "1")], "bid amount 1E-19 at 99 is below 1E-18"),
        ([("98", "1"), ("99", "1")], [("100", "1")], "bids not sorted best first at 99"),
        ([("99", "1")], [("100", "1"), ("100", "2")], "asks not sorted best first at 100"),
    ],
)
def test_the_gate_on_hand_made_books(bids, asks, reason):
    market = conftest.market("alpha", price_step="0.01", amount_step="0.0001")
    assert untrue_reason(snap("alpha", bids, asks), market) == reason


def test_without_a_market_only_the_steps_go_unchecked():
    assert untrue_reason(snap("alpha", [("99.00001", "1")], [("100", "1")]), None) is None
    assert untrue_reason(snap("alpha", [("99", "1")], [("99", "1")]), None) == "locked (bid 99 = ask 99)"


async def test_ccxt_adapter_reports_an_untrue_book_in_its_place_and_yields_the_next_true_one():
    adapter = CcxtAdapter("binance", credentials=None)
    adapter._markets = {"NKN/USDT": conftest.market("binance", "NKN/USDT", price_step="0.0001", amount_step="1")}
    books = iter([
        {"bids": [[0.3529, 10.0]], "asks": [[0.3529, 10.0]], "timestamp": 1000},  # locked
        {"bids": [[0.35215, 10.0]], "asks": [[0.3529, 10.0]], "timestamp": 2000},  # a digit finer than the tick: true (issue 28)
        {"bids": [[0.3521, 672.0]], "asks": [[0.3529, 10968.0]], "timestamp": 3000},
    ])

    async def watch_order_book(symbol, limit=None, params={}):
        await asyncio.sleep(0)
        return next(books)

    heard = []
    adapter._exchange.watch_order_book = watch_order_book
    adapter.on_untrue_book = lambda symbol, ts, reason: heard.append((symbol, ts, reason))
    stream = adapter.watch_books(["NKN/USDT"])
    try:
        book = await anext(stream)
    finally:
        await stream.aclose()
        await adapter.close()
    assert heard == [("NKN/USDT", 1.0, "locked (bid 0.3529 = ask 0.3529)")]
    assert (book.best_bid, book.ts) == (D("0.35215"), 2.0)  # off the tick, not untrue: used as published


async def test_ccxt_fetch_book_raises_untrue_book():
    adapter = CcxtAdapter("bitstamp", credentials=None)

    async def fetch_order_book(symbol, limit=None, params={}):
        return {"bids": [[101.0, 1.0]], "asks": [[100.0, 1.0]], "timestamp": 5000}

    adapter._exchange.fetch_order_book = fetch_order_book
    try:
        with pytest.raises(UntrueBook, match=r"bitstamp BTC/USD: untrue book \(crossed \(bid 101.0 > ask 100.0\)\)"):
            await adapter.fetch_book(SYM)
    finally:
        await adapter.close()


class ScriptedWs:
    """Stands in for KrakenWsClient: yields the given books."""

    url = "ws://scripted"

    def __init__(self, books):
        self._books = books

    async def books(self, symbols):
        for b in self._books:
            yield b


async def test_kraken_adapter_reports_a_crossed_book_that_passed_its_checksum():
    crossed = snap("kraken", [("101", "1")], [("100", "1")], t=7.0)
    good = snap("kraken", [("99", "1")], [("100", "1")], t=8.0)
    adapter = KrakenAdapter(credentials=None, ws=ScriptedWs([crossed, crossed, good]))
    heard = []
    adapter.on_untrue_book = lambda symbol, ts, reason: heard.append((symbol, ts, reason))
    got = [b async for b in adapter.watch_books([SYM])]
    assert got == [good]
    assert heard == [(SYM, 7.0, "crossed (bid 101 > ask 100)")] * 2


class Venue:
    """A fake adapter: a script of books and untrue reports, then idle."""

    def __init__(self, name, script):
        self.name = name
        self.script = script
        self.on_untrue_book = None

    async def load_markets(self):
        return {SYM: conftest.market(self.name, SYM, "0.001", amount_step="0.001", price_step="0.01")}

    async def watch_books(self, symbols):
        for delay, item in self.script:
            await asyncio.sleep(delay)
            if isinstance(item, str):
                self.on_untrue_book(SYM, asyncio.get_running_loop().time(), item)
            else:
                t = asyncio.get_running_loop().time()
                yield snap(self.name, [(item[0], "1")], [(item[1], "1")], t=t)
        await asyncio.sleep(3600)

    async def close(self):
        pass


async def test_live_routes_through_an_untrue_book_are_counted_not_evaluated():
    scanner = Scanner({}, None, max_book_age_ms=60_000)
    # alpha asks 100; beta bids 100.8 (live), then beta's books turn untrue, alpha moves, beta is true again
    alpha = Venue("alpha", [(0.0, ("99", "100")), (0.3, ("99", "100")), (0.3, ("99", "100"))])
    beta = Venue("beta", [(0.1, ("100.8", "101")), (0.05, "crossed (bid 102 > ask 101)"), (0.4, ("100.8", "101"))])
    driver = LiveDriver(scanner, {"alpha": alpha, "beta": beta}, (SYM,))
    asyncio.get_running_loop().call_later(1.0, driver.stop.set)
    await driver.run()
    route = scanner.funnels[(SYM, "alpha", "beta")]
    assert route.untrue_book == 2  # beta's refused book, and alpha's book at 0.3 s while beta was untrue
    assert route.live == 3  # at 0.1 s, when beta was true again at 0.55 s, and alpha's book at 0.6 s
    assert scanner.feeds[("beta", SYM)].rejected == 1
    assert not scanner.untrue  # beta's true book ended the spell
