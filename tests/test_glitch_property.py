"""Glitches injected into generated replays (hypothesis): no decision ever comes from an untrue book.

A clean synthetic replay (``bench/gen_replay.py``: three venues, two symbols) is replayed once; then
the same file with random glitches inserted: crossed deltas (a bid far above the asks, an ask far below
the bids; they stay in the book until a line deletes them), a market jump whose deletion of the old asks
is missing from the recording (a bid above the stale best ask, then a line on the asks only, then the
levels deleted again), numbers no market can mean (1e26, NaN, 0, 1e-999999999, a negative or infinite
amount, a price listed twice in one line) and emptied sides (a delta deleting every level of one side, then one putting them
back). Each glitch line carries the ts of the line before it, so the clock is the clean file's.

What must hold:

- every live evaluation of the glitched replay (each one a funnel ``live`` count and, when it opens one,
  an episode) has the figures of a live evaluation of the same route in the clean replay, so none was
  computed from a glitch; every paper trade was opened at one of those evaluations;
- routes whose two books no glitch touched get exactly the clean replay's episodes and funnel;
- exactly the lines the README's rule calls untrue are refused, per feed: a line with a number no market
  can mean, and every line after which the book as the file states it is crossed, locked or one-sided
  (worked out below on plain dicts of levels); routes through a glitched book count ``untrue_book``.
"""

from __future__ import annotations

import atexit
import json
import shutil
import sys
import tempfile
from collections import Counter
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbscan.config.settings import StrategyConfig
from arbscan.execution.paper import paper_executor
from arbscan.replay.run import run_replay
from arbscan.scan.scanner import Scanner

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.gen_replay import generate  # noqa: E402

WORKDIR = Path(tempfile.mkdtemp(prefix="arbscan-glitch-"))
atexit.register(shutil.rmtree, WORKDIR, True)
BOOKS = [(f"v0{v}", f"C000{s}/USD") for v in range(3) for s in range(2)]

# (bids, asks, the price an impossible amount at a sane price deletes) of one glitch line with a number no
# market can mean: refused whatever the book
NUMBER_GLITCHES = {
    "price_1e26": ([["1e26", "1"]], [], None),
    "price_nan": ([], [["NaN", "1"]], None),
    "price_zero": ([["0", "1"]], [], None),
    "amount_negative": ([["0.05", "-1"]], [], ("bids", "0.05")),
    "amount_infinite": ([], [["150.00", "Infinity"]], ("asks", "150.00")),
    "price_tiny": ([["1e-999999999", "1"]], [], None),  # off a step alone is not untrue (issue 28): not here
    "price_twice": ([["0.05", "1"], ["0.05", "2"]], [], None),
}
# (bids, asks) of one crossing line: applied as stated, the book stays crossed until a line deletes them
CROSSED = {
    "crossed_bid": ([["99999999", "1"]], []),
    "crossed_ask": ([], [["0.01", "1"]]),
}
KINDS = [*NUMBER_GLITCHES, *CROSSED, "emptied_bids", "emptied_asks", "jump_missing_delete"]
JUMP = Decimal("1.00")


def clean_file(seed: int) -> tuple[Path, list[str]]:
    path = WORKDIR / f"clean_{seed}.jsonl"
    if not path.exists():
        generate(path, 3, 2, 240, seed=seed, depth=4, offset_sd=8.0, book_interval_ms=40.0, fee="0.0002")
    return path, path.read_text().splitlines()


def _book_line(ts: float, key: tuple[str, str], bids: list, asks: list) -> str:
    return json.dumps({"type": "book", "ts": ts, "exchange": key[0], "symbol": key[1], "snapshot": False,
                       "bids": bids, "asks": asks})


