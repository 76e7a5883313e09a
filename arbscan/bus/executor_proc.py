"""``arbscan execute --bus URL --strategy NAME``: the one executor of a deployment, fed by the shards over the bus.

It follows the routes stream (an ordered JetStream consumer: every message once, in the stream's
order, from the moment it starts) and, per run, plays the shards' messages to its executors exactly
as the parent of ``--workers`` does (``arbscan.parallel.executor_feed``): a replay's messages merged by line
number (:class:`arbscan.parallel.executor_feed.LineMerge`), so a replay's trades are those of one process; a
scan's as they come, with the funding facts shard 1 shares (``arbscan.bus.funding``). A shard's messages carry its batch numbers: a repeat (a restarted replay shard
sending again from the start of its file) is dropped; a run whose beginning this executor did not see
(it started after the run's shards) is not traded, and it says so.

Its own journal rows (trades, orders, fills, balances) go to the journal stream like a shard's. A run
ends here when every shard of it has sent its report: the stream is closed for the executors (trades
still waiting end), their rows are sent, and one line sums the run up.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from arbscan.bus.codec import decode_pickle
from arbscan.bus.connection import Bus
from arbscan.bus.funding import FundingShare
from arbscan.bus.outbox import BusOutbox
from arbscan.bus.subjects import (EXECUTORS_BUCKET, HEARTBEAT_TTL_S, JOURNAL_SUBJECT, ROUTES_ALL, ROUTES_STREAM,
                                  RUNS_BUCKET, routes_subject, token)
from arbscan.config.settings import Settings
from arbscan.errors import UnexpectedPayload
from arbscan.parallel.executor_feed import ExecutorFeed, LineMerge
from arbscan.parallel.remote_store import RemoteStore
from arbscan.parallel.shard import ShardReport

__all__ = ["BusExecutor", "RunFeed"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class RunFeed:
    """One run as this executor follows it: its executors, the merge of its shards, their batch numbers."""

    run: str
    mode: str
    n: int
    feed: ExecutorFeed
    journal: RemoteStore
    outbox: BusOutbox
    merge: LineMerge | None  # replay: by line; scan: None (as they come)
    followed: frozenset[int] = frozenset()  # the shards whose routes this executor follows (all of 0..n-1, or some)
    last_seq: dict[int, int] = field(default_factory=dict)
    reports: dict[int, ShardReport] = field(default_factory=dict)
    hub: Any = None  # the run's [[alerts]] hub, or None
    share: Any = None  # a scan's funding facts from the bus (arbscan.bus.funding.FundingShare), or None

    @property
    def executors(self) -> list[Any]:
        """The executors trading this run."""
        return self.feed.executors


class BusExecutor:
    """Follows the routes stream and trades (see the module docstring); ``make_executors`` builds a run's executors."""

    def __init__(self, bus: Bus, settings: Settings, strategies: Sequence[str],
                 make_executors: Callable[[RemoteStore, dict[Any, Any], Any, dict[str, dict[str, Any]]], list[Any]],
                 say: Callable[[str], None], shards: frozenset[int] | None = None) -> None:
        self.bus = bus
        self.shards = shards  # the shards (0-based) whose routes this executor follows; None: every shard
        self.settings = settings
        self.strategies = list(strategies)
        self.make_executors = make_executors
        self.say = say
        self.producer = f"executor@{socket.gethostname()}-{os.getpid()}-{int(time.time())}"
        self.runs: dict[str, RunFeed] = {}
        self.ignored: set[str] = set()
        self.ended: list[tuple[str, list[Any]]] = []  # (run, executors) of the runs that ended, in order
        self.last_stream_seq = 0  # the last message seen, of any subscription
        self._last_seq: dict[str, int] = {}  # subject -> the last stream sequence seen on it
        self._subs: dict[str, Any] = {}
        self.outboxes: list[BusOutbox] = []  # every run's, ended ones included, until their rows are stored
        self._queue: asyncio.Queue[tuple[int, bytes]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._following = ""
        self._claims: dict[str, int] = {}  # strategy key -> revision in the bucket arbscan_executors
        self._renewing: Any = None
        self.lost: str | None = None  # another executor took this one's strategies: it trades no more

    # -- following the stream ------------------------------------------------------------------

    async def follow(self, following: str = "", stop: asyncio.Event | None = None) -> None:
        """Subscribe (again at every reconnection, from the last message seen); call from the main loop.

        ``following`` is said once, when the first subscription is made (not before: until then nothing is followed).
        First it waits until it holds each of its strategies (no other executor trades them), or ``stop`` is set.
        """
        self._following = following
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        if self.strategies:
            await self._claim_all(stop)
            if stop is not None and stop.is_set():
                return
        self.bus.on_connect.append(self._subscribe)
        self.bus.waiting_for = "NATS (the routes stream; no order is sent meanwhile)"
        if self.bus.connected.is_set():
            await asyncio.wrap_future(self.bus.submit(self._subscribe()))

    # -- one executor per strategy -------------------------------------------------------------

    def _claim_value(self) -> bytes:
        return json.dumps({"producer": self.producer, "strategies": self.strategies, "at": time.time()}).encode()

    async def _claim_all(self, stop: asyncio.Event | None) -> None:
        """Wait until this executor holds every one of its strategies in the bucket (saying once who holds one)."""
        said = ""
        while stop is None or not stop.is_set():
            holder = None
            if self.bus.wait_connected(0) and self.bus.kv.get(EXECUTORS_BUCKET) is not None:
                try:
                    holder = await asyncio.wrap_future(self.bus.submit(self._try_claim()))
                except Exception as exc:  # noqa: BLE001 - the connection went: tried again once it is back
                    logger.debug("strategy claim failed: %s", exc)
                    holder = "?"
                if holder is None:
                    break
                if holder != "?" and holder != said:
                    said = holder
                    self.say(f"arbscan: executor: waiting for {holder} to stop trading "
                             f"{', '.join(self.strategies)} (two executors never trade one strategy; a stopped "
                             f"executor's claim expires {HEARTBEAT_TTL_S:g} s after it)")
            await asyncio.sleep(0.5)
        else:
            return
        self._renewing = self.bus.submit(self._renew())

    def _claim_keys(self, name: str) -> tuple[str, list[str]]:
        """The strategy's key and this executor's keys for it: the strategy's own, or one per shard it follows."""
        base = token(f"strategy-{name}")
        return base, [base] if self.shards is None else [f"{base}.s{k + 1}" for k in sorted(self.shards)]

    async def _try_claim(self) -> str | None:
        """On the bus loop: claim each strategy (on every shard, or on the shards followed) not yet held; None when all
        are this executor's, else who holds one. A claim on every shard and one on some shards of the same strategy
        exclude each other: each is made, then the other kind looked for (one of two racing executors sees the other)."""
        from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NoKeysError

        kv = self.bus.kv[EXECUTORS_BUCKET]

        async def holder_of(key: str) -> str | None:
            try:
                entry = await kv.get(key)
            except KeyNotFoundError:
                return None
            holder = json.loads(entry.value or b"{}").get("producer") if entry.value else None
            return holder if holder and holder != self.producer else None

        for name in self.strategies:
            base, keys = self._claim_keys(name)
            for key in keys:
                try:
                    self._claims[key] = await kv.create(key, self._claim_value())
                    continue
                except KeyWrongLastSequenceError:
                    pass
                try:
                    entry = await kv.get(key)
                except KeyNotFoundError:
                    return "?"  # expired between the two calls: claimed at the next try
                holder = json.loads(entry.value or b"{}").get("producer")
                if holder != self.producer:
                    return f"{holder} (strategy {name!r}{self._shard_of(key)})"
                self._claims[key] = entry.revision
            others = [base] if self.shards is not None else []
            if self.shards is None:
                try:  # (nats-py 2.16's keys(filters=...) finds nothing: the few keys are filtered here)
                    others = [k for k in await kv.keys() if k.startswith(f"{base}.")]
                except NoKeysError:
                    others = []
            for key in others:
                holder = await holder_of(key)
                if holder is not None:
                    for mine in keys:  # give way; tried again at the next round
                        revision = self._claims.pop(mine, None)
                        if revision is not None:
                            try:
                                await kv.delete(mine, last=revision)
                            except Exception as exc:  # noqa: BLE001 - it expires by itself
                                logger.debug("strategy claim not withdrawn: %s", exc)
                    return f"{holder} (strategy {name!r}{self._shard_of(key) or ' on every shard'})"
        return None

    @staticmethod
    def _shard_of(key: str) -> str:
        _, dot, shard = key.rpartition(".s")
        return f" on shard {shard}" if dot and shard.isdigit() else ""

    async def _renew(self) -> None:
        """On the bus loop: renew the claims every second; one taken by another executor stops this one's trading."""
        from nats.js.errors import KeyWrongLastSequenceError

        while not self.lost:
            await asyncio.sleep(1.0)
            kv = self.bus.kv.get(EXECUTORS_BUCKET)
            if kv is None or not self.bus.connected.is_set():
                continue
            for key, revision in list(self._claims.items()):
                try:
                    self._claims[key] = await kv.update(key, self._claim_value(), last=revision)
                except KeyWrongLastSequenceError:  # expired (NATS was away) or taken: claim it again, if free
                    holder = await self._try_claim()
                    if holder not in (None, "?"):
                        self.lost = holder
                        self.say(f"arbscan: executor: {holder} trades {', '.join(self.strategies)} now (this "
                                 "executor's claim lapsed while NATS was away); this executor stops trading")
                        return
                except Exception as exc:  # noqa: BLE001 - renewed at the next beat
                    logger.debug("strategy claim not renewed: %s", exc)

    def _release(self) -> None:
        async def release() -> None:
            kv = self.bus.kv.get(EXECUTORS_BUCKET)
            for key, revision in self._claims.items():
                if kv is not None and self.bus.connected.is_set():
                    try:
                        await kv.delete(key, last=revision)
                    except Exception as exc:  # noqa: BLE001 - it expires by itself
                        logger.debug("strategy claim not released: %s", exc)

        if self._renewing is not None:
            self._renewing.cancel()
        if self._claims and not self.lost:
            try:
                self.bus.call(release(), timeout=3)
            except Exception as exc:  # noqa: BLE001
                logger.debug("strategy claims not released: %s", exc)

    # -- the routes --------------------------------------------------------------------------

    def _subjects(self) -> list[str]:
        """The routes subjects followed: every shard's, or those of ``shards``."""
        if self.shards is None:
            return [ROUTES_ALL]
        return [routes_subject(k) for k in sorted(self.shards)]

    async def _subscribe(self) -> None:
        """On the bus loop: an ordered push consumer per subject followed, from the message after the last one seen
        on it (new ones at first)."""
        from nats.js.api import ConsumerConfig, DeliverPolicy

        if self.lost:
            return

        loop, queue = self._loop, self._queue
        assert loop is not None and queue is not None

        def receiver(subject: str) -> Callable[[Any], Any]:
            async def on_message(msg: Any) -> None:
                seq = msg.metadata.sequence.stream
                self._last_seq[subject] = seq
                self.last_stream_seq = max(self.last_stream_seq, seq)
                batch = int((msg.headers or {}).get("Arbscan-Seq", 0))
                loop.call_soon_threadsafe(queue.put_nowait, (batch, msg.data))
            return on_message

        for subject in self._subjects():
            on_message = receiver(subject)

            last = self._last_seq.get(subject, 0)
            if last:
                config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=last + 1)
            else:
                config = ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
            old = self._subs.pop(subject, None)
            if old is not None:
                try:
                    await old.unsubscribe()
                except Exception:  # noqa: BLE001 - the old connection is gone already
                    pass
            self._subs[subject] = await self.bus.js.subscribe(subject, stream=ROUTES_STREAM, cb=on_message,
                                                              ordered_consumer=True, config=config, idle_heartbeat=2.0)
            logger.info("executor: following %s from %s", subject, last + 1 if last else "now")
        if self._following:
            self.say(self._following)
            self._following = ""

    async def next_messages(self, timeout: float) -> list[tuple[int, bytes]]:
        """What arrived (``(batch number, data)``), waiting up to ``timeout`` seconds for the first."""
        assert self._queue is not None
        try:
            first = await asyncio.wait_for(self._queue.get(), timeout)
        except (TimeoutError, asyncio.TimeoutError):
            return []
        out = [first]
        while not self._queue.empty() and len(out) < 1000:
            out.append(self._queue.get_nowait())
        return out

    # -- handling a message ----------------------------------------------------------------------

    def handle(self, seq: int, data: bytes) -> None:
        """One routes-stream message, batch ``seq`` of its producer."""
        if self.lost:
            return
        try:
            body = decode_pickle(data)
            run, kind, k, n = body["run"], body["k"], int(body["shard"]), int(body["of"])
        except (UnexpectedPayload, KeyError, TypeError, ValueError) as exc:
            logger.error("routes message skipped: %s", exc)
            return
        if run in self.ignored:
            return
        state = self.runs.get(run)
        if state is None:
            if kind != "start" or seq != 1:
                self.ignored.add(run)
                self.say(f"arbscan: executor: run {run} began before this executor started; not traded "
                         "(start the executor before the shards)")
                return
            state = self._open(run, body, n)
        last = state.last_seq.get(k, 0)
        if seq <= last:
            return  # a repeat: a restarted replay shard sends its run again from the start
        if seq != last + 1 and state.merge is not None:
            self.say(f"arbscan: executor: run {run}: shard {k + 1}/{n} skipped from batch {last} to {seq}; "
                     "its replay can no longer be merged in line order: not traded further")
            self._finish(state, interrupted=True)
            self.ignored.add(run)
            return
        state.last_seq[k] = seq
        if kind == "start":
            self._check_strategies(run, body["x"])
        elif kind == "events":
            if state.merge is not None:
                state.merge.add(k, body["x"])
            else:
                for msg in body["x"]:
                    state.feed.apply(msg)
        elif kind == "report":
            state.reports[k] = body["x"]
            if state.merge is not None:
                state.merge.finish(k)
        if state.merge is not None:
            for msg in state.merge.ready():
                state.feed.apply(msg)
        if state.n and len(state.reports) >= len(state.followed):
            self._finish(state)

    def _open(self, run: str, body: dict[str, Any], n: int) -> RunFeed:
        from arbscan.funding.facts import FundingBook

        meta = body["x"]
        outbox = BusOutbox(self.bus, JOURNAL_SUBJECT, run, self.producer, kind="journal",
                           bound=self.settings.bus.buffer_rows, when_full="wait")
        self.outboxes.append(outbox)
        journal = RemoteStore(outbox, self._run_id(run), None)
        markets: dict[tuple[str, str], Any] = {}
        funding = FundingBook(self.settings.transfer_overrides())
        fallback = {v.exchange: dict(v.balances) for v in self.settings.venues if v.balances}
        for exchange, assets in (meta.get("balances") or {}).items():
            fallback.setdefault(exchange, {}).update(assets)
        executors = self.make_executors(journal, markets, funding, fallback)
        if self.shards is not None:  # other executors may trade these strategies on other shards: distinct trade ids
            tag = "-s" + "_".join(str(k + 1) for k in sorted(self.shards))
            for ex in executors:
                venue = getattr(getattr(ex, "lifecycle", None), "venue", None)
                if hasattr(venue, "trade_tag"):
                    venue.trade_tag = tag
        hub = self._alerts(meta, journal, executors)
        feed = ExecutorFeed(executors, markets, funding, [hub] if hub is not None else ())
        followed = frozenset(range(n)) if self.shards is None else self.shards & frozenset(range(n))
        state = RunFeed(run, meta.get("mode", "replay"), n, feed, journal, outbox,
                        LineMerge(n) if meta.get("mode") == "replay" else None, followed, hub=hub)
        if state.merge is not None:
            for k in set(range(n)) - followed:
                state.merge.finish(k)  # not followed: nothing of it to wait for
        if self.shards is not None and self.shards - followed:
            self.say(f"arbscan: warning: run {run} has {n} shard(s); --shards names "
                     + ", ".join(str(k + 1) for k in sorted(self.shards - followed)) + " beyond them")
        if state.mode == "scan":  # a replay's facts come in its shards' messages ("c"), in line order
            loop = self._loop or asyncio.get_event_loop()
            state.share = FundingShare(self.bus, run, lambda set_id, facts: loop.call_soon_threadsafe(funding.set, facts))
            state.share.start()
        self.runs[run] = state
        some = "" if len(followed) == n else " (routes of shard(s) " + ", ".join(str(k + 1) for k in sorted(followed)) + ")"
        self.say(f"arbscan: executor: trading run {run} ({state.mode}, {n} shard(s)){some} with "
                 + ", ".join(getattr(ex, "name", "?") for ex in executors))
        return state

    def _alerts(self, meta: dict[str, Any], journal: RemoteStore, executors: list[Any]) -> Any:
        """The run's ``[[alerts]]`` hub (started), on the shards' episodes and these executors' trades and halts, audited
        into the run's journal; None without destinations, or for a replay whose shards were not given ``--alerts``."""
        from arbscan.parts import alerts_for_run

        if not self.settings.alerts or not meta.get("alerts"):
            return None
        hub = alerts_for_run(self.settings, journal)
        if hub is not None:
            for ex in executors:
                hub.watch_executor(ex)
            hub.start()
        return hub

    def _run_id(self, run: str) -> int:
        """The journal's id of ``run`` (trade ids are named after it): waits for the journal consumer to open it."""
        async def get() -> int | None:
            from nats.js.errors import KeyNotFoundError

            try:
                entry = await self.bus.kv[RUNS_BUCKET].get(token(run))
            except KeyNotFoundError:
                return None
            return int(entry.value) if entry.value else None

        said = False
        while True:
            if self.bus.wait_connected(1.0):
                try:
                    rid = self.bus.call(get(), timeout=5)
                except Exception as exc:  # noqa: BLE001 - the connection went: asked again once it is back
                    logger.debug("run id of %s not read: %s", run, exc)
                    rid = None
                if rid is not None:
                    return rid
            if not said:
                said = True
                self.say(f"arbscan: executor: waiting for the journal consumer (arbscan journal) to open run {run}; "
                         "no trade before it can be journaled")
            time.sleep(0.2)

    def _check_strategies(self, run: str, meta: dict[str, Any]) -> None:
        """Warn when the shards do not send what this executor's strategies need."""
        sent = set(meta.get("strategies") or ())
        window = int(meta.get("window_ms") or 0)
        for name in self.strategies:
            if name not in sent:
                self.say(f"arbscan: warning: run {run}: the shards do not know strategy {name!r}; they send only the "
                         "routes their [[strategies]] accept (give every host the same config)")
            elif self.settings.strategy(name).latency_ms > window:
                self.say(f"arbscan: warning: run {run}: strategy {name!r} waits {self.settings.strategy(name).latency_ms} ms "
                         f"but the shards send book updates for {window} ms only")

    def _finish(self, state: RunFeed, interrupted: bool = False) -> None:
        """Every shard reported: close the stream for the executors, send their rows, sum the run up."""
        last = [r.last_ts for r in state.reports.values() if r.last_ts is not None]
        state.feed.close(max(last) if last else None)
        for report in state.reports.values():
            for ex, skipped in zip(state.executors, report.skipped):
                ex.skips.update(skipped)
        if state.share is not None:
            state.share.stop()
        if state.hub is not None:
            state.hub.close()  # its last alerts go out and are audited into the run's journal before its end
        state.journal.flush()
        state.outbox.announce("end", {"status": "interrupted" if interrupted else "ok"})
        self.runs.pop(state.run, None)
        self.ended.append((state.run, state.executors))
        trades = sum(getattr(ex, "taken", 0) for ex in state.executors)
        self.say(f"arbscan: executor: run {state.run} ended: {state.feed.routes:,} live routes seen, {trades:,} trades")

    def tick(self) -> None:
        """Send the executors' rows that have waited long enough (every 0.1 s or so)."""
        for state in self.runs.values():
            state.journal.tick()

    def close(self, timeout: float | None = None) -> bool:
        """Send every run's rows (the runs still open end as they are); False when NATS did not take them in time."""
        for state in list(self.runs.values()):
            if state.hub is not None:
                state.hub.close()
            state.journal.flush()
        ok = True
        for outbox in self.outboxes:
            ok = outbox.close(timeout) and ok
        self._release()
        return ok
