"""``arbscan journal --bus URL --db PATH``: the one process that writes the SQLite journal from the bus.

It reads the journal stream (``arbscan.bus.subjects``) through the durable pull consumer
``arbscan-journal`` and commits what the shards and the executor sent. Nothing is lost and nothing is
written twice, whichever process dies when:

* each commit holds, in one SQLite transaction, the rows of up to :data:`FETCH` messages and the
  bookkeeping that says they are applied: the stream sequence read so far (``bus_cursor``) and each
  producer's last applied batch number (``bus_producers``); a message is acknowledged only after that
  commit, so a crash before it means the message comes again, and a crash after it means a repeat that
  is recognised and dropped;
* a producer's batch whose number is not above its last applied one is a repeat (a resend after a
  reconnection beyond JetStream's duplicate window, a replay shard restarted from the beginning of its
  file) and is dropped;
* at every (re)connection the durable consumer is re-anchored at the journal's own cursor: created
  again to deliver from the first sequence not yet applied, and the stream's messages up to the cursor
  (applied, but maybe not acknowledged) are purged. Batches of one producer are thus always applied in
  the order it sent them, which keeps its upserts in order.

Runs: the bus names a run (``--run``, or a name made of the replay file, the settings and N), and the
first message of a run opens its ``runs`` row here; its id is then put in the bucket ``arbscan_runs``
(the executor names its trades after it, as one process does). The row ends when each of its N shards has sent
its end (status: the worst of theirs; events: their sum); a later shard start (a scan shard started
again) reopens it. Each row gets this journal's run id, whatever the producer sent.
"""

from __future__ import annotations

import json
import logging
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from arbscan.bus.codec import decode_json
from arbscan.bus.connection import Bus
from arbscan.bus.subjects import HEARTBEAT_TTL_S, JOURNAL_STREAM, JOURNAL_SUBJECT, RUNS_BUCKET, SHARDS_BUCKET, token
from arbscan.errors import UnexpectedPayload, WriteFailed
from arbscan.journal.file import journal_write_failed
from arbscan.journal.writer import rollback

__all__ = ["JournalConsumer", "run_journal", "DURABLE", "FETCH"]

logger = logging.getLogger(__name__)

DURABLE = "arbscan-journal"
FETCH = 256
"""Messages fetched, committed in one transaction and acknowledged at a time, at most."""

_STATUS_RANK = {"ok": 0, "interrupted": 1, "error": 2}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(slots=True)
class _Run:
    run_id: int
    shards: int
    ended: set[int] = field(default_factory=set)
    events: int = 0
    worst: str = "ok"


@dataclass(slots=True)
class _Open:
    """A scan shard's latest report of its open episodes: the rows that would close them, at its event clock."""

    run_key: str
    shard: int
    of: int
    work: list[Any]  # [op, table, rows, pk] as the shard's journal would send them
    clock: float | None
    received: float  # when this consumer applied the report (wall clock)
    stale: list[Any]  # [table, rowid] of the stale closes written for it (it was taken for dead)


OPEN_TABLE = ("CREATE TABLE IF NOT EXISTS bus_open (producer TEXT PRIMARY KEY, run_key TEXT, shard INTEGER, "
              "of INTEGER, work TEXT, clock REAL, received REAL, stale TEXT)")
"""The open episodes each live scan shard reported last (kept with the cursor, in the same transactions)."""


