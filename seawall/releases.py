"""The release ledger: every image ``seawall release build`` pushed, one JSON line each, beside the deploy ledger.

A release is a service's version bound to the digest the registry holds for it, with what it was made from
(build inputs) and who made it (the builder). The deploy resolves each service's version to its digest here,
and the guard's promotion rule compares digests: a version that names two digests (re-pointed) is refused by
name. Like the deploy ledger, a line that cannot be read is reported with its number, never skipped.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seawall.errors import SeawallError

if TYPE_CHECKING:
    from seawall.model.schema import Service

RELEASES_FILE = "releases.jsonl"
MAX_LINE_CHARACTERS = 64 * 1024
MAX_RELEASES_BYTES = 16 * 1024 * 1024
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
TEXT_FIELDS = ("time", "service", "version", "image", "digest", "source")


class ReleaseLedgerError(SeawallError):
    """The release ledger cannot be read."""


@dataclass(frozen=True)
class ReleaseEntry:
    """One released image: the service's version, where it is and its digest, what made it and who."""

    time: str
    service: str
    version: str
    image: str  # the registry's name of the image, without tag or digest (``registry.example/team/api``)
    digest: str
    source: str  # ``build`` (buildah from a context) or ``upstream`` (copied as it is)
    inputs: dict[str, str] = field(default_factory=dict)
    builder: dict[str, str] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        """Return the image by digest, as a host pulls it (``IMAGE@sha256:…``)."""
        return f"{self.image}@{self.digest}"

    def as_line(self) -> str:
        """Return the entry as one JSON line."""
        return json.dumps(asdict(self), sort_keys=True) + "\n"


def releases_path(folder: Path) -> Path:
    """Given the ledger folder, return the release ledger's file."""
    return folder / RELEASES_FILE


def read_releases(folder: Path) -> list[ReleaseEntry]:
    """Given the ledger folder, return every release, or raise on any unreadable line."""
    path = releases_path(folder)
    if not path.exists():
        return []
    raw = path.read_bytes()
    if len(raw) > MAX_RELEASES_BYTES:
        msg = f"{path} is beyond a release ledger's {MAX_RELEASES_BYTES} bytes: it is not read; repair it by hand"
        raise ReleaseLedgerError(msg)
    return parse_releases(raw.decode("utf-8", errors="replace"), str(path))


def parse_releases(text: str, where: str) -> list[ReleaseEntry]:
    """Given release ledger text, return its entries; every bad line is named in one ReleaseLedgerError."""
    entries, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if len(line) > MAX_LINE_CHARACTERS:
            problems.append(f"{where}:{number}: a line of {len(line)} characters (at most {MAX_LINE_CHARACTERS})")
            continue
        try:
            entry = ReleaseEntry(**json.loads(line))
        except (json.JSONDecodeError, TypeError, RecursionError) as exc:
            problems.append(f"{where}:{number}: unreadable release line ({exc.__class__.__name__})")
            continue
        wrong = [name for name in TEXT_FIELDS if not isinstance(getattr(entry, name), str)]
        if not wrong and not DIGEST.match(entry.digest):
            wrong.append("digest")
        if wrong:
            problems.append(f"{where}:{number}: a release line whose {', '.join(wrong)} is not what it should be")
            continue
        entries.append(entry)
    if problems:
        msg = "the release ledger is damaged; repair it by hand:\n" + "\n".join(problems)
        raise ReleaseLedgerError(msg)
    return entries


def append_release(folder: Path, entry: ReleaseEntry) -> None:
    """Given a release, append it to the release ledger (written through to the disk)."""
    path = releases_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as stream:
        stream.write(entry.as_line())
        stream.flush()
        os.fsync(stream.fileno())


def releases_of(entries: Sequence[ReleaseEntry], service: str, version: str) -> list[ReleaseEntry]:
    """Given releases, a service and a version, return that version's releases, one per digest, oldest first."""
    found: dict[str, ReleaseEntry] = {}
    for entry in entries:
        if entry.service == service and entry.version == version:
            found.setdefault(entry.digest, entry)
    return list(found.values())


def repointed(entries: Sequence[ReleaseEntry], service: str, version: str) -> str | None:
    """Given releases, a service and a version, return why the version cannot be trusted when it names more than
    one digest (re-pointed), else None."""
    found = releases_of(entries, service, version)
    if len(found) < 2:
        return None
    shown = ", ".join(f"{entry.digest[:19]}… ({entry.time})" for entry in found)
    return f"{service} {version} was re-pointed: the release ledger binds it to {len(found)} digests ({shown})"


def release_digests(entries: Sequence[ReleaseEntry], versions: dict[str, str]) -> dict[str, str]:
    """Given releases and each service's version, return the digest each released service's version names (a
    re-pointed version: its first digest; the guard refuses it by name)."""
    digests = {}
    for service, version in versions.items():
        found = releases_of(entries, service, version)
        if found:
            digests[service] = found[0].digest
    return digests


def describe_release(entry: ReleaseEntry) -> dict[str, Any]:
    """Given a release, return it as the CLI shows it in JSON."""
    return {**asdict(entry), "reference": entry.reference}


def artifact_evidence(
    services: Mapping[str, Service], entries: Sequence[ReleaseEntry], succeeded: bool
) -> tuple[dict[str, str], list[str]]:
    """Given the services, the releases and whether the deploy succeeded, return what its ledger entry records:
    the digest each service with an artifact runs, and the services whose health checks passed on every host
    (a roll waits for each host's health path and stops at the first that fails, so a deploy that succeeded
    passed them all; a failed one proves none)."""
    digests = release_digests(
        entries, {name: service.version for name, service in sorted(services.items()) if service.artifact}
    )
    healthy = [
        name
        for name, service in sorted(services.items())
        if succeeded
        and name in digests
        and service.artifact is not None
        and service.health is not None
        and service.artifact.rollout_port is not None
    ]
    return digests, healthy
