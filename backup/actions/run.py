"""``seawall backup run``: pre-hooks, backup, post-hooks; retention is not the run's business.

Every host of a set backs up into the set's repository, often at the same minute; ``restic backup``
takes a shared lock, so they all can. Retention and prune take the exclusive lock, so they run in one
job per set on one host (``seawall backup prune``, its own timer), never inside a run. A lock that a
dead restic of this host left (killed, or cut off from the storage) blocks no backup but every other
host's check and prune: the run removes such locks before and after its backup. After the backup
the run lists its host's snapshots once: a snapshot dated in the future beyond the tolerance (a host
whose clock ran ahead) is an alarm. SIGINT or SIGTERM stops restic, and the run is recorded as
interrupted (state, metrics with ``success 0``, the ``/fail`` ping) before the command exits.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from seawall.backup.client import Restic
from seawall.backup.context import BackupContext
from seawall.backup.decisions import count_after_run, future_alarms
from seawall.backup.hooks import run_hooks
from seawall.backup.metrics import ping, render_metrics, write_metrics
from seawall.backup.plan import Job
from seawall.backup.restic import (
    PartialBackup,
    ResticError,
    SourceMissing,
    beside,
    detect_version,
    make_backup_command,
    make_snapshots_command,
    parse_json_lines,
    parse_snapshots,
)
from seawall.backup.state import RUN_SUCCEEDED
from seawall.errors import BackupError, Interrupted
from seawall.files import os_reason
from seawall.logs import register_secret

logger = logging.getLogger(__name__)
Progress = Callable[[Job, dict[str, Any]], None]
RECORDED_SIZES = 200  # the sizes of a host's last snapshots, for `seawall snapshots`
HELP = {
    "last_run_timestamp_seconds": "When the last backup run ended",
    "last_success_timestamp_seconds": "When the last fully successful backup ended",
    "duration_seconds": "How long the last run took",
    "bytes_added": "Bytes the last backup added to the repository",
    "files_processed": "Files the last backup read",
    "bytes_processed": "Bytes the last backup read (the size of the backed-up data)",
    "snapshots": "Snapshots of this host and set after the run",
    "future_snapshots": "Snapshots of this host and set dated in the future beyond the tolerance",
    "success": "1 when the last run succeeded completely, 0 otherwise",
}


@dataclass
class RunOutcome:
    """What one job's run came to."""

    job: Job
    result: str
    snapshot: str | None = None
    error: str = ""
    bytes_added: int = 0
    bytes_processed: int = 0
    files: int = 0
    seconds: float = 0.0
    snapshots: int | None = None
    alarms: list[str] = field(default_factory=list)
    # Why the outcome could not be recorded (state or metrics unwritable): the run then fails, whatever
    # restic did, since monitoring and the fleet view cannot see it.
    unrecorded: str = ""

    @property
    def ok(self) -> bool:
        """Return whether the job succeeded completely (or was only planned) and was recorded."""
        return self.result in (RUN_SUCCEEDED, "dry-run") and not self.unrecorded


def run_backups(context: BackupContext, dry_run: bool = False, progress: Progress | None = None) -> list[RunOutcome]:
    """Given a backup context, back up every chosen (set, host) job and return the outcomes."""
    return [run_job(context, job, dry_run, progress) for job in context.jobs()]


