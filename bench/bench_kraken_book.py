"""Benchmark 1: Kraken WS v2 book handling, ``KrakenBook.apply`` against ccxt.pro's Kraken, same frames.

Usage (from the repository root)::

    python -m bench.bench_kraken_book [--rounds 15] [--loops 20]

Frames: the real Kraken WS v2 ``book`` BTC/USD depth-10 recording (one snapshot and 509 updates,
each with Kraken's CRC32) in ``tests/data/kraken/orderbook-v2.json`` (copied from
python-kraken-sdk, Apache-2.0; see ``tests/data/kraken/README.md``). Each message is serialised
once, compactly, as the text frame a WebSocket client receives; both sides get the same ``str``
objects.

What each side does per frame (both in this process, one after the other, alternating which goes
first, ``--rounds`` times; each timing covers ``--loops`` passes over the 510 frames):

* **ccxt.pro** (``ccxt.pro.kraken``, WS v2): ``Client.handle_text_or_binary_message(frame)``, the
  exact call its WebSocket receive loop makes: ``orjson.loads``, then ``kraken.handle_message``,
  which dispatches to ``handle_order_book``: parse every level (``safe_number`` -> float), store
  it in the sorted ``OrderBookSide``, truncate to depth, resolve the watchers' future. No checksum:
  ccxt's option ``watchOrderBook.checksum`` is off by default, and turned on it raises
  ``AttributeError`` in the Python build (``format_number`` calls ``.split`` on a float), so
  ccxt.pro cannot validate these frames at all (checked below, reported as ``ccxt_checksum``).
* **arbscan** ``KrakenBook.apply(frame)``: ``orjson.loads``, parse every level and format it at the
  instrument's precision, apply, truncate, then compute Kraken's CRC32 over the top 10 levels and
  compare it with the frame's checksum (raises ``ChecksumMismatch`` on disagreement): every one
  of the 510 checksums is validated on every pass.
* **arbscan + snapshot**: the same, then ``KrakenBook.snapshot()``, the immutable ``BookSnapshot``
  with ``Decimal`` levels that the adapter hands to the scanner (ccxt's equivalent output is its
  live ``OrderBook`` dict of floats, which ``handle_order_book`` already produced).

Before timing, both books are checked to hold the same levels after every frame.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from adapters.kraken.book import KrakenBook
from bench.common import fmt_spread, machine, pin_cpu, save_results, spread

__all__ = ["main", "load_frames", "run"]

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "kraken" / "orderbook-v2.json"
SYMBOL = "BTC/USD"
PRICE_PRECISION, QTY_PRECISION, DEPTH = 1, 8, 10


def load_frames(path: Path = DATA) -> list[str]:
    """The recording's 510 messages as compact JSON text frames (snapshot first)."""
    doc = json.loads(path.read_text())
    return [json.dumps(m, separators=(",", ":")) for m in [doc["init"], *doc["updates"]]]


def _ccxt_client(checksum: bool = False) -> tuple[Any, Any]:
    import ccxt.pro

    exchange = ccxt.pro.kraken({"options": {"watchOrderBook": {"checksum": checksum}}})
    client = exchange.client(exchange.urls["api"]["ws"]["publicV2"])
    return exchange, client


async def _same_books(frames: list[str]) -> int:
    """Apply every frame to both books; assert they hold the same levels each time; return frames checked."""
    exchange, client = _ccxt_client()
    try:
        return _compare(exchange, client, frames)
    finally:
        await exchange.close()


def _compare(exchange: Any, client: Any, frames: list[str]) -> int:
    book = KrakenBook(SYMBOL, DEPTH, PRICE_PRECISION, QTY_PRECISION)
    for frame in frames:
        client.handle_text_or_binary_message(frame)
        book.apply(frame)
        theirs = exchange.orderbooks[SYMBOL]
        ours = book.snapshot()
        for mine, other in ((ours.bids, theirs["bids"]), (ours.asks, theirs["asks"])):
            assert [(p, a) for p, a in mine] == [(Decimal(repr(p)), Decimal(repr(a))) for p, a in other[:DEPTH]], frame
    return len(frames)


async def _ccxt_checksum_works(frames: list[str]) -> str:
    """What happens with ccxt's own checksum option turned on (it is off by default)."""
    exchange, client = _ccxt_client(checksum=True)
    rejected: list[Any] = []
    client.reject = lambda error, message_hash=None: rejected.append(error)
    try:
        for frame in frames:
            client.handle_text_or_binary_message(frame)
    except Exception as exc:  # noqa: BLE001 - reported, not raised: this is ccxt's behaviour under test
        return f"raises {type(exc).__name__}: {exc}"
    finally:
        await exchange.close()
    return f"{len(frames) - len(rejected)} of {len(frames)} frames pass its checksum"


