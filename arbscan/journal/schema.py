"""The journal's schema: migrations, the column lists of the execution tables, statuses, values as stored.

One SQLite file holds everything arbscan journals. Schema changes go in :data:`MIGRATIONS`, an
ordered list of ``(name, function)`` pairs: append a new pair at the end (never edit or reorder one
that has shipped); version = position + 1, kept in ``PRAGMA user_version``, so a journal written by an
older arbscan opens and is brought up to date. Exact values (``Decimal``) are stored as TEXT by
:func:`to_db_value`, times as REAL unix seconds, enums by value.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only named in annotations: a shard process converts values without loading sqlite-utils
    from sqlite_utils import Database

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "FUNNEL_COUNTS",
    "RUN_STATUSES",
    "JOURNAL_FAILED",
    "TRADE_STATUSES",
    "ORDER_COLUMNS",
    "TRADE_COLUMNS",
    "FILL_COLUMNS",
    "CROSS_COLUMNS",
    "CROSS_FUNNEL_COUNTS",
    "CROSS_TRADE_COLUMNS",
    "to_db_value",
    "plain_decimal",
    "migrate",
]

logger = logging.getLogger(__name__)

JOURNAL_FAILED = "failed: journal write"
"""``runs.status`` of a run stopped because a journal write failed (disk full): rows after that moment were lost."""

RUN_STATUSES = ("running", "ok", "interrupted", "error", "crashed", JOURNAL_FAILED, "unreachable")
"""The values of ``runs.status``; ``crashed``: the run's process ended without closing it (see ``arbscan.journal.file``);
``unreachable``: a scan that ended without any venue sending a book."""

TRADE_STATUSES = ("open", "filled", "partial", "missed", "imbalanced", "flattened", "failed", "unknown")
"""The values of ``trades.status`` (paper and live), in the order reports list them."""

FUNNEL_COUNTS = (
    "evaluated",
    "crossed_before_fees",
    "live",
    "not_crossed",
    "fees",
    "depth_or_minimums",
    "balance",
    "below_min_bps",
    "stale",
    "episodes",
    "transfer_blocked",
    "untrue_book",
)
"""The integer counters of one route in table ``funnel`` (see ``arbscan.scan.scanner.RouteFunnel``)."""

_M001_FUNNEL_COUNTS = ("evaluated", "crossed_before_fees", "live", "not_crossed", "fees", "depth_or_minimums", "balance",
                       "below_min_bps", "stale", "episodes")
"""The counters version 1 created; later ones arrive by their own migrations, so version 1 never changes."""


def _m001_journal(db: Database) -> None:
    """runs, opportunities (one row per episode), funnel (per route), venue_stats (per book feed)."""
    db["runs"].create(
        {
            "id": int,
            "started": float,
            "ended": float,
            "mode": str,  # 'scan' | 'replay' | 'record' | ...
            "source": str,  # replay file, or the venues scanned
            "settings": str,  # JSON summary of the settings used; never secrets
            "status": str,  # 'running' | 'ok' | 'interrupted' | 'error' | 'crashed' (RUN_STATUSES)
            "events": int,
        },
        pk="id",
    )
    db["opportunities"].create(
        {
            "id": int,
            "run_id": int,
            "symbol": str,
            "buy_exchange": str,
            "sell_exchange": str,
            "first_seen": float,  # time of the first live evaluation
            "last_seen": float,  # time of the last live evaluation
            "observations": int,  # live evaluations in the episode
            "peak_ts": float,  # time of the evaluation with the peak net_profit
            # the figures at the episode's peak net_profit, exact decimals as TEXT
            "amount": str,
            "buy_vwap": str,
            "sell_vwap": str,
            "buy_limit": str,
            "sell_limit": str,
            "buy_cost": str,
            "sell_proceeds": str,
            "buy_fee": str,
            "sell_fee": str,
            "net_profit": str,
            "net_bps": str,
            "closed_at": float,  # event time at which the episode closed
            "close_reason": str,  # 'uncrossed' | 'stale' | 'end'
            "close_detail": str,  # funnel reason of the closing evaluation ('fees', 'below_min_bps', ...)
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
    )
    db["opportunities"].create_index(["run_id"])
    db["opportunities"].create_index(["symbol", "buy_exchange", "sell_exchange"])
    funnel_cols: dict[str, Any] = {"run_id": int, "symbol": str, "buy_exchange": str, "sell_exchange": str}
    funnel_cols.update({name: int for name in _M001_FUNNEL_COUNTS})
    funnel_cols["updated"] = float
    db["funnel"].create(
        funnel_cols,
        pk=("run_id", "symbol", "buy_exchange", "sell_exchange"),
        foreign_keys=[("run_id", "runs", "id")],
    )
    db["venue_stats"].create(
        {
            "run_id": int,
            "exchange": str,
            "symbol": str,
            "events": int,  # book events seen
            "first_ts": float,
            "last_ts": float,
            "max_gap_ms": float,  # longest time between two consecutive events of this book
            "gaps_over_max_age": int,  # gaps longer than max_book_age_ms (the book went stale)
            "max_book_age_ms": int,
        },
        pk=("run_id", "exchange", "symbol"),
        foreign_keys=[("run_id", "runs", "id")],
    )


def _m002_execution(db: Database) -> None:
    """Paper and live execution share these tables; ``mode`` ('paper' | 'live') tells them apart.

    trades: one row per paired trade (both legs and any flattening), written when it opens and
    updated as it settles. orders: one row per order, written as an intent BEFORE it is sent,
    updated on every status change. order_events: the state machine's transitions, append-only.
    fills: keyed by (exchange, trade_id) so a fill reported twice is stored once. balances: the
    balances of a strategy on each venue after each trade (append-only). halts: the kill switch.
    """
    db["trades"].create(
        {
            "id": str,  # our paired-trade id
            "run_id": int,
            "mode": str,  # 'paper' | 'live'
            "strategy": str,
            "symbol": str,
            "buy_exchange": str,
            "sell_exchange": str,
            "opened": float,  # event time the strategy decided
            "closed": float,  # event time the trade settled (NULL while open)
            "status": str,  # 'open' | 'filled' | 'partial' | 'missed' | 'imbalanced' | 'flattened' | 'failed' | 'unknown'
            "planned_amount": str,
            "buy_limit": str,
            "sell_limit": str,
            "expected_profit": str,  # the opportunity's net_profit for the planned amount
            "buy_filled": str,
            "sell_filled": str,
            "buy_cost": str,  # quote spent on the buy leg incl. fee
            "sell_proceeds": str,  # quote received on the sell leg net of fee
            "flatten_amount": str,  # base traded by flattening orders (signed: + bought, - sold)
            "flatten_pnl": str,  # quote result of the flattening orders incl. fees
            "realised_pnl": str,  # quote PnL of the matched amount plus flattening, after all fees
            "imbalance": str,  # base left as inventory after the trade (+ long on buy venue, - short)
            "imbalance_action": str,  # 'none' | 'flattened' | 'kept'
            "detail": str,
        },
        pk="id",
    )
    db["trades"].create_index(["run_id", "mode", "strategy"])
    db["orders"].create(
        {
            "client_id": str,
            "run_id": int,
            "mode": str,
            "strategy": str,
            "trade_id": str,
            "role": str,  # 'buy' | 'sell' | 'flatten' | 'convert' (a cross-quote trade's third leg)
            "exchange": str,
            "symbol": str,
            "side": str,  # 'buy' | 'sell'
            "amount": str,
            "limit_price": str,
            "time_in_force": str,
            "status": str,  # arbscan.model.OrderStatus value
            "filled": str,
            "avg_price": str,
            "fee": str,
            "exchange_order_id": str,
            "created": float,
            "updated": float,
            "error": str,
        },
        pk="client_id",
    )
    db["orders"].create_index(["trade_id"])
    db["orders"].create_index(["status"])
    db["order_events"].create(
        {"id": int, "run_id": int, "client_id": str, "ts": float, "from_status": str, "to_status": str, "detail": str},
        pk="id",
    )
    db["order_events"].create_index(["client_id"])
    db["fills"].create(
        {
            "exchange": str,
            "trade_id": str,  # the venue's trade id (paper: generated)
            "run_id": int,
            "mode": str,
            "client_id": str,
            "symbol": str,
            "side": str,
            "amount": str,
            "price": str,
            "fee": str,
            "fee_asset": str,
            "ts": float,
        },
        pk=("exchange", "trade_id"),
    )
    db["fills"].create_index(["client_id"])
    db["balances"].create(
        {
            "id": int,
            "run_id": int,
            "mode": str,
            "strategy": str,
            "exchange": str,
            "asset": str,
            "free": str,
            "ts": float,
            "trade_id": str,  # the trade after which this balance holds (NULL: starting balance)
        },
        pk="id",
    )
    db["balances"].create_index(["run_id", "mode", "strategy"])
    db["halts"].create(
        {"id": int, "set_at": float, "reason": str, "run_id": int, "cleared_at": float, "cleared_by": str},
        pk="id",
    )


def _m003_funnel_premium(db: Database) -> None:
    """funnel.max_gross_bps: the largest raw premium (best bid over best ask, before fees) seen on the route."""
    db["funnel"].add_column("max_gross_bps", str)


def _m004_alerts(db: Database) -> None:
    """alerts: one row per alert and destination (its name, never its URL) with how its delivery ended."""
    db["alerts"].create(
        {
            "id": int,
            "run_id": int,
            "event": str,  # 'episode_opened', 'halt_raised', ... (arbscan.config.alerts.EVENTS)
            "destination": str,  # the [[alerts]] name
            "status": str,  # 'sent' | 'retried' (sent after a retry) | 'failed' (given up) | 'dropped' (queue full)
            "attempts": int,  # requests made (0: dropped before any)
            "queued": float,  # wall time the alert was queued
            "finished": float,  # wall time it was sent, given up or dropped
            "event_ts": float,  # event-clock time of what the alert is about
            "title": str,  # the message's first line
            "detail": str,  # the last failure ('HTTP 503 Service Unavailable', 'timed out after 10 s', ...)
        },
        pk="id",
    )
    db["alerts"].create_index(["run_id", "destination", "status"])


def _m005_transfers(db: Database) -> None:
    """Can the inventory move back: funnel.transfer_blocked, each episode's transfer figures, table funding.

    ``funding`` holds every set of funding facts a run learnt (one row per network, a row with no
    network for an asset listed without networks); the rows of one set share ``set_id``.
    """
    db["funnel"].add_column("transfer_blocked", int, not_null_default=0)
    for column in ("transfer", "transfer_detail", "base_network", "quote_network", "transfer_cost", "net_after_transfer"):
        db["opportunities"].add_column(column, str)
    db["funding"].create(
        {
            "id": int,
            "run_id": int,
            "set_id": int,  # rows of one set of facts (one venue, one asset, one moment)
            "ts": float,  # event time the facts became known
            "exchange": str,
            "asset": str,
            "source": str,  # 'venue' | 'config' | 'replay'
            "asset_deposit": int,  # asset-wide switches: 1 on, 0 off, NULL not stated
            "asset_withdraw": int,
            "network": str,  # ccxt unified network code; NULL: the asset lists no network
            "deposit": int,
            "withdraw": int,
            "withdraw_fee": str,
            "withdraw_min": str,
            "deposit_fee": str,
            "deposit_min": str,
            "confirmations": int,
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
    )
    db["funding"].create_index(["exchange", "asset"])


def _m006_untrue_books_and_crashes(db: Database) -> None:
    """funnel.untrue_book (route touches while a book was untrue), venue_stats.rejected (book updates the
    gate refused), runs.pid and runs.host (so a later process can tell a run whose process is gone)."""
    db["funnel"].add_column("untrue_book", int)
    db["venue_stats"].add_column("rejected", int)
    db["runs"].add_column("pid", int)
    db["runs"].add_column("host", str)


def _m007_bus(db: Database) -> None:
    """What the journal consumer of ``arbscan journal --bus`` keeps in the same transaction as the rows it
    commits (``arbscan.bus.journal_consumer``): the runs it opened for the bus's run names, each producer's
    last applied batch, and how far it has read the journal stream."""
    db.execute("CREATE TABLE bus_runs (run_key TEXT PRIMARY KEY, run_id INTEGER, shards INTEGER, "
               "ended TEXT, events INTEGER, worst TEXT)")
    db.execute("CREATE TABLE bus_producers (producer TEXT PRIMARY KEY, run_key TEXT, last_seq INTEGER, "
               "rows INTEGER, ended INTEGER, updated REAL)")
    db.execute("CREATE TABLE bus_cursor (stream TEXT PRIMARY KEY, seq INTEGER, created TEXT)")


def _m008_off_step(db: Database) -> None:
    """venue_stats.off_step: book lines used as published though a level was off the market's step."""
    db["venue_stats"].add_column("off_step", int)