class JournalConsumer:
    """Applies journal messages to an SQLite journal, idempotently (module docstring). No NATS in here."""

    def __init__(self, path: str) -> None:
        from arbscan.journal.store import Store

        Store(path).close()  # checks the path (one line when it cannot be used) and migrates the schema
        self.path = path
        self.conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self._columns: dict[str, set[str]] = {}
        self.conn.execute(OPEN_TABLE)
        self.rows = self.batches = self.repeats = 0
        self._load()

    def _load(self) -> None:
        """The bookkeeping as committed (at start, and after a transaction that failed)."""
        self._columns.clear()
        self.runs: dict[str, _Run] = {}
        for key, rid, shards, ended, events, worst in self.conn.execute(
                "SELECT run_key, run_id, shards, ended, events, worst FROM bus_runs"):
            self.runs[key] = _Run(rid, shards or 0, set(json.loads(ended or "[]")), events or 0, worst or "ok")
        self.last_seq: dict[str, int] = dict(self.conn.execute("SELECT producer, last_seq FROM bus_producers"))
        self.ended_producers = {p for (p,) in self.conn.execute("SELECT producer FROM bus_producers WHERE ended = 1")}
        row = self.conn.execute("SELECT seq, created FROM bus_cursor WHERE stream = ?", (JOURNAL_STREAM,)).fetchone()
        self.cursor, self.stream_created = (row[0], row[1]) if row else (0, None)
        self.unannounced: set[str] = set(self.runs)  # run ids not yet in the bucket arbscan_runs (all, at start)
        self.open: dict[str, _Open] = {}
        for key, run_key, shard, of, work, clock, received, stale in self.conn.execute(
                "SELECT producer, run_key, shard, of, work, clock, received, stale FROM bus_open"):
            self.open[key] = _Open(run_key, shard, of, json.loads(work), clock, received, json.loads(stale or "[]"))

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    # -- applying ----------------------------------------------------------------------------

    def apply(self, messages: list[tuple[int, bytes]]) -> int:
        """Commit ``(stream sequence, data)`` messages in one transaction; returns the cursor after them."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            touched: dict[str, int] = {}
            rows = 0
            cursor = self.cursor
            for sseq, data in messages:
                if sseq <= cursor:
                    continue  # applied before: a redelivery
                cursor = sseq
                try:
                    body = decode_json(data)
                    rows += self._apply_one(body, touched)
                except (UnexpectedPayload, KeyError, TypeError, ValueError) as exc:
                    logger.error("journal stream message %d skipped: %s", sseq, exc)
            now = time.time()
            for producer, run_key in touched.items():
                conn.execute(
                    "INSERT INTO bus_producers (producer, run_key, last_seq, rows, ended, updated) VALUES (?, ?, ?, 0, ?, ?) "
                    "ON CONFLICT(producer) DO UPDATE SET last_seq = excluded.last_seq, ended = excluded.ended, "
                    "updated = excluded.updated", (producer, run_key, self.last_seq[producer],
                                                   int(producer in self.ended_producers), now))
            conn.execute("INSERT INTO bus_cursor (stream, seq, created) VALUES (?, ?, ?) ON CONFLICT(stream) "
                         "DO UPDATE SET seq = excluded.seq, created = excluded.created",
                         (JOURNAL_STREAM, cursor, self.stream_created))
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)  # SQLite may have rolled back already (a full disk): the cause is what is raised
            created = self.stream_created
            self._load()
            self.stream_created = created
            raise
        self.cursor = cursor
        self.rows += rows
        self.batches += 1
        return cursor

    def _apply_one(self, body: dict[str, Any], touched: dict[str, int]) -> int:
        run_key, producer, seq, kind = body["run"], body["p"], int(body["s"]), body["k"]
        key = f"{run_key}|{producer}"
        last = self.last_seq.get(key, 0)
        if seq <= last:
            self.repeats += 1
            return 0
        if seq != last + 1:
            logger.warning("%s: batch %d follows %d; batches in between never reached the stream", key, seq, last)
        self.last_seq[key] = seq
        touched[key] = run_key
        run = self._run(run_key, body)
        gone = self.open.get(key)
        if gone is not None and gone.stale:  # it was taken for dead: it was only cut off; its own rows replace ours
            self._withdraw(key, gone)
        if kind == "rows":
            return self._rows(run.run_id, body["x"])
        if kind == "open":
            x = body["x"]
            self.open[key] = _Open(run_key, int(body.get("shard", 0)), int(body.get("of", 0)), x["work"],
                                   x.get("clock"), time.time(), [])
            self._save_open(key)
        elif kind == "start":
            self._start(run_key, run, body)
        elif kind == "end":
            self.ended_producers.add(key)
            if self.open.pop(key, None) is not None:
                self.conn.execute("DELETE FROM bus_open WHERE producer = ?", (key,))
            if "shard" in body:
                self._shard_end(run_key, run, body)
        return 0

    def _run(self, run_key: str, body: dict[str, Any]) -> _Run:
        run = self.runs.get(run_key)
        if run is None:
            meta = body["x"] if body["k"] == "start" else {}
            settings = dict(meta.get("settings") or {})
            settings["bus_run"] = run_key
            cur = self.conn.execute(
                "INSERT INTO runs (started, mode, source, settings, status, events, pid, host) "
                "VALUES (?, ?, ?, ?, 'running', 0, NULL, ?)",
                (meta.get("started", time.time()), meta.get("mode", "bus"), meta.get("source"),
                 json.dumps(settings, default=str, sort_keys=True), meta.get("host")))
            run = self.runs[run_key] = _Run(int(cur.lastrowid), int(body.get("of") or 0))
            self._save_run(run_key, run)
            self.unannounced.add(run_key)
        return run

    def _start(self, run_key: str, run: _Run, body: dict[str, Any]) -> None:
        meta = body["x"]
        if body.get("of"):
            run.shards = int(body["of"])
        if "shard" in body and body["shard"] in run.ended:  # a shard started again (a scan): the run goes on
            run.ended.discard(body["shard"])
            self.conn.execute("UPDATE runs SET status = 'running', ended = NULL WHERE id = ?", (run.run_id,))
        self.conn.execute("UPDATE runs SET mode = ?, source = COALESCE(?, source) WHERE id = ? AND mode = 'bus'",
                          (meta.get("mode", "bus"), meta.get("source"), run.run_id))
        self._save_run(run_key, run)

    def _shard_end(self, run_key: str, run: _Run, body: dict[str, Any]) -> None:
        meta = body["x"]
        run.ended.add(int(body["shard"]))
        run.events += int(meta.get("events") or 0)
        status = meta.get("status", "ok")
        if _STATUS_RANK.get(status, 2) > _STATUS_RANK.get(run.worst, 0):
            run.worst = status
        if run.shards and len(run.ended) >= run.shards:
            self.conn.execute("UPDATE runs SET ended = ?, status = ?, events = ? WHERE id = ?",
                              (time.time(), run.worst, run.events, run.run_id))
        self._save_run(run_key, run)

    # -- the open episodes of a scan shard that is gone ---------------------------------------

    def _save_open(self, key: str) -> None:
        o = self.open[key]
        self.conn.execute(
            "INSERT INTO bus_open (producer, run_key, shard, of, work, clock, received, stale) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(producer) DO UPDATE SET work = excluded.work, clock = excluded.clock, "
            "received = excluded.received, stale = excluded.stale",
            (key, o.run_key, o.shard, o.of, json.dumps(o.work), o.clock, o.received, json.dumps(o.stale)))

    def close_gone(self, alive: set[str], now: float | None = None, grace: float = HEARTBEAT_TTL_S
                   ) -> list[tuple[str, _Open, int]]:
        """Journal as closed ``stale`` (``close_detail`` 'shard_died') the open episodes of every scan shard whose
        heartbeat is gone (its producer name not in ``alive``) and whose last report is older than ``grace`` s.

        Each is closed at its shard's event clock of that report plus the time since it came, as the parent of
        ``--workers`` closes a dead shard's episodes. Returns ``(producer key, its report, episodes closed)``.
        """
        now = time.time() if now is None else now
        gone = [(k, o) for k, o in self.open.items()
                if not o.stale and k.split("|", 1)[1] not in alive and now - o.received >= grace]
        if not gone:
            return []
        out = []
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            for key, o in gone:
                run = self.runs.get(o.run_key)
                closed_at = (o.clock if o.clock is not None else o.received) + (now - o.received)
                count = 0
                for op, table, rows, _pk in o.work:
                    has_run = "run_id" in self._table_columns(table, rows)
                    for row in rows:
                        row = {**row, "closed_at": closed_at, "close_reason": "stale", "close_detail": "shard_died"}
                        if has_run and run is not None:
                            row["run_id"] = run.run_id
                        cur = self.conn.execute(self._statement(op, table, None, tuple(row)), tuple(row.values()))
                        o.stale.append([table, cur.lastrowid])
                        count += 1
                if not o.stale:
                    o.stale.append(["", 0])  # nothing was open: still taken for dead, once
                self._save_open(key)
                out.append((key, o, count))
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            self._load()
            raise
        return out

    def _withdraw(self, key: str, o: _Open) -> None:
        """A shard taken for dead sends again: the stale closes written for it are removed (its rows say better)."""
        for table, rowid in o.stale:
            if table:
                self.conn.execute(f"DELETE FROM {_quote(table)} WHERE rowid = ?", (rowid,))
        logger.warning("journal: %s was taken for dead but sends again; its %d stale close(s) withdrawn",
                       key, sum(1 for t, _ in o.stale if t))
        o.stale = []
        self._save_open(key)

    def _save_run(self, run_key: str, run: _Run) -> None:
        self.conn.execute(
            "INSERT INTO bus_runs (run_key, run_id, shards, ended, events, worst) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(run_key) DO UPDATE SET shards = excluded.shards, ended = excluded.ended, "
            "events = excluded.events, worst = excluded.worst",
            (run_key, run.run_id, run.shards, json.dumps(sorted(run.ended)), run.events, run.worst))

    def _rows(self, run_id: int, work: list[Any]) -> int:
        """Execute a batch's rows (consecutive rows with the same statement share one ``executemany``)."""
        count = 0
        for op, table, rows, pk in work:
            if not rows:
                continue
            has_run = "run_id" in self._table_columns(table, rows)
            sql, cols, params = None, None, []
            for row in rows:
                if has_run:
                    row["run_id"] = run_id
                keys = tuple(row)
                if keys != cols:
                    if params:
                        self.conn.executemany(sql, params)
                    sql, cols, params = self._statement(op, table, pk, keys), keys, []
                params.append(tuple(row.values()))
            self.conn.executemany(sql, params)
            count += len(rows)
        return count

    def _table_columns(self, table: str, rows: list[dict[str, Any]]) -> set[str]:
        """The table's columns; a table or column this journal lacks (a newer producer) is added first."""
        known = self._columns.get(table)
        if known is None:
            known = self._columns[table] = {r[1] for r in self.conn.execute(f"PRAGMA table_info({_quote(table)})")}
        wanted = {c for row in rows for c in row} | ({"run_id"} if not known else set())
        missing = wanted - known
        if missing:
            if not known:
                self.conn.execute(f"CREATE TABLE {_quote(table)} ({', '.join(map(_quote, sorted(wanted)))})")
            else:
                for col in sorted(missing):
                    self.conn.execute(f"ALTER TABLE {_quote(table)} ADD COLUMN {_quote(col)}")
            logger.warning("journal: %s %s added for a newer producer", table, ", ".join(sorted(missing)))
            known |= missing
        return known

    @staticmethod
    def _statement(op: str, table: str, pk: Any, cols: tuple[str, ...]) -> str:
        head = f"INTO {_quote(table)} ({', '.join(map(_quote, cols))}) VALUES ({', '.join('?' for _ in cols)})"
        if op == "insert":
            return f"INSERT {head}"
        if op == "insert_ignore":
            return f"INSERT OR IGNORE {head}"
        keys = [pk] if isinstance(pk, str) else list(pk)
        rest = [c for c in cols if c not in keys]
        action = "DO UPDATE SET " + ", ".join(f"{_quote(c)} = excluded.{_quote(c)}" for c in rest) if rest else "DO NOTHING"
        return f"INSERT {head} ON CONFLICT({', '.join(map(_quote, keys))}) {action}"


