"""Flags where people put them: common flags before or after the command, only the ones a command uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbscan.cli.command import main

DATA = Path(__file__).parent / "data" / "dryrun"


def test_config_and_db_work_before_the_command(tmp_path, capsys):
    db = tmp_path / "j.db"
    rc = main(["--config", str(DATA / "strategies.toml"), "--db", str(db), "replay", str(DATA / "two_latencies.jsonl"),
               "--no-progress", "--strategy", "fast"])
    assert rc == 0 and db.exists()
    assert "strategy fast" in capsys.readouterr().out  # the strategy came from the config named before 'replay'


def test_the_same_flags_work_after_the_command(tmp_path, capsys):
    db = tmp_path / "j.db"
    rc = main(["replay", str(DATA / "two_latencies.jsonl"), "--config", str(DATA / "strategies.toml"), "--db", str(db),
               "--min-bps", "5", "--no-progress"])
    assert rc == 0 and "live at net >= 5 bps" in capsys.readouterr().out


@pytest.mark.parametrize("argv,flag", [
    (["--min-bps", "5", "report", "--db", "x.db"], "--min-bps"),
    (["--max-age-ms", "100", "resume", "--db", "x.db"], "--max-age-ms"),
    (["--db", "x.db", "record", "--out", "r.jsonl"], "--db"),
])
def test_a_common_flag_a_command_does_not_use_is_refused_before_it(tmp_path, capsys, monkeypatch, argv, flag):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"arbscan: error: {flag} does not apply to ")
    assert not (tmp_path / "x.db").exists() and not (tmp_path / "r.jsonl").exists()


@pytest.mark.parametrize("argv", [
    ["report", "--min-bps", "3"],
    ["resume", "--max-age-ms", "10"],
    ["record", "--out", "r.jsonl", "--db", "x.db"],  # record writes no journal: --db would create nothing
])
def test_and_after_it(tmp_path, capsys, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("arbscan: error: unrecognized arguments: ")
    assert not (tmp_path / "x.db").exists() and not (tmp_path / "r.jsonl").exists()


def test_log_file_logs_at_info_level_without_v(tmp_path, capsys):
    log = tmp_path / "arbscan.log"
    rc = main(["replay", str(DATA / "two_latencies.jsonl"), "--db", str(tmp_path / "j.db"), "--no-progress",
               "--log-file", str(log)])
    assert rc == 0
    text = log.read_text()
    assert " INFO arbscan.journal.schema: journal migrated to version" in text  # info lines reach the file...
    assert "INFO" not in capsys.readouterr().err  # ...not stderr, which stays at warning level without -v