def _time_ccxt(client: Any, frames: list[str], loops: int) -> float:
    handle = client.handle_text_or_binary_message
    started = time.perf_counter()
    for _ in range(loops):
        for frame in frames:
            handle(frame)
    return time.perf_counter() - started


def _time_ours(frames: list[str], loops: int, snapshot: bool) -> float:
    book = KrakenBook(SYMBOL, DEPTH, PRICE_PRECISION, QTY_PRECISION)
    apply = book.apply
    started = time.perf_counter()
    if snapshot:
        snap = book.snapshot
        for _ in range(loops):
            for frame in frames:
                apply(frame)
                snap()
    else:
        for _ in range(loops):
            for frame in frames:
                apply(frame)
    return time.perf_counter() - started


async def run(rounds: int, loops: int) -> dict[str, Any]:
    """Interleave the contenders ``rounds`` times; return per-round frames/s and ratios."""
    frames = load_frames()
    checked = await _same_books(frames)
    ccxt_checksum = await _ccxt_checksum_works(frames)
    exchange, client = _ccxt_client()
    n = len(frames) * loops
    rates: dict[str, list[float]] = {"ccxt.pro": [], "arbscan apply": [], "arbscan apply+snapshot": []}
    ratio: dict[str, list[float]] = {"arbscan apply": [], "arbscan apply+snapshot": []}
    try:
        for rnd in range(rounds):
            gc.collect()
            order = ["ccxt", "ours", "ours+snap"]
            if rnd % 2:
                order.reverse()
            seconds: dict[str, float] = {}
            for who in order:
                if who == "ccxt":
                    seconds[who] = _time_ccxt(client, frames, loops)
                else:
                    seconds[who] = _time_ours(frames, loops, snapshot=(who == "ours+snap"))
            rates["ccxt.pro"].append(n / seconds["ccxt"])
            rates["arbscan apply"].append(n / seconds["ours"])
            rates["arbscan apply+snapshot"].append(n / seconds["ours+snap"])
            ratio["arbscan apply"].append(seconds["ccxt"] / seconds["ours"])
            ratio["arbscan apply+snapshot"].append(seconds["ccxt"] / seconds["ours+snap"])
            print(f"round {rnd + 1}: ccxt.pro {n / seconds['ccxt']:,.0f}/s, apply {n / seconds['ours']:,.0f}/s "
                  f"({seconds['ccxt'] / seconds['ours']:.2f}x), apply+snapshot {n / seconds['ours+snap']:,.0f}/s "
                  f"({seconds['ccxt'] / seconds['ours+snap']:.2f}x)", flush=True)
    finally:
        await exchange.close()
    return {
        "frames": len(frames),
        "frames_checked_equal": checked,
        "checksums_validated_per_pass": len(frames),
        "ccxt_checksum": ccxt_checksum,
        "loops": loops,
        "rounds": rounds,
        "frames_per_s": {k: spread(v) for k, v in rates.items()},
        "ratio_vs_ccxt": {k: spread(v) for k, v in ratio.items()},
        "raw": {"frames_per_s": rates, "ratio": ratio},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the comparison; print a Markdown table; optionally save JSON (``--json``)."""
    p = argparse.ArgumentParser(description="KrakenBook.apply vs ccxt.pro kraken handle_message")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--loops", type=int, default=20, help="passes over the 510 frames per timing")
    p.add_argument("--cpu", type=int, default=0, help="CPU to pin to; -1: no pinning")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    pin_cpu(None if a.cpu < 0 else a.cpu)
    print("machine:", machine())
    res = asyncio.run(run(a.rounds, a.loops))
    print()
    print(f"same book after each of {res['frames_checked_equal']} frames; ccxt checksum option: {res['ccxt_checksum']}")
    print("| contender | frames/s median (min-max) | vs ccxt.pro median (min-max) |")
    print("|---|---|---|")
    for name, s in res["frames_per_s"].items():
        r = res["ratio_vs_ccxt"].get(name)
        print(f"| {name} | {fmt_spread(s)} | {fmt_spread(r, 2) + 'x' if r else '1x'} |")
    save_results(a.json, "kraken_book", res)
    return res


if __name__ == "__main__":
    main()
