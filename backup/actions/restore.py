"""``seawall restore``: a snapshot back into a new folder, or over the live paths of this host.

The snapshot is checked first: it must be the set's (its tag), of this host (another host's only with
``--from-host``, said in the output), and hold nothing but the set's paths; an ``--include`` must lie
inside them and match something in the snapshot. Anyone with the set's password can add a snapshot tagged
as any host's, so an in-place restore run as root trusts nothing the snapshot says about itself.

Into a folder (the default): the folder must be new or empty; restic restores with ``--verify`` and the
output says where each path landed. ``--in-place`` (only with ``--yes``) runs the set's
``before_restore`` hooks (stop the service), takes a safety snapshot of the current state (tagged
``seawall-safety``, kept by retention for ``safety_snapshot_keep``), restores each of the set's paths into
a staging folder on its own file system and moves it into place without ever following a link
(``backup/inplace.py``), keeping files the snapshot does not have unless ``--delete``; the
``after_restore`` hooks run whatever happened, so a service is never left stopped silently. Every
restore is recorded in the state with its issue.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seawall.backup.client import Restic
from seawall.backup.context import BackupContext
from seawall.backup.diagnose import explain_restore_failure
from seawall.backup.hooks import HookFailed, run_hooks
from seawall.backup.inplace import put_in_place, remove_stale_staging, restored_entries, staging_folder
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
from seawall.errors import BackupError, ConfigError, UsageError
from seawall.files import resolve

logger = logging.getLogger(__name__)
_SHOWN_ERRORS = 10


@dataclass(frozen=True)
class RestoreRequest:
    """What to restore and where: the snapshot (an id or ``latest``), paths to include, the target
    folder or in place (``delete``: remove what the snapshot does not have), the issue that logs it, and
    the host whose snapshot it is when not this one."""

    snapshot: str = "latest"
    target: Path | None = None
    includes: tuple[str, ...] = ()
    in_place: bool = False
    issue: str | None = None
    from_host: str | None = None
    delete: bool = False


@dataclass
class RestoreOutcome:
    """What a restore did: from which snapshot (and host), where each path landed, how much, how long,
    and the safety snapshot."""

    set_name: str
    host: str
    snapshot: str
    target: str
    from_host: str = ""
    landed: list[tuple[str, str]] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    safety_snapshot: str | None = None


def restore(context: BackupContext, request: RestoreRequest) -> RestoreOutcome:
    """Given a context of one set and host and a request, restore and return what was restored."""
    set_name, host = _one_pair(context)
    _check_request(context, request)
    restic = context.restic(set_name)
    source = request.from_host or host
    chosen = _choose(context, restic, set_name, source, request.snapshot)
    live = [resolve(context.project_root, path) for path in context.backup_set(set_name).paths]
    if request.in_place:
        _only_the_sets_paths(chosen, live, set_name)
    wanted = _wanted(context, live, request.includes)
    snapshot = str(chosen["id"])
    target = Path("/") if request.in_place else _new_folder(request.target)
    outcome = RestoreOutcome(set_name, host, snapshot[:8], str(target), "" if source == host else source)
    if outcome.from_host:
        logger.warning("restoring %s's snapshot %s of %s on %s (--from-host)", source, snapshot[:8], set_name, host)
    started = time.monotonic()
    if request.in_place:
        _in_place(context, restic, request, outcome, snapshot, wanted)
    else:
        _restore(restic, snapshot, target, wanted if request.includes else [], outcome, (source, set_name))
        _check_matches(outcome, request.includes, [target / path.relative_to("/") for path in wanted], chosen)
        outcome.files, outcome.bytes = measure_tree(target)
    outcome.seconds = time.monotonic() - started
    _record(context, outcome, request)
    return outcome


def _choose(context: BackupContext, restic: Restic, set_name: str, host: str, wanted: str) -> dict[str, Any]:
    """The snapshot to restore: ``latest`` is the host's newest real backup (not a safety snapshot, not
    dated in the future), chosen before an in-place restore's safety snapshot; an id must be a snapshot
    of the set taken on ``host``."""
    try:
        listed = parse_snapshots(restic.execute(make_snapshots_command(restic.target, set_name)).stdout)
    except ResticError as exc:
        raise BackupError(str(exc)) from None
    if wanted == "latest":
        real = [s for s in listed if s.get("hostname") == host and SAFETY_TAG not in (s.get("tags") or [])]
        newest = newest_present(real, dt.datetime.now(dt.UTC), context.env.backup.clock_skew_tolerance)
        if newest is None:
            run = f"seawall backup run {context.env.name} --set {set_name} --host {host}"
            msg = f"{host} has no snapshot of {set_name} yet: run `{run}` first"
            raise BackupError(msg)
        logger.info("the latest snapshot of %s on %s is %s", set_name, host, str(newest["id"])[:8])
        return dict(newest)
    found = [s for s in listed if str(s.get("id", "")).startswith(wanted) or s.get("short_id") == wanted]
    if len(found) != 1:
        what = "names several snapshots" if found else "is not a snapshot"
        listing = restic.target.seawall("snapshots", "--host", host)
        msg = f"snapshot {wanted!r} {what} of {set_name}: list them with `{listing}`"
        raise BackupError(msg)
    taken_on = str(found[0].get("hostname", ""))
    if taken_on != host:
        msg = (
            f"snapshot {wanted!r} of {set_name} was taken on {taken_on}, not {host}: restore another host's "
            f"snapshot only by saying so, with --from-host {taken_on}"
        )
        raise BackupError(msg)
    return dict(found[0])


def _only_the_sets_paths(snapshot: dict[str, Any], live: list[Path], set_name: str) -> None:
    """Refuse a snapshot that holds a path outside the set's: restoring it as root would write there."""
    outside = [p for p in snapshot.get("paths") or [] if not any(Path(str(p)).is_relative_to(own) for own in live)]
    if outside:
        msg = (
            f"snapshot {str(snapshot.get('id', ''))[:8]} holds {', '.join(map(str, outside))}, which is not a path of "
            f"{set_name} ({', '.join(map(str, live))}): refusing to restore it in place (anyone with the set's "
            "password can add snapshots); restore it into an empty folder with --target to inspect it"
        )
        raise BackupError(msg)


