"""What an alert says: the :class:`Alert` value and one builder per event, from arbscan's own objects.

Each builder returns an ``Alert`` with a one-line ``title``, a few plain-text ``lines`` for people
(Slack, Discord, Telegram show ``text``) and ``data``, the same facts for programs (the generic
webhook's JSON document): exact decimals as strings, times as unix seconds. Pure: no clock, no I/O.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from arbscan.config.alerts import URGENT_EVENTS

__all__ = [
    "Alert",
    "episode_opened",
    "episode_closed",
    "venue_unreachable",
    "venue_recovered",
    "feed_stale",
    "feed_recovered",
    "trade_finished",
    "halt_raised",
    "halt_cleared",
    "daily_summary",
    "alert_test_message",
    "utc",
    "short",
    "duration",
]


@dataclass(frozen=True, slots=True)
class Alert:
    """One message to send: which event, when (event clock), what it says, and the facts behind it."""

    event: str
    ts: float
    title: str
    lines: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def urgent(self) -> bool:
        """Never dropped from a full queue (halts)."""
        return self.event in URGENT_EVENTS

    @property
    def text(self) -> str:
        """Title and lines, one per line: what people read."""
        return "\n".join((self.title, *self.lines))


def utc(ts: float) -> str:
    """``ts`` as ``2024-05-01 12:00:00 UTC``."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def short(value: Decimal, digits: int = 6) -> str:
    """``value`` rounded to ``digits`` significant digits, without exponent (``12.3457``, ``0.000123457``)."""
    if not value.is_finite() or value == 0:
        return "0" if value == 0 else str(value)
    rounded = value.quantize(Decimal(1).scaleb(value.adjusted() - digits + 1))
    text = format(rounded, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def bps(value: Decimal) -> str:
    """Basis points with two decimals."""
    return format(value.quantize(Decimal("0.01")), "f")


def duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3.5 h``."""
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _route(symbol: str, buy: str, sell: str) -> str:
    return f"{symbol} buy {buy} sell {sell}"


def _episode_data(ep: Any) -> dict[str, Any]:
    p = ep.peak
    return {
        "symbol": ep.symbol, "buy_exchange": ep.buy_exchange, "sell_exchange": ep.sell_exchange,
        "first_seen": ep.first_seen, "last_seen": ep.last_seen, "observations": ep.observations,
        "peak_ts": ep.peak_ts, "amount": str(p.amount), "buy_vwap": str(p.buy_vwap), "sell_vwap": str(p.sell_vwap),
        "buy_limit": str(p.buy_limit), "sell_limit": str(p.sell_limit), "net_profit": str(p.net_profit),
        "net_bps": str(p.net_bps),
    }


def _quote_base(symbol: str) -> tuple[str, str]:
    base, _, quote = symbol.partition("/")
    return base, quote


def episode_opened(ep: Any, t: float) -> Alert:
    """An episode (``arbscan.scan.records.Episode``) reached the destination's thresholds at ``t``."""
    p = ep.peak
    base, quote = _quote_base(ep.symbol)
    return Alert("episode_opened", t, f"arbscan: opportunity {_route(ep.symbol, ep.buy_exchange, ep.sell_exchange)}",
                 (f"net {bps(p.net_bps)} bps, {short(p.net_profit)} {quote} on {short(p.amount)} {base} "
                  f"(buy at {short(p.buy_vwap)} avg, sell at {short(p.sell_vwap)} avg)",
                  f"open since {utc(ep.first_seen)}"), _episode_data(ep))


def episode_closed(ep: Any, t: float) -> Alert:
    """An announced episode closed: its peak, duration and observations."""
    p = ep.peak
    base, quote = _quote_base(ep.symbol)
    why = ep.close_reason or "end"
    if ep.close_detail:
        why += f": {ep.close_detail}"
    data = _episode_data(ep)
    data.update(closed_at=ep.closed_at, close_reason=ep.close_reason, close_detail=ep.close_detail)
    return Alert("episode_closed", t, f"arbscan: closed {_route(ep.symbol, ep.buy_exchange, ep.sell_exchange)} ({why})",
                 (f"peak {bps(p.net_bps)} bps, {short(p.net_profit)} {quote} on {short(p.amount)} {base}",
                  f"lasted {duration(ep.last_seen - ep.first_seen)}, {_plural(ep.observations, 'observation')}"), data)


def venue_unreachable(venue: str, down_for: float, error: str | None, t: float) -> Alert:
    """A venue has failed for ``down_for`` seconds; ``error`` is the driver's one-line cause."""
    return Alert("venue_unreachable", t, f"arbscan: {venue} unreachable for {duration(down_for)}",
                 (f"last error: {error}",) if error else (),
                 {"venue": venue, "down_for_s": round(down_for, 3), "error": error})


def venue_recovered(venue: str, down_for: float, t: float) -> Alert:
    """A venue reported unreachable delivers books again."""
    return Alert("venue_recovered", t, f"arbscan: {venue} reachable again after {duration(down_for)}", (),
                 {"venue": venue, "down_for_s": round(down_for, 3)})


def feed_stale(venue: str, symbol: str, age: float, t: float) -> Alert:
    """A book has had no update for ``age`` seconds."""
    return Alert("feed_stale", t, f"arbscan: {venue} {symbol} book stale: no update for {duration(age)}", (),
                 {"venue": venue, "symbol": symbol, "age_s": round(age, 3)})


def feed_recovered(venue: str, symbol: str, stale_for: float, t: float) -> Alert:
    """A book reported stale is updated again."""
    return Alert("feed_recovered", t, f"arbscan: {venue} {symbol} book updated again after {duration(stale_for)}", (),
                 {"venue": venue, "symbol": symbol, "stale_for_s": round(stale_for, 3)})


def trade_finished(mode: str, trade: Any, outcome: Any, startup: bool, t: float) -> Alert:
    """A paper or live paired trade (``arbscan.execution.trades.PairedTrade``) settled with ``outcome``."""
    o = trade.opp
    buy = trade.buy.filled if trade.buy is not None else Decimal(0)
    sell = trade.sell.filled if trade.sell is not None else Decimal(0)
    lines = [f"pnl {short(outcome.realised_pnl)} {trade.quote} (expected {short(o.net_profit)}), "
             f"bought {short(buy)} sold {short(sell)} of {short(o.amount)} {trade.base}, "
             f"imbalance {short(outcome.imbalance)} {trade.base} ({outcome.imbalance_action})"]
    if trade.detail:
        lines.append(trade.detail)
    data = {"mode": mode, "strategy": trade.strategy, "trade_id": trade.id, "symbol": o.symbol,
            "buy_exchange": o.buy_exchange, "sell_exchange": o.sell_exchange, "status": outcome.status,
            "planned_amount": str(o.amount), "buy_filled": str(buy), "sell_filled": str(sell),
            "expected_profit": str(o.net_profit), "realised_pnl": str(outcome.realised_pnl),
            "imbalance": str(outcome.imbalance), "imbalance_action": outcome.imbalance_action,
            "at_startup": startup, "detail": trade.detail}
    title = (f"arbscan: {mode} trade {trade.id} {outcome.status}: "
             f"{_route(o.symbol, o.buy_exchange, o.sell_exchange)} ({trade.strategy})")
    return Alert("trade_finished", t, title, tuple(lines), data)


def halt_raised(mode: str, strategy: str, reason: str, t: float, earlier: bool = False) -> Alert:
    """The kill switch was set (``earlier``: found set by an earlier run at start-up)."""
    what = "LIVE TRADING HALTED" if mode == "live" else "paper trading halted"
    since = " (since an earlier run)" if earlier else ""
    after = ("no order is sent until 'arbscan resume' clears it, after you have checked the venues"
             if mode == "live" else "no paper order is placed for the rest of the run")
    return Alert("halt_raised", t, f"arbscan: {what}{since}: {reason}", (f"strategy {strategy}: {after}",),
                 {"mode": mode, "strategy": strategy, "reason": reason, "earlier_run": earlier})


def halt_cleared(mode: str, strategy: str, reason: str, t: float) -> Alert:
    """``arbscan resume`` cleared the halt and the executor noticed."""
    return Alert("halt_cleared", t, f"arbscan: halt cleared for strategy {strategy} (was: {reason})",
                 ("unfinished orders are reconciled before trading again",),
                 {"mode": mode, "strategy": strategy, "reason": reason})


def daily_summary(tally: Any, t: float) -> Alert:
    """The summary of one UTC day (``arbscan.alerts.hub.DayTally``)."""
    day = time.strftime("%Y-%m-%d", time.gmtime(tally.day))
    started = time.strftime("%H:%M", time.gmtime(tally.since))
    since = "" if tally.since <= tally.day else f", from {started} when this run started"
    lines = [f"{_plural(tally.episodes, 'episode')} on {_plural(len(tally.routes), 'route')}"]
    best = sorted(tally.routes.items(), key=lambda kv: kv[1][1], reverse=True)[:3]
    for (symbol, buy, sell), (count, profit, peak_bps) in best:
        quote = _quote_base(symbol)[1]
        lines.append(f"  {_route(symbol, buy, sell)}: {_plural(count, 'episode')}, best {short(profit)} {quote} "
                     f"({bps(peak_bps)} bps)")
    for mode in sorted({m for m, _ in tally.trades}):
        statuses = ", ".join(f"{n} {s}" for (m, s), n in sorted(tally.trades.items()) if m == mode)
        count = sum(n for (m, _), n in tally.trades.items() if m == mode)
        pnl = ", ".join(f"{short(v)} {q}" for (m, q), v in sorted(tally.pnl.items()) if m == mode) or "0"
        lines.append(f"{mode} trades {count} ({statuses}), realised pnl {pnl}")
    if not tally.trades:
        lines.append("no trades")
    data = {"day": day, "since": tally.since, "episodes": tally.episodes,
            "best_routes": [{"symbol": s, "buy_exchange": b, "sell_exchange": x, "episodes": c,
                             "best_net_profit": str(p), "best_net_bps": str(nb)}
                            for (s, b, x), (c, p, nb) in best],
            "trades": {f"{m}/{s}": n for (m, s), n in sorted(tally.trades.items())},
            "realised_pnl": {f"{m}/{q}": str(v) for (m, q), v in sorted(tally.pnl.items())}}
    return Alert("daily_summary", t, f"arbscan: daily summary {day} (UTC{since})", tuple(lines), data)


def alert_test_message(name: str, host: str, t: float) -> Alert:
    """What ``arbscan alert-test`` sends."""
    return Alert("test", t, f"arbscan: test alert to {name!r} from {host}",
                 ("if you read this, the destination works",), {"destination": name, "host": host})
