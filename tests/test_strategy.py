"""Strategy rules: filters, one trade per route, cooldown, sizing caps and thresholds (figures by hand)."""

from decimal import Decimal as D

from conftest import book, market

from arbscan.config.settings import StrategyConfig
from arbscan.execution.strategy import StrategyRules, available, quote_cap


def mk(exchange, fee="0", symbol="BTC/USD"):
    return market(exchange, symbol, fee)


BUY = book("a", asks=[("100", "10")])
SELL = book("b", bids=[("101", "10")])


def decide(cfg, buy=BUY, sell=SELL, fee_a="0", fee_b="0", quote=None, base=None, t=1.0, rules=None):
    rules = rules or StrategyRules(cfg)
    return rules.decide(buy, sell, mk("a", fee_a, buy.symbol), mk("b", fee_b, sell.symbol), quote, base, t)


def test_takes_a_plain_cross_at_full_depth():
    d = decide(StrategyConfig("s", min_net_bps=D(0)))
    assert d.take and d.reason is None
    # 10 units at 100 -> 101: profit 10, 100 bps
    assert (d.opportunity.amount, d.opportunity.net_profit, d.opportunity.net_bps) == (D(10), D(10), D(100))


def test_symbol_and_venue_filters():
    assert decide(StrategyConfig("s", symbols=("ETH/USD",), min_net_bps=D(0))).reason == "symbol"
    assert decide(StrategyConfig("s", venues=("a", "c"), min_net_bps=D(0))).reason == "venue"
    assert decide(StrategyConfig("s", symbols=("BTC/USD",), venues=("a", "b"), min_net_bps=D(0))).take


def test_max_notional_caps_the_buy_notional_before_fee():
    # buy fee 0.1 %: cap = 250 * 1.001 = 250.25 quote incl. fee -> 250.25 / 100.1 = 2.5 BTC, notional 250
    d = decide(StrategyConfig("s", max_notional=D(250), min_net_bps=D(0)), fee_a="0.001")
    opp = d.opportunity
    assert opp.amount == D("2.5")
    assert opp.buy_notional == D(250)
    assert opp.buy_cost == D("250.25")
    # 2.5 * 101 - 250.25 = 2.25
    assert opp.net_profit == D("2.25")
    assert quote_cap(D(100), D(250), D("0.001")) == D(100)  # the balance is the tighter cap
    assert quote_cap(None, None, D("0.001")) is None


def test_balances_cap_the_size_quote_on_buy_venue_and_base_on_sell_venue():
    assert decide(StrategyConfig("s", min_net_bps=D(0)), quote=D(150)).opportunity.amount == D("1.5")
    assert decide(StrategyConfig("s", min_net_bps=D(0)), base=D("0.7")).opportunity.amount == D("0.7")
    assert decide(StrategyConfig("s", min_net_bps=D(0)), quote=D(0)).reason == "no_trade"


def test_thresholds_on_the_sized_trade():
    # one unit: profit 1, 100 bps
    one = book("b", bids=[("101", "1")])
    assert decide(StrategyConfig("s", min_net_bps=D(101)), sell=one).reason == "min_net_bps"
    assert decide(StrategyConfig("s", min_net_bps=D(100)), sell=one).take
    assert decide(StrategyConfig("s", min_net_bps=D(0), min_profit=D("1.01")), sell=one).reason == "min_profit"
    assert decide(StrategyConfig("s", min_net_bps=D(0), min_profit=D(1)), sell=one).take


def test_fees_can_remove_the_trade():
    # 101 * 0.995 = 100.495 < 100 * 1.005 = 100.5
    assert decide(StrategyConfig("s", min_net_bps=D(0)), fee_a="0.005", fee_b="0.005").reason == "no_trade"


def test_busy_then_cooldown_per_route():
    rules = StrategyRules(StrategyConfig("s", min_net_bps=D(0), cooldown_ms=500))
    route = ("BTC/USD", "a", "b")
    rules.opened(route, "t1")
    assert decide(None, rules=rules, t=2.0).reason == "busy"
    assert rules.busy_routes() == {route: "t1"}
    rules.closed(route, 10.0)
    assert decide(None, rules=rules, t=10.4).reason == "cooldown"
    assert decide(None, rules=rules, t=10.5).take
    # the reverse route is a different route: never blocked
    assert rules.ready(("BTC/USD", "b", "a"), 10.1) is None


def test_no_cooldown_frees_the_route_at_close():
    rules = StrategyRules(StrategyConfig("s", min_net_bps=D(0)))
    rules.opened(("BTC/USD", "a", "b"), "t1")
    rules.closed(("BTC/USD", "a", "b"), 3.0)
    assert decide(None, rules=rules, t=3.0).take


def test_available_reads_nested_balances():
    bal = {"a": {"USD": D(5)}}
    assert available(bal, "a", "USD") == D(5)
    assert available(bal, "a", "BTC") is None
    assert available(bal, "b", "BTC", missing=D(0)) == D(0)
    assert available(None, "a", "USD") is None
