"""What a run prints at its end: the route funnel, the feeds, and each strategy's summary read back from the journal.

``summarize(db, run_id, strategy, mode)`` reads a strategy's trades and balances of one run;
``format_summary`` draws one screen of it; ``print_summaries`` prints one per executor.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arbscan.config import StrategyConfig

if TYPE_CHECKING:
    from arbscan.executor import Executor

__all__ = ["StrategySummary", "summarize", "format_summary", "print_summaries", "print_funnel", "print_feeds", "fees_line"]

_ZERO = Decimal(0)


def print_summaries(executors: Iterable[Executor], db: Any, run_id: int | None, out: Any) -> None:
    """Print the one-screen summary of every executor (paper or live), after the store is closed."""
    if run_id is None:
        return
    for ex in executors:
        print(format_summary(summarize(db, run_id, ex.name, ex.mode), ex.strategy), file=out)
        why = ", ".join(f"{reason} {n}" for reason, n in sorted(ex.skips.items())) or "none"
        print(f"  live routes seen {ex.taken + sum(ex.skips.values())}: taken {ex.taken}; skipped: {why}", file=out)


# -- reading results back from the journal -----------------------------------------------------


@dataclass(slots=True)
class StrategySummary:
    """A strategy's results in one run, read from the journal."""

    strategy: str
    run_id: int
    mode: str
    trades: int = 0
    filled: int = 0
    partial: int = 0
    imbalanced: int = 0
    missed: int = 0
    missed_stream_end: int = 0  # of ``missed``: still in flight when the stream ended
    planned: Decimal = _ZERO  # base, both legs counted once
    buy_filled: Decimal = _ZERO
    sell_filled: Decimal = _ZERO
    expected_profit: Decimal = _ZERO
    realised_pnl: Decimal = _ZERO  # matched amounts, after all fees
    capital_used: Decimal = _ZERO  # quote spent on buy legs incl. fees (turnover)
    max_trade_cost: Decimal = _ZERO  # largest single buy leg incl. fee
    imbalance: Decimal = _ZERO  # sum of trades' imbalances (base)
    start: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (exchange, asset) -> amount
    final: dict[tuple[str, str], Decimal] = field(default_factory=dict)

    @property
    def fill_rate(self) -> Decimal | None:
        """Base filled over base ordered, both legs (None without trades)."""
        if not self.planned:
            return None
        return (self.buy_filled + self.sell_filled) / (2 * self.planned)

    def drift(self) -> dict[str, Decimal]:
        """Final minus starting amount per asset, summed over venues: base drift is inventory, quote drift is cash PnL."""
        out: dict[str, Decimal] = {}
        for (ex, asset), amount in self.final.items():
            out[asset] = out.get(asset, _ZERO) + amount
        for (ex, asset), amount in self.start.items():
            out[asset] = out.get(asset, _ZERO) - amount
        return out


def _dec(text: Any) -> Decimal:
    return Decimal(text) if text not in (None, "") else _ZERO


def summarize(db: Any, run_id: int, strategy: str, mode: str = "paper") -> StrategySummary:
    """PnL, fill counts, fill rate, capital used, balances and inventory drift of ``strategy`` in ``run_id``.

    ``db`` is a sqlite-utils ``Database``, a ``sqlite3.Connection`` or a journal path (opened read-only).
    Flush the store first: rows still queued are not seen.
    """
    if isinstance(db, (str, Path)):
        from arbscan.store import Store

        db = Store.open_readonly(db)
    execute = db.execute
    s = StrategySummary(strategy, run_id, mode)
    rows = execute(
        "SELECT status, planned_amount, buy_filled, sell_filled, expected_profit, realised_pnl, buy_cost, imbalance, detail "
        "FROM trades WHERE run_id = ? AND mode = ? AND strategy = ?", (run_id, mode, strategy),
    ).fetchall()
    for status, planned, bf, sf, expected, pnl, cost, imbalance, detail in rows:
        s.trades += 1
        if status in ("filled", "partial", "imbalanced", "missed"):
            setattr(s, status, getattr(s, status) + 1)
        if status == "missed" and detail and detail.startswith("stream_ended"):
            s.missed_stream_end += 1
        s.planned += _dec(planned)
        s.buy_filled += _dec(bf)
        s.sell_filled += _dec(sf)
        s.expected_profit += _dec(expected)
        s.realised_pnl += _dec(pnl)
        c = _dec(cost)
        s.capital_used += c
        s.max_trade_cost = max(s.max_trade_cost, c)
        s.imbalance += _dec(imbalance)
    for ex, asset, free, trade_id in execute(
        "SELECT exchange, asset, free, trade_id FROM balances WHERE run_id = ? AND mode = ? AND strategy = ? ORDER BY id",
        (run_id, mode, strategy),
    ).fetchall():
        if trade_id is None and (ex, asset) not in s.start:
            s.start[(ex, asset)] = _dec(free)
        s.final[(ex, asset)] = _dec(free)
    return s


