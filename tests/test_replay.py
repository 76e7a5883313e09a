"""Replay files: the reader (every malformed line named by number), book rebuilding, the writer, and
replays of the bundled real demo and of generated multi-venue files checked through the journal."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal as D
from pathlib import Path

import pytest

from arbscan.errors import ReplayFileError
from arbscan.model import BookSnapshot, Market
from arbscan.replay.run import (
    BalanceEvent,
    BookBuilder,
    BookEvent,
    MarketEvent,
    ReplayWriter,
    demo_path,
    iter_books,
    read_replay,
    run_replay,
)
from arbscan.journal.store import Store

MARKET_A = {"type": "market", "exchange": "alpha", "symbol": "BTC/USD", "taker_fee": "0.001",
            "amount_step": "0.001", "price_step": "0.01", "min_amount": "0", "min_cost": "0"}
MARKET_B = dict(MARKET_A, exchange="beta")
MARKET_C = dict(MARKET_A, exchange="gamma")


def book_line(ts, exchange, bids, asks, snapshot=True, symbol="BTC/USD"):
    return {"type": "book", "ts": ts, "exchange": exchange, "symbol": symbol, "snapshot": snapshot,
            "bids": [list(lvl) for lvl in bids], "asks": [list(lvl) for lvl in asks]}


def write_lines(path: Path, lines, gz=False):
    text = "".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n" for ln in lines)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def basic_lines():
    return [
        MARKET_A,
        MARKET_B,
        {"type": "balance", "exchange": "alpha", "asset": "USD", "free": "10000"},
        book_line(1.0, "alpha", [("99", "1")], [("100", "2")]),
        book_line(1.5, "beta", [("100.8", "1")], [("101", "1")]),
        book_line(2.0, "alpha", [("99.5", "3")], [("100", "0")], snapshot=False),
    ]


# -- reading ---------------------------------------------------------------------------------


def test_reader_yields_each_line_type_with_exact_decimals(tmp_path):
    events = list(read_replay(write_lines(tmp_path / "r.jsonl", basic_lines())))
    m, _, bal, b1, _, delta = events
    assert isinstance(m, MarketEvent) and m.market.taker_fee == D("0.001") and m.market.base == "BTC"
    assert isinstance(bal, BalanceEvent) and (bal.exchange, bal.asset, bal.free) == ("alpha", "USD", D(10000))
    assert isinstance(b1, BookEvent) and b1.snapshot and b1.asks == ((D("100"), D("2")),) and b1.line == 4
    assert not delta.snapshot and delta.asks == ((D("100"), D(0)),)


def test_gzip_and_plain_files_give_the_same_events(tmp_path):
    plain = list(read_replay(write_lines(tmp_path / "r.jsonl", basic_lines())))
    gz = list(read_replay(write_lines(tmp_path / "r.jsonl.gz", basic_lines(), gz=True)))
    assert plain == gz


def test_gzip_is_recognised_by_content_not_name(tmp_path):
    events = list(read_replay(write_lines(tmp_path / "noext", basic_lines(), gz=True)))
    assert len(events) == 6


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ({"type": "trade"}, "unknown line type 'trade'"),
        (book_line(3.0, "alpha", [("99", None)], []), "must be a number as a string"),  # -1 is a glitch, not malformed
        (book_line(3.0, "alpha", [("abc", "1")], []), "not a number"),
        (book_line(3.0, "alpha", [("99",)], []), "[price, amount] pair"),
        (dict(book_line(3.0, "alpha", [], []), snapshot="yes"), "'snapshot' must be true or false"),
        (dict(book_line(3.0, "alpha", [], []), ts="soon"), "'ts' must be unix seconds"),
        (book_line(0.5, "alpha", [], []), "goes back in time"),
        (book_line(3.0, "omega", [], []), "before its market line"),
        (dict(MARKET_A, taker_fee="1.5"), "not a fraction"),
        ({k: v for k, v in MARKET_A.items() if k != "price_step"}, "missing 'price_step'"),
        (dict(MARKET_A, symbol="BTCUSD"), "not a unified symbol"),
        ({"type": "balance", "exchange": "alpha", "asset": "USD"}, "missing 'free'"),
    ],
)
def test_malformed_line_is_named_by_number(tmp_path, bad, message):
    path = write_lines(tmp_path / "r.jsonl", [*basic_lines(), bad, book_line(9.0, "alpha", [], [])])
    with pytest.raises(ReplayFileError) as info:
        list(read_replay(path))
    assert "line 7:" in str(info.value) and message in str(info.value)
    assert "\n" not in str(info.value)


def test_delta_before_any_snapshot_is_refused(tmp_path):
    path = write_lines(tmp_path / "r.jsonl", [MARKET_A, book_line(1.0, "alpha", [("99", "1")], [], snapshot=False)])
    with pytest.raises(ReplayFileError, match="line 2: delta for alpha BTC/USD before its first snapshot"):
        list(read_replay(path))


def test_truncated_gzip_is_a_replay_file_error(tmp_path):
    path = write_lines(tmp_path / "r.jsonl.gz", basic_lines() * 1, gz=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 12])
    with pytest.raises(ReplayFileError, match="truncated or corrupt"):
        list(read_replay(path))


def test_missing_file_is_a_replay_file_error(tmp_path):
    with pytest.raises(ReplayFileError, match="no such replay file"):
        list(read_replay(tmp_path / "nope.jsonl"))


def test_blank_lines_are_skipped_but_counted(tmp_path):
    path = write_lines(tmp_path / "r.jsonl", [MARKET_A, "", book_line(1.0, "alpha", [], []), "", "{"])
    with pytest.raises(ReplayFileError, match="line 5:"):
        list(read_replay(path))


# -- rebuilding books ------------------------------------------------------------------------


def ev(ts, bids, asks, snapshot, exchange="alpha"):
    conv = lambda levels: tuple((D(p), D(a)) for p, a in levels)  # noqa: E731
    return BookEvent(ts, exchange, "BTC/USD", snapshot, conv(bids), conv(asks), ts, 1)


def test_deltas_replace_insert_and_delete_levels():
    b = BookBuilder()
    b.apply(ev(1.0, [("99", "1"), ("98", "2")], [("100", "1"), ("101", "2")], True))
    book = b.apply(ev(2.0, [("98", "0"), ("98.5", "4"), ("99", "0.5")], [("100", "0"), ("102", "1")], False))
    assert book.bids == ((D("99"), D("0.5")), (D("98.5"), D(4)))
    assert book.asks == ((D("101"), D(2)), (D("102"), D(1)))
    assert (book.ts, book.received) == (2.0, 2.0)
    BookSnapshot(book.exchange, book.symbol, book.bids, book.asks, book.ts, book.received)  # passes validation


def test_snapshot_replaces_the_whole_book():
    b = BookBuilder()
    b.apply(ev(1.0, [("99", "1")], [("100", "1")], True))
    book = b.apply(ev(2.0, [("90", "1")], [("95", "1")], True))
    assert book.bids == ((D(90), D(1)),) and book.asks == ((D(95), D(1)),)


def test_deleting_an_absent_level_is_harmless():
    b = BookBuilder()
    b.apply(ev(1.0, [("99", "1")], [("100", "1")], True))
    book = b.apply(ev(2.0, [("50", "0")], [], False))
    assert book.bids == ((D(99), D(1)),)


def test_depth_limits_each_side_best_first():
    b = BookBuilder(depth=2)
    book = b.apply(ev(1.0, [("97", "1"), ("99", "1"), ("98", "1")], [("103", "1"), ("101", "1"), ("102", "1")], True))
    assert [p for p, _ in book.bids] == [D(99), D(98)]
    assert [p for p, _ in book.asks] == [D(101), D(102)]


# -- writing ---------------------------------------------------------------------------------


def snap(exchange, ts, bids, asks, received=None):
    conv = lambda levels: tuple((D(p), D(a)) for p, a in levels)  # noqa: E731
    return BookSnapshot(exchange, "BTC/USD", conv(bids), conv(asks), ts, ts if received is None else received)


def test_written_books_read_back_identical(tmp_path):
    market = Market("alpha", "BTC/USD", "BTC", "USD", D("0.0026"), D("0.00000001"), D("0.1"), D("0.0001"), D("0.5"))
    books = [
        snap("alpha", 1.0, [("99", "1"), ("98", "2")], [("100", "1")]),
        snap("alpha", 2.0, [("99", "0.5"), ("97", "2")], [("100", "1"), ("100.5", "3")], received=2.25),
        snap("alpha", 3.0, [("98", "1")], [("100.5", "3")]),
    ]
    for name in ("w.jsonl", "w.jsonl.gz"):
        path = tmp_path / name
        with ReplayWriter(path) as w:
            w.write_market(market)
            w.write_balance("alpha", "USD", D("1000.50"))
            for b in books:
                w.write_book(b)
        events = list(read_replay(path))
        assert events[0].market == market
        assert events[1].free == D("1000.50")
        assert [e.snapshot for e in events[2:]] == [True, False, False]
        assert list(iter_books(events)) == books


def test_writer_keeps_time_order_when_venue_clocks_disagree(tmp_path):
    market_a = Market("alpha", "BTC/USD", "BTC", "USD", D("0.001"), D("0.001"), D("0.01"))
    path = tmp_path / "w.jsonl"
    with ReplayWriter(path) as w:
        w.write_market(market_a)
        w.write_market(Market("beta", "BTC/USD", "BTC", "USD", D("0.001"), D("0.001"), D("0.01")))
        w.write_book(snap("alpha", 5.0, [("99", "1")], [("100", "1")]))
        w.write_book(snap("beta", 4.9, [("99", "1")], [("100", "1")]))  # beta's clock is behind
    books = list(iter_books(read_replay(path)))
    assert [b.ts for b in books] == [5.0, 5.0]
    assert books[1].received == 4.9


# -- replaying through the scanner into the journal ------------------------------------------


def test_bundled_demo_replays_the_real_premium_eaten_by_fees(tmp_path):
    """Known answers from PROVENANCE.md: 3,719 BitMEX and 3,770 Deribit book events; Deribit's best
    bid above BitMEX's best ask throughout by 0.75-2.75 USD (about 1.8-6.8 bps at ~4,090 USD), less
    than the 15.01 bps two 0.075 % taker fees need; the books are never crossed the other way."""
    store = Store(tmp_path / "j.db")
    store.start_run("replay", str(demo_path()))
    result = run_replay(demo_path(), store, depth=10)
    store.close()
    assert result.book_events == 3719 + 3770
    db = Store.open_readonly(tmp_path / "j.db")
    assert db.execute("SELECT count(*) FROM opportunities").fetchone() == (0,)
    f = {(r["buy_exchange"], r["sell_exchange"]): r for r in db["funnel"].rows}
    bd, db_ = f[("bitmex", "deribit")], f[("deribit", "bitmex")]
    assert bd["evaluated"] > 7000
    assert bd["crossed_before_fees"] == bd["evaluated"] == bd["fees"]
    assert bd["live"] == 0 and bd["episodes"] == 0
    assert D("1.8") < D(bd["max_gross_bps"]) < D("6.8")
    assert db_["not_crossed"] == db_["evaluated"] == bd["evaluated"]
    assert db_["crossed_before_fees"] == 0
    stats = {r["exchange"]: r["events"] for r in db["venue_stats"].rows}
    assert stats == {"bitmex": 3719, "deribit": 3770}


def generated_file(path: Path, cycles: int = 5, gz: bool = False) -> Path:
    """Three venues. alpha asks 100 (2 BTC); beta's bid goes 100.8 for 3 events then 99.5 for 2, so
    alpha -> beta opens an episode at each 100.8 stretch and closes it (not crossed) at 99.5; gamma bids
    100.05 and asks 101: alpha -> gamma is crossed but eaten by fees (100.05 * 0.999 < 100.1).
    beta holds 0.5 BTC (a balance line),
    so every alpha -> beta trade is 0.5 BTC: net 0.5 * (100.8 * 0.999 - 100 * 1.001) = 0.2996."""
    lines = [MARKET_A, MARKET_B, MARKET_C, {"type": "balance", "exchange": "beta", "asset": "BTC", "free": "0.5"}]
    t = 1000.0
    lines.append(book_line(t, "alpha", [("99", "2")], [("100", "2")]))
    lines.append(book_line(t, "gamma", [("100.05", "2")], [("101", "2")]))
    for _ in range(cycles):
        for bid in ("100.8", "100.8", "100.8", "99.5", "99.5"):
            t += 0.1
            lines.append(book_line(t, "beta", [(bid, "2")], [("101", "2")]))
            t += 0.1
            lines.append(book_line(t, "alpha", [("99", "2")], [("100", "2")]))
            lines.append(book_line(t, "gamma", [("100.05", "2")], [("101", "2")]))
    return write_lines(path, lines, gz=gz)


@pytest.mark.parametrize("gz", [False, True])
def test_generated_multi_venue_file_journals_each_episode(tmp_path, gz):
    path = generated_file(tmp_path / ("g.jsonl.gz" if gz else "g.jsonl"), cycles=5, gz=gz)
    store = Store(tmp_path / "j.db")
    store.start_run("replay", str(path))
    run_replay(path, store)
    store.close()
    db = Store.open_readonly(tmp_path / "j.db")
    rows = list(db.query("SELECT * FROM opportunities ORDER BY first_seen"))
    assert len(rows) == 5
    for r in rows:
        assert (r["buy_exchange"], r["sell_exchange"], r["close_reason"], r["close_detail"]) == ("alpha", "beta", "uncrossed", "not_crossed")
        assert D(r["amount"]) == D("0.5") and D(r["net_profit"]) == D("0.2996")
        # live at the beta event and the alpha event after it, for three beta events: 6 observations
        assert r["observations"] == 6
    assert rows[0]["first_seen"] == pytest.approx(1000.1)
    f = {(r["buy_exchange"], r["sell_exchange"]): r for r in db["funnel"].rows}
    assert f[("alpha", "gamma")]["fees"] == f[("alpha", "gamma")]["evaluated"] > 0
    assert f[("alpha", "gamma")]["live"] == 0
    assert f[("alpha", "beta")]["episodes"] == 5 and f[("alpha", "beta")]["live"] == 30
    assert f[("beta", "gamma")]["not_crossed"] == f[("beta", "gamma")]["evaluated"]


def test_bad_line_stops_the_replay_and_keeps_what_was_journaled(tmp_path):
    path = generated_file(tmp_path / "g.jsonl", cycles=3)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("{this is not json\n")
        fh.write(json.dumps(book_line(5000.0, "beta", [("100.8", "2")], [("101", "2")])) + "\n")
    n_lines = len(path.read_text().splitlines())
    store = Store(tmp_path / "j.db")
    store.start_run("replay", str(path))
    with pytest.raises(ReplayFileError, match=f"line {n_lines - 1}:"):
        run_replay(path, store)
    store.close("error")
    db = Store.open_readonly(tmp_path / "j.db")
    assert db.execute("SELECT count(*) FROM opportunities").fetchone() == (3,)
    assert db.execute("SELECT status FROM runs").fetchone() == ("error",)


def test_progress_reports_fractions_up_to_one(tmp_path):
    path = generated_file(tmp_path / "g.jsonl.gz", cycles=40, gz=True)
    seen = []
    run_replay(path, None, progress=lambda frac, n: seen.append((frac, n)), progress_every=50)
    assert seen[-1][0] == 1.0
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions)