def _wanted(context: BackupContext, live: list[Path], includes: tuple[str, ...]) -> list[Path]:
    """The paths to restore: each ``--include`` (inside the set's paths), or all of the set's paths."""
    if not includes:
        return live
    chosen = []
    for include in includes:
        path = resolve(context.project_root, include)
        if not any(path.is_relative_to(own) for own in live):
            msg = f"--include {include} is not inside the set's paths ({', '.join(map(str, live))})"
            raise ConfigError([msg])
        chosen.append(path)
    return chosen


def _restore(
    restic: Restic, snapshot: str, target: Path, includes: list[Path], outcome: RestoreOutcome, scope: tuple[str, str]
) -> None:
    command = make_restore_command(restic.target, snapshot, str(target), True, None, None, [str(p) for p in includes])
    logger.info("restoring %s into %s", snapshot[:8], target)
    try:
        restic.execute_waiting_for_locks(lambda: command)
    except ResticError as exc:
        msg = explain_restore_failure(restic, exc, snapshot, target, scope) + _failed_files(exc)
        raise BackupError(msg) from None
    for path in includes:
        outcome.landed.append((str(path), str(target / path.relative_to("/"))))


def _check_matches(outcome: RestoreOutcome, includes: tuple[str, ...], restored: list[Path], snapshot: dict) -> None:
    """An ``--include`` that matches nothing in the snapshot is an error, not an empty success."""
    for include, path in zip(includes, restored, strict=False):
        if restored_entries(path) == 0:
            paths = ", ".join(map(str, snapshot.get("paths") or []))
            msg = f"--include {include} matches nothing in snapshot {outcome.snapshot} (its paths: {paths})"
            raise BackupError(msg)
    if not includes:
        root = Path(outcome.target)
        outcome.landed = [(str(p), str(root / str(p).lstrip("/"))) for p in snapshot.get("paths") or []]


