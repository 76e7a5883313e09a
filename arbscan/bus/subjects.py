"""The streams, subjects and key-value buckets arbscan uses on NATS, and how they are created.

========================  ===========================  ====================================================
name                      subject / kind               what travels
========================  ===========================  ====================================================
``ARBSCAN_JOURNAL``       ``arbscan.journal``          journal batches, run starts and ends (JSON); work
                          stream, work-queue           queue: a message leaves once the journal consumer
                                                       committed it; ``Nats-Msg-Id`` deduplicates resends
``ARBSCAN_ROUTES``        ``arbscan.routes.<K>``       live routes with their books, book updates,
                          stream, limits (1 h)         watermarks, shard reports (restricted pickle);
                                                       one subject per shard K (1..N): an executor
                                                       follows every shard or some (``execute --shards``)
``arbscan_halts``         key-value bucket             the kill switch: one key per active halt
``arbscan_shards``        key-value bucket, TTL 5 s    heartbeats: a key per live shard, gone 5 s after
                                                       its process stops beating
``arbscan_runs``          key-value bucket             the journal's run id of each run name (the executor
                                                       names its trades after it, as one process does)
``arbscan_executors``     key-value bucket, TTL 5 s    a key per strategy an executor trades, renewed every
                                                       second: no two executors trade one strategy
``arbscan_funding``       key-value bucket             a scan's funding facts, the latest per run, venue
                                                       and asset (``arbscan.bus.funding``)
========================  ===========================  ====================================================

Every stream and bucket has ``bus.replicas`` copies (3 on a 3-node cluster).
"""

from __future__ import annotations

import re
from typing import Any

from arbscan.config.bus import BusConfig

__all__ = ["JOURNAL_STREAM", "JOURNAL_SUBJECT", "ROUTES_STREAM", "ROUTES_SUBJECT", "ROUTES_ALL", "routes_subject",
           "HALTS_BUCKET", "SHARDS_BUCKET",
           "RUNS_BUCKET", "EXECUTORS_BUCKET", "FUNDING_BUCKET",
           "HEARTBEAT_TTL_S", "DUPLICATE_WINDOW_S", "ensure", "token"]

JOURNAL_STREAM = "ARBSCAN_JOURNAL"
JOURNAL_SUBJECT = "arbscan.journal"
ROUTES_STREAM = "ARBSCAN_ROUTES"
ROUTES_SUBJECT = "arbscan.routes"
ROUTES_ALL = "arbscan.routes.>"
"""Every shard's routes subject; ``ROUTES_SUBJECT`` itself is kept in the stream for what an older shard sends."""


def routes_subject(shard: int) -> str:
    """The routes subject of shard ``shard`` (0-based): ``arbscan.routes.1`` for shard 1/N."""
    return f"{ROUTES_SUBJECT}.{shard + 1}"

HALTS_BUCKET = "arbscan_halts"
SHARDS_BUCKET = "arbscan_shards"
RUNS_BUCKET = "arbscan_runs"
EXECUTORS_BUCKET = "arbscan_executors"
FUNDING_BUCKET = "arbscan_funding"

HEARTBEAT_TTL_S = 5.0
"""A shard whose heartbeat is older than this is not alive (the bucket forgets it)."""

DUPLICATE_WINDOW_S = 300.0
"""How long JetStream remembers a message id; beyond it the journal consumer's own bookkeeping drops repeats."""

ROUTES_MAX_AGE_S = 3600.0
"""Routes are kept an hour: what a restarted executor can still catch up on."""

_BAD = re.compile(r"[^A-Za-z0-9_=\-]")


def token(text: str) -> str:
    """``text`` as one subject token or key-value key part (letters, digits, ``_=-``; the rest becomes ``_``)."""
    return _BAD.sub("_", text) or "_"


async def ensure(js: Any, config: BusConfig) -> dict[str, Any]:
    """Create the streams and buckets when missing (idempotent); returns the buckets by name."""
    from nats.js.api import KeyValueConfig, RetentionPolicy, StorageType, StreamConfig
    from nats.js.errors import NotFoundError

    streams = (
        StreamConfig(name=JOURNAL_STREAM, subjects=[JOURNAL_SUBJECT], retention=RetentionPolicy.WORK_QUEUE,
                     storage=StorageType.FILE, num_replicas=config.replicas, duplicate_window=DUPLICATE_WINDOW_S),
        StreamConfig(name=ROUTES_STREAM, subjects=[ROUTES_SUBJECT, ROUTES_ALL], retention=RetentionPolicy.LIMITS,
                     storage=StorageType.FILE, num_replicas=config.replicas, duplicate_window=DUPLICATE_WINDOW_S,
                     max_age=ROUTES_MAX_AGE_S),
    )
    for cfg in streams:
        try:
            info = await js.stream_info(cfg.name)
        except NotFoundError:
            await js.add_stream(cfg)
            continue
        missing = [s for s in cfg.subjects or () if s not in (info.config.subjects or ())]
        if missing:  # a stream made by an older arbscan: the per-shard routes subjects are added
            info.config.subjects = [*(info.config.subjects or ()), *missing]
            await js.update_stream(info.config)
    buckets = {}
    for name, ttl, history in ((HALTS_BUCKET, None, 16), (SHARDS_BUCKET, HEARTBEAT_TTL_S, 1), (RUNS_BUCKET, None, 1),
                                 (EXECUTORS_BUCKET, HEARTBEAT_TTL_S, 1), (FUNDING_BUCKET, None, 1)):
        try:
            buckets[name] = await js.key_value(name)
        except NotFoundError:
            buckets[name] = await js.create_key_value(KeyValueConfig(
                bucket=name, ttl=ttl, history=history, replicas=config.replicas, storage=StorageType.FILE))
    return buckets
