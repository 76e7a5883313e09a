"""What a run prints at its end: the route funnel, the feeds, and each strategy's summary read back from the journal.

``summarize(db, run_id, strategy, mode)`` reads a strategy's trades and balances of one run;
``format_summary`` draws one screen of it; ``print_summaries`` prints one per executor.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arbscan.config.settings import StrategyConfig

if TYPE_CHECKING:
    from arbscan.execution.executor import Executor

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
    """A strategy's results in one run, read from the journal; amounts are kept per asset, never added across.

    Base amounts (ordered, bought, sold, inventory) are per base asset; quote amounts (PnL, capital)
    per quote asset. ``start`` holds the journaled starting balances: a venue with none journaled has
    an unknown start, never 0; a venue with some holds 0 of an asset it did not list.
    """

    strategy: str
    run_id: int
    mode: str
    statuses: Counter[str] = field(default_factory=Counter)  # trades by final status
    missed_stream_end: int = 0  # of 'missed': still in flight when the stream ended
    planned: dict[str, Decimal] = field(default_factory=dict)  # base asset -> base ordered, both legs counted once
    bought: dict[str, Decimal] = field(default_factory=dict)
    sold: dict[str, Decimal] = field(default_factory=dict)
    inventory: dict[str, Decimal] = field(default_factory=dict)  # base asset -> sum of trades' imbalances
    expected: dict[str, Decimal] = field(default_factory=dict)  # quote asset -> expected profit at decision
    realised: dict[str, Decimal] = field(default_factory=dict)  # quote asset -> realised PnL after all fees
    capital: dict[str, Decimal] = field(default_factory=dict)  # quote asset -> spent on buy legs incl. fees
    largest: dict[str, Decimal] = field(default_factory=dict)  # quote asset -> largest buy leg incl. fee
    start: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (exchange, asset) -> amount
    final: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    traded: set[tuple[str, str]] = field(default_factory=set)  # (exchange, asset) the trades moved
    quote_held: dict[str, Decimal] = field(default_factory=dict)  # Q2 asset -> left by cross-quote trades
    quote_held_value: dict[str, Decimal] = field(default_factory=dict)  # Q1 asset -> that Q2 at the conversion books
    quote_unvalued: set[str] = field(default_factory=set)  # Q2 assets some of which could not be valued (at cost)

    @property
    def trades(self) -> int:
        """Trades in the run."""
        return sum(self.statuses.values())

    @property
    def filled(self) -> int:
        """Trades with both legs filled as planned."""
        return self.statuses["filled"]

    @property
    def partial(self) -> int:
        """Trades with both legs equal but short."""
        return self.statuses["partial"]

    @property
    def imbalanced(self) -> int:
        """Trades that left inventory."""
        return self.statuses["imbalanced"]

    @property
    def missed(self) -> int:
        """Trades where nothing filled."""
        return self.statuses["missed"]

    def fill_rate_of(self, base: str) -> Decimal | None:
        """Base filled over base ordered for one base asset, both legs (None when nothing was ordered)."""
        planned = self.planned.get(base, _ZERO)
        if not planned:
            return None
        return (self.bought.get(base, _ZERO) + self.sold.get(base, _ZERO)) / (2 * planned)

    @property
    def fill_rate(self) -> Decimal | None:
        """The fill rate when the strategy traded one base asset (None otherwise: rates are per asset)."""
        return self.fill_rate_of(next(iter(self.planned))) if len(self.planned) == 1 else None

    @property
    def realised_pnl(self) -> Decimal | None:
        """Realised PnL when the strategy traded against one quote asset (None otherwise)."""
        return next(iter(self.realised.values())) if len(self.realised) == 1 else None

    @property
    def capital_used(self) -> Decimal | None:
        """Quote spent on buy legs incl. fees when there is one quote asset (None otherwise)."""
        return next(iter(self.capital.values())) if len(self.capital) == 1 else None

    def start_of(self, exchange: str, asset: str) -> Decimal | None:
        """The starting amount, or None when it is unknown (nothing journaled for that venue at the start)."""
        if (exchange, asset) in self.start:
            return self.start[(exchange, asset)]
        if self.mode == "paper":  # the simulated venue holds exactly what the strategy listed: nothing else
            return _ZERO
        return _ZERO if any(ex == exchange for ex, _ in self.start) else None

    def drift(self) -> dict[str, Decimal | None]:
        """Final minus starting amount per asset over all venues (None where a start is unknown)."""
        out: dict[str, Decimal | None] = {asset: None for ex, asset in self.traded if self.start_of(ex, asset) is None}
        for (ex, asset), amount in self.final.items():
            begin = self.start_of(ex, asset)
            if begin is None or (asset in out and out[asset] is None):
                out[asset] = None
                continue
            out[asset] = out.get(asset, _ZERO) + amount - begin
        for (ex, asset), amount in self.start.items():
            if (ex, asset) not in self.final and out.get(asset, _ZERO) is not None:
                out[asset] = out.get(asset, _ZERO) - amount
        return out


def _dec(text: Any) -> Decimal:
    try:  # a journal another tool touched: a value that is not a finite decimal counts as 0
        value = Decimal(str(text)) if text not in (None, "") else _ZERO
    except ArithmeticError:
        return _ZERO
    return value if value.is_finite() else _ZERO


def _add(totals: dict[str, Decimal], asset: str, amount: Decimal) -> None:
    totals[asset] = totals.get(asset, _ZERO) + amount


def summarize(db: Any, run_id: int, strategy: str, mode: str = "paper") -> StrategySummary:
    """PnL, fill counts, fill rates, capital used, balances and inventory drift of ``strategy`` in ``run_id``.

    ``db`` is a sqlite-utils ``Database``, a ``sqlite3.Connection`` or a journal path (opened read-only).
    Flush the store first: rows still queued are not seen.
    """
    if isinstance(db, (str, Path)):
        from arbscan.journal.store import Store

        db = Store.open_readonly(db)
    execute = db.execute
    s = StrategySummary(strategy, run_id, mode)
    rows = execute(
        "SELECT status, symbol, buy_exchange, sell_exchange, planned_amount, buy_filled, sell_filled, expected_profit, "
        "realised_pnl, buy_cost, imbalance, detail FROM trades WHERE run_id = ? AND mode = ? AND strategy = ?", (run_id, mode, strategy),
    ).fetchall()
    for status, symbol, buy_ex, sell_ex, planned, bf, sf, expected, pnl, cost, imbalance, detail in rows:
        s.statuses[status] += 1
        if status == "missed" and detail and detail.startswith("stream_ended"):
            s.missed_stream_end += 1
        base, _, quote = str(symbol).partition("/")
        if _dec(bf) or _dec(sf):
            s.traded |= {(ex, a) for ex in (buy_ex, sell_ex) for a in (base, quote)}
        _add(s.planned, base, _dec(planned))
        _add(s.bought, base, _dec(bf))
        _add(s.sold, base, _dec(sf))
        _add(s.inventory, base, _dec(imbalance))
        _add(s.expected, quote, _dec(expected))
        _add(s.realised, quote, _dec(pnl))
        _add(s.capital, quote, _dec(cost))
        s.largest[quote] = max(s.largest.get(quote, _ZERO), _dec(cost))
    for symbol, sell_symbol, sell_ex, left, value in execute(  # cross-quote trades: the Q2 they left, valued
        "SELECT symbol, sell_symbol, sell_exchange, quote_imbalance, quote_imbalance_value FROM trades "
        "WHERE run_id = ? AND mode = ? AND strategy = ? AND sell_symbol IS NOT NULL", (run_id, mode, strategy),
    ).fetchall():
        q2 = str(sell_symbol).partition("/")[2]
        if _dec(left):
            s.traded.add((sell_ex, q2))
        _add(s.quote_held, q2, _dec(left))
        if value is None and _dec(left) > 0:
            s.quote_unvalued.add(q2)
        _add(s.quote_held_value, str(symbol).partition("/")[2], _dec(value))
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


def _n(d: Decimal) -> str:
    return f"{d.normalize():f}"


def _per_asset(values: dict[str, str]) -> str:
    """One figure as it is; several, each named by its asset."""
    if len(values) == 1:
        return next(iter(values.values()))
    return "; ".join(f"{asset} {text}" for asset, text in sorted(values.items()))


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
    more = "".join(f", {s.statuses[k]} {k}" for k in ("flattened", "failed", "unknown", "open") if s.statuses[k])
    lines.append(f"  trades {s.trades}: {s.filled} filled, {s.partial} partial, {s.imbalanced} imbalanced, {missed}{more}")
    rates = {}
    for base in s.planned:
        rate = s.fill_rate_of(base)
        rates[base] = (f"{'-' if rate is None else f'{rate * 100:.1f} %'} (ordered {_n(s.planned[base])}, "
                       f"bought {_n(s.bought[base])}, sold {_n(s.sold[base])})")
    lines.append(f"  fill rate {_per_asset(rates) if rates else '- (ordered 0, bought 0, sold 0)'}")
    pnl = {q: f"{_q(s.realised[q], '0.0001')} (expected at decision {_q(s.expected[q], '0.0001')})" for q in s.realised}
    lines.append(f"  PnL after fees {_per_asset(pnl) if pnl else '0.0000 (expected at decision 0.0000)'}")
    capital = {q: f"{_q(s.capital[q])} {q if len(s.capital) == 1 else ''}".rstrip() for q in s.capital}
    largest = {q: _q(s.largest[q]) for q in s.largest}
    if capital:
        lines.append(f"  capital used {_per_asset(capital)} on buy legs incl. fees (largest trade {_per_asset(largest)})")
    else:
        lines.append("  capital used 0.00 quote on buy legs incl. fees (largest trade 0.00)")
    if s.final:
        lines.append("  balances (start -> end):")
        for (ex, asset) in sorted(s.final):
            begin = s.start_of(ex, asset)
            lines.append(f"    {ex:<10} {asset:<6} {'unknown' if begin is None else _n(begin)} -> {_n(s.final[(ex, asset)])}")
    drift = {a: d for a, d in s.drift().items() if d is None or d}
    if drift:
        lines.append("  drift over all venues: " + ", ".join(
            f"{a} {'unknown (a starting balance is unknown)' if d is None else f'{d.normalize():+f}'}"
            for a, d in sorted(drift.items())))
    held = {a: v for a, v in s.quote_held.items() if v}
    if held:
        lines.append("  quote held by cross-quote trades: " + ", ".join(f"{v.normalize():f} {a}" for a, v in sorted(held.items()))
                     + ", valued " + ", ".join(f"{_q(v, '0.0001')} {a}" for a, v in sorted(s.quote_held_value.items()))
                     + " at the conversion books when they settled (counted in the PnL)"
                     + "".join(f"; some {a} not valued (no conversion book): carried at cost" for a in sorted(s.quote_unvalued)))
    left = {a: v for a, v in s.inventory.items() if v}
    if left:
        lines.append("  inventory left by uneven fills: " + ", ".join(f"{v.normalize():+f} {a}" for a, v in sorted(left.items())))
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


SUMMARY_TOP = 20
"""Routes and feeds listed one per line at the end of a run; the rest are totalled in one line."""


def _funnel_rank(f: Any) -> tuple:
    """Routes that matter first: live evaluations, then crossed before fees, then untrue or stale books."""
    return (-f.live, -f.crossed_before_fees, -(f.untrue_book + f.stale), f.symbol, f.buy_exchange, f.sell_exchange)


def print_funnel(scanner: Any, out: Any, top: int = SUMMARY_TOP) -> None:
    """The route funnel of a run: the ``top`` routes that mattered most, one per line, and the rest in one line."""
    funnels = list(scanner.funnels.values())
    if not funnels:
        print("no route had books on two venues", file=out)
        return
    head = ("route (buy -> sell)", "evaluated", "crossed", "max gross bps", "fee hurdle bps", "live", "episodes",
            "not crossed", "fees", "depth/min", "balance", "below min", "stale", "untrue book")
    blocked = scanner.require_transferable  # the column only counts when transferability is required
    if blocked:
        head = (*head, "transfer blocked")
    ranked = sorted(funnels, key=_funnel_rank)
    shown = [f for f in ranked[:top] if f.evaluated or f.stale or f.untrue_book]
    table = [head]
    for f in shown:
        table.append((
            f"{f.symbol} {f.buy_exchange} -> {f.sell_exchange}", str(f.evaluated), str(f.crossed_before_fees),
            _fmt_bps(f.max_gross_bps), _fmt_bps(_fee_hurdle_bps(scanner, f)), str(f.live), str(f.episodes), str(f.not_crossed), str(f.fees),
            str(f.depth_or_minimums), str(f.balance), str(f.below_min_bps), str(f.stale), str(f.untrue_book),
            *((str(f.transfer_blocked),) if blocked else ()),
        ))
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    for r in table:
        print("  " + "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)), file=out)
    rest = ranked[len(shown):]
    if rest:
        total = lambda name: sum(getattr(f, name) for f in rest)  # noqa: E731
        print(f"  ... and {len(rest):,} more route{'s' if len(rest) > 1 else ''}: {total('evaluated'):,} evaluations, "
              f"{total('crossed_before_fees'):,} crossed before fees, {total('live'):,} live, "
              f"{total('episodes'):,} episodes (arbscan report --all lists every route)", file=out)


def print_feeds(scanner: Any, out: Any, top: int = SUMMARY_TOP) -> None:
    """The book feeds: one line when they are alike, else the ``top`` worst (gaps, refusals) and a line for the rest."""
    feeds = sorted(scanner.feeds.values(), key=lambda f: (-f.gaps_over_max_age, -f.rejected, -f.max_gap_ms,
                                                           f.exchange, f.symbol))
    if not feeds:
        return
    troubled = [f for f in feeds if f.gaps_over_max_age or f.rejected]
    if len(feeds) > top and not troubled:
        events = [f.events for f in feeds]
        longest = max(f.max_gap_ms for f in feeds) / 1000
        print(f"  all {len(feeds):,} feeds: {min(events):,}-{max(events):,} book events each, longest gap {longest:.2f} s, "
              f"no gap over {feeds[0].max_book_age_ms} ms, nothing refused", file=out)
        return
    for f in feeds[:top]:
        untrue = f", {f.rejected} refused as untrue (not used)" if f.rejected else ""
        if getattr(f, "off_step", 0):
            untrue += f", {f.off_step} off the market's step (used as published)"
        print(f"  {f.exchange} {f.symbol}: {f.events} book events, longest gap {f.max_gap_ms / 1000:.2f} s, "
              f"{f.gaps_over_max_age} gaps over {f.max_book_age_ms} ms{untrue}", file=out)
    rest = feeds[top:]
    if rest:
        print(f"  ... and {len(rest):,} more feeds ({sum(1 for f in rest if f.gaps_over_max_age):,} with gaps over "
              f"{rest[0].max_book_age_ms} ms; arbscan report --all lists every feed)", file=out)


def fees_line(scanner: Any) -> str:
    """The taker fees, grouped: one figure when every market has it, else each venue's fee or range."""
    by_venue: dict[str, set[Decimal]] = {}
    for m in scanner.markets.values():
        by_venue.setdefault(m.exchange, set()).add(m.taker_fee)
    pct = lambda fee: f"{(fee * 100).normalize():f} %"  # noqa: E731
    every = {fee for fees in by_venue.values() for fee in fees}
    if len(every) == 1:
        (fee,) = every
        return f"{pct(fee)} on every market ({len(by_venue)} venue{'s' if len(by_venue) != 1 else ''})"
    parts = []
    for venue, fees in sorted(by_venue.items()):
        parts.append(f"{venue} {pct(min(fees))}" if len(fees) == 1 else f"{venue} {pct(min(fees))}-{pct(max(fees))}")
    return ", ".join(parts)
