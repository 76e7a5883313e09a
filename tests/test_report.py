"""`arbscan report` over a journal with known contents: every figure against hand-computed values.

The journal is ``tests/data/report/journal.json`` (written by hand; see the README beside it), loaded
through ``Store``. Expected figures are worked out by hand in the comments, never by report code.
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from arbscan.errors import BadInput
from arbscan.report import TABLES, ReportFilter, build_report, main, parse_time, render_text, write_csv
from arbscan.journal.store import Store

DATA = Path(__file__).parent / "data" / "report"
REPORTS_PAGE = Path(__file__).parent.parent / "docs" / "reports.md"
T0 = 1554076800.0  # 2019-04-01T00:00:00Z; the journal's times are T0 + offsets


def write_journal(path: Path) -> Path:
    """Load journal.json into a fresh journal through Store (the way the scanner and executors write)."""
    data = json.loads((DATA / "journal.json").read_text())
    with Store(path, flush_interval=0.01) as s:
        for table in ("runs", "opportunities", "funnel", "venue_stats", "trades", "orders", "fills", "balances"):
            s.submit_many(table, data[table])
    return path


@pytest.fixture(scope="module")
def journal(tmp_path_factory):
    return write_journal(tmp_path_factory.mktemp("report") / "known.db")


# -- the hand-computed report of the whole journal, as printed --------------------------------

# Routes, all runs. BTC/USD kraken->bitstamp has episodes E1, E2, E3 (run 1) and E6 (run 2):
#   durations 3.5, 0, 9, 1 -> sorted 0, 1, 3.5, 9: median (1 + 3.5)/2 = 2.25; p90 at rank 0.9*3 = 2.7:
#   3.5 + 0.7*(9 - 3.5) = 7.35; live_s = 13.5. net_profit 1.50 + 0.10 + 2.345 + 0.005 = 3.950,
#   median (0.10 + 1.50)/2 = 0.80; net_bps median (1.1 + 3.2)/2 = 2.15 (bps shown to 0.01). fees 0.51 + 0.10 + 1.005 +
#   0.002 = 1.617; gross = net + fees = 5.567; fee_share 1.617/5.567 = 0.29046.. -> 0.2905.
#   covered: run 1 books 1000..1100 and 1010..1110 overlap 90 s; run 2 5000..5030 and 5000..5020: 20 s
#   -> 110 s; live_share 13.5/110 = 0.12272.. -> 0.1227.
# bitstamp->kraken: E4, E5: durations 1.25, 2.75: median 2.0, p90 1.25 + 0.9*1.5 = 2.6; live 4.0,
#   share 4/110 = 0.0363.. -> 0.0364; profit 0.2 + 0.4 = 0.6, median 0.3; bps (0.8 + 1.2)/2 = 1.00;
#   fees 0.2 + 0.4 = 0.6, gross 1.2, fee_share 0.5.
# ETH/USD kraken->bitstamp: funnel only; covered 1000..1060 and 1020..1080 -> 40 s.
# Trades: T1-T5 all buy kraken / sell bitstamp (paper T1-T4, live T5): realised 1.10 - 0.35 + 0 + 0.11 = 0.86
#   (T4 is open: no realised PnL yet); the other routes have none.
ROUTES = [
    {"symbol": "BTC/USD", "buy_exchange": "bitstamp", "sell_exchange": "kraken", "quote": "USD", "episodes": "2",
     "observations": "5", "net_profit_total": "0.6", "net_profit_median": "0.3", "net_profit_max": "0.4",
     "net_bps_median": "1.00", "net_bps_max": "1.20", "gross_profit_total": "1.2", "fees_total": "0.6",
     "fee_share": "0.5000", "duration_median_s": "2.000", "duration_p90_s": "2.600", "duration_max_s": "2.750",
     "live_s": "4.000", "covered_s": "110.000", "live_share": "0.0364", "trades": "0", "realised_pnl_total": ""},
    {"symbol": "BTC/USD", "buy_exchange": "kraken", "sell_exchange": "bitstamp", "quote": "USD", "episodes": "4",
     "observations": "17", "net_profit_total": "3.950", "net_profit_median": "0.80", "net_profit_max": "2.345",
     "net_bps_median": "2.15", "net_bps_max": "4.75", "gross_profit_total": "5.567", "fees_total": "1.617",
     "fee_share": "0.2905", "duration_median_s": "2.250", "duration_p90_s": "7.350", "duration_max_s": "9.000",
     "live_s": "13.500", "covered_s": "110.000", "live_share": "0.1227", "trades": "5", "realised_pnl_total": "0.86"},
    {"symbol": "ETH/USD", "buy_exchange": "kraken", "sell_exchange": "bitstamp", "quote": "USD", "episodes": "0",
     "observations": "0", "net_profit_total": "0", "net_profit_median": "", "net_profit_max": "",
     "net_bps_median": "", "net_bps_max": "", "gross_profit_total": "0", "fees_total": "0", "fee_share": "",
     "duration_median_s": "", "duration_p90_s": "", "duration_max_s": "", "live_s": "0.000",
     "covered_s": "40.000", "live_share": "0.0000", "trades": "0", "realised_pnl_total": ""},
]


def _funnel(sym, buy, sell, *counts, reason):
    names = TABLES["funnel"][3:TABLES["funnel"].index("main_reason_not_live")]
    row = {"symbol": sym, "buy_exchange": buy, "sell_exchange": sell}
    row.update({n: str(c) for n, c in zip(names, counts, strict=True)})
    row["main_reason_not_live"] = reason
    row["transfer_blocked"] = "0"  # appended later; this journal has no funding facts
    row["untrue_book"] = "0"  # appended later; this journal's books were all true
    return row


# kraken->bitstamp sums runs 1 and 2: 100+10, 40+3, 15+2, 60+7, 20+1, 3, 1, 1, 7+0, 3+1
FUNNEL = [
    _funnel("BTC/USD", "bitstamp", "kraken", 100, 10, 5, 90, 5, 0, 0, 0, 7, 2, reason="not_crossed"),
    _funnel("BTC/USD", "kraken", "bitstamp", 110, 43, 17, 67, 21, 3, 1, 1, 7, 4, reason="not_crossed"),
    _funnel("ETH/USD", "kraken", "bitstamp", 30, 5, 0, 25, 4, 1, 0, 0, 2, 0, reason="not_crossed"),
]

# bitstamp BTC/USD: runs 1 (11 events, 1010..1110) and 2 (3 events, 5000..5020): span 100 + 20 = 120 s,
#   14/120 = 0.11666 ev/s, mean gap 120000 ms / (10 + 2) gaps = 10000.0; kraken BTC/USD: 5 + 4 events,
#   span 100 + 30 = 130, 9/130 = 0.06923, 130000/(4 + 3) = 18571.43; ETH: 60 s each, 4 and 3 events.
VENUES = [
    {"exchange": "bitstamp", "symbol": "BTC/USD", "runs": "2", "events": "14", "first_event": "2019-04-01T00:16:50.000Z",
     "last_event": "2019-04-01T01:23:40.000Z", "span_s": "120.000", "events_per_s": "0.1167", "mean_gap_ms": "10000.0",
     "max_gap_ms": "25000.0", "gaps_over_max_age": "1", "max_book_age_ms": "2000"},
    {"exchange": "bitstamp", "symbol": "ETH/USD", "runs": "1", "events": "4", "first_event": "2019-04-01T00:17:00.000Z",
     "last_event": "2019-04-01T00:18:00.000Z", "span_s": "60.000", "events_per_s": "0.0667", "mean_gap_ms": "20000.0",
     "max_gap_ms": "30000.0", "gaps_over_max_age": "2", "max_book_age_ms": "2000"},
    {"exchange": "kraken", "symbol": "BTC/USD", "runs": "2", "events": "9", "first_event": "2019-04-01T00:16:40.000Z",
     "last_event": "2019-04-01T01:23:50.000Z", "span_s": "130.000", "events_per_s": "0.0692", "mean_gap_ms": "18571.4",
     "max_gap_ms": "40000.0", "gaps_over_max_age": "3", "max_book_age_ms": "2000"},
    {"exchange": "kraken", "symbol": "ETH/USD", "runs": "1", "events": "3", "first_event": "2019-04-01T00:16:40.000Z",
     "last_event": "2019-04-01T00:17:40.000Z", "span_s": "60.000", "events_per_s": "0.0500", "mean_gap_ms": "30000.0",
     "max_gap_ms": "35000.0", "gaps_over_max_age": "1", "max_book_age_ms": "2000"},
]

RUNS = [
    {"run_id": "1", "mode": "replay", "source": "known.jsonl", "status": "ok", "started": "2023-11-14T22:13:20.000Z",
     "ended": "2023-11-14T22:14:20.000Z", "events": "23", "first_event": "2019-04-01T00:16:40.000Z",
     "last_event": "2019-04-01T00:18:30.000Z", "episodes": "5", "trades": "5"},
    {"run_id": "2", "mode": "scan", "source": "kraken,bitstamp", "status": "interrupted",
     "started": "2023-11-14T23:13:20.000Z", "ended": "2023-11-14T23:13:50.500Z", "events": "7",
     "first_event": "2019-04-01T01:23:20.000Z", "last_event": "2019-04-01T01:23:50.000Z", "episodes": "1",
     "trades": "0"},
]


def _trading(mode, trades, statuses, fills, buy, sell, expected, pnl, legs, flat, kept, famt, fpnl, inv):
    row = {"mode": mode, "strategy": "s1", "symbol": "BTC/USD", "quote": "USD", "trades": str(trades)}
    for s in ("open", "filled", "partial", "missed", "imbalanced", "flattened", "failed", "unknown"):
        row[f"status_{s}"] = str(statuses.get(s, 0))
    row.update({"fills": str(fills), "buy_filled_total": buy, "sell_filled_total": sell,
                "expected_profit_total": expected, "realised_pnl_total": pnl, "legs_imbalanced": str(legs),
                "flattened": str(flat), "kept": str(kept), "flatten_amount_total": famt, "flatten_pnl_total": fpnl,
                "inventory_left": inv})
    return row


# paper: T1 filled (2 fills), T2 flattened (3 fills), T3 imbalanced (1 fill), T4 open (none).
#   bought 0.1 + 0.1 + 0.05 = 0.25, sold 0.1 + 0.04 + 0 = 0.14; expected 1.20 + 1.00 + 0.5 + 0.3 = 3.00;
#   realised 1.10 - 0.35 + 0 = 0.75; legs differ on T2 (0.06) and T3 (0.05); flattened -0.06 for -0.45.
TRADING = [
    _trading("live", 1, {"filled": 1}, 2, "0.01", "0.01", "0.12", "0.11", 0, 0, 0, "0", "0", "0"),
    _trading("paper", 4, {"open": 1, "filled": 1, "imbalanced": 1, "flattened": 1}, 6, "0.25", "0.14", "3.00",
             "0.75", 2, 1, 1, "-0.06", "-0.45", "0.05"),
]

IMBALANCES = [
    {"trade_id": "T2", "run_id": "1", "mode": "paper", "strategy": "s1", "symbol": "BTC/USD",
     "opened": "2019-04-01T00:17:31.000Z", "closed": "2019-04-01T00:17:32.000Z", "status": "flattened",
     "buy_filled": "0.1", "sell_filled": "0.04", "leg_difference": "0.06", "imbalance_action": "flattened",
     "flatten_amount": "-0.06", "flatten_pnl": "-0.45", "imbalance": "0", "realised_pnl": "-0.35",
     "detail": "sell leg partly filled"},
    {"trade_id": "T3", "run_id": "1", "mode": "paper", "strategy": "s1", "symbol": "BTC/USD",
     "opened": "2019-04-01T00:17:40.000Z", "closed": "2019-04-01T00:17:41.000Z", "status": "imbalanced",
     "buy_filled": "0.05", "sell_filled": "0", "leg_difference": "0.05", "imbalance_action": "kept",
     "flatten_amount": "0", "flatten_pnl": "0", "imbalance": "0.05", "realised_pnl": "0", "detail": "sell leg missed"},
]

BALANCES = [
    {"run_id": "1", "mode": "paper", "strategy": "s1", "exchange": "bitstamp", "asset": "BTC", "start": "1",
     "final": "0.86", "change": "-0.14", "updates": "2", "as_of": "2019-04-01T00:17:32.000Z"},
    # no starting row for kraken BTC while the strategy journaled starting balances: it started at 0
    {"run_id": "1", "mode": "paper", "strategy": "s1", "exchange": "kraken", "asset": "BTC", "start": "0",
     "final": "0.05", "change": "0.05", "updates": "1", "as_of": "2019-04-01T00:17:41.000Z"},
    {"run_id": "1", "mode": "paper", "strategy": "s1", "exchange": "kraken", "asset": "USD", "start": "10000",
     "final": "9975", "change": "-25", "updates": "3", "as_of": "2019-04-01T00:17:41.000Z"},
]

for _route in ROUTES:  # appended later; this journal has no funding facts
    _route.update(net_after_transfer_total="", transfer_blocked_episodes="0")
for _venue in VENUES:  # appended later; the gate refused nothing in this journal
    _venue.update(rejected="0", off_step="0")

EXPECTED = {"runs": RUNS, "routes": ROUTES, "funnel": FUNNEL, "venues": VENUES, "trading": TRADING,
            "imbalances": IMBALANCES, "balances": BALANCES}


# -- reading the printed report back ----------------------------------------------------------


def parse_printed(text: str) -> dict[str, list[dict[str, str]]]:
    """Sections ``== Title ==`` of blocks (header + rows, columns 2+ spaces apart) merged row by row."""
    titles = {
        "Runs": "runs", "Routes": "routes", "Route funnel": "funnel", "Venues": "venues",
        "Paper and live trading": "trading", "Leg imbalances": "imbalances", "Balances per venue": "balances",
    }
    out: dict[str, list[dict[str, str]]] = {}
    section = None
    block: list[str] = []

    def flush():
        if section and block:
            header = re.split(r"\s{2,}", block[0].strip())
            rows = [re.split(r"\s{2,}", line.strip()) for line in block[1:]]
            table = out.setdefault(section, [{} for _ in rows])
            assert len(table) == len(rows), f"{section}: blocks disagree on the number of rows"
            for merged, cells in zip(table, rows):
                assert len(cells) == len(header), f"{section}: {cells} vs {header}"
                for k, v in zip(header, cells):
                    assert merged.get(k, v) == v, f"{section}.{k}: key column differs between blocks"
                    merged[k] = "" if v == "-" else v
        block.clear()

    for line in text.splitlines():
        m = re.match(r"== (.*) ==$", line)
        if m:
            flush()
            section = next(v for k, v in titles.items() if m.group(1).startswith(k))
        elif line.startswith(("note:", "durations:")):  # the footer
            break
        elif not line.strip():
            flush()
        elif section:
            block.append(line)
    flush()
    return out


# -- tests ------------------------------------------------------------------------------------


def test_every_printed_figure_matches_the_hand_computed_report(journal, capsys):
    assert main(["--db", str(journal), "--all"]) == 0
    printed = parse_printed(capsys.readouterr().out)
    assert set(printed) == set(EXPECTED)
    # --all prints every table in full; routes ranked by realised PnL (the journal has trades): kraken->bitstamp
    # (0.86), then the two without trades by episodes: bitstamp->kraken (2), ETH/USD (0)
    ranked = dict(EXPECTED, routes=[ROUTES[1], ROUTES[0], ROUTES[2]])
    for name, rows in ranked.items():
        assert [list(r) for r in printed[name]] == [list(TABLES[name])] * len(rows), name
        assert printed[name] == rows, name


def test_csv_files_have_the_documented_columns_and_the_same_figures(journal, tmp_path):
    report = build_report(journal, charts=False)
    paths = write_csv(report, tmp_path / "csv")
    assert sorted(p.name for p in paths) == sorted(f"{n}.csv" for n in TABLES)
    for name, rows in EXPECTED.items():
        with open(tmp_path / "csv" / f"{name}.csv", newline="") as f:
            reader = csv.DictReader(f)
            assert tuple(reader.fieldnames) == TABLES[name]
            assert list(reader) == rows, name


def test_episodes_csv_lists_each_episode_with_its_duration(journal, tmp_path):
    write_csv(build_report(journal, charts=False), tmp_path)
    with open(tmp_path / "episodes.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["run_id"], r["buy_exchange"], r["first_seen"], r["duration_s"], r["net_profit"]) for r in rows] == [
        ("1", "kraken", "2019-04-01T00:16:50.000Z", "3.500", "1.50"),
        ("1", "kraken", "2019-04-01T00:17:00.000Z", "0.000", "0.10"),
        ("1", "kraken", "2019-04-01T00:17:30.000Z", "9.000", "2.345"),
        ("1", "bitstamp", "2019-04-01T00:17:50.000Z", "1.250", "0.2"),
        ("1", "bitstamp", "2019-04-01T00:18:00.000Z", "2.750", "0.4"),
        ("2", "kraken", "2019-04-01T01:23:25.000Z", "1.000", "0.005"),
    ]
    assert [r["close_reason"] for r in rows] == ["uncrossed", "stale", "uncrossed", "uncrossed", "end", "uncrossed"]


def test_money_figures_are_exact_decimals(journal):
    report = build_report(journal, charts=False)
    routes = report.tables["routes"]
    assert all(isinstance(v, Decimal) for v in routes["net_profit_total"])
    trading = report.tables["trading"]
    assert trading["realised_pnl_total"].tolist() == [Decimal("0.11"), Decimal("0.75")]


def readme_report_section() -> str:
    """The docs' section "Reports: `arbscan report`" (docs/reports.md), up to the next second-level heading."""
    text = REPORTS_PAGE.read_text()
    start = text.index("## Reports: `arbscan report`")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else len(text)]


