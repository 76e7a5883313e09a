"""A loopback HTTP server standing in for alert destinations (webhook, Slack, Discord, Telegram).

It runs aiohttp.web on 127.0.0.1 in a thread of its own (so sync CLI tests and async tests use it
alike, and a slow answer never runs on the test's event loop), records every request (path,
headers, body, arrival time) and answers from a script of :class:`Answer` s, then with ``default``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Answer:
    """One scripted answer: status, body (a dict is sent as JSON), headers, a delay, or held until released."""

    status: int = 200
    body: object = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hold: bool = False  # wait for AlertServer.release()


@dataclass
class Seen:
    """One request as the server received it."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival

    def json(self):
        return json.loads(self.body)


class AlertServer:
    """``with AlertServer([Answer(500), Answer()]) as srv: ... srv.url ... srv.seen``."""

    def __init__(self, answers=(), default: Answer | None = None) -> None:
        self.answers = list(answers)
        self.default = default or Answer()
        self.seen: list[Seen] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._released: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), name="alert-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> AlertServer:
        self._thread.start()
        assert self._ready.wait(10), "alert server did not start"
        return self

    def __exit__(self, *exc) -> None:
        self.release()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        assert not self._thread.is_alive(), "alert server did not stop"

    def release(self) -> None:
        """Let held answers go."""
        if self._loop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._released.set)
            except RuntimeError:
                pass

    def wait_for(self, n: int, timeout: float = 10.0) -> list[Seen]:
        """Block until ``n`` requests have arrived (AssertionError after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while len(self.seen) < n:
            assert time.monotonic() < deadline, f"only {len(self.seen)} of {n} requests arrived"
            time.sleep(0.01)
        return self.seen

    async def _handle(self, request: web.Request) -> web.Response:
        self.seen.append(Seen(request.path, dict(request.headers), await request.read(), time.monotonic()))
        answer = self.answers.pop(0) if self.answers else self.default
        if answer.hold:
            await self._released.wait()
        if answer.delay:
            await asyncio.sleep(answer.delay)
        body = answer.body
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        return web.Response(status=answer.status, body=body, headers=answer.headers)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._released, self._stop = asyncio.Event(), asyncio.Event()
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()
