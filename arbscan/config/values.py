"""The value parsers every settings section shares: each checks one TOML value and names its key.

``config.py`` (the core sections), ``alerts/config.py``, ``transfer_config.py`` and the bus's settings
build their sections from these, so a wrong type or an impossible value reads the same everywhere:
``venues[1].taker_fee: must not be below 0, got '-1'``.

Every number has a sane range (issue 28): besides each key's own bounds, no decimal is above
:data:`MAX_DECIMAL` or, when not zero, below :data:`MIN_DECIMAL` in size (``"1e999999999"`` as a balance
once took 4 GB of memory), and no whole number or float above :data:`MAX_COUNT` (unless a key says
otherwise). A value out of range is one line naming the key (exit 2).
"""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal, InvalidOperation
from typing import Any

from arbscan.errors import ConfigError
from arbscan.model import Amounts


MAX_DECIMAL = Decimal("1e15")
"""No amount, balance, fee, profit or threshold in a setting is above this (a thousand trillion)."""

MIN_DECIMAL = Decimal("1e-18")
"""No non-zero decimal in a setting is smaller than this in size (an ether's wei)."""

MAX_COUNT = 10**9
"""No whole number or float in a setting is above this unless its key sets its own maximum."""

DAY_MS = 86_400_000
"""A day in milliseconds: the largest time in ms a setting may hold."""

DAY_S = 86_400.0
"""A day in seconds: the largest time in seconds a setting may hold unless its key says otherwise."""

_SECRET_WORDS = ("secret", "api_key", "apikey", "password", "passphrase", "private_key")


def _decimal(key: str, value: Any, *, minimum: Decimal | None = Decimal(0),
             maximum: Decimal = MAX_DECIMAL) -> Decimal:
    if isinstance(value, bool):
        raise ConfigError(f"{key}: must be a number, got a boolean")
    if isinstance(value, float):
        value = repr(value)  # shortest round-trip text: 0.0026 stays 0.0026, never a binary expansion
    if isinstance(value, (int, str)):
        try:
            d = Decimal(str(value).strip())
        except InvalidOperation:
            raise ConfigError(f"{key}: must be a number, got {value!r}") from None
        if not d.is_finite():
            raise ConfigError(f"{key}: must be a finite number, got {value!r}")
        if minimum is not None and d < minimum:
            raise ConfigError(f"{key}: must not be below {minimum}, got {value!r}")
        if d > maximum or (minimum is None and d < -maximum):
            bound = f"between {-maximum} and {maximum}" if minimum is None else f"at most {maximum}"
            raise ConfigError(f"{key}: must be {bound}, got {value!r}")
        if d and abs(d) < MIN_DECIMAL:
            raise ConfigError(f"{key}: must be 0 or at least {MIN_DECIMAL} in size, got {value!r}")
        return d
    raise ConfigError(f"{key}: must be a number, got {type(value).__name__}")


def _int(key: str, value: Any, *, minimum: int = 0, maximum: int = MAX_COUNT) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key}: must be a whole number, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{key}: must be at least {minimum}, got {value}")
    if value > maximum:
        raise ConfigError(f"{key}: must be at most {maximum:,}, got {value:,}" if value < 10**30 else
                          f"{key}: must be at most {maximum:,}, got {value:.3e}")
    return value


def _float(key: str, value: Any, *, minimum: float = 0.0, maximum: float = DAY_S) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key}: must be a number, got {value!r}")
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(f"{key}: must be a finite number, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{key}: must be at least {minimum}, got {value}")
    if value > maximum:
        raise ConfigError(f"{key}: must be at most {maximum:g}, got {value:g}")
    return float(value)


def _str(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key}: must be a non-empty string, got {value!r}")
    return value.strip()


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: must be true or false, got {value!r}")
    return value


def _symbol(key: str, value: Any) -> str:
    s = _str(key, value).upper()
    base, sep, quote = s.partition("/")
    if not sep or not base or not quote or "/" in quote:
        raise ConfigError(f"{key}: {value!r} is not a unified symbol like 'BTC/USD'")
    return s


def _str_list(key: str, value: Any, item=_str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{key}: must be a list, got {type(value).__name__}")
    out = tuple(item(f"{key}[{i}]", v) for i, v in enumerate(value))
    seen: set[str] = set()
    for i, v in enumerate(out):
        if v in seen:
            raise ConfigError(f"{key}[{i}]: {v!r} is listed twice")
        seen.add(v)
    return out


def _balances(key: str, value: Any) -> Amounts:
    table = _table(key, value)
    return {_str(f"{key}.{asset}", asset).upper(): _decimal(f"{key}.{asset}", v) for asset, v in table.items()}


def _table(key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: must be a table, got {type(value).__name__}")
    return value


def _check_keys(key: str, table: dict[str, Any], allowed: set[str]) -> None:
    for k in table:
        if any(w in k.lower() for w in _SECRET_WORDS):
            raise ConfigError(
                f"{key}.{k}: secrets are not read from the config file; set them in the environment "
                "(<EXCHANGE>_API_KEY, <EXCHANGE>_API_SECRET) or a keyring"
            )
        if k not in allowed:
            options = ", ".join(sorted(allowed))
            raise ConfigError(f"{key + '.' if key else ''}{k}: unknown setting (known here: {options})")


def _names(cls) -> set[str]:
    return {f.name for f in fields(cls)}
