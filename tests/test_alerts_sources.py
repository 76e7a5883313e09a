"""Where alerts come from and which destination gets which: episodes (once, when they reach a destination's
thresholds), trades, halts raised and cleared, venues and books, the UTC day. Every message is written
out by hand from the figures of the books given."""

from __future__ import annotations

from decimal import Decimal as D
from types import SimpleNamespace

from conftest import book, market

from arbscan.config.alerts import AlertConfig
from arbscan.alerts.destinations import Destination, Secret
from arbscan.alerts.hub import Alerts
from arbscan.execution.journal import DurableJournal
from arbscan.scan.feeds import VenueState
from arbscan.model import Opportunity
from arbscan.scan.records import Episode
from arbscan.execution.risk import HALT_POLL_S, KillSwitch, resume
from arbscan.scan.scanner import Scanner
from arbscan.journal.store import Store

MAY_1_NOON = 1714564800.0  # 2024-05-01 12:00:00 UTC
MAY_2 = 1714608000.0  # 2024-05-02 00:00:00 UTC


class Captured:
    """Stands in for the dispatcher: keeps what was submitted."""

    def __init__(self):
        self.sent = []

    def submit(self, destination, alert):
        self.sent.append((destination, alert))

    def text(self):
        return [(name, alert.event, alert.text) for name, alert in self.sent]


def dest(name, kind="webhook", **kw):
    return Destination(AlertConfig(name, kind, url_env="U", **kw), Secret("http://127.0.0.1:9/x"))


def hub(*destinations):
    captured = Captured()
    return Alerts(list(destinations), captured), captured


def test_an_episode_is_announced_once_per_destination_when_it_reaches_its_thresholds():
    alerts, out = hub(dest("all"), dest("big", "slack", min_net_bps=D(100), events=("episode_opened", "episode_closed")),
                      dest("never", min_profit=D(5)))
    s = Scanner({("x", "BTC/USD"): market("x"), ("y", "BTC/USD"): market("y")}, None, max_book_age_ms=60_000)
    s.episode_listeners.append(alerts)
    s.on_book_event(book("x", 1.0, asks=[("100", "1")]))
    s.on_book_event(book("y", 1.0, bids=[("100.5", "1")]))  # buy 1 @ 100, sell @ 100.5: 0.5 USD, 50 bps
    s.on_book_event(book("y", 1.5, bids=[("100.5", "1")]))  # same figures: one more observation, no message
    s.on_book_event(book("y", 2.0, bids=[("101.5", "1")]))  # 1.5 USD, 150 bps: the peak reaches 'big'
    s.on_book_event(book("y", 2.5, bids=[("101.5", "1")]))
    s.on_book_event(book("y", 3.0, bids=[("99", "1")]))  # uncrossed: closed
    assert out.text() == [
        ("all", "episode_opened", "arbscan: opportunity BTC/USD buy x sell y\n"
         "net 50.00 bps, 0.5 USD on 1 BTC (buy at 100 avg, sell at 100.5 avg)\nopen since 1970-01-01 00:00:01 UTC"),
        ("big", "episode_opened", "arbscan: opportunity BTC/USD buy x sell y\n"
         "net 150.00 bps, 1.5 USD on 1 BTC (buy at 100 avg, sell at 101.5 avg)\nopen since 1970-01-01 00:00:01 UTC"),
        ("all", "episode_closed", "arbscan: closed BTC/USD buy x sell y (uncrossed: not_crossed)\n"
         "peak 150.00 bps, 1.5 USD on 1 BTC\nlasted 1.5 s, 4 observations"),
        ("big", "episode_closed", "arbscan: closed BTC/USD buy x sell y (uncrossed: not_crossed)\n"
         "peak 150.00 bps, 1.5 USD on 1 BTC\nlasted 1.5 s, 4 observations"),
    ]
    data = out.sent[2][1].data
    assert (D(data["net_profit"]), data["observations"], data["close_reason"], data["first_seen"]) == (D("1.5"), 4, "uncrossed", 1.0)
    assert out.sent[2][1] is out.sent[3][1]  # one message built per event, shared by its destinations


