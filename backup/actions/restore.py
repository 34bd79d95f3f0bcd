"""``seawall restore``: a snapshot back into a new folder, or over the live paths of this host.

Into a folder (the default): the folder must be new or empty; restic restores with ``--verify`` and the
summary says how many files and bytes arrived, in how long. ``--in-place`` (only with ``--yes``) runs
the set's ``before_restore`` hooks (stop the service), takes a safety snapshot of the current state
(tagged ``seawall-safety``, kept by retention for ``safety_snapshot_keep``), restores over the live
paths, then runs the ``after_restore`` hooks. Every restore is recorded in the state with its issue.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from seawall.backup.client import Restic
from seawall.backup.context import BackupContext
from seawall.backup.diagnose import explain_restore_failure
from seawall.backup.hooks import run_hooks
from seawall.backup.restic import (
    ResticError,
    make_backup_command,
    make_restore_command,
    make_snapshots_command,
    parse_json_lines,
    parse_snapshots,
)
from seawall.backup.retention import SAFETY_TAG, newest_present
from seawall.backup.verify import measure_tree
from seawall.errors import BackupError, ConfigError
from seawall.files import resolve

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestoreRequest:
    """What to restore and where: the snapshot (an id or ``latest``), paths to include, the target
    folder or in place, and the issue that logs it."""

    snapshot: str = "latest"
    target: Path | None = None
    includes: tuple[str, ...] = ()
    in_place: bool = False
    issue: str | None = None


@dataclass
class RestoreOutcome:
    """What a restore did: where, from which snapshot, how much, how long, and the safety snapshot."""

    set_name: str
    host: str
    snapshot: str
    target: str
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    safety_snapshot: str | None = None


def restore(context: BackupContext, request: RestoreRequest) -> RestoreOutcome:
    """Given a context of one set and host and a request, restore and return what was restored."""
    set_name, host = _one_pair(context)
    _check_request(context, request)
    target = Path("/") if request.in_place else _new_folder(request.target)
    outcome = RestoreOutcome(set_name, host, request.snapshot, str(target))
    hooks = context.backup_set(set_name).hooks
    hook_env = {**context.hook_env(set_name, host), "SEAWALL_RESTORE": str(target)}
    timeout = hooks.timeout.total_seconds()
    restic = context.restic(set_name)
    snapshot = request.snapshot
    if snapshot == "latest":  # chosen now: an in-place restore's safety snapshot is about to become the newest
        snapshot = _resolve(context, restic, set_name, host)
        outcome.snapshot = snapshot[:8]
    if request.in_place:
        run_hooks(hooks.before_restore, "before-restore hook", context.project_root, timeout, hook_env)
        outcome.safety_snapshot = _safety_snapshot(context, set_name, host)
    started = time.monotonic()
    command = make_restore_command(restic.target, snapshot, str(target), True, host, set_name, request.includes)
    logger.info("restoring %s of %s on %s into %s", snapshot, set_name, host, target)
    try:
        restic.execute_waiting_for_locks(lambda: command)
    except ResticError as exc:
        msg = explain_restore_failure(restic, exc, snapshot, target, (host, set_name))
        raise BackupError(msg) from None
    outcome.seconds = time.monotonic() - started
    if request.in_place:
        run_hooks(hooks.after_restore, "after-restore hook", context.project_root, timeout, hook_env)
        outcome.files, outcome.bytes = _live_size(context, set_name)
    else:
        outcome.files, outcome.bytes = measure_tree(target)
    _record(context, outcome, request)
    return outcome


def _resolve(context: BackupContext, restic: Restic, set_name: str, host: str) -> str:
    """Given ``latest``, return the id of the host's newest real backup of the set: not a safety snapshot
    (an in-place restore takes one just before), not dated in the future."""
    try:
        listed = parse_snapshots(restic.execute(make_snapshots_command(restic.target, set_name, host)).stdout)
    except ResticError as exc:
        raise BackupError(str(exc)) from None
    real = [s for s in listed if SAFETY_TAG not in (s.get("tags") or [])]
    newest = newest_present(real, dt.datetime.now(dt.UTC), context.env.backup.clock_skew_tolerance)
    if newest is None:
        msg = f"{host} has no snapshot of {set_name} yet: run `seawall backup run` first"
        raise BackupError(msg)
    logger.info("the latest snapshot of %s on %s is %s", set_name, host, str(newest["id"])[:8])
    return str(newest["id"])


def _one_pair(context: BackupContext) -> tuple[str, str]:
    if len(context.sets) != 1:
        raise ConfigError([f"restore one set at a time: choose one of {', '.join(context.sets)} with --set"])
    hosts = context.hosts(context.sets[0])
    if len(hosts) != 1:
        raise ConfigError([f"set {context.sets[0]} is backed up by {', '.join(hosts)}: choose one with --host"])
    return context.sets[0], hosts[0]


def _check_request(context: BackupContext, request: RestoreRequest) -> None:
    if request.in_place == (request.target is not None):
        raise ConfigError(["give either --target DIR (a new folder) or --in-place (with --yes)"])
    if context.env.release.require_issue and not request.issue:
        raise ConfigError([f"{context.env.name} requires an issue for every restore: add --issue URL"])


def _new_folder(target: Path | None) -> Path:
    assert target is not None  # checked by _check_request
    target = target.resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigError([f"--target {target} is not an empty folder: a restore only writes into a new one"])
    target.mkdir(parents=True, exist_ok=True)
    return target


def _safety_snapshot(context: BackupContext, set_name: str, host: str) -> str:
    """Back up the live paths as they are now, tagged as a safety snapshot; return its id."""
    backup_set = context.backup_set(set_name)
    paths = [str(resolve(context.project_root, path)) for path in backup_set.paths]
    present = [path for path in paths if Path(path).exists()]
    if not present:
        logger.warning("no live path of %s exists on %s: there is nothing to keep a safety snapshot of", set_name, host)
        return ""
    restic = context.restic(set_name)
    command = make_backup_command(restic.target, present, host, set_name, backup_set.exclude, (SAFETY_TAG,))
    try:
        result = restic.execute_waiting_for_locks(lambda: command)
    except ResticError as exc:
        msg = f"the safety snapshot before the in-place restore failed, so nothing was restored: {exc}"
        raise BackupError(msg) from None
    snapshot = str((parse_json_lines(result.stdout).summary or {}).get("snapshot_id", ""))
    logger.info("safety snapshot %s of %s on %s taken before the in-place restore", snapshot[:8], set_name, host)
    return snapshot


def _live_size(context: BackupContext, set_name: str) -> tuple[int, int]:
    files = total = 0
    for path in context.backup_set(set_name).paths:
        live = resolve(context.project_root, path)
        if live.is_dir():
            count, size = measure_tree(live)
            files, total = files + count, total + size
        elif live.is_file():
            files, total = files + 1, total + live.stat().st_size
    return files, total


def _record(context: BackupContext, outcome: RestoreOutcome, request: RestoreRequest) -> None:
    entry = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "snapshot": outcome.snapshot,
        "target": outcome.target,
        "in_place": request.in_place,
        "includes": list(request.includes),
        "issue": request.issue,
        "files": outcome.files,
        "bytes": outcome.bytes,
        "seconds": round(outcome.seconds, 3),
        "safety_snapshot": outcome.safety_snapshot,
    }
    context.store.update({"last_restore": entry}, outcome.set_name, outcome.host)
    logger.info("restore of %s on %s recorded (issue %s)", outcome.set_name, outcome.host, request.issue or "none")
