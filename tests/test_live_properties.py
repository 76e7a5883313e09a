"""Random runs of paired trades, crashes and restarts: no client id is ever sent twice and the journal stays consistent."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_live_fakes import (
    Crash,
    ScriptedVenue,
    assert_journal_consistent,
    journal_rows,
    live_config,
    opportunity,
    started_executor,
)

from arbscan.errors import TradingHalted
from arbscan.journal.store import Store

OUTCOME = st.sampled_from(["filled", "partial", "rejected", "unknown_filled", "unknown_notfound", "unknown_listed",
                           "hang_filled", "resting", "crash_before", "crash_after"])
TRADE = st.tuples(OUTCOME, OUTCOME, OUTCOME)  # buy leg, sell leg, a flattening order if one is needed
POLICY = st.sampled_from(["flatten_buy_venue", "flatten_sell_venue", "keep"])


async def _run(trades, policy) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "j.db")
        store.start_run("scan")
        state = {"alpha": {}, "beta": {}}
        every = []  # every adapter instance, across restarts
        cfg = live_config(imbalance_policy=policy, reconcile_deadline_s=0.1, order_timeout_s=0.1)

        def fresh(buy, sell, flatten):
            alpha = ScriptedVenue("alpha", [buy, flatten], state=state["alpha"])
            beta = ScriptedVenue("beta", [sell, flatten], state=state["beta"])
            every.extend([alpha, beta])
            return {"alpha": alpha, "beta": beta}

        try:
            venues = fresh("filled", "filled", "filled")
            ex = await started_executor(store, venues, config=cfg)
            for buy, sell, flatten in trades:
                venues = fresh(buy, sell, flatten)
                ex.adapters = venues
                try:
                    await ex.execute(opportunity())
                except Crash:
                    # the process died: a new one starts on the same journal and venues
                    venues = fresh("filled", "filled", "filled")
                    ex = await started_executor(store, venues, config=cfg)
                    assert all(v.sent == [] for v in venues.values())  # start-up sends nothing
                except TradingHalted:
                    assert ex.kill.halted
            ids = [r.client_id for v in every for r in v.sent]
            assert len(ids) == len(set(ids)), "a client id was sent twice"
            for row in journal_rows(store, "SELECT id, status FROM trades"):
                if row["status"] != "open":  # 'open' only for a trade the last crash interrupted
                    assert_journal_consistent(store, {n: ScriptedVenue(n, state=state[n]) for n in state}, row["id"])
            unfinished = journal_rows(store, "SELECT status FROM orders WHERE status IN ('created', 'submitted', 'open', 'partially_filled', 'unknown')")
            if unfinished:
                assert ex.kill.halted or any(o["status"] == "created" for o in unfinished)
        finally:
            store.close()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TRADE, min_size=1, max_size=4), POLICY)
def test_random_runs_never_send_an_order_twice(trades, policy):
    asyncio.run(_run(trades, policy))
