"""``seawall backup init``: the bucket (S3/Spaces) and the restic repository of each backup set."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from backup.client import Restic
from backup.plan import make_target, resolve
from backup.restic import RepositoryMissing, make_cat_config_command, make_init_command
from backup.state import write_atomically
from backup.storage import BucketSpec, ensure_bucket, make_client
from seawall.model.schema import Environment

logger = logging.getLogger(__name__)


@dataclass
class InitOutcome:
    """What init did (or would do) for one set's repository."""

    set_name: str
    repository: str
    actions: list[str] = field(default_factory=list)


def init_repositories(
    env: Environment, project_root: Path, set_name: str | None = None, dry_run: bool = False
) -> list[InitOutcome]:
    """Given an environment (and a set), make each repository exist; return what was done."""
    outcomes = []
    if env.environment.provider == "local":
        _ensure_local_password(env, project_root, dry_run)
    names = sorted(env.backup_sets) if set_name is None else [set_name]
    buckets_done: set[str] = set()
    for name in names:
        repository = env.repository_for(name)
        target = make_target(env, name, project_root)
        outcome = InitOutcome(name, target.repository)
        if repository.kind == "s3" and repository.bucket not in buckets_done:
            buckets_done.add(repository.bucket or "")
            client = make_client(
                repository.endpoint or "",
                repository.region,
                target.env["AWS_ACCESS_KEY_ID"],
                target.env["AWS_SECRET_ACCESS_KEY"],
            )
            spec = BucketSpec(
                repository.bucket or "", env.backup.noncurrent_version_days, env.backup.abort_multipart_days
            )
            outcome.actions += ensure_bucket(client, spec, dry_run)
        if repository.kind == "local" and not dry_run:
            Path(target.repository).parent.mkdir(parents=True, exist_ok=True)
        outcome.actions += _ensure_repository(Restic(target), dry_run)
        outcomes.append(outcome)
    return outcomes


def _ensure_repository(restic: Restic, dry_run: bool) -> list[str]:
    try:
        restic.execute(make_cat_config_command(restic.target))
    except RepositoryMissing:
        logger.info("%screate repository %s", "dry run: would " if dry_run else "", restic.target.repository)
        if not dry_run:
            restic.execute(make_init_command(restic.target))
        return [f"create repository {restic.target.repository}"]
    return []


def _ensure_local_password(env: Environment, project_root: Path, dry_run: bool) -> None:
    if not env.backup.password_file:
        return
    path = resolve(project_root, env.backup.password_file)
    if path.exists():
        return
    logger.info("%sgenerate a repository password in %s (mode 0600)", "dry run: would " if dry_run else "", path)
    if not dry_run:
        write_atomically(path, secrets.token_urlsafe(32) + "\n", mode=0o600)
        os.chmod(path, 0o600)
