"""Record live book streams to a replay file, and replay a file through the scanner on its own clock.

The format (ARCHITECTURE.md, "Replay file") is JSON Lines, plain or gzip-compressed, numbers as
strings, three line types::

    {"type": "market", "exchange": "kraken", "symbol": "BTC/USD", "taker_fee": "0.0026", "amount_step": "0.00000001",
     "price_step": "0.1", "min_amount": "0.0001", "min_cost": "0.5"}
    {"type": "balance", "exchange": "kraken", "asset": "USD", "free": "10000"}
    {"type": "book", "ts": 1690700000.123, "exchange": "kraken", "symbol": "BTC/USD", "snapshot": true,
     "bids": [["29430.2", "0.18967538"]], "asks": [["29430.3", "8.25215653"]]}

A ``book`` line with ``"snapshot": false`` is a delta: each level replaces that price's amount and
an amount of ``"0"`` deletes it. Lines are in time order. A book line may carry ``"received"``
(local receive time); unknown keys are ignored. Any malformed line raises ``ReplayFileError``
naming the file and line number.
"""

from __future__ import annotations

import bisect
import dataclasses
import gzip
import io
import json
import logging
import math
import os
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import IO, Any

from arbscan.errors import ReplayFileError
from arbscan.model import BookSnapshot, Level, Market
from arbscan.scanner import Scanner

