"""Transferability of a route and the cost of moving its inventory back: hand-computed cases."""

from decimal import Decimal as D

import pytest
from conftest import book, market

from arbscan import spread
from arbscan.funding.facts import AssetFunding, FundingBook, NetworkFunding, network_code
from arbscan.funding.transfers import (
    BLOCKED,
    CLOSED,
    OPEN,
    TRANSFERABLE,
    UNKNOWN,
    figures,
    leg,
    net_after_transfer,
    ranking_edge,
    route_verdict,
)


def net(code, dep=True, wd=True, fee=None, deposit_fee=None, wmin=None):
    return NetworkFunding(code, dep, wd, None if fee is None else D(fee), None if wmin is None else D(wmin),
                          None if deposit_fee is None else D(deposit_fee))


def facts(exchange, asset, *networks, deposit=None, withdraw=None):
    return AssetFunding(exchange, asset, tuple(networks), deposit, withdraw)


def test_network_codes_follow_ccxts_aliases():
    assert [network_code(c) for c in ("eth", "ERC20", "TRX", "trc20", "BSC", "ARBONE", "Optimism", "btc")] == [
        "ERC20", "ERC20", "TRC20", "TRC20", "BEP20", "ARBITRUM", "OP", "BTC"]
    with pytest.raises(ValueError):
        NetworkFunding("eth")  # codes are stored in their one spelling only


def test_the_cheapest_open_common_network_is_used():
    # USDT leaves a venue with Bybit's real fees (ERC20 8, TRC20 1.6, APT 0) for one that takes ERC20 and TRC20 only
    out = facts("a", "USDT", net("ERC20", fee="8"), net("TRC20", fee="1.6"), net("APT", fee="0"))
    into = facts("b", "USDT", net("ERC20"), net("TRC20"))
    got = leg("USDT", "a", "b", out, into)
    assert (got.status, got.network, got.fee) == (OPEN, "TRC20", D("1.6"))


def test_a_deposit_fee_counts_and_a_known_fee_beats_an_unknown_one():
    out = facts("a", "BTC", net("BTC", fee="0.0002"), net("LIGHTNING"))
    into = facts("b", "BTC", net("BTC", deposit_fee="0.0001"), net("LIGHTNING"))
    got = leg("BTC", "a", "b", out, into)
    assert (got.network, got.fee) == ("BTC", D("0.0003"))


def test_closed_networks_are_skipped_and_all_closed_is_blocked():
    out = facts("a", "USDT", net("ERC20", fee="8"), net("TRC20", fee="1.6"))
    into = facts("b", "USDT", net("ERC20"), net("TRC20", dep=False))  # TRC20 deposits off on b
    assert leg("USDT", "a", "b", out, into).network == "ERC20"
    into = facts("b", "USDT", net("ERC20", dep=False), net("TRC20", dep=False))
    got = leg("USDT", "a", "b", out, into)
    assert got.status == CLOSED
    assert "ERC20: deposits off on b" in got.detail and "TRC20: deposits off on b" in got.detail


@pytest.mark.parametrize("out, into, status", [
    (facts("a", "X", withdraw=False), None, CLOSED),  # withdrawals of the asset off: known even if b says nothing
    (None, facts("b", "X", deposit=False), CLOSED),
    (facts("a", "X", net("ERC20"), withdraw=False), facts("b", "X", net("ERC20")), CLOSED),  # asset switch wins
    (None, facts("b", "X", net("ERC20")), UNKNOWN),  # nothing known about a
    (facts("a", "X"), facts("b", "X", net("ERC20")), UNKNOWN),  # a lists no network
    (facts("a", "X", net("ERC20")), facts("b", "X", net("BEP20")), CLOSED),  # nothing in common
    (facts("a", "X", net("ERC20", wd=None)), facts("b", "X", net("ERC20")), UNKNOWN),  # a's flag not stated
    (facts("a", "X", net("ERC20", wd=None), net("BEP20", wd=False)), facts("b", "X", net("ERC20"), net("BEP20")),
     UNKNOWN),
])
def test_leg_status(out, into, status):
    assert leg("X", "a", "b", out, into).status == status


def _book(*items):
    book = FundingBook()
    for f in items:
        book.set(f)
    return book


