"""Cross-quote routes in the scanner and the journal: episodes with their conversion columns, no parity ever.

Books are hand-written (figures worked out inline), and one replay of real minute quotes: Coinbase
BTC/USD and BTC/EUR with Oanda EUR/USD on 2018-04-04 (tests/data/crossquote/README.md; QuantConnect
Lean's data, Apache-2.0, provided by CryptoTick).
"""

import sqlite3
from decimal import Decimal as D
from pathlib import Path

from conftest import book, market

from arbscan.cli.command import main
from arbscan.funding.conversions import Conversion
from arbscan.scan.scanner import Scanner

DATA = Path(__file__).parent / "data" / "crossquote" / "lean_20180404_coinbase_btcusd_btceur_oanda_eurusd_2000-2200.jsonl.gz"
FX = Conversion("fx", "EUR/USD")
ROUTE = ("BTC/USD", "a", "BTC/EUR", "b", "fx:EUR/USD")


def scanner(store=None, conversions=(FX,), **kw):
    markets = [market("a", "BTC/USD", amount_step="0.1"), market("b", "BTC/EUR", amount_step="0.1"),
               market("fx", "EUR/USD", amount_step="0.01", price_step="0.0001")]
    sc = Scanner({(m.exchange, m.symbol): m for m in markets}, store, max_book_age_ms=1000,
                 conversions=conversions, **kw)
    return sc


def usd(t, ask="100"):
    return book("a", t, bids=[("99", "1")], asks=[(ask, "1")], symbol="BTC/USD")


def eur(t, bid="90"):
    return book("b", t, bids=[(bid, "1")], asks=[("200", "1")], symbol="BTC/EUR")


def fx(t, bid="1.2"):
    return book("fx", t, bids=[(bid, "1000")], asks=[("1.3", "1000")], symbol="EUR/USD")


def rows(store):
    store.flush()
    db = sqlite3.connect(store.path)
    db.row_factory = sqlite3.Row
    return [dict(r) for r in db.execute("select * from opportunities order by id")]


def test_episode_rows_carry_the_conversion(store):
    sc = scanner(store)
    sc.on_book_event(fx(10.0))
    sc.on_book_event(eur(10.2))
    sc.on_book_event(usd(10.5))  # live: 1 BTC, 100 USD -> 90 EUR -> 108 USD, net 8 (conversion book 500 ms old)
    sc.on_book_event(usd(10.6, ask="110"))  # 90 EUR are 108 USD < 110: no edge, the episode closes
    sc.close()
    (row,) = rows(store)
    assert (row["symbol"], row["sell_symbol"], row["buy_exchange"], row["sell_exchange"]) == (
        "BTC/USD", "BTC/EUR", "a", "b")
    assert (row["conversion"], row["conversion_side"], row["conversion_rate"]) == ("fx:EUR/USD", "sell", "1.2")
    figures = [D(row[k]) for k in ("amount", "net_profit", "net_bps", "sell_proceeds", "conversion_amount", "unconverted")]
    assert figures == [1, 8, 800, 90, 90, 0]
    assert row["conversion_age_ms"] == 500.0
    assert (row["close_reason"], row["close_detail"]) == ("uncrossed", "no_edge")
    funnel = sc.cross.funnels[ROUTE]
    assert (funnel.evaluated, funnel.live, funnel.no_edge, funnel.episodes) == (2, 1, 1, 1)


def test_parity_profitable_conversion_not_is_never_journaled(store):
    # 101 EUR bid over a 100 USD ask: 1 USD a coin at 1 EUR = 1 USD; at the real 0.98 USD per EUR it loses 1.02
    sc = scanner(store)
    sc.on_book_event(fx(1.0, bid="0.98"))
    sc.on_book_event(eur(1.0, bid="101"))
    sc.on_book_event(usd(1.1))
    sc.close()
    assert rows(store) == []
    funnel = sc.cross.funnels[ROUTE]
    assert (funnel.evaluated, funnel.no_edge, funnel.parity_only, funnel.live) == (1, 1, 1, 0)


def test_no_conversion_book_or_a_stale_one_is_no_route(store):
    sc = scanner(store)
    sc.on_book_event(eur(1.0))
    sc.on_book_event(usd(1.1))  # no EUR/USD book yet: parity would see nothing to stop it, the scanner does
    funnel = sc.cross.funnels[ROUTE]
    assert (funnel.conversion_stale, funnel.evaluated) == (1, 0)
    sc.on_book_event(fx(1.2))
    sc.on_book_event(eur(2.0))
    sc.on_book_event(usd(2.0))  # the conversion book is 0.8 s old: still fresh
    assert funnel.live == 3 and ROUTE in sc.cross.episodes
    # 1.1 s after the conversion book it is stale: step 1 closes the episode, detail conversion_stale
    sc.on_book_event(eur(2.3))
    assert ROUTE not in sc.cross.episodes
    assert funnel.conversion_stale == 2 and funnel.live == 3
    sc.close()
    (row,) = rows(store)
    assert (row["close_reason"], row["close_detail"], row["closed_at"]) == ("stale", "conversion_stale", 2.3)