def test_every_column_is_documented_in_the_readme_report_section():
    text = readme_report_section()
    for name, columns in TABLES.items():
        assert f"`{name}.csv`" in text, name
        for col in columns:
            assert f"`{col}`" in text, f"{name}.{col} is not documented"


def test_run_filter_reports_one_run(journal, capsys):
    # run 1 only, kraken->bitstamp: E1, E2, E3: durations 0, 3.5, 9 -> median 3.5, p90 at rank 1.8:
    # 3.5 + 0.8*5.5 = 7.9; profit 3.945, median 1.50; fees 1.615, gross 5.560 -> 0.29046 -> 0.2905;
    # live 12.5 of 90 s covered -> 0.1389
    assert main(["--db", str(journal), "--run", "1", "--all"]) == 0
    printed = parse_printed(capsys.readouterr().out)
    kb = next(r for r in printed["routes"] if r["buy_exchange"] == "kraken" and r["symbol"] == "BTC/USD")
    assert (kb["episodes"], kb["observations"], kb["net_profit_total"], kb["net_profit_median"],
            kb["gross_profit_total"], kb["fees_total"], kb["fee_share"]) == ("3", "15", "3.945", "1.50", "5.560",
                                                                             "1.615", "0.2905")
    assert (kb["duration_median_s"], kb["duration_p90_s"], kb["live_s"], kb["covered_s"], kb["live_share"]) == (
        "3.500", "7.900", "12.500", "90.000", "0.1389")
    assert [r["run_id"] for r in printed["runs"]] == ["1"]
    fk = next(r for r in printed["funnel"] if r["buy_exchange"] == "kraken" and r["symbol"] == "BTC/USD")
    assert (fk["evaluated"], fk["live"], fk["episodes"]) == ("100", "15", "3")


