"""Invariants of the scanner over random event sequences (hypothesis)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from arbscan.model import BookSnapshot, Market
from arbscan.scan.scanner import Scanner

SYM = "BTC/USD"
VENUES = ("alpha", "beta", "gamma")
REASONS = ("live", "not_crossed", "fees", "depth_or_minimums", "balance", "below_min_bps")

event = st.tuples(
    st.sampled_from(VENUES),
    st.integers(min_value=1, max_value=1500),  # ms since the previous event
    st.integers(min_value=9980, max_value=10060),  # best bid in cents
    st.integers(min_value=1, max_value=25),  # spread in cents
    st.sampled_from(["0.5", "1", "2"]),
)


class Collector:
    def __init__(self):
        self.opps = []

    def on_book(self, book, t):
        pass

    def on_opportunity(self, opp, t):
        self.opps.append((t, opp))


class Journal:
    def __init__(self):
        self.episodes = []

    def record_episode(self, ep):
        self.episodes.append(ep)

    def record_funnel(self, funnels, now=None):
        pass

    def record_venue_stats(self, stats):
        pass


def markets():
    return {(v, SYM): Market(v, SYM, "BTC", "USD", D("0.001"), D("0.001"), D("0.01"), D("0.6")) for v in VENUES}


@settings(max_examples=100, deadline=None)
@given(st.lists(event, min_size=1, max_size=60), st.sampled_from([D(0), D(15)]), st.booleans())
def test_funnel_and_episodes_stay_consistent(events, min_bps, capped):
    journal, seen = Journal(), Collector()
    balances = {"beta": {"BTC": D("0.8")}, "alpha": {"USD": D("50")}} if capped else None
    s = Scanner(markets(), journal, min_net_bps=min_bps, max_book_age_ms=1000, balances=balances, listeners=[seen])
    t = 0.0
    for venue, gap_ms, bid_cents, spread_cents, amount in events:
        t += gap_ms / 1000
        bid = D(bid_cents) / 100
        ask = D(bid_cents + spread_cents) / 100
        s.on_book_event(BookSnapshot(venue, SYM, ((bid, D(amount)),), ((ask, D(amount)),), t, t))
    s.close()

    for f in s.funnels.values():
        assert f.evaluated == sum(getattr(f, r) for r in REASONS)
        assert f.crossed_before_fees >= f.live + f.fees
    by_route = defaultdict(list)
    for ep in journal.episodes:
        by_route[ep.route].append(ep)
    opps_by_route = defaultdict(list)
    for when, opp in seen.opps:
        assert opp.net_bps >= min_bps and opp.net_profit > 0
        opps_by_route[(opp.symbol, opp.buy_exchange, opp.sell_exchange)].append((when, opp))
    for route, f in s.funnels.items():
        eps = by_route.get(route, [])
        assert len(eps) == f.episodes
        assert sum(ep.observations for ep in eps) == f.live == len(opps_by_route.get(route, []))
        for a, b in zip(eps, eps[1:]):
            assert a.closed_at <= b.first_seen  # episodes of one route never overlap
        for ep in eps:
            assert ep.first_seen <= ep.peak_ts <= ep.last_seen <= ep.closed_at
            assert ep.close_reason in ("uncrossed", "stale", "end")
            inside = [o for when, o in opps_by_route[route] if ep.first_seen <= when <= ep.last_seen]
            assert len(inside) == ep.observations
            assert ep.peak.net_profit == max(o.net_profit for o in inside)
    assert not s.episodes  # close() ended every episode
