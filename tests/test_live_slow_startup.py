"""Start-up after a crash on a slow venue (issue 28, item 6): an intent the venue never booked is recorded
``rejected`` once ``reconcile_deadline_s`` has passed, the trade settles, and trading goes on (README:
"recorded as never placed (rejected)"), even when each of the venue's answers takes most of
``order_timeout_s`` and a look-up by client id needs three of them (fetch_order, open and closed orders).
"""

from __future__ import annotations

import asyncio

import pytest
from test_live_fakes import Crash, ScriptedVenue, journal_rows, live_config, opportunity, started_executor


class SlowVenue(ScriptedVenue):
    """A venue whose every order query answers after ``delay_s`` (a venue under load)."""

    delay_s = 0.15

    async def fetch_order(self, symbol, client_id):
        await asyncio.sleep(self.delay_s)
        return await super().fetch_order(symbol, client_id)

    async def open_orders(self, symbol):
        await asyncio.sleep(self.delay_s)
        return await super().open_orders(symbol)

    async def closed_orders(self, symbol):
        await asyncio.sleep(self.delay_s)
        return await super().closed_orders(symbol)


async def test_an_intent_a_slow_venue_never_booked_is_rejected_and_trading_goes_on(store):
    # order_timeout_s 0.2: each answer (0.15 s) comes in time, the three of a look-up (0.45 s) do not
    cfg = live_config(order_timeout_s=0.2, reconcile_deadline_s=0.3)
    venues = {"alpha": ScriptedVenue("alpha", ["crash_before"]), "beta": ScriptedVenue("beta", ["crash_before"])}
    ex = await started_executor(store, venues, config=cfg)
    with pytest.raises(Crash):  # the process dies after writing both intents, before any send
        await ex.execute(opportunity())

    again = {name: SlowVenue(name, state=v.orders) for name, v in venues.items()}
    ex2 = await started_executor(store, again, config=cfg)
    rows = journal_rows(store, "SELECT status, error FROM orders")
    assert {r["status"] for r in rows} == {"rejected"}, rows
    assert all("never placed" in r["error"] for r in rows)
    (trade,) = journal_rows(store, "SELECT status FROM trades")
    assert trade["status"] == "failed"
    assert not ex2.kill.halted  # trading goes on
    assert all(v.sent == [] for v in again.values())  # nothing sent at start-up
