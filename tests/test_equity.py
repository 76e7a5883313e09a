"""The bottom line on a hand-worked three-trade replay: equity curve, bottom line and drawdown, the same in the
``equity`` table, the end-of-run summary, ``arbscan status`` and ``arbscan report`` (text, CSV, HTML).

``tests/data/equity/three_trades.jsonl`` (written by hand, see its README): venues x and y charge 0.1 %
taker fees on BTC/USD; strategy ``three`` (``strategy.toml``) needs 10 bps, has 100 ms latency, no cooldown,
and holds 10,000 USD and 10 BTC on each venue. T0 = 1700006300 (2023-11-14 23:58:20 UTC).

Trade 1, decided at T0 (x asks 100 x 1, y bids 101 x 1), settled at T0+0.1 on the same books: filled.
  buy 1 @ 100 costs 100.1 (fee 0.1), sell 1 @ 101 brings 100.899 (fee 0.101): realised 0.799, cash +0.799.
Trade 2, decided at T0+10 on the same books; at T0+10.05 y's 101 bid shrinks to 0.4; settled at T0+10.1:
  buy 1 @ 100 = 100.1, sell 0.4 @ 101 = 40.4 * 0.999 = 40.3596: long 0.6 BTC kept on x.
  realised (the matched 0.4) = 40.3596 - 0.4 * 100.1 = 0.3196; cash 40.3596 - 100.1 = -59.7404.
  mark at T0+10.1: the long at x's best bid 99: 59.4. total = 0.799 - 59.7404 + 59.4 = 0.4586;
  realised 1.1186, unrealised 0.4586 - 1.1186 = -0.66 (= 59.4 - 0.6 * 100.1).
Trade 3, decided at T0+20; at T0+20.05 x's 100 ask shrinks to 0.3; settled at T0+20.1:
  buy 0.3 @ 100 = 30.03, sell 1 @ 101 = 100.899: short 0.7 BTC kept on y.
  realised (the matched 0.3) = 0.3 * 100.899 - 30.03 = 0.2397; cash 100.899 - 30.03 = 70.869.
  mark at T0+20.1: long 0.6 at x's bid 99 = 59.4, short 0.7 at y's best ask 102 = -71.4.
  cash 0.799 - 59.7404 + 70.869 = 11.9276; total 11.9276 + 59.4 - 71.4 = -0.0724;
  realised 1.3583, unrealised -1.4307.
The price move, T0+130 (2023-11-15 00:00:10 UTC, the next UTC day): y asks 98.5 (row at its event, 60 s since
  the last row: long 59.4, short -68.95: total 2.3776), then x bids 98 (the end of the stream: long 58.8):
  total 11.9276 + 58.8 - 68.95 = 1.7776; realised 1.3583, unrealised 0.4193.
Curve: 0, 0.799, 0.4586, -0.0724, 2.3776, 1.7776. Max drawdown: peak 0.799 to -0.0724 = 0.8714.
Per UTC day: 2023-11-14 ends at -0.0724; 2023-11-15 adds 1.7776 + 0.0724 = 1.85.
Trades 3, all with realised PnL > 0: won 3 (100 %). Fees: 0.1 + 0.101 + 0.1 + 0.0404 + 0.03 + 0.101 = 0.4724.
Turnover (buy legs incl. fees): 100.1 + 100.1 + 30.03 = 230.23.
"""

from __future__ import annotations

import csv
import sqlite3
from decimal import Decimal as D
from pathlib import Path

import pytest

from arbscan.cli.command import main
from arbscan.journal.bottomline import bottom_line_of, bottom_lines, drawdown, per_utc_day, premium_headline

DATA = Path(__file__).parent / "data" / "equity"
T0 = 1700006300.0

