"""``arbscan check-config``: the effective settings as TOML, every default filled in, and each venue's adapter.

The rendering walks the typed settings (``arbscan.config.settings``) generically, so a setting added later
shows up without a change here. Values that are unset print as a comment (``# taker_fee = (not set)``).
Secrets are never in settings (they are refused when read), so nothing here can print one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from arbscan.config.settings import Settings

__all__ = ["effective_toml", "adapter_kind"]

_SECTIONS = ("scanner", "live")  # single tables
_ARRAYS = {"venues": "venues", "strategies": "strategies", "alerts": "alerts", "conversions": "conversions"}  # [[arrays]]


def adapter_kind(venue: Any) -> str:
    """Which adapter serves a configured venue: 'native' (Kraken's own) or 'ccxt'."""
    from adapters import NATIVE_EXCHANGES

    return "native" if venue.adapter in ("auto", "native") and venue.exchange in NATIVE_EXCHANGES else "ccxt"


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Decimal):
        return f'"{v.normalize():f}"' if v != 0 else '"0"'
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + " }" if v else "{}"
    if dataclasses.is_dataclass(v):
        return _value({f.name: getattr(v, f.name) for f in dataclasses.fields(v) if getattr(v, f.name) is not None})
    return _value(str(v))


def _table(obj: Any, comments: Mapping[str, str] | None = None) -> list[str]:
    out = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        note = f"  # {comments[f.name]}" if comments and f.name in comments else ""
        out.append(f"# {f.name} = (not set){note}" if value is None else f"{f.name} = {_value(value)}{note}")
    return out


def effective_toml(settings: Settings) -> str:
    """The settings in effect, as a TOML document with every default written out."""
    lines = [f"# effective settings (from {settings.source or 'the defaults: no config file'})"]
    for name in _SECTIONS:
        lines += ["", f"[{name}]", *_table(getattr(settings, name))]
    if settings.bus is not None:  # only when configured: most deployments run on one host
        lines += ["", "[bus]", *_table(settings.bus)]
    for name, key in _ARRAYS.items():
        for item in getattr(settings, name, ()) or ():
            comments = {"adapter": f"this venue is served by the {adapter_kind(item)} adapter"} if name == "venues" else None
            lines += ["", f"[[{key}]]", *_table(item, comments)]
    return "\n".join(lines) + "\n"
