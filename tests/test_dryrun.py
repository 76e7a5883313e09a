"""Two strategies that differ only in ``latency_ms``, end to end: on a small hand-made file (figures
computed by hand below), on a generated stream of short-lived crosses, and on the bundled demo.

The small file ``tests/data/dryrun/two_latencies.jsonl`` (see the README there), venue x (buy) fee
0.1 %, venue y (sell) fee 0.2 %, x holds 1000 USD and y 5 BTC; both strategies need 10 bps and
cool down 1 s after each trade; ``fast`` has latency 0, ``slow`` 200 ms.

Segment A, t = 100.0: x asks 100 x 0.5, 100.5 x 1; y bids 101 x 1. Both decide at 100.0 to buy 1:
  buy 0.5 @ 100 + 0.5 @ 100.5 = 100.25, fee 0.10025, cost 100.35025, limit 100.5;
  sell 1 @ 101 = 101, fee 0.202, proceeds 100.798, limit 101; expected profit 0.44775 (44.6 bps).
  t = 100.1: y's 101 bid shrinks to 0.4. fast (due 100.0) settles first on the books before this
  event: all filled, PnL 0.44775. slow is due at 100.2: the x event at 100.3 settles it (as of
  100.2) on the thin book: buy 1 (100.35025), sell 0.4 @ 101 = 40.4, fee 0.0808, proceeds 40.3192; imbalance +0.6 BTC;
  PnL of the matched 0.4 = 40.3192 - 0.4 * 100.35025 = 0.1791.
Segment B, t = 103.0 (the old books are stale by then): x asks 100 x 1; y bids 100.5 x 1. Both
  decide to buy 1: cost 100.1, proceeds 100.5 * 0.998 = 100.299, profit 0.199 (19.9 bps).
  t = 103.05: x's ask moves to 101; fast settles first on the books before it: filled, PnL 0.199.
  t = 103.1: y's bid moves to 99.5. slow (due 103.2) is settled by the event at 103.5: ask 101 > limit 100 and
  bid 99.5 < limit 100.5: both IOCs expire, missed.
Totals: fast 2 filled, PnL 0.64675, capital used 200.45025, fill rate 100 %;
        slow 1 imbalanced + 1 missed, PnL 0.1791, capital used 100.35025, fill rate (1 + 0.4) / 4 = 35 %.
"""

from __future__ import annotations

import dataclasses
import json
import random
from decimal import Decimal as D
from pathlib import Path
from types import SimpleNamespace

from arbscan.cli.command import main
from arbscan.config.settings import StrategyConfig
from arbscan.execution.executor import Executor
from arbscan.execution.paper import paper_executor
from arbscan.replay.run import BookBuilder, BookEvent, MarketEvent, demo_path, read_replay
from arbscan.scan.scanner import Scanner
from arbscan.journal.store import Store
from arbscan.execution.summary import summarize

DATA = Path(__file__).parent / "data" / "dryrun"


def replay_cli(tmp_path, capsys, file, *args):
    db = tmp_path / "j.db"
    code = main(["replay", str(file), "--config", str(DATA / "strategies.toml"), "--db", str(db), "--no-progress", *args])
    out = capsys.readouterr()
    return code, out.out, out.err, db


def test_small_file_two_latencies_match_the_hand_computation(tmp_path, capsys):
    code, out, err, db = replay_cli(tmp_path, capsys, DATA / "two_latencies.jsonl", "--strategy", "fast", "--strategy", "slow")
    assert code == 0, err
    j = Store.open_readonly(db)
    (run_id,) = j.execute("SELECT max(id) FROM runs").fetchone()
    fast, slow = summarize(j, run_id, "fast"), summarize(j, run_id, "slow")
    assert (fast.trades, fast.filled, fast.imbalanced, fast.missed) == (2, 2, 0, 0)
    assert (fast.realised_pnl, fast.capital_used, fast.fill_rate) == (D("0.64675"), D("200.45025"), D(1))
    assert fast.drift() == {"BTC": D(0), "USD": D("0.64675")}
    assert (slow.trades, slow.filled, slow.imbalanced, slow.missed) == (2, 0, 1, 1)
    assert (slow.realised_pnl, slow.capital_used, slow.fill_rate) == (D("0.1791"), D("100.35025"), D("0.35"))
    # slow keeps 0.6 BTC of inventory and is 100.35025 - 40.3192 USD poorer in cash
    assert slow.drift() == {"BTC": D("0.6"), "USD": D("-60.03105")}
    assert slow.final[("y", "BTC")] == D("4.6") and slow.final[("x", "USD")] == D("899.64975")
    # the one-screen summaries
    assert "strategy fast (paper" in out and "trades 2: 2 filled, 0 partial, 0 imbalanced, 0 missed" in out
    assert "trades 2: 0 filled, 0 partial, 1 imbalanced, 1 missed" in out
    assert "fill rate 35.0 %" in out and "PnL after fees 0.1791" in out
    assert "inventory left by uneven fills: +0.6 BTC" in out


