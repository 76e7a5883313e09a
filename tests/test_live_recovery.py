"""Crashes between intent and send, and between send and fill: start-up reconciliation restores a consistent journal without sending anything twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from test_live_fakes import (
    Crash,
    ScriptedVenue,
    assert_journal_consistent,
    journal_rows,
    opportunity,
    started_executor,
)

from arbscan.errors import TradingHalted
from arbscan.model import OrderStatus, OrderUpdate

D = Decimal
HERE = Path(__file__).resolve().parent


def _restart(old: dict[str, ScriptedVenue]) -> dict[str, ScriptedVenue]:
    """Fresh adapters (a new process) over the same venue-side records."""
    return {name: ScriptedVenue(name, state=v.orders) for name, v in old.items()}


def _trade_id(store) -> str:
    (row,) = journal_rows(store, "SELECT id FROM trades")
    return row["id"]


async def test_crash_between_intent_and_send(store):
    venues = {"alpha": ScriptedVenue("alpha", ["crash_before"]), "beta": ScriptedVenue("beta", ["crash_before"])}
    ex = await started_executor(store, venues)
    with pytest.raises(Crash):
        await ex.execute(opportunity())
    rows = journal_rows(store, "SELECT status FROM orders")
    assert [r["status"] for r in rows] == ["created", "created"]  # the intents were on disk before the send

    again = _restart(venues)
    ex2 = await started_executor(store, again)
    assert all(v.sent == [] for v in again.values())  # nothing sent at start-up
    rows = journal_rows(store, "SELECT status, error FROM orders")
    assert {r["status"] for r in rows} == {"rejected"} and all("never placed" in r["error"] for r in rows)
    (trade,) = journal_rows(store, "SELECT * FROM trades")
    assert trade["status"] == "failed" and D(trade["imbalance"]) == 0
    assert not ex2.kill.halted
    assert_journal_consistent(store, again, trade["id"])


async def test_crash_between_send_and_fill_keeps_and_reports_the_naked_leg(store):
    venues = {"alpha": ScriptedVenue("alpha", ["crash_after"]), "beta": ScriptedVenue("beta", ["crash_before"])}
    ex = await started_executor(store, venues)
    with pytest.raises(Crash):
        await ex.execute(opportunity())

    again = _restart(venues)
    await started_executor(store, again)
    assert all(v.sent == [] for v in again.values())
    (trade,) = journal_rows(store, "SELECT * FROM trades")
    assert trade["status"] == "imbalanced" and trade["imbalance_action"] == "kept"
    assert D(trade["buy_filled"]) == 1 and D(trade["sell_filled"]) == 0 and D(trade["imbalance"]) == 1
    assert "start-up" in trade["detail"]
    assert_journal_consistent(store, again, trade["id"])


async def test_crash_after_both_sends_settles_as_filled(store):
    venues = {"alpha": ScriptedVenue("alpha", ["crash_after"]), "beta": ScriptedVenue("beta", ["crash_after"])}
    ex = await started_executor(store, venues)
    with pytest.raises(Crash):
        await ex.execute(opportunity())
    again = _restart(venues)
    ex2 = await started_executor(store, again)
    (trade,) = journal_rows(store, "SELECT * FROM trades")
    assert trade["status"] == "filled"
    assert all(v.sent == [] for v in again.values())
    assert_journal_consistent(store, again, trade["id"])
    # and the executor trades again afterwards, with new client ids only
    new = await ex2.execute(opportunity())
    assert new.status == "filled"
    ids = [r.client_id for v in (*venues.values(), *again.values()) for r in v.sent]
    assert len(ids) == len(set(ids)) == 4  # two legs before the crash, two new ones after


async def test_restart_after_unresolved_unknown_stays_halted_until_resume(store, tmp_path):
    from arbscan.execution.risk import resume

    venues = {"alpha": ScriptedVenue("alpha", ["filled"]), "beta": ScriptedVenue("beta", ["unknown_notfound"])}
    ex = await started_executor(store, venues)
    trade = await ex.execute(opportunity())
    assert trade.status == "unknown" and ex.kill.halted
    # a new process: the halt is in the journal; reconciliation resolves the sell as never placed
    again = _restart(venues)
    ex2 = await started_executor(store, again)
    assert ex2.kill.halted
    with pytest.raises(TradingHalted):
        await ex2.execute(opportunity())
    (row,) = journal_rows(store, "SELECT * FROM trades")
    assert row["status"] == "imbalanced" and D(row["imbalance"]) == 1
    assert all(v.sent == [] for v in again.values())
    cleared = resume(str(store.path), by="test")
    assert cleared and "unresolved" in cleared[0]["reason"]
    ex3 = await started_executor(store, _restart(venues))
    assert not ex3.kill.halted
    assert (await ex3.execute(opportunity())).status == "filled"


# -- a real crash: a child process SIGKILLed after the venue took the buy leg ------------------------

CHILD = HERE / "data" / "live" / "crash_child.py"


def _load_state(path: Path) -> dict[str, dict[str, OrderUpdate]]:
    raw = json.loads(path.read_text()) if path.exists() else {}
    out: dict[str, dict[str, OrderUpdate]] = {"alpha": {}, "beta": {}}
    for venue, orders in raw.items():
        for cid, o in orders.items():
            out[venue][cid] = OrderUpdate(cid, venue, o["symbol"], OrderStatus(o["status"]), D(o["filled"]),
                                          D(o["avg_price"]) if o["avg_price"] else None, D(o["fee"]), o["id"])
    return out


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
async def test_sigkill_between_send_and_answer(store, tmp_path):
    state_file = tmp_path / "venues.json"
    store.flush()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent)])}
    proc = subprocess.run([sys.executable, str(CHILD), str(store.path), str(state_file)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9, proc.stderr  # killed, not a clean exit
    orders = journal_rows(store, "SELECT role, status FROM orders ORDER BY role")
    assert [(o["role"], o["status"]) for o in orders] == [("buy", "created"), ("sell", "created")]

    state = _load_state(state_file)
    assert len(state["alpha"]) == 1 and state["beta"] == {}  # the venue has the buy; the sell never left
    again = {name: ScriptedVenue(name, state=state[name]) for name in ("alpha", "beta")}
    ex = await started_executor(store, again)
    assert all(v.sent == [] for v in again.values())
    (trade,) = journal_rows(store, "SELECT * FROM trades")
    assert trade["status"] == "imbalanced" and D(trade["imbalance"]) == 1
    statuses = {o["role"]: o["status"] for o in journal_rows(store, "SELECT role, status FROM orders")}
    assert statuses == {"buy": "filled", "sell": "rejected"}
    assert_journal_consistent(store, again, trade["id"])
    assert not ex.kill.halted