__all__ = [
    "MarketEvent",
    "BalanceEvent",
    "BookEvent",
    "ReplayReader",
    "read_replay",
    "BookBuilder",
    "iter_books",
    "ReplayWriter",
    "write_replay",
    "run_replay",
    "ReplayResult",
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


Event = MarketEvent | BalanceEvent | BookEvent


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
    return io.TextIOWrapper(stream, encoding="utf-8", newline="\n"), raw


class ReplayReader:
    """Iterates the events of a replay file (plain or gzip), checking every line.

    ``line`` is the number of the last line read; ``fraction`` how much of the file (on disk) has
    been read, for a progress bar.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
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
        try:
            while True:
                try:
                    raw_line = text.readline()
                except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
                    self.line += 1
                    raise self._fail(f"compressed data is truncated or corrupt ({exc})") from None
                except UnicodeDecodeError:
                    self.line += 1
                    raise self._fail("not UTF-8 text") from None
                if not raw_line:
                    return
                self.line += 1
                if not raw_line.strip():
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
                elif kind == "balance":
                    yield BalanceEvent(
                        self._str(obj, "exchange").lower(),
                        self._str(obj, "asset").upper(),
                        self._dec(obj, "free"),
                        self.line,
                    )
                else:
                    raise self._fail(f"unknown line type {kind!r} (expected market, balance or book)")
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

    def _levels(self, obj: dict[str, Any], key: str, snapshot: bool) -> tuple[Level, ...]:
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
                        price = Decimal(p)
                        amount = Decimal(a)
                    except (InvalidOperation, ValueError):
                        pass
                    else:
                        if price.is_finite() and amount.is_finite() and price > 0 and amount >= 0:
                            out.append((price, amount))
                            continue
            if not isinstance(lvl, (list, tuple)) or len(lvl) != 2:
                raise self._fail(f"{key}[{i}] must be a [price, amount] pair, got {lvl!r}")
            price = self._num(lvl[0], f"{key}[{i}] price")
            amount = self._num(lvl[1], f"{key}[{i}] amount")
            if not price:
                raise self._fail(f"{key}[{i}] price must be positive")
            out.append((price, amount))
        return tuple(out)

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


def read_replay(path: str | Path) -> Iterator[Event]:
    """The events of a replay file in order (``MarketEvent``, ``BalanceEvent``, ``BookEvent``).

    Raises ``ReplayFileError`` naming the line number at the first malformed line.
    """
    return iter(ReplayReader(path))


# -- books from events -------------------------------------------------------------------------


class _Side:
    """One side of a mutable book: price -> amount plus the prices kept sorted ascending."""

    __slots__ = ("amounts", "prices", "descending")

    def __init__(self, descending: bool) -> None:
        self.amounts: dict[Decimal, Decimal] = {}
        self.prices: list[Decimal] = []
        self.descending = descending

    def clear(self) -> None:
        self.amounts.clear()
        self.prices.clear()

    def set_many(self, levels: Iterable[Level]) -> None:
        """Apply (price, amount) levels in order; amount 0 deletes (one call per side: the hot path)."""
        amounts, prices = self.amounts, self.prices
        for price, amount in levels:
            if amount:
                if price not in amounts:
                    bisect.insort(prices, price)
                amounts[price] = amount
            elif amounts.pop(price, None) is not None:
                del prices[bisect.bisect_left(prices, price)]

    def top(self, depth: int) -> tuple[Level, ...]:
        amounts = self.amounts
        if self.descending:
            prices = self.prices[-1 : -depth - 1 : -1] if depth else self.prices[::-1]
        else:
            prices = self.prices[:depth] if depth else self.prices
        return tuple([(p, amounts[p]) for p in prices])  # a list first: faster than a generator


class BookBuilder:
    """Rebuilds immutable ``BookSnapshot``s from book events (snapshots and deltas).

    ``depth`` limits each side of the snapshots handed out (0: every level), as a live adapter
    subscribed at that depth would.
    """

    def __init__(self, depth: int = 0) -> None:
        self.depth = depth
        self._books: dict[tuple[str, str], tuple[_Side, _Side]] = {}
        self._tops: dict[tuple[str, str], tuple[tuple[Level, ...], tuple[Level, ...]]] = {}  # last handed out
        self._warned_crossed: set[tuple[str, str]] = set()

    def apply(self, ev: BookEvent) -> BookSnapshot:
        """Apply one event and return the book after it."""
        key = (ev.exchange, ev.symbol)
        sides = self._books.get(key)
        if sides is None:
            sides = self._books[key] = (_Side(descending=True), _Side(descending=False))
        bids, asks = sides
        if ev.snapshot:
            bids.clear()
            asks.clear()
        bids.set_many(ev.bids)
        asks.set_many(ev.asks)
        # A delta that leaves a side untouched hands out that side's previous tuple again.
        prev = None if ev.snapshot else self._tops.get(key)
        top_bids = prev[0] if prev is not None and not ev.bids else bids.top(self.depth)
        top_asks = prev[1] if prev is not None and not ev.asks else asks.top(self.depth)
        self._tops[key] = (top_bids, top_asks)
        if top_bids and top_asks and top_bids[0][0] >= top_asks[0][0] and key not in self._warned_crossed:
            self._warned_crossed.add(key)
            logger.warning("line %d: %s %s book is crossed (bid %s >= ask %s)", ev.line, *key, top_bids[0][0], top_asks[0][0])
        # sorted, distinct, positive by construction: no need to re-validate
        return BookSnapshot.trusted(ev.exchange, ev.symbol, top_bids, top_asks, ev.ts, ev.received)


def iter_books(events: Iterable[Event], depth: int = 0) -> Iterator[BookSnapshot]:
    """Only the books of an event stream, rebuilt (for executors and tools that need no markets)."""
    builder = BookBuilder(depth)
    for ev in events:
        if isinstance(ev, BookEvent):
            yield builder.apply(ev)


# -- writing -----------------------------------------------------------------------------------


def _num_text(d: Decimal) -> str:
    return format(d, "f")


class ReplayWriter:
    """Writes a replay file (gzip when the name ends in ``.gz``); book lines are deltas after a snapshot.

    Venues' clocks disagree, so a book whose ``ts`` is earlier than the last line written is
    written at the last line's ``ts`` (the format requires time order); its ``received`` is kept.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            if self.path.suffix == ".gz":
                self._fh: IO[str] = gzip.open(self.path, "wt", encoding="utf-8", newline="\n")
            else:
                self._fh = open(self.path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        except OSError as exc:
            from arbscan.errors import BadInput

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
        """Flush and close the file (a gzip file gets its trailer); safe twice."""
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> ReplayWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


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


# -- replaying ---------------------------------------------------------------------------------


@dataclass(slots=True)
class ReplayResult:
    """What a replay did: lines read, book events fed, the scanner (funnels, counts), the wall time,
    and whether ``should_stop`` ended it early."""

    lines: int
    book_events: int
    scanner: Scanner
    seconds: float
    interrupted: bool = False


def with_fee_overrides(market: Market, overrides: Mapping[str, Decimal] | None) -> Market:
    """``market`` with its venue's configured ``taker_fee`` (``[[venues]] taker_fee``) when one is set."""
    if overrides and market.exchange in overrides:
        return dataclasses.replace(market, taker_fee=overrides[market.exchange])
    return market


def run_replay(
    path: str | Path,
    store: Any = None,
    *,
    min_net_bps: Decimal = Decimal(0),
    max_book_age_ms: int = 2000,
    depth: int = 0,
    balances: dict[str, dict[str, Decimal]] | None = None,
    listeners: Iterable[Any] = (),
    progress: Callable[[float, int], None] | None = None,
    progress_every: int = 500,
    stats_every: int = 0,
    stats_every_s: float = 5.0,
    should_stop: Callable[[], bool] | None = None,
    fee_overrides: Mapping[str, Decimal] | None = None,
) -> ReplayResult:
    """Run the scanner over a replay file on the file's clock (no sleeping).

    Balances from ``balance`` lines are added to ``balances``. On a malformed line the scanner is
    closed (open episodes end with reason ``end``, funnel written) and the ``ReplayFileError``
    propagates; everything journaled before it stays. ``progress(fraction, events)`` is called
    every ``progress_every`` book events. ``should_stop()`` is asked after every event (signal
    handlers set a flag it reads); when it says yes the replay ends cleanly with ``interrupted``.
    Funnel and feed statistics are journaled every ``stats_every_s`` seconds of the file's clock
    (as the live driver does every 5 s), and every ``stats_every`` book events when that is not 0.
    ``fee_overrides`` (exchange -> taker fee) replace the fees of the file's market lines: a
    recording replayed at your own fee tier.
    A count of events alone made a stats write rewrite nearly every route's row once files had
    many symbols (BENCHMARKS.md, the 1,000-symbol profile).
    """
    started = time.perf_counter()
    reader = ReplayReader(path)
    scanner = Scanner({}, store, min_net_bps=min_net_bps, max_book_age_ms=max_book_age_ms,
                      balances=balances, listeners=listeners)
    builder = BookBuilder(depth)
    book_events = 0
    interrupted = False
    throttle = getattr(store, "backpressure", None)
    stats_due: float | None = None  # file time of the next stats write
    try:
        for ev in reader:
            if should_stop is not None and should_stop():
                interrupted = True
                break
            if type(ev) is BookEvent:
                scanner.on_book_event(builder.apply(ev), ev.ts)
                book_events += 1
                if progress is not None and book_events % progress_every == 0:
                    progress(reader.fraction, book_events)
                if stats_due is None:
                    stats_due = ev.ts + stats_every_s
                if ev.ts >= stats_due or (stats_every and book_events % stats_every == 0):
                    scanner.write_stats()
                    stats_due = ev.ts + stats_every_s
                if throttle is not None and not book_events & 255:
                    throttle()  # let the journal's writer keep up: a crash loses only the last batch or two
            elif type(ev) is MarketEvent:
                scanner.add_market(with_fee_overrides(ev.market, fee_overrides))
            else:
                scanner.set_balance(ev.exchange, ev.asset, ev.free)
    finally:
        scanner.close()
    if progress is not None and not interrupted:
        progress(1.0, book_events)
    return ReplayResult(reader.line, book_events, scanner, time.perf_counter() - started, interrupted)
