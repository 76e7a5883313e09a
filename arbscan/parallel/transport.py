"""How the processes of ``--workers N`` talk: one-way ordered channels, many of them read together.

The roles (a shard, the journal writer, the executor) only use these three small interfaces, so a
role runs the same over local pipes (this module) or another bus:

* :class:`Outbox` — one producer's ordered channel: ``put(item)`` hands one item on and blocks while
  the consumer is behind (that is the backpressure: a shard never runs far ahead of the journal);
* :class:`Inbox` — its receiving end: ``poll()`` returns what is waiting without blocking;
* :class:`Mux` — many inboxes read together: ``wait(timeout)`` returns ``(key, item)`` pairs from
  whichever sources have something, and ``(key, CLOSED)`` once a source has ended (its producer
  closed it, or died).

What travels: journal batches (``arbscan.journal.store.Work``, values already as stored), and the shard
messages of ``arbscan.parallel.shard`` (routes with their books, book updates, watermarks, reports).
:func:`pipe` makes a local channel: a ``multiprocessing`` pipe, whose ends can be handed to a spawned
process (as arguments, or later through another pipe).
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
from collections.abc import Hashable, Iterable
from multiprocessing.connection import Connection, wait
from multiprocessing.reduction import ForkingPickler
from typing import Any, Protocol

__all__ = ["Outbox", "Inbox", "Mux", "Closed", "CLOSED", "pipe", "PipeOutbox", "PipeInbox", "PipeMux", "ThreadedOutbox"]


class Closed(Exception):
    """The other end of a channel is gone: it finished, or its process died."""


class _ClosedMarker:
    __slots__ = ()

    def __repr__(self) -> str:
        return "CLOSED"


CLOSED: Any = _ClosedMarker()
"""What :meth:`Mux.wait` returns for a source that has ended."""


class Outbox(Protocol):
    """One producer's ordered channel to one consumer."""

    def put(self, item: Any) -> None:
        """Hand ``item`` on; blocks while the consumer is behind. ``Closed`` when the consumer is gone."""

    def close(self) -> None:
        """No more items: the consumer sees the end of this channel."""


class Inbox(Protocol):
    """The receiving end of one channel."""

    def poll(self) -> list[Any]:
        """Every item waiting now, without blocking; ``Closed`` once the channel has ended and is empty."""

    def close(self) -> None:
        """Stop receiving."""


class Mux(Protocol):
    """Several inboxes read together, each known by a key."""

    def add(self, key: Hashable, inbox: Any) -> None:
        """Read ``inbox`` too, as ``key``."""

    def keys(self) -> list[Hashable]:
        """The sources still open."""

    def wait(self, timeout: float | None, keys: Iterable[Hashable] | None = None) -> list[tuple[Hashable, Any]]:
        """Items from the sources (only ``keys`` when given) that have some, waiting up to ``timeout`` seconds."""


# -- local pipes -----------------------------------------------------------------------------------


class PipeOutbox:
    """The sending end of a local pipe."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def put(self, item: Any) -> None:
        """Send ``item`` (pickled); blocks while the pipe is full."""
        try:
            self.conn.send(item)
        except (BrokenPipeError, ConnectionResetError, OSError) as exc:
            raise Closed(str(exc)) from None

    def close(self) -> None:
        """Close this end; the reader sees the end of the stream once it has read everything sent."""
        self.conn.close()


class PipeInbox:
    """The receiving end of a local pipe."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def fileno(self) -> int:
        """The file descriptor to wait on."""
        return self.conn.fileno()

    def poll(self) -> list[Any]:
        """Every item waiting now; ``Closed`` once the sender closed (or died) and nothing is left."""
        items = []
        try:
            while self.conn.poll():
                items.append(self.conn.recv())
        except (EOFError, OSError):
            if items:
                return items
            raise Closed("the sender is gone") from None
        return items

    def close(self) -> None:
        """Close this end."""
        self.conn.close()


class PipeMux:
    """Local pipes read together with ``multiprocessing.connection.wait``."""

    def __init__(self, per_source: int = 64) -> None:
        self._by_conn: dict[Connection, Hashable] = {}
        self._by_key: dict[Hashable, Connection] = {}
        self.per_source = per_source  # items taken from one ready source per wait, so none starves the others

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._by_key

    def add(self, key: Hashable, inbox: PipeInbox) -> None:
        """Read ``inbox`` too, as ``key``."""
        self._by_conn[inbox.conn] = key
        self._by_key[key] = inbox.conn

    def keys(self) -> list[Hashable]:
        """The sources still open."""
        return list(self._by_key)

    def remove(self, key: Hashable) -> None:
        """Stop reading ``key`` and close it."""
        conn = self._by_key.pop(key, None)
        if conn is not None:
            self._by_conn.pop(conn, None)
            conn.close()

    def wait(self, timeout: float | None, keys: Iterable[Hashable] | None = None) -> list[tuple[Hashable, Any]]:
        """Items from the ready sources; a source that ended gives ``(key, CLOSED)`` once and is removed."""
        conns = list(self._by_conn) if keys is None else [self._by_key[k] for k in keys if k in self._by_key]
        if not conns:
            return []
        out: list[tuple[Hashable, Any]] = []
        for conn in wait(conns, timeout):
            key = self._by_conn[conn]
            try:
                for _ in range(self.per_source):
                    out.append((key, conn.recv()))
                    if not conn.poll():
                        break
            except (EOFError, OSError):
                out.append((key, CLOSED))
                self.remove(key)
        return out


class ThreadedOutbox:
    """A local pipe's sending end whose writes happen on a thread, so an event loop never waits for a full pipe.

    ``put`` pickles the item on the caller's thread (about 0.25 ms for 200 journal rows) and queues the
    bytes; a thread writes them, holding the GIL only to take them from the queue. Up to ``waiting``
    items may wait (then ``put`` blocks): a live shard's journal, like one process's ``Store`` in a
    live scan, is not held back by the writer unless it falls that far behind. A failed write is
    raised as ``Closed`` by the next ``put``; ``close`` writes what waits, then closes the pipe.
    """

    def __init__(self, inner: PipeOutbox, waiting: int = 1000) -> None:
        self.inner = inner
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=waiting)
        self._error: str | None = None
        self._thread = threading.Thread(target=self._run, name="arbscan-send", daemon=True)
        self._thread.start()

    def put(self, item: Any) -> None:
        """Pickle ``item`` and queue it for the sending thread; blocks while ``waiting`` items wait."""
        if self._error is not None:
            raise Closed(self._error)
        self._queue.put(bytes(ForkingPickler.dumps(item)))

    def close(self) -> None:
        """Write everything queued, then close the pipe."""
        self._queue.put(None)
        self._thread.join()
        self.inner.close()

    def _run(self) -> None:
        while True:
            data = self._queue.get()
            if data is None:
                return
            if self._error is None:
                try:
                    self.inner.conn.send_bytes(data)  # what Connection.send does after pickling
                except (BrokenPipeError, ConnectionResetError, OSError) as exc:
                    self._error = str(exc)


def pipe() -> tuple[PipeInbox, PipeOutbox]:
    """A new local one-way channel: (receiving end, sending end)."""
    receiving, sending = multiprocessing.Pipe(duplex=False)
    return PipeInbox(receiving), PipeOutbox(sending)
