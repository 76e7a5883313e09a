"""Tiny runs of the benchmark scripts in bench/ so they do not rot; nothing here measures speed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from arbscan.replay.run import BookBuilder, BookEvent, MarketEvent, ReplayReader

# bench/ sits beside the packages but is not installed (users do not get it): import it from the checkout
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bench_journal, bench_kraken_book, bench_replay, gen_replay  # noqa: E402
from bench.gen_replay import generate  # noqa: E402


def test_generated_file_is_a_valid_replay_with_uncrossed_books(tmp_path):
    path = tmp_path / "g.jsonl"
    counts = generate(path, venues=3, symbols=2, deltas=400, seed=7)
    assert counts == {"market": 6, "snapshot": 6, "delta": 400}
    builder = BookBuilder(10)
    kinds = {"market": 0, "book": 0}
    for ev in ReplayReader(path):  # the reader checks every line, time order, markets before books
        if type(ev) is MarketEvent:
            kinds["market"] += 1
        elif type(ev) is BookEvent:
            kinds["book"] += 1
            book = builder.apply(ev)
            assert len(book.bids) == len(book.asks) == 10
            assert book.bids[0][0] < book.asks[0][0]
    assert kinds == {"market": 6, "book": 406}


def test_kraken_bench_compares_equal_books_on_all_510_real_frames():
    res = bench_kraken_book.main(["--rounds", "1", "--loops", "1", "--cpu", "-1"])
    assert res["frames_checked_equal"] == 510
    assert res["checksums_validated_per_pass"] == 510
    assert set(res["frames_per_s"]) == {"ccxt.pro", "arbscan apply", "arbscan apply+snapshot"}


def test_replay_bench_runs_one_small_cell(tmp_path):
    summary = bench_replay.main(["--venues", "3", "--symbols", "2", "--deltas", "300", "--deltas-per-book", "1",
                                 "--repeat", "1", "--no-demo", "--cpu", "-1", "--workdir", str(tmp_path)])
    cell = summary["3 venues x 2 symbols"]
    assert cell["events"] == 306
    assert cell["evaluations"] > 0
    assert cell["decide_p50_us"]["n"] == 1


def test_journal_bench_writes_rows_with_and_without_a_journal(tmp_path):
    summary = bench_journal.main(["--venues", "3", "--symbols", "2", "--deltas", "600", "--rounds", "1",
                                  "--stats-interval", "0.01", "--cpu", "-1", "--workdir", str(tmp_path)])
    assert summary["journal"]["rows"] > 0
    assert summary["no journal"]["rows"] == 0
    assert summary["journal"]["lag_max_ms"]["n"] == 1


@pytest.mark.parametrize("argv", [["--venues", "0"], ["--deltas", "-1"]])
def test_generator_refuses_nonsense(tmp_path, argv):
    with pytest.raises(SystemExit):
        gen_replay.main([str(tmp_path / "x.jsonl"), *argv])


def test_locality_bench_does_the_same_work_in_both_orders(tmp_path):
    from bench import bench_locality

    out = bench_locality.main(["--venues", "3", "--symbols", "4", "--cpu", "-1", "--workdir", str(tmp_path)])
    assert out["file order"]["live"] == out["grouped by symbol"]["live"] > 0
    assert out["file order"]["episodes"] == out["grouped by symbol"]["episodes"]


def test_workers_bench_runs_at_toy_size(tmp_path):
    from bench import bench_workers

    out = bench_workers.main(["--venues", "3", "--symbols", "4", "--min-deltas", "600", "--rounds", "1",
                              "--long-deltas-per-book", "0", "--stall-rounds", "1", "--stall-symbols", "2", "--stall-deltas", "600",
                              "--writer-rows", "400", "--workdir", str(tmp_path)])
    assert out["throughput"]["cell"][1]["events"] == out["throughput"]["cell"][2]["events"] == 612
    assert [d["n"] for d in out["decisions"][2]] and sum(d["n"] for d in out["decisions"][2]) == 612
    assert out["writer"]["episodes"]["rows"] == 400
    assert out["projection"]["saturates_first"]
def test_report_bench_runs_at_toy_size(tmp_path):
    from bench import bench_report

    out = bench_report.main(["--venues", "3", "--symbols", "2", "--deltas", "300", "--repeat", "1", "--cpu", "-1",
                             "--workdir", str(tmp_path)])
    assert out["routes"] == 12 and out["stderr_lines"] == 0
    assert out["text_lines"] > 0 and out["html_bytes"] > 0 and out["csv_rows"] > 0
    assert set(out["seconds"]) == {"text", "all", "html", "csv"}


def test_bus_bench_runs_at_toy_size(tmp_path):
    from bench import bench_bus

    out = bench_bus.main(["--rounds", "1", "--routes", "20", "--rate", "1000", "--flood", "40", "--rows", "400",
                          "--workdir", str(tmp_path)])
    assert all(v["n"] == 20 for v in out["latency"][0].values())
    assert out["flood"][0]["messages"] == 40 and out["journal"][0]["stored_rows_per_s"] > 0
    assert out["projection"]["shards"] == 23
