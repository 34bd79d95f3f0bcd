"""The exact build a deploy ships to every host: a wheel of this checkout and the hash-pinned lock file.

Hosts never install Seawall by name from a registry (an unclaimed name is a dependency-confusion risk):
the deploy builds a wheel from the checkout it runs from (reproducibly: ``SOURCE_DATE_EPOCH`` fixes the
archive's timestamps, so the same sources give the same bytes), copies it and ``requirements.lock``
(every dependency pinned by hash) to each host, and installs both with ``--require-hashes`` into
``/opt/seawall``. ``seawall --version`` on a host names the wheel's hash.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seawall import __version__
from seawall.errors import SeawallError

if TYPE_CHECKING:
    from seawall.runner import Command

LOCK_FILE = "requirements.lock"
SOURCE_DATE_EPOCH = "315532800"  # 1980-01-01, the earliest time a zip archive can hold
# setuptools' license files when pyproject.toml names none (``license-files``'s default).
LICENSE_PATTERNS = ("LICEN[CS]E*", "COPYING*", "NOTICE*", "AUTHORS*")


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
    files = {LOCK_FILE: root / LOCK_FILE, **shipped_files(root)}
    for name, path in sorted(files.items()):
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return "src-" + digest.hexdigest()[:16]


def shipped_files(root: Path) -> dict[str, Path]:
    """Given a checkout, return every file its wheel is made of, found as setuptools finds them from
    pyproject.toml: each package's modules and ``package-data`` by their name in the wheel
    (``seawall/templates/inventory.md.j2``), then the metadata's sources by their name in the checkout
    (``pyproject.toml``, the readme, the license files)."""
    import glob
    import tomllib

    try:
        config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        msg = f"{root} is not a checkout with a readable pyproject.toml: {exc}"
        raise BuildError(msg) from exc
    setuptools = config.get("tool", {}).get("setuptools", {})
    data = setuptools.get("package-data", {})
    files: dict[str, Path] = {}
    for package, folder in sorted(_packages(root, setuptools.get("packages", {"find": {}})).items()):
        prefix = package.replace(".", "/")
        patterns = ["*.py", *data.get("*", []), *data.get(package, [])]
        for pattern in patterns:
            for found in glob.glob(glob.escape(str(folder)) + "/" + pattern, recursive=True):
                if os.path.isfile(found):
                    files[f"{prefix}/{Path(found).relative_to(folder).as_posix()}"] = Path(found)
    return files | {name: root / name for name in _metadata_sources(root, config.get("project", {}))}


def _packages(root: Path, packages: Any) -> dict[str, Path]:
    """Given ``[tool.setuptools] packages`` (a list, or ``find``'s table), return each package's folder by its
    dotted name."""
    if isinstance(packages, list):
        return {str(name): root / str(name).replace(".", "/") for name in packages}
    find = packages.get("find", {})
    found: dict[str, Path] = {}
    for where in find.get("where", ["."]):
        found |= _found_packages(root / where, find)
    return found


def _found_packages(base: Path, find: dict[str, Any]) -> dict[str, Path]:
    """Given a folder and ``find``'s table, return what setuptools finds there, links followed: every folder
    but one with a dot in its name (with ``namespaces = false``, only one with ``__init__.py``) whose dotted
    name an ``include`` pattern matches and no ``exclude`` pattern does."""
    include, exclude = find.get("include", ["*"]), find.get("exclude", [])
    namespaces = find.get("namespaces", True)
    # Where every pattern starts with a plain name (``seawall.*``), no other top-level folder holds a match.
    tops = {pattern.split(".")[0] for pattern in include}
    tops = set() if any(mark in top for top in tops for mark in "*?[") else tops
    found: dict[str, Path] = {}
    for folder, children, _ in os.walk(base, followlinks=True):
        children[:] = [
            child
            for child in sorted(children)
            if "." not in child
            and (namespaces or (Path(folder, child) / "__init__.py").is_file())
            and not (tops and Path(folder) == base and child not in tops)
        ]
        for child in children:
            package = Path(folder, child).relative_to(base).as_posix().replace("/", ".")
            if _matches(package, include) and not _matches(package, exclude):
                found[package] = Path(folder, child)
    return found


def _matches(package: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(package, pattern) for pattern in patterns)


def _metadata_sources(root: Path, project: dict[str, Any]) -> list[str]:
    """Given ``[project]``, return the checkout's files the wheel's metadata is made of."""
    readme = project.get("readme")
    names = ["pyproject.toml", *([readme] if isinstance(readme, str) else [])]
    if isinstance(readme, dict) and "file" in readme:
        names.append(str(readme["file"]))
    for pattern in project.get("license-files", LICENSE_PATTERNS):
        names += sorted(path.relative_to(root).as_posix() for path in root.glob(pattern) if path.is_file())
    return names


def make_wheel_command(root: Path, out: Path) -> Command:
    """Return the command that builds the checkout's wheel into ``out``, reproducibly."""
    from seawall.runner import Command  # here, not at the top: `seawall --version` imports this module

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
    from seawall.runner import run

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
    import json

    data = json.loads(text)
    archive = data.get("archive_info", {})
    hashes = archive.get("hashes") or {}
    if "sha256" in hashes:
        return f"wheel sha256:{hashes['sha256'][:16]}"
    return f"wheel {archive.get('hash', 'without a recorded hash')}"
