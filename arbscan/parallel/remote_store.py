"""The journal as a shard (or the executor) sees it with ``--workers N``: ``Store``'s interface, rows sent to the writer.

:class:`RemoteStore` does no SQLite work: it converts each row as the journal stores it
(``arbscan.journal.schema.to_db_value``, the run id added), gathers rows into a batch of
``(operation, table, rows, key)`` items (``arbscan.journal.store.Work``) and hands the batch to the journal
writer process through an ``arbscan.parallel.transport.Outbox`` when it holds ``batch_rows`` rows, or when
``flush_interval`` seconds have passed since its first row and the owner calls :meth:`tick` (the
replay loop does so every few hundred events, a live shard on a timer). The writer commits each
batch it receives in one transaction, so the journal's guarantees are ``Store``'s: a crash loses at
most the batch or two in flight. A send blocks while the writer is behind: a fast shard waits.
When the writer is gone, rows are counted in ``lost_rows`` and logged once, never raised into the
scanner or an executor: the run's owner sees the writer's death and fails the run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from arbscan.journal.schema import to_db_value
from arbscan.journal.tables import ScannerTables
from arbscan.parallel.transport import Closed, Outbox

__all__ = ["RemoteStore"]

logger = logging.getLogger(__name__)

_STORED_AS_IS = frozenset({str, int, float, type(None)})
"""Types ``to_db_value`` returns unchanged (exactly these: a bool, an Enum or a Decimal is converted)."""


class RemoteStore(ScannerTables):
    """``arbscan.journal.store.Store``'s writing interface over an outbox to the journal writer process.

    The scanner's ``record_*`` methods are ``arbscan.journal.tables``'s, as ``Store``'s are.
    """

    def __init__(self, outbox: Outbox, run_id: int | None, path: str | Path | None = None, *, batch_rows: int = 200,
                 flush_interval: float = 0.2, clock: Callable[[], float] = time.monotonic) -> None:
        self.outbox = outbox
        self.run_id = run_id
        self.path = Path(path) if path is not None else None
        self.batch_rows = batch_rows
        self.flush_interval = flush_interval
        self.clock = clock
        self.rows_sent = 0
        self.lost_rows = 0  # rows that could not be handed on: the writer was gone
        self._work: list[tuple[str, str, list[dict[str, Any]], Any]] = []
        self._rows = 0
        self._since: float | None = None

    # -- Store's writing interface ---------------------------------------------------------

    def submit(self, table: str, row: Mapping[str, Any]) -> None:
        """Queue one row for ``table``."""
        self._put("insert", table, (row,), None)

    def submit_many(self, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Queue many rows for ``table``."""
        self._put("insert", table, rows, None)

    def submit_ignore(self, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Queue rows whose primary key may already be stored; repeats are ignored."""
        self._put("insert_ignore", table, rows, None)

    def upsert(self, table: str, row: Mapping[str, Any], pk: str | tuple[str, ...]) -> None:
        """Queue an insert-or-update of one row keyed by ``pk``."""
        self._put("upsert", table, (row,), pk)

    def upsert_many(self, table: str, rows: Iterable[Mapping[str, Any]], pk: str | tuple[str, ...]) -> None:
        """Queue inserts-or-updates keyed by ``pk``."""
        self._put("upsert", table, rows, pk)

    # -- sending ---------------------------------------------------------------------------

    @property
    def backlog(self) -> int:
        """Rows gathered but not sent yet."""
        return self._rows

    def tick(self) -> None:
        """Send the gathered rows when the first of them has waited ``flush_interval`` seconds."""
        if self._since is not None and self.clock() - self._since >= self.flush_interval:
            self.send()

    def backpressure(self, max_rows: int | None = None) -> None:
        """What a replay loop calls every few hundred events: :meth:`tick` (a send blocks while the writer is behind)."""
        self.tick()

    def send(self) -> None:
        """Hand every gathered row to the writer now, as one batch."""
        if self._work:
            work, self._work = self._work, []
            rows, self._rows, self._since = self._rows, 0, None
            if self.lost_rows:
                self.lost_rows += rows
                return
            try:
                self.outbox.put(work)
            except Closed:
                self.lost_rows += rows
                logger.error("the journal writer is gone: %d rows not journaled, and none after them", rows)
                return
            self.rows_sent += rows

    def flush(self, timeout: float | None = None) -> None:
        """Send what is gathered; the writer commits it (the run's owner waits for the writer to end)."""
        self.send()

    def _put(self, op: str, table: str, rows: Iterable[Mapping[str, Any]], pk: Any) -> None:
        run_id = self.run_id
        batch = []
        for row in rows:
            clean = dict(row)
            for k, v in row.items():
                if type(v) not in _STORED_AS_IS:  # a live shard converts on its event loop: a type check is cheaper
                    clean[k] = to_db_value(v)
            if run_id is not None:
                clean.setdefault("run_id", run_id)
            batch.append(clean)
        if not batch:
            return
        self._work.append((op, table, batch, pk))
        self._rows += len(batch)
        if self._since is None:
            self._since = self.clock()
        if self._rows >= self.batch_rows:
            self.send()
