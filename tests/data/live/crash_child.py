"""Child process for tests/test_live_recovery.py: places one paired trade and is SIGKILLed mid-way.

argv: JOURNAL_PATH STATE_FILE. The buy venue records the order (as a venue would) in STATE_FILE and
then the process kills itself before the answer is read; the sell venue is still waiting to send.
"""

import asyncio
import json
import os
import signal
import sys

from test_live_fakes import ScriptedVenue, live_config, opportunity

from arbscan.execution.journal import DurableJournal
from arbscan.execution.live import live_executor
from arbscan.model import OrderStatus
from arbscan.journal.store import Store

journal_path, state_file = sys.argv[1], sys.argv[2]


def save(venues):
    data = {
        name: {cid: {"symbol": o.symbol, "status": o.status.value, "filled": str(o.filled),
                     "avg_price": None if o.avg_price is None else str(o.avg_price), "fee": str(o.fee),
                     "id": o.exchange_order_id} for cid, o in v.orders.items()}
        for name, v in venues.items()
    }
    with open(state_file, "w") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())


class KilledAfterSend(ScriptedVenue):
    async def place_order(self, req):
        self.sent.append(req)
        self._record(req, OrderStatus.FILLED, req.amount)
        save(VENUES)
        os.kill(os.getpid(), signal.SIGKILL)


class SlowToSend(ScriptedVenue):
    async def place_order(self, req):
        await asyncio.sleep(30)  # never gets there
        return await super().place_order(req)


VENUES = {"alpha": KilledAfterSend("alpha"), "beta": SlowToSend("beta")}


async def main():
    store = Store(journal_path)
    store.start_run("scan")
    ex = live_executor(VENUES, DurableJournal.for_store(store), live_config(), poll_interval_s=0.01)
    await ex.start()
    await ex.execute(opportunity())


asyncio.run(main())
