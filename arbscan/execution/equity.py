"""The equity curve: a strategy's mark-to-market result (``arbscan.execution.valuation``) journaled as it runs.

:class:`EquityRecorder` keeps the strategy's :class:`~arbscan.execution.valuation.Positions` as its trades
settle and writes rows of table ``equity``: at the first event, after every settled trade, at most every
:data:`EQUITY_INTERVAL_S` of the executor's clock between them (the event clock in a replay, wall time
live) and when the stream ends, so a run that ends early still has its curve.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from arbscan.execution.journal import ExecutionJournal
from arbscan.execution.trades import Outcome, PairedTrade
from arbscan.execution.valuation import BookOf, Converter, Mark, Positions, mark
from arbscan.model import ZERO

__all__ = ["EquityRecorder", "EQUITY_INTERVAL_S", "equity_rows"]

EQUITY_INTERVAL_S = 60.0
"""Seconds of the executor's clock between two ``equity`` rows when no trade settles in between."""


def equity_rows(strategy: str, m: Mark, currency: str | None = None) -> list[dict[str, Any]]:
    """The ``equity`` rows of one mark: one per currency (total and unrealised None when something has no book);
    before any trade one row of zeros in ``currency``."""
    unvalued = "; ".join(m.unvalued) or None
    if not m.total:
        return [{"strategy": strategy, "ts": m.ts, "currency": currency, "realised": ZERO, "unrealised": ZERO,
                 "total": ZERO, "unvalued": unvalued}]
    return [{"strategy": strategy, "ts": m.ts, "currency": c, "realised": m.realised.get(c, ZERO),
             "unrealised": m.unrealised(c), "total": m.total[c], "unvalued": unvalued} for c in sorted(m.total)]


class EquityRecorder:
    """Journals one strategy's equity curve (see the module docstring)."""

    def __init__(self, strategy: str, journal: ExecutionJournal, book: BookOf, clock: Callable[[], float],
                 converter: Converter | None = None, venues: Callable[[], tuple[str, ...]] = tuple,
                 interval_s: float = EQUITY_INTERVAL_S, currency: Callable[[], str | None] = lambda: None) -> None:
        self.strategy = strategy
        self.journal = journal
        self.book = book
        self.clock = clock
        self.converter = converter
        self.venues = venues  # venues to value a holding at when its own has no book
        self.interval_s = interval_s
        self.currency = currency  # the strategy's quote before any trade names one
        self.positions = Positions()
        self.last: float | None = None
        self.latest: Mark | None = None

    def on_trade(self, trade: PairedTrade, outcome: Outcome, startup: bool) -> None:
        """Count a settled trade and journal the result after it (trades settled at start-up belong to an earlier run)."""
        if startup:
            return
        cash = sum((o.quote_flow for o in trade.orders), ZERO)
        self.positions.add(trade.opp.symbol, trade.opp.buy_exchange, trade.opp.sell_exchange, cash=cash,
                           realised=outcome.realised_pnl, imbalance=outcome.imbalance)
        self.record()

    def tick(self) -> bool:
        """An event: journal the result when none was written for ``interval_s`` (or none yet); True when it did."""
        now = self.clock()
        if self.last is None or now - self.last >= self.interval_s:
            self.record(now)
            return True
        return False

    def record(self, now: float | None = None) -> Mark:
        """Value the positions at the books now and journal it."""
        now = self.clock() if now is None else now
        m = mark(self.positions, self.book, now, self.converter, self.venues())
        self.journal.write_equity(equity_rows(self.strategy, m, self.converter.quote if self.converter else self.currency()))
        self.last, self.latest = now, m
        return m

    def total(self) -> Decimal | None:
        """The latest total when there is one currency (None otherwise or before any row)."""
        m = self.latest
        return next(iter(m.total.values())) if m is not None and len(m.total) == 1 else None
