"""Run every benchmark, save the JSON results, and rewrite the result tables in BENCHMARKS.md.

Usage (from the repository root)::

    python -m bench.run_all                 # every benchmark, then the tables (about 10 minutes)
    python -m bench.run_all --only kraken   # one of: kraken, replay, journal, locality, profile, report, workers
    python -m bench.run_all --render        # only rewrite BENCHMARKS.md from bench/results/*.json

Tables go between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->`` markers in BENCHMARKS.md;
everything else in that file is left as written. ``bench/results/before_*.json`` (the same benchmarks
run against the code before the optimisations, see BENCHMARKS.md) feed the before/after table.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from bench.common import fmt_spread

__all__ = ["main", "render"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "BENCHMARKS.md"


def _machine(m: dict[str, Any]) -> str:
    return (f"Run finished {m['utc']} UTC on {m['cpu']}, {m['nproc']} CPUs (process pinned to CPU "
            f"{m['affinity']}), {m['implementation']} {m['python']}; load average then {' '.join(m['loadavg'])} "
            "(this benchmark's own process is about 1 of it).")


def _kraken(doc: dict[str, Any]) -> str:
    r = doc["results"]
    lines = [_machine(doc["machine"]), "",
             f"{r['rounds']} interleaved rounds of {r['loops']} passes over the {r['frames']} frames. "
             f"Books compared equal after each of {r['frames_checked_equal']} frames; arbscan validated "
             f"{r['checksums_validated_per_pass']} of {r['frames']} checksums on every pass; ccxt.pro with its "
             f"own checksum option: {r['ccxt_checksum']}.", "",
             "| contender | frames/s, median (min-max) | throughput vs ccxt.pro, median (min-max) of per-round ratios |",
             "|---|---|---|"]
    for name, s in r["frames_per_s"].items():
        ratio = r["ratio_vs_ccxt"].get(name)
        lines.append(f"| {name} | {fmt_spread(s)} | {fmt_spread(ratio, 2) + ' x' if ratio else '1 x'} |")
    return "\n".join(lines)


def _replay(doc: dict[str, Any]) -> str:
    r = doc["results"]
    lines = [_machine(doc["machine"]), "",
             f"{r['repeat']} rounds; depth {r['depth']}; at least {r['deltas']:,} deltas per cell and 10 per book; "
             f"Python switch interval {r.get('switch_interval_s', 0.005) * 1000:g} ms. "
             "Events/s: whole file, snapshots included, journal writer running on the same CPU. "
             "Latencies: second half of the deltas, µs, median (min-max) over rounds.", "",
             "| cell | book events | live / evaluated routes | episodes | events/s | decide p50 µs | decide p99 µs | decide mean µs | build p50 µs |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, s in r["cells"].items():
        lines.append(
            f"| {name} | {s['events']:,} | {s['live']:,} / {s['evaluations']:,} | {s['episodes']:,} | "
            f"{fmt_spread(s['events_per_s'])} | {fmt_spread(s['decide_p50_us'], 1)} | {fmt_spread(s['decide_p99_us'], 1)} | "
            f"{fmt_spread(s['decide_mean_us'], 1)} | {fmt_spread(s['build_p50_us'], 1)} |")
    # the scaling view: median decision p50 per venues (rows) and symbols (columns)
    grid: dict[int, dict[int, str]] = {}
    for name, s in r["cells"].items():
        m = re.match(r"(\d+) venues x (\d+) symbols", name)
        if m:
            grid.setdefault(int(m.group(1)), {})[int(m.group(2))] = f"{s['decide_p50_us']['median']:.1f}"
    if grid:
        symbols = sorted({k for row in grid.values() for k in row})
        lines += ["", "Decision p50 (µs) by venues (rows) and symbols (columns):", "",
                  "| venues | " + " | ".join(f"{k:,} symbols" for k in symbols) + " |",
                  "|---" * (len(symbols) + 1) + "|"]
        for v in sorted(grid):
            lines.append(f"| {v} | " + " | ".join(grid[v].get(k, "") for k in symbols) + " |")
    return "\n".join(lines)


def _journal(doc: dict[str, Any]) -> str:
    r = doc["results"]
    args = r["args"]
    s = r["summary"]
    lines = [_machine(doc["machine"]), "",
             f"{args['venues']} venues x {args['symbols']} symbols, {args['deltas']} deltas, offset s.d. {args['offset_sd']} "
             f"ticks, write_stats every {args['stats_interval']} s, {args['rounds']} rounds; journal rows per run: "
             f"{s['journal']['rows']:,} ({s['journal']['episodes']:,} episodes, the rest funnel and feed upserts).", "",
             "| run | events/s | rows/s committed | loop lag max ms | lag p99.9 ms | lag p99 ms | gaps over 1 ms | LiveDriver.write_stats max ms |",
             "|---|---|---|---|---|---|---|---|"]
    for kind in ("journal", "no journal"):
        k = s[kind]
        lines.append(f"| {kind} | {fmt_spread(k['events_per_s'])} | {fmt_spread(k['rows_per_s'])} | {fmt_spread(k['lag_max_ms'], 2)} | "
                     f"{fmt_spread(k['lag_p999_ms'], 3)} | {fmt_spread(k['lag_p99_ms'], 3)} | "
                     f"{fmt_spread(k['lag_over_1ms']) if 'lag_over_1ms' in k else ''} | {fmt_spread(k['stats_stall_max_ms'], 2)} |")
    lines += ["", f"Longest stall with the journal minus the longest without, per round: "
                  f"{fmt_spread(s['stall_caused_by_writing_ms'], 2)} ms."]
    nogc = RESULTS / "journal_nogc.json"
    if nogc.exists():
        n = json.loads(nogc.read_text())["results"]["summary"]
        lines += ["", "The same with the cyclic garbage collector disabled (`--no-gc`), which separates its pauses "
                  "from the journal's:", "", "| run | loop lag max ms | lag p99.9 ms | gaps over 1 ms |", "|---|---|---|---|"]
        for kind in ("journal", "no journal"):
            k = n[kind]
            lines.append(f"| {kind}, no GC | {fmt_spread(k['lag_max_ms'], 2)} | {fmt_spread(k['lag_p999_ms'], 3)} | "
                         f"{fmt_spread(k['lag_over_1ms'])} |")
    return "\n".join(lines)


def _locality(doc: dict[str, Any]) -> str:
    lines = [_machine(doc["machine"]), "",
             "| cell | order | decide p50 µs | decide mean µs | live evaluations | episodes |", "|---|---|---|---|---|---|"]
    for cell, orders in doc["results"].items():
        for order, r in orders.items():
            lines.append(f"| {cell} | {order} | {r['p50_us']:.1f} | {r['mean_us']:.1f} | {r['live']:,} | {r['episodes']:,} |")
    return "\n".join(lines)


def _report(doc: dict[str, Any]) -> str:
    r = doc["results"]
    s = r["seconds"]
    w, h = r["largest_chart_px"]
    m = doc["machine"]
    return "\n".join([
        f"Run finished {m['utc']} UTC on {m['cpu']}, {m['nproc']} CPUs (CPU affinity {m['affinity']}), "
        f"{m['implementation']} {m['python']}; load average then {' '.join(m['loadavg'])}.", "",
        f"{r['cell']}, {r['deltas']:,} deltas: {r['routes']:,} routes, {r['routes_with_episodes']:,} with episodes "
        f"({r['episodes']:,} episodes). Each command in a fresh `python -m arbscan.cli.command` process (start-up and imports "
        f"included, not pinned to a CPU), {r['repeat']} rounds; seconds as median (min-max).", "",
        "| command | output | seconds |", "|---|---|---|",
        f"| `report --db DB` | {r['text_lines']:,} lines | {fmt_spread(s['text'], 2)} |",
        f"| `report --db DB --all` | {r['all_lines']:,} lines | {fmt_spread(s['all'], 2)} |",
        f"| `report --db DB --html FILE` | {r['html_bytes'] / 1e6:.2f} MB, largest chart {w} x {h} px | "
        f"{fmt_spread(s['html'], 2)} |",
        f"| `report --db DB --csv DIR` | {r['csv_rows']:,} rows | {fmt_spread(s['csv'], 2)} |",
        "", f"Lines written to stderr over all runs: {r['stderr_lines']}.",
    ])


def _before(doc: dict[str, Any]) -> str:
    """Before/after table: ``before_replay.json`` (older code, same bench) against ``replay.json``."""
    after_path = RESULTS / "replay.json"
    if not after_path.exists():
        return "(no after results yet)"
    after = json.loads(after_path.read_text())["results"]["cells"]
    before = doc["results"]["cells"]
    note = doc["results"].get("note")
    lines = ["Before: " + _machine(doc["machine"]) + (f" One round; {note}." if note else ""), "",
             "| cell | events/s before | events/s after | decide p50 µs before | after | decide p99 µs before | after |",
             "|---|---|---|---|---|---|---|"]
    for name, a in after.items():
        b = before.get(name)
        if b is None:
            lines.append(f"| {name} | (not measured) | {a['events_per_s']['median']:,.0f} | | "
                         f"{a['decide_p50_us']['median']:.1f} | | {a['decide_p99_us']['median']:.1f} |")
            continue
        lines.append(f"| {name} | {b['events_per_s']['median']:,.0f} | {a['events_per_s']['median']:,.0f} | "
                     f"{b['decide_p50_us']['median']:.1f} | {a['decide_p50_us']['median']:.1f} | "
                     f"{b['decide_p99_us']['median']:.1f} | {a['decide_p99_us']['median']:.1f} |")
    journal_before = RESULTS / "before_journal.json"
    journal_after = RESULTS / "journal.json"
    if journal_before.exists() and journal_after.exists():
        jb = json.loads(journal_before.read_text())["results"]["summary"]["journal"]
        ja = json.loads(journal_after.read_text())["results"]["summary"]["journal"]
        lines += ["", "| journal benchmark, with the journal | before | after |", "|---|---|---|"]
        for key, label, digits in (("lag_max_ms", "loop lag max ms", 2), ("lag_p999_ms", "loop lag p99.9 ms", 3),
                                   ("stats_stall_max_ms", "write_stats call max ms", 2), ("rows_per_s", "rows/s", 0),
                                   ("events_per_s", "events/s", 0)):
            lines.append(f"| {label} | {fmt_spread(jb[key], digits)} | {fmt_spread(ja[key], digits)} |")
    return "\n".join(lines)


def _workers(doc: dict[str, Any]) -> str:
    r = doc["results"]
    m = doc["machine"]
    lines = [f"Run started {m['utc']} UTC on {m['cpu']}, {m['nproc']} CPUs (not pinned: every process may use every "
             f"core), {m['implementation']} {m['python']}; load average at the start {' '.join(m['loadavg'])}.", "",
             "| file | book events | --workers | events/s end to end | speed-up vs 1 | events/s while the shards run "
             "| starting s | shards s | writer's tail s | closing s |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, t in r["throughput"].items():
        for n, s in t.items():
            steady = fmt_spread(s["steady_events_per_s"]) if "steady_events_per_s" in s else "-"
            speed = "1 x" if str(n) == "1" else f"{fmt_spread(r['speedup'][name], 2)} x"
            ph = s.get("phases_s", {})
            cells = " | ".join(fmt_spread(ph[k], 2) if k in ph else "-" for k in ("start", "shards", "writer_tail", "close"))
            lines.append(f"| {name} | {s['events']:,} | {n} | {fmt_spread(s['events_per_s'])} | {speed} | {steady} | {cells} |")
    lines += ["", "Decisions (`Scanner.on_book_event`) timed in each shard process, the writer process running:", "",
              "| shard processes | shard | decision p50 µs | p99 µs | max µs | events |", "|---|---|---|---|---|---|"]
    for n, shards in r["decisions"].items():
        for k, d in enumerate(shards):
            lines.append(f"| {n} | {k + 1} | {d['p50']:.1f} | {d['p99']:.1f} | {d['max']:,.0f} | {d['n']:,} |")
    lines += ["", "A live shard's event loop, garbage collector off, the loop on one CPU and the writer process on the other:",
              "", "| loop | longest stall ms | lag p99.9 ms | gaps over 1 ms | rows journaled |", "|---|---|---|---|---|"]
    for kind, s in r["stall"].items():
        lines.append(f"| {kind} | {fmt_spread(s['lag_max_ms'], 2)} | {fmt_spread(s['lag_p999_ms'], 3)} | "
                     f"{fmt_spread(s['lag_over_1ms'])} | {s['rows']:,} |")
    lines += ["", "| the writer process, one producer sending ready batches | rows/s committed |", "|---|---|"]
    for kind, w in r["writer"].items():
        lines.append(f"| {kind} ({'inserts' if kind == 'episodes' else 'upserts'}) | {w['rows_per_s']:,.0f} |")
    pr = r["projection"]
    live = pr.get("writer_bound_events_per_s_live")
    lines += ["", f"Projection: a shard spends {pr['c_own_us_per_line']:.1f} µs on a line of its own and "
              f"{pr['c_skip_us_per_line']:.2f} µs on one it skips; the writer commits {pr['writer_rows_per_s']:,.0f} rows/s "
              f"(the slower kind), and must commit {pr['episodes_per_event']:.4f} episode rows per event plus up to "
              f"{pr['stats_rows_per_5s']:,} funnel and feed rows every 5 s of the stream's clock: it keeps up to "
              f"{pr['writer_bound_events_per_s_replay']:,.0f} events/s in this replay"
              + (f" and {live:,.0f} events/s in a live scan" if live else "") + ".", "",
              "| N shards (a core each) | events/s the shards could do |", "|---|---|"]
    for n, v in pr["by_n"].items():
        lines.append(f"| {n} | {v:,.0f} |")
    lines += ["", f"Saturates first: {pr['saturates_first']}."]
    return "\n".join(lines)


def _summary(doc: dict[str, Any]) -> str:
    """The goals, each with the measured figure (medians; spreads are in the sections below)."""

    def load(name: str) -> dict[str, Any] | None:
        path = RESULTS / f"{name}.json"
        return json.loads(path.read_text())["results"] if path.exists() else None

    rows = ["| goal | measured (median, min-max over rounds) | met? |", "|---|---|---|"]
    kraken = load("kraken")
    if kraken:
        r = kraken["ratio_vs_ccxt"]["arbscan apply"]
        rs = kraken["ratio_vs_ccxt"]["arbscan apply+snapshot"]
        rows.append(f"| 1. `KrakenBook.apply` >= 3x ccxt.pro's throughput, validating every checksum | "
                    f"{fmt_spread(r, 2)} x, {kraken['checksums_validated_per_pass']} of {kraken['frames']} checksums "
                    f"validated per pass (ccxt.pro: none); with `snapshot()` too: {fmt_spread(rs, 2)} x | "
                    f"{'yes' if r['median'] >= 3 else 'no'} |")
    replay = load("replay")
    if replay:
        five = {k: v for k, v in replay["cells"].items() if k.startswith("5 venues x ")}
        for name, c in five.items():
            e = c["events_per_s"]
            rows.append(f"| 2. >= 50,000 events/s at 5 venues: {name.split(' x ')[1]} | {fmt_spread(e)} events/s | "
                        f"{'yes' if e['median'] >= 50_000 else 'no (' + format(e['median'] / 50_000, '.0%') + ' of it)'} |")
        worst = max(five.values(), key=lambda c: c["decide_p99_us"]["median"]) if five else None
        if worst:
            rows.append(f"| 2. decision p99 < 100 µs at 5 venues (every symbol count) | worst cell "
                        f"{fmt_spread(worst['decide_p99_us'], 1)} µs | {'yes' if worst['decide_p99_us']['median'] < 100 else 'no'} |")
        rows.append("| 2. cost per event grows with venues on the symbol, not with symbols | work per event: "
                    "2 x (venues - 1) route evaluations at every scale; time per event: grows with symbols through "
                    "memory locality (same events grouped by symbol cost what 1-10 symbols cost, section 2) | "
                    "work: yes; time: no |")
    journal = load("journal")
    if journal:
        j = journal["summary"]
        backlog = j["journal"].get("backlog_s")
        rows.append(f"| 3. journal rows/s with the scanner running | {fmt_spread(j['journal']['rows_per_s'])} rows/s, "
                    f"all the scanner produced" + (f"; left to commit after the last event: {fmt_spread(backlog, 2)} s"
                                                   if backlog else "") + " | (no goal) |")
        nogc_path = RESULTS / "journal_nogc.json"
        src = json.loads(nogc_path.read_text())["results"]["summary"] if nogc_path.exists() else j
        w, wo = src["journal"], src["no journal"]
        met = w["lag_max_ms"]["median"] - wo["lag_max_ms"]["median"] < 1 and w["lag_over_1ms"]["median"] <= wo["lag_over_1ms"]["median"]
        rows.append(f"| 3. longest event-loop stall caused by writing < 1 ms | "
                    f"{'with the garbage collector off (its pauses are not the journal): ' if src is not j else ''}"
                    f"longest stall {fmt_spread(w['lag_max_ms'], 2)} ms with the journal, {fmt_spread(wo['lag_max_ms'], 2)} ms "
                    f"without; gaps over 1 ms {fmt_spread(w['lag_over_1ms'])} vs {fmt_spread(wo['lag_over_1ms'])}; lag p99.9 "
                    f"{fmt_spread(j['journal']['lag_p999_ms'], 3)} ms with the journal (GC on) | {'yes' if met else 'no'} |")
    rows.append("| 4. profiles of the hot path, and changes made because of them | section 4 | yes |")
    workers = load("workers")
    if workers:
        sp = workers["speedup"]
        ev = {name: t["1"]["events"] for name, t in workers["throughput"].items()}
        rows.append("| 6. `--workers 2` >= 1.8x `--workers 1` at 5 venues x 1,000 symbols (events/s, end to end) | "
                    + "; ".join(f"{ev[name]:,} events: {fmt_spread(s_, 2)} x" for name, s_ in sp.items()) + " | "
                    + "; ".join(f"{ev[name]:,} events: {'yes' if s_['median'] >= 1.8 else 'no'}" for name, s_ in sp.items())
                    + " |")
        worst = max(d["p99"] for shards in workers["decisions"].values() for d in shards)
        rows.append(f"| 6. decision p99 per shard < 100 µs | worst shard {worst:.1f} µs | {'yes' if worst < 100 else 'no'} |")
        st = workers["stall"]
        j = next(v for k, v in st.items() if "thread" in k)
        n = st["no journal"]
        rows.append(f"| 6. longest event-loop stall in a shard, journal on, GC off < 1 ms | "
                    f"{fmt_spread(j['lag_max_ms'], 2)} ms (no journal, same machine: {fmt_spread(n['lag_max_ms'], 2)} ms); "
                    f"gaps over 1 ms {fmt_spread(j['lag_over_1ms'])} vs {fmt_spread(n['lag_over_1ms'])}; lag p99.9 "
                    f"{fmt_spread(j['lag_p999_ms'], 3)} ms | {'yes' if j['lag_max_ms']['median'] < 1 else 'no'} |")
        pr = workers["projection"]
        rows.append(f"| 6. projection of N = 16 | shards {pr['by_n']['16']:,.0f} events/s; writer keeps up to "
                    f"{pr['writer_bound_events_per_s_replay']:,.0f} events/s: {pr['saturates_first']} | (no goal) |")
    return "\n".join(rows)


RENDERERS = {"kraken": _kraken, "replay": _replay, "journal": _journal, "locality": _locality, "report": _report,
             "workers": _workers}
RENDER_ONLY = {"before": ("before_replay", _before), "summary": ("kraken", _summary)}


def render(results: Path = RESULTS, doc: Path = DOC) -> list[str]:
    """Rewrite each ``results:NAME`` block of ``doc`` from ``results/NAME.json``; returns the names done."""
    text = doc.read_text()
    done = []
    jobs = [(name, name, fn) for name, fn in RENDERERS.items()]
    jobs += [(name, stem, fn) for name, (stem, fn) in RENDER_ONLY.items()]
    for name, stem, fn in jobs:
        path = results / f"{stem}.json"
        if not path.exists():
            continue
        table = fn(json.loads(path.read_text()))
        pattern = re.compile(rf"(<!-- results:{name} -->).*?(<!-- /results:{name} -->)", re.S)
        if not pattern.search(text):
            continue
        text = pattern.sub(lambda m: m.group(1) + "\n" + table + "\n" + m.group(2), text)
        done.append(name)
    profile = results / "profile.md"
    pattern = re.compile(r"(<!-- results:profile -->).*?(<!-- /results:profile -->)", re.S)
    if profile.exists() and pattern.search(text):
        body = profile.read_text().strip()
        text = pattern.sub(lambda m: m.group(1) + "\n" + body + "\n" + m.group(2), text)
        done.append("profile")
    doc.write_text(text)
    return done


def main(argv: list[str] | None = None) -> None:
    """Run the benchmarks (or some), save JSON under bench/results/, render BENCHMARKS.md."""
    p = argparse.ArgumentParser(description="run all benchmarks and update BENCHMARKS.md")
    p.add_argument("--only", choices=sorted([*RENDERERS, "profile"]), action="append")
    p.add_argument("--render", action="store_true", help="only re-render BENCHMARKS.md from saved results")
    p.add_argument("--cpu", default="0")
    a = p.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not a.render:
        from bench import bench_journal, bench_kraken_book, bench_locality, bench_replay, bench_report, bench_workers
        from bench.common import save_results

        todo = a.only or ["kraken", "replay", "journal", "locality", "profile", "report", "workers"]
        if "workers" in todo:  # not pinned: it needs every core
            bench_workers.main(["--json", str(RESULTS / "workers.json")])
        if "kraken" in todo:
            bench_kraken_book.main(["--cpu", a.cpu, "--json", str(RESULTS / "kraken.json")])
        if "replay" in todo:
            bench_replay.main(["--cpu", a.cpu, "--json", str(RESULTS / "replay.json")])
        if "journal" in todo:
            bench_journal.main(["--cpu", a.cpu, "--json", str(RESULTS / "journal.json")])
            bench_journal.main(["--cpu", a.cpu, "--no-gc", "--json", str(RESULTS / "journal_nogc.json")])
        if "locality" in todo:
            cells = {f"{v} venues x {n} symbols": bench_locality.main(["--cpu", a.cpu, "--venues", str(v), "--symbols", str(n)])
                     for v, n in ((5, 100), (5, 1000), (20, 1000))}
            save_results(RESULTS / "locality.json", "locality", cells)
        if "report" in todo:
            bench_report.main(["--json", str(RESULTS / "report.json")])  # unpinned: as a user runs a report
        if "profile" in todo:
            import contextlib
            import io

            from bench import profile_hot_path
            from bench.common import machine

            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                profile_hot_path.main([])
            m = machine()
            (RESULTS / "profile.md").write_text(
                f"cProfile, {m['utc']} UTC, {m['cpu']}, CPython {m['python']}:\n" + out.getvalue())
    print("rendered:", ", ".join(render()) or "nothing")


if __name__ == "__main__":
    main()
