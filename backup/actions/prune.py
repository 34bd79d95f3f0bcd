"""``seawall backup prune``: check each repository, and prune only after the check passed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from backup.client import LockPolicy, Restic
from backup.plan import make_target
from backup.restic import make_check_command, make_prune_command
from seawall.errors import BackupError
from seawall.model.schema import Environment

logger = logging.getLogger(__name__)


@dataclass
class PruneOutcome:
    """What prune came to for one set's repository."""

    set_name: str
    repository: str
    result: str
    error: str = ""

    @property
    def ok(self) -> bool:
        """Return whether the repository was pruned (or would be)."""
        return self.result in ("pruned", "dry-run")


def prune_repositories(
    env: Environment, project_root: Path, set_name: str | None = None, dry_run: bool = False
) -> list[PruneOutcome]:
    """Given an environment (and a set), check then prune each repository; return the outcomes."""
    names = sorted(env.backup_sets) if set_name is None else [set_name]
    return [_prune(env, name, project_root, dry_run) for name in names if env.hosts_of_set(name)]


def _prune(env: Environment, set_name: str, project_root: Path, dry_run: bool) -> PruneOutcome:
    target = make_target(env, set_name, project_root)
    if dry_run:
        logger.info("dry run: would check %s, then prune it if the check passes", target.repository)
        return PruneOutcome(set_name, target.repository, "dry-run")
    restic = Restic(target, LockPolicy(env.backup.stale_lock_after, wait=env.backup.lock_wait.total_seconds()))
    try:
        logger.info("checking %s before pruning", target.repository)
        restic.execute_waiting_for_locks(lambda: make_check_command(target))
    except BackupError as exc:
        logger.error("check of %s failed; nothing was pruned: %s", target.repository, exc)
        return PruneOutcome(set_name, target.repository, "check-failed", str(exc))
    try:
        restic.execute_waiting_for_locks(lambda: make_prune_command(target))
    except BackupError as exc:
        return PruneOutcome(set_name, target.repository, "failed", str(exc))
    logger.info("pruned %s", target.repository)
    return PruneOutcome(set_name, target.repository, "pruned")
