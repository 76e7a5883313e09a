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
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import IO, Any

from arbscan.errors import ReplayFileError
from arbscan.funding import AssetFunding, NetworkFunding, network_code
from arbscan.model import Balances, Level, Market

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


# -- events ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarketEvent:
    """A ``market`` line: one venue's market with its fee, steps and minimums."""

    market: Market
    line: int


@dataclass(frozen=True, slots=True)
class BalanceEvent:
    """A ``balance`` line: the free amount of one asset on one venue (caps sizes)."""

    exchange: str
    asset: str
    free: Decimal
    line: int


@dataclass(frozen=True, slots=True)
class BookEvent:
    """A ``book`` line: a full snapshot or a delta (amount 0 deletes the level), levels as read."""

    ts: float
    exchange: str
    symbol: str
    snapshot: bool
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    received: float
    line: int


@dataclass(frozen=True, slots=True)
class ForeignBook:
    """A ``book`` line of a symbol another process owns: only its time, read without parsing the levels."""

    ts: float
    line: int


@dataclass(frozen=True, slots=True)
class CurrencyEvent:
    """A ``currency`` line: one venue's funding facts for one asset, from here on (``ts`` None: not given)."""

    ts: float | None
    facts: AssetFunding
    line: int


Event = MarketEvent | BalanceEvent | BookEvent | CurrencyEvent

