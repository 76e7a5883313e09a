"""One line of a replay file, parsed and checked: the events it becomes and the rules for its fields.

The file's format is described in ``arbscan.replay.reader``, whose reader adds the rules between lines
(time order, a market before its books, a snapshot before its deltas). A field that breaks a rule
raises ``ReplayFileError`` naming the file and the line number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from arbscan.errors import ReplayFileError
from arbscan.funding.facts import AssetFunding, NetworkFunding, network_code
from arbscan.model import Level, Market

__all__ = ["MarketEvent", "BalanceEvent", "BookEvent", "ForeignBook", "CurrencyEvent", "Event", "LineParser"]

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


class LineParser:
    """Turns one JSON object of a replay file into its event; ``line`` is the number errors name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.line = 0

    def fail(self, message: str) -> ReplayFileError:
        """The error for ``message`` at the current line."""
        return ReplayFileError(f"{self.path}: line {self.line}: {message}")

    def balance(self, obj: dict[str, Any]) -> BalanceEvent:
        """A ``balance`` line's event."""
        return BalanceEvent(self._str(obj, "exchange").lower(), self._str(obj, "asset").upper(),
                            self._dec(obj, "free"), self.line)

    def _str(self, obj: dict[str, Any], key: str) -> str:
        value = obj.get(key)
        if not isinstance(value, str) or not value:
            raise self.fail(f"{key!r} must be a non-empty string, got {value!r}")
        return value

    def _num(self, value: Any, what: str) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.fail(f"{what} must be a number as a string, got {value!r}")
        try:
            d = Decimal(repr(value) if isinstance(value, float) else value)
        except (InvalidOperation, ValueError):
            raise self.fail(f"{what} is not a number: {value!r}") from None
        if not d.is_finite() or d < 0:
            raise self.fail(f"{what} must be a finite, non-negative number, got {value!r}")
        return d

    def _dec(self, obj: dict[str, Any], key: str, default: Decimal | None = None) -> Decimal:
        if key not in obj:
            if default is not None:
                return default
            raise self.fail(f"missing {key!r}")
        return self._num(obj[key], repr(key))

    def _time(self, obj: dict[str, Any], key: str) -> float:
        value = obj.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise self.fail(f"{key!r} must be unix seconds, got {value!r}")
        try:
            t = float(value)
        except ValueError:
            raise self.fail(f"{key!r} must be unix seconds, got {value!r}") from None
        if not math.isfinite(t):
            raise self.fail(f"{key!r} must be finite, got {value!r}")
        return t

    def market(self, obj: dict[str, Any]) -> MarketEvent:
        """A ``market`` line's event."""
        exchange = self._str(obj, "exchange").lower()
        symbol = self._str(obj, "symbol").upper()
        base, sep, quote = symbol.partition("/")
        if not sep or not base or not quote:
            raise self.fail(f"symbol {symbol!r} is not a unified symbol like 'BTC/USD'")
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
            raise self.fail(str(exc)) from None
        return MarketEvent(market, self.line)

    def _level_num(self, value: Any, what: str) -> Decimal:
        """A level's number as read: anything that is a number, even NaN or negative (the book gate judges it)."""
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.fail(f"{what} must be a number as a string, got {value!r}")
        try:
            return Decimal(repr(value) if isinstance(value, float) else value)
        except (InvalidOperation, ValueError):
            raise self.fail(f"{what} is not a number: {value!r}") from None

    def _levels(self, obj: dict[str, Any], key: str, snapshot: bool) -> tuple[Level, ...]:
        # Levels are read as they are: a number a price or an amount cannot mean (negative, NaN, 1e26) is a
        # glitch the book gate (arbscan.booksanity) refuses while the replay goes on; only a level that is
        # not a number at all makes the line malformed.
        raw = obj.get(key, [])
        if not isinstance(raw, list):
            raise self.fail(f"{key!r} must be a list of [price, amount] pairs")
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
                raise self.fail(f"{key}[{i}] must be a [price, amount] pair, got {lvl!r}")
            out.append((self._level_num(lvl[0], f"{key}[{i}] price"), self._level_num(lvl[1], f"{key}[{i}] amount")))
        return tuple(out)

    def _flag(self, obj: dict[str, Any], key: str) -> bool | None:
        value = obj.get(key)
        if value is not None and not isinstance(value, bool):
            raise self.fail(f"{key!r} must be true, false or null, got {value!r}")
        return value

    def _network(self, i: int, obj: Any) -> NetworkFunding:
        if not isinstance(obj, dict):
            raise self.fail(f"networks[{i}] must be an object")
        code = obj.get("network")
        if not isinstance(code, str) or not code.strip():
            raise self.fail(f"networks[{i}]: 'network' must be a non-empty string, got {code!r}")
        numbers = {field: None if obj.get(key) is None else self._num(obj[key], f"networks[{i}] {key!r}")
                   for key, field in _NETWORK_NUMBERS}
        confirmations = obj.get("confirmations")
        if confirmations is not None and (isinstance(confirmations, bool) or not isinstance(confirmations, int)
                                          or confirmations < 0):
            raise self.fail(f"networks[{i}]: 'confirmations' must be a whole number, got {confirmations!r}")
        return NetworkFunding(network_code(code), self._flag(obj, "deposit"), self._flag(obj, "withdraw"),
                              confirmations=confirmations, **numbers)

    def currency(self, obj: dict[str, Any]) -> CurrencyEvent:
        """A ``currency`` line's event."""
        ts = self._time(obj, "ts") if obj.get("ts") is not None else None
        raw = obj.get("networks") or []
        if not isinstance(raw, list):
            raise self.fail("'networks' must be a list of objects")
        try:
            facts = AssetFunding(self._str(obj, "exchange").lower(), self._str(obj, "asset").upper(),
                                 tuple(self._network(i, n) for i, n in enumerate(raw)), self._flag(obj, "deposit"),
                                 self._flag(obj, "withdraw"), source="replay")
        except (TypeError, ValueError) as exc:
            raise self.fail(str(exc)) from None
        return CurrencyEvent(ts, facts, self.line)

    def book(self, obj: dict[str, Any]) -> BookEvent:
        """A ``book`` line's event (levels as read; order rules are the reader's)."""
        ts = self._time(obj, "ts")
        received = self._time(obj, "received") if "received" in obj else ts
        snapshot = obj.get("snapshot")
        if not isinstance(snapshot, bool):
            raise self.fail(f"'snapshot' must be true or false, got {snapshot!r}")
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
