"""The report's figures on odd journals (issue 28, item 12): ranking with unknown net_after_transfer,
live_share never above 1, CJK venue names aligned. Known answers are worked out by hand in each test."""

from __future__ import annotations

import json
import sqlite3
import unicodedata

from arbscan.cli.command import main
from arbscan.journal.store import Store
from arbscan.report.command import build_report
from arbscan.report.summary import ranked_routes
from test_report_transfers import LINES


def test_a_route_without_net_after_transfer_ranks_by_its_net_profit_not_as_zero(tmp_path, capsys):
    # c's USDT facts left out: a -> c (net profit 5) has no net_after_transfer; a -> b has 1.95 (see
    # test_report_transfers). README: "counts net_after_transfer when known, else net_profit": 5 > 1.95.
    lines = [ln for ln in LINES if not (ln["type"] == "currency" and ln["exchange"] == "c" and ln["asset"] == "USDT")]
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    db = tmp_path / "j.db"
    assert main(["replay", str(path), "--db", str(db), "--min-bps", "0"]) == 0
    routes = build_report(db, charts=False).tables["routes"]
    by_route = {(b, s): a for b, s, a in zip(routes["buy_exchange"], routes["sell_exchange"], routes["net_after_transfer_total"])}
    assert str(by_route[("a", "b")]) == "1.95" and by_route[("a", "c")] is None or str(by_route[("a", "c")]) in ("None", "nan")
    ranked, measure = ranked_routes(routes)
    assert measure == "net_after_transfer_total"
    assert list(zip(ranked["buy_exchange"], ranked["sell_exchange"]))[:2] == [("a", "c"), ("a", "b")]


def _journal_with_overlapping_episodes(path):
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO runs (id, started, ended, mode, status, events) VALUES (1, 0, 10, 'replay', 'ok', 4)")
    for ex in ("alpha", "beta"):  # both books seen over [0, 10]: the route was covered 10 s
        conn.execute("INSERT INTO venue_stats (run_id, exchange, symbol, events, first_ts, last_ts, max_gap_ms, "
                     "gaps_over_max_age, max_book_age_ms, rejected) VALUES (1, ?, 'BTC/USD', 2, 0, 10, 10, 0, 2000, 0)", (ex,))
    for first, last in ((0, 6), (4, 9)):  # live over [0, 6] and [4, 9]: 9 s of the 10, not 6 + 5 = 11
        conn.execute("INSERT INTO opportunities (run_id, symbol, buy_exchange, sell_exchange, first_seen, last_seen, "
                     "observations, amount, net_profit, net_bps) VALUES (1, 'BTC/USD', 'alpha', 'beta', ?, ?, 2, '1', '1', '10')",
                     (first, last))
    conn.commit()
    conn.close()


def test_live_share_counts_overlapping_episodes_once_and_never_exceeds_one(tmp_path):
    db = tmp_path / "j.db"
    _journal_with_overlapping_episodes(db)
    routes = build_report(db, charts=False).tables["routes"]
    assert list(routes["live_share"]) == [0.9]


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def test_cjk_venue_names_keep_the_report_columns_aligned(tmp_path, capsys):
    db = tmp_path / "j.db"
    _journal_with_overlapping_episodes(db)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE venue_stats SET exchange = '火币' WHERE exchange = 'alpha'")
    conn.execute("UPDATE opportunities SET buy_exchange = '火币'")
    conn.commit()
    conn.close()
    assert main(["report", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    blocks = [b for b in out.split("\n\n") if "火币" in b and "beta" in b]
    assert blocks, out
    for block in blocks:  # every row of a table that names the CJK venue is as wide on screen as its header
        table = [ln for ln in block.splitlines() if "  " in ln.strip() and not ln.startswith("==")]
        assert len(table) >= 2 and len({_width(ln) for ln in table}) == 1, block  # right-aligned last column


def test_a_balances_warning_names_the_public_error_class_not_a_private_one():
    # Kraken's REST client raises a private subclass when a request never left; --workers' scan warned
    # "balances not fetched (_NeverSent)". The user reads the public class it is a kind of.
    from adapters.kraken.rest import _NeverSent
    from arbscan.scan.feeds import balances_not_fetched

    line = balances_not_fetched("kraken", _NeverSent("cannot connect to api.kraken.com"))
    assert line == "kraken balances not fetched (ExchangeUnavailable); sizes not capped there"


class _State:
    def __init__(self, reachable):
        self.reachable, self.failures = reachable, 3


class _Scanner:
    events, live_evaluations, episodes, episodes_closed = 123456, 789, {}, 12

    def book_ages(self, now):
        return [(f"venue{i:02d}", f"SYM{j}/USDT", 150.0) for i in range(20) for j in range(8)]


class _Driver:
    scanner = _Scanner()
    venues = {f"venue{i:02d}": _State(i % 4 != 0 if i < 16 else None) for i in range(20)}

    def now(self):
        return 0.0


def test_the_plain_status_line_stays_short_at_twenty_venues():
    from arbscan.scan.view import StatusView

    line = StatusView(_Driver(), enabled=True).plain_line()
    # 20 venues: 12 up, 4 unreachable (00, 04, 08, 12), 4 connecting (16-19)
    assert line == ("status: venues 12 up, 4 unreachable (venue00, venue04, venue08 +1), 4 connecting | "
                    "events 123,456, live 789, open 0, closed 12")
    assert len(line) < 200


def test_twenty_unreachable_venues_for_an_hour_say_one_line_each_and_a_summary_every_ten_minutes():
    from arbscan.parts import UnreachableLines

    said, now = [], [0.0]
    lines = UnreachableLines(said.append, lambda: now[0])
    for tick in range(0, 3600, 30):  # every venue retried every 30 s for an hour: 2,400 attempts
        now[0] = float(tick)
        for i in range(20):
            lines(f"venue{i:02d}", "ExchangeUnavailable: connection refused by 127.0.0.1:9", 30.0)
    firsts = [s for s in said if "unreachable (ExchangeUnavailable" in s]
    summaries = [s for s in said if "still unreachable" in s]
    assert len(firsts) == 20 and len(summaries) == 5  # at 600, 1200, ..., 3000 s
    assert summaries[0] == ("arbscan: 20 venues still unreachable (venue00, venue01, venue02, venue03, venue04 "
                            "and 15 more); retrying")
    lines.reachable("venue03")  # back, then down again: a state change, said again
    lines("venue03", "ExchangeUnavailable: connection refused by 127.0.0.1:9", 1.0)
    assert said[-1].startswith("arbscan: venue03 unreachable (")