class Books:
    """Each book as the file states it (a snapshot replaces, a delta sets, "0" deletes), and which lines
    the README's rule refuses: per feed, the lines after which its book is crossed, locked or one-sided."""

    def __init__(self) -> None:
        self.levels: dict[tuple[str, str], dict[str, dict[Decimal, Decimal]]] = {}
        self.refused: Counter[tuple[str, str]] = Counter()

    def apply(self, key: tuple[str, str], bids: list, asks: list, snapshot: bool = False) -> None:
        book = self.levels.setdefault(key, {"bids": {}, "asks": {}})
        for side, levels in (("bids", bids), ("asks", asks)):
            if snapshot:
                book[side] = {}
            for price, amount in levels:
                if Decimal(amount):
                    book[side][Decimal(price)] = Decimal(amount)
                else:
                    book[side].pop(Decimal(price), None)
        if not book["bids"] or not book["asks"] or max(book["bids"]) >= min(book["asks"]):
            self.refused[key] += 1

    def number_glitch(self, key: tuple[str, str], deleted: tuple[str, str] | None) -> None:
        if deleted is not None:
            self.levels[key][deleted[0]].pop(Decimal(deleted[1]), None)
        self.refused[key] += 1


def with_glitches(lines: list[str], glitches: list[tuple[int, str, int]]
                  ) -> tuple[list[str], set[tuple[str, str]], Counter[tuple[str, str]]]:
    """``lines`` with each glitch (position among the book lines after the snapshots, kind, book) inserted,
    the books they touched, and how many lines of each book are to be refused."""
    books = Books()
    wanted: dict[int, list[tuple[str, tuple[str, str]]]] = {}
    for pos, kind, book in glitches:
        wanted.setdefault(pos, []).append((kind, BOOKS[book]))
    out, touched, n = [], set(), -1

    def add(ts: float, key: tuple[str, str], bids: list, asks: list) -> None:
        out.append(_book_line(ts, key, bids, asks))
        books.apply(key, bids, asks)

    for line in lines:
        out.append(line)
        obj = json.loads(line)
        if obj["type"] != "book":
            continue
        books.apply((obj["exchange"], obj["symbol"]), obj["bids"], obj["asks"], obj["snapshot"])
        if obj["snapshot"]:
            continue
        n += 1
        ts = obj["ts"]
        for kind, target in wanted.get(n, []):
            levels = books.levels.get(target)
            if levels is None:
                continue  # no snapshot of that book yet
            touched.add(target)
            if kind in NUMBER_GLITCHES:
                bids, asks, deleted = NUMBER_GLITCHES[kind]
                out.append(_book_line(ts, target, bids, asks))
                books.number_glitch(target, deleted)
            elif kind in CROSSED:
                add(ts, target, *CROSSED[kind])
            elif kind == "jump_missing_delete":
                # the quote jumps up by JUMP, but the line deleting the old asks is missing from the recording
                stale_ask = min(levels["asks"], default=Decimal(100))
                bid, ask, other = (f"{stale_ask + k * JUMP:.2f}" for k in (1, 2, 3))
                add(ts, target, [[bid, "1"]], [[ask, "1"]])  # crosses the stale ask
                add(ts, target, [], [[other, "1"]])  # sane on its own; the stale ask still crosses
                add(ts, target, [[bid, "0"]], [[ask, "0"], [other, "0"]])  # a later line undoes the jump
            else:
                side = "bids" if kind == "emptied_bids" else "asks"
                gone = [[str(p), "0"] for p in levels[side]]
                back = [[str(p), str(a)] for p, a in levels[side].items()]
                add(ts, target, *((gone, []) if side == "bids" else ([], gone)))
                add(ts, target, *((back, []) if side == "bids" else ([], back)))
    return out, touched, books.refused


class Listener:
    """Every live evaluation, by route: (t, figures)."""

    def __init__(self) -> None:
        self.live: list[tuple[tuple[str, str, str], float, tuple]] = []

    def on_book(self, book, t) -> None:
        pass

    def on_opportunity(self, opp, t) -> None:
        route = (opp.symbol, opp.buy_exchange, opp.sell_exchange)
        self.live.append((route, t, (opp.amount, opp.buy_vwap, opp.sell_vwap, opp.net_profit)))


