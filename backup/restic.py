"""The restic adapter: command lines as data, one version probe, tolerant JSON parsing, typed failures.

Every ``make_*_command`` returns a ``Command`` whose argv is a tuple; ``seawall.runner`` runs it. The
repository password and S3 keys are passed by environment (``RESTIC_PASSWORD_FILE`` or
``RESTIC_PASSWORD``, ``AWS_*``), never in argv.

restic versions differ: Debian bookworm ships 0.14.0, which exits 1 for most failures (3 for a partial
backup) and has no JSON for restore or check; 0.17 and newer exit 10 (no repository), 11 (locked) and
12 (wrong password). Failures are classified by exit code where the version has one, by stderr
otherwise; an unknown exit code is always a failure.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from seawall.errors import BackupError
from seawall.logs import mask
from seawall.runner import Command, Result, clean_text, run

SEAWALL_TAG = "seawall"
_VERSION = re.compile(r"restic (\d+)\.(\d+)\.(\d+)")


class ResticError(BackupError):
    """A restic command failed; the message says what to do. ``result`` is the finished command."""

    result: Result | None = None


class RepositoryMissing(ResticError):
    """There is no repository at the location."""


class WrongPassword(ResticError):
    """The password does not open the repository."""


class RepositoryLocked(ResticError):
    """Another process holds a lock on the repository."""


class PartialBackup(ResticError):
    """A snapshot was written, but some files could not be read."""

    def __init__(self, message: str, snapshot: str | None) -> None:
        super().__init__(message)
        self.snapshot = snapshot


class SourceMissing(ResticError):
    """A path the backup set names does not exist."""


class ResticFailed(ResticError):
    """Any other failure, including an unknown exit code or a timeout."""


class StorageUnreachable(ResticError):
    """The storage (an S3 endpoint) could not be reached: nothing says the repository is missing."""


class DiskFull(ResticError):
    """The filesystem restic writes to (a restore target, its cache) is full."""


class RepositoryDamaged(ResticError):
    """A pack or index file is missing or damaged. ``packs`` and ``indexes`` name them."""

    def __init__(self, message: str, packs: Sequence[str] = (), indexes: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.packs = list(packs)
        self.indexes = list(indexes)


class SnapshotNotFound(ResticError):
    """No snapshot matches the id (or ``latest`` of the host and set)."""


@dataclass(frozen=True)
class Target:
    """Where a repository is and what opens it: the restic binary, the location, the environment."""

    repository: str
    env: Mapping[str, str] = field(default_factory=dict)
    binary: str = "restic"
    timeout: float | None = None
    # The environment whose repository this is and the options that choose it (``--set S``, and
    # ``--from copy`` for an off-site copy): the commands a message tells a person to run name them.
    environment: str = "ENV"
    selection: tuple[str, ...] = ()
    # Where restic reaches the storage over the network (``http://host:port``; its backend says), None for a
    # folder: a message names it, and a timeout asks it whether it answers at all.
    endpoint: str | None = None

    def command(self, *args: str, timeout: float | None = None) -> Command:
        """Given restic arguments, return the command that runs them against this repository."""
        return Command((self.binary, "--repo", self.repository, *args), self.env, timeout=timeout or self.timeout)

    def seawall(self, command: str, *options: str) -> str:
        """Given a seawall command and options, return it as a person runs it on this repository
        (``seawall check ENV --set S --read-data``)."""
        return " ".join(("seawall", command, self.environment, *self.selection, *options))


@dataclass
class BackupOutput:
    """What restic's ``backup --json`` said: progress lines, the summary, and per-file errors."""

    statuses: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)


SIDE_NICE = 10


def beside(command: Command) -> Command:
    """Given a read-only command that runs beside a more urgent one (a restore, a backup), return it at a
    lower CPU priority, so that it uses what that one leaves idle instead of slowing it down."""
    return dataclasses.replace(command, nice=SIDE_NICE)


