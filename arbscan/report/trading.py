"""The paper and live trading tables: trades by outcome, leg imbalances and flattening, balances per venue."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from arbscan.report.read import ReportFilter, dec, isnull
from arbscan.report.tables import TRADE_STATUSES, dsum, frame, quote

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["build_trading_tables"]


def build_trading_tables(raw: dict[str, pd.DataFrame], flt: ReportFilter) -> dict[str, pd.DataFrame]:
    """The trading, imbalances and balances tables from :func:`~arbscan.report.read.read_journal`'s frames."""
    trading, imbalances = _trading_tables(raw)
    return {"trading": trading, "imbalances": imbalances, "balances": _balances_table(raw["balances"], flt)}


def _trading_tables(raw: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    import pandas as pd

    trades = raw.get("trades", pd.DataFrame())
    if not len(trades):
        return frame("trading", []), frame("imbalances", [])
    orders, fills = raw.get("orders", pd.DataFrame()), raw.get("fills", pd.DataFrame())
    fills_per_trade: dict[str, int] = {}
    if len(orders) and len(fills):
        trade_of = dict(zip(orders["client_id"], orders["trade_id"]))
        for cid in fills["client_id"]:
            tid = trade_of.get(cid)
            if tid is not None:
                fills_per_trade[tid] = fills_per_trade.get(tid, 0) + 1
    decs = ("buy_filled", "sell_filled", "expected_profit", "flatten_amount", "flatten_pnl", "realised_pnl",
            "imbalance")
    rows: list[dict[str, Any]] = []
    for r in trades.to_dict("records"):
        d = {k: dec(r.get(k), f"trades.{k}") for k in decs}
        d.update({k: None if isnull(r.get(k)) else r.get(k)
                  for k in ("id", "run_id", "mode", "strategy", "symbol", "opened", "closed", "status",
                            "imbalance_action", "detail")})
        rows.append(d)
    trading, imbalances = [], []
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for d in rows:
        groups.setdefault((d["mode"] or "", d["strategy"] or "", d["symbol"] or ""), []).append(d)
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
    for t in rows:
        diff = _leg_diff(t)
        if diff == 0 and t["imbalance_action"] in (None, "none") and not t["flatten_amount"] and not t["imbalance"]:
            continue
        imbalances.append({
            "trade_id": t["id"], "run_id": t["run_id"], "mode": t["mode"], "strategy": t["strategy"],
            "symbol": t["symbol"], "opened": t["opened"], "closed": t["closed"], "status": t["status"],
            "buy_filled": t["buy_filled"], "sell_filled": t["sell_filled"], "leg_difference": diff,
            "imbalance_action": t["imbalance_action"], "flatten_amount": t["flatten_amount"],
            "flatten_pnl": t["flatten_pnl"], "imbalance": t["imbalance"], "realised_pnl": t["realised_pnl"],
            "detail": t["detail"],
        })
    return frame("trading", trading), frame("imbalances", imbalances)


def _leg_diff(t: dict[str, Any]) -> Decimal:
    return (t["buy_filled"] or Decimal(0)) - (t["sell_filled"] or Decimal(0))


def _balances_table(balances: pd.DataFrame, flt: ReportFilter) -> pd.DataFrame:
    if not len(balances):
        return frame("balances", [])
    b = balances
    if flt.symbol is not None and "/" in flt.symbol:
        b = b[b["asset"].isin(flt.symbol.split("/", 1))]
    rows = []
    keys = ["run_id", "mode", "strategy", "exchange", "asset"]
    b = b.fillna({"mode": "", "strategy": ""})
    # a strategy that journaled starting balances (trade_id NULL) held nothing of an asset it has no
    # starting row for; without any starting rows the start is unknown
    with_starts = {k for k, g in b.groupby(keys[:3]) if g["trade_id"].isna().any()}
    for key, g in sorted(b.groupby(keys), key=lambda kv: kv[0]):
        g = g.sort_values(["ts", "id"])
        starts = g[g["trade_id"].isna()]
        last = g.iloc[-1]
        if len(starts):
            start = dec(starts.iloc[0]["free"], "balances.free")
        else:
            start = Decimal(0) if tuple(key[:3]) in with_starts else None
        final = dec(last["free"], "balances.free")
        rows.append({
            "run_id": int(key[0]), "mode": key[1], "strategy": key[2], "exchange": key[3], "asset": key[4],
            "start": start, "final": final,
            "change": (final - start) if start is not None and final is not None else None,
            "updates": len(g) - (1 if len(starts) else 0), "as_of": float(last["ts"]),
        })
    return frame("balances", rows)


