"""Issue 19's smaller items: a timed-out look-up says so, and a halt still lets the resting order's cancel out.

The README ("Exactly what a halt allows") says that while halted no new order of any kind is sent, but
look-ups of orders already sent and the one cancel of an order left resting still go to the venues.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

from test_live_fakes import ScriptedVenue, live_config, opportunity, started_executor

from arbscan.errors import AuthError

D = Decimal


async def test_a_lookup_that_times_out_says_what_timed_out_and_after_how_long(store, caplog):
    class SlowLookup(ScriptedVenue):
        """The send's answer is lost; the first look-up then hangs past ``order_timeout_s``."""

        hung = False

        async def fetch_order(self, symbol, client_id):
            if not self.hung:
                self.hung = True
                await asyncio.sleep(5)
            return await super().fetch_order(symbol, client_id)

    venues = {"alpha": SlowLookup("alpha", ["unknown_filled"]), "beta": ScriptedVenue("beta")}
    ex = await started_executor(store, venues, config=live_config(order_timeout_s=0.2, reconcile_deadline_s=2.0))
    with caplog.at_level(logging.WARNING, logger="arbscan.execution.reconcile"):
        trade = await ex.execute(opportunity())
    buy_id = venues["alpha"].sent[0].client_id
    assert f"alpha order {buy_id}: lookup failed (no answer within 0.2 s)" in caplog.text
    assert "lookup failed ()" not in caplog.text
    assert trade.status == "filled"  # a later look-up found the fill


async def test_a_leg_left_resting_is_still_cancelled_after_the_other_leg_halts_trading(store):
    class Resting(ScriptedVenue):
        """Its IOC rests on the book; notes whether trading was halted when the cancel came."""

        halted_at_cancel: list[bool] = []

        async def cancel_order(self, symbol, client_id):
            self.halted_at_cancel.append(ex.kill.halted)
            return await super().cancel_order(symbol, client_id)

    class NoAuth(ScriptedVenue):
        async def place_order(self, req):
            self.sent.append(req)
            raise AuthError("beta: EGeneral:Permission denied")

    venues = {"alpha": Resting("alpha", ["resting"]), "beta": NoAuth("beta")}
    ex = await started_executor(store, venues, config=live_config(order_timeout_s=0.1, reconcile_deadline_s=2.0))
    trade = await ex.execute(opportunity())
    assert ex.kill.halted and "Permission denied" in ex.kill.reason
    buy_id = venues["alpha"].sent[0].client_id
    assert venues["alpha"].cancels == [buy_id]  # the one cancel went out ...
    assert Resting.halted_at_cancel == [True]  # ... while trading was halted
    assert venues["alpha"].orders[buy_id].status.value == "canceled"
    # nothing else: one order each, no flattening (nothing filled), and the trade failed with nothing left over
    assert [len(v.sent) for v in venues.values()] == [1, 1]
    assert trade.flatten == [] and trade.imbalance == 0 and trade.status == "failed"
