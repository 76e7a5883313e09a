"""The journal as a file: why a path cannot be used, in one line for every command, and runs whose process died.

:func:`check_journal` is the one judge of a journal path: every command that opens the journal, for
writing (``Store``) or reading (``Store.open_readonly``, reports), raises the same ``BadInput``
``journal 'PATH': CAUSE`` (the CLI prints it as ``arbscan: error: ...`` and exits 2) for a directory,
a missing parent directory, a read-only file or directory, a file that is not SQLite, an SQLite database
of another program (:func:`foreign_database`, judged read-only: nothing is written to it), or a journal
written by a newer arbscan. :func:`journal_error` words an SQLite failure met later the same way.

A run records the process that wrote it (``runs.pid``, ``runs.host``); :func:`mark_crashed_runs`,
called whenever a journal is opened, marks ``crashed`` every run still ``running`` whose process is
gone (on this host; a run of another host cannot be checked and is left as it is).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import socket
import sqlite3
from pathlib import Path

from arbscan.errors import BadInput, WriteFailed
from arbscan.journal import schema
from arbscan.journal.schema import JOURNAL_APPLICATION_ID

__all__ = [
    "check_journal",
    "journal_problem",
    "journal_error",
    "write_cause",
    "journal_write_failed",
    "remove_new_journal",
    "this_host",
    "process_alive",
    "mark_crashed_runs",
    "mark_crashed_runs_at",
]

logger = logging.getLogger(__name__)

_SQLITE_HEADER = b"SQLite format 3\x00"


_OLD_JOURNAL_TABLES = frozenset({"runs", "opportunities", "funnel", "venue_stats"})
"""The tables every arbscan journal has had since version 1: how a journal older than the marker is known."""


def _name(path: str | Path) -> str:
    return repr(str(path))


def journal_problem(path: str | Path, *, write: bool) -> str | None:
    """Why the journal at ``path`` cannot be opened (for writing when ``write``), or None when it can be tried."""
    p = Path(path)
    if p.is_dir():
        return "is a directory, not a journal file"
    parent = p.absolute().parent
    if not parent.exists():
        return f"its directory {_name(parent)} does not exist"
    if not parent.is_dir():
        return f"{_name(parent)} is not a directory"
    if not p.exists():
        if not write:
            return "does not exist"
        if not os.access(parent, os.W_OK | os.X_OK):
            return f"cannot be created: its directory {_name(parent)} is read-only"
        return None
    try:
        with open(p, "rb") as fh:
            head = fh.read(len(_SQLITE_HEADER))
    except PermissionError:
        return "cannot be read (permission denied)"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if head and head != _SQLITE_HEADER:  # an empty file is a new journal to SQLite
        return "is not an SQLite database"
    if head:
        foreign = foreign_database(p)
        if foreign is not None:
            return foreign
    if write and not os.access(p, os.W_OK):
        return "is read-only (no write permission on the file)"
    if write and not os.access(parent, os.W_OK | os.X_OK):
        return f"its directory {_name(parent)} is read-only (SQLite writes its -wal and -shm files there)"
    return None


def foreign_database(path: str | Path) -> str | None:
    """Why the SQLite file at ``path`` cannot be taken for an arbscan journal, or None when it can.

    Judged through a read-only connection, before anything is written: a journal carries
    :data:`JOURNAL_APPLICATION_ID`; one written before the marker has a schema version and the tables of
    version 1; a database without any table (and no schema version) is a new journal. Anything else is a
    database of another program and is refused; a journal of a newer arbscan is named as such.
    """
    known = len(schema.MIGRATIONS)
    try:
        conn = sqlite3.connect(f"file:{Path(path).absolute()}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return None  # cannot be told here: opening it for real names the SQLite error
    try:
        conn.execute("BEGIN")  # one read snapshot: a journal being created is never seen half before, half after a commit
        (app_id,) = conn.execute("PRAGMA application_id").fetchone()
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        conn.execute("COMMIT")
    except sqlite3.Error:
        return None  # damaged, locked, ...: opening it for real names the SQLite error
    finally:
        conn.close()
    ours = app_id == JOURNAL_APPLICATION_ID or (app_id == 0 and version >= 1 and _OLD_JOURNAL_TABLES <= tables)
    if ours or (app_id == 0 and not tables and version <= known):
        if version > known:
            return (f"was written by a newer arbscan (schema version {version}; this arbscan knows "
                    f"{known}): upgrade arbscan to use it")
        return None
    if app_id == 0 and not tables:  # only a schema version above ours: a newer arbscan's empty journal
        return (f"was written by a newer arbscan (schema version {version}; this arbscan knows "
                f"{known}): upgrade arbscan to use it")
    if app_id:
        what = f"application_id {app_id:#x}"
    else:
        names = sorted(tables)
        what = "tables " + ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return f"is not an arbscan journal (an SQLite database of another program: {what}); it was not changed"


def check_journal(path: str | Path, *, write: bool) -> None:
    """Raise ``BadInput`` ``journal 'PATH': CAUSE`` when :func:`journal_problem` finds one."""
    problem = journal_problem(path, write=write)
    if problem is not None:
        raise BadInput(f"journal {_name(path)}: {problem}")


def journal_error(path: str | Path, exc: BaseException, *, write: bool) -> BadInput:
    """An SQLite failure on the journal as the same one-line ``BadInput`` (the path's own problem first)."""
    problem = journal_problem(path, write=write)
    if problem is None:
        text = str(exc)
        if "readonly" in text or "read-only" in text:
            problem = "is read-only (SQLite: attempt to write a readonly database)"
        elif "not a database" in text:
            problem = "is not an SQLite database"
        elif "malformed" in text:
            problem = f"is damaged (SQLite: {text})"
        elif "full" in text or isinstance(exc, OSError):
            problem = f"cannot be written: {write_cause(exc)}"
        elif "newer than this arbscan" in text:
            versions = re.findall(r"\d+", text)
            known = f" (schema version {versions[0]}; this arbscan knows {versions[-1]})" if len(versions) >= 2 else ""
            problem = f"was written by a newer arbscan{known}: upgrade arbscan to use it"
        else:
            problem = f"cannot be opened (SQLite: {text})"
    return BadInput(f"journal {_name(path)}: {problem}")


# -- a write that failed --------------------------------------------------------------------------

_SQLITE_FULL = 13  # SQLite's result codes (the low byte of an extended code)
_SQLITE_IOERR = 10


def write_cause(exc: BaseException) -> str:
    """Why a write failed, for a person: ``No space left on device`` for a full disk (SQLite's or the OS's words)."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc.strerror or os.strerror(exc.errno)
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        text = str(exc)
        if (code is not None and code & 0xFF == _SQLITE_FULL) or "disk is full" in text:
            return f"{os.strerror(errno.ENOSPC)} (SQLite: {text})"
        if (code is not None and code & 0xFF == _SQLITE_IOERR) or "disk I/O error" in text:
            return f"{os.strerror(errno.EIO)} (SQLite: {text})"
        return f"SQLite: {text}"
    return str(exc) or type(exc).__name__


def journal_write_failed(path: str | Path, exc: BaseException) -> WriteFailed:
    """The one line of a journal write that failed: the run stops; what was committed before it stays."""
    return WriteFailed(f"journal {_name(path)}: a write failed: {write_cause(exc)}; the run stopped there "
                       "(everything committed before it stays, nothing after it was written)")


def remove_new_journal(path: str | Path) -> None:
    """Remove a journal file this process has just created, with its -wal and -shm files (best effort).

    A journal that could not even be set up (a disk already full) leaves nothing behind, not a 0-byte file.
    """
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.unlink(f"{path}{suffix}")
        except OSError:
            pass


# -- runs whose process is gone ------------------------------------------------------------------


def this_host() -> str:
    """The name runs record as ``runs.host``."""
    return socket.gethostname()


def _process_started(pid: int) -> float | None:
    """Unix time the process ``pid`` started (Linux ``/proc``), or None when that cannot be told."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        with open("/proc/stat", "rb") as fh:
            boot = next(float(line.split()[1]) for line in fh if line.startswith(b"btime"))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def process_alive(pid: int, started: float | None = None) -> bool:
    """Whether process ``pid`` of this host still runs, and (when ``started`` is given) is the one that
    started the run then rather than a later process that was given the same pid."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    except OSError:
        return True  # cannot tell: leave the run as it is
    began = _process_started(pid)
    return began is None or started is None or began <= started + 2.0


def mark_crashed_runs(conn: sqlite3.Connection) -> list[int]:
    """Mark ``crashed`` the runs still ``running`` whose process (on this host) is gone; returns their ids.

    Runs without a pid (journaled by an older arbscan) or of another host are left as they are.
    """
    try:
        rows = conn.execute(
            "SELECT id, pid, started FROM runs WHERE status = 'running' AND pid IS NOT NULL AND host = ?",
            (this_host(),),
        ).fetchall()
    except sqlite3.OperationalError:  # no runs table or no pid column yet (not migrated): nothing to judge
        return []
    dead = [run_id for run_id, pid, started in rows if not process_alive(int(pid), started)]
    for run_id in dead:
        conn.execute("UPDATE runs SET status = 'crashed' WHERE id = ? AND status = 'running'", (run_id,))
    if dead:
        logger.warning("journal: run(s) %s ended without closing (process gone): marked crashed",
                       ", ".join(map(str, dead)))
    return dead


def mark_crashed_runs_at(path: str | Path) -> list[int]:
    """:func:`mark_crashed_runs` through a short-lived connection, when the journal can be written (else nothing).

    For readers: a report on a journal whose scanner was killed shows that run ``crashed``.
    """
    if journal_problem(path, write=True) is not None:
        return []
    try:
        conn = sqlite3.connect(str(path), timeout=1, isolation_level=None)
    except sqlite3.Error:
        return []
    try:
        return mark_crashed_runs(conn)
    except sqlite3.Error as exc:  # locked by a busy writer, ...: the next open will do it
        logger.debug("crashed runs not marked: %s", exc)
        return []
    finally:
        conn.close()