def make_version_command(binary: str = "restic") -> Command:
    """Return the command that prints restic's version."""
    return Command((binary, "version"))


_versions: dict[str, tuple[int, int, int]] = {}
_versions_lock = threading.Lock()


def detect_version(binary: str = "restic") -> tuple[int, int, int]:
    """Given the restic binary, return its version, asking it once per process (threads that ask at the
    same moment wait for the one answer instead of each starting ``restic version``)."""
    with _versions_lock:
        if binary not in _versions:
            result = run(make_version_command(binary))
            match = _VERSION.search(result.stdout)
            if not result.ok or match is None:
                msg = f"cannot tell the version of {binary!r}: {result.last_error_line()}"
                raise ResticFailed(msg)
            major, minor, patch = (int(part) for part in match.groups())
            _versions[binary] = (major, minor, patch)
        return _versions[binary]


def make_init_command(target: Target, chunker_from: Target | None = None) -> Command:
    """Return the command that creates the repository (an off-site copy: with the chunker parameters of
    ``chunker_from``, its primary, so that copied data deduplicates as in the primary)."""
    if chunker_from is None:
        return target.command("init")
    return _from(target.command("init", "--copy-chunker-params", "--from-repo", chunker_from.repository), chunker_from)


def make_copy_command(target: Target, source: Target, snapshot_ids: Sequence[str]) -> Command:
    """Return the command that copies exactly these snapshots of ``source`` into ``target`` (restic skips one
    ``target`` holds already). Without restic's locks (``--no-lock``): the vault's key only reads the source,
    so it cannot write a lock there; the vault serialises its own jobs on the copy itself
    (``seawall.backup.actions.copy``). A prune of the source that runs at the same time can make a copy fail;
    the next copy copies what it missed."""
    argv = ("--no-lock", "copy", "--from-repo", source.repository, *snapshot_ids)
    return _from(target.command(*argv), source)


def _from(command: Command, source: Target) -> Command:
    """The command with ``source``'s password as restic's ``RESTIC_FROM_PASSWORD*`` (its other variables, the
    S3 keys, are the ones both repositories are read with)."""
    passwords = {
        name.replace("RESTIC_", "RESTIC_FROM_", 1): value
        for name, value in source.env.items()
        if name.startswith("RESTIC_PASSWORD")
    }
    return dataclasses.replace(command, env={**command.env, **passwords})


def make_cat_config_command(target: Target) -> Command:
    """Return the command that reads the repository's config (proves it exists and opens)."""
    return target.command("cat", "config", "--no-lock")


def make_backup_command(
    target: Target,
    paths: Sequence[str],
    host: str,
    set_name: str,
    excludes: Sequence[str] = (),
    tags: Sequence[str] = (),
) -> Command:
    """Return the command that backs up ``paths`` as ``host``, tagged with the set (and ``tags``)."""
    exclude_args = [arg for pattern in excludes for arg in ("--exclude", pattern)]
    tag_args = [arg for tag in (SEAWALL_TAG, f"set:{set_name}", *tags) for arg in ("--tag", tag)]
    return target.command("backup", "--json", "--host", host, *tag_args, *exclude_args, *paths)


def make_snapshots_command(target: Target, set_name: str, host: str | None = None) -> Command:
    """Return the command that lists the set's snapshots (of one host, or all), without locking."""
    host_args = ("--host", host) if host else ()
    return target.command("snapshots", "--json", "--no-lock", "--tag", f"set:{set_name}", *host_args)


def make_forget_plan_command(target: Target, set_name: str, keep: Mapping[str, str]) -> Command:
    """Return the command that asks which of a set's snapshots the keep-rules would forget, per host,
    without forgetting any (``--dry-run``): Seawall removes its protected snapshots from that plan."""
    keep_args = [arg for rule, value in keep.items() for arg in (f"--{rule.replace('_', '-')}", value)]
    return target.command(
        "forget", "--dry-run", "--json", "--no-lock", "--tag", f"set:{set_name}", "--group-by", "host", *keep_args
    )


