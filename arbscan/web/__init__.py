"""The live web view: what a person sees of a running scan or replay, or of an ended run's journal, in a browser.

``scan --web`` / ``replay --web`` (or ``[web] enabled = true``) serve four pages (Routes, Venues, Episodes,
Trading) that follow the run through server-sent events; ``arbscan serve --db PATH`` serves the same pages
read-only from a journal. :mod:`arbscan.web.server` is the aiohttp server (auth, security headers, the event
streams), :mod:`arbscan.web.state` the scanner's page state, :mod:`arbscan.web.journal` what is read from a
journal; the page and its script and style are files in ``static/``, served from the package (no CDN).

Layer: beside ``arbscan.parallel`` and ``arbscan.bus`` (below ``arbscan.app``, which starts it); it may
import ``arbscan.parts`` and every layer below, never ``arbscan.app`` or ``arbscan.cli``.
"""

from __future__ import annotations

from typing import Any

from arbscan.config.web import WebConfig

__all__ = ["web_listen", "live_server", "replay_server", "workers_server", "serve_journal"]


def web_listen(config: WebConfig, flag: str | None) -> str | None:
    """Where to serve: the ``--web`` flag's address, else ``[web] listen`` when ``[web] enabled``; None: no web view."""
    if flag is not None:
        return flag or config.listen
    return config.listen if config.enabled else None


def _server(config: WebConfig, listen: str, source: Any, secrets_: Any = ()) -> Any:
    from arbscan.scan.view import say
    from arbscan.web.server import WebServer, web_token

    return WebServer(config, source, listen=listen, token=web_token(), secrets_=secrets_, say=say)


def live_server(config: WebConfig, listen: str, scanner: Any, driver: Any, adapters: Any, db: Any, run_id: int | None,
                title: str, secrets_: Any = ()) -> Any:
    """The web view of one process's ``scan`` (served on the scanner's event loop: ``await server.start()``)."""
    from arbscan.web.server import Source
    from arbscan.web.state import ScanState

    state = ScanState(scanner, driver, adapters)
    return _server(config, listen, Source(title, state.pages, db, run_id, clock=state.now), secrets_)


def replay_server(config: WebConfig, listen: str, scanner: Any, db: Any, run_id: int, title: str,
                  secrets_: Any = ()) -> Any:
    """The web view of a ``replay``, on a thread of its own (``.start()`` / ``.stop()``)."""
    from arbscan.web.server import Source, WebThread
    from arbscan.web.state import ScanState

    state = ScanState(scanner)
    return WebThread(_server(config, listen, Source(title, state.pages, db, run_id, clock=state.now), secrets_))


def workers_server(config: WebConfig, listen: str, view: Any, db: Any, run_id: int, title: str,
                   secrets_: Any = ()) -> Any:
    """The web view of the parent of ``scan --workers N``: every shard's venues, books and episodes merged."""
    from arbscan.web.server import Source
    from arbscan.web.state import WorkersState

    workers = WorkersState(view)
    return _server(config, listen, Source(title, workers.pages, db, run_id, workers=workers, clock=workers.now), secrets_)


def serve_journal(config: WebConfig, db: Any, run_id: int | None, listen: str | None, shards: Any = None) -> int:
    """``arbscan serve``: the pages of one run of the journal ``db`` (default: its newest), until Ctrl-C.

    ``shards`` (``serve --bus``: a ``ShardWatch``) adds the bus's live shards to the Venues page.

    ``BadInput`` for a journal that cannot be read, a run it does not hold, or a refused address.
    """
    import asyncio
    import signal

    from arbscan.errors import BadInput
    from arbscan.journal.store import Store
    from arbscan.web import journal
    from arbscan.web.server import Source

    Store.open_readonly(db).conn.close()  # BadInput naming the file when it is no journal
    conn = journal.connect(db)
    try:
        newest = journal.latest_run(conn)
        if run_id is not None and conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
            raise BadInput(f"--run {run_id}: the journal {str(db)!r} has no such run")
    finally:
        conn.close()
    if newest is None:
        raise BadInput(f"journal {str(db)!r} holds no run yet")
    chosen = run_id if run_id is not None else newest
    server = _server(config, listen or config.listen, Source(f"journal {db} (run {chosen})", None, db, chosen,
                                                             journal_only=True, shards=shards))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await server.start()
        try:
            await stop.wait()
        finally:
            await server.stop()

    asyncio.run(main())
    return 0
