"""One backup context per command: the selection checked once, and everything every action needs.

Every backup command (run, prune, status, drill, restore, snapshots, check, unlock, init) builds one
``BackupContext`` from the validated environment and its ``--set``/``--host`` options: the same
validation and the same messages everywhere, the folders resolved, the restic target of each set built
once, one state store (with the bucket copy for the fleet view), one lock policy, the hook
environment.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from seawall.backup.backends import Backend, copy_backend, set_backend, shared_copy, vault_keys
from seawall.backup.client import LockPolicy, Restic
from seawall.backup.plan import Job, make_target
from seawall.backup.restic import Target
from seawall.backup.state import BucketCopy, StateStore
from seawall.errors import UsageError
from seawall.files import resolve
from seawall.model.schema import BackupSet, Environment

logger = logging.getLogger(__name__)
PRIMARY, COPY = "primary", "copy"  # the two places a set's snapshots live (``--from``)


@dataclass
class BackupContext:
    """What a backup command works on: the environment, the chosen (set, host) pairs and their tools."""

    env: Environment
    project_root: Path
    pairs: list[tuple[str, str]]
    store: StateStore
    locks: LockPolicy
    slots: threading.Semaphore | None = None  # bounds the restic processes at once (``--jobs``), when set
    # ``primary``: the sets' own repositories; ``copy``: their off-site copies (``--from copy``), reached with
    # the vault's key and the copy's password, with state, reports and metrics of their own
    source: str = PRIMARY
    _backends: dict[str, Backend] = field(default_factory=dict, repr=False)
    _targets: dict[str, Target] = field(default_factory=dict, repr=False)

    @property
    def sets(self) -> list[str]:
        """Return the chosen sets, in a stable order."""
        return sorted({set_name for set_name, _ in self.pairs})

    def backup_set(self, set_name: str) -> BackupSet:
        """Given a chosen set's name, return the set."""
        return self.env.backup_sets[set_name]

    def hosts(self, set_name: str) -> list[str]:
        """Given a chosen set, return its chosen hosts."""
        return [host for name, host in self.pairs if name == set_name]

    def backend(self, set_name: str) -> Backend:
        """Given a set, return where its repository lives (built once per command)."""
        if set_name not in self._backends:
            chosen = copy_backend if self.source == COPY else set_backend
            self._backends[set_name] = chosen(self.env, set_name, self.project_root)
        return self._backends[set_name]

    def target(self, set_name: str) -> Target:
        """Given a set, return its repository's restic target (built once per command)."""
        if set_name not in self._targets:
            password = self.env.backup.copy_ if self.source == COPY else self.env.backup
            assert password is not None  # a copy context exists only where the model has a copy
            chosen = ("--set", set_name, *(("--from", COPY) if self.source == COPY else ()))
            self._targets[set_name] = make_target(self.env, self.backend(set_name), self.project_root, password, chosen)
        return self._targets[set_name]

    def restic(self, set_name: str) -> Restic:
        """Given a set, return a client for its repository with the environment's lock policy."""
        return Restic(self.target(set_name), self.backend(set_name), self.locks, slots=self.slots)

    def vault_primary(self, set_name: str) -> Restic:
        """Given a set, return a client of its primary repository as the vault reads it: with the vault's key
        (restic gives both repositories of one ``copy`` the same S3 keys) and the primary's password."""
        backend = set_backend(self.env, set_name, self.project_root, vault_keys(self.env))
        target = make_target(self.env, backend, self.project_root, selection=("--set", set_name))
        return Restic(target, backend, self.locks, slots=self.slots)

    def folder(self, path: str) -> Path:
        """Given a folder from the model, return it resolved against the project folder."""
        return resolve(self.project_root, path)

    @property
    def metrics_dir(self) -> Path:
        """Return the textfile collector folder."""
        return self.folder(self.env.backup.metrics_dir)

    @property
    def reports_dir(self) -> Path:
        """Return the folder of this environment's drill reports (the copy's: a folder of their own)."""
        return self.folder(self.env.backup.reports_dir) / self.scope

    @property
    def scope(self) -> str:
        """Return the name the state, reports and metrics of this context's repositories are kept under:
        the environment's, or ``<env>/copy`` for the off-site copy."""
        return self.env.name if self.source == PRIMARY else f"{self.env.name}/{COPY}"

    def hook_env(self, set_name: str, host: str) -> dict[str, str]:
        """Given a set and host, return the variables its hooks and checks get beyond the harmless ones
        (``hooks.HOOK_INHERITS``): which set and host, and the variables the set passes by name."""
        passed = {name: os.environ[name] for name in self.backup_set(set_name).hooks.pass_env if name in os.environ}
        return {**passed, "SEAWALL_ENVIRONMENT": self.env.name, "SEAWALL_SET": set_name, "SEAWALL_HOST": host}

    def jobs(self) -> list[Job]:
        """Return every chosen (host, set) backup job, in a stable order."""
        jobs = []
        for set_name, host in self.pairs:
            backup_set = self.backup_set(set_name)
            paths = tuple(str(self.folder(path)) for path in backup_set.paths)
            jobs.append(Job(self.env.name, host, set_name, backup_set, paths, self.target(set_name)))
        return jobs