def make_forget_ids_command(target: Target, snapshot_ids: Sequence[str]) -> Command:
    """Return the command that forgets exactly these snapshots (and no other)."""
    return target.command("forget", *snapshot_ids)


def make_find_pack_command(target: Target, pack_ids: Sequence[str]) -> Command:
    """Return the command that lists the files and snapshots that use blobs of these packs, as JSON."""
    return target.command("find", "--json", "--no-lock", "--pack", *pack_ids)


def make_stats_command(target: Target, snapshot: str) -> Command:
    """Return the command that prints a snapshot's restore size and file count as JSON."""
    return target.command("stats", "--json", "--no-lock", "--mode", "restore-size", snapshot)


def make_check_command(
    target: Target, read_data_subset: str | None = None, lock: bool = True, read_data: bool = False
) -> Command:
    """Return the command that checks the repository (and reads a subset of its packs, or all of them).

    Without ``lock`` the check only reads and may run beside restores of the same repository.
    """
    subset = ("--read-data",) if read_data else (f"--read-data-subset={read_data_subset}",) if read_data_subset else ()
    return target.command("check", *(() if lock else ("--no-lock",)), *subset)


def make_prune_command(target: Target) -> Command:
    """Return the command that removes data no snapshot references."""
    return target.command("prune")


def make_list_locks_command(target: Target) -> Command:
    """Return the command that lists lock ids."""
    return target.command("list", "locks", "--no-lock")


LOCK_READ_SECONDS = 8.0


def make_cat_lock_command(target: Target, lock_id: str) -> Command:
    """Return the command that prints one lock (time, host, pid) as JSON.

    A lock file is tiny; one that vanished after it was listed makes restic retry for minutes, so the
    read is bounded by ``LOCK_READ_SECONDS`` (a lock that cannot be read by then is gone).
    """
    timeout = min(target.timeout or LOCK_READ_SECONDS, LOCK_READ_SECONDS)
    return target.command("cat", "lock", lock_id, "--no-lock", timeout=timeout)


def make_unlock_command(target: Target, remove_all: bool = False) -> Command:
    """Return the command that removes stale locks (or every lock)."""
    return target.command("unlock", *(("--remove-all",) if remove_all else ()))


def make_restore_command(
    target: Target,
    snapshot: str,
    destination: str,
    verify: bool = True,
    host: str | None = None,
    set_name: str | None = None,
    includes: Sequence[str] = (),
) -> Command:
    """Return the command that restores a snapshot (``latest`` of a host and set) into ``destination``,
    all of it or only the ``includes`` paths."""
    scope = (*(("--host", host) if host else ()), *(("--tag", f"set:{set_name}") if set_name else ()))
    include_args = [arg for path in includes for arg in ("--include", path)]
    return target.command(
        "restore", snapshot, *scope, "--target", destination, *include_args, *(("--verify",) if verify else ())
    )


def make_ls_command(target: Target, snapshot: str, host: str | None = None, set_name: str | None = None) -> Command:
    """Return the command that lists a snapshot (``latest`` of a host and set) and its files as JSON lines."""
    scope = (*(("--host", host) if host else ()), *(("--tag", f"set:{set_name}") if set_name else ()))
    return target.command("ls", "--json", "--no-lock", snapshot, *scope)


def make_dump_command(target: Target, snapshot: str, path: str) -> Command:
    """Return the command that writes one file of a snapshot to standard output."""
    return target.command("dump", "--no-lock", snapshot, path)