def test_the_journal_tells_why_slow_missed(tmp_path, capsys):
    code, _, _, db = replay_cli(tmp_path, capsys, DATA / "two_latencies.jsonl", "--strategy", "slow")
    assert code == 0
    j = Store.open_readonly(db)
    rows = j.execute("SELECT opened, closed, status, sell_filled, imbalance_action FROM trades ORDER BY opened").fetchall()
    assert [(r[0], r[1], r[2], D(r[3]), r[4]) for r in rows] == [
        (100.0, 100.2, "imbalanced", D("0.4"), "kept"), (103.0, 103.2, "missed", D(0), "none")]
    statuses = j.execute("SELECT role, status FROM orders ORDER BY created, role").fetchall()
    assert statuses == [("buy", "filled"), ("sell", "partially_filled"), ("buy", "expired"), ("sell", "expired")]


def test_strategy_without_any_balance_is_a_one_line_error(tmp_path, capsys):
    # the demo has no balance lines and strategy 'broke' has no balances: paper trading needs capital
    # (its own config: strategies.toml's venues x and y are not venues of the demo, which is an error of its own)
    cfg = tmp_path / "broke.toml"
    cfg.write_text('[[strategies]]\nname = "broke"\n')
    code = main(["replay", str(demo_path()), "--config", str(cfg), "--db", str(tmp_path / "j.db"), "--no-progress",
                 "--strategy", "broke"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().count("\n") == 0 and "'broke'" in err and "balances" in err


def test_unknown_strategy_is_a_one_line_error(tmp_path, capsys):
    code, _, err, _ = replay_cli(tmp_path, capsys, DATA / "two_latencies.jsonl", "--strategy", "nope")
    assert code == 2 and "'nope'" in err


# -- a generated stream of short-lived crosses ------------------------------------------------

LIFETIMES_MS = (20, 60, 100, 150, 250, 350, 500)


def generate_crosses(path: Path, n: int, seed: int) -> list[int]:
    """Write a replay file with ``n`` crosses, one every 5 s, each living a random lifetime; returns the lifetimes.

    Venues p and q charge 0.1 %. p always asks 100 x 1; q bids 99.9 x 1 except during a cross, when
    it also bids 100.5 x 1: buying 1 on p and selling on q earns 100.5 * 0.999 - 100 * 1.001 = 0.2995.
    p gets a heartbeat every 1.5 s so neither book is ever stale (2 s).
    """
    rng = random.Random(seed)
    lines = [
        {"type": "market", "exchange": v, "symbol": "BTC/USD", "taker_fee": "0.001", "amount_step": "0.0001",
         "price_step": "0.1"} for v in ("p", "q")
    ]
    lines += [{"type": "balance", "exchange": "p", "asset": "USD", "free": "10000"},
              {"type": "balance", "exchange": "q", "asset": "BTC", "free": "100"}]

    def bk(ts, venue, snapshot, bids, asks=()):
        return {"type": "book", "ts": ts, "exchange": venue, "symbol": "BTC/USD", "snapshot": snapshot,
                "bids": [list(b) for b in bids], "asks": [list(a) for a in asks]}

    lines.append(bk(999.0, "p", True, [("99", "1")], [("100", "1")]))
    lines.append(bk(999.0, "q", True, [("99.9", "1")], [("101", "1")]))
    lifetimes = []
    for k in range(n):
        t0 = 1000 + 5 * k
        life = rng.choice(LIFETIMES_MS)
        lifetimes.append(life)
        lines.append(bk(t0, "q", False, [("100.5", "1")]))
        lines.append(bk(round(t0 + life / 1000, 3), "q", False, [("100.5", "0")]))
        for i, dt in enumerate((1.5, 3.0, 4.5)):
            lines.append(bk(t0 + dt, "p", False, [("99", str(i + 1))]))
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return lifetimes


def test_generated_stream_latency_decides_which_crosses_fill(tmp_path, capsys):
    stream = tmp_path / "crosses.jsonl"
    lifetimes = generate_crosses(stream, 24, seed=6)
    config = tmp_path / "s.toml"
    config.write_text(
        '[[strategies]]\nname = "fast"\nmin_net_bps = 10\nlatency_ms = 50\n'
        '[[strategies]]\nname = "slow"\nmin_net_bps = 10\nlatency_ms = 300\n'
    )
    db = tmp_path / "j.db"
    code = main(["replay", str(stream), "--config", str(config), "--db", str(db), "--no-progress",
                 "--strategy", "fast", "--strategy", "slow"])
    assert code == 0, capsys.readouterr().err
    j = Store.open_readonly(db)
    (run_id,) = j.execute("SELECT max(id) FROM runs").fetchone()
    # A cross is caught exactly when it outlives the latency: the orders arrive while it is there.
    # A cross gone before they arrive took only q's bid with it: the buy leg on p still fills
    # (1 BTC for 100.1 USD), the sell leg expires, and that BTC stays as inventory.
    for name, latency in (("fast", 50), ("slow", 300)):
        s = summarize(j, run_id, name)
        caught = sum(1 for life in lifetimes if life > latency)
        late = 24 - caught
        assert (s.trades, s.filled, s.imbalanced, s.missed) == (24, caught, late, 0), name
        assert s.realised_pnl == caught * D("0.2995")
        assert s.expected == {"USD": 24 * D("0.2995")}
        assert s.capital_used == 24 * D("100.1")
        assert s.drift() == {"BTC": D(late), "USD": caught * D("0.2995") - late * D("100.1")}
    # the seed gives both kinds of crosses, so the two strategies really differ
    assert 0 < sum(1 for life in lifetimes if life > 300) < sum(1 for life in lifetimes if life > 50) < 24


# -- the bundled demo --------------------------------------------------------------------------

DEMO_BALANCES = {"bitmex": {"USD": D(20000)}, "deribit": {"BTC": D(5)}}


def run_demo(fee: D | None, *strategies: StrategyConfig) -> tuple[Scanner, list[Executor]]:
    """The demo through a scanner at depth 10 (the default), taker fees replaced by ``fee`` when given."""
    sc = Scanner({})
    executors = [paper_executor(s, sc.markets, None, starting_balances=DEMO_BALANCES) for s in strategies]
    sc.listeners.extend(executors)
    builder = BookBuilder(10)
    for ev in read_replay(demo_path()):
        if isinstance(ev, MarketEvent):
            sc.add_market(ev.market if fee is None else dataclasses.replace(ev.market, taker_fee=fee))
        elif isinstance(ev, BookEvent):
            sc.on_book_event(builder.apply(ev), ev.ts)
    sc.close()
    return sc, executors


FAST = StrategyConfig("fast", min_net_bps=D(0), latency_ms=0, max_notional=D(1000))
SLOW = StrategyConfig("slow", min_net_bps=D(0), latency_ms=500, max_notional=D(1000))


def test_demo_at_real_fees_neither_strategy_trades():
    # the demo's premium peaks at 6.7 bps; two 0.075 % taker fees need 15.01 bps (arbscan/data/SOURCE.md)
    sc, (fast, slow) = run_demo(None, FAST, SLOW)
    assert sc.live_evaluations == 0
    assert not fast.trades and not slow.trades


def test_demo_without_fees_latency_changes_what_happens():
    # What if both venues charged no fee: bitmex -> deribit is then live most of the minute.
    # fast (latency 0) spends its 20 x 1000 USD on the first crosses within about a second, every
    # trade filled as decided. slow (500 ms) can have one trade in flight, so its trades are spread
    # over the minute and meet larger premiums later, but one of them finds deribit's bid gone
    # below its sell limit when it arrives: the sell leg expires and the BTC bought stays as inventory.
    sc, (fast_ex, slow_ex) = run_demo(D(0), FAST, SLOW)
    fast, slow = SimpleNamespace(trades=list(fast_ex.trades)), SimpleNamespace(trades=list(slow_ex.trades))
    assert len(fast.trades) == len(slow.trades) == 20  # 20000 USD / 1000 per trade, then out of USD on bitmex
    assert all(t.status == "filled" and t.realised_pnl == t.opp.net_profit for t in fast.trades)
    assert fast.trades[-1].opened - fast.trades[0].opened < 1.0
    gaps = [b.opened - a.opened for a, b in zip(slow.trades, slow.trades[1:])]
    assert min(gaps) >= 0.5
    assert slow.trades[-1].opened - slow.trades[0].opened > 10
    pnl = lambda ex: sum((t.realised_pnl for t in ex.trades), D(0))  # noqa: E731
    assert pnl(slow) > pnl(fast)
    assert max(t.opp.net_bps for t in slow.trades) > 2 * max(t.opp.net_bps for t in fast.trades)
    (uneven,) = [t for t in slow.trades if t.status != "filled"]
    assert uneven.status == "imbalanced" and uneven.sell.filled == 0 and uneven.buy.filled == uneven.opp.amount
    # check against the file itself: deribit's best bid just before the settle time is below the limit
    builder, best_bid = BookBuilder(0), None
    for ev in read_replay(demo_path()):
        if isinstance(ev, BookEvent):
            if ev.ts >= uneven.closed:
                break
            book = builder.apply(ev)
            if ev.exchange == "deribit":
                best_bid = book.best_bid
    assert best_bid < uneven.opp.sell_limit
    held = slow_ex.venue.balances
    assert held["bitmex"]["BTC"] - held["deribit"]["BTC"] + 5 > 0  # inventory kept, nothing negative


def test_replay_header_reads_the_starting_balances_only(tmp_path):
    # a balance line after the first book line is a change during the run, not starting capital
    f = tmp_path / "h.jsonl"
    lines = (DATA / "two_latencies.jsonl").read_text().splitlines()
    lines.insert(6, '{"type": "balance", "exchange": "x", "asset": "BTC", "free": "7"}')
    f.write_text("\n".join(lines) + "\n")
    from arbscan.replay.run import replay_header

    assert replay_header(f) == {"x": {"USD": D(1000)}, "y": {"BTC": D(5)}}