def _in_place(
    context: BackupContext,
    restic: Restic,
    request: RestoreRequest,
    outcome: RestoreOutcome,
    snapshot: str,
    wanted: list[Path],
) -> None:
    """Hooks, safety snapshot, each path restored into staging and moved into place; the after_restore
    hooks run whatever happened (a failed restore is still the error reported)."""
    set_name, host = outcome.set_name, outcome.host
    hooks = context.backup_set(set_name).hooks
    hook_env = {**context.hook_env(set_name, host), "SEAWALL_RESTORE": "/"}
    timeout = hooks.timeout.total_seconds()
    run_hooks(hooks.before_restore, "before-restore hook", context.project_root, timeout, hook_env)
    failure: BaseException | None = None
    try:
        outcome.safety_snapshot = _safety_snapshot(context, set_name, host)
        for path in wanted:
            _put_back(restic, snapshot, path, request, outcome)
    except BaseException as exc:
        failure = exc
    try:
        run_hooks(hooks.after_restore, "after-restore hook", context.project_root, timeout, hook_env)
    except HookFailed as exc:
        if failure is None:
            raise
        msg = f"{failure}; then the after_restore hooks ran and failed too: {exc}"
        raise BackupError(msg) from None
    if failure is not None:
        if isinstance(failure, BackupError):
            msg = f"{failure} (the after_restore hooks ran)"
            raise BackupError(msg) from None
        raise failure
    outcome.files, outcome.bytes = _live_size(wanted)


def _put_back(restic: Restic, snapshot: str, live: Path, request: RestoreRequest, outcome: RestoreOutcome) -> None:
    remove_stale_staging(live)
    staging = staging_folder(live)
    staging.mkdir(mode=0o700)
    try:
        command = make_restore_command(restic.target, snapshot, str(staging), True, None, None, [str(live)])
        try:
            restic.execute_waiting_for_locks(lambda: command)
        except ResticError as exc:
            msg = f"restoring {live} from {snapshot[:8]} failed: {exc}{_failed_files(exc)}"
            raise BackupError(msg) from None
        staged = staging / live.relative_to("/")
        if restored_entries(staged) == 0:
            if request.includes:
                msg = f"--include {live} matches nothing in snapshot {snapshot[:8]}"
                raise BackupError(msg)
            logger.warning("snapshot %s holds no %s: left as it is", snapshot[:8], live)
            return
        put_in_place(staged, live, request.delete)
        outcome.landed.append((str(live), str(live)))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _failed_files(error: ResticError) -> str:
    """The files restic names in its errors (restic prints one line each, then only a count)."""
    stderr = error.result.stderr if error.result is not None else ""
    lines = [line.strip() for line in stderr.splitlines() if line.strip().startswith(("ignoring error", "error"))]
    if not lines:
        return ""
    shown = "; ".join(lines[:_SHOWN_ERRORS]) + (
        f"; and {len(lines) - _SHOWN_ERRORS} more" if len(lines) > _SHOWN_ERRORS else ""
    )
    return f" (restic: {shown})"


def _one_pair(context: BackupContext) -> tuple[str, str]:
    if len(context.sets) != 1:
        raise UsageError(f"restore one set at a time: choose one of {', '.join(context.sets)} with --set")
    hosts = context.hosts(context.sets[0])
    if len(hosts) != 1:
        raise UsageError(f"set {context.sets[0]} is backed up by {', '.join(hosts)}: choose one with --host")
    return context.sets[0], hosts[0]


def _check_request(context: BackupContext, request: RestoreRequest) -> None:
    if request.in_place == (request.target is not None):
        raise ConfigError(["give either --target DIR (a new folder) or --in-place (with --yes)"])
    if request.delete and not request.in_place:
        raise ConfigError(["--delete only goes with --in-place: a restore into a new folder has nothing to delete"])
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


def _live_size(paths: list[Path]) -> tuple[int, int]:
    files = total = 0
    for live in paths:
        if live.is_dir() and not live.is_symlink():
            count, size = measure_tree(live)
            files, total = files + count, total + size
        elif live.is_file() and not live.is_symlink():
            files, total = files + 1, total + live.stat().st_size
    return files, total


def _record(context: BackupContext, outcome: RestoreOutcome, request: RestoreRequest) -> None:
    entry = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "snapshot": outcome.snapshot,
        "from_host": outcome.from_host or None,
        "target": outcome.target,
        "in_place": request.in_place,
        "delete": request.delete,
        "includes": list(request.includes),
        "issue": request.issue,
        "files": outcome.files,
        "bytes": outcome.bytes,
        "seconds": round(outcome.seconds, 3),
        "safety_snapshot": outcome.safety_snapshot,
    }
    context.store.update({"last_restore": entry}, outcome.set_name, outcome.host)
    logger.info("restore of %s on %s recorded (issue %s)", outcome.set_name, outcome.host, request.issue or "none")