CROSS_COLUMNS = ("sell_symbol", "conversion", "conversion_side", "conversion_amount", "conversion_rate",
                 "conversion_fee", "unconverted", "conversion_age_ms")
"""The columns of ``opportunities`` a cross-quote episode fills (NULL on same-symbol episodes)."""

CROSS_FUNNEL_COUNTS = ("evaluated", "live", "no_edge", "parity_only", "depth_or_minimums", "balance", "below_min_bps",
                       "stale", "conversion_stale", "untrue_book", "episodes")
"""The integer counters of one cross-quote route in table ``cross_funnel`` (``arbscan.scan.crossquote``)."""


def _m009_cross_quote(db: Database) -> None:
    """Cross-quote routes: their episodes' conversion columns in ``opportunities``, their funnel in ``cross_funnel``.

    On a cross-quote row ``symbol`` is the buy leg's market (BASE/Q1) and ``sell_symbol`` the sell leg's
    (BASE/Q2); buy figures and ``net_profit`` are in Q1, sell figures in Q2; ``conversion`` is
    ``venue:symbol``; ``conversion_side`` 'sell' (Q2 sold at its bids) or 'buy' (Q1 bought at its asks);
    ``conversion_amount`` in that market's base; ``conversion_rate`` its VWAP as Q1 per Q2 before fee;
    ``conversion_fee`` in its quote; ``unconverted`` the Q2 below one conversion step; ``conversion_age_ms``
    the age of the conversion book at the peak's decision. Same-symbol rows leave all of them NULL.
    """
    for column in CROSS_COLUMNS:
        db["opportunities"].add_column(column, float if column == "conversion_age_ms" else str)
    cols: dict[str, Any] = {"run_id": int, "symbol": str, "buy_exchange": str, "sell_symbol": str,
                            "sell_exchange": str, "conversion": str}
    cols.update({name: int for name in CROSS_FUNNEL_COUNTS})
    cols["max_edge_bps"] = str  # best net bps of the first unit at the three best levels, fees included
    cols["updated"] = float
    db["cross_funnel"].create(cols, pk=("run_id", "symbol", "buy_exchange", "sell_symbol", "sell_exchange",
                                        "conversion"), foreign_keys=[("run_id", "runs", "id")])


