"""The web view's HTTP server (aiohttp): four pages, their state as JSON and as server-sent events.

One :class:`WebServer` runs on an event loop: the scanner's own for ``scan`` (its snapshot is taken
there, between book events), a thread of its own for ``replay`` (:class:`WebThread`: the replay loop is
synchronous and never yields, so a server on its thread would be served only between events; on its
own thread it reads the scanner's dicts by one C-level copy each, atomic under the GIL, and the replay
never waits for a client). The page state is a snapshot taken every ``snapshot_interval_ms`` while a
page is open (never per event), serialised once and handed to every event stream; a client whose
stream cannot take two snapshots in a row is dropped. The journal's part (trading, alerts, and for
``arbscan serve`` everything) is read on a worker thread once a second, never on the loop.

Security: read-only (GET and HEAD only); loopback unless ``ARBSCAN_WEB_TOKEN`` is set, which any other
address requires (as ``Authorization: Bearer`` or as a cookie set from the one-time login link printed at
start); without a token, requests whose Host is not loopback are refused (DNS rebinding). Every response
carries a CSP allowing only this origin's script and style (no inline script), and every asset comes from
this package. Every known secret (API keys, alert URLs and tokens from the environment, the web token) is
replaced by ``[redacted]`` in the state before it is served, whatever string it hides in.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from arbscan.config.web import TOKEN_ENV, WebConfig, is_loopback, listen_address
from arbscan.errors import BadInput
from arbscan.report.format import utc
from arbscan.web import journal as journal_pages
from arbscan.web.state import heartbeat_rows

__all__ = ["WebServer", "WebThread", "Source", "web_token", "check_listen", "known_secrets", "SECURITY_HEADERS",
           "PAGES"]

logger = logging.getLogger(__name__)

PAGES = ("routes", "venues", "episodes", "trading")
"""The pages, each at ``/<name>`` (``/`` is Routes)."""

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cache-Control": "no-store",
}
COOKIE = "arbscan_web"
JOURNAL_EVERY_S = 1.0
"""How often the journal's part of the state (trading, alerts; everything for ``serve``) is read."""
SLOW_CLIENT_S = 5.0
"""A client whose stream has not taken a snapshot within this long is dropped."""
MAX_SESSIONS = 100

_ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}
_SECRET_ENV = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|PASSPHRASE|HOOK|WEBHOOK|URL|DSN)$", re.I)


def web_token() -> str | None:
    """The token from ``ARBSCAN_WEB_TOKEN`` (None when unset or empty)."""
    value = os.environ.get(TOKEN_ENV, "").strip()
    return value or None


def check_listen(listen: str, token: str | None) -> tuple[str, int]:
    """(host, port) of ``listen``; ``BadInput`` (one line, exit 2) for a non-loopback address without a token."""
    from arbscan.errors import ConfigError

    try:
        host, port = listen_address("--web", listen)
    except ConfigError as exc:
        raise BadInput(str(exc)) from None
    if not is_loopback(host) and token is None:
        raise BadInput(f"--web {listen}: a non-loopback address needs a token; set {TOKEN_ENV} in the environment "
                       "(or listen on 127.0.0.1)")
    return host, port


def known_secrets(extra: Iterable[str | None] = ()) -> list[str]:
    """Every value that must never reach a page: secret-looking environment variables and ``extra``, longest first."""
    found = {v for k, v in os.environ.items() if _SECRET_ENV.search(k) and v and len(v) >= 6}
    found.update(v for v in extra if v and len(v) >= 6)
    return sorted(found, key=len, reverse=True)


