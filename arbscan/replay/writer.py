"""Writing replay files: :class:`ReplayWriter` (snapshots, then deltas) and the listener ``arbscan record`` uses.

The format is ``arbscan.replay.reader``'s.
"""

from __future__ import annotations

import gzip
import json
import math
import os
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from arbscan.errors import BadInput
from arbscan.funding.facts import AssetFunding
from arbscan.model import BookSnapshot, Market, Opportunity

__all__ = ["ReplayWriter", "write_replay", "BookRecorder"]


def _num_text(d: Decimal) -> str:
    return format(d, "f")


class ReplayWriter:
    """Writes a replay file (gzip when the name ends in ``.gz``); book lines are deltas after a snapshot.

    Lines go to a temporary file beside ``path`` (``<name>.<pid>.part``); :meth:`close` renames it into
    place, so ``path`` is never a half-written file and an existing file there is replaced only by a
    complete one. :meth:`discard` removes the temporary file instead, :meth:`abandon` leaves it.
    Venues' clocks disagree, so a book whose ``ts`` is earlier than the last line written is
    written at the last line's ``ts`` (the format requires time order); its ``received`` is kept.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise BadInput(f"cannot write {str(self.path)!r}: it is a directory")
        self.part = self.path.with_name(f"{self.path.name}.{os.getpid()}.part")
        try:
            if self.path.suffix == ".gz":
                self._fh: IO[str] = gzip.open(self.part, "wt", encoding="utf-8", newline="\n")
            else:
                self._fh = open(self.part, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        except OSError as exc:
            raise BadInput(f"cannot write {str(self.path)!r}: {exc.strerror}") from None
        self._last: dict[tuple[str, str], tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]] = {}
        self._last_ts = -math.inf
        self.books = 0

    def _write(self, obj: dict[str, Any]) -> None:
        self._fh.write(json.dumps(obj, separators=(", ", ": ")) + "\n")

    def write_market(self, m: Market) -> None:
        """Write a ``market`` line."""
        self._write(
            {
                "type": "market",
                "exchange": m.exchange,
                "symbol": m.symbol,
                "taker_fee": _num_text(m.taker_fee),
                "amount_step": _num_text(m.amount_step),
                "price_step": _num_text(m.price_step),
                "min_amount": _num_text(m.min_amount),
                "min_cost": _num_text(m.min_cost),
            }
        )

    def write_balance(self, exchange: str, asset: str, free: Decimal) -> None:
        """Write a ``balance`` line."""
        self._write({"type": "balance", "exchange": exchange, "asset": asset, "free": _num_text(free)})

    def write_currency(self, facts: AssetFunding, ts: float | None = None) -> None:
        """Write a ``currency`` line: one venue's funding facts for one asset (unstated facts are left out)."""
        line: dict[str, Any] = {"type": "currency"}
        if ts is not None:
            ts = ts if ts >= self._last_ts else self._last_ts
            self._last_ts = ts
            line["ts"] = ts
        line.update(exchange=facts.exchange, asset=facts.asset)
        for key in ("deposit", "withdraw"):
            if getattr(facts, key) is not None:
                line[key] = getattr(facts, key)
        networks = []
        for n in facts.networks:
            net: dict[str, Any] = {"network": n.network}
            for key, value in (("deposit", n.deposit), ("withdraw", n.withdraw), ("fee", n.withdraw_fee),
                               ("min", n.withdraw_min), ("deposit_fee", n.deposit_fee), ("deposit_min", n.deposit_min),
                               ("confirmations", n.confirmations)):
                if value is not None:
                    net[key] = _num_text(value) if isinstance(value, Decimal) else value
            networks.append(net)
        line["networks"] = networks
        self._write(line)

    def write_book(self, book: BookSnapshot) -> None:
        """Write a book: a snapshot the first time for its (exchange, symbol), then deltas."""
        key = (book.exchange, book.symbol)
        bids = dict(book.bids)
        asks = dict(book.asks)
        prev = self._last.get(key)
        ts = book.ts if book.ts >= self._last_ts else self._last_ts
        self._last_ts = ts
        line: dict[str, Any] = {"type": "book", "ts": ts, "exchange": book.exchange, "symbol": book.symbol}
        if prev is None:
            line["snapshot"] = True
            line["bids"] = [[_num_text(p), _num_text(a)] for p, a in book.bids]
            line["asks"] = [[_num_text(p), _num_text(a)] for p, a in book.asks]
        else:
            line["snapshot"] = False
            line["bids"] = _diff(prev[0], bids, reverse=True)
            line["asks"] = _diff(prev[1], asks, reverse=False)
        if book.received != ts:
            line["received"] = book.received
        self._last[key] = (bids, asks)
        self._write(line)
        self.books += 1

    def flush(self) -> None:
        """Flush buffered lines to the file."""
        self._fh.flush()

    def close(self) -> None:
        """Flush and close the file (a gzip file gets its trailer), then rename it into place; safe twice."""
        if not self._fh.closed:
            self._fh.close()
            os.replace(self.part, self.path)

    def discard(self) -> None:
        """Close and delete the temporary file: ``path`` is left as it was."""
        if not self._fh.closed:
            self._fh.close()
            self.part.unlink(missing_ok=True)

    def abandon(self) -> Path:
        """Close the temporary file and leave it where it is (``path`` untouched); returns its path."""
        if not self._fh.closed:
            self._fh.close()
        return self.part

    def __enter__(self) -> ReplayWriter:
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()


def _diff(old: dict[Decimal, Decimal], new: dict[Decimal, Decimal], reverse: bool) -> list[list[str]]:
    changes = {p: a for p, a in new.items() if old.get(p) != a}
    for p in old:
        if p not in new:
            changes[p] = Decimal(0)
    return [[_num_text(p), _num_text(changes[p])] for p in sorted(changes, reverse=reverse)]


def write_replay(path: str | Path, markets: Iterable[Market], books: Iterable[BookSnapshot],
                 balances: Iterable[tuple[str, str, Decimal]] = ()) -> int:
    """Write a whole replay file from markets, optional (exchange, asset, free) balances and books; returns books written."""
    with ReplayWriter(path) as w:
        for m in markets:
            w.write_market(m)
        for exchange, asset, free in balances:
            w.write_balance(exchange, asset, free)
        for b in books:
            w.write_book(b)
        return w.books


class BookRecorder:
    """Scanner listener that writes each book (and its market, first) and each set of funding facts to a replay file."""

    def __init__(self, writer: Any, markets: Mapping[tuple[str, str], Market]) -> None:
        self.writer = writer
        self.markets = markets
        self.written: set[tuple[str, str]] = set()

    def on_book(self, book: BookSnapshot, t: float) -> None:
        """Write the book (its market line first, the first time)."""
        key = (book.exchange, book.symbol)
        if key not in self.written:
            self.writer.write_market(self.markets[key])
            self.written.add(key)
        self.writer.write_book(book)

    def on_funding(self, facts: AssetFunding, t: float | None) -> None:
        """Write a ``currency`` line with the venue's new funding facts."""
        self.writer.write_currency(facts, t)

    def on_opportunity(self, opp: Opportunity, t: float) -> None:
        """Nothing: a recording keeps books and funding facts only."""
