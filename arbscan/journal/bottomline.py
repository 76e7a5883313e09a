"""The bottom line: is a strategy making money? One figure set per strategy, read from the journal.

Every figure follows the one mark-to-market rule of ``arbscan.execution.valuation``, as journaled in table
``equity`` while the strategy ran (its last row is the result where the run stopped):

* ``total``: realised + unrealised after every fee, inventory valued at the books (None: something held had
  no book, named in ``unvalued``); ``realised`` / ``unrealised`` its two parts;
* ``trades``: trades that filled anything; ``wins``: those with a realised PnL above 0; ``win_rate``;
* ``max_drawdown``: the largest fall of the total from an earlier peak of the curve (the curve starts at 0);
* ``per_day``: the change of the total over each UTC day (the last total of the day minus the day before's);
* ``turnover``: quote spent on buy legs incl. fees (what earlier summaries called "capital used");
* ``fees``: fees paid on every order (the orders' ``fee``, in the quote).

:func:`bottom_lines` returns plain :class:`BottomLine` values (the web view shows them as they are);
:func:`premium_headline` is the scanner's: per route, the best gross premium seen against its fee hurdle.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

__all__ = ["BottomLine", "RoutePremium", "bottom_lines", "bottom_line_of", "premium_headline", "drawdown", "per_utc_day"]

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class BottomLine:
    """One strategy's bottom line in one run and currency (see the module docstring)."""

    strategy: str
    mode: str
    run_id: int | None
    currency: str | None
    total: Decimal | None
    realised: Decimal
    unrealised: Decimal | None
    fees: Decimal
    trades: int
    wins: int
    max_drawdown: Decimal
    turnover: Decimal
    per_day: tuple[tuple[str, Decimal], ...] = ()  # ('2019-04-01', change of the total that UTC day)
    curve: tuple[tuple[float, Decimal | None, Decimal, Decimal | None], ...] = ()  # (ts, total, realised, unrealised)
    unvalued: tuple[str, ...] = ()
    as_of: float | None = None  # time of the last equity row

    @property
    def win_rate(self) -> Decimal | None:
        """Wins over trades (None when nothing traded)."""
        return Decimal(self.wins) / self.trades if self.trades else None


@dataclass(frozen=True, slots=True)
class RoutePremium:
    """A route's best gross premium (best bid over best ask, fees ignored) against its fee hurdle, in bps."""

    symbol: str
    buy_exchange: str
    sell_exchange: str
    max_gross_bps: Decimal
    fee_hurdle_bps: Decimal | None

    @property
    def margin_bps(self) -> Decimal | None:
        """Gross minus hurdle: what was left after fees at the best moment (negative: fees ate it)."""
        return None if self.fee_hurdle_bps is None else self.max_gross_bps - self.fee_hurdle_bps


def _dec(text: Any) -> Decimal | None:
    if text is None or text == "":
        return None
    try:
        value = Decimal(str(text))
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def _ts(value: Any) -> float | None:
    try:
        t = float(value)
    except (TypeError, ValueError):
        return None
    return t if t == t and abs(t) < 253402300800 else None  # finite, before the year 10000


def drawdown(totals: Iterable[Decimal | None]) -> Decimal:
    """The largest fall from an earlier peak, the curve starting at 0 (unknown totals skipped)."""
    peak = worst = _ZERO
    for total in totals:
        if total is None:
            continue
        peak = max(peak, total)
        worst = max(worst, peak - total)
    return worst


def per_utc_day(curve: Iterable[tuple[float, Decimal | None]]) -> tuple[tuple[str, Decimal], ...]:
    """The change of the total over each UTC day: its last total minus the previous day's last (0 before the first)."""
    last_of_day: dict[str, Decimal] = {}
    for ts, total in curve:
        if total is not None:
            last_of_day[time.strftime("%Y-%m-%d", time.gmtime(ts))] = total
    out, before = [], _ZERO
    for day in sorted(last_of_day):
        out.append((day, last_of_day[day] - before))
        before = last_of_day[day]
    return tuple(out)


def _connect(db: Any) -> Any:
    if isinstance(db, (str, Path)):
        conn = sqlite3.connect(Path(db).resolve().as_uri() + "?mode=ro", uri=True, timeout=30)
        conn.text_factory = lambda raw: raw.decode("utf-8", "replace")  # text another tool wrote is shown, not fatal
        return conn
    return db


def _tables(execute: Any) -> set[str]:
    return {r[0] for r in execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}


def bottom_lines(db: Any, run_id: int | None = None, mode: str | None = None, strategy: str | None = None,
                 run_ids: Iterable[int] | None = None) -> list[BottomLine]:
    """The bottom line of every (run, mode, strategy, currency) in the journal, or those asked for.

    ``db``: a journal path (opened read-only), a ``sqlite3.Connection`` or a sqlite-utils ``Database``.
    Sorted by run, mode, strategy, currency.
    """
    conn = _connect(db)
    try:
        return _bottom_lines(conn.execute, run_id, mode, strategy, None if run_ids is None else tuple(run_ids))
    finally:
        if conn is not db:
            conn.close()


def bottom_line_of(db: Any, run_id: int, strategy: str, mode: str = "paper") -> BottomLine | None:
    """One strategy's bottom line in one run (its first currency when it has several; None: nothing journaled)."""
    lines = bottom_lines(db, run_id, mode, strategy)
    return lines[0] if lines else None