def run_job(context: BackupContext, job: Job, dry_run: bool, progress: Progress | None) -> RunOutcome:
    """Given one job, run its hooks and backup, record the outcome and return it."""
    where = f"{job.set_name} on {job.host} to {job.target.repository}"
    if dry_run:
        logger.info("dry run: would back up %s (%s)", where, ", ".join(job.paths))
        return RunOutcome(job, "dry-run")
    logger.info("backing up %s", where)
    url = _healthcheck_url(context)
    ping(url, "start")
    started = time.monotonic()
    outcome = RunOutcome(job, "failed")
    try:
        _attempt(context, job, progress, outcome)
    except Interrupted as exc:
        outcome.result, outcome.error = "interrupted", str(exc)
        raise
    finally:
        outcome.seconds = time.monotonic() - started
        try:
            _record(context, outcome)
        except OSError as exc:  # a full disk, a read-only state folder: the other sets are still backed up
            snapshot = f" (snapshot {outcome.snapshot} was made)" if outcome.snapshot else ""
            outcome.unrecorded = (
                f"could not record the run{snapshot}: {os_reason(exc)}; check that backup.state_dir and "
                "backup.metrics_dir are writable and their disk has room"
            )
            logger.error("backup of %s on %s: %s", job.set_name, job.host, outcome.unrecorded)
        ping(url, "success" if outcome.ok else "fail")
    return outcome


def _attempt(context: BackupContext, job: Job, progress: Progress | None, outcome: RunOutcome) -> None:
    hooks = job.backup_set.hooks
    hook_env = context.hook_env(job.set_name, job.host)
    timeout = hooks.timeout.total_seconds()
    try:
        run_hooks(hooks.before, "pre-hook", context.project_root, timeout, hook_env)
        missing = [path for path in job.paths if not os.path.lexists(path)]
        if missing:
            msg = f"{', '.join(missing)} of set {job.set_name} does not exist on {job.host}: nothing was backed up"
            raise SourceMissing(msg)
        restic = context.restic(job.set_name)
        # Before and after the backup, the locks this host's dead processes left (a restic killed or cut
        # off mid-upload) go: other hosts' check and prune would take them for live ones.
        with restic.dead_locks_removed(), ThreadPoolExecutor(max_workers=1) as side:
            # The host's snapshots are listed beside the backup, at a lower priority: the clock-skew check
            # costs the run no wall time.
            listing = side.submit(_list_snapshots, restic, job)
            _backup(restic, job, progress, outcome)
        run_hooks(hooks.after, "post-hook", context.project_root, timeout, hook_env)
        outcome.result = RUN_SUCCEEDED
        logger.info("backed up %s: snapshot %s, %d bytes added", job.set_name, outcome.snapshot, outcome.bytes_added)
        _look_at_snapshots(context, job, listing.result(), outcome)
    except PartialBackup as exc:
        outcome.result, outcome.error = "partial", f"{exc} (snapshot {outcome.snapshot})"
        _on_error(hooks.on_error, context, timeout, hook_env)
    except BackupError as exc:
        outcome.error = str(exc)
        _on_error(hooks.on_error, context, timeout, hook_env)
    if outcome.error:
        logger.error("backup of %s on %s failed: %s", job.set_name, job.host, outcome.error)


def _backup(restic: Restic, job: Job, progress: Progress | None, outcome: RunOutcome) -> None:
    def on_line(line: str) -> None:
        if progress is not None and '"status"' in line:
            parsed = parse_json_lines(line)
            if parsed.statuses:
                progress(job, parsed.statuses[-1])

    command = make_backup_command(job.target, job.paths, job.host, job.set_name, job.backup_set.exclude)
    try:
        result = restic.execute_waiting_for_locks(lambda: command, on_line)
    except PartialBackup as exc:
        summary = parse_json_lines(exc.result.stdout if exc.result else "").summary
        outcome.snapshot = (summary or {}).get("snapshot_id")
        raise
    summary = parse_json_lines(result.stdout).summary or {}
    outcome.snapshot = summary.get("snapshot_id")
    outcome.bytes_added = int(summary.get("data_added", 0))
    outcome.bytes_processed = int(summary.get("total_bytes_processed", 0))
    outcome.files = int(summary.get("total_files_processed", 0))
    if outcome.snapshot is None:
        msg = "restic reported success but no snapshot id: treating the backup as failed"
        raise BackupError(msg)


