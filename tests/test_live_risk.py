"""Risk limits, the kill switch, flattening policies, reconciliation paths and start-up checks of the live executor."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from conftest import book
from test_live_fakes import (
    ScriptedVenue,
    assert_journal_consistent,
    assert_no_duplicate_orders,
    journal_rows,
    live_config,
    opportunity,
    started_executor,
)

from arbscan.config.settings import StrategyConfig
from arbscan.errors import AuthError, ConfigError, TradingHalted
from arbscan.execution.live import check_key_permissions, require_credentials
from arbscan.model import BookSnapshot
from arbscan.execution.risk import resume

D = Decimal


def _venues(buy: list[str] | None = None, sell: list[str] | None = None) -> dict[str, ScriptedVenue]:
    return {"alpha": ScriptedVenue("alpha", buy), "beta": ScriptedVenue("beta", sell)}


# -- flattening ------------------------------------------------------------------------------------


async def test_flatten_on_buy_venue_sells_the_excess_within_the_slippage_bound(store):
    venues = _venues(["filled"], ["partial"])
    ex = await started_executor(store, venues, config=live_config(max_slippage_bps=D(30)))
    trade = await ex.execute(opportunity())
    (f,) = trade.flatten
    # bought at 100.0; 30 bps below is 99.7 (price step 0.1; a sell limit rounds up, never looser)
    assert (f.req.exchange, f.req.side.value, f.req.amount, f.req.limit_price) == ("alpha", "sell", D("0.6"), D("99.7"))
    # by hand: -100.26 (buy incl. fee) + 40.29496 (0.4 sold at 101.0 less 0.26 %) + 59.664468 (0.6 at 99.7 less fee)
    assert trade.realised_pnl == D("-0.300572")
    assert trade.status == "flattened" and trade.imbalance == 0


async def test_flatten_on_sell_venue_buys_back_the_excess_sold(store):
    venues = _venues(["rejected"], ["filled"])
    ex = await started_executor(store, venues, config=live_config(imbalance_policy="flatten_sell_venue"))
    trade = await ex.execute(opportunity())
    (f,) = trade.flatten
    # sold 1.0 at 101.0 on beta; buy it back there at most 30 bps higher: 101.303 floors to 101.3
    assert (f.req.exchange, f.req.side.value, f.req.amount, f.req.limit_price) == ("beta", "buy", D(1), D("101.3"))
    assert trade.status == "flattened"
    assert_journal_consistent(store, venues, trade.id)


async def test_keep_policy_reports_the_imbalance_and_sends_nothing_more(store):
    venues = _venues(["filled"], ["partial"])
    ex = await started_executor(store, venues, config=live_config(imbalance_policy="keep"))
    trade = await ex.execute(opportunity())
    assert trade.flatten == [] and len(venues["alpha"].sent) == 1
    (row,) = journal_rows(store, "SELECT * FROM trades")
    assert (row["status"], row["imbalance_action"], D(row["imbalance"])) == ("imbalanced", "kept", D("0.6"))
    assert not ex.kill.halted


async def test_flatten_that_fails_is_kept_reported_and_counted_as_a_failure(store):
    venues = _venues(["filled", "rejected"], ["rejected"])  # the flatten order is refused too
    ex = await started_executor(store, venues, config=live_config(max_consecutive_failures=1))
    trade = await ex.execute(opportunity())
    assert trade.status == "imbalanced" and trade.imbalance == 1
    assert ex.kill.halted and "consecutive" in ex.kill.reason
    assert_journal_consistent(store, venues, trade.id)


# -- reconciliation paths --------------------------------------------------------------------------


async def test_unknown_found_only_in_the_order_lists(store):
    venues = _venues(["unknown_listed"], ["filled"])
    ex = await started_executor(store, venues)
    trade = await ex.execute(opportunity())
    assert trade.status == "filled" and trade.buy.status.value == "filled"
    assert venues["alpha"].lookups >= 1 and len(venues["alpha"].sent) == 1


async def test_a_send_that_hangs_times_out_and_is_reconciled_not_resent(store):
    venues = _venues(["hang_filled"], ["filled"])
    ex = await started_executor(store, venues)
    trade = await ex.execute(opportunity())
    assert trade.status == "filled"
    events = journal_rows(store, "SELECT to_status, detail FROM order_events WHERE client_id = ? ORDER BY id",
                          trade.buy.client_id)
    assert [e["to_status"] for e in events] == ["created", "unknown", "filled"]
    assert "no answer within 0.2 s" in events[1]["detail"]
    assert len(venues["alpha"].sent) == 1


async def test_an_ioc_left_resting_is_cancelled_once(store):
    venues = _venues(["resting"], ["rejected"])
    ex = await started_executor(store, venues, config=live_config(order_timeout_s=0.1, reconcile_deadline_s=1.0))
    trade = await ex.execute(opportunity())
    assert venues["alpha"].cancels == [trade.buy.client_id]
    assert trade.buy.status.value == "canceled" and trade.status == "failed"


async def test_validate_only_sends_nothing_to_venues_that_cannot_validate(store):
    venues = _venues(["filled"], ["filled"])
    venues["alpha"].validate_orders = True  # stands for KrakenAdapter(validate_orders=True)
    ex = await started_executor(store, venues, validate_only=True)
    trade = await ex.execute(opportunity())
    assert len(venues["alpha"].sent) == 1 and venues["beta"].sent == []
    assert trade.sell.status.value == "rejected" and "--validate-orders" in trade.sell.error
    assert trade.buy.status.value == "canceled" and trade.status == "missed" and trade.flatten == []
    assert ex.risk.consecutive_failures == 0


# -- risk limits and the kill switch ---------------------------------------------------------------


async def test_notional_above_the_limit_is_refused_before_any_order(store):
    venues = _venues()
    ex = await started_executor(store, venues, config=live_config(max_notional_per_trade=D(99)))
    assert await ex.execute(opportunity()) is None  # 1.0 at 100.0 is 100 > 99
    assert venues["alpha"].sent == [] and journal_rows(store, "SELECT * FROM orders") == []


async def test_exposure_counts_kept_inventory_and_the_worst_case_of_the_next_trade(store):
    venues = _venues(["filled"], ["partial"])
    ex = await started_executor(store, venues, config=live_config(imbalance_policy="keep", max_exposure={"BTC": D("1.5")}))
    first = await ex.execute(opportunity())
    assert first.imbalance == D("0.6")
    # 0.6 kept + 1.0 worst case = 1.6 > 1.5: refused; 0.9 fits exactly
    assert await ex.execute(opportunity()) is None
    assert (await ex.execute(opportunity("0.9"))).status == "filled"


async def test_orders_per_minute_per_venue(store):
    venues = _venues()
    ex = await started_executor(store, venues, config=live_config(max_orders_per_minute=2))
    assert (await ex.execute(opportunity())).status == "filled"
    assert (await ex.execute(opportunity())).status == "filled"
    assert await ex.execute(opportunity()) is None
    assert len(venues["alpha"].sent) == 2


async def test_consecutive_failures_halt_and_a_success_resets_the_count(store):
    venues = _venues(["rejected", "filled", "rejected", "rejected"], ["rejected", "filled", "rejected", "rejected"])
    ex = await started_executor(store, venues, config=live_config(max_consecutive_failures=2))
    assert (await ex.execute(opportunity())).status == "failed"
    assert (await ex.execute(opportunity())).status == "filled"
    assert ex.risk.consecutive_failures == 0
    await ex.execute(opportunity())
    assert not ex.kill.halted
    await ex.execute(opportunity())
    assert ex.kill.halted
    with pytest.raises(TradingHalted):
        await ex.execute(opportunity())
    assert_no_duplicate_orders(venues)
    assert [len(v.sent) for v in venues.values()] == [4, 4]  # 4 trades, one order per leg, nothing resent


async def test_a_resume_noticed_while_running_also_resets_the_failure_count(store):
    venues = _venues(["rejected"] * 3, ["rejected"] * 3)
    ex = await started_executor(store, venues, config=live_config(max_consecutive_failures=2))
    await ex.execute(opportunity())
    await ex.execute(opportunity())
    assert ex.kill.halted and ex.risk.consecutive_failures == 2
    resume(str(store.path), by="test")
    now = 1_000_000.0
    ex.on_book(book("alpha", now, asks=[("100.0", "1")]), now)
    ex.on_book(book("beta", now, bids=[("101.0", "1")]), now)
    ex.on_opportunity(opportunity(), now)  # the running executor notices the resume here
    assert not ex.kill.halted and ex.risk.consecutive_failures == 0 and ex.skips["halted"] == 1
    await ex.wait_idle()  # start-up reconciliation runs again before the next trade
    assert ex.started
    await ex.execute(opportunity())  # one more failure is one, not three: no halt
    assert not ex.kill.halted and ex.risk.consecutive_failures == 1


async def test_daily_loss_limit_halts_and_persists(store):
    venues = _venues(["filled"], ["rejected"])
    ex = await started_executor(store, venues, config=live_config(daily_loss_limit=D("0.5")))
    trade = await ex.execute(opportunity())
    # flattened at 99.7: -100.26 + 99.7 * (1 - 0.0026) = -0.81922
    assert trade.realised_pnl == D("-0.819220")
    assert ex.kill.halted and "daily realised loss" in ex.kill.reason
    again = await started_executor(store, _venues(), config=live_config(daily_loss_limit=D("0.5")))
    assert again.kill.halted  # from the journal
    resume(str(store.path), by="test")
    # cleared, but today's realised loss is still over the limit: a new run halts again at once
    third = await started_executor(store, _venues(), config=live_config(daily_loss_limit=D("0.5")))
    assert third.kill.halted


async def test_auth_error_on_a_leg_halts(store):
    class NoAuth(ScriptedVenue):
        async def place_order(self, req):
            self.sent.append(req)
            raise AuthError("alpha: EGeneral:Permission denied")

    venues = {"alpha": NoAuth("alpha"), "beta": ScriptedVenue("beta", ["rejected"])}
    ex = await started_executor(store, venues)
    trade = await ex.execute(opportunity())
    assert trade.status == "failed" and ex.kill.halted and "Permission denied" in ex.kill.reason


async def test_scanner_events_drive_a_trade_and_are_skipped_while_halted(store):
    venues = _venues()
    strategy = StrategyConfig("s1", min_net_bps=D(0))
    ex = await started_executor(store, venues, strategy=strategy)
    now = time.time()
    ask = BookSnapshot("alpha", "BTC/USD", ((D("99.9"), D(5)),), ((D("100.0"), D(1)),), now, now)
    bid = BookSnapshot("beta", "BTC/USD", ((D("101.0"), D(1)),), ((D("101.1"), D(5)),), now, now)
    ex.on_book(ask, now)
    ex.on_book(bid, now)
    ex.on_opportunity(opportunity(), now)
    ex.on_opportunity(opportunity(), now)  # one trade at a time: skipped as busy
    await ex.wait_idle()
    (trade,) = journal_rows(store, "SELECT * FROM trades")
    assert trade["status"] == "filled" and trade["strategy"] == "s1"
    assert ex.skips.get("busy") == 1
    ex.kill.halt("test")
    ex.on_opportunity(opportunity(), now + 10)
    assert ex.skips.get("halted") == 1 and len(journal_rows(store, "SELECT * FROM trades")) == 1


# -- start-up checks -------------------------------------------------------------------------------


def test_live_needs_keys_for_every_venue_and_names_the_variables():
    env = {"KRAKEN_API_KEY": "k", "KRAKEN_API_SECRET": "s"}
    require_credentials(["kraken"], env)
    with pytest.raises(ConfigError) as err:
        require_credentials(["kraken", "bitstamp", "coinbase"], env)
    msg = str(err.value)
    assert "BITSTAMP_API_KEY and BITSTAMP_API_SECRET" in msg and "COINBASE_API_KEY" in msg
    assert "KRAKEN" not in msg and "\n" not in msg


async def test_keys_that_can_withdraw_are_refused_where_the_venue_tells():
    class Perms(ScriptedVenue):
        def __init__(self, name, perms):
            super().__init__(name)
            self.perms = perms

        async def api_key_permissions(self):
            return self.perms

    seen = await check_key_permissions({"a": Perms("a", ["trade", "read"]), "b": Perms("b", None), "c": ScriptedVenue("c")})
    assert seen == {"a": "read, trade", "b": "not reported", "c": "not reported"}
    with pytest.raises(AuthError, match="withdraw"):
        await check_key_permissions({"a": Perms("a", ["trade", "enableWithdrawals"])})


async def test_kept_inventory_stops_counting_once_handled(store):
    cfg = live_config(imbalance_policy="keep", max_exposure={"BTC": D("1.5")})
    ex = await started_executor(store, _venues(["filled"], ["partial"]), config=cfg)
    await ex.execute(opportunity())
    again = await started_executor(store, _venues(), config=cfg)
    assert await again.execute(opportunity()) is None  # 0.6 kept (read from the journal) + 1.0 > 1.5
    resume(str(store.path), by="test", inventory_handled=True)
    (row,) = journal_rows(store, "SELECT imbalance_action, detail FROM trades WHERE imbalance_action != 'none'")
    assert row["imbalance_action"] == "handled" and "inventory handled (test)" in row["detail"]
    third = await started_executor(store, _venues(), config=cfg)
    assert (await third.execute(opportunity())).status == "filled"


async def test_a_trade_is_cut_so_its_worst_case_fits_the_notional_limit(store):
    ex = await started_executor(store, _venues(), config=live_config(max_notional_per_trade=D(100)))
    m = ex.markets[("alpha", "BTC/USD")]
    # the strategy sized 1.0005 BTC by its average price; at the 100.0 limit that could cost 100.05 > 100
    opp = opportunity("1.0005")
    cut = ex.risk.fit(opp, m, m)
    assert cut.amount == D("1.0000") and cut.buy_limit == opp.buy_limit
    assert cut.net_profit == opp.net_profit * D("1.0000") / D("1.0005")
    assert ex.risk.fit(opportunity("0.5"), m, m) == opportunity("0.5")
    tiny = live_config(max_notional_per_trade=D("0.001"))
    ex2 = await started_executor(store, _venues(), config=tiny)
    assert ex2.risk.fit(opp, m, m) is None  # below the 0.0001 BTC minimum


async def test_a_key_that_can_withdraw_stops_trading_in_this_run_without_a_halt_row(store):
    venues = _venues()
    async def can_withdraw():
        return ["query", "trade", "withdraw"]

    venues["alpha"].api_key_permissions = can_withdraw
    ex = await started_executor(store, venues, check_permissions=True)
    assert ex.kill.halted and "can withdraw" in ex.kill.refused
    with pytest.raises(TradingHalted):
        await ex.execute(opportunity())
    assert venues["alpha"].sent == [] and journal_rows(store, "SELECT * FROM halts") == []


async def test_a_flattening_order_with_an_unknown_outcome_halts_and_is_never_resent(store):
    venues = _venues(["filled", "unknown_notfound"], ["rejected"])
    ex = await started_executor(store, venues)
    trade = await ex.execute(opportunity())
    (f,) = trade.flatten
    assert f.status.value == "unknown" and trade.status == "unknown" and ex.kill.halted
    assert [r.client_id for r in venues["alpha"].sent] == [trade.buy.client_id, f.client_id]
    assert_journal_consistent(store, venues, trade.id)


async def test_a_venue_contradicting_itself_halts_and_keeps_our_state(store):
    from arbscan.model import OrderStatus, OrderUpdate

    class Shrinking(ScriptedVenue):
        async def place_order(self, req):
            self.sent.append(req)
            return OrderUpdate(req.client_id, self.name, req.symbol, OrderStatus.PARTIALLY_FILLED, D("0.5"), D(100), D(0))

        async def fetch_order(self, symbol, client_id):  # now says less was filled: impossible
            return OrderUpdate(client_id, self.name, symbol, OrderStatus.CANCELED, D("0.3"), D(100), D(0))

    venues = {"alpha": Shrinking("alpha"), "beta": ScriptedVenue("beta", ["partial"])}
    ex = await started_executor(store, venues)
    trade = await ex.execute(opportunity())
    assert ex.kill.halted and "shrink" in ex.kill.reason
    assert trade.buy.filled == D("0.5") and trade.status == "unknown"
    assert len(venues["alpha"].sent) == 1


async def test_the_order_rate_window_slides_after_a_minute(store):
    now = [1000.0]
    venues = _venues()
    ex = await started_executor(store, venues, config=live_config(max_orders_per_minute=1), monotonic=lambda: now[0])
    assert (await ex.execute(opportunity())).status == "filled"
    now[0] += 59.9
    assert await ex.execute(opportunity()) is None
    now[0] += 0.2  # the first order is now more than 60 s old
    assert (await ex.execute(opportunity())).status == "filled"


async def test_balances_follow_the_fills_then_the_venue_is_believed(store):
    venues = _venues()
    venues["alpha"].balances = {"USD": D(1000), "BTC": D(0)}
    venues["beta"].balances = {"USD": D(0), "BTC": D(2)}
    ex = await started_executor(store, venues)
    venues["alpha"].balances = {"USD": D("899.70"), "BTC": D("1")}  # what the venue says after the trade
    await ex.execute(opportunity())
    assert ex.venue.balances["alpha"] == {"USD": D("899.70"), "BTC": D("1")}
    # the journal keeps the estimate from the fills: 1000 - 100.26 (1 BTC at 100.0 plus 0.26 % fee)
    rows = journal_rows(store, "SELECT exchange, asset, free FROM balances ORDER BY exchange, asset")
    assert {(r["exchange"], r["asset"]): D(r["free"]) for r in rows} == {
        ("alpha", "BTC"): D(1), ("alpha", "USD"): D("899.74"), ("beta", "BTC"): D(1), ("beta", "USD"): D("100.7374")}
