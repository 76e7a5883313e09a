"""The report's views: the full tables (``--all``), or a summary where every long list is ranked and cut.

A journal of 5 venues x 100 symbols has 2,000 routes and 500 book feeds, most of them alike. The
summary shows, per section, the rows that matter, ranked, at most ``top`` of them, and says what
the rest hold in one line:

- routes ranked by realised PnL when the selection has paper or live trades, else by the peak net
  profit of their episodes; only routes with an episode or a trade are listed;
- the funnel's totals over every route, then the routes crossed before fees or with stale books,
  most crossed first; the others collapse into one line;
- book feeds with gaps over ``max_book_age_ms``, worst first; the others collapse into one line
  ("all 500 feeds: 30-55 events, no gaps over 2000 ms");
- fees: how much of the gross edge they took, and the spread of ``fee_share`` over routes;
- trading rows by realised PnL, imbalances by the size of the leg difference, the latest runs.

The CSV files always hold every row; these views only shorten the terminal and the HTML page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, Any

from arbscan.funding.transfers import ranking_edge
from arbscan.model import Route
from arbscan.report.cells import cell, count_text, decimal_text, span_text
from arbscan.report.format import WIDE, num, route_label
from arbscan.report.tables import TRADE_STATUSES, Report, round_to

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEFAULT_TOP", "TITLES", "KEYS", "Section", "ranked_routes", "sections"]

DEFAULT_TOP = 20
"""Rows per list in the summary (``--top``)."""

TITLES = {
    "runs": "Runs",
    "routes": "Routes: episodes, peak net profit, durations, live share",
    "funnel": "Route funnel: evaluated, crossed before fees, live after fees, why not",
    "venues": "Venues: book feeds, gaps and staleness",
    "episodes": "Episodes",
    "trading": "Paper and live trading",
    "imbalances": "Leg imbalances and how they were flattened",
    "balances": "Balances per venue (start and final)",
    "cross": "Cross-quote routes: buy BASE/Q1, sell BASE/Q2, convert on a real book (profit in Q1)",
}
"""The title of each full table."""

KEYS = {
    "runs": ("run_id",),
    "routes": ("symbol", "buy_exchange", "sell_exchange"),
    "funnel": ("symbol", "buy_exchange", "sell_exchange"),
    "venues": ("exchange", "symbol"),
    "episodes": ("run_id", "symbol", "buy_exchange", "sell_exchange"),
    "trading": ("mode", "strategy", "symbol"),
    "imbalances": ("trade_id",),
    "balances": ("run_id", "mode", "strategy", "exchange", "asset"),
    "cross": ("symbol", "buy_exchange", "sell_symbol", "sell_exchange", "conversion"),
}
"""The columns naming a row of each full table (repeated when a wide table is split into blocks)."""

_RUN_COLUMNS = ("run_id", "mode", "status", "started", "ended", "events", "episodes", "trades", "source")
# the summary's columns, most important first: in a narrow terminal the last ones that do not fit are left out
_ROUTE_COLUMNS = ("route", "episodes", "net_profit_total", "net_bps_max", "fee_share", "live_share", "net_profit_max")
_FUNNEL_COLUMNS = ("route", "evaluated", "crossed_before_fees", "live", "stale", "main_reason_not_live")
_FEED_COLUMNS = ("exchange", "symbol", "events", "events_per_s", "max_gap_ms", "gaps_over_max_age")
_TRADING_COLUMNS = ("mode", "strategy", "symbol", "trades", "outcomes", "fills", "expected_profit_total",
                    "realised_pnl_total", "legs_imbalanced", "inventory_left")
_IMBALANCE_COLUMNS = ("trade_id", "mode", "symbol", "status", "leg_difference", "imbalance_action", "flatten_pnl",
                      "imbalance", "realised_pnl")
_NOT_LIVE = ("not_crossed", "fees", "depth_or_minimums", "balance", "below_min_bps")


@dataclass(slots=True)
class Section:
    """One part of a view: a title, lines before, optionally rows (already ranked and cut), lines after."""

    name: str
    title: str
    before: list[str] = field(default_factory=list)
    rows: pd.DataFrame | None = None
    keys: tuple[str, ...] = ()
    after: list[str] = field(default_factory=list)
    fit: bool = True  # in text, leave out the columns that do not fit the width (False: split the table)


def _money_key(v: Any) -> Decimal:
    return v if isinstance(v, Decimal) and not v.is_nan() else Decimal(0)


def ranked_routes(routes: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Every route, best first, and the column ranking them.

    By ``realised_pnl_total`` when any route has paper or live trades, else by
    ``net_after_transfer_total`` when funding facts gave any episode one (what is left once the
    inventory is moved back), else by ``net_profit_total`` (the episodes' peak net profit); ties by
    episodes, then by name.
    """
    traded = bool(len(routes)) and int(routes["trades"].sum()) > 0
    after = bool(len(routes)) and routes["net_after_transfer_total"].notna().any()
    measure = "realised_pnl_total" if traded else "net_after_transfer_total" if after else "net_profit_total"
    values = list(routes[measure])
    if measure == "net_after_transfer_total":  # a route without the figure counts its net profit, never 0
        values = [ranking_edge(p, a if isinstance(a, Decimal) else None)
                  for p, a in zip(routes["net_profit_total"], values)]
    keys = list(zip((-_money_key(v) for v in values), (-int(e) for e in routes["episodes"]),
                    routes["symbol"], routes["buy_exchange"], routes["sell_exchange"]))
    order = sorted(range(len(routes)), key=keys.__getitem__)
    return routes.iloc[order].reset_index(drop=True), measure