def test_latest_run(journal):
    report = build_report(journal, ReportFilter(run="latest"), charts=False)
    assert report.tables["runs"]["run_id"].tolist() == [2]
    assert report.tables["routes"]["episodes"].tolist() == [1]  # only kraken->bitstamp ran in run 2


def test_time_window_selects_episodes_trades_and_runs(journal):
    # [T0+1050, T0+1075): episodes E3 (kraken->bitstamp, 9 s) and E4 (bitstamp->kraken, 1.25 s); run 2
    # (5000..5030) lies outside, so covered time is run 1's 1010..1100 clipped to the window: 25 s.
    flt = ReportFilter(since=parse_time("2019-04-01T00:17:30Z"), until=parse_time(str(T0 + 1075)))
    report = build_report(journal, flt, charts=False)
    routes = {r["buy_exchange"]: r for r in report.tables["routes"].to_dict("records") if r["symbol"] == "BTC/USD"}
    assert routes["kraken"]["episodes"] == 1 and routes["kraken"]["net_profit_total"] == Decimal("2.345")
    assert routes["kraken"]["covered_s"] == 25.0 and routes["kraken"]["live_s"] == 9.0
    assert routes["kraken"]["live_share"] == pytest.approx(0.36)
    assert routes["bitstamp"]["live_share"] == pytest.approx(0.05)
    assert report.tables["runs"]["run_id"].tolist() == [1]
    assert report.tables["funnel"]["evaluated"].tolist() == [100, 100, 30]  # run 1's totals only
    late = build_report(journal, ReportFilter(since=T0 + 4000), charts=False)  # run 2 only: BTC/USD kraken->bitstamp
    assert late.tables["routes"]["buy_exchange"].tolist() == ["kraken"]
    assert late.tables["routes"]["covered_s"].tolist() == [20.0]
    assert sorted(report.tables["imbalances"]["trade_id"]) == ["T2", "T3"]
    assert report.tables["trading"]["trades"].tolist() == [2]  # T2 and T3 (paper); T5 (live) opened at 1081