CURVE = [  # (ts, realised, unrealised, total) by hand, above
    (T0, D("0"), D("0"), D("0")),
    (T0 + 0.1, D("0.799"), D("0"), D("0.799")),
    (T0 + 10.1, D("1.1186"), D("-0.66"), D("0.4586")),
    (T0 + 20.1, D("1.3583"), D("-1.4307"), D("-0.0724")),
    (T0 + 130, D("1.3583"), D("1.0193"), D("2.3776")),
    (T0 + 130, D("1.3583"), D("0.4193"), D("1.7776")),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("equity")
    db = d / "j.db"
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["replay", str(DATA / "three_trades.jsonl"), "--config", str(DATA / "strategy.toml"),
                     "--db", str(db), "--no-progress", "--strategy", "three"])
    assert code == 0
    return db, out.getvalue()


def test_the_equity_table_holds_the_hand_worked_curve(run):
    db, _ = run
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT ts, realised, unrealised, total, currency, strategy, mode, unvalued FROM equity "
                        "ORDER BY id").fetchall()
    assert [(ts, D(r), D(u), D(t)) for ts, r, u, t, *_ in rows] == [(round(ts, 6), r, u, t) for ts, r, u, t in CURVE]
    assert {(c, s, m, v) for *_, c, s, m, v in rows} == {("USD", "three", "paper", None)}
    assert all(isinstance(r[1], str) and isinstance(r[3], str) for r in rows)  # exact TEXT decimals


def test_the_bottom_line_read_from_the_journal(run):
    db, _ = run
    b = bottom_line_of(db, 1, "three", "paper")
    assert (b.total, b.realised, b.unrealised) == (D("1.7776"), D("1.3583"), D("0.4193"))
    assert (b.trades, b.wins, b.win_rate) == (3, 3, D(1))
    assert b.max_drawdown == D("0.8714")
    assert b.per_day == (("2023-11-14", D("-0.0724")), ("2023-11-15", D("1.85")))
    assert (b.fees, b.turnover, b.currency, b.unvalued) == (D("0.4724"), D("230.23"), "USD", ())
    assert [p[1] for p in b.curve] == [t for *_, t in CURVE]


def test_end_of_run_summary_leads_with_the_bottom_line(run):
    _, out = run
    lines = out.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("strategy three (paper, run 1)"))
    assert lines[head + 1] == ("  bottom line (after fees, inventory at the books) three (paper, run 1): "
                               "total +1.78 USD = realised +1.36 + unrealised +0.42")
    assert lines[head + 2] == ("  trades 3, won 3 (100.0 %); max drawdown 0.87; fees 0.47; turnover 230.23; "
                               "per UTC day: 2023-11-14 -0.07, 2023-11-15 +1.85")
    assert "  turnover 230.23 USD on buy legs incl. fees (largest trade 100.10)" in lines


def test_status_shows_the_bottom_line(run, capsys):
    db, _ = run
    assert main(["status", "--db", str(db)]) == 0
    out = capsys.readouterr().out.splitlines()
    i = out.index("bottom line (run 1):")
    assert out[i + 1] == "  three (paper, run 1): total +1.78 USD = realised +1.36 + unrealised +0.42"
    assert "max drawdown 0.87" in out[i + 2]
    assert out[i + 3].startswith("scanner (run 1): best premium seen: BTC/USD x -> y 100.00 bps gross vs fee "
                                 "hurdle 20.02 bps (+79.98 after fees)")


