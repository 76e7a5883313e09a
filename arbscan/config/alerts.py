"""``[[alerts]]``: one table per destination, typed and frozen, every key checked, no secret in the file.

A destination's URL (webhook, Slack, Discord) or bot token (Telegram) is a secret: the table names
the environment variable holding it (``url_env`` / ``token_env``), or it comes from the keyring
(service ``arbscan-alerts``, user name = the destination's ``name``). A table that holds the secret
itself (``url``, ``webhook_url``, ``token``, ...) is refused, and no error message repeats a value
that could be one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from arbscan.config.values import _check_keys, _decimal, _float, _int, _names, _str, _str_list, _table
from arbscan.errors import ConfigError

__all__ = ["AlertConfig", "parse_alerts", "EVENTS", "KINDS", "URGENT_EVENTS", "TRADE_STATUSES"]

KINDS = ("webhook", "slack", "discord", "telegram")
"""Destination kinds: a generic JSON POST, Slack and Discord incoming webhooks, Telegram's bot API."""

EVENTS = (
    "episode_opened",
    "episode_closed",
    "venue_unreachable",
    "venue_recovered",
    "feed_stale",
    "feed_recovered",
    "trade_finished",
    "halt_raised",
    "halt_cleared",
    "daily_summary",
)
"""Every event a destination can switch on (``events``); all of them when ``events`` is absent."""

URGENT_EVENTS = frozenset({"halt_raised", "halt_cleared"})
"""Events never dropped when a destination's queue is full."""

TRADE_STATUSES = ("filled", "partial", "missed", "imbalanced", "flattened", "failed", "unknown")
"""The final trade statuses ``trade_statuses`` may name (``arbscan.journal.schema.TRADE_STATUSES`` but ``open``)."""

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_KEYS = ("url", "token", "webhook")  # any other key holding these words would hold the secret itself


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """One alert destination: where it goes, which events it wants, their thresholds, how it is delivered."""

    name: str
    kind: str  # webhook | slack | discord | telegram
    url_env: str | None = None  # webhook, slack, discord: environment variable holding the URL
    token_env: str | None = None  # telegram: environment variable holding the bot token
    chat_id: str | None = None  # telegram: the chat the bot writes to
    api_url: str | None = None  # telegram: replaces scheme, host and port of https://api.telegram.org
    events: tuple[str, ...] = EVENTS
    min_net_bps: Decimal = Decimal(0)  # episodes: announced once their peak reaches this net edge ...
    min_profit: Decimal = Decimal(0)  # ... and this net profit (quote)
    unreachable_after_s: float = 60.0  # a venue failing this long is reported
    stale_after_s: float = 60.0  # a book without an update this long is reported
    trade_statuses: tuple[str, ...] = ()  # trades finished with one of these statuses; empty: all
    max_per_minute: int = 20  # requests to this destination, retries included
    timeout_s: float = 10.0  # per request
    max_attempts: int = 4  # then the alert is given up (failed)
    retry_backoff_s: float = 1.0  # wait before the first retry; doubles after each
    queue_size: int = 100  # alerts waiting; when full the oldest non-urgent one is dropped

    def __repr__(self) -> str:  # names only; the secret is never part of the config anyway
        return f"AlertConfig(name={self.name!r}, kind={self.kind!r}, events={len(self.events)})"

    @property
    def secret_env(self) -> str | None:
        """The environment variable holding this destination's URL or token (None: keyring only)."""
        return self.token_env if self.kind == "telegram" else self.url_env


def _env_name(key: str, value: Any) -> str:
    if not isinstance(value, str) or not _ENV_NAME.match(value.strip()):
        # never echo the value: a user who pastes the URL or token here has just put the secret in the file
        raise ConfigError(f"{key}: must be the NAME of an environment variable (letters, digits, _), "
                          "not the URL or token itself")
    return value.strip()


