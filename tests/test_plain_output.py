"""What a log file or a pipe gets when stderr is not a terminal: plain lines, no redrawing (issue 14, item 2).

The intervals (``PLAIN_STATUS_EVERY_S``, ``PLAIN_PROGRESS_EVERY_S``) are set to 0 so every draw prints.
"""

from __future__ import annotations

import re

from arbscan import parts
from arbscan.cli import command as cli
from arbscan.scan import view as status

CONFIG = """
[scanner]
symbols = ["BTC/USD"]
status_interval_ms = 100

[[venues]]
exchange = "kraken"
rest_url = "http://127.0.0.1:9"
ws_url = "ws://127.0.0.1:9"

[[venues]]
exchange = "bitstamp"
rest_url = "http://127.0.0.1:9"
ws_url = "ws://127.0.0.1:9"
"""


def test_a_scan_prints_one_plain_status_line_per_draw(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(status, "PLAIN_STATUS_EVERY_S", 0.0)
    monkeypatch.setitem(parts.DRIVER_OPTIONS, "initial_backoff", 0.1)
    monkeypatch.setitem(parts.DRIVER_OPTIONS, "max_backoff", 0.2)
    (tmp_path / "c.toml").write_text(CONFIG)
    assert cli.main(["scan", "--config", str(tmp_path / "c.toml"), "--db", str(tmp_path / "s.db"), "--duration", "1.5"]) == 1  # nothing reached
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("status: ")]
    assert len(lines) >= 2, err
    # both venues refuse every connection (nothing listens on port 9): no book, no event, nothing live
    # one short line (issue 28): venues counted by state, the unreachable ones named; books at -v
    pattern = re.compile(r"status: venues 0 up(, \d unreachable \((bitstamp|kraken|bitstamp, kraken)\))?(, \d connecting)? \| "
                         r"events 0, live 0, open 0, closed 0")
    for line in lines:
        assert pattern.fullmatch(line), line
    assert any("unreachable (bitstamp" in ln for ln in lines), lines  # its failures are shown
    assert "\x1b[" not in err  # no escape codes: nothing is redrawn


def test_a_replay_prints_plain_progress_lines_with_rate_and_time_left(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(status, "PLAIN_PROGRESS_EVERY_S", 0.0)
    assert cli.main(["replay", "--db", str(tmp_path / "d.db")]) == 0
    captured = capsys.readouterr()
    total = int(re.search(r"\(([\d,]+) book events", captured.out).group(1).replace(",", ""))
    lines = [ln for ln in captured.err.splitlines() if ln.startswith("replay ")]
    pattern = re.compile(r"replay \S+: (\d+\.\d) %, ([\d,]+) book events, [\d,]+ events/s(, about [\d,]+ s left)?")
    matches = [pattern.fullmatch(ln) for ln in lines]
    assert lines and all(matches), lines
    # a line every 500 book events (run_replay's progress_every), then the end: 100 % of every book event
    counts = [int(m.group(2).replace(",", "")) for m in matches]
    assert counts == [*range(500, total + 1, 500), total], counts
    assert matches[-1].group(1) == "100.0" and matches[-1].group(3) == ", about 0 s left"
    assert "\x1b[" not in captured.err