def test_route_needs_the_base_out_of_the_buy_venue_and_the_quote_back():
    both_ways = [facts(ex, a, net(n)) for ex in ("a", "b") for a, n in (("BTC", "BTC"), ("USDT", "TRC20"))]
    assert route_verdict(_book(*both_ways), "BTC", "USDT", "a", "b").status == TRANSFERABLE
    # BTC cannot leave the buy venue a: blocked (the reverse route, buying on b, only needs BTC deposits on a)
    stuck = [*both_ways, facts("a", "BTC", net("BTC", wd=False))]
    assert route_verdict(_book(*stuck), "BTC", "USDT", "a", "b").status == BLOCKED
    assert route_verdict(_book(*stuck), "BTC", "USDT", "b", "a").status == TRANSFERABLE
    # the quote cannot come back from the sell venue b
    no_quote = [*both_ways, facts("b", "USDT", net("TRC20", wd=False))]
    assert route_verdict(_book(*no_quote), "BTC", "USDT", "a", "b").status == BLOCKED
    # nothing known about the quote: unknown, not blocked
    base_only = [f for f in both_ways if f.asset == "BTC"]
    verdict = route_verdict(_book(*base_only), "BTC", "USDT", "a", "b")
    assert (verdict.status, verdict.base.status, verdict.quote.status) == (UNKNOWN, OPEN, UNKNOWN)
    assert verdict.detail == "no USDT transfer facts for b"


def test_config_wins_field_by_field_and_stands_alone():
    overrides = {"a": {"BTC": (NetworkFunding("BTC", withdraw_fee=D("0.0001")),),
                       "USD": (NetworkFunding("SWIFT", withdraw_fee=D("25")),)}}
    book = FundingBook(overrides)
    # config alone: the configured network is taken to work both ways
    assert book.get("a", "USD").networks == (NetworkFunding("SWIFT", True, True, D("25")),)
    assert book.get("a", "USD").source == "config"
    # the venue says BTC withdrawals are off at fee 0.0002: the config's fee wins, the venue's switch stays
    merged = book.set(facts("a", "BTC", net("BTC", wd=False, fee="0.0002"), net("LIGHTNING", fee="0.00001")))
    assert merged.network("BTC") == NetworkFunding("BTC", True, False, D("0.0001"))
    assert merged.network("LIGHTNING").withdraw_fee == D("0.00001")
    assert book.version == 1


def test_worked_example_in_the_readme():
    # README "Moving the inventory back": buy 0.5 BTC on A at 30000 (fee 0.1 %), sell on B at 30150 (0.2 %)
    a, b = market("A", "BTC/USDT", "0.001"), market("B", "BTC/USDT", "0.002")
    opp = spread.evaluate(book("A", asks=[("30000", "0.5")], symbol="BTC/USDT"),
                          book("B", bids=[("30150", "0.5")], symbol="BTC/USDT"), a, b)
    assert (opp.amount, opp.buy_cost, opp.sell_proceeds, opp.net_profit) == (
        D("0.5"), D("15015"), D("15044.85"), D("29.85"))
    funding = _book(
        facts("A", "BTC", net("BTC", fee="0.0002"), net("LIGHTNING", fee="0.00001")),
        facts("B", "BTC", net("BTC")),  # B takes BTC over the Bitcoin network only
        facts("B", "USDT", net("ERC20", fee="8"), net("TRC20", fee="1.6")),
        facts("A", "USDT", net("ERC20"), net("TRC20", dep=False)),  # TRC20 deposits off on A
    )
    verdict = route_verdict(funding, "BTC", "USDT", "A", "B")
    assert (verdict.status, verdict.base.network, verdict.quote.network) == (TRANSFERABLE, "BTC", "ERC20")
    one = figures(verdict, opp, 1)
    # 0.0002 BTC x 30000 = 6 USDT, plus 8 USDT back over ERC20 = 14; 29.85 - 14 = 15.85
    assert (one.transfer_cost, one.net_after_transfer) == (D("14"), D("15.85"))
    assert figures(verdict, opp, 4).net_after_transfer == D("26.35")  # 29.85 - 14 / 4


def test_unknown_cost_leaves_the_edge_unknown_and_ranking_falls_back():
    assert net_after_transfer(D("5"), None, 1) is None
    assert ranking_edge(D("5"), None) == D("5")
    assert ranking_edge(D("5"), D("-1")) == D("-1")
