"""Why a venue could not be reached, in a few plain words: one description for every adapter.

Transport libraries wrap the real cause: ccxt raises ``ExchangeNotAvailable`` from aiohttp's
``ClientConnectorDNSError`` from ``socket.gaierror``; ccxt.pro passes the aiohttp error as its argument;
websockets raises the OS error itself. :func:`describe_failure` walks ``__cause__``, ``__context__`` and
exception arguments and names the cause it finds:

==============  =======================================================================
cause           message
==============  =======================================================================
HTTP status     ``HTTP 503 Service Unavailable from https://api.kraken.com/0/public/Depth``
TLS             ``TLS handshake failed with api.bitstamp.net: wrong version number``
DNS             ``DNS lookup failed for api.kraken.com``
refused         ``connection refused by 127.0.0.1:9``
timeout         ``timed out after 10 s waiting for api.kraken.com``
reset / closed  ``connection reset by api.kraken.com``, ``api.kraken.com closed the connection``
other OS error  ``cannot connect to api.kraken.com: Network is unreachable``
==============  =======================================================================

Messages name hosts and URL paths only: query strings and user info are dropped, so no signature or
key reaches a message. Callers add no prefix of their own: the live driver prints the venue and the
error class around the message.
"""

from __future__ import annotations

import http
import socket
import ssl
import sys
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

__all__ = ["describe_failure", "http_status", "public_url"]

_MAX_BODY = 120


def public_url(url: str) -> str:
    """``url`` without its query, fragment and user info (``https://host:port/path``)."""
    parts = urlsplit(str(url))
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def http_status(status: int, url: str, body: str = "") -> str:
    """``HTTP 503 Service Unavailable from <url>``, with a short excerpt of a non-HTML ``body``.

    A ``body`` that starts with the status's reason phrase (as in "503 Service Unavailable <body>") loses it.
    """
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    message = f"HTTP {status} {phrase} from {public_url(url)}" if phrase else f"HTTP {status} from {public_url(url)}"
    body = " ".join(body.split())
    if phrase and body.startswith(phrase):
        body = body[len(phrase):].lstrip()
    if body and not body.startswith("<"):
        message += f": {body[:_MAX_BODY]}" + ("..." if len(body) > _MAX_BODY else "")
    return message


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it wraps, outermost first."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [e.__cause__, e.__context__, *(a for a in e.args if isinstance(a, BaseException))]


def _seconds(value: float) -> str:
    return f"{value:g}"


def describe_failure(exc: BaseException, *, url: str | None = None, timeout_s: float | None = None) -> str | None:
    """The network cause of ``exc`` in plain words, or None when its chain holds none.

    ``url`` is what was asked for (it names the host when the exceptions do not); ``timeout_s`` is the
    timeout in force, for the "timed out after" message.
    """
    parts = urlsplit(str(url)) if url else None
    host = parts.hostname if parts else None
    port = parts.port if parts else None
    aiohttp = sys.modules.get("aiohttp")  # only looked at when loaded: an aiohttp error means it is
    ws_errors = sys.modules.get("websockets.exceptions")
    status: tuple[int, str] | None = None
    tls: str | None = None
    kinds: set[str] = set()
    os_error: OSError | None = None
    for e in _chain(exc):
        if aiohttp is not None and isinstance(e, aiohttp.ClientConnectorError):
            host, port = e.host, e.port
        if aiohttp is not None and isinstance(e, aiohttp.ClientResponseError) and status is None:
            status = (e.status, str(e.request_info.real_url) if e.request_info else str(url or ""))
        if ws_errors is not None and isinstance(e, ws_errors.InvalidStatus) and status is None:
            status = (e.response.status_code, str(url or ""))
        if aiohttp is not None and isinstance(e, aiohttp.ServerDisconnectedError):
            kinds.add("closed")
        if isinstance(e, ssl.SSLError):
            reason = getattr(e, "verify_message", None) or getattr(e, "reason", None)
            if reason:
                tls = str(reason).replace("_", " ").lower()
            kinds.add("tls")
        elif isinstance(e, socket.gaierror):
            kinds.add("dns")
        elif isinstance(e, ConnectionRefusedError):
            kinds.add("refused")
        elif isinstance(e, TimeoutError):
            kinds.add("timeout")
        elif isinstance(e, ConnectionResetError):
            kinds.add("reset")
        elif isinstance(e, OSError) and e.strerror:
            os_error = e
    where = host or "the venue"
    if status is not None:
        return http_status(status[0], status[1])
    if "tls" in kinds:
        return f"TLS handshake failed with {where}" + (f": {tls}" if tls else "")
    if "dns" in kinds:
        return f"DNS lookup failed for {where}"
    if "refused" in kinds:
        return f"connection refused by {where}" + (f":{port}" if host and port else "")
    if "timeout" in kinds:
        after = f" after {_seconds(timeout_s)} s" if timeout_s else ""
        return f"timed out{after} waiting for {where}"
    if "reset" in kinds:
        return f"connection reset by {where}"
    if "closed" in kinds:
        return f"{where} closed the connection"
    if os_error is not None:
        return f"cannot connect to {where}: {os_error.strerror}"
    return None