def _plural(n: int, word: str) -> str:
    return f"{count_text(n)} {word}{'' if n == 1 else 's'}"


def _money(rows: pd.DataFrame, column: str) -> str:
    """The exact sum of a money column per quote currency: '1.23 USD' or '1.23 USD, 0.5 BTC'."""
    sums: dict[str, Decimal] = {}
    with localcontext(WIDE):
        for q, v in zip(rows["quote"], rows[column]):
            if isinstance(v, Decimal):
                sums[q] = sums.get(q, Decimal(0)) + v
    if not sums:
        return "0"
    return ", ".join(f"{decimal_text(v)} {q}".rstrip() for q, v in sorted(sums.items()))


def _with_route(df: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    out = df.copy()
    out.insert(0, "route", [route_label(*k) for k in zip(df["symbol"], df["buy_exchange"], df["sell_exchange"])])
    return out[list(columns)]


def _extras(df: pd.DataFrame, name: str) -> list[str]:
    from arbscan.report.tables import TABLES

    return [c for c in df.columns if c not in TABLES[name]]


# -- the summary's sections ----------------------------------------------------------------------


def _runs(report: Report, top: int) -> Section:
    runs = report.tables["runs"]
    section = Section("runs", "Runs", rows=runs.tail(top)[list(_RUN_COLUMNS)], keys=KEYS["runs"])
    if len(runs) > top:
        section.after.append(f"... and {_plural(len(runs) - top, 'earlier run')} (runs.csv)")
    return section


def _routes(report: Report, top: int) -> Section:
    ranked, measure = ranked_routes(report.tables["routes"])
    active = ranked[(ranked["episodes"] > 0) | (ranked["trades"] > 0)]
    shown = active.head(top)
    by = {"realised_pnl_total": "realised PnL (paper and live)",
          "net_after_transfer_total": "net profit after moving the inventory back"}.get(measure,
                                                                                        "peak net profit of their episodes")
    columns = _ROUTE_COLUMNS + (("trades", "realised_pnl_total") if measure == "realised_pnl_total" else ())
    if ranked["net_after_transfer_total"].notna().any():  # both figures, side by side
        columns = columns[:3] + ("net_after_transfer_total", "transfer_blocked_episodes") + columns[3:]
    section = Section("routes", f"Routes by {by}" + (f": top {len(shown):,} of {len(ranked):,}" if len(shown) else ""),
                      rows=_with_route(shown, columns) if len(shown) else None, keys=("route",))
    idle = len(ranked) - len(active)
    if not len(active):
        section.before.append(f"no route had an episode or a trade; {_plural(len(ranked), 'route')} evaluated "
                              "(--all lists them)" if len(ranked) else "(none)")
    rest = active.iloc[len(shown):]
    if len(rest):
        line = (f"... and {_plural(len(rest) + idle, 'more route')}: {_plural(int(rest['episodes'].sum()), 'episode')}, "
                f"net profit {_money(rest, 'net_profit_total')}")
        if measure == "realised_pnl_total":
            line += f", {_plural(int(rest['trades'].sum()), 'trade')}, realised {_money(rest, 'realised_pnl_total')}"
        section.after.append(line + (f"; {count_text(idle)} of them without episodes (--all lists them)" if idle else ""))
    elif idle and len(shown):
        section.after.append(f"... and {_plural(idle, 'more route')} without episodes (--all lists them)")
    section.after.extend(_fees(active))
    return section


def _fees(routes: pd.DataFrame) -> list[str]:
    """One line: how much of the gross edge of the episodes fees took, and fee_share's spread over routes."""
    paid = routes[[isinstance(g, Decimal) and g > 0 for g in routes["gross_profit_total"]]]
    if not len(paid):
        return []
    parts = []
    for q in sorted(set(paid["quote"])):
        mine = paid[paid["quote"] == q]
        with localcontext(WIDE):
            fees, gross = sum(mine["fees_total"], Decimal(0)), sum(mine["gross_profit_total"], Decimal(0))
            share = round_to(100 * fees / gross, Decimal("0.1"))
        parts.append(f"{decimal_text(fees)} of {decimal_text(gross)} {q}".rstrip() + f" gross edge ({decimal_text(share)} %)")
    shares = sorted(s for s in paid["fee_share"] if isinstance(s, Decimal))
    spread = ""
    if len(shares) > 1:
        spread = (f"; fee_share {decimal_text(shares[0])} on every route" if shares[0] == shares[-1] else
                  f"; fee_share by route {decimal_text(shares[0])}-{decimal_text(shares[-1])}")
    return [f"fees took {', '.join(parts)} on {_plural(len(paid), 'route')} with episodes{spread}"]


def _funnel(report: Report, top: int, order: dict[Route, int]) -> Section:
    f = report.tables["funnel"]
    section = Section("funnel", "Route funnel: evaluated, crossed before fees, live after fees, why not", keys=("route",))
    if not len(f):
        section.before.append("(none)")
        return section
    extras = _extras(f, "funnel")
    total = {c: int(f[c].sum()) for c in ("evaluated", "crossed_before_fees", "live", "stale", *_NOT_LIVE, *extras)}
    why = sorted((n for n in _NOT_LIVE if total[n]), key=lambda n: -total[n])
    line = (f"{_plural(len(f), 'route')}: {_plural(total['evaluated'], 'evaluation')}, "
            f"{count_text(total['crossed_before_fees'])} crossed before fees, {count_text(total['live'])} live")
    if why:
        line += "; not live: " + ", ".join(f"{n} {count_text(total[n])}" for n in why)
    total["untrue_book"] = int(f["untrue_book"].sum())  # routes not evaluated: a book was untrue (a glitch)
    line += "".join(f"; {n} {count_text(total[n])}" for n in ("stale", "untrue_book", *extras) if total[n])
    section.before.append(line)
    marked = (f["crossed_before_fees"] > 0) | (f["stale"] > 0)
    if extras:  # a counter this report does not know is worth a look where it is not zero
        marked = marked | (f[extras] > 0).any(axis=1)
    notable = f[marked]
    ranks = [(-c, -s, order.get(k, 0)) for c, s, k in
             zip(notable["crossed_before_fees"], notable["stale"],
                 zip(notable["symbol"], notable["buy_exchange"], notable["sell_exchange"]))]
    notable = notable.iloc[sorted(range(len(notable)), key=ranks.__getitem__)]
    shown = notable.head(top)
    if len(shown):
        section.title = "Route funnel: routes crossed before fees or with stale books"
        section.rows = _with_route(shown, _FUNNEL_COLUMNS + tuple(extras))
    if len(notable) > len(shown):
        section.after.append(f"... and {_plural(len(notable) - len(shown), 'more route')} crossed before fees or "
                             "with stale books (funnel.csv)")
    quiet = f.drop(notable.index)
    if len(quiet):
        section.after.append(f"{'the other' if len(notable) else 'all'} {_plural(len(quiet), 'route')}: never crossed "
                             f"before fees, no stale books; {span_text([int(e) for e in quiet['evaluated']])} "
                             "evaluations each")
    return section


def _feeds(report: Report, top: int) -> Section:
    v = report.tables["venues"]
    section = Section("venues", "Venues: book feeds with gaps longer than max_book_age_ms, worst first",
                      keys=("exchange", "symbol"))
    if not len(v):
        section.before.append("(none)")
        return section
    extras = _extras(v, "venues")
    ages = [int(a) for a in (num(x) for x in v["max_book_age_ms"]) if a is not None]
    age = f"{max(ages)} ms" if ages else "max_book_age_ms"
    gaps = v["gaps_over_max_age"] > 0
    if extras:
        gaps = gaps | (v[extras] > 0).any(axis=1)
    bad = v[gaps]
    ranks = [(-g, -(num(m) or 0.0)) for g, m in zip(bad["gaps_over_max_age"], bad["max_gap_ms"])]
    bad = bad.iloc[sorted(range(len(bad)), key=ranks.__getitem__)]
    shown = bad.head(top)
    if len(shown):
        section.rows = shown[list(_FEED_COLUMNS) + extras]
    if len(bad) > len(shown):
        section.after.append(f"... and {_plural(len(bad) - len(shown), 'more feed')} with gaps (venues.csv)")
    refused = int(v["rejected"].sum())
    if refused:
        section.before.append(f"{_plural(refused, 'book update')} refused as untrue (crossed, locked, one-sided "
                              "or impossible numbers; rejected in venues.csv)")
    good = v[~gaps]
    if len(good):
        line = (f"{'the other' if len(bad) else 'all'} {_plural(len(good), 'feed')}: "
                f"{span_text([int(e) for e in good['events']])} events, no gaps over {age}")
        (section.after if len(bad) else section.before).append(line)
    return section


def _trading(report: Report, top: int) -> Section | None:
    t = report.tables["trading"]
    if not len(t):
        return None
    pnl = [-_money_key(v) for v in t["realised_pnl_total"]]
    t = t.iloc[sorted(range(len(t)), key=pnl.__getitem__)]
    shown = t.head(top).copy()
    shown["outcomes"] = [", ".join(f"{s} {r[f'status_{s}']}" for s in TRADE_STATUSES if r[f"status_{s}"])
                         for r in shown.to_dict("records")]
    section = Section("trading", "Paper and live trading, by realised PnL", rows=shown[list(_TRADING_COLUMNS)],
                      keys=("mode", "strategy", "symbol"))
    rest = t.iloc[len(shown):]
    if len(rest):
        section.after.append(f"... and {count_text(len(rest))} more: {_plural(int(rest['trades'].sum()), 'trade')}, "
                             f"realised PnL {_money(rest, 'realised_pnl_total')}")
    return section


def _imbalances(report: Report, top: int) -> Section | None:
    t = report.tables["imbalances"]
    if not len(t):
        return None
    size = [-abs(_money_key(v)) for v in t["leg_difference"]]
    t = t.iloc[sorted(range(len(t)), key=size.__getitem__)]
    section = Section("imbalances", "Leg imbalances, largest first", rows=t.head(top)[list(_IMBALANCE_COLUMNS)],
                      keys=("trade_id",))
    if len(t) > top:
        section.after.append(f"... and {_plural(len(t) - top, 'more imbalanced trade')} (imbalances.csv)")
    return section


def _balances(report: Report, top: int) -> Section | None:
    b = report.tables["balances"]
    if not len(b):
        return None
    moved = [isinstance(c, Decimal) and c != 0 for c in b["change"]]
    b = b.iloc[sorted(range(len(b)), key=lambda i: not moved[i])]  # balances that changed first, else in order
    section = Section("balances", TITLES["balances"], rows=_unknown_starts(b.head(top)), keys=KEYS["balances"])
    if len(b) > top:
        section.after.append(f"... and {_plural(len(b) - top, 'more balance')} (balances.csv)")
    unknown = {(cell("run_id", r["run_id"]), r["mode"], r["strategy"], r["exchange"]): None
               for r in b.to_dict("records") if not isinstance(r["start"], Decimal)}
    for run, mode, strategy, ex in unknown:
        section.after.append(f"{ex} ({mode} strategy {strategy}, run {run}): starting balances unknown (not read at "
                             "the start), so no change is computed")
    return section


def _unknown_starts(b: pd.DataFrame) -> pd.DataFrame:
    """The balances rows with an unknown start shown as ``unknown`` (never as 0 or a blank)."""
    if not len(b):
        return b
    b = b.copy()
    b["start"] = [s if isinstance(s, Decimal) else "unknown" for s in b["start"]]
    return b


def _cross(report: Report, top: int) -> Section | None:
    """Cross-quote routes (only when the journal has any): counts, episodes, the conversion's rate and age."""
    c = report.tables.get("cross")
    if c is None or not len(c):
        return None
    cols = ("symbol", "buy_exchange", "sell_symbol", "sell_exchange", "conversion", "evaluated", "live", "episodes",
            "net_profit_total", "net_bps_max", "conversion_rate_median", "conversion_age_ms_max", "no_edge",
            "parity_only", "conversion_stale")
    section = Section("cross", TITLES["cross"], rows=c.head(top)[list(cols)], keys=KEYS["cross"])
    parity = int(c["parity_only"].sum())
    if parity:
        section.after.append(f"{_plural(parity, 'evaluation')} would have looked profitable at a 1:1 rate and lost "
                             "money at the conversion book's price: never journaled as episodes")
    if len(c) > top:
        section.after.append(f"... and {_plural(len(c) - top, 'more cross-quote route')} (cross.csv)")
    return section


def _full(report: Report) -> list[Section]:
    out = []
    for name in ("runs", "routes", "funnel", "venues", "trading", "imbalances", "balances", "cross"):
        df = report.tables[name]
        if name == "routes":
            df = ranked_routes(df)[0]
        if name in ("trading", "imbalances", "balances", "cross") and not len(df):
            continue
        if name == "balances":
            df = _unknown_starts(df)
        out.append(Section(name, TITLES[name], before=[] if len(df) else ["(none)"], rows=df if len(df) else None,
                           keys=KEYS[name], fit=False))
    return out


def sections(report: Report, top: int | None = DEFAULT_TOP) -> list[Section]:
    """The report's sections: the summary with lists cut to ``top`` rows, or every full table for ``None`` (--all)."""
    if report.empty:
        return []
    alerts = [Section("alerts", "Alerts", before=list(report.alerts))] if report.alerts else []
    if top is None:
        return _full(report) + alerts
    ranked, _ = ranked_routes(report.tables["routes"])
    order = {k: i for i, k in enumerate(zip(ranked["symbol"], ranked["buy_exchange"], ranked["sell_exchange"]))}
    parts = [_runs(report, top), _routes(report, top), _funnel(report, top, order), _feeds(report, top),
             _trading(report, top), _imbalances(report, top), _balances(report, top), _cross(report, top)]
    return [p for p in parts if p is not None] + alerts
