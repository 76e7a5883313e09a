"""Kraken WebSocket v2 order book with CRC32 validation after every message.

https://docs.kraken.com/api/docs/guides/spot-ws-book-v2

Rules implemented (from Kraken's guide):

* a ``snapshot`` replaces the book; an ``update`` sets each level's quantity, quantity 0 deletes;
* levels of one message are applied in order, then each side is truncated to the subscribed depth;
* the checksum is CRC32 over the top 10 asks (lowest first) then the top 10 bids (highest first), each
  level contributing its price then its quantity, both formatted at the instrument's precision with
  the decimal point removed and leading zeros stripped.

Numbers may arrive as JSON numbers (floats once decoded: ``4.0`` or ``0.001`` lost their trailing
zeros), strings or Decimals, so every number is formatted at the instrument's precision before it is
used: the checksum text is exact without any Decimal arithmetic on the hot path. A float is only
trusted when its value times ``10**precision`` is below 2**52, where the nearest double is closer to the
true decimal than half a unit in the last place; beyond that the raw frame is decoded again with
exact number strings (and a decoded float dict is refused rather than guessed).

The book keeps, per level, the preformatted price and quantity strings and its checksum fragment, and
per side a sorted key list maintained with ``bisect``. Snapshots carry ``Decimal`` levels.
"""

from __future__ import annotations

import json
import logging
import time
from zlib import crc32
from bisect import bisect_left
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from arbscan.errors import BookIntegrityError, ChecksumMismatch, UnexpectedPayload
from arbscan.model import BookSnapshot

__all__ = ["KrakenBook", "ChecksumMismatch", "checksum_fragment", "EXCHANGE"]

log = logging.getLogger(__name__)

EXCHANGE = "kraken"
CHECKSUM_LEVELS = 10
_TWO_52 = float(2**52)
_now = time.time


class _Inexact(Exception):
    """A float too large to be formatted exactly at the precision (internal)."""


def checksum_fragment(price: str, qty: str) -> str:
    """One level's contribution to Kraken's checksum text, from its precision-formatted strings."""
    return price.replace(".", "").lstrip("0") + qty.replace(".", "").lstrip("0")


