"""Alert destinations: where a message goes and the exact HTTP request each kind sends.

=============  ==========================================================  ==========================
kind           request (POST, ``Content-Type: application/json``)          body
=============  ==========================================================  ==========================
``webhook``    the URL from ``url_env``                                    the whole alert as JSON
``slack``      a Slack incoming-webhook URL                                ``{"text": ...}``
``discord``    a Discord webhook URL                                       ``{"content": ...}``
``telegram``   ``https://api.telegram.org/bot<token>/sendMessage``         ``{"chat_id", "text"}``
=============  ==========================================================  ==========================

The URL or token is a :class:`Secret`: its ``repr`` and ``str`` are ``***``, and it is revealed only
to build the request's URL, which is itself never shown (:class:`Request`'s ``repr`` leaves it out).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from adapters.base import replace_origin
from arbscan import __version__
from arbscan.config.alerts import AlertConfig
from arbscan.alerts.events import Alert
from arbscan.errors import ConfigError

__all__ = ["Secret", "Request", "Destination", "load_secret", "TELEGRAM_API", "KEYRING_SERVICE"]

TELEGRAM_API = "https://api.telegram.org"
"""Telegram's bot API; a destination's ``api_url`` replaces its scheme, host and port (tests, local Bot API servers)."""

KEYRING_SERVICE = "arbscan-alerts"
"""Keyring service holding destinations' URLs and tokens, one user name per destination ``name``."""

DISCORD_MAX = 2000  # characters of a Discord message's content
TELEGRAM_MAX = 4096  # characters of a Telegram message's text

_TELEGRAM_TOKEN = re.compile(r"^[0-9]+:[A-Za-z0-9_-]+$")


class Secret:
    """A URL or token that must never be shown: ``repr``/``str`` say ``***``; :meth:`reveal` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The value itself, for building a request and nothing else."""
        return self._value

    def scrub(self, text: str) -> str:
        """``text`` with every occurrence of the secret replaced by ``***`` (a last guard for error details)."""
        return text.replace(self._value, "***") if self._value else text

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __reduce__(self):  # never pickled into another process or a file
        raise TypeError("a Secret cannot be pickled")


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP POST: URL (secret, left out of ``repr``), body bytes and headers."""

    url: str = field(repr=False)
    body: bytes
    headers: Mapping[str, str]


def load_secret(config: AlertConfig, environ: Mapping[str, str] | None = None) -> Secret:
    """The destination's URL (or Telegram token) from its environment variable, else the keyring.

    ``ConfigError`` naming the variable (never its value) when neither has it or it is malformed.
    """
    env = os.environ if environ is None else environ
    var = config.secret_env
    value = env.get(var) if var else None
    source = var
    if not value:
        value = _from_keyring(config.name)
        source = f"the keyring entry {KEYRING_SERVICE}/{config.name}"
    where = f"alerts {config.name!r}"
    if not value:
        what = "bot token" if config.kind == "telegram" else "URL"
        named = f"environment variable {var} is not set and there is no" if var else "no url_env / token_env and no"
        raise ConfigError(f"{where}: {named} keyring entry {KEYRING_SERVICE}/{config.name} holding its {what}")
    value = value.strip()
    if config.kind == "telegram":
        if not _TELEGRAM_TOKEN.match(value):
            raise ConfigError(f"{where}: {source} does not hold a Telegram bot token (digits, ':', then letters)")
    else:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{where}: {source} does not hold an http(s) URL")
    return Secret(value)


def _from_keyring(name: str) -> str | None:
    try:  # keyring is optional (pip install arbscan[keyring])
        import keyring  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        return keyring.get_password(KEYRING_SERVICE, name)
    except Exception:  # noqa: BLE001 - no usable keyring backend is the same as no entry
        return None


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}Z"


def _chat_id(text: str) -> int | str:
    try:
        return int(text)  # numeric ids (groups are negative) as numbers, as the Bot API documents them
    except ValueError:
        return text  # '@channelname'


class Destination:
    """A configured destination with its secret: which events it wants and the request for an alert."""

    def __init__(self, config: AlertConfig, secret: Secret) -> None:
        self.config = config
        self.name = config.name
        self.kind = config.kind
        self.secret = secret
        self._events = frozenset(config.events)

    def __repr__(self) -> str:
        return f"Destination({self.name!r}, {self.kind})"

    def wants(self, event: str) -> bool:
        """Whether this destination switched ``event`` on."""
        return event in self._events

    def request(self, alert: Alert) -> Request:
        """The POST that delivers ``alert`` here (see the table in the module docstring)."""
        kind = self.kind
        text = alert.text
        if kind == "slack":
            body: dict[str, object] = {"text": text}
        elif kind == "discord":
            body = {"content": text[:DISCORD_MAX], "allowed_mentions": {"parse": []}}
        elif kind == "telegram":
            body = {"chat_id": _chat_id(self.config.chat_id or ""), "text": text[:TELEGRAM_MAX],
                    "disable_web_page_preview": True}
        else:
            body = {"source": "arbscan", "event": alert.event, "ts": alert.ts, "time": _iso(alert.ts),
                    "urgent": alert.urgent, "title": alert.title, "text": text, "data": dict(alert.data)}
        if kind == "telegram":
            url = replace_origin(f"{TELEGRAM_API}/bot{self.secret.reveal()}/sendMessage", self.config.api_url)
        else:
            url = self.secret.reveal()
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str).encode()
        return Request(url, data, {"Content-Type": "application/json", "User-Agent": f"arbscan/{__version__}"})
