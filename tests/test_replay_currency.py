"""``currency`` lines in replay files: read, written, and applied where they stand in the file."""

import json
import re
import sqlite3
from dataclasses import replace
from decimal import Decimal as D

import pytest
from conftest import book, market

from arbscan.errors import ReplayFileError
from arbscan.funding.facts import AssetFunding, NetworkFunding
from arbscan.replay.writer import BookRecorder, ReplayWriter
from arbscan.replay.run import run_replay
from arbscan.replay.reader import CurrencyEvent, read_replay
from arbscan.scan.scanner import Scanner

MARKETS = [
    {"type": "market", "exchange": "a", "symbol": "BTC/USDT", "taker_fee": "0.001", "amount_step": "0.0001", "price_step": "0.1"},
    {"type": "market", "exchange": "b", "symbol": "BTC/USDT", "taker_fee": "0.002", "amount_step": "0.0001", "price_step": "0.1"},
]


def currency(exchange, asset, *networks, ts=None, **switches):
    line = {"type": "currency", "exchange": exchange, "asset": asset, "networks": list(networks), **switches}
    return line if ts is None else {**line, "ts": ts}


def bk(ts, exchange, snapshot=False, bids=(), asks=()):
    return {"type": "book", "ts": ts, "exchange": exchange, "symbol": "BTC/USDT", "snapshot": snapshot,
            "bids": [list(level) for level in bids], "asks": [list(level) for level in asks]}


def write(path, lines):
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


OPEN_BTC_ON_A = currency("a", "BTC", {"network": "BTC", "deposit": True, "withdraw": True, "fee": "0.0002"})
SHUT_BTC_ON_A = currency("a", "BTC", {"network": "BTC", "deposit": True, "withdraw": False, "fee": "0.0002"})
BOTH_WAYS = [
    OPEN_BTC_ON_A,
    currency("b", "BTC", {"network": "BTC", "deposit": True, "withdraw": True}),
    currency("b", "USDT", {"network": "ERC20", "deposit": True, "withdraw": True, "fee": "8"}),
    currency("a", "USDT", {"network": "ERC20", "deposit": True, "withdraw": True}),
]


def switching_file(path):
    """a sells 0.5 BTC at 30000, b bids 30150 (live); BTC withdrawals on a switch off at t=3 and on at t=6."""
    return write(path, [
        *MARKETS, *BOTH_WAYS,
        bk(1.0, "a", True, bids=[("29990", "1")], asks=[("30000", "0.5")]),
        bk(1.0, "b", True, bids=[("30150", "0.5")], asks=[("30160", "1")]),
        bk(2.0, "b", bids=[("30150", "0.5")]),
        {**SHUT_BTC_ON_A, "ts": 3.0},
        bk(4.0, "b", bids=[("30150", "0.5")]),
        bk(5.0, "b", bids=[("30150", "0.5")]),
        {**OPEN_BTC_ON_A, "ts": 6.0},
        bk(7.0, "b", bids=[("30150", "0.5")]),
        bk(8.0, "b", bids=[("30150", "0"), ("29980", "0.5")]),
    ])


def _episodes(db):
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT first_seen, last_seen, observations, close_reason, close_detail, closed_at, transfer"
                            " FROM opportunities ORDER BY first_seen").fetchall()
    finally:
        conn.close()


def test_routes_are_blocked_and_unblocked_where_the_lines_stand(tmp_path, store):
    path = switching_file(tmp_path / "switch.jsonl")
    scanner = Scanner({}, store, max_book_age_ms=60_000, require_transferable=True)
    result = run_replay(path, store, scanner=scanner)
    funnel = result.scanner.funnels[("BTC/USDT", "a", "b")]
    assert (funnel.live, funnel.transfer_blocked, funnel.not_crossed) == (3, 2, 1)  # t=1, 2, 7 / t=4, 5 / t=8
    store.flush()
    assert _episodes(store.path) == [
        (1.0, 2.0, 2, "uncrossed", "transfer_blocked", 4.0, "transferable"),
        (7.0, 7.0, 1, "uncrossed", "not_crossed", 8.0, "transferable"),
    ]


def test_without_the_requirement_the_episode_runs_on_and_the_blocked_peak_is_flagged(tmp_path, store):
    lines = [json.loads(line) for line in switching_file(tmp_path / "switch.jsonl").read_text().splitlines()]
    # b bids more at t=5 (its ask moves up too: a book is never crossed), while BTC is stuck on a: the
    # episode's peak is a blocked evaluation
    lines[lines.index(bk(5.0, "b", bids=[("30150", "0.5")]))] = bk(5.0, "b", bids=[("30150", "0"), ("30200", "0.5")],
                                                                   asks=[("30160", "0"), ("30210", "1")])
    lines[lines.index(bk(7.0, "b", bids=[("30150", "0.5")]))] = bk(7.0, "b", bids=[("30200", "0"), ("30150", "0.5")],
                                                                   asks=[("30210", "0"), ("30160", "1")])
    run_replay(write(tmp_path / "peak.jsonl", lines), store, max_book_age_ms=60_000)
    store.flush()
    assert _episodes(store.path) == [(1.0, 7.0, 5, "uncrossed", "not_crossed", 8.0, "blocked")]