class KrakenBook:
    """One symbol's Kraken v2 book at a subscribed depth, validated against every message's checksum."""

    __slots__ = (
        "symbol",
        "depth",
        "price_precision",
        "qty_precision",
        "_pspec",
        "_qspec",
        "_pmax",
        "_qmax",
        "_bids",
        "_asks",
        "_bid_keys",
        "_ask_keys",
        "_bid_frags",
        "_ask_frags",
        "_ready",
        "_ts_text",
        "_received",
        "_decimals",
        "_bids_out",
        "_asks_out",
        "_ask_bytes",
        "_bid_bytes",
        "_ask_crc",
        "_pcache",
    )

    def __init__(self, symbol: str, depth: int, price_precision: int, qty_precision: int) -> None:
        if depth < 1:
            raise ValueError(f"{symbol}: depth must be positive, got {depth}")
        if price_precision < 0 or qty_precision < 0:
            raise ValueError(f"{symbol}: precisions must not be negative")
        self.symbol = symbol
        self.depth = depth
        self.price_precision = price_precision
        self.qty_precision = qty_precision
        self._pspec = f".{price_precision}f"
        self._qspec = f".{qty_precision}f"
        self._pmax = _TWO_52 / 10**price_precision
        self._qmax = _TWO_52 / 10**qty_precision
        # side maps: key -> (price_text, qty_text, checksum_fragment); keys are float prices, negated
        # for bids so that both key lists are ascending best-first.
        self._bids: dict[float, tuple[str, str, str]] = {}
        self._asks: dict[float, tuple[str, str, str]] = {}
        self._bid_keys: list[float] = []
        self._ask_keys: list[float] = []
        # checksum fragments in key order, parallel to the key lists (no dict lookups to join them)
        self._bid_frags: list[str] = []
        self._ask_frags: list[str] = []
        self._ready = False
        self._ts_text: str | None = None
        self._received = 0.0
        self._decimals: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
        # Decimal levels of each side as last published; None when the side changed since.
        self._bids_out: tuple | None = None
        self._asks_out: tuple | None = None
        # Checksum text of each side's top 10 (bytes) and the CRC32 of the asks part; the CRC of the
        # whole text is crc32(bid_bytes, ask_crc), so a message touching one side re-joins only it.
        self._ask_bytes = b""
        self._bid_bytes = b""
        self._ask_crc = 0
        # float price -> (price text, price fragment): prices recur far more often than they change.
        self._pcache: dict[float, tuple[str, str]] = {}

    # -- state ---------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """True once a snapshot validated and every message since did too."""
        return self._ready

    def clear(self) -> None:
        """Forget every level; the book waits for a fresh snapshot."""
        self._bids.clear()
        self._asks.clear()
        self._bid_keys.clear()
        self._ask_keys.clear()
        self._bid_frags.clear()
        self._ask_frags.clear()
        self._ready = False
        self._ts_text = None
        self._bids_out = None
        self._asks_out = None
        self._ask_bytes = b""
        self._bid_bytes = b""
        self._ask_crc = 0

    def checksum(self) -> int:
        """CRC32 of the book as it stands (Kraken's rule; see the module docstring)."""
        asks, bids = self._asks, self._bids
        parts = [asks[k][2] for k in self._ask_keys[:CHECKSUM_LEVELS]]
        parts += [bids[k][2] for k in self._bid_keys[:CHECKSUM_LEVELS]]
        return crc32("".join(parts).encode())

    # -- applying messages ---------------------------------------------------------------------

    def apply(self, message: Any, raw: str | bytes | None = None) -> None:
        """Apply one v2 ``book`` message (raw frame or decoded dict); raise ``ChecksumMismatch`` on disagreement.

        ``raw``: the frame a decoded ``message`` came from, if at hand; numbers too large for an exact
        float are then read again from it instead of being refused.
        """
        if isinstance(message, (str, bytes, bytearray, memoryview)):
            try:
                decoded = orjson.loads(message)
            except orjson.JSONDecodeError as exc:
                raise UnexpectedPayload(f"{self.symbol}: book frame is not JSON ({exc})") from None
            try:
                self._apply_decoded(decoded)
            except _Inexact:
                self._apply_decoded(_exact_decode(message))
        else:
            try:
                self._apply_decoded(message)
            except _Inexact:
                if raw is not None:
                    self._apply_decoded(_exact_decode(raw))
                    return
                raise UnexpectedPayload(
                    f"{self.symbol}: float too large to format exactly at the instrument precision; "
                    "pass the raw frame or decode numbers as Decimal"
                ) from None

    def _apply_decoded(self, message: Any) -> None:
        try:
            kind = message["type"]
            entries = message["data"]
        except (TypeError, KeyError, IndexError):
            raise UnexpectedPayload(f"{self.symbol}: not a book message") from None
        if kind == "update":
            snapshot = False
        elif kind == "snapshot":
            snapshot = True
        else:
            raise UnexpectedPayload(f"{self.symbol}: unknown book message type {kind!r}")
        if type(entries) is not list:
            raise UnexpectedPayload(f"{self.symbol}: book data is not a list")
        for entry in entries:
            # Parse everything before touching the book, so a malformed message changes nothing.
            try:
                if entry["symbol"] != self.symbol:
                    continue  # another book's entry in a multi-symbol message
                raw_bids = entry["bids"]
                raw_asks = entry["asks"]
                bids = _parse_side(raw_bids, True, self._pspec, self._qspec, self._pmax, self._qmax,
                                   self._pcache) if raw_bids else ()
                asks = _parse_side(raw_asks, False, self._pspec, self._qspec, self._pmax, self._qmax,
                                   self._pcache) if raw_asks else ()
                expected = entry["checksum"]
                if type(expected) is not int:
                    expected = int(expected)
            except _Inexact:
                raise
            except (TypeError, KeyError, ValueError, ArithmeticError) as exc:
                raise UnexpectedPayload(f"{self.symbol}: malformed book entry ({exc!r})") from None
            if snapshot:
                self.clear()
            elif not self._ready:
                raise BookIntegrityError(f"{self.symbol}: update before a validated snapshot")
            depth = self.depth
            if asks:
                self._asks_out = None
                ask_keys, ask_frags = self._ask_keys, self._ask_frags
                _set_levels(self._asks, ask_keys, ask_frags, asks)
                if len(ask_keys) > depth:
                    ask_side = self._asks
                    for key in ask_keys[depth:]:
                        del ask_side[key]
                    del ask_keys[depth:]
                    del ask_frags[depth:]
                self._ask_bytes = "".join(ask_frags[:CHECKSUM_LEVELS]).encode()
                self._ask_crc = crc32(self._ask_bytes)
            if bids:
                self._bids_out = None
                bid_keys, bid_frags = self._bid_keys, self._bid_frags
                _set_levels(self._bids, bid_keys, bid_frags, bids)
                if len(bid_keys) > depth:
                    bid_side = self._bids
                    for key in bid_keys[depth:]:
                        del bid_side[key]
                    del bid_keys[depth:]
                    del bid_frags[depth:]
                self._bid_bytes = "".join(bid_frags[:CHECKSUM_LEVELS]).encode()
            computed = crc32(self._bid_bytes, self._ask_crc)
            if computed != expected:
                self.clear()
                raise ChecksumMismatch(self.symbol, expected, computed)
            self._ready = True
            self._received = _now()
            self._ts_text = entry.get("timestamp")

    # -- output --------------------------------------------------------------------------------

    def snapshot(self) -> BookSnapshot:
        """The validated book as an immutable ``BookSnapshot`` with ``Decimal`` levels."""
        if not self._ready:
            raise BookIntegrityError(f"{self.symbol}: no validated book yet")
        cache = self._decimals
        if len(cache) > 8 * self.depth + 64:
            cache.clear()

        def levels(side: dict[float, tuple[str, str, str]], keys: list[float]) -> tuple:
            out = []
            for key in keys:
                ptext, qtext, _ = side[key]
                pair = cache.get((ptext, qtext))
                if pair is None:
                    pair = cache[(ptext, qtext)] = (Decimal(ptext), Decimal(qtext))
                out.append(pair)
            return tuple(out)

        if self._bids_out is None:
            self._bids_out = levels(self._bids, self._bid_keys)
        if self._asks_out is None:
            self._asks_out = levels(self._asks, self._ask_keys)
        ts = self._received
        if self._ts_text:
            try:
                ts = datetime.fromisoformat(self._ts_text).timestamp()
            except (TypeError, ValueError):
                log.debug("%s: unparsable book timestamp %r", self.symbol, self._ts_text)
        return BookSnapshot.trusted(
            EXCHANGE,
            self.symbol,
            self._bids_out,
            self._asks_out,
            ts,
            self._received,
        )


