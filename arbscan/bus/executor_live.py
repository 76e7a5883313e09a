"""``arbscan execute --bus URL --strategy NAME --live``: the live executor on the bus, and its kill switch.

Live trading keeps its durability rules on the bus:

* :class:`MirroredJournal` commits every write to this host's own journal (``--db``: start-up
  reconciliation and the risk limits read it, as on one host) and sends the same rows to the journal
  stream at once, so the deployment's journal has them too;
* :class:`BusKillSwitch` is read immediately before every order, as the kill switch always is. Beyond
  the halts of the local journal it says "halted" while this process **cannot journal**: NATS is
  unreachable, or has not stored the rows already sent (the order's intent among them) within
  ``STORE_WAIT_S``. A halt it raises goes to the bucket ``arbscan_halts`` too, so every process sees it;
  a halt found in the bucket halts it; and once ``arbscan resume`` has emptied the bucket, it clears its
  own journal's halts and trades again (after reconciling, as after any resume).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable, Sequence
from typing import Any

from arbscan.bus.connection import Bus
from arbscan.bus.halts import read_halts, write_halt
from arbscan.bus.outbox import BusOutbox
from arbscan.config.settings import Settings
from arbscan.errors import BadInput, ConfigError
from arbscan.execution.journal import BatchedJournal, DurableJournal
from arbscan.parallel.remote_store import RemoteStore
from arbscan.execution.risk import KillSwitch

__all__ = ["MirroredJournal", "BusKillSwitch", "run_live_executor", "STORE_WAIT_S"]

logger = logging.getLogger(__name__)

STORE_WAIT_S = 2.0
"""How long an order waits for NATS to store the rows before it (its intent) before it is not sent."""


class MirroredJournal(DurableJournal):
    """Live trading's journal on the bus: committed here (each call one transaction) and sent to the journal stream."""

    def __init__(self, path: str, run_id: int | None, remote: RemoteStore) -> None:
        super().__init__(path, run_id, "live")
        self.remote = remote
        self.mirror = BatchedJournal(remote, "live", remote.run_id)

    def write(self, **rows: Any) -> None:
        """Commit here, then send the same rows to the journal stream (see ``DurableJournal.write``)."""
        super().write(**rows)
        self.mirror.write(**rows)
        self.remote.send()

    def write_balances(self, rows: Any) -> None:
        """Commit here, then send the rows."""
        rows = list(rows)
        super().write_balances(rows)
        self.mirror.write_balances(rows)
        self.remote.send()

    def set_halt(self, reason: str, ts: float) -> int:
        """Commit the halt here and send it to the deployment's journal; returns its id here."""
        hid = super().set_halt(reason, ts)
        self.remote.submit("halts", {"set_at": ts, "reason": reason})
        self.remote.send()
        return hid


class BusKillSwitch(KillSwitch):
    """The kill switch of a live executor on the bus (see the module docstring)."""

    def __init__(self, journal: MirroredJournal, bus: Bus, outbox: BusOutbox, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic, store_wait_s: float = STORE_WAIT_S) -> None:
        super().__init__(journal, clock, monotonic)
        self.bus = bus
        self.outbox = outbox
        self.store_wait_s = store_wait_s
        self.on_bus: list[dict[str, Any]] = []  # the bucket's halts at the last look
        self.looked = False  # the bucket was read since the last halt this process put
        self.unsent: list[tuple[str, float]] = []  # halts raised here that the bucket does not have yet
        self._sent_reasons: set[str] = set()
        self._task = bus.submit(self._watch())

    async def _watch(self) -> None:
        """Every second: put the halts not in the bucket yet, then read the bucket."""
        while True:
            if self.bus.connected.is_set() and self.bus.kv:
                try:
                    while self.unsent:
                        reason, ts = self.unsent[0]
                        await write_halt(self.bus, reason, ts)
                        self.unsent.pop(0)
                    self.on_bus = await read_halts(self.bus)
                    self.looked = not self.unsent
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - looked at again in a second
                    logger.debug("halts bucket not read: %s", exc)
            await asyncio.sleep(1.0)

    def stop(self) -> None:
        """Stop watching the bucket."""
        self._task.cancel()

    def _cannot_journal(self) -> str | None:
        if not self.bus.connected.is_set():
            return f"cannot journal: NATS at {self.bus.url} is unreachable"
        if not self.outbox.wait_stored(self.store_wait_s):
            return f"cannot journal: NATS at {self.bus.url} has not stored the last rows in {self.store_wait_s:g} s"
        return None

    def _from_bus(self) -> None:
        """A halt in the bucket this process does not have yet halts it (told as one loaded from elsewhere)."""
        if self.reason is None and self.on_bus:
            h = self.on_bus[0]
            self.reason = f"halted on the bus ({h.get('host', '?')}): {h.get('reason')}"
            logger.error("trading halted by a halt on the bus: %s", h.get("reason"))
            self._tell("loaded", self.reason)

    @property
    def halted(self) -> bool:
        """A halt here or on the bus, refused keys, or no way to journal."""
        self._from_bus()
        return super().halted or self._cannot_journal() is not None

    def why(self) -> str | None:
        """The reason no order may go now (None: it may)."""
        self._from_bus()
        return super().why() or self._cannot_journal()

    def halt(self, reason: str) -> None:
        """Halt here (the journal) and on the bus (the bucket; put when NATS is back if it is away now)."""
        super().halt(reason)
        if reason not in self._sent_reasons:
            self._sent_reasons.add(reason)
            self.unsent.append((reason, self.clock()))
            self.looked = False

    def cleared(self) -> bool:
        """Cleared once the bucket is empty (``arbscan resume``): this host's journal's halts are cleared too."""
        if not self._look_due() or not self.looked or self.on_bus or self.unsent:
            return False
        if self.journal.active_halts():
            self.journal.clear_halts("arbscan resume (on the bus)", self.clock())
        if self._take_resume():
            self._sent_reasons.clear()
            return True
        return False