def _q(d: Decimal, places: str = "0.01") -> str:
    return f"{d.quantize(Decimal(places)):,}" if d.is_finite() else str(d)


def format_summary(s: StrategySummary, strategy: StrategyConfig | None = None) -> str:
    """A one-screen text summary of one strategy's run."""
    lines = []
    head = f"strategy {s.strategy} ({s.mode}, run {s.run_id})"
    if strategy is not None:
        head += (f": latency {strategy.latency_ms} ms, min {strategy.min_net_bps} bps, min profit {strategy.min_profit}, "
                 f"max notional {strategy.max_notional if strategy.max_notional is not None else 'none'}, "
                 f"cooldown {strategy.cooldown_ms} ms")
    lines.append(head)
    missed = f"{s.missed} missed" + (f" ({s.missed_stream_end} because the stream ended)" if s.missed_stream_end else "")
    lines.append(f"  trades {s.trades}: {s.filled} filled, {s.partial} partial, {s.imbalanced} imbalanced, {missed}")
    rate = s.fill_rate
    lines.append(f"  fill rate {'-' if rate is None else f'{rate * 100:.1f} %'} "
                 f"(ordered {s.planned.normalize():f}, bought {s.buy_filled.normalize():f}, sold {s.sell_filled.normalize():f})")
    lines.append(f"  PnL after fees {_q(s.realised_pnl, '0.0001')} (expected at decision {_q(s.expected_profit, '0.0001')})")
    lines.append(f"  capital used {_q(s.capital_used)} quote on buy legs incl. fees (largest trade {_q(s.max_trade_cost)})")
    if s.final:
        lines.append("  balances (start -> end):")
        for (ex, asset) in sorted(s.final):
            start = s.start.get((ex, asset), _ZERO)
            lines.append(f"    {ex:<10} {asset:<6} {start.normalize():f} -> {s.final[(ex, asset)].normalize():f}")
    drift = {a: d for a, d in s.drift().items() if d}
    if drift:
        lines.append("  drift over all venues: " + ", ".join(f"{a} {d.normalize():+f}" for a, d in sorted(drift.items())))
    if s.imbalance:
        lines.append(f"  inventory from uneven fills: {s.imbalance.normalize():+f} base (kept, not flattened)")
    return "\n".join(lines)


# -- the scanner's figures -------------------------------------------------------------------


def _fmt_bps(d: Decimal | None) -> str:
    """Basis points to 0.01 at any magnitude (``format`` rounds without the context's 28-digit limit)."""
    return "-" if d is None else format(d, ".2f")


def _fee_hurdle_bps(scanner: Any, f: Any) -> Decimal | None:
    """The premium (bid over ask, in bps) at which a route breaks even after both taker fees."""
    buy = scanner.markets.get((f.buy_exchange, f.symbol))
    sell = scanner.markets.get((f.sell_exchange, f.symbol))
    if buy is None or sell is None:
        return None
    return Decimal(10000) * ((1 + buy.taker_fee) / (1 - sell.taker_fee) - 1)


def print_funnel(scanner: Any, out: Any) -> None:
    """The route funnel of a run as a table: evaluations, crosses, premiums, fee hurdles, why not live."""
    rows = sorted(scanner.funnels.values(), key=lambda f: (f.symbol, f.buy_exchange, f.sell_exchange))
    if not rows:
        print("no route had books on two venues", file=out)
        return
    head = ("route (buy -> sell)", "evaluated", "crossed", "max gross bps", "fee hurdle bps", "live", "episodes",
            "not crossed", "fees", "depth/min", "balance", "below min", "stale", "untrue book")
    table = [head]
    for f in rows:
        table.append((
            f"{f.symbol} {f.buy_exchange} -> {f.sell_exchange}", str(f.evaluated), str(f.crossed_before_fees),
            _fmt_bps(f.max_gross_bps), _fmt_bps(_fee_hurdle_bps(scanner, f)), str(f.live), str(f.episodes), str(f.not_crossed), str(f.fees),
            str(f.depth_or_minimums), str(f.balance), str(f.below_min_bps), str(f.stale), str(f.untrue_book),
        ))
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    for r in table:
        print("  " + "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)), file=out)


def print_feeds(scanner: Any, out: Any) -> None:
    """One line per book feed: events, the longest gap, gaps over max_book_age_ms, updates refused as untrue."""
    for f in sorted(scanner.feeds.values(), key=lambda f: (f.exchange, f.symbol)):
        untrue = f", {f.rejected} refused as untrue (not used)" if f.rejected else ""
        print(f"  {f.exchange} {f.symbol}: {f.events} book events, longest gap {f.max_gap_ms / 1000:.2f} s, "
              f"{f.gaps_over_max_age} gaps over {f.max_book_age_ms} ms{untrue}", file=out)


def fees_line(scanner: Any) -> str:
    """The taker fee of every market, on one line."""
    fees = sorted({(m.exchange, m.symbol, m.taker_fee) for m in scanner.markets.values()})
    return ", ".join(f"{ex} {sym} {(fee * 100).normalize():f} %" for ex, sym, fee in fees)
