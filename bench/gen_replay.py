"""Generate synthetic replay files (ARCHITECTURE.md "Replay file") for the end-to-end benchmarks.

Usage::

    python bench/gen_replay.py OUT.jsonl --venues 5 --symbols 100 --deltas 50000 [--seed 1]

``venues`` venues (``v00``, ``v01``, ...) each quote ``symbols`` symbols (``C0000/USD``, ...) with a
book ``depth`` levels deep per side. The file holds one ``market`` line per (venue, symbol), one
snapshot per book, then ``deltas`` delta lines, each on a book drawn uniformly at random.

Prices are integer ticks of 0.01 around 100.00 (one tick is about one basis point). Each symbol
has a mid price doing a random walk, and each venue quotes it at an offset that mean-reverts
(an Ornstein-Uhlenbeck walk in ticks): when two venues' offsets drift apart by more than the spread
plus both taker fees, the route between them is crossed after fees and the scanner opens an
episode. ``--offset-sd`` sets how far offsets wander and so how often routes are live.

A delta either changes one level's amount (most of them) or moves a venue's quote by one tick,
which deletes a level at one end of each side and adds one at the other (four levels). Books are
never crossed within a venue. ``ts`` advances so that every book is updated about every
``--book-interval-ms`` on average (default 50 ms), so books stay fresh at the default
``max_book_age_ms`` of 2000 whatever the number of books.

Synthetic data: it exercises the code paths and the scale; it is not market data.
"""

from __future__ import annotations

import argparse
import gzip
import random
from pathlib import Path

__all__ = ["generate", "main"]

MID_TICKS = 10_000  # 100.00
AMOUNT_UNITS = 10_000  # amounts are integer units of 0.0001
START_TS = 1_700_000_000.0


def _price(ticks: int) -> str:
    return f"{ticks // 100}.{ticks % 100:02d}"


def _amount(units: int) -> str:
    return f"{units // AMOUNT_UNITS}.{units % AMOUNT_UNITS:04d}"


def _levels(levels: list[tuple[int, int]]) -> str:
    return "[" + ", ".join(f'["{_price(p)}", "{_amount(a)}"]' for p, a in levels) + "]"


class _Book:
    """One venue's book on one symbol: best bid tick, best ask tick and ``depth`` contiguous levels per side."""

    __slots__ = ("bid", "ask", "bids", "asks", "offset")

    def __init__(self, rng: random.Random, mid: int, depth: int, offset_sd: float) -> None:
        self.offset = rng.gauss(0.0, offset_sd)  # start in the walk's stationary distribution
        mid += round(self.offset)
        self.bid = mid - 1
        self.ask = mid + 1
        self.bids = {self.bid - i: rng.randint(1, 5 * AMOUNT_UNITS) for i in range(depth)}
        self.asks = {self.ask + i: rng.randint(1, 5 * AMOUNT_UNITS) for i in range(depth)}


