"""The bottom lines as people read them: one line per strategy, the scanner's premium headline, their CSV rows.

Shared by the end-of-run summary, ``arbscan status``, the text, CSV and HTML reports (the web view takes the
:class:`arbscan.journal.bottomline.BottomLine` values themselves). Numbers go through ``arbscan.report.format``.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from arbscan.journal.bottomline import BottomLine, RoutePremium
from arbscan.report.format import bps, money, utc

__all__ = ["bottom_line_text", "bottom_line_detail", "headline_text", "bottom_line_rows", "HEADLINE_ROUTES"]

HEADLINE_ROUTES = 3
"""Routes named in the premium headline (the rest are counted)."""


def _name(b: BottomLine) -> str:
    return f"{b.strategy} ({b.mode}, run {b.run_id})" if b.run_id is not None else f"{b.strategy} ({b.mode})"


def bottom_line_text(b: BottomLine) -> str:
    """'slow (paper, run 1): total -3.23 USD = realised +32.90 + unrealised -36.13' (after fees, inventory at the books)."""
    cur = b.currency or ""
    if b.total is None:
        head = (f"total unknown: {'; '.join(b.unvalued)}" if b.unvalued
                else "no equity curve journaled (realised only)")
        return f"{_name(b)}: {head}; realised {money(b.realised, cur, sign=True)} {cur}".rstrip()
    return (f"{_name(b)}: total {money(b.total, cur, sign=True)} {cur} = realised {money(b.realised, cur, sign=True)} "
            f"+ unrealised {money(b.unrealised, cur, sign=True)}")


def bottom_line_detail(b: BottomLine) -> str:
    """Trades, win rate, drawdown, fees, turnover and PnL per UTC day, in one line."""
    cur = b.currency or ""
    rate = "-" if b.win_rate is None else f"{b.win_rate * 100:.1f} %"
    days = ", ".join(f"{day} {money(v, cur, sign=True)}" for day, v in b.per_day[-7:])
    more = f" (last 7 of {len(b.per_day)})" if len(b.per_day) > 7 else ""
    return (f"trades {b.trades}, won {b.wins} ({rate}); max drawdown {money(b.max_drawdown, cur)}; "
            f"fees {money(b.fees, cur)}; turnover {money(b.turnover, cur)}"
            + (f"; per UTC day{more}: {days}" if days else ""))


def headline_text(premiums: list[RoutePremium], top: int = HEADLINE_ROUTES) -> str | None:
    """'best premium seen: BTC/USD bitmex -> deribit 6.73 bps gross vs fee hurdle 15.01 bps (-8.28 after fees)'."""
    if not premiums:
        return None
    parts = []
    for p in premiums[:top]:
        hurdle = "fee hurdle unknown" if p.fee_hurdle_bps is None else (
            f"fee hurdle {bps(p.fee_hurdle_bps)} bps ({bps(p.margin_bps, sign=True)} after fees)")
        parts.append(f"{p.symbol} {p.buy_exchange} -> {p.sell_exchange} {bps(p.max_gross_bps)} bps gross vs {hurdle}")
    rest = len(premiums) - top
    tail = f"; and {rest:,} more route{'s' if rest > 1 else ''} crossed before fees" if rest > 0 else ""
    return "best premium seen: " + "; ".join(parts) + tail


def bottom_line_rows(lines: Iterable[BottomLine]) -> list[dict[str, Any]]:
    """One CSV row per bottom line, every digit kept."""
    out = []
    for b in lines:
        out.append({
            "run_id": b.run_id, "mode": b.mode, "strategy": b.strategy, "currency": b.currency,
            "total": _plain(b.total), "realised": _plain(b.realised), "unrealised": _plain(b.unrealised),
            "fees": _plain(b.fees), "trades": b.trades, "wins": b.wins,
            "win_rate": _plain(b.win_rate), "max_drawdown": _plain(b.max_drawdown), "turnover": _plain(b.turnover),
            "per_utc_day": "; ".join(f"{d} {_plain(v)}" for d, v in b.per_day), "unvalued": "; ".join(b.unvalued),
            "as_of": utc(b.as_of),
        })
    return out


def _plain(d: Decimal | None) -> str:
    return "" if d is None else format(d, "f")