def _api_url(key: str, value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = None, False
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not port_ok \
            or parts.username or parts.password or parts.path.strip("/") or parts.query or parts.fragment:
        raise ConfigError(f"{key}: must be only a scheme, host and port such as 'http://127.0.0.1:8081' "
                          "(the bot token goes in token_env)")
    return text


def _alert(key: str, raw: Any) -> AlertConfig:
    raw = _table(key, raw)
    allowed = _names(AlertConfig)
    for k in raw:
        if k not in allowed and any(w in k.lower() for w in _SECRET_KEYS):
            raise ConfigError(f"{key}.{k}: secrets are not read from the config file; name the environment "
                              "variable holding the URL or token with url_env / token_env (or use the keyring)")
    _check_keys(key, raw, allowed)
    for required in ("name", "kind"):
        if required not in raw:
            raise ConfigError(f"{key}.{required}: missing")
    kind = _str(f"{key}.kind", raw["kind"]).lower()
    if kind not in KINDS:
        raise ConfigError(f"{key}.kind: must be one of {', '.join(KINDS)}, got {kind!r}")
    kw: dict[str, Any] = {"name": _str(f"{key}.name", raw["name"]), "kind": kind}
    telegram_only = ("token_env", "chat_id", "api_url")
    for k in telegram_only if kind != "telegram" else ("url_env",):
        if k in raw:
            raise ConfigError(f"{key}.{k}: not a setting of a {kind} destination")
    for k in ("url_env", "token_env"):
        if k in raw:
            kw[k] = _env_name(f"{key}.{k}", raw[k])
    if kind == "telegram":
        if "chat_id" not in raw:
            raise ConfigError(f"{key}.chat_id: missing (the chat the bot writes to)")
        chat = raw["chat_id"]
        if isinstance(chat, bool) or not isinstance(chat, (int, str)) or not str(chat).strip():
            raise ConfigError(f"{key}.chat_id: must be a chat id (number) or '@channelname'")
        kw["chat_id"] = str(chat).strip()
        if "api_url" in raw:
            kw["api_url"] = _api_url(f"{key}.api_url", raw["api_url"])
    if "events" in raw:
        events = _str_list(f"{key}.events", raw["events"])
        for i, e in enumerate(events):
            if e not in EVENTS:
                raise ConfigError(f"{key}.events[{i}]: unknown event {e!r} (known: {', '.join(EVENTS)})")
        kw["events"] = events
    if "min_net_bps" in raw:
        kw["min_net_bps"] = _decimal(f"{key}.min_net_bps", raw["min_net_bps"], minimum=None, maximum=Decimal(10_000))
    if "min_profit" in raw:
        kw["min_profit"] = _decimal(f"{key}.min_profit", raw["min_profit"], minimum=None)
    for k in ("unreachable_after_s", "stale_after_s"):
        if k in raw:
            kw[k] = _float(f"{key}.{k}", raw[k])
    if "trade_statuses" in raw:
        statuses = _str_list(f"{key}.trade_statuses", raw["trade_statuses"])
        for i, s in enumerate(statuses):
            if s not in TRADE_STATUSES:
                known = ", ".join(TRADE_STATUSES)
                raise ConfigError(f"{key}.trade_statuses[{i}]: unknown status {s!r} (known: {known})")
        kw["trade_statuses"] = statuses
    for k in ("max_per_minute", "max_attempts", "queue_size"):
        if k in raw:
            kw[k] = _int(f"{key}.{k}", raw[k], minimum=1)
    if "timeout_s" in raw:
        kw["timeout_s"] = _float(f"{key}.timeout_s", raw["timeout_s"], minimum=0.1)
    if "retry_backoff_s" in raw:
        kw["retry_backoff_s"] = _float(f"{key}.retry_backoff_s", raw["retry_backoff_s"], minimum=0.01)
    return AlertConfig(**kw)


def parse_alerts(raw: Any) -> tuple[AlertConfig, ...]:
    """The ``[[alerts]]`` tables, checked one by one; a ``name`` may not repeat."""
    if not isinstance(raw, list):
        raise ConfigError("alerts: must be an array of tables ([[alerts]])")
    items = tuple(_alert(f"alerts[{i}]", t) for i, t in enumerate(raw))
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item.name in seen:
            raise ConfigError(f"alerts[{i}].name: {item.name!r} is listed twice")
        seen.add(item.name)
    return items
