"""``[bus]``: where the processes of a multi-host deployment meet (NATS JetStream), checked like every setting.

The URL names servers only: ``nats://host:port`` (or ``tls://``), several separated by commas for a
cluster. Credentials are secrets and never live in the file or the URL: they come from the
environment (``ARBSCAN_BUS_USER`` and ``ARBSCAN_BUS_PASSWORD``, or ``ARBSCAN_BUS_TOKEN``), and a URL
holding a user or password is refused without repeating it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from arbscan.config.values import _check_keys, _int, _names, _str, _table
from arbscan.errors import ConfigError

__all__ = ["BusConfig", "parse_bus", "bus_url", "bus_credentials", "SCHEMES"]

SCHEMES = ("nats", "tls")


@dataclass(frozen=True, slots=True)
class BusConfig:
    """The NATS servers and how the streams are kept."""

    url: str | None = None  # nats://host:4222 (comma-separated for a cluster); None: no bus
    replicas: int = 1  # copies of each stream and bucket in a cluster (3 on a 3-node cluster)
    buffer_rows: int = 100_000  # journal rows a process holds while NATS is unreachable


def bus_url(key: str, value: Any) -> str:
    """A checked server list: every entry ``nats://host[:port]`` or ``tls://host[:port]``, no credentials."""
    text = _str(key, value)
    for part in text.split(","):
        entry = part.strip()
        try:
            u = urlsplit(entry)
            u.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise ConfigError(f"{key}: {entry!r} has a port that is not a number") from None
        if u.username is not None or u.password is not None:
            raise ConfigError(f"{key}: credentials do not belong in the URL; set ARBSCAN_BUS_USER and "
                              "ARBSCAN_BUS_PASSWORD (or ARBSCAN_BUS_TOKEN) in the environment")
        if u.scheme not in SCHEMES or not u.hostname or u.path not in ("", "/") or u.query:
            raise ConfigError(f"{key}: {entry!r} is not a nats:// or tls:// URL with a host (e.g. nats://127.0.0.1:4222)")
    return ",".join(p.strip() for p in text.split(","))


def parse_bus(raw: Any) -> BusConfig:
    """The ``[bus]`` table, every key checked."""
    table = _table("bus", raw)
    _check_keys("bus", table, _names(BusConfig))
    kw: dict[str, Any] = {}
    if "url" in table:
        kw["url"] = bus_url("bus.url", table["url"])
    if "replicas" in table:
        kw["replicas"] = _int("bus.replicas", table["replicas"], minimum=1)
        if kw["replicas"] > 5:
            raise ConfigError(f"bus.replicas: JetStream keeps at most 5 copies, got {kw['replicas']}")
    if "buffer_rows" in table:
        kw["buffer_rows"] = _int("bus.buffer_rows", table["buffer_rows"], minimum=500)  # a batch is up to 500 rows
    return BusConfig(**kw)


def bus_credentials() -> dict[str, str]:
    """nats-py connect options from the environment (user and password, or a token); empty when none is set.

    A user without a password (or the reverse) is a ``ConfigError`` naming the variable that is missing.
    """
    user, password = os.environ.get("ARBSCAN_BUS_USER"), os.environ.get("ARBSCAN_BUS_PASSWORD")
    token = os.environ.get("ARBSCAN_BUS_TOKEN")
    if (user is None) != (password is None):
        missing = "ARBSCAN_BUS_PASSWORD" if password is None else "ARBSCAN_BUS_USER"
        raise ConfigError(f"bus credentials: {missing} is not set (set both ARBSCAN_BUS_USER and ARBSCAN_BUS_PASSWORD)")
    if user is not None:
        return {"user": user, "password": password or ""}
    if token:
        return {"token": token}
    return {}