CROSS_TRADE_COLUMNS = ("sell_symbol", "conversion", "convert", "conversion_filled", "conversion_proceeds",
                       "quote_imbalance", "quote_imbalance_value")
"""The columns of a cross-quote trade in table ``trades`` (NULL on same-symbol trades)."""


def _m010_cross_trades(db: Database) -> None:
    """Cross-quote trades (``arbscan.execution.trades``): what their rows in ``trades`` add.

    ``sell_symbol`` the sell leg's market (BASE/Q2; ``symbol`` stays the buy leg's); ``conversion``
    ``venue:symbol``; ``convert`` the strategy's 'hold' | 'each_trade'; ``conversion_filled`` what the
    conversion leg (order role 'convert') filled, in its market's base; ``conversion_proceeds`` the Q1
    it gave; ``quote_imbalance`` the Q2 left on the sell venue after the trade (all of it with 'hold';
    with 'each_trade', what the conversion leg did not convert); ``quote_imbalance_value`` that Q2
    valued in Q1 at the conversion book when the trade settled (counted in ``realised_pnl``).

    Version 10 here, right after ``cross_quote``; the equity branch also adds a version 10
    (``equity``): whichever merges second moves to 11 (append only, never reordered once shipped).
    """
    for column in CROSS_TRADE_COLUMNS:
        db["trades"].add_column(column, str)


