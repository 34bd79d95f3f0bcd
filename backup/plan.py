"""A backup job (which host, which set, which repository) and the restic target of a set's repository.

``BackupContext.jobs`` (``seawall.backup.context``) makes the jobs; this module knows no context, so the
context imports it and nothing here imports back.

Relative paths (the ``local`` environment's repositories, password file, state and sources) are
relative to the project folder. Credentials are read here, once, registered for masking, and handed
to restic through its environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from seawall.backup.backends import Backend, secret_from
from seawall.backup.restic import Target
from seawall.files import resolve
from seawall.model.schema import BackupConfig, BackupSet, Environment, OffsiteCopy


@dataclass(frozen=True)
class Job:
    """One host's backup of one set into its repository."""

    env_name: str
    host: str
    set_name: str
    backup_set: BackupSet
    paths: tuple[str, ...]
    target: Target


def password_variables(
    project_root: Path, source: BackupConfig | OffsiteCopy, prefix: str = "RESTIC"
) -> dict[str, str]:
    """Given where a repository's password comes from, return restic's variable for it (``RESTIC_FROM``: the
    source repository of a ``restic copy``); a password read from the environment is masked from now on."""
    if source.password_file:
        return {f"{prefix}_PASSWORD_FILE": str(resolve(project_root, source.password_file))}
    return {f"{prefix}_PASSWORD": secret_from(source.password_env or "")}


def credentials(
    env: Environment, backend: Backend, project_root: Path, password: BackupConfig | OffsiteCopy | None = None
) -> dict[str, str]:
    """Given a set's backend, return the environment restic needs for its repository: the password (the
    primary's, or ``password``'s) and what the backend needs; secrets are masked from now on."""
    return password_variables(project_root, password or env.backup) | backend.restic_env()


def make_target(
    env: Environment,
    backend: Backend,
    project_root: Path,
    password: BackupConfig | OffsiteCopy | None = None,
    selection: tuple[str, ...] = (),
) -> Target:
    """Given a set's backend (and the options that choose it: ``--set S``, ``--from copy``), return the
    restic target for its repository."""
    return Target(
        backend.location(),
        credentials(env, backend, project_root, password),
        env.backup.restic_binary,
        env.backup.command_timeout.total_seconds(),
        env.name,
        selection,
        backend.network_endpoint,
    )