def test_trades_go_to_destinations_wanting_their_status():
    alerts, out = hub(dest("all"), dest("trouble", trade_statuses=("failed", "unknown")), dest("quiet", events=("halt_raised",)))
    finished = alerts.trade_listener("live")
    opp = SimpleNamespace(symbol="BTC/USD", buy_exchange="x", sell_exchange="y", amount=D(1), net_profit=D("0.44775"))
    leg = SimpleNamespace(filled=D(1))
    trade = SimpleNamespace(id="T1", strategy="main", opp=opp, buy=leg, sell=leg, closed=MAY_1_NOON, base="BTC",
                            quote="USD", detail=None)
    finished(trade, SimpleNamespace(status="filled", realised_pnl=D("0.44775"), imbalance=D(0), imbalance_action="none"),
             False)
    assert out.text() == [("all", "trade_finished", "arbscan: live trade T1 filled: BTC/USD buy x sell y (main)\n"
                           "pnl 0.44775 USD (expected 0.44775), bought 1 sold 1 of 1 BTC, imbalance 0 BTC (none)")]
    out.sent.clear()
    finished(trade, SimpleNamespace(status="unknown", realised_pnl=D(0), imbalance=D(0), imbalance_action="kept"), False)
    assert [name for name, _ in out.sent] == ["all", "trouble"]


def test_a_paper_halt_is_told_once():
    alerts, out = hub(dest("all"))
    kill = KillSwitch(None, clock=lambda: MAY_1_NOON)
    kill.listeners.append(alerts.halt_listener("paper", "fast", kill.clock))
    kill.halt("illegal order move")
    kill.halt("illegal order move")
    assert out.text() == [("all", "halt_raised", "arbscan: paper trading halted: illegal order move\n"
                           "strategy fast: no paper order is placed for the rest of the run")]
    assert out.sent[0][1].urgent


def test_live_halts_raised_cleared_and_found_at_start_up(tmp_path):
    db = tmp_path / "j.db"
    Store(db).close()
    mono = [0.0]
    journal = DurableJournal(db, None)
    alerts, out = hub(dest("all"), dest("opps", events=("episode_opened",)))
    kill = KillSwitch(journal, clock=lambda: MAY_1_NOON, monotonic=lambda: mono[0])
    kill.listeners.append(alerts.halt_listener("live", "main", kill.clock))
    kill.halt("3 consecutive failed trades")
    kill.halt("3 consecutive failed trades")  # already active: not told again
    again = KillSwitch(DurableJournal(db, None), clock=lambda: MAY_1_NOON)
    again.listeners.append(alerts.halt_listener("live", "main", again.clock))
    again.load()
    resume(str(db), by="test")
    mono[0] = HALT_POLL_S
    assert kill.cleared()
    assert out.text() == [
        ("all", "halt_raised", "arbscan: LIVE TRADING HALTED: 3 consecutive failed trades\nstrategy main: no order is "
         "sent until 'arbscan resume' clears it, after you have checked the venues"),
        ("all", "halt_raised", "arbscan: LIVE TRADING HALTED (since an earlier run): 3 consecutive failed trades\n"
         "strategy main: no order is sent until 'arbscan resume' clears it, after you have checked the venues"),
        ("all", "halt_cleared", "arbscan: halt cleared for strategy main (was: 3 consecutive failed trades)\n"
         "unfinished orders are reconciled before trading again"),
    ]
    journal.close()
    again.journal.close()


def test_venues_down_and_back_and_books_stale_and_updated_by_each_destinations_threshold():
    alerts, out = hub(dest("slow", unreachable_after_s=60, stale_after_s=30), dest("fast", unreachable_after_s=5,
                                                                                  events=("venue_unreachable",)))
    kraken = VenueState("kraken", reachable=False, last_error="ExchangeUnavailable: DNS lookup failed for api.kraken.com",
                        down_since=100.0)
    books = {("bitstamp", "BTC/USD"): book("bitstamp", 1000.0, bids=[("1", "1")], asks=[("2", "1")])}
    driver = SimpleNamespace(venues={"kraken": kraken}, scanner=SimpleNamespace(books=books))
    alerts.check(driver, now=1029.0, mono=104.0)
    assert out.sent == []
    alerts.check(driver, now=1030.0, mono=105.0)
    alerts.check(driver, now=1040.0, mono=160.0)
    alerts.check(driver, now=1041.0, mono=170.0)
    books[("bitstamp", "BTC/USD")] = book("bitstamp", 1045.0, bids=[("1", "1")], asks=[("2", "1")])
    kraken.down_since, kraken.reachable = None, True
    alerts.check(driver, now=1045.0, mono=200.0)
    assert out.text() == [
        ("fast", "venue_unreachable", "arbscan: kraken unreachable for 5 s\n"
         "last error: ExchangeUnavailable: DNS lookup failed for api.kraken.com"),
        ("slow", "feed_stale", "arbscan: bitstamp BTC/USD book stale: no update for 30 s"),
        ("slow", "venue_unreachable", "arbscan: kraken unreachable for 60 s\n"
         "last error: ExchangeUnavailable: DNS lookup failed for api.kraken.com"),
        ("slow", "venue_recovered", "arbscan: kraken reachable again after 100 s"),
        ("slow", "feed_recovered", "arbscan: bitstamp BTC/USD book updated again after 45 s"),
    ]  # 'fast' did not switch venue_recovered on