def _where(run_id: int | None, mode: str | None, strategy: str | None, run_ids: tuple[int, ...] | None
           ) -> tuple[str, list[Any]]:
    parts, params = [], []
    for column, value in (("run_id", run_id), ("mode", mode), ("strategy", strategy)):
        if value is not None:
            parts.append(f"{column} = ?")
            params.append(value)
    if run_ids is not None:
        parts.append(f"run_id IN ({', '.join('?' for _ in run_ids) or 'NULL'})")
        params.extend(run_ids)
    return (" WHERE " + " AND ".join(parts)) if parts else "", params


@dataclass(slots=True)
class _Acc:
    curve: list[tuple[float, Decimal | None, Decimal, Decimal | None]] = field(default_factory=list)
    unvalued: str | None = None
    trades: int = 0
    wins: int = 0
    realised: Decimal = _ZERO
    turnover: Decimal = _ZERO
    fees: Decimal = _ZERO


def _bottom_lines(execute: Any, run_id: int | None, mode: str | None, strategy: str | None,
                  run_ids: tuple[int, ...] | None) -> list[BottomLine]:
    tables = _tables(execute)
    where, params = _where(run_id, mode, strategy, run_ids)
    acc: dict[tuple[Any, str, str, str | None], _Acc] = {}
    if "equity" in tables:
        for rid, md, name, ts, cur, realised, unrealised, total, unvalued in execute(
                "SELECT run_id, mode, strategy, ts, currency, realised, unrealised, total, unvalued FROM equity"
                f"{where} ORDER BY run_id, mode, strategy, ts, id", params).fetchall():
            when = _ts(ts)
            if when is None:
                continue
            a = acc.setdefault((rid, md, name, cur), _Acc())
            a.curve.append((when, _dec(total), _dec(realised) or _ZERO, _dec(unrealised)))
            a.unvalued = unvalued
    currencies: dict[tuple[Any, str, str], list[str | None]] = {}
    for rid, md, name, cur in acc:
        currencies.setdefault((rid, md, name), []).append(cur)
    if "trades" in tables:
        for rid, md, name, symbol, bf, sf, pnl, cost in execute(
                "SELECT run_id, mode, strategy, symbol, buy_filled, sell_filled, realised_pnl, buy_cost FROM trades"
                f"{where}", params).fetchall():
            quote = str(symbol).partition("/")[2]
            known = currencies.get((rid, md, name), [])
            cur = quote if quote in known or not known else (known[0] if len(known) == 1 else quote)
            a = acc.setdefault((rid, md, name, cur), _Acc())
            pnl_d = _dec(pnl) or _ZERO
            if (_dec(bf) or _ZERO) or (_dec(sf) or _ZERO):
                a.trades += 1
                a.wins += pnl_d > 0
            a.realised += pnl_d
            a.turnover += _dec(cost) or _ZERO
    if "orders" in tables:
        for rid, md, name, symbol, fee in execute(
                f"SELECT run_id, mode, strategy, symbol, fee FROM orders{where}", params).fetchall():
            quote = str(symbol).partition("/")[2]
            for key in ((rid, md, name, quote), *((rid, md, name, c) for c in currencies.get((rid, md, name), [])[:1])):
                if key in acc:
                    acc[key].fees += _dec(fee) or _ZERO
                    break
    out = []
    for (rid, md, name, cur), a in acc.items():
        if a.curve:
            ts, total, realised, unrealised = a.curve[-1]
            as_of: float | None = ts
        else:  # trades without an equity curve (a journal older than the equity table): realised only
            total, realised, unrealised, as_of = None, a.realised, None, None
        pairs = [(t, tot) for t, tot, _, _ in a.curve]
        out.append(BottomLine(
            strategy=name, mode=md, run_id=rid, currency=cur, total=total, realised=realised, unrealised=unrealised,
            fees=a.fees, trades=a.trades, wins=a.wins, max_drawdown=drawdown(tot for _, tot in pairs),
            turnover=a.turnover, per_day=per_utc_day(pairs), curve=tuple(a.curve),
            unvalued=tuple(a.unvalued.split("; ")) if a.unvalued else (), as_of=as_of,
        ))
    out.sort(key=lambda b: (b.run_id if isinstance(b.run_id, int) else 0, str(b.mode), str(b.strategy), str(b.currency)))
    return out


def premium_headline(db: Any, run_id: int | None = None, run_ids: Iterable[int] | None = None) -> list[RoutePremium]:
    """Per route, the best gross premium seen and its fee hurdle (largest margin first); [] without premiums."""
    conn = _connect(db)
    try:
        execute = conn.execute
        if "funnel" not in _tables(execute):
            return []
        cols = {r[1] for r in execute("PRAGMA table_info(funnel)").fetchall()}
        if "max_gross_bps" not in cols:
            return []
        hurdle = "fee_hurdle_bps" if "fee_hurdle_bps" in cols else "NULL"
        where, params = _where(run_id, None, None, None if run_ids is None else tuple(run_ids))
        best: dict[tuple[str, str, str], RoutePremium] = {}
        for symbol, buy, sell, gross, fee in execute(
                f"SELECT symbol, buy_exchange, sell_exchange, max_gross_bps, {hurdle} FROM funnel{where}", params).fetchall():
            g = _dec(gross)
            if g is None:
                continue
            key = (symbol, buy, sell)
            if key not in best or g > best[key].max_gross_bps:
                best[key] = RoutePremium(symbol, buy, sell, g, _dec(fee))
    finally:
        if conn is not db:
            conn.close()
    return sorted(best.values(), key=lambda p: (-(p.margin_bps if p.margin_bps is not None else p.max_gross_bps),
                                                p.symbol, p.buy_exchange, p.sell_exchange))
