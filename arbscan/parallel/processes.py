"""Child processes of ``--workers N``: spawned cleanly, named, and never outliving their parent.

Every child is started with the ``spawn`` method (a fresh interpreter: no inherited threads, locks
or event loops) by :func:`spawn`, and begins with :func:`child_start`, which

* names the process (``arbscan-shard1``, ``arbscan-writer``: what ``ps`` and ``top`` show);
* asks Linux to send it ``death_signal`` when its parent dies (``prctl(PR_SET_PDEATHSIG)``), and exits
  at once if the parent is already gone; a shard takes SIGKILL (it holds nothing durable), the journal
  writer SIGTERM (it commits what it has received, then exits);
* ignores SIGINT: Ctrl-C reaches the whole process group, and only the parent decides how to stop;
* configures logging on stderr (and the log file) as the parent's, each line tagged with the role.

The control pipes from the parent end when it dies too (their EOF is a second, portable signal).
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ChildLog", "child_start", "spawn", "set_name", "die_with_parent"]

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15


@dataclass(frozen=True, slots=True)
class ChildLog:
    """How a child logs: the parent's level on stderr and its log file (None: none)."""

    level: int = logging.WARNING
    file: str | None = None
    file_level: int = logging.INFO


def _prctl(option: int, arg: Any) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, arg, 0, 0, 0) == 0
    except (OSError, AttributeError):  # pragma: no cover - no libc prctl
        return False


def set_name(name: str) -> None:
    """Name this process as ``ps`` shows it (Linux: 15 characters at most)."""
    _prctl(_PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]))


def die_with_parent(sig: int, parent_pid: int) -> None:
    """Have the kernel send ``sig`` to this process when its parent dies; exit now if it already has."""
    _prctl(_PR_SET_PDEATHSIG, int(sig))
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def _configure_logging(log: ChildLog, tag: str) -> None:
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"%(levelname)s [{tag}] %(name)s: %(message)s"))
    handler.setLevel(log.level)
    root.addHandler(handler)
    lowest = log.level
    if log.file:
        fh = logging.FileHandler(log.file, encoding="utf-8")
        fh.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s [{tag}] %(name)s: %(message)s"))
        fh.setLevel(log.file_level)
        root.addHandler(fh)
        lowest = min(lowest, log.file_level)
    root.setLevel(lowest)
    for noisy in ("websockets", "asyncio", "ccxt", "urllib3", "aiohttp"):
        logging.getLogger(noisy).setLevel(max(lowest, logging.WARNING))
    logging.getLogger("adapters").setLevel(lowest if log.level < logging.WARNING or log.file else logging.ERROR)


def child_start(name: str, parent_pid: int, death_signal: int, log: ChildLog, tag: str) -> None:
    """What every child does first (see the module docstring)."""
    set_name(name)
    die_with_parent(death_signal, parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _configure_logging(log, tag)


def spawn(target: Callable[..., Any], args: tuple[Any, ...], name: str) -> multiprocessing.process.BaseProcess:
    """Start ``target(*args)`` in a new interpreter (spawn method); returns the started process."""
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=target, args=args, name=name, daemon=True)
    proc.start()
    return proc