JOURNAL_APPLICATION_ID = 0x61726273  # "arbs"
"""``PRAGMA application_id`` of an arbscan journal (the marker), set when a journal is created or migrated."""

MIGRATIONS: list[tuple[str, Callable[[Database], None]]] = [
    ("journal", _m001_journal),
    ("execution", _m002_execution),
    ("funnel_premium", _m003_funnel_premium),
    ("alerts", _m004_alerts),
    ("transfers", _m005_transfers),
    ("untrue_books_and_crashes", _m006_untrue_books_and_crashes),
    ("bus", _m007_bus),
    ("off_step", _m008_off_step),
    ("cross_quote", _m009_cross_quote),
    ("cross_trades", _m010_cross_trades),
]
"""Ordered schema migrations; append only. Version N is ``MIGRATIONS[N - 1]``."""

SCHEMA_VERSION = len(MIGRATIONS)

ORDER_COLUMNS = (
    "client_id", "run_id", "mode", "strategy", "trade_id", "role", "exchange", "symbol", "side", "amount",
    "limit_price", "time_in_force", "status", "filled", "avg_price", "fee", "exchange_order_id", "created",
    "updated", "error",
)
"""The columns of table ``orders``."""

TRADE_COLUMNS = (
    "id", "run_id", "mode", "strategy", "symbol", "buy_exchange", "sell_exchange", "opened", "closed", "status",
    "planned_amount", "buy_limit", "sell_limit", "expected_profit", "buy_filled", "sell_filled", "buy_cost",
    "sell_proceeds", "flatten_amount", "flatten_pnl", "realised_pnl", "imbalance", "imbalance_action", "detail",
) + CROSS_TRADE_COLUMNS
"""The columns of table ``trades``."""

