"""Convert the Tardis.dev BitMEX/Deribit sample minute into arbscan's replay format (the bundled demo).

Usage::

    python tools/convert_tardis.py ../shared/realdata/multi/bitmex-XBTUSD_deribit-BTC-PERPETUAL_2019-04-01T00-00_00-01.ndjson \
        arbscan/data/demo_bitmex_deribit_2019-04-01.jsonl.gz

What it does (the reasons are in ``arbscan/data/SOURCE.md``):

* keeps the ``book_change`` lines in the file's order (receive order) and drops ``trade`` lines;
* maps BitMEX ``XBTUSD`` and Deribit ``BTC-PERPETUAL`` to the unified symbol ``BTC/USD`` so they form a route;
* ``ts`` is the line's ``localTimestamp`` (receive time): Tardis gives BitMEX book changes no venue
  time (their ``timestamp`` equals ``localTimestamp``), so receive time is the one clock both venues share;
* amounts are USD notional (contracts of 1 USD on BitMEX, 10 USD on Deribit): each level's BTC
  amount is ``usd / price`` rounded to 8 decimals; an amount of 0 stays 0 (delete the level);
* writes one ``market`` line per venue with the 2019 taker fee (0.075 % on both), the observed price
  steps (BitMEX 0.5, Deribit 0.25) and one contract as the minimum notional; no ``balance`` lines.
"""

from __future__ import annotations

import gzip
import io
import json
import sys
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

SATOSHI = Decimal("0.00000001")

# venue -> (venue symbol, market line). Sources for the fees are in arbscan/data/SOURCE.md.
MARKETS = {
    "bitmex": (
        "XBTUSD",
        {"type": "market", "exchange": "bitmex", "symbol": "BTC/USD", "taker_fee": "0.00075",
         "amount_step": "0.00000001", "price_step": "0.5", "min_amount": "0", "min_cost": "1"},
    ),
    "deribit": (
        "BTC-PERPETUAL",
        {"type": "market", "exchange": "deribit", "symbol": "BTC/USD", "taker_fee": "0.00075",
         "amount_step": "0.00000001", "price_step": "0.25", "min_amount": "0", "min_cost": "10"},
    ),
}


def unix_seconds(iso: str) -> float:
    """``2019-04-01T00:00:00.336230Z`` as unix seconds, to the microsecond."""
    dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return round(dt.timestamp(), 6)


def to_decimal(x: int | float) -> Decimal:
    """A JSON number as the Decimal its text denotes (never a binary expansion)."""
    return Decimal(repr(x)) if isinstance(x, float) else Decimal(x)


def level(entry: dict) -> list[str]:
    """A Tardis ``{price, amount}`` level (amount in USD) as a replay ``[price, btc_amount]`` pair."""
    price = to_decimal(entry["price"])
    usd = to_decimal(entry["amount"])
    btc = (usd / price).quantize(SATOSHI, rounding=ROUND_HALF_EVEN) if usd else Decimal(0)
    return [format(price, "f"), format(btc, "f")]


def convert(src: Path, dst: Path) -> dict[str, int]:
    """Write the replay file; returns counts of what was written and skipped."""
    counts = {"book": 0, "trade_skipped": 0, "delta_before_snapshot_skipped": 0}
    started: set[str] = set()
    if dst.suffix == ".gz":  # mtime 0: the same input always gives the same bytes
        out = io.TextIOWrapper(gzip.GzipFile(dst, "wb", mtime=0), encoding="utf-8", newline="\n")
    else:
        out = open(dst, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
    with open(src, encoding="utf-8") as fin, out as fout:
        for _, market in MARKETS.values():
            fout.write(json.dumps(market) + "\n")
        for raw in fin:
            msg = json.loads(raw)
            if msg["type"] != "book_change":
                counts["trade_skipped"] += 1
                continue
            venue = msg["exchange"]
            if msg["symbol"] != MARKETS[venue][0]:
                raise ValueError(f"unexpected symbol {msg['symbol']!r} for {venue}")
            if msg["isSnapshot"]:
                started.add(venue)
            elif venue not in started:
                counts["delta_before_snapshot_skipped"] += 1
                continue
            line = {
                "type": "book",
                "ts": unix_seconds(msg["localTimestamp"]),
                "exchange": venue,
                "symbol": "BTC/USD",
                "snapshot": bool(msg["isSnapshot"]),
                "bids": [level(e) for e in msg["bids"]],
                "asks": [level(e) for e in msg["asks"]],
            }
            fout.write(json.dumps(line) + "\n")
            counts["book"] += 1
    return counts


def main(argv: list[str]) -> int:
    """Command-line entry: ``convert_tardis.py SRC DST``."""
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    counts = convert(Path(argv[0]), Path(argv[1]))
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
