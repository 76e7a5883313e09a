"""Real books whose levels are off today's step are true (issue 28, item 5): counted, never refused.

The data is real Binance NKNUSDT (``tests/data/ccxt/binance_nknusdt_depth_snapshot.json`` and
``binance_nknusdt_depth_diffs.jsonl``; source bmoscon/cryptofeed sample_data, 2021-10-12, see
``tests/data/ccxt/README.md``). The market line states an amount step of 1: about one level in ten of the
real snapshot has a fractional amount, as after a venue coarsens its step (Binance's BTCUSDT of
2024-08-08 shows the same with an ask ``200000 x 25.426189`` against the step 0.00001). The expected
counts are read straight from the recorded strings, not from the gate.
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

from arbscan import booksanity
from arbscan.cli import command as cli
from arbscan.replay.run import BookBuilder
from arbscan.replay.reader import read_replay
import conftest

DATA = Path(__file__).parent / "data" / "ccxt"
D = Decimal


def _fractional(amount: str) -> bool:
    """Whether a recorded amount string has a non-zero digit after the point (the recording's own text)."""
    whole, _, frac = amount.partition(".")
    return frac.strip("0") != ""


def _replay_lines() -> tuple[list[str], int]:
    """The real snapshot and the diffs that continue it as replay lines, and how many carry a fractional amount."""
    snap = json.loads((DATA / "binance_nknusdt_depth_snapshot.json").read_text())
    market = {"type": "market", "exchange": "binance", "symbol": "NKN/USDT", "taker_fee": "0.001",
              "amount_step": "1", "price_step": "0.00001"}
    lines = [json.dumps(market)]
    t0 = 1633998512.0
    lines.append(json.dumps({"type": "book", "ts": t0, "exchange": "binance", "symbol": "NKN/USDT", "snapshot": True,
                             "bids": snap["bids"], "asks": snap["asks"]}))
    off = int(any(_fractional(a) for _, a in snap["bids"] + snap["asks"]))
    last = snap["lastUpdateId"]
    for raw in (DATA / "binance_nknusdt_depth_diffs.jsonl").read_text().splitlines():
        rec = json.loads(raw)
        data = json.loads(rec["frame"])["data"]
        if data["u"] <= last:  # Binance: drop diffs the snapshot already holds
            continue
        ts = max(t0, data["E"] / 1000)
        t0 = ts
        lines.append(json.dumps({"type": "book", "ts": ts, "exchange": "binance", "symbol": "NKN/USDT",
                                 "snapshot": False, "bids": data["b"], "asks": data["a"]}))
        off += any(_fractional(a) for _, a in data["b"] + data["a"] if D(a))
    return lines, off


def test_real_binance_levels_off_the_step_are_used_and_counted(tmp_path, capsys):
    lines, off = _replay_lines()
    assert off >= 1  # the recording itself has such levels: the test cannot pass vacuously
    path = tmp_path / "nkn.jsonl"
    path.write_text("\n".join(lines) + "\n")
    db = tmp_path / "j.db"
    assert cli.main(["replay", str(path), "--db", str(db), "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "untrue books" not in out  # no real line refused
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT events, rejected FROM venue_stats").fetchall() == [(len(lines) - 1, 0)]
    assert conn.execute("SELECT off_step FROM venue_stats").fetchall() == [(off,)]
    warned = [line for line in err.splitlines() if "off its market's step" in line]
    assert len(warned) == 1 and "has more digits than the amount step 1" in warned[0]


def test_the_real_snapshot_builds_a_book_with_its_fractional_levels():
    snap = json.loads((DATA / "binance_nknusdt_depth_snapshot.json").read_text())
    events = [e for e in read_replay(_write(_replay_lines()[0][:2])) if hasattr(e, "bids")]
    market = conftest.market("binance", "NKN/USDT", amount_step="1", price_step="0.00001")
    counted: list[tuple[str, str]] = []
    builder = BookBuilder(0, {("binance", "NKN/USDT"): market}, lambda ex, sym: counted.append((ex, sym)))
    book = builder.apply(events[0])
    assert book is not None and counted == [("binance", "NKN/USDT")]
    assert len(book.bids) == len(snap["bids"]) and len(book.asks) == len(snap["asks"])
    fractional = [(D(p), D(a)) for p, a in snap["bids"] if _fractional(a)]
    assert fractional and all(level in book.bids for level in fractional)  # used as published, not rounded or dropped
    assert booksanity.untrue_reason(book, market) is None and booksanity.off_step_reason(book.bids, book.asks, market) is not None


def _write(lines: list[str]) -> str:
    import tempfile

    fh = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False)
    fh.write("\n".join(lines) + "\n")
    fh.close()
    return fh.name


def test_what_cannot_be_true_is_still_refused():
    m = conftest.market("binance", "BTC/USDT", amount_step="0.00001", price_step="0.01")
    ok = ((D("60000"), D("1")),)
    assert booksanity.line_reason(ok, ((D("200000"), D("25.426189")),), m) is None  # the real 2024-08-08 ask: true
    cases = {
        ((D("1e-999999999"), D("1")),): "bid price 1E-999999999 is below 1E-18",
        ((D("60000"), D("1e-999999999")),): "bid amount 1E-999999999 at 60000 is below 1E-18",
        ((D("1e16"), D("1")),): "bid price 1E+16 is beyond 1E+15",
        ((D("NaN"), D("1")),): "bid price NaN is not a finite number",
        ((D("0"), D("1")),): "bid price 0 is not positive",
        ((D("60000"), D("-1")),): "bid amount -1 at 60000 is not positive",
        ((D("60000"), D("1")), (D("60000"), D("2"))): "bid price 60000 is listed twice in one line",
    }
    for bids, reason in cases.items():
        assert booksanity.line_reason(bids, (), m) == reason