def generate(
    path: str | Path,
    venues: int,
    symbols: int,
    deltas: int,
    *,
    seed: int = 1,
    depth: int = 10,
    offset_sd: float = 4.0,
    book_interval_ms: float = 50.0,
    fee: str = "0.0005",
) -> dict[str, int]:
    """Write one synthetic replay file; returns counts of its lines by kind."""
    if venues < 1 or symbols < 1 or deltas < 0 or depth < 1 or offset_sd < 0 or book_interval_ms <= 0:
        raise ValueError("venues, symbols and depth must be positive, deltas and offset_sd not negative, "
                         "book_interval_ms positive")
    rng = random.Random(seed)
    path = Path(path)
    names = [f"v{i:02d}" for i in range(venues)]
    syms = [f"C{j:04d}/USD" for j in range(symbols)]
    n_books = venues * symbols
    dt = book_interval_ms / 1000.0 / n_books
    mids = [MID_TICKS] * symbols
    books = [[_Book(rng, MID_TICKS, depth, offset_sd) for _ in names] for _ in syms]
    opener = gzip.open if path.suffix == ".gz" else open
    ts = START_TS
    counts = {"market": 0, "snapshot": 0, "delta": 0}
    with opener(path, "wt", encoding="utf-8", newline="\n") as out:
        write = out.write
        for sym in syms:
            for name in names:
                write(
                    f'{{"type": "market", "exchange": "{name}", "symbol": "{sym}", "taker_fee": "{fee}", '
                    f'"amount_step": "0.0001", "price_step": "0.01", "min_amount": "0.0001", "min_cost": "1"}}\n'
                )
                counts["market"] += 1
        for j, sym in enumerate(syms):
            for i, name in enumerate(names):
                b = books[j][i]
                ts += dt
                bids = sorted(b.bids.items(), reverse=True)
                asks = sorted(b.asks.items())
                write(
                    f'{{"type": "book", "ts": {ts:.6f}, "exchange": "{name}", "symbol": "{sym}", "snapshot": true, '
                    f'"bids": {_levels(bids)}, "asks": {_levels(asks)}}}\n'
                )
                counts["snapshot"] += 1
        revert = 0.05
        for _ in range(deltas):
            j = rng.randrange(symbols)
            i = rng.randrange(venues)
            b = books[j][i]
            ts += dt
            if rng.random() < 0.02:
                mids[j] += rng.choice((-1, 1))
            # the venue's offset mean-reverts towards 0 with stationary s.d. ``offset_sd`` ticks
            b.offset += -revert * b.offset + rng.gauss(0.0, offset_sd * (2 * revert) ** 0.5)
            target = mids[j] + round(b.offset)
            mid_now = (b.bid + b.ask) // 2
            bid_changes: list[tuple[int, int]] = []
            ask_changes: list[tuple[int, int]] = []
            if target != mid_now:
                step = 1 if target > mid_now else -1
                if step > 0:  # quote up one tick: new best bid and ask levels above, drop the worst bid
                    b.bid += 1
                    new_bid = rng.randint(1, 5 * AMOUNT_UNITS)
                    b.bids[b.bid] = new_bid
                    bid_changes.append((b.bid, new_bid))
                    del b.bids[b.bid - depth]
                    bid_changes.append((b.bid - depth, 0))
                    del b.asks[b.ask]
                    ask_changes.append((b.ask, 0))
                    b.ask += 1
                    far = b.ask + depth - 1
                    new_ask = rng.randint(1, 5 * AMOUNT_UNITS)
                    b.asks[far] = new_ask
                    ask_changes.append((far, new_ask))
                else:  # quote down one tick
                    b.ask -= 1
                    new_ask = rng.randint(1, 5 * AMOUNT_UNITS)
                    b.asks[b.ask] = new_ask
                    ask_changes.append((b.ask, new_ask))
                    del b.asks[b.ask + depth]
                    ask_changes.append((b.ask + depth, 0))
                    del b.bids[b.bid]
                    bid_changes.append((b.bid, 0))
                    b.bid -= 1
                    far = b.bid - depth + 1
                    new_bid = rng.randint(1, 5 * AMOUNT_UNITS)
                    b.bids[far] = new_bid
                    bid_changes.append((far, new_bid))
            else:  # one level's amount changes
                side, changes = (b.bids, bid_changes) if rng.random() < 0.5 else (b.asks, ask_changes)
                price = rng.choice(list(side))
                amount = rng.randint(1, 5 * AMOUNT_UNITS)
                side[price] = amount
                changes.append((price, amount))
            write(
                f'{{"type": "book", "ts": {ts:.6f}, "exchange": "{names[i]}", "symbol": "{syms[j]}", "snapshot": false, '
                f'"bids": {_levels(bid_changes)}, "asks": {_levels(ask_changes)}}}\n'
            )
            counts["delta"] += 1
    return counts


def main(argv: list[str] | None = None) -> None:
    """Command line: write one synthetic replay file."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--venues", type=int, default=5)
    p.add_argument("--symbols", type=int, default=10)
    p.add_argument("--deltas", type=int, default=50_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--depth", type=int, default=10)
    p.add_argument("--offset-sd", type=float, default=4.0)
    p.add_argument("--book-interval-ms", type=float, default=50.0)
    a = p.parse_args(argv)
    try:
        counts = generate(a.out, a.venues, a.symbols, a.deltas, seed=a.seed, depth=a.depth,
                          offset_sd=a.offset_sd, book_interval_ms=a.book_interval_ms)
    except ValueError as exc:
        p.error(str(exc))
    print(f"{a.out}: {counts}")


if __name__ == "__main__":
    main()
