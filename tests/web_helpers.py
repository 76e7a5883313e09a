"""Shared by the web view's tests: a generated replay file with a route that turns live, and fake venues.

The replay's numbers are chosen so the page's figures can be worked out by hand (see ``LIVE_FIGURES``).
"""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal as D
from pathlib import Path

from arbscan.model import BookSnapshot, Market

SYM = "BTC/USD"

# x asks 100 (1 BTC), y bids 101 (1 BTC), 0.1 % taker fee on both:
#   gross = 10000 * (101 - 100) / 100                                  = 100.00 bps
#   cost = 100 * 1.001 = 100.1; proceeds = 101 * 0.999 = 100.899; profit = 0.799 -> "0.80" USD
#   net = 10000 * 0.799 / 100.1 = 79.8201...                          = 79.82 bps
LIVE_FIGURES = {"gross_bps": "100.00", "net_bps": "79.82", "amount": "1.0000", "profit": "0.80"}
# before: y bids 99.5 (below x's ask 100): gross = 10000 * (99.5 - 100) / 100 = -50.00 bps, not crossed
QUIET_GROSS = "-50.00"


def _market(ex: str) -> dict:
    return {"type": "market", "exchange": ex, "symbol": SYM, "taker_fee": "0.001", "amount_step": "0.0001",
            "price_step": "0.1", "min_amount": "0.0001", "min_cost": "1"}


def _book(ex: str, ts: float, bid: str, ask: str) -> str:
    return json.dumps({"type": "book", "ts": round(ts, 6), "exchange": ex, "symbol": SYM, "snapshot": True,
                       "bids": [[bid, "1"]], "asks": [[ask, "1"]]})


def write_replay(path: Path, quiet: int, live: int, t0: float = 1_700_000_000.0) -> Path:
    """``quiet`` pairs of book lines where no route crosses, then ``live`` pairs where x -> y is live (10 ms apart)."""
    lines = [json.dumps(_market("x")), json.dumps(_market("y"))]
    t = t0
    for i in range(quiet + live):
        t += 0.01
        lines.append(_book("x", t, "99", "100"))
        lines.append(_book("y", t, "101" if i >= quiet else "99.5", "102"))
    path.write_text("\n".join(lines) + "\n")
    return path


class FakeVenue:
    """An in-process venue streaming a one-level book every 20 ms; ``stop()`` makes it unreachable (refused)."""

    def __init__(self, name: str, bid: str, ask: str) -> None:
        self.name, self.bid, self.ask = name, D(bid), D(ask)
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True

    async def load_markets(self):
        return {SYM: Market(self.name, SYM, "BTC", "USD", D("0.001"), D("0.0001"), D("0.1"))}

    async def watch_books(self, symbols):
        if self.stopped:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 9)")
        while not self.stopped:
            await asyncio.sleep(0.02)
            t = time.time()
            yield BookSnapshot(self.name, SYM, ((self.bid, D(1)),), ((self.ask, D(1)),), t, t)
        raise ConnectionResetError("the venue closed the connection")

    async def fetch_balances(self):
        return {}

    async def close(self):
        pass
