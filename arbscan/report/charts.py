"""The report's charts as PNG images (matplotlib, Agg canvas; the only module that imports matplotlib).

Each chart is a :class:`Chart`: its PNG bytes and the series it plots, so tests can check the data
behind a picture without reading pixels. Charts show the report's top routes (:data:`CHART_ROUTES`,
ranked as the routes table is) each in its own colour; every other route is summed into one grey
series, so a journal of 2,000 routes gives charts of the same size as one of two. Legends sit below
the plots in constrained layouts; matplotlib's warnings (a missing glyph in a journal's odd symbol,
...) go to the log at debug level, not to stderr.
"""

from __future__ import annotations

import io
import logging
import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, Any

from arbscan.model import Route
from arbscan.report.format import WIDE, num, route_label

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CHART_ROUTES", "PALETTE", "Chart", "build_charts", "route_label"]

logger = logging.getLogger(__name__)

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
"""Series colours, in order (matplotlib's tab10)."""

CHART_ROUTES = 10
"""Routes drawn in their own colour (one per colour of :data:`PALETTE`); the rest are one grey series."""

_OTHER = "#b0b0b0"
_FUNNEL_COLOURS = {"live": "#2ca02c", "not_crossed": "#7f7f7f", "fees": "#d62728", "depth_or_minimums": "#9467bd",
                   "balance": "#8c564b", "below_min_bps": "#bcbd22", "stale": "#17becf"}


@dataclass(slots=True)
class Chart:
    """One embedded chart: its PNG and the series plotted (label -> {"x", "y", "color"}), for checks."""

    name: str
    title: str
    series: dict[str, dict[str, Any]]
    png: bytes


def build_charts(tables: dict[str, pd.DataFrame], raw_trades: pd.DataFrame, ranked: list[Route]) -> list[Chart]:
    """Every chart the data allows: routes over time, episode durations, the funnel, cumulative PnL.

    ``ranked`` lists every route best first (as the routes table ranks them); the first
    :data:`CHART_ROUTES` of them get their own colour.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        charts = (_route_charts(tables["episodes"], ranked) + _funnel_chart(tables["funnel"], ranked)
                  + _pnl_chart(raw_trades))
    for w in caught:
        logger.debug("chart: %s: %s", w.category.__name__, w.message)
    return charts


def _figure(height: float = 4.2) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _legend(fig: Any, ax: Any, columns: int = 2, order: list[str] | None = None) -> None:
    """The figure's legend below its plots, in columns, so it never covers data however many routes."""
    handles, labels = ax.get_legend_handles_labels()
    if order:  # stacked histograms list their series last first
        by_label = dict(zip(labels, handles))
        labels = [label for label in order if label in by_label]
        handles = [by_label[label] for label in labels]
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(columns, len(labels)), fontsize="small",
                   frameon=False)


def _time_axis(ax: Any) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(tz=timezone.utc)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=timezone.utc))


def _dt(xs: Iterable[float]) -> list[datetime]:
    return [datetime.fromtimestamp(x, timezone.utc) for x in xs]


def _float(v: Any) -> float:
    """A plotted value: a Decimal or number as a float, NaN (not drawn) when missing or beyond a float's range."""
    if v is None:
        return math.nan
    try:
        f = float(v)
    except (OverflowError, ValueError):
        return math.nan
    return f if math.isfinite(f) else math.nan


def _bin_edges(values: list[float]) -> Any:
    """Histogram edges: numpy's 'auto' rule (the finer of Freedman-Diaconis and Sturges), kept to 5-40 bars.

    Counted here rather than by ``bins="auto"``, which builds every edge first: one absurd duration among
    short ones would ask it for billions of bins.
    """
    import numpy as np

    n, lo, hi = len(values), min(values), max(values)
    count = math.log2(n) + 1
    q75, q25 = np.percentile(values, [75, 25])
    if q75 > q25 and hi > lo:
        count = max(count, (hi - lo) / (2 * (q75 - q25) * n ** (-1 / 3)))
    return np.histogram_bin_edges(values, bins=int(min(40, max(5, math.ceil(count)))))


