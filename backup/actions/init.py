"""``seawall backup init``: the bucket (S3/Spaces) and the restic repository of each backup set.

``--dry-run`` says what would be created and changes nothing, also on a machine where nothing exists
yet (no password file, no bucket). A generated password is announced with its path and the advice to
keep a copy away from the machine: without it the backups cannot be read.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from seawall.backup.client import Restic
from seawall.backup.context import COPY, BackupContext
from seawall.backup.restic import RepositoryMissing, Target, make_cat_config_command, make_init_command
from seawall.files import resolve, write_atomically
from seawall.model.schema import BackupConfig, OffsiteCopy

logger = logging.getLogger(__name__)


@dataclass
class InitOutcome:
    """What init did (or would do) for one set's repository."""

    set_name: str
    repository: str
    actions: list[str] = field(default_factory=list)


def init_repositories(context: BackupContext, dry_run: bool = False) -> tuple[list[InitOutcome], str | None]:
    """Given a context, make each chosen set's repository exist; return what was done, and the path of a
    password generated now (None when one existed)."""
    env = context.env
    copy = env.backup.copy_ if context.source == COPY else None
    generated = _ensure_local_password(copy or env.backup, context.project_root, dry_run)
    outcomes = []
    prepared: dict[str, bool] = {}
    for name in context.sets:
        backend = context.backend(name)
        target = context.target(name)
        outcome = InitOutcome(name, target.repository)
        if backend.container not in prepared:
            ready = backend.prepare(dry_run)
            outcome.actions += ready.actions
            prepared[backend.container] = ready.existed
        fresh = generated is not None or not prepared[backend.container]
        # An off-site copy takes its primary's chunker parameters, so that copied data deduplicates as there.
        primary = context.vault_primary(name).target if copy is not None else None
        outcome.actions += _ensure_repository(Restic(target, backend), dry_run, fresh, primary)
        outcomes.append(outcome)
    return outcomes, generated


def _ensure_repository(restic: Restic, dry_run: bool, fresh: bool, primary: Target | None = None) -> list[str]:
    """Create the repository unless it exists (an off-site copy: with its ``primary``'s chunker parameters);
    on a dry run of a fresh set-up, ask restic nothing."""
    action = f"create repository {restic.target.repository}"
    if dry_run and fresh:
        logger.info("dry run: would %s", action)
        return [action]
    try:
        restic.execute(make_cat_config_command(restic.target))
    except RepositoryMissing:
        logger.info("%s%s", "dry run: would " if dry_run else "", action)
        if not dry_run:
            restic.execute(make_init_command(restic.target, primary))
        return [action]
    return []


def _ensure_local_password(source: BackupConfig | OffsiteCopy, project_root: Path, dry_run: bool) -> str | None:
    """Generate the password file when the set-up names one that does not exist; return its path."""
    if not source.password_file:
        return None
    path = resolve(project_root, source.password_file)
    if path.exists():
        return None
    logger.info("%sgenerate a repository password in %s (mode 0600)", "dry run: would " if dry_run else "", path)
    if not dry_run:
        write_atomically(path, secrets.token_urlsafe(32) + "\n", mode=0o600)
        os.chmod(path, 0o600)
    return str(path)
