"""``seawall backup run``: pre-hooks, backup, post-hooks, then retention only when all of it succeeded."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backup.client import LockPolicy, Restic
from backup.hooks import run_hooks
from backup.metrics import ping, render_metrics, write_metrics
from backup.plan import Job, plan_jobs, resolve
from backup.restic import (
    PartialBackup,
    SourceMissing,
    make_backup_command,
    make_forget_command,
    parse_json_lines,
)
from backup.state import StateStore
from seawall.errors import BackupError
from seawall.logs import register_secret
from seawall.model.schema import Environment

logger = logging.getLogger(__name__)
Progress = Callable[[Job, dict[str, Any]], None]
HELP = {
    "last_run_timestamp_seconds": "When the last backup run ended",
    "last_success_timestamp_seconds": "When the last fully successful backup ended",
    "duration_seconds": "How long the last run took",
    "bytes_added": "Bytes the last backup added to the repository",
    "files_processed": "Files the last backup read",
    "snapshots": "Snapshots of this host and set after retention",
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
    files: int = 0
    seconds: float = 0.0
    snapshots: int | None = None
    forgotten: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return whether the job succeeded completely (or was only planned)."""
        return self.result in ("ok", "dry-run")


def run_backups(
    env: Environment,
    project_root: Path,
    set_name: str | None = None,
    host: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> list[RunOutcome]:
    """Given an environment and optional set and host, back up every job and return the outcomes."""
    return [run_job(env, job, project_root, dry_run, progress) for job in plan_jobs(env, project_root, set_name, host)]


def run_job(env: Environment, job: Job, project_root: Path, dry_run: bool, progress: Progress | None) -> RunOutcome:
    """Given one job, run its hooks, backup and retention, record the outcome and return it."""
    where = f"{job.set_name} on {job.host} to {job.target.repository}"
    if dry_run:
        logger.info("dry run: would back up %s (%s)", where, ", ".join(job.paths))
        return RunOutcome(job, "dry-run")
    logger.info("backing up %s", where)
    url = _healthcheck_url(env)
    ping(url, "start")
    started = time.monotonic()
    outcome = _attempt(env, job, project_root, progress)
    outcome.seconds = time.monotonic() - started
    _record(env, project_root, outcome)
    ping(url, "success" if outcome.ok else "fail")
    return outcome


def _attempt(env: Environment, job: Job, project_root: Path, progress: Progress | None) -> RunOutcome:
    hooks = job.backup_set.hooks
    hook_env = {"SEAWALL_ENVIRONMENT": env.name, "SEAWALL_SET": job.set_name, "SEAWALL_HOST": job.host}
    timeout = hooks.timeout.total_seconds()
    outcome = RunOutcome(job, "failed")
    try:
        run_hooks(hooks.before, "pre-hook", project_root, timeout, hook_env)
        missing = [path for path in job.paths if not os.path.lexists(path)]
        if missing:
            msg = f"{', '.join(missing)} of set {job.set_name} does not exist on {job.host}: nothing was backed up"
            raise SourceMissing(msg)
        restic = Restic(job.target, _lock_policy(env))
        _backup(restic, job, progress, outcome)
        run_hooks(hooks.after, "post-hook", project_root, timeout, hook_env)
        outcome.forgotten, outcome.snapshots = _forget(restic, job)
        outcome.result = "ok"
        logger.info("backed up %s: snapshot %s, %d bytes added", job.set_name, outcome.snapshot, outcome.bytes_added)
    except PartialBackup as exc:
        outcome.result, outcome.error = "partial", f"{exc} (snapshot {outcome.snapshot}); retention skipped"
        _on_error(hooks.on_error, project_root, timeout, hook_env)
    except BackupError as exc:
        outcome.error = str(exc)
        _on_error(hooks.on_error, project_root, timeout, hook_env)
    if outcome.error:
        logger.error("backup of %s on %s failed: %s", job.set_name, job.host, outcome.error)
    return outcome


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
    outcome.files = int(summary.get("total_files_processed", 0))
    if outcome.snapshot is None:
        msg = "restic reported success but no snapshot id: treating the backup as failed"
        raise BackupError(msg)


def _forget(restic: Restic, job: Job) -> tuple[list[str], int]:
    """Given a job that succeeded, apply its retention; return what was forgotten and how many remain."""
    keep = {
        key: (value if isinstance(value, str) else str(value))
        for key, value in job.backup_set.retention.model_dump(mode="json").items()
        if value is not None
    }
    result = restic.execute_waiting_for_locks(lambda: make_forget_command(job.target, job.set_name, job.host, keep))
    removed: list[str] = []
    kept = 0
    for group in _json_list(result.stdout):
        removed += [snapshot.get("short_id", "") for snapshot in group.get("remove") or []]
        kept += len(group.get("keep") or [])
    if removed:
        logger.info(
            "retention forgot %d snapshot(s) of %s on %s: %s", len(removed), job.set_name, job.host, ", ".join(removed)
        )
    return removed, kept


def _json_list(text: str) -> list[dict[str, Any]]:
    for line in text.splitlines():
        if line.startswith("["):
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue
            return [item for item in data if isinstance(item, dict)]
    return []


def _on_error(commands: list[str], cwd: Path, timeout: float, env: dict[str, str]) -> None:
    try:
        run_hooks(commands, "on-error hook", cwd, timeout, env)
    except BackupError as exc:
        logger.error("%s", exc)


def _lock_policy(env: Environment) -> LockPolicy:
    return LockPolicy(stale_after=env.backup.stale_lock_after, wait=env.backup.lock_wait.total_seconds())


def _healthcheck_url(env: Environment) -> str | None:
    name = env.backup.healthcheck_url_env
    url = os.environ.get(name, "") if name else ""
    register_secret(url)
    return url or None


def _record(env: Environment, project_root: Path, outcome: RunOutcome) -> None:
    job = outcome.job
    now = dt.datetime.now(dt.UTC)
    store = StateStore(resolve(project_root, env.backup.state_dir), env.name)
    last = {
        "time": now.isoformat(),
        "result": outcome.result,
        "error": outcome.error,
        "snapshot": outcome.snapshot,
        "bytes_added": outcome.bytes_added,
        "files": outcome.files,
        "seconds": round(outcome.seconds, 3),
    }
    changes: dict[str, Any] = {"last_run": last}
    if outcome.ok:
        changes["last_success"] = now.isoformat()
    state = store.update(changes, job.set_name, job.host)
    success_time = dt.datetime.fromisoformat(state["last_success"]).timestamp() if "last_success" in state else None
    text = render_metrics(
        "seawall_backup",
        {"environment": env.name, "host": job.host, "set": job.set_name},
        {
            "last_run_timestamp_seconds": now.timestamp(),
            "last_success_timestamp_seconds": success_time,
            "duration_seconds": outcome.seconds,
            "bytes_added": outcome.bytes_added,
            "files_processed": outcome.files,
            "snapshots": outcome.snapshots,
            "success": 1 if outcome.ok else 0,
        },
        HELP,
    )
    write_metrics(
        resolve(project_root, env.backup.metrics_dir), f"seawall_backup_{env.name}_{job.host}_{job.set_name}", text
    )
