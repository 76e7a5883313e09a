"""Delivering one alert to one destination: rate limit, POST, retries with backoff, ``Retry-After``, giving up.

:func:`deliver` tries up to ``max_attempts`` times. Every attempt first waits for the destination's
rate limit (``max_per_minute``, asyncio-throttle). A timeout, a connection failure or a 5xx answer is
retried after ``retry_backoff_s`` (doubling each time); a ``429`` after the ``Retry-After`` the
destination asked for (the header, or Telegram's and Discord's ``retry_after`` in the JSON body),
giving up at once when that is longer than :data:`MAX_RETRY_AFTER_S`; any other answer fails at once.
The result says ``sent`` (first attempt), ``retried`` (a later one) or ``failed``.

Failure details are built here from status codes and exception class names, never from an
exception's text (aiohttp puts the URL there), and are scrubbed of the secret besides.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

import aiohttp
from asyncio_throttle import Throttler

from arbscan.alerts.destinations import Destination, Request
from arbscan.alerts.events import Alert

__all__ = ["Result", "deliver", "throttler_for", "MAX_RETRY_AFTER_S"]

logger = logging.getLogger(__name__)

MAX_RETRY_AFTER_S = 300.0
"""A ``Retry-After`` longer than this gives the alert up instead of holding the destination's queue."""


@dataclass(frozen=True, slots=True)
class Result:
    """How one alert's delivery to one destination ended."""

    status: str  # 'sent' | 'retried' | 'failed'
    attempts: int
    detail: str | None = None  # the last failure, when there was one

    @property
    def ok(self) -> bool:
        """Delivered (at the first attempt or a later one)."""
        return self.status != "failed"


@dataclass(frozen=True, slots=True)
class _Answer:
    ok: bool
    retry: bool = False
    detail: str | None = None
    retry_after: float | None = None


def throttler_for(dest: Destination) -> Throttler:
    """The rate limit of one destination: ``max_per_minute`` requests in any 60 s."""
    return Throttler(rate_limit=dest.config.max_per_minute, period=60.0, retry_interval=0.05)


async def deliver(session: aiohttp.ClientSession, dest: Destination, alert: Alert, throttler: Throttler, *,
                  sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                  on_attempt: Callable[[int], None] | None = None) -> Result:
    """Deliver ``alert`` to ``dest`` (see the module docstring); never raises for a delivery failure.

    ``on_attempt(n)`` is told as attempt ``n`` starts (whoever may cancel the delivery counts them).
    """
    cfg = dest.config
    req = dest.request(alert)
    delay = cfg.retry_backoff_s
    detail: str | None = None
    for attempt in range(1, cfg.max_attempts + 1):
        await throttler.acquire()
        if on_attempt is not None:
            on_attempt(attempt)
        answer = await _post(session, req, dest)
        if answer.ok:
            return Result("sent" if attempt == 1 else "retried", attempt, detail)
        detail = dest.secret.scrub(answer.detail or "failed")
        if not answer.retry or attempt == cfg.max_attempts:
            break
        wait = delay if answer.retry_after is None else answer.retry_after
        if wait > MAX_RETRY_AFTER_S:
            detail += f"; Retry-After {wait:g} s is over {MAX_RETRY_AFTER_S:g} s"
            break
        logger.info("alert %s to %s: %s; attempt %d of %d in %.3g s", alert.event, dest.name, detail, attempt + 1,
                    cfg.max_attempts, wait)
        await sleep(wait)
        if answer.retry_after is None:
            delay *= 2
    return Result("failed", attempt, detail)


async def _post(session: aiohttp.ClientSession, req: Request, dest: Destination) -> _Answer:
    timeout_s = dest.config.timeout_s
    try:
        async with session.post(req.url, data=req.body, headers=dict(req.headers), allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            status = resp.status
            headers = resp.headers
            raw = await resp.content.read(65536)
    except asyncio.CancelledError:
        raise
    except TimeoutError:
        return _Answer(False, True, f"timed out after {timeout_s:g} s")
    except aiohttp.ClientConnectorError as exc:
        why = getattr(exc.os_error, "strerror", None) or type(exc.os_error).__name__
        return _Answer(False, True, f"cannot connect ({why})")
    except (aiohttp.ClientError, OSError) as exc:
        return _Answer(False, True, type(exc).__name__)
    except Exception as exc:  # noqa: BLE001 - a malformed URL and the like: no retry helps
        return _Answer(False, False, type(exc).__name__)
    if 200 <= status < 300:
        if dest.kind == "telegram" and _json(raw).get("ok") is False:
            return _Answer(False, False, f"Telegram refused: {_description(raw)}")
        return _Answer(True)
    detail = f"HTTP {status} {_phrase(status)}".rstrip()
    if dest.kind == "telegram" and _description(raw):
        detail += f": {_description(raw)}"
    if status == 429:
        return _Answer(False, True, detail, _retry_after(headers, raw))
    return _Answer(False, status >= 500, detail)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _json(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _description(raw: bytes) -> str:
    """Telegram's ``description`` of a refusal ("Bad Request: chat not found"), at most 200 characters."""
    text = _json(raw).get("description")
    return text[:200] if isinstance(text, str) else ""


def _retry_after(headers: Mapping[str, str], raw: bytes) -> float | None:
    """Seconds to wait before retrying a 429: the ``Retry-After`` header (seconds or a date), else the body's."""
    value = headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                pass
    doc = _json(raw)
    params = doc.get("parameters")
    for found in ((params or {}).get("retry_after") if isinstance(params, dict) else None, doc.get("retry_after")):
        if isinstance(found, (int, float)) and not isinstance(found, bool):
            return max(0.0, float(found))
    return None
