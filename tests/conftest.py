"""Shared test builders: markets and books written as short strings, and a journal (store) per test.

Plain functions (``from conftest import book, market``) for the builders, a fixture for the store,
and ``journal_number`` to watch a journal another process is writing.
"""

from __future__ import annotations

import asyncio
import sqlite3
import textwrap
import time
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

import pytest

from arbscan.journal.store import Store
from arbscan.model import BookSnapshot, Market

D = Decimal
SYM = "BTC/USD"


def market(exchange: str, symbol: str = SYM, fee: str = "0", *, amount_step: str = "0.0001", price_step: str = "0.1",
           min_amount: str = "0", min_cost: str = "0") -> Market:
    """A market of ``symbol`` on ``exchange``, numbers as strings (defaults: no fee, steps 0.0001 and 0.1)."""
    base, quote = symbol.split("/")
    return Market(exchange, symbol, base, quote, D(fee), D(amount_step), D(price_step), D(min_amount), D(min_cost))


def levels(side: Iterable[tuple[str, str]]) -> tuple[tuple[Decimal, Decimal], ...]:
    """(price, amount) string pairs as a book side."""
    return tuple((D(p), D(a)) for p, a in side)


def book(exchange: str, t: float = 1.0, bids: Iterable[tuple[str, str]] = (), asks: Iterable[tuple[str, str]] = (),
         symbol: str = SYM) -> BookSnapshot:
    """A book at time ``t`` (venue and receive time) from (price, amount) string pairs, best first."""
    return BookSnapshot(exchange, symbol, levels(bids), levels(asks), t, t)


class Flapping:
    """A venue whose ``symbol`` book changes every 5 ms, cycling through ``quotes`` ((bid, ask) text pairs, one
    BTC a side): routes cross and uncross all the time (the alerts and web-view loop-lag tests)."""

    def __init__(self, name: str, quotes: list[tuple[str, str]], symbol: str = SYM) -> None:
        self.name, self.quotes, self.symbol = name, quotes, symbol

    async def load_markets(self):
        base, quote = self.symbol.split("/")
        return {self.symbol: Market(self.name, self.symbol, base, quote, Decimal("0.001"), Decimal("0.001"),
                                    Decimal("0.01"))}

    async def watch_books(self, symbols):
        i = 0
        while True:
            await asyncio.sleep(0.005)
            bid, ask = self.quotes[i % len(self.quotes)]
            i += 1
            t = time.time()
            yield BookSnapshot(self.name, self.symbol, ((Decimal(bid), Decimal(1)),), ((Decimal(ask), Decimal(1)),), t, t)

    async def close(self):
        pass


def venue_launcher(tmp: Path, module: str, adapters: str) -> Path:
    """A script running ``arbscan`` whose venues are ``module.adapters`` (the fakes of a test module under tests/):
    a shard on the bus builds its adapters in a process of its own, so the fakes go in through this."""
    script = tmp / f"{module}_arbscan.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
        import {module}
        from arbscan import parts
        from arbscan.cli import command as cli
        from arbscan.config import checks
        parts.build_adapters = {module}.{adapters}
        parts.DRIVER_OPTIONS["stats_interval"] = 0.2
        checks.exchange_known = lambda exchange: True
        raise SystemExit(cli.main(sys.argv[1:]))
    """))
    return script


def journal_number(db, sql: str, *params) -> int:
    """The first column of ``sql``'s first row in a journal another process is writing; 0 until it has one."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            row = conn.execute(sql, params).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:  # not created yet, or its tables not yet
        return 0
    return row[0] if row and row[0] is not None else 0


@pytest.fixture
def store(tmp_path):
    """A journal on a temporary file with one open run (mode 'scan'), closed after the test."""
    s = Store(tmp_path / "journal.db", flush_interval=0.01)
    s.start_run("scan", "test")
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _logging_as_it_was():
    """``cli.main`` configures logging for the whole process: put handlers and levels back after each test."""
    import logging

    names = ("", "adapters", "websockets", "asyncio", "ccxt", "urllib3", "aiohttp")
    saved = {n: (logging.getLogger(n).level, list(logging.getLogger(n).handlers)) for n in names}
    yield
    for n, (level, handlers) in saved.items():
        logger = logging.getLogger(n)
        logger.setLevel(level)
        logger.handlers[:] = handlers


@pytest.fixture(autouse=True)
def _fresh_kraken_call_counters():
    """Kraken's call counter is one per API key and process; tests reuse one fake key, so each starts from zero."""
    from adapters.kraken import ratelimit

    ratelimit._COUNTERS.clear()
    yield
    ratelimit._COUNTERS.clear()
