"""From a restic failure to a message an operator can act on: what happened, what it affects, what next.

restic says "There were 40 errors" when a disk fills and prints a pack id in a retry line when one is
missing; these helpers turn that into the target's size against what the snapshot needs, and into the
snapshots and files that use a damaged pack.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from seawall.backup.client import Restic
from seawall.backup.restic import (
    DiskFull,
    RepositoryDamaged,
    ResticError,
    SnapshotNotFound,
    make_find_pack_command,
    make_stats_command,
)

logger = logging.getLogger(__name__)
MOST_FILES_NAMED = 5


def human_bytes(value: float | None) -> str:
    """Given a byte count, return it for people (``1.5 GiB``)."""
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"  # pragma: no cover


def restore_size(restic: Restic, snapshot: str, scope: tuple[str, str] | None = None) -> int | None:
    """Given a snapshot (or ``latest`` of a host and set), return the bytes a restore of it writes."""
    args = ["stats", "--json", "--no-lock", "--mode", "restore-size", snapshot]
    if scope is not None and snapshot == "latest":
        args += ["--host", scope[0], "--tag", f"set:{scope[1]}"]
    command = make_stats_command(restic.target, snapshot) if scope is None else restic.target.command(*args)
    try:
        return int(json.loads(restic.execute(command).stdout or "{}").get("total_size", 0)) or None
    except (ResticError, ValueError):
        return None


def explain_restore_failure(
    restic: Restic, error: ResticError, snapshot: str, destination: Path, scope: tuple[str, str]
) -> str:
    """Given a failed restore, return one message that says what happened and what to do."""
    host, set_name = scope
    if isinstance(error, DiskFull):
        needed = restore_size(restic, snapshot, scope)
        usage = shutil.disk_usage(_existing(destination))
        return (
            f"the target filesystem of {destination} is full: the snapshot needs {human_bytes(needed)}, the "
            f"filesystem holds {human_bytes(usage.total)} with {human_bytes(usage.free)} free now; free space "
            "there or restore into a folder on a larger filesystem (--target)"
        )
    if isinstance(error, SnapshotNotFound):
        if snapshot == "latest":
            run = f"seawall backup run {restic.target.environment} --set {set_name} --host {host}"
            return f"{host} has no snapshot of {set_name} yet: run `{run}` first"
        return (
            f"snapshot {snapshot!r} is not a snapshot of {set_name} on {host}: "
            f"list them with `{restic.target.seawall('snapshots', '--host', host)}`"
        )
    if isinstance(error, RepositoryDamaged):
        return f"{error}{affected_snapshots(restic, error)}"
    return str(error)


def affected_snapshots(restic: Restic, error: RepositoryDamaged) -> str:
    """Given damage naming packs, return a sentence naming the snapshots and files that use them."""
    if not error.packs:
        return ""
    try:
        found = json.loads(restic.execute(make_find_pack_command(restic.target, error.packs)).stdout or "[]")
    except (ResticError, ValueError) as exc:
        logger.debug("could not map the damaged packs to snapshots: %s", exc)
        return ""
    if not isinstance(found, list):
        return ""
    snapshots = sorted({str(item.get("snapshot", ""))[:8] for item in found if isinstance(item, dict)} - {""})
    files = sorted({str(item.get("path", "")) for item in found if isinstance(item, dict)} - {""})
    if not snapshots:
        return (
            ". The packs hold directory data, not file contents: treat every snapshot that includes them as "
            f"affected until `{restic.target.seawall('check', '--read-data')}` passes"
        )
    more = f" and {len(files) - MOST_FILES_NAMED} more" if len(files) > MOST_FILES_NAMED else ""
    return f". Affected snapshots: {', '.join(snapshots)}; files: {', '.join(files[:MOST_FILES_NAMED])}{more}"


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