@pytest.mark.parametrize("width", [80, 120])
def test_text_report_leads_with_the_bottom_line(run, capsys, monkeypatch, width):
    db, _ = run
    monkeypatch.setenv("COLUMNS", str(width))
    assert main(["report", "--db", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[3] == "== Bottom line: after fees, inventory at the books =="
    assert lines[4] == "three (paper, run 1): total +1.78 USD = realised +1.36 + unrealised +0.42"
    body = " ".join(lines[5:9]).replace("   ", " ")  # a long line wraps with a two-space indent
    assert "max drawdown 0.87" in body and "2023-11-15 +1.85" in body
    assert "fee hurdle 20.02 bps" in body
    # the ranking column stays: routes by realised PnL, trading by realised PnL, imbalances by value in USD
    routes = lines[lines.index("== Routes by realised PnL (paper and live): top 1 of 2 ==") + 1:]
    assert routes[0].split()[:2] == ["route", "realised_pnl_total"] and routes[1].split()[5] == "1.36"
    trading = lines[lines.index("== Paper and live trading, by realised PnL ==") + 1:]
    assert trading[0].split()[3] == "realised_pnl_total" and trading[1].split()[3] == "1.36"
    imb = lines[lines.index("== Leg imbalances by their value in the quote, largest first ==") + 1:]
    # the short of 0.7 (sold for 70.6293 after fee) before the long of 0.6 (bought for 60.06 with fee)
    assert [ln.split()[:2] for ln in imb[1:3]] == [["paper-1-three-3", "70.63"], ["paper-1-three-2", "60.06"]]
    assert max(len(ln) for ln in lines[1:]) <= width


def test_csv_keeps_every_digit_of_the_bottom_line_and_the_curve(run, tmp_path, capsys):
    db, _ = run
    assert main(["report", "--db", str(db), "--csv", str(tmp_path)]) == 0
    with open(tmp_path / "bottom_line.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert (row["total"], row["realised"], row["unrealised"], row["max_drawdown"], row["fees"]) == (
        "1.7776", "1.3583", "0.4193", "0.8714", "0.4724")
    assert (row["trades"], row["wins"], D(row["turnover"])) == ("3", "3", D("230.23"))
    assert row["per_utc_day"] == "2023-11-14 -0.0724; 2023-11-15 1.8500"
    with open(tmp_path / "equity.csv", newline="") as f:
        assert [D(r["total"]) for r in csv.DictReader(f)] == [t for *_, t in CURVE]
    with open(tmp_path / "premiums.csv", newline="") as f:
        (p,) = list(csv.DictReader(f))
    assert (p["buy_exchange"], p["sell_exchange"], D(p["max_gross_bps"])) == ("x", "y", D(100))


def test_html_opens_with_the_bottom_line_and_the_equity_chart(run):
    db, _ = run
    from arbscan.report import build_report, render_html

    report = build_report(db)
    page = render_html(report)
    first = page.index('id="summary-bottom"')
    assert first < page.index('id="chart-equity"') < page.index("<h2>Charts</h2>") < page.index('id="summary-runs"')
    assert "three (paper, run 1): total +1.78 USD = realised +1.36 + unrealised +0.42" in page
    (series,) = [s for label, s in report.equity.series.items() if label.startswith("three")]
    assert series["y"] == [t for *_, t in CURVE]


def test_drawdown_and_days_by_hand():
    assert drawdown([D(0), D(3), D(1), D(4), D(-2), D(1)]) == D(6)  # peak 4, trough -2
    assert drawdown([D(-1), D(-3)]) == D(3)  # the curve starts at 0
    assert drawdown([None, D(1)]) == D(0)
    day = 86400.0
    assert per_utc_day([(0.0, D(1)), (day - 1, D(2)), (day + 5, D(-1)), (3 * day, D(4))]) == (
        ("1970-01-01", D(2)), ("1970-01-02", D(-3)), ("1970-01-04", D(5)))


def test_the_demo_headline_is_its_premium_against_its_fee_hurdle(tmp_path, capsys):
    db = tmp_path / "demo.db"
    assert main(["replay", "--db", str(db), "--no-progress"]) == 0
    capsys.readouterr()
    (best, *_) = premium_headline(db)
    # the demo's best premium (README, "What the demo shows"): 6.73 bps against 0.075 % taker fees on both legs:
    # 10000 * (1.00075 / 0.99925 - 1) = 15.0113 bps; the best premium 6.7254 - 15.0113 = -8.2859 after fees
    assert (best.buy_exchange, best.sell_exchange) == ("bitmex", "deribit")
    assert f"{best.max_gross_bps:.2f}" == "6.73" and f"{best.fee_hurdle_bps:.2f}" == "15.01"
    assert main(["report", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "best premium seen: BTC/USD bitmex -> deribit 6.73 bps gross vs fee hurdle 15.01 bps (-8.29 after fees)" \
        in out.replace("\n  ", " ")
    assert bottom_lines(db) == []  # no strategy: no bottom line, only the scanner's headline
