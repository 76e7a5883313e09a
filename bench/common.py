"""Helpers shared by the benchmark scripts: machine description, statistics, CPU pinning, result files."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["machine", "spread", "percentile", "pin_cpu", "save_results", "fmt_spread"]


def machine() -> dict[str, Any]:
    """What the figures were measured on: CPU model, cores, Python, load average, UTC time."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        load = []
    try:
        affinity = sorted(os.sched_getaffinity(0))
    except AttributeError:
        affinity = []
    return {
        "cpu": model,
        "nproc": os.cpu_count(),
        "affinity": affinity,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "loadavg": load,
        "utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }


def spread(values: list[float]) -> dict[str, float]:
    """Median, minimum and maximum of repeated measurements."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def fmt_spread(s: dict[str, float], digits: int = 0, scale: float = 1.0) -> str:
    """``median (min-max)`` for a table cell."""
    f = f"{{:,.{digits}f}}"
    return f"{f.format(s['median'] * scale)} ({f.format(s['min'] * scale)}-{f.format(s['max'] * scale)})"


def percentile(sorted_values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of an already sorted list, nearest-rank."""
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, int(round(q * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def pin_cpu(cpu: int | None) -> None:
    """Pin this process (and threads it starts later) to one CPU; ``None`` leaves it alone."""
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


def save_results(path: str | Path | None, name: str, results: Any) -> None:
    """Write ``{"bench": name, "machine": ..., "results": ...}`` as JSON when ``path`` is given."""
    if path is None:
        return
    payload = {"bench": name, "machine": machine(), "results": results}
    Path(path).write_text(json.dumps(payload, indent=2, default=str) + "\n")