class Episodes:
    """A store that keeps the closed episodes as rows (the scanner's funnel stays on the scanner)."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def record_episode(self, ep) -> None:
        self.rows.append(ep.as_row())

    def record_funnel(self, funnels, now=None) -> None:
        pass

    def record_venue_stats(self, stats) -> None:
        pass


def replay(path: Path):
    store, listener = Episodes(), Listener()
    scanner = Scanner({}, store, min_net_bps=Decimal(0), max_book_age_ms=2000, listeners=[listener])
    strategy = StrategyConfig("p", latency_ms=30, cooldown_ms=100, max_notional=Decimal(500))
    starting = {ex: {"USD": Decimal(5000), "C0000": Decimal(20), "C0001": Decimal(20)} for ex in ("v00", "v01", "v02")}
    executor = paper_executor(strategy, scanner.markets, None, starting_balances=starting, run_id=1)
    scanner.listeners.append(executor)
    result = run_replay(path, store, scanner=scanner, depth=4)
    return result, store.rows, listener.live, list(executor.trades)


CLEAN: dict[int, tuple] = {}


def clean_run(seed: int):
    if seed not in CLEAN:
        path, lines = clean_file(seed)
        CLEAN[seed] = (lines, *replay(path))
    return CLEAN[seed]


def _routes_of(key: tuple[str, str]) -> set[tuple[str, str, str]]:
    ex, sym = key
    return {(sym, a, b) for a, s in BOOKS for b, s2 in BOOKS if s == s2 == sym and a != b and ex in (a, b)}


glitch = st.tuples(st.integers(0, 239), st.sampled_from(KINDS), st.integers(0, len(BOOKS) - 1))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from([1, 2, 3]), glitches=st.lists(glitch, min_size=1, max_size=12))
def test_no_decision_comes_from_an_untrue_book(seed, glitches):
    lines, clean, clean_eps, clean_live, _ = clean_run(seed)
    assert clean.refused == 0 and clean_eps, "the clean file must be clean and have episodes"
    dirty_lines, touched, refused = with_glitches(lines, glitches)
    path = WORKDIR / f"dirty_{seed}.jsonl"
    path.write_text("\n".join(dirty_lines) + "\n")
    dirty, dirty_eps, dirty_live, trades = replay(path)

    # every live evaluation (funnel 'live', episodes) has a clean evaluation's figures on its route
    clean_figures = {(route, figures) for route, _, figures in clean_live}
    for route, t, figures in dirty_live:
        assert (route, figures) in clean_figures, (route, t, figures)
    for ep in dirty_eps:
        peak = (ep["amount"], ep["buy_vwap"], ep["sell_vwap"], ep["net_profit"])
        assert ((ep["symbol"], ep["buy_exchange"], ep["sell_exchange"]), peak) in clean_figures
    assert sum(f.live for f in dirty.scanner.funnels.values()) == len(dirty_live)
    # every paper trade opened at a live evaluation of its route at that moment
    opened_at = {(route, t) for route, t, _ in dirty_live}
    for trade in trades:
        assert (trade.route, trade.opened) in opened_at, (trade.route, trade.opened)

    # routes no glitch touched: exactly the clean episodes and funnel
    touched_routes = set().union(*(_routes_of(k) for k in touched)) if touched else set()
    def untouched(rows):  # noqa: E306
        return [r for r in rows if (r["symbol"], r["buy_exchange"], r["sell_exchange"]) not in touched_routes]
    assert untouched(dirty_eps) == untouched(clean_eps)
    for route, funnel in clean.scanner.funnels.items():
        if route not in touched_routes:
            assert dirty.scanner.funnels[route] == funnel, route

    # exactly the untrue lines refused, per feed; routes through a glitched book counted untrue_book
    assert dirty.refused == sum(refused.values())
    assert {k: f.rejected for k, f in dirty.scanner.feeds.items() if f.rejected} == dict(refused)
    for key in touched:
        assert dirty.scanner.feeds[key].rejected >= 1
        assert any(dirty.scanner.funnels[r].untrue_book for r in _routes_of(key) if r in dirty.scanner.funnels)