def run_journal(bus: Bus, path: str, stop: threading.Event, say: Callable[[str], None],
                on_commit: Callable[[JournalConsumer], None] | None = None) -> JournalConsumer:
    """Consume the journal stream into ``path`` until ``stop`` is set; returns the consumer (its counts)."""
    consumer = JournalConsumer(path)
    state: dict[str, Any] = {"sub": None}

    async def anchor() -> None:
        """(Re)create the durable consumer at the journal's cursor; purge what the journal already holds."""
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
        from nats.js.errors import NotFoundError

        js = bus.js
        info = await js.stream_info(JOURNAL_STREAM)
        created = str(info.created) if getattr(info, "created", None) is not None else None
        if consumer.stream_created is not None and created is not None and created != consumer.stream_created:
            say("arbscan: journal: the journal stream was created anew (a NATS store lost?); reading it from "
                "its start (batches already applied are recognised by their numbers)")
            consumer.cursor = 0
        consumer.stream_created = created
        if info.state.last_seq < consumer.cursor:
            say(f"arbscan: journal: the journal stream ends at {info.state.last_seq} but {path} has read up to "
                f"{consumer.cursor}; reading from the stream's start")
            consumer.cursor = 0
        try:
            await js.delete_consumer(JOURNAL_STREAM, DURABLE)
        except NotFoundError:
            pass
        if consumer.cursor:
            await js.purge_stream(JOURNAL_STREAM, seq=consumer.cursor + 1)  # keeps what is not applied yet
        first = max(info.state.first_seq, consumer.cursor + 1)
        if first > consumer.cursor + 1 and info.state.last_seq >= consumer.cursor + 1:
            say(f"arbscan: journal: the journal stream starts at {first}: messages {consumer.cursor + 1}-{first - 1} "
                f"are no longer in it (committed by another journal, or removed); {path} goes on from {first}")
        state["first"] = first  # the first sequence that can still come: nothing below it is waited for
        # a work queue's consumer delivers all it holds: after the purge, exactly what follows the cursor
        await js.add_consumer(JOURNAL_STREAM, ConsumerConfig(
            durable_name=DURABLE, deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT, ack_wait=120,
            max_ack_pending=FETCH * 4, filter_subject=JOURNAL_SUBJECT))
        state["sub"] = await js.pull_subscribe_bind(DURABLE, stream=JOURNAL_STREAM)
        if not state.get("said"):  # said once it is true: the consumer is bound, the stream is read from here on
            state["said"] = True
            say(f"arbscan: journal: committing the journal stream ({bus.url}) into {path} from message {first}")

    async def fetch() -> list[Any]:
        import nats.errors

        sub = state["sub"]
        if sub is None:
            await anchor()
            sub = state["sub"]
        try:
            return await sub.fetch(FETCH, timeout=0.5)
        except (nats.errors.TimeoutError, TimeoutError):
            return []

    async def announce() -> None:
        """Put the run ids not yet in the bucket (after the commit that created them)."""
        kv = bus.kv[RUNS_BUCKET]
        for run_key in sorted(consumer.unannounced):
            await kv.put(token(run_key), str(consumer.runs[run_key].run_id).encode())
            consumer.unannounced.discard(run_key)

    async def ack(msgs: list[Any]) -> None:
        for m in msgs:
            await m.ack()

    def on_connect() -> Any:
        async def hook() -> None:
            state["sub"] = None  # anchored again before the next fetch
            consumer.unannounced |= set(consumer.runs)  # a server that lost its store lost the bucket too

        return hook()

    bus.on_connect.append(on_connect)
    bus.waiting_for = "NATS (the journal stream)"
    try:
        while not stop.is_set():
            if not bus.wait_connected(0.5):
                continue
            try:
                if consumer.unannounced:
                    bus.call(announce(), timeout=10)
                msgs = bus.call(fetch(), timeout=30)
            except Exception as exc:  # noqa: BLE001 - the connection went: anchored again once it is back
                if str(exc) != state.get("failed"):
                    state["failed"] = str(exc)
                    (logger.debug if not bus.connected.is_set() else logger.warning)("journal: reading the stream failed: %s", exc)
                state["sub"] = None
                time.sleep(0.1)
                continue
            state["failed"] = None
            # caught up with the stream (nothing more pending): a scan shard without a heartbeat now is gone
            if consumer.open and (not msgs or msgs[-1].metadata.num_pending == 0) \
                    and time.monotonic() - state.get("checked", 0.0) >= 1.0:
                state["checked"] = time.monotonic()
                _close_gone(bus, consumer, say)
            if not msgs:
                continue
            expected = max(consumer.cursor + 1, state.get("first", 0))
            batch = []
            for m in msgs:
                sseq = m.metadata.sequence.stream
                if sseq > expected:  # one before it is still out (a redelivery to come): never apply past it
                    logger.info("journal stream: message %d came before %d; anchoring again", sseq, expected)
                    state["sub"] = None
                    break
                batch.append((sseq, m.data))
                expected = max(expected, sseq + 1)
            if not batch:
                continue
            try:
                consumer.apply(batch)  # committed: now (and only now) the messages may leave the stream
            except (sqlite3.Error, OSError) as exc:  # a full disk: stop, acknowledge nothing, skip nothing
                failure = journal_write_failed(path, exc)
                raise WriteFailed(f"{failure}; stream messages from {batch[0][0]} on were not acknowledged and stay "
                                  "in the stream: run 'arbscan journal' again once the disk has space and it goes on "
                                  "from there") from None
            try:
                bus.call(ack(msgs[:len(batch)]), timeout=30)
            except Exception as exc:  # noqa: BLE001 - unacknowledged: they come again and are recognised
                logger.debug("journal ack failed: %s", exc)
            if on_commit is not None:
                on_commit(consumer)
    finally:
        consumer.close()
    return consumer


