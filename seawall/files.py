"""Files on the machine Seawall runs on: paths from the model made absolute, and every file Seawall
writes replaced in one step.

A file is written beside its target under a temporary name and renamed into place, so a reader (a
Prometheus reloading its rules, a timer reading its state, a reviewer's editor) sees the old file or the
new one, never half of one, and a failed write (a full disk, a signal) leaves the old file whole.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def os_reason(exc: OSError) -> str:
    """Given an error of the operating system, return why and where, for a message (``No space left on
    device (/var/lib/seawall/state)``)."""
    return f"{exc.strerror or exc}{f' ({exc.filename})' if exc.filename else ''}"


def resolve(project_root: Path, path: str) -> Path:
    """Given the project folder and a path from the model, return it absolute (relative paths are taken
    from the project folder, the parent of ``environments/``)."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else project_root / candidate


def write_atomically(path: Path, text: str, mode: int | None = None) -> None:
    """Given a path, text and the file's mode (default: the mode of the file replaced, else 0644), replace
    the file's content in one step (its folder made when missing).

    A link is followed (the file it names is replaced, the link stays); a device or pipe (``/dev/stdout``)
    is written through, since it cannot be replaced.
    """
    if path.exists() and not path.is_file():
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(text)
        return
    if path.is_symlink():
        path = path.resolve()
    if mode is None:
        mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