def test_until_gives_balances_as_of_the_window_end(journal):
    report = build_report(journal, ReportFilter(until=T0 + 1055), charts=False)
    b = {r["asset"]: r for r in report.tables["balances"].to_dict("records")}
    assert (b["USD"]["start"], b["USD"]["final"], b["USD"]["updates"]) == (Decimal("10000"), Decimal("9980"), 2)
    assert b["BTC"]["final"] == Decimal("0.86")


def test_symbol_filter(journal):
    report = build_report(journal, ReportFilter(symbol="ETH/USD"), charts=False)
    assert report.tables["routes"]["symbol"].tolist() == ["ETH/USD"]
    assert report.tables["venues"]["symbol"].tolist() == ["ETH/USD", "ETH/USD"]
    assert len(report.tables["trading"]) == 0 and len(report.tables["episodes"]) == 0
    assert report.tables["balances"]["asset"].tolist() == ["USD"]  # the quote of ETH/USD held on kraken
    assert report.tables["runs"]["run_id"].tolist() == [1]  # run 2 watched BTC/USD only


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2019-04-01T00:17:30Z", T0 + 1050), ("2019-04-01T02:17:30+02:00", T0 + 1050), ("2019-04-01 00:17:30", T0 + 1050),
     ("2019-04-01", T0), ("1554077850", T0 + 1050), ("1554077850.25", T0 + 1050.25)],
)
def test_parse_time_reads_iso_and_unix_seconds(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize("argv", [
    ["--since", "yesterday"], ["--until", "2019-13-01"], ["--since", "nan"], ["--since", "1e400"],
    ["--until", "1e15"],
    ["--since", "2019-04-02", "--until", "2019-04-01"], ["--run", "99"],
])
def test_bad_arguments_exit_2_with_one_line(journal, capsys, argv):
    assert main(["--db", str(journal), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("arbscan: error: ") and err.count("\n") == 1


def test_missing_journal_is_one_line_exit_2(tmp_path, capsys):
    assert main(["--db", str(tmp_path / "nope.db")]) == 2
    err = capsys.readouterr().err
    assert "nope.db" in err and "does not exist" in err and err.count("\n") == 1


def test_a_file_that_is_not_a_journal_is_bad_input(tmp_path):
    (tmp_path / "x.db").write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(BadInput, match="x.db"):
        build_report(tmp_path / "x.db")
    with pytest.raises(BadInput, match="directory"):
        build_report(tmp_path)


def test_unwritable_outputs_are_one_line_exit_2_and_nothing_else(journal, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["--db", str(journal), "--csv", str(tmp_path / "file")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("arbscan: error: --csv: ") and err.count("\n") == 1
    assert main(["--db", str(journal), "--html", str(tmp_path / "no" / "such" / "r.html")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("arbscan: error: --html: ") and err.count("\n") == 1


def test_empty_journal_says_nothing_journaled_yet(tmp_path, capsys):
    Store(tmp_path / "empty.db").close()
    assert main(["--db", str(tmp_path / "empty.db"), "--csv", str(tmp_path / "csv"), "--html",
                 str(tmp_path / "r.html")]) == 0
    out = capsys.readouterr().out
    assert "nothing journaled yet" in out and "==" not in out
    with open(tmp_path / "csv" / "routes.csv", newline="") as f:
        assert list(csv.reader(f)) == [list(TABLES["routes"])]
    assert "nothing journaled yet" in (tmp_path / "r.html").read_text()


def test_malformed_decimal_in_the_journal_is_named_in_the_report_and_skipped(tmp_path, caplog):
    caplog.set_level("INFO", logger="arbscan.report")
    path = write_journal(tmp_path / "bad.db")
    conn = sqlite3.connect(path)
    conn.execute("UPDATE opportunities SET net_profit = 'garbage' WHERE first_seen = ?", (T0 + 1020,))
    conn.commit()
    conn.close()
    report = build_report(path, ReportFilter(run=1, symbol="BTC/USD"), charts=False)
    kb = report.tables["routes"].set_index("buy_exchange").loc["kraken"]
    assert kb["net_profit_total"] == Decimal("3.845")  # 1.50 + 2.345; E2's 0.10 unreadable
    assert "garbage" in caplog.text
    assert report.notes[0] == ("journal: opportunities.net_profit holds 1 value that is not a finite decimal "
                               "(first: rowid 2, 'garbage'); read as missing")


def test_reads_a_journal_while_a_store_is_still_writing(tmp_path):
    store = Store(tmp_path / "live.db", flush_interval=0.01)
    store.start_run("scan", "kraken,bitstamp")
    data = json.loads((DATA / "journal.json").read_text())
    eps = [dict(e, run_id=store.run_id) for e in data["opportunities"] if e["run_id"] == 1]
    try:
        store.submit_many("opportunities", eps[:2])
        store.flush()
        first = build_report(tmp_path / "live.db", charts=False)
        assert first.tables["routes"]["episodes"].tolist() == [2]
        assert first.tables["routes"]["covered_s"].isna().all()  # no feed statistics written yet
        store.submit_many("opportunities", eps[2:])
        store.flush()
        second = build_report(tmp_path / "live.db", charts=False)
        assert second.tables["routes"]["episodes"].tolist() == [2, 3]
        store.submit("opportunities", dict(eps[0], first_seen=T0 + 2000, last_seen=T0 + 2001))
        store.flush()  # the writer is not blocked by the report's reads
        assert store.db.execute("SELECT count(*) FROM opportunities").fetchone() == (6,)
    finally:
        store.close()
    runs = build_report(tmp_path / "live.db", charts=False).tables["runs"]
    assert runs["status"].tolist() == ["ok"]


def test_an_open_write_transaction_neither_blocks_nor_leaks_into_the_report(tmp_path):
    path = write_journal(tmp_path / "w.db")
    writer = sqlite3.connect(path, isolation_level=None, timeout=0.1)
    writer.execute("BEGIN IMMEDIATE")  # a scanner in the middle of a batch
    writer.execute("DELETE FROM opportunities")
    try:
        report = build_report(path, charts=False)
        assert len(report.tables["episodes"]) == 6  # the last committed state, not the half-done batch
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_journal_at_schema_version_1_has_no_trading_tables(tmp_path):
    from sqlite_utils import Database

    from arbscan.journal.store import MIGRATIONS

    db = Database(sqlite3.connect(tmp_path / "v1.db"))
    MIGRATIONS[0][1](db)  # an older journal: runs, opportunities, funnel, venue_stats only
    db.execute("PRAGMA user_version = 1")
    db["runs"].insert({"id": 1, "started": T0, "mode": "replay", "status": "ok"})
    db["funnel"].insert({"run_id": 1, "symbol": "BTC/USD", "buy_exchange": "x", "sell_exchange": "y",
                         "evaluated": 3, "not_crossed": 3})
    db.conn.commit()
    db.conn.close()
    report = build_report(tmp_path / "v1.db", charts=False)
    assert report.tables["funnel"]["evaluated"].tolist() == [3]
    assert len(report.tables["trading"]) == 0 and len(report.tables["balances"]) == 0


def test_bps_are_shown_to_a_hundredth_half_even(tmp_path):
    row = {"symbol": "BTC/USD", "buy_exchange": "x", "sell_exchange": "y", "first_seen": T0,
           "last_seen": T0, "observations": 1, "net_profit": "0.5", "buy_fee": "0", "sell_fee": "0"}
    with Store(tmp_path / "bps.db", flush_interval=0.01) as s:
        s.start_run("replay")
        s.submit_many("opportunities", [dict(row, net_bps="32.245"),
                                        dict(row, net_bps="44.61872292296232445858381020")])
    r = build_report(tmp_path / "bps.db", charts=False).tables["routes"].iloc[0]
    # median (32.245 + 44.6187229229623...)/2 = 38.4318614614811... -> 38.43; max 44.6187... -> 44.62
    assert (r["net_bps_median"], r["net_bps_max"]) == (Decimal("38.43"), Decimal("44.62"))
    eps = build_report(tmp_path / "bps.db", charts=False).tables["episodes"]
    assert eps["net_bps"].tolist() == [Decimal("32.245"), Decimal("44.61872292296232445858381020")]  # exact per episode


def test_text_report_fits_the_width_by_splitting_columns(journal):
    report = build_report(journal, charts=False)
    for top in (20, None):  # the summary and --all
        text = render_text(report, width=100, top=top)
        lines = [ln for ln in text.splitlines() if not ln.startswith("arbscan report: ")]  # the journal's path
        assert max(len(ln) for ln in lines) <= 100


def test_symbol_is_matched_without_case(journal, capsys):
    assert main(["--db", str(journal), "--symbol", "eth/usd", "--all"]) == 0
    lower = capsys.readouterr().out
    assert main(["--db", str(journal), "--symbol", "ETH/USD", "--all"]) == 0
    assert lower == capsys.readouterr().out  # the journal's spelling: the same report, header included
    assert "symbol: ETH/USD" in lower


def test_unknown_symbol_is_one_line_listing_the_journal_s_symbols(journal, capsys):
    assert main(["--db", str(journal), "--symbol", "XRP/USD"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (f"arbscan: error: --symbol: no symbol 'XRP/USD' in journal {str(journal)!r}; "
                   "its symbols: BTC/USD, ETH/USD\n")


def test_the_summary_of_the_known_journal(journal, capsys):
    assert main(["--db", str(journal)]) == 0
    out = capsys.readouterr().out
    # routes by realised PnL (the journal has trades): only kraken->bitstamp (5 trades, 0.86) and bitstamp->kraken
    # (2 episodes) are active; ETH/USD has neither. Fees: 1.617 + 0.6 = 2.217 of 5.567 + 1.2 = 6.767 gross: 32.76 %
    assert "== Routes by realised PnL (paper and live): top 2 of 3 ==" in out
    assert "... and 1 more route without episodes (--all lists them)" in out
    assert ("fees took 2.217 of 6.767 USD gross edge (32.8 %) on 2 routes with episodes; fee_share by route "
            "0.2905-0.5000") in " ".join(out.split())
    # funnel totals (test FUNNEL): evaluated 100 + 110 + 30, crossed 10 + 43 + 5, live 5 + 17 + 0, not_crossed
    # 90 + 67 + 25, fees 5 + 21 + 4, depth 0 + 3 + 1, balance 1, below_min_bps 1, stale 7 + 7 + 2
    assert ("3 routes: 240 evaluations, 58 crossed before fees, 22 live; not live: not_crossed 182, fees 30, "
            "depth_or_minimums 4, balance 1, below_min_bps 1; stale 16") in " ".join(out.split())
    # every feed had gaps over max_book_age_ms: listed worst first (3, 2, then 1 with the longer max gap first)
    feeds = out.split("== Venues")[1].split("\n\n")[0].splitlines()[2:]
    assert [ln.split()[:2] for ln in feeds] == [["kraken", "BTC/USD"], ["bitstamp", "ETH/USD"], ["kraken", "ETH/USD"],
                                               ["bitstamp", "BTC/USD"]]
