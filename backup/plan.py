"""From a validated environment to the backup jobs to run: which host, which set, which repository.

Relative paths (the ``local`` environment's repositories, password file, state and sources) are
relative to the project folder. Credentials are read here, once, registered for masking, and handed
to restic through its environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from seawall.backup.restic import Target
from seawall.errors import ConfigError
from seawall.logs import register_secret
from seawall.model.schema import BackupSet, Environment, Repository

if TYPE_CHECKING:
    from seawall.backup.context import BackupContext


@dataclass(frozen=True)
class Job:
    """One host's backup of one set into its repository."""

    env_name: str
    host: str
    set_name: str
    backup_set: BackupSet
    paths: tuple[str, ...]
    target: Target


def resolve(project_root: Path, path: str) -> Path:
    """Given the project folder and a path from the model, return it absolute."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else project_root / candidate


def repository_location(env: Environment, set_name: str, project_root: Path) -> str:
    """Given a set, return restic's location string for its repository."""
    repository: Repository = env.repository_for(set_name)
    if repository.kind == "local":
        return str(resolve(project_root, repository.path or ""))
    endpoint = (repository.endpoint or "").rstrip("/")
    return f"s3:{endpoint}/{repository.bucket}/{repository.prefix}".rstrip("/")


def credentials(env: Environment, set_name: str, project_root: Path) -> dict[str, str]:
    """Given a set, return the environment restic needs for its repository; secrets are masked from now on."""
    backup = env.backup
    variables: dict[str, str] = {}
    if backup.password_file:
        variables["RESTIC_PASSWORD_FILE"] = str(resolve(project_root, backup.password_file))
    else:
        variables["RESTIC_PASSWORD"] = _secret_from(backup.password_env or "")
    repository = env.repository_for(set_name)
    if repository.kind == "s3":
        variables["AWS_ACCESS_KEY_ID"] = _secret_from(backup.access_key_id_env)
        variables["AWS_SECRET_ACCESS_KEY"] = _secret_from(backup.secret_access_key_env)
        variables["AWS_DEFAULT_REGION"] = repository.region
    return variables


def _secret_from(variable: str) -> str:
    value = os.environ.get(variable, "")
    if not value:
        msg = f"the environment variable {variable} is not set; export it (secrets never live in the YAML files)"
        raise ConfigError([msg])
    register_secret(value)
    return value


def make_target(env: Environment, set_name: str, project_root: Path) -> Target:
    """Given a set, return the restic target for its repository."""
    return Target(
        repository_location(env, set_name, project_root),
        credentials(env, set_name, project_root),
        env.backup.restic_binary,
        env.backup.command_timeout.total_seconds(),
    )


def plan_jobs(context: BackupContext) -> list[Job]:
    """Given a backup context, return every chosen (host, set) job, in a stable order."""
    jobs = []
    for set_name, host in context.pairs:
        backup_set = context.backup_set(set_name)
        paths = tuple(str(resolve(context.project_root, path)) for path in backup_set.paths)
        jobs.append(Job(context.env.name, host, set_name, backup_set, paths, context.target(set_name)))
    return jobs
