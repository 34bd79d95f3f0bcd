"""The exact build a deploy ships to every host: a wheel of this checkout and the hash-pinned lock file.

Hosts never install Seawall by name from a registry (an unclaimed name is a dependency-confusion risk):
the deploy builds a wheel from the checkout it runs from (reproducibly: ``SOURCE_DATE_EPOCH`` fixes the
archive's timestamps, so the same sources give the same bytes), copies it and ``requirements.lock``
(every dependency pinned by hash) to each host, and installs both with ``--require-hashes`` into
``/opt/seawall``. ``seawall --version`` on a host names the wheel's hash.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from seawall import __version__
from seawall.errors import SeawallError
from seawall.runner import Command, run

LOCK_FILE = "requirements.lock"
SOURCE_DATE_EPOCH = "315532800"  # 1980-01-01, the earliest time a zip archive can hold
PACKAGES = ("seawall", "backup", "stacks", "components", "policy")


class BuildError(SeawallError):
    """The wheel could not be built."""


@dataclass(frozen=True)
class Build:
    """What a deploy ships: the wheel (None in an offline render) with its hash, and the lock file."""

    identity: str
    lock: Path
    wheel: Path | None = None

    @property
    def wheel_name(self) -> str:
        """Return the wheel's file name (the name pip derives the version from)."""
        return self.wheel.name if self.wheel is not None else f"seawall-{__version__}-py3-none-any.whl"


def checkout_root() -> Path:
    """Return the folder of the checkout Seawall runs from (the parent of ``seawall/``)."""
    return Path(__file__).resolve().parent.parent


def source_identity(root: Path) -> str:
    """Given a checkout, return a hash of everything that goes into the wheel and its lock, without
    building: the offline render's build identity (same sources, same identity)."""
    import hashlib  # here, not at the top: `seawall --version` imports this module and needs no hash

    digest = hashlib.sha256()
    files = [root / "pyproject.toml", root / LOCK_FILE]
    for package in PACKAGES:
        files += sorted(p for p in (root / package).rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in files:
        if path.is_file() and not path.is_symlink():
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return "src-" + digest.hexdigest()[:16]


def make_wheel_command(root: Path, out: Path) -> Command:
    """Return the command that builds the checkout's wheel into ``out``, reproducibly."""
    return Command(
        (sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(root)),
        {"SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        timeout=600,
    )


def build_wheel(root: Path, out: Path) -> Build:
    """Given a checkout and a folder, build the wheel there and return the build (identity: its hash)."""
    lock = root / LOCK_FILE
    if not lock.is_file():
        msg = f"{lock} is missing: the deploy installs dependencies only from the hash-pinned lock file"
        raise BuildError(msg)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("seawall-*.whl"):
        old.unlink()
    result = run(make_wheel_command(root, out))
    wheels = sorted(out.glob("seawall-*.whl"))
    if not result.ok or len(wheels) != 1:
        msg = f"building the wheel of {root} failed: {result.last_error_line()}"
        raise BuildError(msg)
    return Build("sha256:" + sha256_of(wheels[0]), lock, wheels[0])


def sha256_of(path: Path) -> str:
    """Given a file, return its SHA-256."""
    import hashlib

    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def installed_build() -> str:
    """Return what this installation is: the wheel hash pip recorded, or a development checkout."""
    if (checkout_root() / "pyproject.toml").is_file():
        return "development checkout"
    from importlib import metadata

    try:
        text = metadata.distribution("seawall").read_text("direct_url.json") or "{}"
    except metadata.PackageNotFoundError:
        return "not installed"
    data = json.loads(text)
    archive = data.get("archive_info", {})
    hashes = archive.get("hashes") or {}
    if "sha256" in hashes:
        return f"wheel sha256:{hashes['sha256'][:16]}"
    return f"wheel {archive.get('hash', 'without a recorded hash')}"
