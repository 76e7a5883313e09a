"""Kraken REST request signing and a strictly increasing, per-key nonce source.

https://docs.kraken.com/api/docs/guides/spot-rest-auth

``API-Sign = base64(HMAC-SHA512(b64decode(secret), urlpath + SHA256(nonce + body)))`` where ``body``
is exactly the bytes sent and ``urlpath`` starts at ``/0/private``.

Kraken rejects a nonce that is not above the last one it accepted for the key (``EAPI:Invalid
nonce``). Two things cause that in practice: a clock that steps back, and two requests of one key
overtaking each other on the wire. :class:`NonceSource` fixes the first (it never goes below the last
value it issued, whatever the clock does); :func:`key_lock` fixes the second (the REST client holds it
from nonce to response, so one key has at most one private request in flight per event loop).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import threading
import time
import weakref
from collections.abc import Callable

__all__ = ["sign", "NonceSource", "nonce_source", "key_lock", "key_fingerprint"]


def sign(urlpath: str, nonce: str, body: str, secret: str) -> str:
    """Kraken's ``API-Sign`` header for one private request (pure: no clock, no I/O)."""
    try:
        key = base64.b64decode(secret, validate=True)
    except (ValueError, TypeError):
        # Never echo the secret: name the problem only.
        raise ValueError("Kraken API secret is not valid base64") from None
    digest = hashlib.sha256((str(nonce) + body).encode()).digest()
    mac = hmac.new(key, urlpath.encode() + digest, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()


class NonceSource:
    """Strictly increasing integer nonces (milliseconds since the epoch, bumped when needed).

    Thread-safe. Each call returns ``max(clock_ms, last + 1)``, so values never repeat and never go
    down, even when the clock steps back or many calls land in the same millisecond.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._last = 0

    @property
    def last(self) -> int:
        """The last nonce issued (0 before the first)."""
        return self._last

    def next(self) -> str:
        """The next nonce, as the decimal string Kraken expects."""
        with self._lock:
            candidate = int(self._clock() * 1000)
            if candidate <= self._last:
                candidate = self._last + 1
            self._last = candidate
            return str(candidate)


_SOURCES: dict[str, NonceSource] = {}
_SOURCES_LOCK = threading.Lock()
_KEY_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def key_fingerprint(api_key: str) -> str:
    """A digest naming one API key in process-wide registries (which then hold no key material)."""
    return hashlib.sha256(api_key.encode()).hexdigest()


_key_id = key_fingerprint


def nonce_source(api_key: str) -> NonceSource:
    """The process-wide nonce source of one API key (every client of the key shares it)."""
    kid = _key_id(api_key)
    with _SOURCES_LOCK:
        source = _SOURCES.get(kid)
        if source is None:
            source = _SOURCES[kid] = NonceSource()
        return source


def key_lock(api_key: str) -> asyncio.Lock:
    """The asyncio lock that serialises sign-and-send for one API key on the running event loop."""
    loop = asyncio.get_running_loop()
    kid = _key_id(api_key)
    with _SOURCES_LOCK:
        locks = _KEY_LOCKS.setdefault(loop, {})
        lock = locks.get(kid)
        if lock is None:
            lock = locks[kid] = asyncio.Lock()
        return lock
