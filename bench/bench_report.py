"""Benchmark 5: `arbscan report` on a journal at scale: lines printed, HTML size, time as a user runs it.

Usage (from the repository root)::

    python -m bench.bench_report                         # 5 venues x 100 symbols, 3 rounds
    python -m bench.bench_report --venues 5 --symbols 100 --deltas 20000 --repeat 3 --json out.json

Builds one journal: a synthetic replay file (``bench/gen_replay.py``, ``--deltas`` deltas on random
books; at the defaults about 200 of the 2,000 routes have episodes) run through
``arbscan replay FILE --db DB``. Then, for ``--repeat`` rounds, runs as a user would, each in a fresh
``python -m arbscan.cli.command`` process (interpreter start and imports included):

* ``report --db DB``: the summary; lines printed;
* ``report --db DB --all``: every table in full; lines printed;
* ``report --db DB --html FILE``: the page's size, its largest chart in pixels;
* ``report --db DB --csv DIR``: rows written.

Times are wall-clock seconds, median (min-max) over rounds. The processes are not pinned to a CPU
(``--cpu N`` pins them): a user's report is not, and pinned to a core another process uses its time
doubles. Anything a run writes to stderr (a library warning, say) is counted and printed: it should
be nothing.
"""

from __future__ import annotations

import argparse
import base64
import io
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_replay import ensure_file
from bench.common import fmt_spread, machine, pin_cpu, save_results, spread

__all__ = ["main", "build_journal"]


def build_journal(workdir: Path, venues: int, symbols: int, deltas: int, seed: int) -> Path:
    """The journal of one synthetic replay (``arbscan replay FILE --db DB``), built unless already there."""
    replay = ensure_file(workdir, venues, symbols, deltas, seed)
    db = workdir / f"{replay.stem}.db"
    if not db.exists():
        part = workdir / f"{replay.stem}.part.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{part}{suffix}").unlink(missing_ok=True)
        # its own process, as a user runs it (and cli.main's logging set-up stays out of this one)
        proc = subprocess.run([sys.executable, "-m", "arbscan.cli", "replay", str(replay), "--db", str(part),
                               "--no-progress"], capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise SystemExit(f"arbscan replay exited {proc.returncode}: {proc.stderr[-2000:]}")
        part.rename(db)
        for suffix in ("-wal", "-shm"):
            Path(f"{part}{suffix}").unlink(missing_ok=True)
    return db


def _run(args: list[str]) -> tuple[float, str, str]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "arbscan.cli", "report", *args], capture_output=True, text=True,
                          timeout=600)
    took = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"arbscan report {' '.join(args)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return took, proc.stdout, proc.stderr


def _largest_chart(page: str) -> tuple[int, int]:
    from PIL import Image

    sizes = [Image.open(io.BytesIO(base64.b64decode(m))).size
             for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]
    return max(sizes, key=lambda s: s[0] * s[1], default=(0, 0))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Build the journal, run the report variants ``--repeat`` times, print and return the figures."""
    p = argparse.ArgumentParser(description="arbscan report at scale: lines, HTML size, seconds")
    p.add_argument("--venues", type=int, default=5)
    p.add_argument("--symbols", type=int, default=100)
    p.add_argument("--deltas", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--cpu", type=int, default=-1,
                   help="pin to this CPU (default -1: free, as a user runs it; the report's processes inherit the pin)")
    p.add_argument("--workdir", type=Path, help="where the replay file and journal go (default: a temp dir)")
    p.add_argument("--json", help="also save the results here")
    a = p.parse_args(argv)
    pin_cpu(None if a.cpu < 0 else a.cpu)
    own = a.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="arbscan-bench-report-")) if own else a.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        db = build_journal(workdir, a.venues, a.symbols, a.deltas, a.seed)
        built = time.perf_counter() - started
        import sqlite3

        with sqlite3.connect(db) as conn:
            routes, active, episodes = conn.execute(
                "SELECT (SELECT count(*) FROM (SELECT DISTINCT symbol, buy_exchange, sell_exchange FROM funnel)), "
                "(SELECT count(*) FROM (SELECT DISTINCT symbol, buy_exchange, sell_exchange FROM opportunities)), "
                "(SELECT count(*) FROM opportunities)").fetchone()
        times: dict[str, list[float]] = {"text": [], "all": [], "html": [], "csv": []}
        stderr_lines = 0
        out: dict[str, Any] = {}
        for _ in range(a.repeat):
            took, text, err = _run(["--db", str(db)])
            times["text"].append(took)
            out["text_lines"] = len(text.splitlines())
            took, text, err2 = _run(["--db", str(db), "--all"])
            times["all"].append(took)
            out["all_lines"] = len(text.splitlines())
            page = workdir / "report.html"
            took, _, err3 = _run(["--db", str(db), "--html", str(page)])
            times["html"].append(took)
            out["html_bytes"] = page.stat().st_size
            out["largest_chart_px"] = list(_largest_chart(page.read_text()))
            csv_dir = workdir / "csv"
            took, _, err4 = _run(["--db", str(db), "--csv", str(csv_dir)])
            times["csv"].append(took)
            out["csv_rows"] = sum(len(f.read_text().splitlines()) - 1 for f in csv_dir.glob("*.csv"))
            stderr_lines += sum(len(e.splitlines()) for e in (err, err2, err3, err4))
        summary = {
            "cell": f"{a.venues} venues x {a.symbols} symbols", "deltas": a.deltas, "repeat": a.repeat,
            "journal_build_s": built, "routes": routes, "routes_with_episodes": active, "episodes": episodes,
            **out, "stderr_lines": stderr_lines, "seconds": {k: spread(v) for k, v in times.items()},
        }
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)
    s = summary["seconds"]
    print(f"{summary['cell']}, {a.deltas:,} deltas: {routes:,} routes, {active:,} with episodes "
          f"({episodes:,} episodes); journal built in {built:.1f} s")
    print(f"report (summary): {summary['text_lines']:,} lines, {fmt_spread(s['text'], 2)} s")
    print(f"report --all:     {summary['all_lines']:,} lines, {fmt_spread(s['all'], 2)} s")
    print(f"report --html:    {summary['html_bytes'] / 1e6:.2f} MB, largest chart {out['largest_chart_px'][0]} x "
          f"{out['largest_chart_px'][1]} px, {fmt_spread(s['html'], 2)} s")
    print(f"report --csv:     {summary['csv_rows']:,} rows, {fmt_spread(s['csv'], 2)} s")
    print(f"stderr lines over all runs: {stderr_lines}")
    save_results(a.json, "report", summary)
    summary["machine"] = machine()
    return summary


if __name__ == "__main__":
    main()