def build_context(
    env: Environment,
    project_root: Path,
    set_name: str | Sequence[str] | None = None,
    host: str | None = None,
    source: str = PRIMARY,
) -> BackupContext:
    """Given an environment, the ``--set`` (one name, or every one given)/``--host`` options and which
    repositories (``primary``, or the off-site ``copy``), check them and return the context.

    An unknown set or host, a host that does not run the set, a selection with nothing in it, or a copy
    the model does not have is a usage error (exit 2) that names what is known.
    """
    if source == COPY and env.backup.copy_ is None:
        msg = f"{env.name} has no off-site copy: declare backup.copy (docs/environment-model.md) to have one"
        raise UsageError(msg)
    return BackupContext(
        env,
        project_root,
        select_pairs(env, set_name, host),
        state_store(env, project_root, source),
        LockPolicy(
            stale_after=env.backup.stale_lock_after,
            attempts=env.backup.lock_attempts,
            wait=env.backup.lock_wait.total_seconds(),
        ),
        source=source,
    )


def state_store(env: Environment, project_root: Path, source: str = PRIMARY) -> StateStore:
    """Given an environment and which repositories, return the store of their state: this machine's folder
    (``state_dir/<env>``, the copy's ``state_dir/<env>/copy``) and the bucket's copy when its keys are set."""
    scope = env.name if source == PRIMARY else f"{env.name}/{COPY}"
    bucket = shared_copy(env, project_root)
    return StateStore(
        resolve(project_root, env.backup.state_dir),
        scope,
        BucketCopy(bucket.client, bucket.bucket, scope) if bucket is not None else None,
        env.backup.clock_skew_tolerance,
    )


def select_pairs(env: Environment, set_name: str | Sequence[str] | None, host: str | None) -> list[tuple[str, str]]:
    """Given the options (no set, one, or several: every one given counts), return every chosen (set, host)
    pair, or raise UsageError saying why none is."""
    wanted = sorted({set_name} if isinstance(set_name, str) else set(set_name or ()))
    unknown = [name for name in wanted if name not in env.backup_sets]
    if unknown:
        known = ", ".join(sorted(env.backup_sets)) or "none"
        shown = ", ".join(repr(name) for name in unknown)
        raise UsageError(f"{env.name} has no backup set{'s' if len(unknown) > 1 else ''} {shown} (known: {known})")
    every_host = sorted({h for name in env.backup_sets for h in env.hosts_of_set(name)})
    if host is not None and host not in every_host:
        raise UsageError(f"{env.name} has no host {host!r} that backs up anything (known: {', '.join(every_host)})")
    names = wanted or sorted(env.backup_sets)
    pairs = [(name, h) for name in names for h in env.hosts_of_set(name) if host is None or h == host]
    if not pairs:
        sets = ", ".join(repr(name) for name in wanted)
        if wanted and host is not None:
            raise UsageError(f"host {host!r} does not back up set {sets} in {env.name}")
        scope = f"set {sets}" if wanted else "any set"
        raise UsageError(f"{env.name} has no host that backs up {scope}: check the inventory")
    return pairs
