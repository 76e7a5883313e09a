"""``arbscan init``: a commented starter configuration, written once (an existing file is never replaced)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from arbscan.errors import BadInput

__all__ = ["starter_text", "write_starter"]


def starter_text() -> str:
    """The starter ``arbscan.toml`` shipped with the package (valid as it is: ``load_settings`` reads it)."""
    return resources.files("arbscan").joinpath("data", "starter.toml").read_text(encoding="utf-8")


def write_starter(path: str | Path) -> Path:
    """Write the starter config to ``path``; ``BadInput`` naming the path when it exists or cannot be written."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)  # never replaces an existing file
    except FileExistsError:
        raise BadInput(f"{str(p)!r} already exists; arbscan init never overwrites a config (remove it or name "
                       "another file with --config)") from None
    except OSError as exc:
        raise BadInput(f"cannot write {str(p)!r}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(starter_text())
    return p
