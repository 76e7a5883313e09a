"""What a person sees while a run goes: the live status view of ``scan``, the progress of ``replay``, log lines.

Everything written to stderr goes through one ``rich`` console: on a terminal, log lines and the
one-line-per-attempt notices scroll *above* the live status area (rich's live display keeps it at
the bottom and redraws it in place), so they never overwrite each other, at any terminal size. When
stderr is not a terminal nothing is redrawn: the status is one plain line every
``PLAIN_STATUS_EVERY_S`` seconds, replay progress one line every ``PLAIN_PROGRESS_EVERY_S``.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.logging import RichHandler
from rich.progress import BarColumn, Progress as RichProgress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text

__all__ = ["console", "console_handler", "say", "StatusView", "Progress", "PLAIN_STATUS_EVERY_S", "PLAIN_PROGRESS_EVERY_S"]

PLAIN_STATUS_EVERY_S = 10.0
"""How often the status is printed as one line when stderr is not a terminal."""

PLAIN_STATUS_MAX = 200
"""The longest the one-line status (stderr not a terminal) may be, however many venues."""

PLAIN_PROGRESS_EVERY_S = 5.0
"""How often replay progress is printed as one line when stderr is not a terminal."""

_console: Console | None = None
logger = logging.getLogger(__name__)


def console() -> Console:
    """The one console on stderr (made on first use, so tests that swap ``sys.stderr`` see their stream)."""
    global _console
    if _console is None or _console.file is not sys.stderr:
        _console = Console(file=sys.stderr, highlight=False, soft_wrap=True)
    return _console


def console_handler() -> logging.Handler:
    """The stderr log handler: through the console on a terminal (lines scroll above a live view), plain otherwise."""
    c = console()
    if c.is_terminal:
        handler: logging.Handler = RichHandler(console=c, show_time=False, show_path=False, markup=False,
                                               rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        return handler
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    return handler


def say(line: str) -> None:
    """One line for the person on stderr, above any live view (plain text: no markup is read)."""
    c = console()
    if c.is_terminal:
        c.print(Text(line), soft_wrap=True)
    else:
        print(line, file=sys.stderr, flush=True)


class StatusView:
    """The live status of ``scan``/``record``: each venue (up / unreachable / connecting) with its books' ages, and counts."""

    def __init__(self, driver: Any, enabled: bool) -> None:
        self.driver = driver
        self.enabled = enabled
        self.tty = console().is_terminal
        self.last_plain = time.monotonic()
        self._live: Live | None = None

    def render(self) -> list[str]:
        """The status as lines of text."""
        d = self.driver
        s = d.scanner
        now = d.now()
        lines = []
        ages: dict[str, list[str]] = {}
        for ex, sym, age in s.book_ages(now):
            ages.setdefault(ex, []).append(f"{sym} {age:,.0f} ms")
        for name, st in sorted(d.venues.items()):
            state = "up" if st.reachable else "unreachable" if st.reachable is False else "connecting"
            books = ages.get(name)
            if books and len(books) > 6:
                books = books[:6] + [f"... {len(books) - 6} more"]
            detail = ", ".join(books) if books else ("no books yet" if st.reachable is not False else
                                                       f"{st.failures} failed attempt(s)")
            lines.append(f"{name:<10} {state:<11} {detail}")
        lines.append(f"events {s.events:,}  live evaluations {s.live_evaluations:,}  "
                     f"open episodes {len(s.episodes)}  closed episodes {s.episodes_closed:,}")
        return lines

    def plain_line(self) -> str:
        """The status as one short line (stderr not a terminal): venues counted by state, the unreachable
        ones named (a few), and the counts; each venue's books are in the log at ``-v``."""
        d = self.driver
        s = d.scanner
        states: dict[str, list[str]] = {"up": [], "unreachable": [], "connecting": []}
        for name, st in sorted(d.venues.items()):
            states["up" if st.reachable else "unreachable" if st.reachable is False else "connecting"].append(name)
        parts = [f"{len(states['up'])} up"]
        if states["unreachable"]:
            names = states["unreachable"]
            shown = ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
            parts.append(f"{len(names)} unreachable ({shown})")
        if states["connecting"]:
            parts.append(f"{len(states['connecting'])} connecting")
        line = (f"status: venues {', '.join(parts)} | events {s.events:,}, live {s.live_evaluations:,}, "
                f"open {len(s.episodes)}, closed {s.episodes_closed:,}")
        return line if len(line) <= PLAIN_STATUS_MAX else line[: PLAIN_STATUS_MAX - 3] + "..."

    def _renderable(self) -> Group:
        return Group(*(Text(line, no_wrap=True, overflow="ellipsis") for line in self.render()))

    def draw(self) -> None:
        """Redraw in place on a terminal; otherwise one plain line every ``PLAIN_STATUS_EVERY_S``."""
        if not self.enabled:
            return
        if self.tty:
            if self._live is None:
                self._live = Live(self._renderable(), console=console(), auto_refresh=False, transient=True,
                                  redirect_stdout=False, redirect_stderr=False)
                self._live.start()
            self._live.update(self._renderable(), refresh=True)
        elif time.monotonic() - self.last_plain >= PLAIN_STATUS_EVERY_S:
            self.last_plain = time.monotonic()
            print(self.plain_line(), file=sys.stderr, flush=True)
            for line in self.render()[:-1]:  # each venue's books: at -v
                logger.info("status: %s", line)

    def close(self) -> None:
        """Take the live area off the screen (the summary follows on stdout)."""
        if self._live is not None:
            self._live.stop()
            self._live = None


class Progress:
    """Replay progress with rate (events/s) and time left: a bar on a terminal, a line every few seconds otherwise."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.tty = console().is_terminal
        self.started = time.monotonic()
        self.last_plain = self.started
        self._bar: RichProgress | None = None
        self._task: Any = None

    def __call__(self, fraction: float, events: int) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = events / elapsed
        if self.tty:
            if self._bar is None:
                self._bar = RichProgress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                                         TextColumn("{task.fields[events]} book events, {task.fields[rate]}/s"),
                                         TimeRemainingColumn(), console=console(), transient=False)
                self._task = self._bar.add_task(self.label, total=1.0, events="0", rate="0")
                self._bar.start()
            self._bar.update(self._task, completed=fraction, events=f"{events:,}", rate=f"{rate:,.0f}")
        elif time.monotonic() - self.last_plain >= PLAIN_PROGRESS_EVERY_S:
            self.last_plain = time.monotonic()
            left = (elapsed / fraction - elapsed) if fraction > 0 else None
            eta = "" if left is None else f", about {left:,.0f} s left"
            print(f"{self.label}: {fraction * 100:.1f} %, {events:,} book events, {rate:,.0f} events/s{eta}",
                  file=sys.stderr, flush=True)

    def done(self) -> None:
        """End the bar (its last state stays on the screen)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
