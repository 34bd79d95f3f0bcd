"""What every command shares: where the environment files are, and how to print."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console


class OutputFormat(StrEnum):
    """How a command prints its result."""

    table = "table"
    json = "json"
    markdown = "markdown"


class TableOrJson(StrEnum):
    """How a command without a Markdown form prints its result."""

    table = "table"
    json = "json"


@dataclass
class Settings:
    """Global options, set once by the top-level callback."""

    environments: Path
    verbosity: int = 0

    @property
    def project_root(self) -> Path:
        """Return the project folder: the parent of the environments folder."""
        return self.environments.resolve().parent


def settings_of(ctx: typer.Context) -> Settings:
    """Given a command's context, return the global settings."""
    obj = ctx.find_root().obj
    if not isinstance(obj, Settings):  # pragma: no cover - the callback always sets it
        msg = "settings were not initialised"
        raise RuntimeError(msg)
    return obj


def stdout() -> Console:
    """Return a console for results (stdout); wide enough that tables do not wrap in pipes."""
    from rich.console import Console

    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160, soft_wrap=False)


def print_json(data: Any) -> None:
    """Given JSON-able data, print it to stdout, stable (sorted keys) and indented."""
    import json

    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def write_output(path: Path, text: str, hint: str) -> None:
    """Given a file a command writes, its text and what to do when it cannot be written, write it (and its
    folder) or raise SeawallError saying why and the hint."""
    from seawall.errors import SeawallError
    from seawall.files import write_atomically

    try:
        write_atomically(path, text)
    except OSError as exc:
        msg = f"cannot write {path}: {exc.strerror or exc}; {hint}"
        raise SeawallError(msg) from None