async def run_live_executor(settings: Settings, strategies: Sequence[str], *, validate_orders: bool,
                            say: Callable[[str], None], shards: frozenset[int] | None = None) -> int:
    """``execute --live``: one strategy, traded for real on the routes of the bus until Ctrl-C / SIGTERM."""
    from adapters.base import load_credentials  # noqa: F401 - the credentials check lives with the adapters

    from arbscan.parts import build_adapters, settings_summary
    from arbscan.bus.executor_proc import BusExecutor
    from arbscan.execution.live import live_executor, require_credentials
    from arbscan.journal.store import Store
    from arbscan.funding.transfers import RouteTransfers

    if len(strategies) != 1:
        raise BadInput("--live runs one strategy: name a single --strategy")
    strategy = settings.strategy(strategies[0])
    venues = [v.exchange for v in settings.venues if not strategy.venues or v.exchange in strategy.venues]
    if len(venues) < 2:
        raise ConfigError(f"strategies: {strategy.name!r} needs at least two configured venues to trade")
    require_credentials(venues)
    validate = validate_orders or settings.live.validate_orders
    store = Store(settings.scanner.db)  # this host's journal: intents before sends, start-up reconciliation
    store.start_run("execute", settings.bus.url, settings_summary(settings, live=True, strategy=strategy.name))
    adapters = build_adapters(settings, validate_orders=validate)
    bus = Bus(settings.bus, "executor", say).start()
    live: list[Any] = []
    switches: list[BusKillSwitch] = []

    def make(journal: RemoteStore, markets: Any, funding: Any, fallback: Any) -> list[Any]:
        if live:
            say("arbscan: executor: a second run on the bus is not traded: --live trades one run at a time")
            return []
        mirrored = MirroredJournal(str(settings.scanner.db), store.run_id, journal)
        kill = BusKillSwitch(mirrored, bus, journal.outbox)
        switches.append(kill)
        ex = live_executor({v: adapters[v] for v in venues}, mirrored, settings.live, strategy, markets=markets,
                           validate_only=validate, check_permissions=True, fee_overrides=settings.fee_overrides(),
                           symbols=strategy.symbols or settings.scanner.symbols,
                           transfers=RouteTransfers(funding, markets), kill=kill)
        live.append(ex)
        return [ex]

    executor = BusExecutor(bus, settings, [strategy.name], make, say, shards=shards)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logger.warning("LIVE trading with strategy %r on %s over the bus%s", strategy.name, ", ".join(venues),
                   " (validate only)" if validate else "")
    await executor.follow(f"arbscan: executor: LIVE trading {strategy.name} on the routes at {settings.bus.url}", stop)
    outcome = "error"
    try:
        while not stop.is_set() and not executor.lost:
            for seq, data in await executor.next_messages(0.1):
                executor.handle(seq, data)
            executor.tick()
        outcome = "interrupted"
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        for ex in live:  # a trade in flight settles first (bounded by its deadlines)
            await ex.close()
        for kill in switches:
            kill.stop()
        if not await loop.run_in_executor(None, executor.close, 30.0):
            say("arbscan: executor: NATS did not store every row in 30 s; this host's journal has them")
        bus.close()
        for adapter in adapters.values():
            try:
                await asyncio.wait_for(adapter.close(), 2.0)
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
        store.end_run("ok" if outcome == "interrupted" else outcome)
        store.close()
    return 1 if executor.lost else 0