_NETWORK_NUMBERS = (("fee", "withdraw_fee"), ("min", "withdraw_min"), ("deposit_fee", "deposit_fee"),
                    ("deposit_min", "deposit_min"))

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
        self.line = 0
        self._size = 0
        self._raw: IO[bytes] | None = None

    @property
    def fraction(self) -> float:
        """Share of the file's bytes read so far (0..1)."""
        if self._raw is None or not self._size or self._raw.closed:
            return 0.0
        return min(1.0, self._raw.tell() / self._size)

    def _fail(self, message: str) -> ReplayFileError:
        return ReplayFileError(f"{self.path}: line {self.line}: {message}")

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
        try:
            while True:
                try:
                    raw_line = text.readline()
                except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
                    self.line += 1
                    raise self._fail(f"compressed data is truncated or corrupt ({exc})") from None
                if not raw_line:
                    return
                self.line += 1
                if not raw_line.isascii():
                    try:
                        raw_line.encode("utf-8")
                    except UnicodeEncodeError:
                        raise self._fail("not UTF-8 text") from None
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
                                raise self._fail(f"ts {ts} goes back in time (previous {last_ts}); lines must be in time order")
                            last_ts = ts
                            yield ForeignBook(ts, self.line)
                            continue
                try:
                    obj = json.loads(raw_line)
                except ValueError as exc:
                    raise self._fail(f"not valid JSON ({exc.msg})") from None
                if not isinstance(obj, dict):
                    raise self._fail("not a JSON object")
                kind = obj.get("type")
                if kind == "book":
                    ev = self._book(obj)
                    if owns is not None and not owns(ev.symbol):
                        if ev.ts < last_ts:
                            raise self._fail(f"ts {ev.ts} goes back in time (previous {last_ts}); lines must be in time order")
                        last_ts = ev.ts
                        yield ForeignBook(ev.ts, self.line)
                        continue
                    key = (ev.exchange, ev.symbol)
                    if key not in markets:
                        raise self._fail(f"book for {ev.exchange} {ev.symbol} before its market line")
                    if ev.snapshot:
                        started.add(key)
                    elif key not in started:
                        raise self._fail(f"delta for {ev.exchange} {ev.symbol} before its first snapshot")
                    if ev.ts < last_ts:
                        raise self._fail(f"ts {ev.ts} goes back in time (previous {last_ts}); lines must be in time order")
                    last_ts = ev.ts
                    yield ev
                elif kind == "market":
                    ev_m = self._market(obj)
                    markets.add((ev_m.market.exchange, ev_m.market.symbol))
                    yield ev_m
                elif kind == "currency":
                    ev_c = self._currency(obj)
                    if ev_c.ts is not None:
                        if ev_c.ts < last_ts:
                            raise self._fail(f"ts {ev_c.ts} goes back in time (previous {last_ts}); lines must be in time order")
                        last_ts = ev_c.ts
                    yield ev_c
                elif kind == "balance":
                    yield BalanceEvent(
                        self._str(obj, "exchange").lower(),
                        self._str(obj, "asset").upper(),
                        self._dec(obj, "free"),
                        self.line,
                    )
                else:
                    raise self._fail(f"unknown line type {kind!r} (expected market, balance, book or currency)")
        finally:
            text.close()
            self._raw.close()

    # -- field parsers ---------------------------------------------------------------------

    def _str(self, obj: dict[str, Any], key: str) -> str:
        value = obj.get(key)
        if not isinstance(value, str) or not value:
            raise self._fail(f"{key!r} must be a non-empty string, got {value!r}")
        return value

    def _num(self, value: Any, what: str) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self._fail(f"{what} must be a number as a string, got {value!r}")
        try:
            d = Decimal(repr(value) if isinstance(value, float) else value)
        except (InvalidOperation, ValueError):
            raise self._fail(f"{what} is not a number: {value!r}") from None
        if not d.is_finite() or d < 0:
            raise self._fail(f"{what} must be a finite, non-negative number, got {value!r}")
        return d

    def _dec(self, obj: dict[str, Any], key: str, default: Decimal | None = None) -> Decimal:
        if key not in obj:
            if default is not None:
                return default
            raise self._fail(f"missing {key!r}")
        return self._num(obj[key], repr(key))

    def _time(self, obj: dict[str, Any], key: str) -> float:
        value = obj.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise self._fail(f"{key!r} must be unix seconds, got {value!r}")
        try:
            t = float(value)
        except ValueError:
            raise self._fail(f"{key!r} must be unix seconds, got {value!r}") from None
        if not math.isfinite(t):
            raise self._fail(f"{key!r} must be finite, got {value!r}")
        return t

    def _market(self, obj: dict[str, Any]) -> MarketEvent:
        exchange = self._str(obj, "exchange").lower()
        symbol = self._str(obj, "symbol").upper()
        base, sep, quote = symbol.partition("/")
        if not sep or not base or not quote:
            raise self._fail(f"symbol {symbol!r} is not a unified symbol like 'BTC/USD'")
        try:
            market = Market(
                exchange,
                symbol,
                obj.get("base", base),
                obj.get("quote", quote),
                self._dec(obj, "taker_fee"),
                self._dec(obj, "amount_step"),
                self._dec(obj, "price_step"),
                self._dec(obj, "min_amount", Decimal(0)),
                self._dec(obj, "min_cost", Decimal(0)),
            )
        except (TypeError, ValueError) as exc:
            raise self._fail(str(exc)) from None
        return MarketEvent(market, self.line)

    def _level_num(self, value: Any, what: str) -> Decimal:
        """A level's number as read: anything that is a number, even NaN or negative (the book gate judges it)."""
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self._fail(f"{what} must be a number as a string, got {value!r}")
        try:
            return Decimal(repr(value) if isinstance(value, float) else value)
        except (InvalidOperation, ValueError):
            raise self._fail(f"{what} is not a number: {value!r}") from None

    def _levels(self, obj: dict[str, Any], key: str, snapshot: bool) -> tuple[Level, ...]:
        # Levels are read as they are: a number a price or an amount cannot mean (negative, NaN, 1e26) is a
        # glitch the book gate (arbscan.booksanity) refuses while the replay goes on; only a level that is
        # not a number at all makes the line malformed.
        raw = obj.get(key, [])
        if not isinstance(raw, list):
            raise self._fail(f"{key!r} must be a list of [price, amount] pairs")
        out = []
        for i, lvl in enumerate(raw):
            # Fast path for the format's own shape, ["price", "amount"] as strings; anything else (or
            # anything it would reject) takes the checked path below, which names the problem.
            if type(lvl) is list and len(lvl) == 2:
                p, a = lvl
                if type(p) is str and type(a) is str:
                    try:
                        out.append((Decimal(p), Decimal(a)))
                        continue
                    except (InvalidOperation, ValueError):
                        pass
            if not isinstance(lvl, (list, tuple)) or len(lvl) != 2:
                raise self._fail(f"{key}[{i}] must be a [price, amount] pair, got {lvl!r}")
            out.append((self._level_num(lvl[0], f"{key}[{i}] price"), self._level_num(lvl[1], f"{key}[{i}] amount")))
        return tuple(out)

    def _flag(self, obj: dict[str, Any], key: str) -> bool | None:
        value = obj.get(key)
        if value is not None and not isinstance(value, bool):
            raise self._fail(f"{key!r} must be true, false or null, got {value!r}")
        return value

    def _network(self, i: int, obj: Any) -> NetworkFunding:
        if not isinstance(obj, dict):
            raise self._fail(f"networks[{i}] must be an object")
        code = obj.get("network")
        if not isinstance(code, str) or not code.strip():
            raise self._fail(f"networks[{i}]: 'network' must be a non-empty string, got {code!r}")
        numbers = {field: None if obj.get(key) is None else self._num(obj[key], f"networks[{i}] {key!r}")
                   for key, field in _NETWORK_NUMBERS}
        confirmations = obj.get("confirmations")
        if confirmations is not None and (isinstance(confirmations, bool) or not isinstance(confirmations, int)
                                          or confirmations < 0):
            raise self._fail(f"networks[{i}]: 'confirmations' must be a whole number, got {confirmations!r}")
        return NetworkFunding(network_code(code), self._flag(obj, "deposit"), self._flag(obj, "withdraw"),
                              confirmations=confirmations, **numbers)

    def _currency(self, obj: dict[str, Any]) -> CurrencyEvent:
        ts = self._time(obj, "ts") if obj.get("ts") is not None else None
        raw = obj.get("networks") or []
        if not isinstance(raw, list):
            raise self._fail("'networks' must be a list of objects")
        try:
            facts = AssetFunding(self._str(obj, "exchange").lower(), self._str(obj, "asset").upper(),
                                 tuple(self._network(i, n) for i, n in enumerate(raw)), self._flag(obj, "deposit"),
                                 self._flag(obj, "withdraw"), source="replay")
        except (TypeError, ValueError) as exc:
            raise self._fail(str(exc)) from None
        return CurrencyEvent(ts, facts, self.line)

    def _book(self, obj: dict[str, Any]) -> BookEvent:
        ts = self._time(obj, "ts")
        received = self._time(obj, "received") if "received" in obj else ts
        snapshot = obj.get("snapshot")
        if not isinstance(snapshot, bool):
            raise self._fail(f"'snapshot' must be true or false, got {snapshot!r}")
        return BookEvent(
            ts,
            self._str(obj, "exchange").lower(),
            self._str(obj, "symbol").upper(),
            snapshot,
            self._levels(obj, "bids", snapshot),
            self._levels(obj, "asks", snapshot),
            received,
            self.line,
        )


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
