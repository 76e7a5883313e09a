"""Two executors trading one strategy split by shard (``execute --shards``): each follows only its shards' routes
subject, never a route of the other's, and trades exactly what one process trades with that strategy limited to
those shards' symbols (its own paper account: splitting a strategy splits its capital too).

A generated replay (4 venues, 12 symbols) over two replay shards on a loopback ``nats-server``; the references
are one-process replays of the same file whose ``fast`` strategy has ``symbols`` = one shard's symbols (the
rule of ``--workers``, ``arbscan.parallel.shard_map``). A third executor for the same strategy on every shard
waits while the two hold it.
"""

from __future__ import annotations

import re
import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ is not installed

import test_workers_replay  # noqa: E402
from bench.gen_replay import generate  # noqa: E402
from test_bus_cluster import REPLAY, Fleet, _query, _wait_until, fleet, nats  # noqa: E402,F401 - fixtures

from arbscan.cli.command import main  # noqa: E402
from arbscan.parallel.replay_workers import venues_per_symbol  # noqa: E402
from arbscan.parallel.shard_map import ShardMap  # noqa: E402

TRADES = ("SELECT strategy, symbol, buy_exchange, sell_exchange, opened, closed, status, planned_amount "
          "FROM trades ORDER BY symbol, opened, buy_exchange, sell_exchange")


def _fast_only(symbols: tuple[str, ...] | None) -> str:
    """``tests/test_workers_replay.py``'s config with its ``fast`` strategy alone, limited to ``symbols`` if given."""
    cfg, sep, _slow = test_workers_replay.two_strategies().partition('\n[[strategies]]\nname = "slow"')
    assert sep and 'name = "fast"' in cfg
    if symbols is not None:
        cfg = cfg.replace('name = "fast"', 'name = "fast"\nsymbols = [' + ", ".join(f'"{s}"' for s in symbols) + "]")
    return cfg + "\n"


def _trades(db: Path, where: str = "") -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(TRADES.replace("ORDER BY", f"{where} ORDER BY")).fetchall()
    finally:
        conn.close()


def test_two_executors_split_one_strategy_by_shard_trade_disjoint_routes_each_as_one_process_would(
        nats, fleet, tmp_path):
    path = tmp_path / "g.jsonl"
    generate(path, venues=4, symbols=12, deltas=12_000, seed=5)
    shards = ShardMap.build(venues_per_symbol(path), 2).shards
    assert all(shards) and not set(shards[0]) & set(shards[1])
    cfg = tmp_path / "fast.toml"
    cfg.write_text(_fast_only(None))
    references = []
    for k, symbols in enumerate(shards):
        part = tmp_path / f"fast{k + 1}.toml"
        part.write_text(_fast_only(symbols))
        ref = tmp_path / f"ref{k + 1}.db"
        assert main(["replay", str(path), "--config", str(part), "--db", str(ref), *REPLAY, "--strategy", "fast"]) == 0
        references.append(_trades(ref))
    assert len(references[0]) > 5 and len(references[1]) > 5
    assert {t[1] for t in references[0]} <= set(shards[0]) and {t[1] for t in references[1]} <= set(shards[1])

    db = tmp_path / "bus.db"
    fleet.start("journal", "journal", "--bus", nats.url, "--db", str(db))
    for k in (1, 2):
        fleet.start(f"ex{k}", "execute", "--bus", nats.url, "--config", str(cfg), "--strategy", "fast", "--shards", str(k))
        _wait_until(f"executor {k} to follow", lambda: f"paper-trading fast on the routes at {nats.url} (shard {k})"
                    in fleet.err(f"ex{k}"), fleet, timeout=30)
    fleet.start("every", "execute", "--bus", nats.url, "--config", str(cfg), "--strategy", "fast")
    _wait_until("the executor for every shard to wait", lambda: "waiting for executor@" in fleet.err("every"), fleet,
                timeout=30)
    # it names whichever of the two claims it met first
    assert re.search(r"\(strategy 'fast' on shard [12]\) to stop trading fast", fleet.err("every"))
    fleet.kill("every")
    for k in (1, 2):
        fleet.start(f"shard{k}", "replay", str(path), "--bus", nats.url, "--shard", f"{k}/2", "--config", str(cfg),
                    *REPLAY)
    _wait_until("both executors' ends", lambda: _query(
        db, "SELECT count(*) FROM bus_producers WHERE producer LIKE '%|executor@%' AND ended = 1") == [(2,)], fleet,
        timeout=120)
    assert fleet.wait("shard1") == 0 and fleet.wait("shard2") == 0
    for k in (1, 2):
        assert fleet.stop(f"ex{k}") == 0
        assert f"(routes of shard(s) {k})" in fleet.err(f"ex{k}")
    assert fleet.stop("journal") == 0
    for k in (1, 2):
        assert _trades(db, f"WHERE id LIKE 'paper-%-fast-s{k}-%'") == references[k - 1]
    assert len(_trades(db)) == len(references[0]) + len(references[1])  # nothing else, nothing twice