FILL_COLUMNS = ("exchange", "trade_id", "run_id", "mode", "client_id", "symbol", "side", "amount", "price", "fee",
                "fee_asset", "ts")
"""The columns of table ``fills``."""


def plain_decimal(value: Decimal) -> str:
    """A Decimal as plain text without an exponent: ``0E-8`` -> ``0``, ``1E+3`` -> ``1000``, ``0.00000001`` as is.

    Zero is ``0`` whatever its exponent; other values keep their digits (``1.50`` stays ``1.50``). NaN and
    infinities keep their names.
    """
    if not value.is_finite():
        return str(value)
    if not value:
        return "0"
    text = str(value)
    return format(value, "f") if "E" in text else text


def to_db_value(value: Any) -> Any:
    """A Python value as the journal stores it: Decimal -> exact plain TEXT, Enum -> its value, bool -> int."""
    if isinstance(value, Decimal):
        return plain_decimal(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=_json_default, sort_keys=True)
    return value


def _json_default(value: Any) -> Any:
    return plain_decimal(value) if isinstance(value, Decimal) else str(value)


def migrate(db: Database) -> int:
    """Apply every migration newer than the database's ``user_version``; returns the new version."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version > len(MIGRATIONS):
        raise RuntimeError(f"journal schema version {version} is newer than this arbscan ({len(MIGRATIONS)})")
    for index in range(version, len(MIGRATIONS)):
        name, fn = MIGRATIONS[index]
        with db.atomic():  # one transaction per migration, version bump included
            fn(db)
            db.conn.execute(f"PRAGMA user_version = {index + 1}")
        logger.info("journal migrated to version %d (%s)", index + 1, name)

    if db.execute("PRAGMA application_id").fetchone()[0] != JOURNAL_APPLICATION_ID:
        db.conn.execute(f"PRAGMA application_id = {JOURNAL_APPLICATION_ID}")  # the marker: an arbscan journal
    return len(MIGRATIONS)