@dataclass
class Source:
    """What the pages show: ``pages()`` (the scanner's routes, venues, episodes, taken on the server's loop) and/or a
    journal (``db``, ``run_id``) for trading and alerts; with ``journal_only`` the journal gives every page."""

    title: str
    pages: Callable[[], dict[str, Any]] | None = None
    db: str | Path | None = None
    run_id: int | None = None
    journal_only: bool = False
    workers: Any = None  # a WorkersState: routes' funnels come from the journal, the rest from the shards
    clock: Callable[[], float] | None = None  # the run's event clock (a replay's is its file's); None: from the journal
    shards: Callable[[], tuple[list[dict[str, Any]], str]] | None = None  # serve --bus: live heartbeats, or why none

    def read_shards(self) -> dict[str, Any]:
        """The bus's live shards as the Venues page lists them (runs on a worker thread: it waits for NATS)."""
        if self.shards is None:
            return {}
        beats, note = self.shards()
        return {"shards": heartbeat_rows(beats, time.time()), "shards_note": note}

    def read_journal(self) -> dict[str, Any]:
        """The journal's part of the state (runs on a worker thread)."""
        if self.db is None or not Path(self.db).exists():
            return {}
        conn = journal_pages.connect(self.db)
        try:
            run_id = self.run_id if self.run_id is not None else journal_pages.latest_run(conn)
            if run_id is None:
                return {}
            now = self.clock() if self.clock is not None else journal_pages.event_clock(conn, run_id)
            out: dict[str, Any] = {"run": journal_pages.run_info(conn, run_id, time.time()),
                                   "trading": journal_pages.trading(conn, run_id, now),
                                   "alerts": journal_pages.alerts(conn, run_id)}
            if self.journal_only or self.workers is not None:
                out["journal_routes"] = journal_pages.journal_routes(conn, run_id, now)
                out["journal_recent"] = journal_pages.journal_episodes(conn, run_id, now)
            if self.journal_only:
                out["clock"] = utc(now)
                out["routes"] = out.pop("journal_routes")
                out["venues"] = journal_pages.journal_venues(conn, run_id, now)
                out["episodes"] = {"open": [], "recent": out.pop("journal_recent")}
            return out
        except Exception as exc:  # noqa: BLE001 - a journal being written or migrated: the page says so and retries
            logger.debug("journal not read: %s", exc)
            return {"journal_error": type(exc).__name__}
        finally:
            conn.close()


@dataclass(eq=False)
class _Client:
    queue: asyncio.Queue[bytes | None]
    request: web.Request
    dropped: bool = False


@dataclass
class _Stats:
    snapshots: int = 0
    dropped: int = 0
    refused: int = 0


