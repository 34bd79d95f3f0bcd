"""Drift: what Seawall placed on a host (its manifest), what the host holds now, and how they differ.

The deploy's last step on each host writes ``/etc/seawall/manifest.json``: every file the other steps placed
(path, sha256, mode, owner; a secret file's hash is left out, the host records it), the units they enabled,
whether a firewall is loaded, the wheel's path, and the folders where nothing else belongs. The manifest is a
pure function of the rendered host configuration, so the offline graph (``ledger/ENV.deployed.json``) holds
the very bytes each host got. On the host, ``seawall host record`` then writes what only the host can know
at deploy time (``manifest.recorded.json``: the secret files' hashes, the loaded ruleset's hash, the
installed wheel's hash), and ``seawall host verify`` compares the live host with both, every hour.

Everything here is pure: ``compare`` takes an observation of the host (``seawall.hostcheck`` makes one) and
returns the differences, each a ``Drift`` of one kind.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from seawall.hostfiles import MANIFEST_FILE, OWNED, RECORDED_FILE, RenderedFile

MANIFEST_FORMAT = 1
OWNER = "root:root"
# Every kind of difference, in the order a report lists them.
KINDS = ("manifest", "missing", "content", "mode", "owner", "extra", "unit", "firewall", "wheel")
KIND_MEANING = {
    "manifest": "the manifest or the host's deploy-time record is missing or unreadable",
    "missing": "a file Seawall placed is gone (or is no longer a regular file)",
    "content": "a file's content is not what the deploy wrote",
    "mode": "a file's permissions are not what the deploy set",
    "owner": "a file's owner or group is not what the deploy set",
    "extra": "a file in Seawall's own folders that no deploy placed",
    "unit": "a unit the deploy enabled is not enabled",
    "firewall": "the loaded nftables ruleset is not the one the deploy loaded",
    "wheel": "the installed Seawall is not the wheel the deploy installed",
}


@dataclass(frozen=True)
class ManifestFile:
    """One placed file: its path, mode and owner, and its sha256 (None: a secret, recorded by the host)."""

    path: str
    mode: str
    owner: str = OWNER
    sha256: str | None = None

    @property
    def secret(self) -> bool:
        """Return whether the deploy left the hash to the host (the content is a secret)."""
        return self.sha256 is None


@dataclass(frozen=True)
class Manifest:
    """What one host holds from Seawall (``manifest.json``)."""

    environment: str
    host: str
    files: tuple[ManifestFile, ...]
    units: tuple[str, ...]
    firewall: bool
    wheel: str
    owned: tuple[str, ...] = OWNED

    def as_json(self) -> dict[str, Any]:
        """Return the manifest as a JSON-ready mapping."""
        data = asdict(self)
        data["format"] = MANIFEST_FORMAT
        data["files"] = [{k: v for k, v in asdict(f).items() if v is not None} for f in self.files]
        return data

    def to_text(self) -> str:
        """Return the manifest's file content: stable JSON (the same configuration, the same bytes)."""
        return json.dumps(self.as_json(), indent=1, sort_keys=True) + "\n"

    @property
    def digest(self) -> str:
        """Return the manifest's identity: the sha256 of its file content."""
        return hashlib.sha256(self.to_text().encode()).hexdigest()


class ManifestError(ValueError):
    """A manifest or a record that is not one (named, never a traceback)."""


def _text(value: Any, what: str, limit: int = 4096) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ManifestError(f"{what} is not a short text")
    return value


def _document(text: str, what: str) -> dict[str, Any]:
    """Given a file's content and what it should be, return its JSON mapping of Seawall's format, or raise."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise ManifestError(f"not a {what} of format {MANIFEST_FORMAT}")
    return data


def parse_manifest(text: str) -> Manifest:
    """Given a manifest file's content, return the manifest, or raise ManifestError naming what is wrong."""
    data = _document(text, "manifest")
    files = data.get("files")
    if not isinstance(files, list) or len(files) > 10000:
        raise ManifestError("files is not a list")
    parsed = []
    for index, entry in enumerate(files):
        if not isinstance(entry, dict):
            raise ManifestError(f"files[{index}] is not a mapping")
        sha = entry.get("sha256")
        if sha is not None and not (isinstance(sha, str) and len(sha) == 64):
            raise ManifestError(f"files[{index}].sha256 is not a sha256")
        path = _text(entry.get("path"), f"files[{index}].path")
        if not posixpath.isabs(path) or posixpath.normpath(path) != path:
            raise ManifestError(f"files[{index}].path {path!r} is not a plain absolute path")
        parsed.append(
            ManifestFile(
                path, _text(entry.get("mode"), f"files[{index}].mode", 4), _text(entry.get("owner"), "owner"), sha
            )
        )
    units, owned = data.get("units"), data.get("owned")
    if not isinstance(units, list) or not all(isinstance(u, str) for u in units):
        raise ManifestError("units is not a list of unit names")
    if not isinstance(owned, list) or not all(isinstance(o, str) and o.startswith("/") for o in owned):
        raise ManifestError("owned is not a list of absolute patterns")
    if not isinstance(data.get("firewall"), bool):
        raise ManifestError("firewall is not true or false")
    return Manifest(
        _text(data.get("environment"), "environment"),
        _text(data.get("host"), "host"),
        tuple(parsed),
        tuple(units),
        data["firewall"],
        _text(data.get("wheel"), "wheel"),
        tuple(owned),
    )


