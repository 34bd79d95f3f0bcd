"""Files placed on hosts, and the one shell format that carries them: written here, read back here.

Every SSH step writes its files with ``file_lines``: a here-document to ``PATH.new``, its mode, a rename,
so a host never sees half a file. The policies read what a step installs with ``installed_files``, the
exact inverse, so the format has one home and a test that round-trips it (``tests/unit/test_hostfiles.py``).
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

STAGED = ".staged"  # a file checked before it moves in (``PATH.staged``) counts as the file it becomes
# The SSH steps a host gets are named ``<host>-<step>``: the host component names them so, the policies
# find every host by its install step and check its exporter step.
INSTALL_STEP = "install"
EXPORTER_STEP = "node-exporter"
MANIFEST_STEP = "manifest"  # the last step on every host: what the others placed (seawall.manifest)
_FILE = re.compile(r"cat > (\S+)\.new <<'(SEAWALL_EOF_\w+)'\n(.*?)\n\2\n", re.S)


@dataclass(frozen=True)
class RenderedFile:
    """A file to place on a host: where, what, and with which mode."""

    path: str
    content: str
    mode: str = "0644"


def _marker(index: int, content: str) -> str:
    """Return a here-document marker that no line of the content equals."""
    marker = f"SEAWALL_EOF_{index}"
    if marker in content.splitlines():
        marker += "_" + hashlib.sha256(content.encode()).hexdigest()[:16]
    return marker


def file_lines(files: Sequence[RenderedFile]) -> list[str]:
    """Given files, return the shell lines that write each one atomically (a here-document to
    ``PATH.new``, its mode, a rename)."""
    lines = []
    for index, rendered in enumerate(files):
        if any(character.isspace() for character in rendered.path):
            msg = f"a host file's path has a space: {rendered.path!r}"
            raise ValueError(msg)
        body = rendered.content.rstrip("\n")
        marker = _marker(index, body)
        path = shlex.quote(rendered.path)
        lines.append(f'install -d -m 0755 "$(dirname {path})"')
        lines.append(f"cat > {path}.new <<'{marker}'\n{body}\n{marker}")
        lines.append(f"chmod {rendered.mode} {path}.new && mv {path}.new {path}")
    return lines


def installed_files(script: str) -> dict[str, str]:
    """Given a step's script, return the files it writes, by path, without their final newlines (a file
    staged for checking counts as the file it becomes)."""
    return {match.group(1).removesuffix(STAGED): match.group(3) for match in _FILE.finditer(script + "\n")}


def step_name(host: str, step: str) -> str:
    """Given a host and a step (``INSTALL_STEP``…), return the step's resource name."""
    return f"{host}-{step}"


def host_of_step(name: str, step: str) -> str | None:
    """Given a resource name and a step, return the host whose step it is, or None."""
    suffix = f"-{step}"
    return name.removesuffix(suffix) if name.endswith(suffix) and len(name) > len(suffix) else None
