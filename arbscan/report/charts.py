"""The report's charts as PNG images (matplotlib, Agg canvas; the only module that imports matplotlib).

Each chart is a :class:`Chart`: its PNG bytes and the series it plots, so tests can check the data
behind a picture without reading pixels.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, Any

from arbscan.report.tables import WIDE, num

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Chart", "build_charts", "route_label"]

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
"""Series colours, in order (matplotlib's tab10)."""


@dataclass(slots=True)
class Chart:
    """One embedded chart: its PNG and the series plotted (label -> {"x", "y", "color"}), for checks."""

    name: str
    title: str
    series: dict[str, dict[str, Any]]
    png: bytes


def route_label(symbol: str, buy: str, sell: str) -> str:
    """A route as charts and legends name it: 'BTC/USD buy kraken sell bitstamp'."""
    return f"{symbol} buy {buy} sell {sell}"


def build_charts(tables: dict[str, pd.DataFrame], raw_trades: pd.DataFrame) -> list[Chart]:
    """Every chart the data allows: routes over time, episode durations, the funnel, cumulative PnL."""
    return _route_charts(tables["episodes"]) + _funnel_chart(tables["funnel"]) + _pnl_chart(raw_trades)


def _figure(height: float = 4.2) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


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


def _route_charts(episodes: pd.DataFrame) -> list[Chart]:
    if not len(episodes):
        return []
    routes = sorted(set(zip(episodes["symbol"], episodes["buy_exchange"], episodes["sell_exchange"])))
    colors = {r: PALETTE[i % len(PALETTE)] for i, r in enumerate(routes)}
    fig = _figure(6.0)
    top, bottom = fig.subplots(2, 1, sharex=True)
    over_time: dict[str, dict[str, Any]] = {}
    for route in routes:
        e = episodes[(episodes["symbol"] == route[0]) & (episodes["buy_exchange"] == route[1])
                     & (episodes["sell_exchange"] == route[2])].sort_values("first_seen", kind="stable")
        label = route_label(*route)
        timed = [(float(x), b) for x, b in zip(e["first_seen"], e["net_bps"]) if num(x) is not None]
        xs = [x for x, _ in timed]
        counts = list(range(1, len(xs) + 1))
        bps = [b for _, b in timed]
        over_time[label] = {"x": xs, "y": counts, "bps": bps, "color": colors[route]}
        top.step(_dt(xs), counts, where="post", color=colors[route], linewidth=2, label=label)
        bottom.plot(_dt(xs), [_float(b) for b in bps], color=colors[route],
                    linestyle="none", marker="o", markersize=5, label=label)  # episodes are separate: no line
    from matplotlib.ticker import MaxNLocator

    top.yaxis.set_major_locator(MaxNLocator(integer=True))
    top.set_ylabel("episodes (cumulative)")
    top.set_title("Opportunities over time per route")
    top.legend(fontsize="small", loc="upper left")
    bottom.set_ylabel("peak net bps")
    bottom.set_xlabel("time (UTC), episode start")
    bottom.grid(True, alpha=0.3)
    top.grid(True, alpha=0.3)
    _time_axis(bottom)
    fig.tight_layout()
    charts = [Chart("routes_over_time", "Opportunities and peak net bps over time per route", over_time, _png(fig))]

    fig = _figure()
    ax = fig.add_subplot()
    hist: dict[str, dict[str, Any]] = {}
    data, labels, cols = [], [], []
    for route in routes:
        e = episodes[(episodes["symbol"] == route[0]) & (episodes["buy_exchange"] == route[1])
                     & (episodes["sell_exchange"] == route[2])]
        durations = [float(d) for d in e["duration_s"] if num(d) is not None]
        label = route_label(*route)
        hist[label] = {"x": durations, "y": None, "color": colors[route]}
        data.append(durations)
        labels.append(label)
        cols.append(colors[route])
    import numpy as np

    every = [d for ds in data for d in ds]
    if not every:  # no episode has a readable duration
        return charts
    edges = _bin_edges(every)
    ax.hist(data, bins=edges, stacked=True, color=cols, label=labels)
    ax.set_xlabel("episode duration (s): last_seen - first_seen")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("episodes")
    ax.set_title("Episode durations")
    ax.legend(fontsize="small")
    fig.tight_layout()
    for label in hist:
        counts, _ = np.histogram(hist[label]["x"], bins=edges)
        hist[label]["y"] = [int(c) for c in counts]
        hist[label]["edges"] = [float(x) for x in edges]
    charts.append(Chart("duration_histogram", "Episode-duration histogram", hist, _png(fig)))
    return charts


_FUNNEL_COLOURS = {"live": "#2ca02c", "not_crossed": "#7f7f7f", "fees": "#d62728", "depth_or_minimums": "#9467bd",
                   "balance": "#8c564b", "below_min_bps": "#bcbd22", "stale": "#17becf"}


def _funnel_chart(funnel: pd.DataFrame) -> list[Chart]:
    """Per route, what each book event touching it came to: live, each reason not to be, or stale books."""
    if not len(funnel):
        return []
    labels = [route_label(s, b, x) for s, b, x in zip(funnel["symbol"], funnel["buy_exchange"], funnel["sell_exchange"])]
    fig = _figure(max(3.0, 1.4 + 0.45 * len(labels)))
    ax = fig.add_subplot()
    series: dict[str, dict[str, Any]] = {}
    left = [0.0] * len(labels)
    ys = list(range(len(labels)))[::-1]  # first route at the top
    for reason, colour in _FUNNEL_COLOURS.items():
        counts = [int(c) for c in funnel[reason]]
        series[reason] = {"x": labels, "y": counts, "color": colour}
        widths = [_float(c) for c in counts]
        if any(counts):
            ax.barh(ys, widths, left=left, color=colour, label=reason, height=0.6)
        left = [a + (0.0 if math.isnan(w) else w) for a, w in zip(left, widths)]
    ax.set_yticks(ys, labels, fontsize="small")
    ax.set_xlabel("events touching the route")
    ax.set_title("Route funnel: live after fees, or why not")
    if ax.get_legend_handles_labels()[0]:  # every count zero: nothing to name
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return [Chart("funnel", "Route funnel per route", series, _png(fig))]


def _pnl_chart(raw_trades: pd.DataFrame) -> list[Chart]:
    if not len(raw_trades):
        return []
    groups: dict[str, list[tuple[float, Decimal]]] = {}
    for r in raw_trades.to_dict("records"):
        pnl, when = r["realised_pnl"], num(r["closed"])
        if pnl is None or when is None:
            continue  # open trades have no realised PnL yet
        label = f"{r['mode']} {r['strategy']} {r['symbol']}"
        groups.setdefault(label, []).append((when, pnl))
    if not groups:
        return []
    fig = _figure()
    ax = fig.add_subplot()
    series: dict[str, dict[str, Any]] = {}
    for i, label in enumerate(sorted(groups)):
        pts = sorted(groups[label], key=lambda p: p[0])
        total = Decimal(0)
        cum = []
        with localcontext(WIDE):
            for _, p in pts:
                total += p
                cum.append(total)
        color = PALETTE[i % len(PALETTE)]
        xs = [p[0] for p in pts]
        series[label] = {"x": xs, "y": cum, "color": color}
        ax.step(_dt(xs), [_float(c) for c in cum], where="post", color=color, linewidth=2, marker="o",
                markersize=4, label=label)
    ax.axhline(0, color="#444444", linewidth=0.8)
    ax.set_title("Cumulative realised PnL after fees (paper / live)")
    ax.set_ylabel("PnL (quote)")
    ax.set_xlabel("time (UTC), trade settled")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="upper left")
    _time_axis(ax)
    fig.tight_layout()
    return [Chart("cumulative_pnl", "Cumulative paper/live PnL", series, _png(fig))]