def episode(symbol, buy, sell, profit, bps_, t):
    opp = Opportunity(symbol, buy, sell, D(1), D(100), D(101), D(100), D(101), D(100), D(100) + D(profit), D(profit),
                      D(bps_), t)
    return Episode(symbol, buy, sell, t, t + 1, opp, t)


def test_the_daily_summary_goes_out_when_the_utc_day_is_over():
    alerts, out = hub(dest("daily", events=("daily_summary",)))
    alerts.episode_closed(episode("BTC/USD", "x", "y", "0.5", "50", MAY_1_NOON), MAY_1_NOON + 1)
    alerts.episode_closed(episode("BTC/USD", "x", "y", "1.5", "150", MAY_1_NOON + 60), MAY_1_NOON + 61)
    alerts.episode_closed(episode("ETH/USD", "y", "x", "0.2", "20", MAY_1_NOON + 120), MAY_1_NOON + 121)
    paper = alerts.trade_listener("paper")
    opp = SimpleNamespace(symbol="BTC/USD", buy_exchange="x", sell_exchange="y", amount=D(1), net_profit=D(1))
    for status, pnl in (("filled", "0.44775"), ("imbalanced", "0.1791")):
        trade = SimpleNamespace(id="T", strategy="s", opp=opp, buy=None, sell=None, closed=MAY_1_NOON + 200,
                                base="BTC", quote="USD", detail=None)
        paper(trade, SimpleNamespace(status=status, realised_pnl=D(pnl), imbalance=D(0), imbalance_action="none"), False)
    alerts.check(SimpleNamespace(venues={}, scanner=SimpleNamespace(books={})), now=MAY_2 - 1, mono=0.0)
    assert out.sent == []
    alerts.check(SimpleNamespace(venues={}, scanner=SimpleNamespace(books={})), now=MAY_2 + 1, mono=0.0)
    assert out.text() == [("daily", "daily_summary", "arbscan: daily summary 2024-05-01 (UTC, from 12:00 when this run started)\n"
                           "3 episodes on 2 routes\n"
                           "  BTC/USD buy x sell y: 2 episodes, best 1.5 USD (150.00 bps)\n"
                           "  ETH/USD buy y sell x: 1 episode, best 0.2 USD (20.00 bps)\n"
                           "paper trades 2 (1 filled, 1 imbalanced), realised pnl 0.62685 USD")]
    assert out.sent[0][1].data["realised_pnl"] == {"paper/USD": "0.62685"}


async def test_a_live_executor_tells_its_finished_trade_and_the_halt_it_caused(store):
    from test_live_fakes import ScriptedVenue, live_config, opportunity, started_executor

    venues = {"alpha": ScriptedVenue("alpha", ["filled", "rejected"]), "beta": ScriptedVenue("beta", ["rejected"])}
    ex = await started_executor(store, venues, config=live_config(max_consecutive_failures=1))
    alerts, out = hub(dest("all"))
    alerts.watch_executor(ex)
    trade = await ex.execute(opportunity())
    assert [(name, event) for name, event, _ in out.text()] == [("all", "halt_raised"), ("all", "trade_finished")]
    halt, finished = (alert for _, alert in out.sent)
    assert halt.data == {"mode": "live", "strategy": ex.name, "reason": "1 consecutive failed trades", "earlier_run": False}
    assert halt.title == "arbscan: LIVE TRADING HALTED: 1 consecutive failed trades"
    assert (finished.data["mode"], finished.data["status"], finished.data["trade_id"]) == ("live", "imbalanced", trade.id)
    assert D(finished.data["imbalance"]) == D(1)