def _groups(episodes: pd.DataFrame, ranked: list[Route]) -> list[tuple[str, str, pd.DataFrame]]:
    """(label, colour, episodes) for each top route with episodes, then 'other routes' for the rest."""
    keys = list(zip(episodes["symbol"], episodes["buy_exchange"], episodes["sell_exchange"]))
    with_episodes = set(keys)
    top = [r for r in ranked if r in with_episodes][:CHART_ROUTES]
    top += sorted(with_episodes - set(ranked))[:CHART_ROUTES - len(top)]  # not ranked: never, but drawn
    index = {r: i for i, r in enumerate(top)}
    mine: list[list[int]] = [[] for _ in top]
    rest: list[int] = []
    for i, k in enumerate(keys):
        (mine[index[k]] if k in index else rest).append(i)
    out = [(route_label(*r), PALETTE[i % len(PALETTE)], episodes.iloc[mine[i]]) for i, r in enumerate(top)]
    if rest:
        others = len(with_episodes) - len(top)
        out.append((f"all other routes ({others:,})", _OTHER, episodes.iloc[rest]))
    return out


def _route_charts(episodes: pd.DataFrame, ranked: list[Route]) -> list[Chart]:
    if not len(episodes):
        return []
    groups = _groups(episodes, ranked)
    fig = _figure(6.4)
    top, bottom = fig.subplots(2, 1, sharex=True)
    over_time: dict[str, dict[str, Any]] = {}
    for label, colour, e in groups:
        e = e.sort_values("first_seen", kind="stable")
        timed = [(float(x), b) for x, b in zip(e["first_seen"], e["net_bps"]) if num(x) is not None]
        xs = [x for x, _ in timed]
        counts = list(range(1, len(xs) + 1))
        bps = [b for _, b in timed]
        over_time[label] = {"x": xs, "y": counts, "bps": bps, "color": colour}
        if colour != _OTHER:  # the other routes' count together would dwarf each top route's
            top.step(_dt(xs), counts, where="post", color=colour, linewidth=2, label=label)
        bottom.plot(_dt(xs), [_float(b) for b in bps], color=colour, linestyle="none", marker="o",
                    markersize=5 if colour != _OTHER else 3, label=label)  # episodes are separate: no line
    from matplotlib.ticker import MaxNLocator

    top.yaxis.set_major_locator(MaxNLocator(integer=True))
    top.set_ylabel("episodes (cumulative)\nper top route")
    top.set_title("Opportunities over time per route")
    bottom.set_ylabel("peak net bps")
    bottom.set_xlabel("time (UTC), episode start")
    bottom.grid(True, alpha=0.3)
    top.grid(True, alpha=0.3)
    _time_axis(bottom)
    _legend(fig, bottom)
    charts = [Chart("routes_over_time", "Opportunities and peak net bps over time per route", over_time, _png(fig))]
    hist = _duration_histogram(groups)
    return charts + hist


def _duration_histogram(groups: list[tuple[str, str, pd.DataFrame]]) -> list[Chart]:
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    series: dict[str, dict[str, Any]] = {}
    for label, colour, e in groups:
        series[label] = {"x": [float(d) for d in e["duration_s"] if num(d) is not None], "y": None, "color": colour}
    every = [d for s in series.values() for d in s["x"]]
    if not every:  # no episode has a readable duration
        return []
    edges = _bin_edges(every)
    fig = _figure(4.8)
    ax = fig.add_subplot()
    # stepfilled: one polygon per route instead of a rectangle per bar, the same picture drawn far faster
    ax.hist([s["x"] for s in series.values()], bins=edges, stacked=True, histtype="stepfilled",
            color=[s["color"] for s in series.values()], label=list(series))
    ax.set_xlabel("episode duration (s): last_seen - first_seen")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("episodes")
    ax.set_title("Episode durations")
    _legend(fig, ax, order=list(series))
    for s in series.values():
        counts, _ = np.histogram(s["x"], bins=edges)
        s["y"] = [int(c) for c in counts]
        s["edges"] = [float(x) for x in edges]
    return [Chart("duration_histogram", "Episode-duration histogram", series, _png(fig))]