def test_a_file_without_currency_lines_replays_as_before(tmp_path, store):
    lines = [line for line in switching_file(tmp_path / "s.jsonl").read_text().splitlines() if '"currency"' not in line]
    path = write(tmp_path / "plain.jsonl", [json.loads(line) for line in lines])
    result = run_replay(path, store, max_book_age_ms=60_000)
    assert not result.scanner.funding
    store.flush()
    assert _episodes(store.path) == [(1.0, 7.0, 5, "uncrossed", "not_crossed", 8.0, "unknown")]
    conn = sqlite3.connect(store.path)
    assert conn.execute("SELECT COUNT(*) FROM funding").fetchone() == (0,)
    conn.close()


def test_reader_gives_the_facts_as_stated(tmp_path):
    path = write(tmp_path / "c.jsonl", [
        currency("Kraken", "btc", {"network": "bitcoin", "withdraw": False, "fee": "0.0002", "min": "0.0004",
                                    "deposit_fee": "0", "deposit_min": "0.0001", "confirmations": 3},
                 {"network": "LIGHTNING"}, ts=5.5, deposit=True, withdraw=None),
    ])
    (ev,) = list(read_replay(path))
    assert ev == CurrencyEvent(5.5, AssetFunding("kraken", "BTC", (
        NetworkFunding("BTC", None, False, D("0.0002"), D("0.0004"), D("0"), D("0.0001"), 3),
        NetworkFunding("LIGHTNING"),
    ), True, None, source="replay"), 1)


@pytest.mark.parametrize("line, message", [
    (currency("a", "BTC", {"fee": "1"}), "networks[0]: 'network' must be a non-empty string"),
    (currency("a", "BTC", {"network": "BTC", "fee": "-1"}), "networks[0] 'fee' must be a finite, non-negative number"),
    (currency("a", "BTC", {"network": "BTC", "withdraw": "yes"}), "'withdraw' must be true, false or null"),
    (currency("a", "BTC", {"network": "BTC", "confirmations": 1.5}), "'confirmations' must be a whole number"),
    (currency("a", "BTC", {"network": "BTC"}, {"network": "btc"}), "network BTC listed twice"),
    ({"type": "currency", "asset": "BTC"}, "'exchange' must be a non-empty string"),
    (currency("a", "BTC", ts=0.5), "goes back in time"),
])
def test_a_malformed_currency_line_names_its_line(tmp_path, line, message):
    path = write(tmp_path / "bad.jsonl", [*MARKETS, bk(1.0, "a", True, asks=[("1", "1")]), line])
    with pytest.raises(ReplayFileError, match="line 4: .*" + re.escape(message)):
        list(read_replay(path))


def test_written_currency_lines_read_back(tmp_path):
    facts = AssetFunding("kraken", "USDT", (NetworkFunding("TRC20", True, False, D("3"), D("10"), confirmations=20),
                                            NetworkFunding("ERC20")), deposit=True)
    with ReplayWriter(tmp_path / "w.jsonl.gz") as w:
        w.write_currency(facts, 10.0)
        w.write_currency(facts)
    events = list(read_replay(tmp_path / "w.jsonl.gz"))
    assert [e.facts for e in events] == [replace(facts, source="replay")] * 2
    assert [e.ts for e in events] == [10.0, None]


def test_a_recording_keeps_the_funding_facts_the_scan_learnt(tmp_path):
    m = market("a", "BTC/USDT")
    with ReplayWriter(tmp_path / "rec.jsonl") as w:
        scanner = Scanner({}, None, listeners=[BookRecorder(w, {("a", "BTC/USDT"): m})])
        scanner.add_market(m)
        scanner.on_book_event(book("a", 1.0, asks=[("1", "1")], symbol="BTC/USDT"))
        scanner.set_funding(AssetFunding("a", "BTC", (NetworkFunding("BTC", True, False),)), 2.0)
    kinds = [json.loads(line)["type"] for line in (tmp_path / "rec.jsonl").read_text().splitlines()]
    assert kinds == ["market", "book", "currency"]
    *_, ev = read_replay(tmp_path / "rec.jsonl")
    assert (ev.ts, ev.facts.network("BTC").withdraw) == (2.0, False)


def test_paper_strategy_told_to_skip_untransferable_routes_skips_them(tmp_path, store):
    from arbscan.config.settings import StrategyConfig
    from arbscan.execution.paper import paper_executor

    lines = [json.loads(line) for line in switching_file(tmp_path / "switch.jsonl").read_text().splitlines()]
    for ts in (2.0, 4.0, 5.0, 7.0):  # a's ask is refreshed before each of b's books: a paper fill took it
        lines.insert(lines.index(bk(ts, "b", bids=[("30150", "0.5")])), bk(ts, "a", asks=[("30000", "0.5")]))
    path = write(tmp_path / "refreshed.jsonl", lines)
    scanner = Scanner({}, store, max_book_age_ms=60_000)  # the scanner itself does not require it
    start = {"a": {"USDT": D("100000")}, "b": {"BTC": D("10")}}
    careful, blind = (paper_executor(StrategyConfig(name, min_net_bps=D(0), skip_untransferable=skip), scanner.markets,
                                     store, starting_balances=start, transfers=scanner.transfers)
                      for name, skip in (("careful", True), ("blind", False)))
    scanner.listeners.extend([careful, blind])
    run_replay(path, store, scanner=scanner)
    assert careful.skips["untransferable"] == 4  # a's and b's books at t=4 and t=5, while BTC cannot leave a
    assert blind.skips["untransferable"] == 0
    assert {t.opp.ts for t in careful.trades}.isdisjoint({4.0, 5.0})
    assert {t.opp.ts for t in blind.trades} & {4.0, 5.0}
