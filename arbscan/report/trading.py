"""The paper and live trading tables: trades by outcome, leg imbalances and flattening, balances per venue."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, Any

from arbscan.report.format import WIDE, num
from arbscan.report.tables import TRADE_STATUSES, dsum, frame, quote

if TYPE_CHECKING:
    import pandas as pd

    from arbscan.report.read import Snapshot

__all__ = ["build_trading_tables"]


def build_trading_tables(snap: Snapshot) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """The trading, imbalances and balances tables from a journal :class:`Snapshot`, and notes about them."""
    trades = snap.frames["trades"].to_dict("records")
    trading, imbalances = _trading_tables(trades, snap)
    notes = []
    odd = Counter(t["status"] for t in trades if t["status"] not in TRADE_STATUSES)
    if odd:
        shown = ", ".join(f"{s!r} ({n:,})" for s, n in sorted(odd.items(), key=lambda kv: (-kv[1], str(kv[0])))[:5])
        notes.append(f"trades with a status this report does not know: {shown}; counted in `trades`, "
                     "in no status_ column")
    balances = _balances_table(snap.frames["balances"].to_dict("records"), snap.symbols)
    return {"trading": trading, "imbalances": imbalances, "balances": balances}, notes


def _fills_per_trade(snap: Snapshot) -> Counter[str]:
    trade_of = {o["client_id"]: o["trade_id"] for o in snap.frames["orders"].to_dict("records")}
    return Counter(t for t in (trade_of.get(cid) for cid in snap.frames["fills"]["client_id"]) if t is not None)


def _trading_tables(trades: list[dict[str, Any]], snap: Snapshot) -> tuple[pd.DataFrame, pd.DataFrame]:
    if not trades:
        return frame("trading", []), frame("imbalances", [])
    fills_per_trade = _fills_per_trade(snap)
    trading, imbalances = [], []
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for t in trades:
        groups.setdefault((t["mode"], t["strategy"], t["symbol"]), []).append(t)
    for (mode, strategy, symbol), ts in sorted(groups.items()):
        row: dict[str, Any] = {"mode": mode, "strategy": strategy, "symbol": symbol, "quote": quote(symbol),
                               "trades": len(ts)}
        for s in TRADE_STATUSES:
            row[f"status_{s}"] = sum(1 for t in ts if t["status"] == s)
        row["fills"] = sum(fills_per_trade.get(t["id"], 0) for t in ts)
        row["buy_filled_total"] = dsum(t["buy_filled"] for t in ts)
        row["sell_filled_total"] = dsum(t["sell_filled"] for t in ts)
        row["expected_profit_total"] = dsum(t["expected_profit"] for t in ts)
        row["realised_pnl_total"] = dsum(t["realised_pnl"] for t in ts)
        row["legs_imbalanced"] = sum(1 for t in ts if _leg_diff(t) != 0)
        row["flattened"] = sum(1 for t in ts if t["imbalance_action"] == "flattened")
        row["kept"] = sum(1 for t in ts if t["imbalance_action"] == "kept")
        row["flatten_amount_total"] = dsum(t["flatten_amount"] for t in ts)
        row["flatten_pnl_total"] = dsum(t["flatten_pnl"] for t in ts)
        row["inventory_left"] = dsum(t["imbalance"] for t in ts)
        trading.append(row)
    for t in trades:
        diff = _leg_diff(t)
        if diff == 0 and t["imbalance_action"] in (None, "none") and not t["flatten_amount"] and not t["imbalance"]:
            continue
        imbalances.append({
            "trade_id": t["id"], "run_id": t["run_id"], "mode": t["mode"], "strategy": t["strategy"],
            "symbol": t["symbol"], "opened": num(t["opened"]), "closed": num(t["closed"]), "status": t["status"],
            "buy_filled": t["buy_filled"], "sell_filled": t["sell_filled"], "leg_difference": diff,
            "imbalance_action": t["imbalance_action"], "flatten_amount": t["flatten_amount"],
            "flatten_pnl": t["flatten_pnl"], "imbalance": t["imbalance"], "realised_pnl": t["realised_pnl"],
            "detail": t["detail"],
        })
    return frame("trading", trading), frame("imbalances", imbalances)


def _leg_diff(t: dict[str, Any]) -> Decimal:
    with localcontext(WIDE):
        return (t["buy_filled"] or Decimal(0)) - (t["sell_filled"] or Decimal(0))


def _balances_table(balances: list[dict[str, Any]], symbols: tuple[str, ...] | None) -> pd.DataFrame:
    starts_of = _start_rule(balances)
    if symbols is not None:  # the assets of the symbol: its base and quote
        assets = {a for s in symbols for a in s.split("/", 1)} if all("/" in s for s in symbols) else None
        if assets is not None:
            balances = [b for b in balances if b["asset"] in assets]
    keys = ("run_id", "mode", "strategy", "exchange", "asset")
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for b in balances:
        groups.setdefault(tuple(b[k] for k in keys), []).append(b)
    rows = []
    for key in sorted(groups, key=lambda k: (k[0] is None, k[0] or 0, *k[1:])):
        g = sorted(groups[key], key=_when)
        starts = [b for b in g if b["trade_id"] is None]
        last = g[-1]
        start = starts[0]["free"] if starts else Decimal(0) if starts_of(key) else None
        final = last["free"]
        with localcontext(WIDE):
            change = final - start if start is not None and final is not None else None
        rows.append({
            "run_id": key[0], "mode": key[1], "strategy": key[2], "exchange": key[3], "asset": key[4],
            "start": start, "final": final, "change": change,
            "updates": len(g) - (1 if starts else 0), "as_of": num(last["ts"]),
        })
    return frame("balances", rows)


def _start_rule(balances: list[dict[str, Any]]) -> Callable[[tuple[Any, ...]], bool]:
    """Whether an asset with no starting row started at 0, per (run, mode, strategy, exchange, asset) key.

    The rule of ``arbscan.execution.summary.StrategySummary.start_of``, per venue: a live venue that journaled
    starting rows (trade_id NULL) in the run reported its balances and held none of an asset it did
    not list; a live venue with none could not be read at the start, so its start is unknown (None,
    never 0). A paper strategy that journaled starting rows holds exactly what it listed: 0 elsewhere.
    """
    venues = {(b["run_id"], b["mode"], b["strategy"], b["exchange"]) for b in balances if b["trade_id"] is None}
    strategies = {v[:3] for v in venues}
    return lambda key: key[:4] in venues or (key[1] == "paper" and key[:3] in strategies)


def _when(b: dict[str, Any]) -> tuple[bool, float, int]:
    """Balance rows in time order; a row whose time could not be read first (as SQLite orders NULL)."""
    ts = num(b["ts"])
    return (ts is not None, ts or 0.0, b["id"] or 0)
