"""The replay file format and its reader: every line checked, a malformed one named by its number.

The format (ARCHITECTURE.md, "Replay file") is JSON Lines, plain or gzip-compressed, numbers as
strings, three line types (and a fourth, optional one, below)::

    {"type": "market", "exchange": "kraken", "symbol": "BTC/USD", "taker_fee": "0.0026", "amount_step": "0.00000001",
     "price_step": "0.1", "min_amount": "0.0001", "min_cost": "0.5"}
    {"type": "balance", "exchange": "kraken", "asset": "USD", "free": "10000"}
    {"type": "book", "ts": 1690700000.123, "exchange": "kraken", "symbol": "BTC/USD", "snapshot": true,
     "bids": [["29430.2", "0.18967538"]], "asks": [["29430.3", "8.25215653"]]}

A ``book`` line with ``"snapshot": false`` is a delta: each level replaces that price's amount and
an amount of ``"0"`` deletes it. Lines are in time order. A book line may carry ``"received"``
(local receive time); unknown keys are ignored. Any malformed line raises ``ReplayFileError``
naming the file and line number. A book level whose numbers are numbers but cannot be meant
(negative, NaN, 1e26) is not malformed: it is read as it is, and the book gate
(``arbscan.booksanity``) refuses it while the replay goes on.

A ``currency`` line states a venue's funding facts for one asset from its place in the file on (it
replaces what was known about that venue and asset); a file without them replays as before::

    {"type": "currency", "ts": 1690700030.0, "exchange": "kraken", "asset": "BTC", "deposit": true,
     "withdraw": true, "networks": [{"network": "BTC", "deposit": true, "withdraw": false, "fee": "0.0002",
     "min": "0.0004", "deposit_fee": "0", "deposit_min": "0.0001", "confirmations": 3}]}

Everything but ``exchange``, ``asset`` and each network's ``network`` may be left out or null (not
stated: unknown). ``ts``, when given, must keep the file in time order.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import math
import os
import re
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import IO

from arbscan.errors import ReplayFileError
from arbscan.model import Balances
from arbscan.replay.lines import (BalanceEvent, BookEvent, CurrencyEvent, Event, ForeignBook, LineParser,
                                 MarketEvent)

__all__ = [
    "MarketEvent",
    "BalanceEvent",
    "BookEvent",
    "ForeignBook",
    "CurrencyEvent",
    "Event",
    "ReplayReader",
    "read_replay",
    "open_lines",
    "replay_header",
    "demo_path",
    "DEMO_FILE",
]

logger = logging.getLogger(__name__)

DEMO_FILE = "demo_bitmex_deribit_2019-04-01.jsonl.gz"
"""The bundled real recording (see ``arbscan/data/SOURCE.md``)."""

_GZIP_MAGIC = b"\x1f\x8b"


def demo_path() -> Path:
    """Path of the bundled demo recording inside the installed package."""
    return Path(str(resources.files("arbscan").joinpath("data", DEMO_FILE)))


_BOOK_HEAD = re.compile(r'\{"type": "book", "ts": ([0-9][0-9.eE+-]*), "exchange": "[^"\\]+", "symbol": "([^"\\]+)"')
"""The start of a book line as ``arbscan record`` (and ``bench/gen_replay.py``) write it: time and symbol."""


# -- reading -----------------------------------------------------------------------------------


def _open_text(path: Path) -> tuple[IO[str], IO[bytes]]:
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by the reader
    except FileNotFoundError:
        raise ReplayFileError(f"{path}: no such replay file") from None
    except OSError as exc:
        raise ReplayFileError(f"{path}: cannot be read ({exc.strerror})") from None
    head = raw.read(2)
    raw.seek(0)
    stream: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if head == _GZIP_MAGIC else raw
    # Bytes that are not UTF-8 become lone surrogates, found line by line (the decoder works in chunks,
    # so a decoding error would name the wrong line).
    return io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="\n"), raw


class ReplayReader:
    """Iterates the events of a replay file (plain or gzip), checking every line.

    ``line`` is the number of the last line read; ``fraction`` how much of the file (on disk) has
    been read, for a progress bar. With ``owns`` (symbol -> bool), the book lines of other symbols are
    yielded as :class:`ForeignBook` (their time only, still checked to be in time order): a line in
    the recorder's own layout is recognised without a JSON parse, any other is parsed and checked in
    full. Their levels, snapshot order and market are checked by the process that owns them.
    """

    def __init__(self, path: str | Path, *, owns: Callable[[str], bool] | None = None) -> None:
        self.path = Path(path)
        self._owns = owns
        self._parse = LineParser(self.path)
        self._size = 0
        self._raw: IO[bytes] | None = None

    @property
    def line(self) -> int:
        """The number of the last line read."""
        return self._parse.line

    @property
    def fraction(self) -> float:
        """Share of the file's bytes read so far (0..1)."""
        if self._raw is None or not self._size or self._raw.closed:
            return 0.0
        return min(1.0, self._raw.tell() / self._size)

    def __iter__(self) -> Iterator[Event]:
        text, self._raw = _open_text(self.path)
        try:
            self._size = os.fstat(self._raw.fileno()).st_size
        except OSError:
            self._size = 0
        markets: set[tuple[str, str]] = set()
        started: set[tuple[str, str]] = set()
        last_ts = -math.inf
        owns = self._owns
        head = _BOOK_HEAD.match
        parse = self._parse
        fail = parse.fail
        try:
            while True:
                try:
                    raw_line = text.readline()
                except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
                    parse.line += 1
                    raise fail(f"compressed data is truncated or corrupt ({exc})") from None
                if not raw_line:
                    return
                parse.line += 1
                if not raw_line.isascii():
                    try:
                        raw_line.encode("utf-8")
                    except UnicodeEncodeError:
                        raise fail("not UTF-8 text") from None
                if not raw_line.strip():
                    continue
                if owns is not None:
                    m = head(raw_line)
                    if m is not None and not owns(m.group(2).upper()):
                        try:
                            ts = float(m.group(1))
                        except ValueError:
                            pass  # not a plain number after all: the full parse below names the problem
                        else:
                            if ts < last_ts:
                                raise fail(f"ts {ts} goes back in time (previous {last_ts}); lines must be in time order")
                            last_ts = ts
                            yield ForeignBook(ts, parse.line)
                            continue
                try:
                    obj = json.loads(raw_line)
                except ValueError as exc:
                    raise fail(f"not valid JSON ({exc.msg})") from None
                if not isinstance(obj, dict):
                    raise fail("not a JSON object")
                kind = obj.get("type")
                if kind == "book":
                    ev = parse.book(obj)
                    if owns is not None and not owns(ev.symbol):
                        if ev.ts < last_ts:
                            raise fail(f"ts {ev.ts} goes back in time (previous {last_ts}); lines must be in time order")
                        last_ts = ev.ts
                        yield ForeignBook(ev.ts, parse.line)
                        continue
                    key = (ev.exchange, ev.symbol)
                    if key not in markets:
                        raise fail(f"book for {ev.exchange} {ev.symbol} before its market line")
                    if ev.snapshot:
                        started.add(key)
                    elif key not in started:
                        raise fail(f"delta for {ev.exchange} {ev.symbol} before its first snapshot")
                    if ev.ts < last_ts:
                        raise fail(f"ts {ev.ts} goes back in time (previous {last_ts}); lines must be in time order")
                    last_ts = ev.ts
                    yield ev
                elif kind == "market":
                    ev_m = parse.market(obj)
                    markets.add((ev_m.market.exchange, ev_m.market.symbol))
                    yield ev_m
                elif kind == "currency":
                    ev_c = parse.currency(obj)
                    if ev_c.ts is not None:
                        if ev_c.ts < last_ts:
                            raise fail(f"ts {ev_c.ts} goes back in time (previous {last_ts}); lines must be in time order")
                        last_ts = ev_c.ts
                    yield ev_c
                elif kind == "balance":
                    yield parse.balance(obj)
                else:
                    raise fail(f"unknown line type {kind!r} (expected market, balance, book or currency)")
        finally:
            text.close()
            self._raw.close()



@contextmanager
def open_lines(path: str | Path) -> Iterator[IO[str]]:
    """The raw text of a replay file (plain or gzip, recognised by content), for tools that only peek at it."""
    text, raw = _open_text(Path(path))
    try:
        yield text
    finally:
        text.close()
        raw.close()


def read_replay(path: str | Path) -> Iterator[Event]:
    """The events of a replay file in order (``MarketEvent``, ``BalanceEvent``, ``BookEvent``).

    Raises ``ReplayFileError`` naming the line number at the first malformed line.
    """
    return iter(ReplayReader(path))


def replay_header(path: str | Path) -> Balances:
    """The starting balances of a replay file: its ``balance`` lines before the first ``book`` line.

    Reads only up to the first book line. A malformed line there raises ``ReplayFileError``, as the
    replay itself would.
    """
    balances: Balances = {}
    for ev in ReplayReader(path):
        if isinstance(ev, BookEvent):
            break
        if isinstance(ev, BalanceEvent):
            balances.setdefault(ev.exchange, {})[ev.asset] = ev.free
    return balances
