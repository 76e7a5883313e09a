"""tools/convert_tardis.py on a real excerpt of the Tardis.dev BitMEX/Deribit minute (tests/data/replay)."""

from __future__ import annotations

import importlib.util
from decimal import Decimal as D
from pathlib import Path

from arbscan.replay.run import BookEvent, MarketEvent, demo_path, read_replay, run_replay

ROOT = Path(__file__).resolve().parent.parent
EXCERPT = ROOT / "tests" / "data" / "replay" / "tardis_bitmex_deribit_excerpt.ndjson"


def load_converter():
    spec = importlib.util.spec_from_file_location("convert_tardis", ROOT / "tools" / "convert_tardis.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_excerpt_converts_to_a_valid_replay_file(tmp_path):
    out = tmp_path / "excerpt.jsonl.gz"
    counts = load_converter().convert(EXCERPT, out)
    assert counts == {"book": 150, "trade_skipped": 1, "delta_before_snapshot_skipped": 0}
    events = list(read_replay(out))
    markets = {e.market.exchange: e.market for e in events if isinstance(e, MarketEvent)}
    assert {m.symbol for m in markets.values()} == {"BTC/USD"}
    assert markets["bitmex"].taker_fee == markets["deribit"].taker_fee == D("0.00075")
    assert (markets["bitmex"].price_step, markets["deribit"].price_step) == (D("0.5"), D("0.25"))
    assert (markets["bitmex"].min_cost, markets["deribit"].min_cost) == (D(1), D(10))
    books = [e for e in events if isinstance(e, BookEvent)]
    first = books[0]
    # 2019-04-01T00:00:00Z is unix 1554076800; the first line was received at .284668
    assert (first.exchange, first.snapshot, first.ts) == ("deribit", True, 1554076800.284668)
    # USD notional / price, to 8 decimals (bc: 481310 / 4092.5 = 117.607819181..., 9330 / 4092.25 = 2.279919359...)
    assert first.asks[0] == (D("4092.5"), D("117.60781918"))
    assert first.bids[0] == (D("4092.25"), D("2.27991936"))
    bitmex = next(b for b in books if b.exchange == "bitmex")
    assert bitmex.snapshot and bitmex.ts == 1554076802.680358
    assert (D("4091"), D("70.17697385")) in bitmex.bids  # bc: 287094 / 4091 = 70.176973845025: rounds up


def test_excerpt_shows_the_premium_from_the_first_joint_event(tmp_path):
    out = tmp_path / "excerpt.jsonl"
    load_converter().convert(EXCERPT, out)
    result = run_replay(out, None, depth=10)
    f = result.scanner.funnels[("BTC/USD", "bitmex", "deribit")]
    assert f.evaluated > 0 and f.crossed_before_fees == f.fees == f.evaluated and f.live == 0


def test_bundled_demo_is_the_converters_output(tmp_path):
    """The shipped file is exactly what the converter makes of the source's first lines: the same
    events, in the same order, as far as the excerpt goes."""
    out = tmp_path / "excerpt.jsonl.gz"
    load_converter().convert(EXCERPT, out)
    mine = list(read_replay(out))
    shipped = []
    for ev in read_replay(demo_path()):
        shipped.append(ev)
        if len(shipped) == len(mine):
            break
    assert [_strip(e) for e in shipped] == [_strip(e) for e in mine]


def _strip(ev):
    return ev if isinstance(ev, MarketEvent) else (ev.ts, ev.exchange, ev.snapshot, ev.bids, ev.asks)