def json_objects(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Given lines of restic output, yield those that are JSON objects; every other line is skipped."""
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(message, dict):
            yield message


def parse_json_lines(text: str) -> BackupOutput:
    """Given restic ``--json`` output, return its statuses, last summary and errors; other lines are skipped."""
    output = BackupOutput()
    for message in json_objects(text.splitlines()):
        kind = message.get("message_type")
        if kind == "status":
            output.statuses.append(message)
        elif kind == "summary":
            output.summary = message
        elif kind == "error":
            output.errors.append(_error_text(message.get("error"), message.get("item")))
    return output


def _error_text(error: Any, item: Any) -> str:
    if isinstance(error, dict):
        text = str(error.get("message") or error.get("Err") or error)
        path = error.get("Path") or item
        return f"{path}: {text}" if path else text
    return f"{item}: {error}" if item else str(error)


def parse_snapshots(text: str) -> list[dict[str, Any]]:
    """Given ``snapshots --json`` output, return the snapshots, oldest first."""
    try:
        data = json.loads(text or "[]")
    except json.JSONDecodeError as exc:
        msg = f"restic printed snapshots that are not JSON ({exc})"
        raise ResticFailed(msg) from None
    snapshots = [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
    return sorted(snapshots, key=lambda snapshot: str(snapshot.get("time", "")))


# A pack restic names: a missing or unreadable one, and (``check --read-data``, restic 0.14) one whose
# contents no longer hash to its name: "Pack ID does not match, want ID, got …".
_PACK = re.compile(r"(?:<data/|\bpack |data/[0-9a-f]{2}/|Pack ID does not match, want )([0-9a-f]{8,64})")
_INDEX = re.compile(r"(?:<index/|\bindex |index/)([0-9a-f]{8,64})")
_UNREACHABLE = (
    "connection refused",
    "no such host",
    "network is unreachable",
    "i/o timeout",
    "connection reset by peer",
    "no route to host",
    "server misbehaving",
    "TLS handshake timeout",
)
_DAMAGED = (
    "repository contains errors",
    "LoadIndex returned errors",
    "failed to download",
    "returned error, retrying",
    "ciphertext verification failed",
    "invalid data returned",
)
_NO_SNAPSHOT = ("no matching ID found", "no snapshot found", "latest snapshot for criteria not found")


def classify(result: Result, version: tuple[int, int, int], target: Target) -> ResticError | None:
    """Given a finished restic command, return the typed error it amounts to, or None when it succeeded."""
    if result.ok:
        return None
    stderr = clean_text(result.stderr)
    where = target.repository
    # Unreachable storage first: its retry lines look like damage, and nothing is known of the data.
    if any(marker in stderr for marker in _UNREACHABLE):
        return StorageUnreachable(
            f"the storage at {target.endpoint or where} cannot be reached ({_telling_line(stderr, _UNREACHABLE)}): "
            "check the endpoint, the network and that the service is up; nothing was changed"
        )
    # restic 0.14 retries a lock file that another process removed for about 45 s: that is lock
    # contention, never damage, so lock lines are not read as evidence of damage.
    lock_lines, data_lines = _split_lock_lines(stderr)
    damaged = _damage(data_lines, target, version)
    if damaged is not None:
        return damaged
    if result.timed_out:
        waited = f", part of it retrying lock {lock_lines[0]} that went away" if lock_lines else ""
        return ResticFailed(
            f"restic timed out after {result.seconds:.0f}s on {where}{waited}; "
            "check the network or raise backup.command_timeout"
        )
    modern = version >= (0, 17, 0)
    if (modern and result.returncode == 12) or "wrong password" in stderr:
        return WrongPassword(
            f"the password does not open {where}: check the password file or variable of this environment"
        )
    if "no space left on device" in stderr:
        return DiskFull(f"the target filesystem is full ({_telling_line(stderr, ('no space left on device',))})")
    if any(marker in stderr for marker in _NO_SNAPSHOT):
        return SnapshotNotFound(f"no such snapshot in {where} ({_telling_line(stderr, _NO_SNAPSHOT)})")
    if (modern and result.returncode == 10) or _missing_repository(stderr):
        return RepositoryMissing(f"no repository at {where}: create it with `{target.seawall('backup init')}`")
    if (modern and result.returncode == 11) or "already locked" in stderr or "unable to create lock" in stderr:
        return RepositoryLocked(f"{where} is locked by another process: {_lock_holder(stderr, where)}")
    if "all target directories/files do not exist" in stderr or "all source directories/files do not exist" in stderr:
        return SourceMissing(f"none of the paths to back up exist ({result.last_error_line()})")
    if result.returncode == 3:
        return PartialBackup(
            f"some files could not be read ({result.last_error_line()}): the snapshot is incomplete", None
        )
    return ResticFailed(f"restic exited {result.returncode} on {where}: {result.last_error_line()}")


def _telling_line(stderr: str, markers: Iterable[str]) -> str:
    lines = [line.strip().removeprefix("Fatal: ") for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if any(marker in line for marker in markers):
            return mask(line)
    return mask(lines[-1]) if lines else "no detail"


_LOCK_FILE = re.compile(r"<lock/([0-9a-f]{8,64})>")


def _split_lock_lines(stderr: str) -> tuple[list[str], str]:
    """Given restic's stderr, return the short ids of lock files it failed to load, and the other lines."""
    locks: list[str] = []
    others = []
    for line in stderr.splitlines():
        found = _LOCK_FILE.search(line)
        if found is None:
            others.append(line)
        elif found.group(1)[:10] not in locks:
            locks.append(found.group(1)[:10])
    return locks, "\n".join(others)


def _damage(stderr: str, target: Target, version: tuple[int, int, int]) -> RepositoryDamaged | None:
    """Given restic's stderr, return the damage it reports (packs and index files named), or None."""
    if not any(marker in stderr for marker in _DAMAGED):
        return None
    packs = _longest_ids(_PACK.findall(stderr))
    indexes = _longest_ids(_INDEX.findall(stderr))
    named = [f"pack {pack[:10]}" for pack in packs] + [f"index file {index[:10]}" for index in indexes]
    what = ", ".join(named) if named else _telling_line(stderr, _DAMAGED)
    return RepositoryDamaged(
        f"{target.repository} is damaged: {what} is missing or unreadable, so snapshots that use it cannot be "
        f"fully restored; run `{target.seawall('check', '--read-data')}` to see all of the damage, then "
        f"{_repair(target, version)}",
        packs,
        indexes,
    )


def _repair(target: Target, version: tuple[int, int, int]) -> str:
    """Given a damaged repository, return how to write its lost data again: an index of what is left, then
    a backup on the hosts that still have the files (a copy's data comes from its primary: no backup run)."""
    rebuild = "repair index" if version >= (0, 16, 0) else "rebuild-index"
    index = f"`restic --repo {shlex.quote(target.repository)} {rebuild}` (with the set's password and keys)"
    if "--from" in target.selection:
        return index
    return (
        f"{index} and `{target.seawall('backup run')}` on the affected hosts to write the lost data again (restic "
        "counts each file it stores again as unreadable: that run says incomplete, the next one is clean)"
    )


def _longest_ids(found: Iterable[str]) -> list[str]:
    """Given ids restic printed, some shortened, return each once, in its longest form."""
    unique = sorted(set(found), key=len, reverse=True)
    kept: list[str] = []
    for candidate in unique:
        if not any(longer.startswith(candidate) for longer in kept):
            kept.append(candidate)
    return sorted(kept)


def _missing_repository(stderr: str) -> bool:
    return any(
        marker in stderr
        for marker in (
            "Is there a repository at the following location?",
            "unable to open config file",
            "repository does not exist",
            "The specified bucket does not exist",
        )
    )


def _lock_holder(stderr: str, repository: str) -> str:
    for line in stderr.splitlines():
        if "locked" in line:
            return line.strip().removeprefix("Fatal: ")
    return f"see `restic --repo {shlex.quote(repository)} list locks` (with the set's password and keys)"