def _close_gone(bus: Bus, consumer: JournalConsumer, say: Callable[[str], None]) -> None:
    """Close the open episodes of the scan shards whose heartbeat is gone (``JournalConsumer.close_gone``)."""
    from arbscan.bus.connection import bucket_entries

    try:
        beats = bus.call(bucket_entries(bus, SHARDS_BUCKET), timeout=5)
    except Exception as exc:  # noqa: BLE001 - the heartbeats cannot be read now: nobody is taken for dead
        logger.debug("heartbeats not read: %s", exc)
        return
    alive = set()
    for _key, value in beats:
        try:
            alive.add(json.loads(value).get("producer"))
        except ValueError:
            continue
    for key, o, closed in consumer.close_gone(alive):
        say(f"arbscan: journal: shard {o.shard + 1}/{o.of} of run {o.run_key} ({key.split('|', 1)[1]}) is gone "
            f"(no heartbeat for {HEARTBEAT_TTL_S:g} s); {closed} open episode(s) closed as stale")


def journal_main(bus: Bus, path: str, say: Callable[[str], None]) -> JournalConsumer:
    """``arbscan journal``: consume until SIGINT or SIGTERM (what has been fetched is committed first)."""
    stop = threading.Event()
    handlers = {sig: signal.signal(sig, lambda signum, frame: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return run_journal(bus, path, stop, say)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
