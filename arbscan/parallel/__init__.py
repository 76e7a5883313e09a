"""``--workers N``: symbol shards in processes of their own on one machine.

``shard_map`` says which shard owns which symbol; ``shard`` and ``shard_scan`` are one shard of a
replay and of a scan; ``replay_workers`` and ``scan_workers`` run N of them with ``journal_writer``
(the one process that writes the journal) and the executors in the parent; ``supervisor`` starts,
watches and restarts a scan's processes; ``shard_status`` adds up their reports; ``executor_feed``
merges the shards' routes into one stream in the file's order; ``remote_store`` is the journal as a
shard sees it; ``transport`` the one-way ordered channels between processes; ``processes`` spawns
them so they never outlive their parent.

Layer: beside ``bus`` and ``web``; above ``arbscan.parts`` and everything below it. Only
``arbscan.app`` and the CLI import it.
"""
