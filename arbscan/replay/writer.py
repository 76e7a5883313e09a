"""Writing replay files: :class:`ReplayWriter` (snapshots, then deltas) and the listener ``arbscan record`` uses.

The format is ``arbscan.replay.reader``'s.
"""

from __future__ import annotations

import json
import math
import os
import struct
import time
import zlib
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from arbscan.errors import BadInput, WriteFailed
from arbscan.funding.facts import AssetFunding
from arbscan.model import BookSnapshot, Market, Opportunity

__all__ = ["ReplayWriter", "write_replay", "BookRecorder"]


def _num_text(d: Decimal) -> str:
    return format(d, "f")


SYNC_BYTES = 64 * 1024
"""Text gathered before it is written out (a gzip file: compressed up to a byte boundary, ``Z_SYNC_FLUSH``)."""

_GZIP_END = b"\x03\x00"
"""An empty final deflate block (fixed Huffman, end of block): ends a stream cut at a sync flush."""


class ReplayWriter:
    """Writes a replay file (gzip when the name ends in ``.gz``); book lines are deltas after a snapshot.

    Lines go to a temporary file beside ``path`` (``<name>.<pid>.part``); :meth:`close` renames it into
    place, so ``path`` is never a half-written file and an existing file there is replaced only by a
    complete one. :meth:`discard` removes the temporary file instead, :meth:`abandon` leaves it.
    Venues' clocks disagree, so a book whose ``ts`` is earlier than the last line written is
    written at the last line's ``ts`` (the format requires time order); its ``received`` is kept.

    Whole lines are written out every :data:`SYNC_BYTES` of text (and at :meth:`flush`). The first write
    that fails (a full disk) ends the recording: the ``.part`` file is cut back to the last whole line
    written out and, for gzip, finished as a complete gzip member, so it replays; ``failure`` holds the
    one-line ``WriteFailed``, ``on_failure`` (if set) is called with the cause, and later lines are dropped.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise BadInput(f"cannot write {str(self.path)!r}: it is a directory")
        self.part = self.path.with_name(f"{self.path.name}.{os.getpid()}.part")
        self._gzip = self.path.suffix == ".gz"
        try:
            self._fd: int | None = os.open(self.part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as exc:
            raise BadInput(f"cannot write {str(self.path)!r}: {exc.strerror}") from None
        self._pending: list[bytes] = []  # encoded lines not yet written out
        self._pending_bytes = 0
        self._lines = 0  # whole lines written out
        self._crc = 0  # of every line written out (gzip)
        self._size = 0
        self._offset = 0  # bytes of the file written so far
        self._synced: list[tuple[int, int, int, int]] = []  # (offset, crc, size, lines) at each point written out
        self._zip = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS) if self._gzip else None
        self.failure: WriteFailed | None = None
        self.on_failure: Any = None
        self._last: dict[tuple[str, str], tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]] = {}
        self._last_ts = -math.inf
        self.books = 0
        header = struct.pack("<BBBBIBB", 0x1F, 0x8B, 8, 0, int(time.time()), 0, 255) if self._gzip else b""
        try:
            self._out(header)
        except OSError as exc:  # a disk already full: leave nothing behind
            os.close(self._fd)
            self._fd = None
            self.part.unlink(missing_ok=True)
            raise BadInput(f"cannot write {str(self.path)!r}: {exc.strerror}") from None
        self._synced.append((self._offset, 0, 0, 0))

    def _out(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            self._offset += n
            view = view[n:]

    def _sync(self) -> None:
        """Write out the gathered whole lines; on a failure, end the file at the last point written out."""
        if self.failure is not None or self._fd is None or not self._pending:
            return
        data = b"".join(self._pending)
        lines = len(self._pending)
        self._pending, self._pending_bytes = [], 0
        crc, size = self._crc, self._size
        if self._zip is not None:
            crc, size = zlib.crc32(data, crc), size + len(data)
            data = self._zip.compress(data) + self._zip.flush(zlib.Z_SYNC_FLUSH)
        try:
            self._out(data)
        except OSError as exc:
            self._fail(exc)
            return
        self._crc, self._size, self._lines = crc, size, self._lines + lines
        self._synced.append((self._offset, crc, size, self._lines))
        del self._synced[:-64]

    def _fail(self, exc: OSError) -> None:
        """Cut the file back to the last point written out and finish it there (further back if even that fails)."""
        kept = None
        for offset, crc, size, lines in reversed(self._synced):
            try:
                os.ftruncate(self._fd, offset)
                os.lseek(self._fd, offset, os.SEEK_SET)
                self._offset = offset
                if self._gzip:
                    self._out(_GZIP_END + struct.pack("<II", crc, size & 0xFFFFFFFF))
                kept = lines
                break
            except OSError:
                continue  # the end does not fit: an earlier point frees a block
        what = (f"{str(self.part)!r} keeps the {kept:,} whole lines written before it (a complete file that replays)"
                if kept is not None else f"{str(self.part)!r} could not be finished")
        self.failure = WriteFailed(f"recording {str(self.path)!r}: a write failed: {exc.strerror or exc}; the recording "
                                   f"stopped at the first failed write: {what}; {str(self.path)!r} was not touched")
        self._close_fd()
        if self.on_failure is not None:
            self.on_failure(exc)

    def _close_fd(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None

    @property
    def lines(self) -> int:
        """Whole lines in the file so far (written out)."""
        return self._lines

    def _write(self, obj: dict[str, Any]) -> None:
        if self.failure is not None or self._fd is None:
            return  # the recording ended at its first failed write
        data = (json.dumps(obj, separators=(", ", ": ")) + "\n").encode("utf-8")
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes >= SYNC_BYTES:
            self._sync()

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
        """Write out the gathered lines (a gzip file: compressed up to a byte boundary)."""
        self._sync()

    def _finish(self) -> bool:
        """Write out the rest and, for a gzip file, its trailer; True when the file is open and complete."""
        if self._fd is None or self.failure is not None:
            return False
        self._sync()
        if self.failure is None and self._zip is not None:
            try:
                self._out(self._zip.flush(zlib.Z_FINISH) + struct.pack("<II", self._crc, self._size & 0xFFFFFFFF))
            except OSError as exc:
                self._fail(exc)
        return self.failure is None

    def close(self) -> None:
        """Write out the rest and finish the file (a gzip file gets its trailer), then rename it into place; safe twice.

        Raises the ``WriteFailed`` when the recording ended at a failed write (``path`` is then untouched)."""
        if self._finish():
            self._close_fd()
            os.replace(self.part, self.path)
        self._close_fd()
        if self.failure is not None:
            raise self.failure

    def discard(self) -> None:
        """Close and delete the temporary file: ``path`` is left as it was."""
        if self._fd is not None or self.failure is not None:
            self._close_fd()
            self.part.unlink(missing_ok=True)

    def abandon(self) -> Path:
        """Finish the temporary file as a complete file and leave it where it is (``path`` untouched); returns its path."""
        self._finish()
        self._close_fd()
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