def _parse_side(levels: Any, bids: bool, pspec: str, qspec: str, pmax: float, qmax: float,
            pcache: dict[float, tuple[str, str]]) -> list[tuple[float, tuple[str, str, str] | None]]:
    """Each level as (key, (price_text, qty_text, fragment)) or (key, None) for a delete.

    Prices and quantities are formatted at the pair's precision (floats through ``pcache``); a number
    too large to be exact as a float raises ``_Inexact``, an impossible one ``ValueError``.
    """
    out = []
    for level in levels:
        price = level["price"]
        qty = level["qty"]
        tp = type(price)
        if tp is float:
            cached = pcache.get(price)
            if cached is None:
                if not 0.0 < price < pmax:
                    if price >= pmax:
                        raise _Inexact
                    raise ValueError(f"price {price!r}")
                ptext = format(price, pspec)
                if len(pcache) > 4096:
                    pcache.clear()
                cached = pcache[price] = (ptext, ptext.replace(".", "").lstrip("0"))
            ptext, pfrag = cached
            key = price
        else:
            if tp is str:
                ptext = format(Decimal(price), pspec)
            elif tp is Decimal or tp is int:
                ptext = format(price, pspec)
            else:
                raise ValueError(f"price {price!r}")
            key = float(ptext)
            if not key > 0:
                raise ValueError(f"price {ptext}")
            pfrag = ptext.replace(".", "").lstrip("0")
        tq = type(qty)
        if tq is float:
            if qty >= qmax:
                raise _Inexact
            qtext = format(qty, qspec)
        elif tq is str:
            qtext = format(Decimal(qty), qspec)
        elif tq is Decimal or tq is int:
            qtext = format(qty, qspec)
        else:
            raise ValueError(f"qty {qty!r}")
        if bids:
            key = -key
        qdigits = qtext.replace(".", "").lstrip("0")
        if not qdigits:
            out.append((key, None))
        elif qdigits[0] == "-":
            raise ValueError(f"qty {qtext}")
        else:
            out.append((key, (ptext, qtext, pfrag + qdigits)))
    return out


def _set_levels(
    side: dict[float, tuple[str, str, str]],
    keys: list[float],
    frags: list[str],
    levels: list[tuple[float, tuple[str, str, str] | None]],
) -> None:
    for key, value in levels:
        if value is None:
            if key in side:
                del side[key]
                i = bisect_left(keys, key)
                del keys[i]
                del frags[i]
        else:
            i = bisect_left(keys, key)
            if key in side:
                frags[i] = value[2]
            else:
                keys.insert(i, key)
                frags.insert(i, value[2])
            side[key] = value


def _exact_decode(message: str | bytes | bytearray | memoryview) -> Any:
    """Decode a frame with every number kept as its exact text (the slow, exact path)."""
    if isinstance(message, memoryview):
        message = message.tobytes()
    return json.loads(message, parse_float=Decimal, parse_int=int)