def _list_snapshots(restic: Restic, job: Job) -> list[dict[str, Any]] | None:
    command = beside(make_snapshots_command(job.target, job.set_name, job.host))
    try:
        return parse_snapshots(restic.execute(command).stdout)
    except BackupError as exc:
        logger.warning("could not list the snapshots of %s on %s beside the backup: %s", job.set_name, job.host, exc)
        return None


def _look_at_snapshots(
    context: BackupContext, job: Job, snapshots: list[dict[str, Any]] | None, outcome: RunOutcome
) -> None:
    """Count the host's snapshots (those listed before the new one, plus it) and raise the alarm for any
    dated in the future beyond the tolerance."""
    if snapshots is None:
        return
    tolerance = context.env.backup.clock_skew_tolerance
    now = dt.datetime.now(dt.UTC)
    outcome.snapshots = count_after_run(snapshots, outcome.snapshot)
    outcome.alarms += future_alarms(snapshots, now, tolerance, job.set_name, job.host)
    for alarm in outcome.alarms:
        logger.error("%s", alarm)


def _on_error(commands: list[str], context: BackupContext, timeout: float, env: dict[str, str]) -> None:
    try:
        run_hooks(commands, "on-error hook", context.project_root, timeout, env)
    except BackupError as exc:
        logger.error("%s", exc)


def _healthcheck_url(context: BackupContext) -> str | None:
    name = context.env.backup.healthcheck_url_env
    url = os.environ.get(name, "") if name else ""
    register_secret(url)
    return url or None


def _restic_version(context: BackupContext) -> str | None:
    try:
        return ".".join(str(part) for part in detect_version(context.env.backup.restic_binary))
    except ResticError:
        return None


def _record(context: BackupContext, outcome: RunOutcome) -> None:
    job = outcome.job
    now = dt.datetime.now(dt.UTC)
    last = {
        "time": now.isoformat(),
        "result": outcome.result,
        "error": outcome.error,
        "snapshot": outcome.snapshot,
        "bytes_added": outcome.bytes_added,
        "bytes_processed": outcome.bytes_processed,
        "files": outcome.files,
        "seconds": round(outcome.seconds, 3),
        "alarms": outcome.alarms,
        # What ran it: the inventory shows each host's restic.
        "restic": _restic_version(context),
    }
    changes: dict[str, Any] = {"last_run": last}
    if outcome.ok and outcome.snapshot:
        changes["last_success"] = now.isoformat()
        changes["last_snapshot"] = {
            "id": outcome.snapshot,
            "time": now.isoformat(),
            "bytes": outcome.bytes_processed,
            "files": outcome.files,
        }
        recorded = context.store.read(job.set_name, job.host)
        # What each run added to the repository (restic's data_added): capacity planning's growth rate.
        growth = [*recorded.get("growth", []), {"time": now.isoformat(), "added": outcome.bytes_added}]
        changes["growth"] = growth[-RECORDED_SIZES:]
        sizes = dict(recorded.get("sizes", {}))
        sizes[outcome.snapshot] = outcome.bytes_processed
        changes["sizes"] = dict(list(sizes.items())[-RECORDED_SIZES:])
    state = context.store.update(changes, job.set_name, job.host)
    success_time = dt.datetime.fromisoformat(state["last_success"]).timestamp() if "last_success" in state else None
    text = render_metrics(
        "seawall_backup",
        {"environment": context.env.name, "host": job.host, "set": job.set_name},
        {
            "last_run_timestamp_seconds": now.timestamp(),
            "last_success_timestamp_seconds": success_time,
            "duration_seconds": outcome.seconds,
            "bytes_added": outcome.bytes_added,
            "files_processed": outcome.files,
            "bytes_processed": outcome.bytes_processed if outcome.ok else None,
            "snapshots": outcome.snapshots,
            "future_snapshots": len(outcome.alarms) if outcome.snapshots is not None else None,
            "success": 1 if outcome.ok else 0,
        },
        HELP,
    )
    write_metrics(context.metrics_dir, f"seawall_backup_{context.env.name}_{job.host}_{job.set_name}", text)