def _funnel_chart(funnel: pd.DataFrame, ranked: list[Route]) -> list[Chart]:
    """Per route, what each book event touching it came to: live, each reason not to be, or stale books."""
    if not len(funnel):
        return []
    rows = {k: i for i, k in enumerate(zip(funnel["symbol"], funnel["buy_exchange"], funnel["sell_exchange"]))}
    order = [r for r in ranked if r in rows] + sorted(set(rows) - set(ranked))
    top, rest = order[:CHART_ROUTES], order[CHART_ROUTES:]
    labels = [route_label(*r) for r in top] + ([f"all other routes ({len(rest):,})"] if rest else [])
    fig = _figure(max(3.0, 1.6 + 0.42 * len(labels)))
    ax = fig.add_subplot()
    series: dict[str, dict[str, Any]] = {}
    for reason in _FUNNEL_COLOURS:
        column = funnel[reason]
        counts = [int(column.iat[rows[r]]) for r in top]
        if rest:
            counts.append(sum(int(column.iat[rows[r]]) for r in rest))
        series[reason] = {"x": labels, "y": counts, "color": _FUNNEL_COLOURS[reason]}
    # shares of each bar's events, so routes of any volume (and all the others summed) compare
    totals = [sum(max(_float(s["y"][i]), 0.0) for s in series.values() if not math.isnan(_float(s["y"][i])))
              for i in range(len(labels))]
    left = [0.0] * len(labels)
    ys = list(range(len(labels)))[::-1]  # first route at the top
    for reason, s in series.items():
        widths = [100 * max(_float(c), 0.0) / t if t > 0 and not math.isnan(_float(c)) else 0.0
                  for c, t in zip(s["y"], totals)]
        if any(widths):
            ax.barh(ys, widths, left=left, color=s["color"], label=reason, height=0.6)
        left = [a + w for a, w in zip(left, widths)]
    for y, t in zip(ys, totals):
        ax.text(101, y, f"{t:,.0f}", va="center", fontsize="small")
    ax.set_xlim(0, 112)
    ax.set_xticks(range(0, 101, 20))
    ax.set_yticks(ys, labels, fontsize="small")
    ax.set_xlabel("share of the events touching the route (%); events at the right")
    ax.set_title("Route funnel: live after fees, or why not")
    _legend(fig, ax, columns=4)
    return [Chart("funnel", "Route funnel per route", series, _png(fig))]


def _pnl_chart(raw_trades: pd.DataFrame) -> list[Chart]:
    if not len(raw_trades):
        return []
    groups: dict[str, list[tuple[float, Decimal]]] = {}
    for r in raw_trades.to_dict("records"):
        pnl, when = r["realised_pnl"], num(r["closed"])
        if pnl is None or when is None:
            continue  # open trades have no realised PnL yet
        groups.setdefault(f"{r['mode']} {r['strategy']} {r['symbol']}", []).append((when, pnl))
    if not groups:
        return []
    ordered = sorted(groups)
    if len(ordered) > CHART_ROUTES:  # the largest results in colour, the rest summed as one grey line
        with localcontext(WIDE):
            finals = {label: sum((p for _, p in pts), Decimal(0)) for label, pts in groups.items()}
        keep = sorted(sorted(groups, key=lambda label: (-abs(finals[label]), label))[:CHART_ROUTES - 1])
        rest = [label for label in ordered if label not in keep]
        other = f"all other ({len(rest):,})"
        groups[other] = [p for label in rest for p in groups[label]]
        ordered = [*keep, other]
    fig = _figure(4.8)
    ax = fig.add_subplot()
    series: dict[str, dict[str, Any]] = {}
    for i, label in enumerate(ordered):
        pts = sorted(groups[label], key=lambda p: p[0])
        total = Decimal(0)
        cum = []
        with localcontext(WIDE):
            for _, p in pts:
                total += p
                cum.append(total)
        color = _OTHER if label.startswith("all other (") else PALETTE[i % len(PALETTE)]
        xs = [p[0] for p in pts]
        series[label] = {"x": xs, "y": cum, "color": color}
        ax.step(_dt(xs), [_float(c) for c in cum], where="post", color=color, linewidth=2, marker="o",
                markersize=4, label=label)
    ax.axhline(0, color="#444444", linewidth=0.8)
    ax.set_title("Cumulative realised PnL after fees (paper / live)")
    ax.set_ylabel("PnL (quote)")
    ax.set_xlabel("time (UTC), trade settled")
    ax.grid(True, alpha=0.3)
    _time_axis(ax)
    _legend(fig, ax)
    return [Chart("cumulative_pnl", "Cumulative paper/live PnL", series, _png(fig))]
