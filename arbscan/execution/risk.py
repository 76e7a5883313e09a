"""Risk limits and the kill switch: what may be traded, and when trading stops until a person looks.

* :class:`RiskLimits` (live): before a trade, notional per trade (the plan is cut to fit), open
  exposure per asset, orders per minute per venue; after one, consecutive failures and the daily
  realised loss, which halt. Pure: no I/O, times come in as arguments.
* :class:`NoLimits` (paper): none of that.
* :class:`KillSwitch`: the halt itself. Live halts are rows of ``halts`` in the journal and survive
  restarts until ``arbscan resume`` (:func:`resume`) clears them; paper halts (an illegal order move)
  live in memory for the run.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from arbscan.config.settings import LiveConfig
from arbscan.execution.journal import DurableJournal
from arbscan.model import ZERO, Market, Opportunity
from arbscan.execution.trades import Outcome, PairedTrade, floor_to

__all__ = ["RiskLimits", "NoLimits", "KillSwitch", "resume", "day_start"]

logger = logging.getLogger(__name__)

HALT_POLL_S = 5.0
"""How often a halted live executor looks whether ``arbscan resume`` cleared the halt."""


def day_start(ts: float) -> float:
    """UTC midnight at or before ``ts``."""
    return ts - (ts % 86400.0)


@dataclass(slots=True)
class RiskLimits:
    """The limits of ``LiveConfig`` over the running figures of one live executor; no I/O."""

    config: LiveConfig
    sent: dict[str, deque[float]] = field(default_factory=dict)  # venue -> monotonic send times, last minute
    inventory: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (symbol, buy venue) -> kept base
    realised_today: Decimal = ZERO
    day: float = 0.0
    consecutive_failures: int = 0

    def orders_last_minute(self, venue: str, now: float) -> int:
        """Orders sent to ``venue`` in the 60 s before ``now`` (monotonic)."""
        q = self.sent.setdefault(venue, deque())
        while q and q[0] <= now - 60.0:
            q.popleft()
        return len(q)

    def record_order(self, venue: str, now: float) -> None:
        """Count one order sent to ``venue`` at ``now`` (monotonic)."""
        self.sent.setdefault(venue, deque()).append(now)

    def exposure(self, base: str) -> Decimal:
        """Absolute base of ``base`` held as kept inventory, summed over trades (signed sum, then abs)."""
        return abs(sum((v for (sym, _), v in self.inventory.items() if sym.partition("/")[0] == base), ZERO))

    def refuse(self, opp: Opportunity, now: float, venues: Iterable[str] | None = None) -> str | None:
        """Why ``opp`` may not be traded now (None: it may): notional, exposure or order rate.

        ``venues``: where the trade sends orders (default its two legs'; a cross-quote trade that
        converts each trade adds the conversion's venue).
        """
        cfg = self.config
        notional = opp.amount * opp.buy_limit
        if notional > cfg.max_notional_per_trade:
            return f"notional {notional} above max_notional_per_trade {cfg.max_notional_per_trade}"
        base = opp.symbol.partition("/")[0]
        cap = cfg.max_exposure.get(base)
        if cap is not None:
            worst = self.exposure(base) + opp.amount
            if worst > cap:
                return f"{base} exposure could reach {worst}, above max_exposure {cap}"
        for venue in dict.fromkeys(venues if venues is not None else (opp.buy_exchange, opp.sell_exchange)):
            if self.orders_last_minute(venue, now) + 1 > cfg.max_orders_per_minute:
                return f"{venue}: max_orders_per_minute {cfg.max_orders_per_minute} reached"
        return None

    def fit(self, opp: Opportunity, buy_market: Market, sell_market: Market) -> Opportunity | None:
        """``opp`` cut so its worst case (amount x ``buy_limit``) fits ``max_notional_per_trade``.

        The strategy sizes by the average price it expects; the IOC may fill up to ``buy_limit``. The
        amount is rounded down to the coarser amount step and the expected figures scaled with it.
        None when what is left is below either venue's minimums.
        """
        cap = self.config.max_notional_per_trade
        if opp.amount * opp.buy_limit <= cap:
            return opp
        step = max(buy_market.amount_step, sell_market.amount_step)
        amount = floor_to(cap / opp.buy_limit, step)
        if amount <= 0 or amount < buy_market.min_amount or amount < sell_market.min_amount \
                or amount * opp.buy_vwap < buy_market.min_cost or amount * opp.sell_vwap < sell_market.min_cost:
            return None
        k = amount / opp.amount
        return replace(opp, amount=amount, buy_cost=opp.buy_cost * k, sell_proceeds=opp.sell_proceeds * k,
                       net_profit=opp.net_profit * k, buy_fee=opp.buy_fee * k, sell_fee=opp.sell_fee * k)

    def fit_cross(self, opp: Any, resize: Callable[[Decimal], Any]) -> Any:
        """A cross-quote plan whose worst case (amount x ``buy_limit``) fits ``max_notional_per_trade``, or None.

        Its three books are re-walked, not scaled: ``resize(notional)`` sizes the trade again with the
        buy notional capped at ``notional``, aimed at the cap through the plan's VWAP-to-limit ratio
        (at most three tries).
        """
        cap = self.config.max_notional_per_trade
        for _ in range(3):
            if opp is None or opp.amount * opp.buy_limit <= cap:
                return opp
            opp = resize(cap * opp.buy_vwap / opp.buy_limit)
        return opp if opp is not None and opp.amount * opp.buy_limit <= cap else None

    def start_day(self, now: float, realised_today: Decimal, inventory: dict[tuple[str, str], Decimal]) -> None:
        """Take today's realised PnL and the kept inventory from the journal (start-up)."""
        self.day, self.realised_today, self.inventory = day_start(now), realised_today, inventory

    def loss_reason(self) -> str | None:
        """A halt reason when today's realised loss reached ``daily_loss_limit``."""
        if self.realised_today <= -self.config.daily_loss_limit:
            return f"daily realised loss {-self.realised_today} reached daily_loss_limit {self.config.daily_loss_limit}"
        return None

    def after_trade(self, trade: PairedTrade, outcome: Outcome, startup: bool, now: float) -> str | None:
        """Count a settled trade (inventory, today's PnL, failures); a halt reason when a limit is reached."""
        if outcome.imbalance != 0:
            key = (trade.opp.symbol, trade.opp.buy_exchange)
            self.inventory[key] = self.inventory.get(key, ZERO) + outcome.imbalance
        if day_start(now) != self.day:
            self.day, self.realised_today = day_start(now), ZERO
        if outcome.status != "unknown":
            self.realised_today += outcome.realised_pnl
        if not startup:  # failures count for trades this run placed, not for old ones settled at start-up
            self.consecutive_failures = self.consecutive_failures + 1 if outcome.failed else 0
        if self.consecutive_failures >= self.config.max_consecutive_failures:
            return f"{self.consecutive_failures} consecutive failed trades"
        return self.loss_reason()


class NoLimits:
    """Paper trading's limits: none (the strategy's own rules and balances are the only bounds)."""

    consecutive_failures = 0

    def refuse(self, opp: Opportunity, now: float, venues: Iterable[str] | None = None) -> str | None:
        """Never refuses."""
        return None

    def fit(self, opp: Opportunity, buy_market: Market, sell_market: Market) -> Opportunity:
        """``opp`` unchanged."""
        return opp

    def fit_cross(self, opp: Any, resize: Callable[[Decimal], Any]) -> Any:
        """``opp`` unchanged."""
        return opp

    def record_order(self, venue: str, now: float) -> None:
        """Nothing to count."""

    def after_trade(self, trade: PairedTrade, outcome: Outcome, startup: bool, now: float) -> None:
        """Nothing halts."""
        return None


class KillSwitch:
    """The halt: set by a limit, an authentication error or an illegal order move; see the module docstring.

    ``journal`` (live) persists halts; None (paper) keeps them in memory. ``refused`` is separate: the
    keys were refused at start-up (they can withdraw), which no ``resume`` can fix. ``listeners`` (the
    alert hub) are told ``(event, reason)``: 'raised' for a new halt, 'loaded' for one an earlier run
    set, 'cleared' when a resume is noticed.
    """

    def __init__(self, journal: DurableJournal | None = None, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.journal = journal
        self.clock = clock
        self.monotonic = monotonic
        self.reason: str | None = None
        self.refused: str | None = None
        self._checked = -HALT_POLL_S
        self.listeners: list[Callable[[str, str], None]] = []

    @property
    def halted(self) -> bool:
        """True while a halt is set or the keys were refused."""
        return self.reason is not None or self.refused is not None

    def why(self) -> str | None:
        """The reason trading is halted, or None."""
        return self.reason or self.refused

    def halt(self, reason: str) -> None:
        """Set the kill switch (persisted live); no order is sent until it is cleared."""
        first = self.reason is None
        if first:
            self.reason = reason
        if self.journal is None:
            logger.error("TRADING HALTED: %s", reason)
            if first:
                self._tell("raised", reason)
            return
        if any(h["reason"] == reason for h in self.journal.active_halts()):
            return
        self.journal.set_halt(reason, self.clock())
        logger.error("TRADING HALTED: %s (run 'arbscan resume' after checking the venues)", reason)
        self._tell("raised", reason)

    def _tell(self, event: str, reason: str) -> None:
        for listener in self.listeners:
            try:
                listener(event, reason)
            except Exception:  # noqa: BLE001 - telling someone must never undo or hide the halt
                logger.exception("kill switch listener failed")

    def load(self) -> None:
        """Take a halt set by an earlier run (start-up)."""
        halts = self.journal.active_halts() if self.journal is not None else []
        if halts:
            self.reason = halts[0]["reason"]
            logger.error("trading is halted since an earlier run: %s (run 'arbscan resume')", self.reason)
            self._tell("loaded", self.reason)

    def cleared(self) -> bool:
        """Every few seconds while halted, look whether ``arbscan resume`` cleared the halt (True once it has)."""
        return self._look_due() and self._take_resume()

    def _look_due(self) -> bool:
        """Halted, with a journal, and the last look ``HALT_POLL_S`` ago: look now (counted as looked)."""
        if self.reason is None or self.journal is None:
            return False
        now = self.monotonic()
        if now - self._checked < HALT_POLL_S:
            return False
        self._checked = now
        return True

    def _take_resume(self) -> bool:
        """The journal has no active halt: the halt is over (listeners told); True when it was."""
        if self.journal.active_halts():
            return False
        reason, self.reason = self.reason, None
        self._tell("cleared", reason)
        return True


def resume(db_path: str, by: str = "cli", clock: Callable[[], float] = time.time,
           inventory_handled: bool = False) -> list[dict[str, Any]]:
    """Clear every active halt in the journal at ``db_path`` (``arbscan resume``); returns the halts cleared.

    ``inventory_handled``: the user has dealt with the inventory kept from uneven fills, so it stops
    counting toward ``live.max_exposure`` (those trades' ``imbalance_action`` becomes 'handled').
    """
    from arbscan.journal.file import check_journal
    from arbscan.journal.store import Store

    check_journal(db_path, write=False)  # a journal that is not there is not created by resuming
    store = Store(db_path)  # migrates the file so the halts table exists
    try:
        journal = DurableJournal(db_path, None)
        try:
            active = journal.active_halts()
            journal.clear_halts(by, clock())
            if inventory_handled:
                journal.mark_inventory_handled(by)
        finally:
            journal.close()
    finally:
        store.close()
    return active

