"""What Seawall remembers between runs, per environment, set and host, as small JSON files.

Written atomically (a temporary file renamed into place), so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    """Given a path and text, replace the file's content in one step."""
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


class StateStore:
    """JSON documents under ``state_dir/<env>/``."""

    def __init__(self, state_dir: Path, env_name: str) -> None:
        self.root = state_dir / env_name

    def _path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts).with_suffix(".json")

    def read(self, *parts: str) -> dict[str, Any]:
        """Given a document's name parts, return it (empty when absent or unreadable)."""
        path = self._path(*parts)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def write(self, data: dict[str, Any], *parts: str) -> None:
        """Given a document and its name parts, store it atomically."""
        write_atomically(self._path(*parts), json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")

    def update(self, changes: dict[str, Any], *parts: str) -> dict[str, Any]:
        """Given changes, merge them into a document and return the result."""
        data = self.read(*parts)
        data.update(changes)
        self.write(data, *parts)
        return data