def test_untrue_conversion_book_stops_the_route(store):
    sc = scanner(store)
    for b in (fx(1.0), eur(1.0), usd(1.0)):
        sc.on_book_event(b)
    assert ROUTE in sc.cross.episodes
    sc.on_untrue_book("fx", "EUR/USD", 1.1, "crossed")
    assert ROUTE not in sc.cross.episodes
    sc.on_book_event(usd(1.2))
    assert sc.cross.funnels[ROUTE].untrue_book == 2
    sc.close()
    assert rows(store)[0]["close_detail"] == "untrue_book"


def test_both_directions_form_routes_and_same_symbol_path_is_untouched(store):
    sc = scanner(store)
    assert sorted(sc.cross.routes()) == [("BTC/EUR", "b", "BTC/USD", "a", "fx:EUR/USD"), ROUTE]
    plain = scanner(store, conversions=())
    assert plain.cross is None
    for b in (fx(1.0), eur(1.0), usd(1.0)):
        assert plain.on_book_event(b) == []  # no same-symbol pair, no cross route without conversions
        sc.on_book_event(b)
    plain.close()
    sc.close()
    db = sqlite3.connect(store.path)
    store.flush()
    assert db.execute("select count(*) from cross_funnel").fetchone()[0] == 2  # sc's two routes only


def test_balances_cap_cross_routes(store):
    sc = scanner(store, balances={"a": {"USD": D(50)}})
    for b in (fx(1.0), eur(1.0), usd(1.0)):
        sc.on_book_event(b)
    assert sc.cross.episodes[ROUTE].peak.amount == D("0.5")  # 50 USD buy 0.5 BTC


def test_replay_of_real_coinbase_oanda_slice_journals_cross_quote_episodes(tmp_path, capsys):
    cfg = tmp_path / "arbscan.toml"
    cfg.write_text('[scanner]\nmax_book_age_ms = 120000\n\n[[conversions]]\nvenue = "oanda"\nsymbol = "EUR/USD"\n')
    db_path = tmp_path / "j.db"
    assert main(["replay", str(DATA), "--config", str(cfg), "--db", str(db_path), "--no-progress"]) == 0
    db = sqlite3.connect(db_path)
    db.row_factory = sqlite3.Row
    eps = [dict(r) for r in db.execute("select * from opportunities order by first_seen")]
    assert len(eps) == 7 and all(e["conversion"] == "oanda:EUR/USD" for e in eps)
    assert {(e["symbol"], e["sell_symbol"], e["conversion_side"]) for e in eps} == {("BTC/USD", "BTC/EUR", "sell")}
    # 20:48 UTC: Coinbase BTC/USD ask 6870.37 (the 20:48 bar), BTC/EUR bid 5629.99 x 0.04236654 and Oanda EUR/USD
    # bid 1.22801 (both from the 20:47 bar, 60 s old). The BTC/EUR bid size brings at most
    # 0.04236654 * 5629.99 * 0.9975 = 237.93 EUR: 237 whole EUR (Oanda's step is 1), reached by the fewest 1e-18 lots,
    # ceil(237 / (5629.99 * 0.9975)) = 0.042201493246418913 BTC; net = 237 * 1.22801 - that * 6870.37 * 1.0025.
    ep = next(e for e in eps if e["first_seen"] == 1522872480)
    amount = D(237) / (D("5629.99") * D("0.9975"))
    amount = amount.quantize(D("1e-18"), rounding="ROUND_CEILING")
    assert D(ep["amount"]) == amount == D("0.042201493246418913")
    assert (ep["conversion_amount"], ep["conversion_rate"], ep["conversion_age_ms"]) == ("237", "1.22801", 60000.0)
    assert D(ep["net_profit"]) == D(237) * D("1.22801") - amount * D("6870.37") * D("1.0025")
    assert (ep["buy_vwap"], ep["sell_vwap"]) == ("6870.37", "5629.99")
    # the other direction never trades: parity (5612 EUR asks under 6860 USD bids) would say it always does
    reverse = db.execute("select evaluated, live, no_edge, parity_only from cross_funnel "
                         "where symbol = 'BTC/EUR'").fetchone()
    assert reverse["live"] == 0 and reverse["parity_only"] == reverse["no_edge"] == reverse["evaluated"] > 300


def test_cross_quote_routes_reach_only_listeners_that_take_them():
    # a cross-quote route is not a two-leg trade: it never comes through on_opportunity; listeners with
    # on_cross_opportunity (the paper and live executors) get it there
    class Listener:
        def __init__(self):
            self.plain, self.cross = [], []

        def on_book(self, book, t):
            pass

        def on_opportunity(self, opp, t):
            self.plain.append(opp)

    class CrossListener(Listener):
        def on_cross_opportunity(self, opp, t):
            self.cross.append(opp)

    plain, cross = Listener(), CrossListener()
    sc = scanner(listeners=[plain, cross])
    found = [sc.on_book_event(b) for b in (fx(1.0), eur(1.0), usd(1.0))]
    assert found == [[], [], []] and plain.plain == [] and cross.plain == []
    assert [(o.symbol, o.sell_symbol, o.net_profit) for o in cross.cross] == [("BTC/USD", "BTC/EUR", D(8))]
