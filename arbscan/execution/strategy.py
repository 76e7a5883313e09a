"""Strategy rules shared by the paper and live executors: which opportunities a strategy takes, and how big.

Pure: no I/O, no clock (time comes in as an argument). One :class:`StrategyRules` per strategy:

* **filters**: the route's symbol must be in ``symbols`` and both venues in ``venues`` (an empty
  tuple allows everything);
* **one trade per route at a time**: while a trade the strategy opened on a route is in flight
  (:meth:`StrategyRules.opened` .. :meth:`StrategyRules.closed`) the route is ``busy``;
* **cooldown**: after a trade on a route closes at ``t`` the route is skipped until
  ``t + cooldown_ms`` (the decision at exactly that time is allowed);
* **sizing**: the opportunity is re-evaluated on the same books with the strategy's own balances
  (quote on the buy venue, base on the sell venue), the quote cap lowered so the buy notional stays
  within ``max_notional`` (``quote_available = max_notional * (1 + buy_fee)`` caps the buy cost
  including its fee, so the notional before fee is at most ``max_notional``);
* **thresholds**: the sized trade must have ``net_bps >= min_net_bps`` and ``net_profit >= min_profit``.

Cross-quote routes (``arbscan.scan.crossquote``) go through the same rules in
:meth:`StrategyRules.decide_cross`: the filters take both legs' symbols and both base venues (and
the conversion's venue when the strategy converts each trade), the
route is the five-part cross-quote route, and sizing is ``arbscan.crossspread.evaluate_cross`` on the
three books with the same caps; ``min_profit`` is in Q1.

Callers: ``StrategyRules.decide(...)`` returns a :class:`Decision`; its ``opportunity`` (sized) is
the trade to place, else ``reason`` (one of :data:`SKIP_REASONS`) says why not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from arbscan import spread
from arbscan.config.settings import StrategyConfig
from arbscan.crossspread import CrossOpportunity, evaluate_cross
from arbscan.model import BookSnapshot, Market, Opportunity

__all__ = [
    "StrategyRules",
    "Decision",
    "SKIP_REASONS",
    "quote_cap",
    "size_trade",
    "size_cross",
    "available",
    "micros",
]

SKIP_REASONS = ("symbol", "venue", "busy", "cooldown", "no_trade", "min_net_bps", "min_profit")
"""Why a strategy did not take an opportunity: symbol or venue filtered out, a trade in flight on
the route, the route cooling down, no trade left after re-evaluating with the strategy's balances
and ``max_notional``, or the sized trade below ``min_net_bps`` / ``min_profit``."""

_ONE = Decimal(1)


def micros(t: float) -> int:
    """Event time ``t`` (unix seconds) in whole microseconds, so that ``t + latency`` compares exactly."""
    return round(t * 1_000_000)


@dataclass(frozen=True, slots=True)
class Decision:
    """What a strategy does with one live route: the sized trade to place, or the reason it skips."""

    opportunity: Opportunity | None
    reason: str | None = None  # one of SKIP_REASONS when opportunity is None

    @property
    def take(self) -> bool:
        """True when the strategy places this trade."""
        return self.opportunity is not None


def available(balances: Mapping[str, Mapping[str, Decimal]] | None, exchange: str, asset: str,
              missing: Decimal | None = None) -> Decimal | None:
    """The free ``asset`` on ``exchange`` in ``balances``; ``missing`` (None: no cap) when not listed."""
    if balances is None:
        return missing
    venue = balances.get(exchange)
    if venue is None:
        return missing
    value = venue.get(asset)
    return missing if value is None else value


def quote_cap(quote_available: Decimal | None, max_notional: Decimal | None, buy_fee: Decimal) -> Decimal | None:
    """The quote cap to give ``spread.evaluate``: the smaller of the balance and ``max_notional`` incl. the buy fee."""
    if max_notional is None:
        return quote_available
    by_notional = max_notional * (_ONE + buy_fee)
    if quote_available is None or by_notional < quote_available:
        return by_notional
    return quote_available


def size_trade(
    config: StrategyConfig,
    buy: BookSnapshot,
    sell: BookSnapshot,
    buy_market: Market,
    sell_market: Market,
    quote_available: Decimal | None,
    base_available: Decimal | None,
) -> Opportunity | None:
    """The trade ``config`` would place on these books with these balances (None: nothing worth doing).

    Thresholds are not checked here; see :meth:`StrategyRules.decide`.
    """
    cap = quote_cap(quote_available, config.max_notional, buy_market.taker_fee)
    return spread.evaluate(buy, sell, buy_market, sell_market, cap, base_available)


def size_cross(config: StrategyConfig, buy: BookSnapshot, sell: BookSnapshot, conversion: BookSnapshot,
               buy_market: Market, sell_market: Market, conversion_market: Market, quote_available: Decimal | None,
               base_available: Decimal | None) -> CrossOpportunity | None:
    """The cross-quote trade ``config`` would place on these three books with these balances (no thresholds)."""
    cap = quote_cap(quote_available, config.max_notional, buy_market.taker_fee)
    return evaluate_cross(buy, sell, conversion, buy_market, sell_market, conversion_market, cap, base_available)


class StrategyRules:
    """The rules of one strategy (filters, one trade per route, cooldown, sizing, thresholds); no I/O."""

    def __init__(self, config: StrategyConfig) -> None:
        self.config = config
        self.name = config.name
        self._symbols = frozenset(config.symbols)
        self._venues = frozenset(config.venues)
        self._cooldown_us = config.cooldown_ms * 1000
        self._busy: dict[tuple[str, ...], str] = {}  # route (a cross-quote route has five parts) -> trade in flight
        self._cool_until: dict[tuple[str, ...], int] = {}  # microseconds

    # -- filters and state -----------------------------------------------------------------

    def accepts(self, symbol: str, buy_exchange: str, sell_exchange: str) -> str | None:
        """None when the symbol and both venues pass the strategy's filters, else ``"symbol"`` / ``"venue"``."""
        if self._symbols and symbol not in self._symbols:
            return "symbol"
        if self._venues and (buy_exchange not in self._venues or sell_exchange not in self._venues):
            return "venue"
        return None

    def ready(self, route: tuple[str, ...], t: float) -> str | None:
        """None when ``route`` may trade at ``t``, else ``"busy"`` (a trade in flight) or ``"cooldown"``."""
        if route in self._busy:
            return "busy"
        until = self._cool_until.get(route)
        if until is not None and micros(t) < until:
            return "cooldown"
        return None

    def opened(self, route: tuple[str, ...], trade_id: str) -> None:
        """Mark ``route`` busy with trade ``trade_id`` (its orders are in flight)."""
        self._busy[route] = trade_id

    def closed(self, route: tuple[str, ...], t: float) -> None:
        """The trade on ``route`` settled at ``t``: the route is free again after ``cooldown_ms``."""
        self._busy.pop(route, None)
        if self._cooldown_us > 0:
            self._cool_until[route] = micros(t) + self._cooldown_us

    def busy_routes(self) -> dict[tuple[str, ...], str]:
        """Routes with a trade in flight, and that trade's id."""
        return dict(self._busy)

    # -- the decision ----------------------------------------------------------------------

    def decide(
        self,
        buy: BookSnapshot,
        sell: BookSnapshot,
        buy_market: Market,
        sell_market: Market,
        quote_available: Decimal | None,
        base_available: Decimal | None,
        t: float,
    ) -> Decision:
        """Whether the strategy trades buying on ``buy`` and selling on ``sell`` at ``t``, and the sized trade.

        ``quote_available`` is the strategy's quote on the buy venue, ``base_available`` its base on
        the sell venue (None: no cap — only for venues whose balance is truly unknown).
        """
        symbol = buy.symbol
        reason = self.accepts(symbol, buy.exchange, sell.exchange)
        if reason is None:
            reason = self.ready((symbol, buy.exchange, sell.exchange), t)
        if reason is not None:
            return Decision(None, reason)
        return self._thresholds(size_trade(self.config, buy, sell, buy_market, sell_market, quote_available,
                                           base_available))

    def _thresholds(self, opp: Opportunity | CrossOpportunity | None) -> Decision:
        """The sized trade if it meets ``min_net_bps`` and ``min_profit``, else why not (``no_trade``: none)."""
        if opp is None:
            return Decision(None, "no_trade")
        if opp.net_bps < self.config.min_net_bps:
            return Decision(None, "min_net_bps")
        if opp.net_profit < self.config.min_profit:
            return Decision(None, "min_profit")
        return Decision(opp)  # type: ignore[arg-type]

    def decide_cross(self, buy: BookSnapshot, sell: BookSnapshot, conversion: BookSnapshot, buy_market: Market,
                     sell_market: Market, conversion_market: Market, quote_available: Decimal | None,
                     base_available: Decimal | None, t: float) -> Decision:
        """As :meth:`decide` for a cross-quote route: buy on ``buy``, sell on ``sell``, convert on ``conversion``."""
        reason = self.accepts(buy.symbol, buy.exchange, sell.exchange)
        if reason is None and self._symbols and sell.symbol not in self._symbols:
            reason = "symbol"
        if reason is None and self._venues and self.config.convert == "each_trade" \
                and conversion.exchange not in self._venues:  # the third leg would trade on a venue not its own
            reason = "venue"
        if reason is None:
            route = (buy.symbol, buy.exchange, sell.symbol, sell.exchange, f"{conversion.exchange}:{conversion.symbol}")
            reason = self.ready(route, t)
        if reason is not None:
            return Decision(None, reason)
        return self._thresholds(size_cross(self.config, buy, sell, conversion, buy_market, sell_market,
                                           conversion_market, quote_available, base_available))
