"""What a person sees: ``arbscan scan`` in a pseudo-terminal, its screen rendered by the terminal emulator pyte.

Two venues point at a loopback port nothing listens on, so they fail again and again (retries every
0.2-0.4 s here). Once bitstamp's notice (one per state change) and the status area are on the screen (polled, with a 30 s
deadline for a loaded machine), the screen must show every retry notice whole and readable
above the status area, and the status area once, at the bottom — at 80 x 24 and at 200 x 50.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time

import pyte
import pytest

DRIVER = ("import sys; from arbscan import parts; parts.DRIVER_OPTIONS.update(initial_backoff=0.2, max_backoff=0.4); "
          "from arbscan.cli.command import main; sys.exit(main(sys.argv[1:]))")

CONFIG = """
[scanner]
symbols = ["BTC/USD"]
status_interval_ms = 200

[[venues]]
exchange = "kraken"
rest_url = "http://127.0.0.1:9"
ws_url = "ws://127.0.0.1:9"

[[venues]]
exchange = "bitstamp"
rest_url = "http://127.0.0.1:9"
ws_url = "ws://127.0.0.1:9"
"""


def _settled(fd: int) -> bool:
    """Nothing more to read for a moment: the scan is between two redraws, not in the middle of one."""
    return not select.select([fd], [], [], 0.1)[0]


def _enough(rows: list[str], cols: int) -> bool:
    """At least two bitstamp retry notices and the status area are on the screen."""
    lines = _unwrap([row.rstrip() for row in rows], cols)
    return sum(line.startswith("arbscan: bitstamp unreachable") for line in lines) >= 1 and \
        any(line.startswith("events ") for line in lines)


def screen_while_running(tmp_path, cols: int, rows: int, deadline_s: float = 30.0) -> list[str]:
    """The rendered screen of a scan in a ``cols`` x ``rows`` terminal, once two bitstamp retries and the status
    area are on it (polled, at most ``deadline_s``: a loaded machine starts the scan late)."""
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(CONFIG)
    argv = [sys.executable, "-c", DRIVER, "scan", "--config", str(cfg), "--db", str(tmp_path / "s.db"),
            "--duration", str(deadline_s + 30)]
    pid, fd = pty.fork()
    if pid == 0:  # the child: the scan, its stdout and stderr on the terminal
        os.execv(sys.executable, argv)
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.kill(pid, signal.SIGWINCH)
        screen = pyte.Screen(cols, rows)
        stream = pyte.ByteStream(screen)
        started = time.monotonic()
        while time.monotonic() - started < deadline_s:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    data = os.read(fd, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not data:
                    break
                stream.feed(data)
            if _enough(screen.display, cols) and _settled(fd):
                return [row.rstrip() for row in screen.display]
        pytest.fail(f"no two bitstamp retries and status area within {deadline_s} s; screen:\n" + "\n".join(screen.display))
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        os.close(fd)


def _unwrap(rows: list[str], cols: int) -> list[str]:
    """Screen rows with the terminal's own wrapping undone: a full row continues on the next."""
    lines, current = [], ""
    for row in rows:
        current += row
        if len(row) < cols:
            lines.append(current)
            current = ""
    return [line for line in lines + [current] if line]


@pytest.mark.parametrize("cols,rows", [(80, 24), (200, 50)])
def test_retry_lines_scroll_above_a_status_area_drawn_once(tmp_path, cols, rows):
    lines = _unwrap(screen_while_running(tmp_path, cols, rows), cols)
    retries = [line for line in lines if line.startswith("arbscan: bitstamp unreachable")]
    assert len(retries) == 1  # one notice per state change (issue 28), not one per retry
    for line in retries:  # each notice whole: cause, then when it is tried again
        assert line.startswith("arbscan: bitstamp unreachable (ExchangeUnavailable: connection refused by 127.0.0.1:9); "
                               "retrying in ")
        assert line.endswith(" s")
    status = [line for line in lines if line.startswith(("bitstamp   ", "kraken     ", "events "))]
    assert [s.split()[0] for s in status] == ["bitstamp", "kraken", "events"]  # once each, in order
    assert status[0].startswith("bitstamp   unreachable ")
    assert lines[-3:] == status  # at the bottom, below every notice
    assert not any("unreachable (" in s and "events" in s for s in lines)  # nothing drawn over anything