class WebServer:
    """The web view of one run (or one journal): ``start()``, ``stop()``; ``app`` for aiohttp's test client."""

    def __init__(self, config: WebConfig, source: Source, *, listen: str | None = None, token: str | None = None,
                 secrets_: Iterable[str] = (), say: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.source = source
        self.listen = listen or config.listen
        self.token = token
        self.host, self.port = check_listen(self.listen, token)
        self.say = say or (lambda line: logger.warning("%s", line))
        self.secrets = known_secrets([token, *secrets_])
        self.interval = config.snapshot_interval_ms / 1000
        self.clients: set[_Client] = set()
        self.sessions: set[str] = set()
        self.stats = _Stats()
        self._nonce = secrets.token_urlsafe(24)
        self._latest: bytes | None = None
        self._latest_at = 0.0
        self._journal: dict[str, Any] = {}
        self._journal_task: asyncio.Task[None] | None = None
        self._snap_task: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self._page = resources.files("arbscan.web").joinpath("static/page.html").read_text("utf-8")
        self._assets = {name: resources.files("arbscan.web").joinpath(f"static/{name}").read_bytes() for name in _ASSETS}
        self.url = ""
        self.app = self._make_app()

    # -- the app -------------------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        app.on_response_prepare.append(_headers)
        app.router.add_get("/", self._page_handler("routes"))
        for name in PAGES:
            app.router.add_get(f"/{name}", self._page_handler(name))
        app.router.add_get("/static/{name}", self._asset)
        app.router.add_get("/api/state", self._state)
        app.router.add_get("/api/events", self._events)
        app.router.add_get("/login/{nonce}", self._login)
        app.on_startup.append(self._on_startup)
        app.on_cleanup.append(self._on_cleanup)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            return web.Response(status=405, text="405: the web view is read-only\n", headers={"Allow": "GET, HEAD"})
        if self.token is None:
            host = (request.host or "").rsplit(":", 1)[0].strip("[]")
            if not is_loopback(host):
                self.stats.refused += 1
                return web.Response(status=403, text="403: this web view answers to loopback host names only\n")
            return await handler(request)
        if request.path.startswith("/login/"):
            return await handler(request)
        if self._authorised(request):
            return await handler(request)
        self.stats.refused += 1
        return web.Response(status=401, text=f"401: a token is required (Authorization: Bearer, from {TOKEN_ENV}, "
                                             "or the one-time login link printed at start)\n",
                            headers={"WWW-Authenticate": 'Bearer realm="arbscan"'})

    def _authorised(self, request: web.Request) -> bool:
        assert self.token is not None
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip().encode(), self.token.encode()):
            return True
        cookie = request.cookies.get(COOKIE)
        return bool(cookie) and any(hmac.compare_digest(cookie.encode(), s.encode()) for s in self.sessions)

    async def _login(self, request: web.Request) -> web.StreamResponse:
        if self.token is None:
            raise web.HTTPSeeOther("/")
        if not hmac.compare_digest(request.match_info["nonce"].encode(), self._nonce.encode()):
            self.stats.refused += 1
            return web.Response(status=401, text="401: this login link was used already or is not one\n")
        self._nonce = secrets.token_urlsafe(24)  # one use: the next person needs the next link
        session = secrets.token_urlsafe(32)
        if len(self.sessions) >= MAX_SESSIONS:
            self.sessions.pop()
        self.sessions.add(session)
        self.say(f"arbscan: web view: login link used; the next one is {self.login_url()}")
        resp = web.HTTPSeeOther("/")
        resp.set_cookie(COOKIE, session, httponly=True, samesite="Strict", path="/")
        raise resp

    def login_url(self) -> str:
        """The one-time link that sets the session cookie (only with a token)."""
        return f"{self.url}login/{self._nonce}"

    def _page_handler(self, name: str) -> Callable[[web.Request], Any]:
        html = self._page.replace("{{page}}", name).replace("{{title}}", name.capitalize())

        async def handler(request: web.Request) -> web.Response:
            return web.Response(text=html, content_type="text/html", charset="utf-8")
        return handler

    async def _asset(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self._assets:
            raise web.HTTPNotFound()
        return web.Response(body=self._assets[name], content_type=_ASSETS[name], charset="utf-8")

    async def _state(self, request: web.Request) -> web.Response:
        if self._latest is None or time.monotonic() - self._latest_at > self.interval:
            await self._snapshot()
        return web.Response(body=self._latest, content_type="application/json")

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if len(self.clients) >= self.config.max_clients:
            self.stats.refused += 1
            return web.Response(status=503, text=f"503: at most {self.config.max_clients} live pages at once\n",
                                headers={"Retry-After": "10"})
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"})
        await resp.prepare(request)
        client = _Client(asyncio.Queue(maxsize=2), request)
        self.clients.add(client)
        try:
            if self._latest is None:
                await self._snapshot()
            await resp.write(_event(self._latest))
            while True:
                data = await client.queue.get()
                if data is None:
                    break
                await asyncio.wait_for(resp.write(data), timeout=SLOW_CLIENT_S)
        except (ConnectionError, asyncio.TimeoutError, RuntimeError):
            pass
        finally:
            self.clients.discard(client)
        return resp

    # -- snapshots -----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The page state now: the source's pages merged with the journal's part, secrets redacted."""
        st: dict[str, Any] = {"title": self.source.title, "taken": time.time(), "interval_ms": self.config.snapshot_interval_ms}
        st.update(self._journal)
        if self.source.workers is not None:
            routes = self._journal.get("journal_routes", [])
            self.source.workers.journal_routes = lambda now: [dict(r) for r in routes]
        if self.source.pages is not None:
            for attempt in range(3):
                try:
                    st.update(self.source.pages())
                    break
                except RuntimeError:  # a dict of the replay's changed size while copied: take it again
                    if attempt == 2:
                        raise
        if st.get("episodes") is not None and st["episodes"].get("recent") is None:
            st["episodes"]["recent"] = self._journal.get("journal_recent", [])
        st.pop("journal_routes", None)
        st.pop("journal_recent", None)
        return st

    def encode(self, state: dict[str, Any]) -> bytes:
        """The state as JSON with every known secret replaced."""
        text = json.dumps(state, separators=(",", ":"), default=str, ensure_ascii=False)
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "[redacted]")
        return text.encode("utf-8")

    async def _snapshot(self) -> None:
        self._latest = self.encode(self.state())
        self._latest_at = time.monotonic()
        self.stats.snapshots += 1

    def _broadcast(self) -> None:
        assert self._latest is not None
        message = _event(self._latest)
        for client in list(self.clients):
            try:
                client.queue.put_nowait(message)
            except asyncio.QueueFull:  # two snapshots behind: too slow to take its events
                self._drop(client)

    def _drop(self, client: _Client) -> None:
        client.dropped = True
        self.clients.discard(client)
        self.stats.dropped += 1
        transport = client.request.transport
        if transport is not None:
            transport.close()
        logger.info("web view: a client too slow for its event stream was dropped")

    async def _snapshots(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if self.clients:
                try:
                    await self._snapshot()
                except Exception:  # noqa: BLE001 - a page that cannot be drawn never stops the scan
                    logger.exception("web view: snapshot failed")
                    continue
                self._broadcast()

    async def _journal_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self.source.db is not None:
                try:
                    self._journal = await loop.run_in_executor(None, self.source.read_journal)
                except Exception:  # noqa: BLE001
                    logger.exception("web view: journal read failed")
            if self.source.shards is not None:
                try:
                    self._journal = {**self._journal, **await loop.run_in_executor(None, self.source.read_shards)}
                except Exception:  # noqa: BLE001
                    logger.exception("web view: the bus's shards not read")
            await asyncio.sleep(JOURNAL_EVERY_S)

    async def _on_startup(self, app: web.Application) -> None:
        self._journal_task = asyncio.create_task(self._journal_loop(), name="web-journal")
        self._snap_task = asyncio.create_task(self._snapshots(), name="web-snapshots")

    async def _on_cleanup(self, app: web.Application) -> None:
        for client in list(self.clients):
            client.queue.put_nowait(None) if not client.queue.full() else self._drop(client)
        for task in (self._journal_task, self._snap_task):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in (self._journal_task, self._snap_task) if t is not None), return_exceptions=True)

    # -- serving -------------------------------------------------------------------------------

    async def start(self) -> str:
        """Bind and serve; returns the URL (``BadInput`` when the address cannot be bound)."""
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise BadInput(f"--web {self.listen}: cannot listen there ({exc.strerror or exc})") from None
        port = self.port
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            port = server.sockets[0].getsockname()[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.port = port
        self.url = f"http://{host}:{port}/"
        self.say(f"arbscan: web view at {self.url}")
        if self.token is not None:
            self.say(f"arbscan: web view: one-time login link {self.login_url()} (or send Authorization: Bearer "
                     f"${TOKEN_ENV})")
        return self.url

    async def stop(self) -> None:
        """Close every stream and the listening socket."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def _event(data: bytes | None) -> bytes:
    return b"data: " + (data or b"{}") + b"\n\n"


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


@dataclass
class WebThread:
    """A :class:`WebServer` on a thread with its own event loop, for a synchronous run (``replay``)."""

    server: WebServer
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _error: BaseException | None = None
    _ready: threading.Event = field(default_factory=threading.Event)

    def start(self) -> str:
        """Start serving; returns the URL once bound (re-raises a bind failure here)."""
        self._thread = threading.Thread(target=self._run, name="arbscan-web", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self.server.url

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.server.start())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self.server.stop())
            loop.close()

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
