"""``[web]``: the live web view of ``scan`` and ``replay`` (``arbscan.web``), checked like every setting.

The address is ``HOST:PORT``; loopback (``127.0.0.1:8765``) by default. The token that any other
address needs is a secret and never lives in the file: it comes from ``ARBSCAN_WEB_TOKEN`` in the
environment (a ``token`` key here is refused as every secret-looking key is).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from arbscan.config.values import _bool, _check_keys, _int, _names, _str, _table
from arbscan.errors import ConfigError

__all__ = ["WebConfig", "parse_web", "listen_address", "is_loopback", "DEFAULT_LISTEN", "TOKEN_ENV"]

DEFAULT_LISTEN = "127.0.0.1:8765"
TOKEN_ENV = "ARBSCAN_WEB_TOKEN"
"""The environment variable holding the web view's token (required for a non-loopback address)."""


@dataclass(frozen=True, slots=True)
class WebConfig:
    """Whether ``scan``/``replay`` serve the web view, where, to how many clients, how often the pages refresh."""

    enabled: bool = False  # serve the web view (``--web`` turns it on for one run)
    listen: str = DEFAULT_LISTEN  # HOST:PORT; a non-loopback host needs ARBSCAN_WEB_TOKEN
    max_clients: int = 20  # live pages (event streams) served at once; one more is refused with 503
    snapshot_interval_ms: int = 250  # how often the page state is taken (never per event)


def listen_address(key: str, value: Any) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) as (host, port); ``ConfigError`` naming the problem."""
    text = _str(key, value)
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ConfigError(f"{key}: {text!r} is not HOST:PORT (e.g. 127.0.0.1:8765)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(f"{key}: {text!r} has no port between 0 and 65535")
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only ever reaches this machine (127.0.0.0/8, ::1, 'localhost')."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def parse_web(raw: Any) -> WebConfig:
    """The ``[web]`` table, every key checked."""
    table = _table("web", raw)
    if "token" in table:
        raise ConfigError(f"web.token: the token is a secret and is not read from the config file; set {TOKEN_ENV} "
                          "in the environment")
    _check_keys("web", table, _names(WebConfig))
    kw: dict[str, Any] = {}
    if "enabled" in table:
        kw["enabled"] = _bool("web.enabled", table["enabled"])
    if "listen" in table:
        listen_address("web.listen", table["listen"])
        kw["listen"] = table["listen"].strip()
    if "max_clients" in table:
        kw["max_clients"] = _int("web.max_clients", table["max_clients"], minimum=1)
    if "snapshot_interval_ms" in table:
        kw["snapshot_interval_ms"] = _int("web.snapshot_interval_ms", table["snapshot_interval_ms"], minimum=50)
    return WebConfig(**kw)