def build_manifest(
    environment: str,
    host: str,
    files: Iterable[RenderedFile],
    secret_files: Iterable[tuple[str, str, str]],
    units: Sequence[str],
    firewall: bool,
    wheel: str,
) -> Manifest:
    """Given a host's rendered files, its secret files (path, mode, owner), the units its steps enable,
    whether it has a firewall and the wheel's installed path, return its manifest (files by path, the last
    writer of a path winning, as on the host)."""
    placed: dict[str, ManifestFile] = {}
    for rendered in files:
        content = rendered.content.rstrip("\n") + "\n"  # what ``file_lines`` writes
        placed[rendered.path] = ManifestFile(rendered.path, rendered.mode, OWNER, _sha256(content))
    for path, mode, owner in secret_files:
        placed[path] = ManifestFile(path, mode, owner)
    return Manifest(
        environment, host, tuple(placed[p] for p in sorted(placed)), tuple(sorted(set(units))), firewall, wheel
    )


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Seen:
    """A file as the host holds it: None for each fact when the path is not a regular file."""

    path: str
    sha256: str | None
    mode: str | None
    owner: str | None


@dataclass
class Observation:
    """What the host holds now: each manifest path's file, every file found in the owned folders, each unit's
    ``systemctl is-enabled`` answer, the loaded ruleset's hash and the installed wheel's hash."""

    files: dict[str, Seen]
    found: list[str]
    units: dict[str, str]
    ruleset: str | None
    wheel: str | None
    problems: list[str] = field(default_factory=list)  # what could not be read (a tool missing, a folder)


@dataclass(frozen=True)
class Drift:
    """One difference: its kind, the path or unit it is about, what the deploy left and what is there."""

    kind: str
    subject: str
    expected: str
    found: str

    def as_json(self) -> dict[str, str]:
        """Return the difference as a JSON-ready mapping."""
        return asdict(self)


def recorded_facts(manifest: Manifest, observation: Observation) -> dict[str, Any]:
    """Given a manifest and the host as the deploy left it, return the host's deploy-time record: the secret
    files' hashes, the loaded ruleset's hash and the installed wheel's hash (no time: the same host, the same
    bytes)."""
    return {
        "format": MANIFEST_FORMAT,
        "manifest": manifest.digest,
        "secrets": {f.path: observation.files[f.path].sha256 for f in manifest.files if f.secret},
        "ruleset": observation.ruleset if manifest.firewall else None,
        "wheel": observation.wheel,
    }


def parse_recorded(text: str, manifest: Manifest) -> dict[str, Any]:
    """Given the record's content and the manifest it should belong to, return it, or raise ManifestError."""
    data = _document(text, "record")
    if data.get("manifest") != manifest.digest:
        raise ManifestError("it records another manifest (the deploy's manifest step did not finish)")
    if not isinstance(data.get("secrets"), dict):
        raise ManifestError("secrets is not a mapping")
    return data


def extras(manifest: Manifest, found: Iterable[str]) -> list[str]:
    """Given a manifest and the files found in its owned folders, return those that no step placed."""
    known = {f.path for f in manifest.files} | {MANIFEST_FILE, RECORDED_FILE}
    return sorted(
        path
        for path in found
        if path not in known and any(fnmatch.fnmatchcase(path, pattern) for pattern in manifest.owned)
    )


def compare(manifest: Manifest, recorded: Mapping[str, Any], observation: Observation) -> list[Drift]:
    """Given the manifest, the host's deploy-time record and what the host holds now, return every difference."""
    drift: list[Drift] = []
    secrets = recorded.get("secrets", {})
    for placed in manifest.files:
        seen = observation.files.get(placed.path)
        if seen is None or seen.sha256 is None:
            drift.append(Drift("missing", placed.path, "a regular file", "nothing, or not a regular file"))
            continue
        expected = secrets.get(placed.path) if placed.secret else placed.sha256
        if expected is not None and seen.sha256 != expected:
            shown = "the recorded secret" if placed.secret else expected[:16]
            drift.append(Drift("content", placed.path, shown, "other content" if placed.secret else seen.sha256[:16]))
        if seen.mode != placed.mode:
            drift.append(Drift("mode", placed.path, placed.mode, seen.mode or "?"))
        if seen.owner != placed.owner:
            drift.append(Drift("owner", placed.path, placed.owner, seen.owner or "?"))
    drift += [
        Drift("extra", path, "nothing", "a file no deploy placed") for path in extras(manifest, observation.found)
    ]
    for unit in manifest.units:
        state = observation.units.get(unit, "unknown")
        if state not in ("enabled", "static", "alias", "indirect"):
            drift.append(Drift("unit", unit, "enabled", state))
    if manifest.firewall and recorded.get("ruleset") and observation.ruleset != recorded.get("ruleset"):
        found = "no table inet seawall" if observation.ruleset is None else "another ruleset"
        drift.append(Drift("firewall", "table inet seawall", "the ruleset the deploy loaded", found))
    if recorded.get("wheel") and observation.wheel != recorded.get("wheel"):
        drift.append(
            Drift("wheel", manifest.wheel, str(recorded["wheel"])[:16], (observation.wheel or "no wheel")[:16])
        )
    return drift


def counts(drift: Iterable[Drift]) -> dict[str, int]:
    """Given differences, return how many there are of every kind (zeros included)."""
    found = dict.fromkeys(KINDS, 0)
    for item in drift:
        found[item.kind] += 1
    return found
