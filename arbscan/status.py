"""What a person sees while a run goes: the live status view of ``scan`` and the progress bar of ``replay``."""

from __future__ import annotations

import sys
import time
from typing import Any

__all__ = ["Progress", "StatusView"]


class Progress:
    """A one-line text progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.enabled = sys.stderr.isatty()
        self.drawn = False

    def __call__(self, fraction: float, events: int) -> None:
        if not self.enabled:
            return
        width = 30
        filled = int(fraction * width)
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {fraction * 100:5.1f}%  {events:,} book events")
        sys.stderr.flush()
        self.drawn = True

    def done(self) -> None:
        if self.drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()


class StatusView:
    """The live status on stderr: books per venue with their age, opportunities, episodes."""

    def __init__(self, driver: Any, enabled: bool) -> None:
        self.driver = driver
        self.tty = sys.stderr.isatty()
        self.enabled = enabled
        self.lines = 0
        self.last_plain = 0.0

    def render(self) -> list[str]:
        d = self.driver
        s = d.scanner
        now = d.now()
        lines = []
        for name, st in sorted(d.venues.items()):
            state = "up" if st.reachable else "unreachable" if st.reachable is False else "connecting"
            books = [f"{sym} {age:,.0f} ms" for ex, sym, age in s.book_ages(now) if ex == name]
            lines.append(f"{name:<10} {state:<11} {', '.join(books) or 'no books yet'}")
        lines.append(f"events {s.events:,}  live evaluations {s.live_evaluations:,}  "
                     f"open episodes {len(s.episodes)}  closed episodes {s.episodes_closed:,}")
        return lines

    def draw(self) -> None:
        if not self.enabled:
            return
        lines = self.render()
        if self.tty:
            up = f"\x1b[{self.lines}F" if self.lines else ""
            sys.stderr.write(up + "".join(f"\x1b[2K{line}\n" for line in lines))
            sys.stderr.flush()
            self.lines = len(lines)
        elif time.monotonic() - self.last_plain >= 10:
            self.last_plain = time.monotonic()
            print("status: " + " | ".join(lines), file=sys.stderr, flush=True)
