"""The storage seam: what the backup side needs from where a repository lives, and the backends.

A ``Backend`` is one place restic repositories live. Everything in ``backup/`` (and the documents,
capacity and ledger code that read the fleet's state) asks a backend, never the model's
``repository.kind``:

- ``location()`` and ``restic_env()``: the repository string and the variables restic needs for it
  (credentials are read from the environment once and masked from then on);
- ``prepare(dry_run)``: make the storage exist as Seawall wants it (a folder; a private, versioned
  bucket with lifecycle rules) and say what was done;
- ``stored_bytes()``: what the repository holds now, for capacity;
- ``shared_copy()``: where every host's state, drill reports and the ledger are shared (a bucket), or
  None when the fleet view is this machine's only;
- ``lock_ids()`` and ``remove_lock(id)``: restic's lock files (``locks/`` in the repository), listed and
  removed one by one without the password, so that a run removes exactly the locks its host's dead
  processes left (``seawall.backup.client``) and starts no restic when there are none;
- ``protection()``: what keeps the stored objects from being deleted, read from the storage now (for
  the off-site copy's record: Seawall never claims a protection it did not check);
- ``shown``: the location as the model writes it, for documents;
- ``bucket``, ``spec``, ``network_endpoint``, ``storage_region``: the bucket the repository is in and the spec
  ``prepare`` gives it, where restic reaches it over the network and the region its objects are in (each None
  for a folder of this machine), for documents, capacity and restic's messages;
- ``key_variables()``: which variables hold the keys restic reads (names, never values), for the documents'
  commands that run plain restic;
- ``variable_prefixes``: the families of variables restic reads for this backend, which no process inherits
  from the caller (``scrubbed_prefixes``, given to the runner: every command names its own).

Two backends ship: ``local`` (a folder, for the ``local`` environment and tests) and ``s3`` (DigitalOcean
Spaces or any S3 server). A new backend (B2, a second region) is one class here, one entry in
``BACKENDS`` and the kind in ``seawall.model.schema.Repository``; the contract suite
(``tests/integration/backup/test_storage_contract.py``) runs against every backend.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol
from urllib.parse import urlparse

from seawall.backup.state import BucketCopy
from seawall.backup.storage import (
    BucketSpec,
    StorageError,
    bucket_exists,
    bucket_spec,
    copy_bucket_spec,
    ensure_bucket,
    make_client,
    object_names,
    protection,
    remove_object,
)
from seawall.errors import ConfigError, UsageError
from seawall.files import resolve
from seawall.logs import register_secret
from seawall.model.schema import Environment, Repository
from seawall.runner import scrub_inherited

logger = logging.getLogger(__name__)
LOCKS = "locks"  # restic's folder of lock files in a repository
_LOCK_ID = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Prepared:
    """What ``prepare`` did (or would do), and whether the storage existed before."""

    actions: list[str]
    existed: bool


class Backend(Protocol):
    """Where restic repositories live, as the backup side uses it."""

    @property
    def kind(self) -> str:
        """Return the backend's name in the model (``repository.kind``)."""
        ...

    @property
    def shown(self) -> str:
        """Return the location as the model writes it (no secret, no project folder)."""
        ...

    @property
    def container(self) -> str:
        """Return what ``prepare`` makes exist (a bucket, a folder): sets that share it prepare it once."""
        ...

    def location(self) -> str:
        """Return restic's repository string."""
        ...

    def restic_env(self) -> dict[str, str]:
        """Return the variables restic needs to reach the repository (not its password); masked."""
        ...

    def prepare(self, dry_run: bool) -> Prepared:
        """Make the storage exist as Seawall wants it; return what was done (or would be)."""
        ...

    def stored_bytes(self) -> int | None:
        """Return the bytes the repository holds now (None when that cannot be known here)."""
        ...

    def shared_copy(self) -> BucketCopy | None:
        """Return the store every host shares its state through, or None (this machine only)."""
        ...

    def lock_ids(self) -> list[str]:
        """Return the ids of the repository's lock files (none where there is no repository yet)."""
        ...

    def remove_lock(self, lock_id: str) -> None:
        """Remove one of the repository's lock files; one already gone is no error."""
        ...

    def protection(self) -> list[str]:
        """Return what keeps the stored objects from being deleted, as the storage shows it now."""
        ...

    @property
    def bucket(self) -> str | None:
        """Return the bucket the repository is in, or None (a folder)."""
        ...

    @property
    def spec(self) -> BucketSpec | None:
        """Return the spec ``prepare`` gives the bucket (versions kept, lock), or None (a folder)."""
        ...

    @property
    def network_endpoint(self) -> str | None:
        """Return where restic reaches the storage over the network (``http://host:port``), or None (a folder
        of this machine)."""
        ...

    @property
    def storage_region(self) -> str | None:
        """Return the region the stored objects are in, or None (a folder of the machine that uses it)."""
        ...

    def key_variables(self) -> dict[str, str]:
        """Return each variable restic reads the storage's keys from, with the variable that holds the key."""
        ...


@dataclass(frozen=True)
class LocalBackend:
    """A repository in a folder of this machine (relative paths are relative to the project)."""

    path: str
    project_root: Path
    env_name: str
    kind: str = "local"
    variable_prefixes: ClassVar[tuple[str, ...]] = ()  # restic reads no variable of its own for a folder

    @property
    def shown(self) -> str:
        """Return the folder as the model writes it."""
        return self.path

    @property
    def container(self) -> str:
        """Return the folder restic's repository is."""
        return self.location()

    def location(self) -> str:
        """Return the folder, absolute."""
        return str(resolve(self.project_root, self.path))

    def restic_env(self) -> dict[str, str]:
        """A folder needs no credentials."""
        return {}

    def prepare(self, dry_run: bool) -> Prepared:
        """Make the folder exist, readable by its owner only (restic makes the repository inside)."""
        folder = Path(self.location())
        if folder.exists():
            return Prepared([], True)
        if not dry_run:
            folder.mkdir(mode=0o700, parents=True)
        return Prepared([f"create folder {folder}"], False)

    def stored_bytes(self) -> int | None:
        """Return the size of every file in the folder."""
        folder = Path(self.location())
        if not folder.is_dir():
            return 0
        return sum((Path(root) / name).stat().st_size for root, _, files in os.walk(folder) for name in files)

    def shared_copy(self) -> BucketCopy | None:
        """A folder is this machine's: there is no shared copy."""
        return None

    def lock_ids(self) -> list[str]:
        """Return the names of the files in the repository's ``locks`` folder."""
        folder = Path(self.location()) / LOCKS
        try:
            names = [entry.name for entry in folder.iterdir()] if folder.is_dir() else []
        except OSError as exc:
            msg = f"the lock files in {folder} cannot be listed: {exc.strerror or exc}"
            raise StorageError(msg) from None
        return sorted(name for name in names if _LOCK_ID.match(name))

    def remove_lock(self, lock_id: str) -> None:
        """Remove the lock's file from the repository's ``locks`` folder."""
        path = Path(self.location()) / LOCKS / _checked_lock_id(lock_id)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            msg = f"the lock file {path} cannot be removed: {exc.strerror or exc}"
            raise StorageError(msg) from None

    def protection(self) -> list[str]:
        """A folder of this machine: whoever can write it can delete it."""
        return ["a folder of this machine: not versioned, no object lock"]

    @property
    def bucket(self) -> str | None:
        """A folder is in no bucket."""
        return None

    @property
    def spec(self) -> BucketSpec | None:
        """A folder has no bucket to give rules to."""
        return None

    @property
    def network_endpoint(self) -> str | None:
        """A folder of this machine is reached without the network."""
        return None

    @property
    def storage_region(self) -> str | None:
        """A folder is where the machine that uses it is."""
        return None

    def key_variables(self) -> dict[str, str]:
        """A folder needs no keys."""
        return {}


@dataclass(frozen=True)
class S3Backend:
    """A repository under a prefix of an S3 bucket (DigitalOcean Spaces, or any S3 server)."""

    endpoint: str
    region: str
    bucket: str
    prefix: str
    spec: BucketSpec
    access_key_env: str
    secret_key_env: str
    env_name: str
    kind: str = "s3"
    variable_prefixes: ClassVar[tuple[str, ...]] = ("AWS_",)  # restic's S3 backend reads AWS_* (keys, region…)

    @property
    def shown(self) -> str:
        """Return restic's repository string (it names no secret)."""
        return self.location()

    @property
    def container(self) -> str:
        """Return the bucket."""
        return self.bucket

    def location(self) -> str:
        """Return ``s3:ENDPOINT/BUCKET/PREFIX``."""
        return f"s3:{self.endpoint.rstrip('/')}/{self.bucket}/{self.prefix}".rstrip("/")

    def keys(self, required: bool = True) -> tuple[str, str] | None:
        """Return the access and secret key from the environment, masked from now on; when they are not
        set, a ConfigError naming the variable, or None when not ``required``."""
        variables = (self.access_key_env, self.secret_key_env)
        if not required and not all(os.environ.get(variable) for variable in variables):
            return None
        return secret_from(variables[0]), secret_from(variables[1])

    def client(self, required: bool = True) -> Any | None:
        """Return a boto3 client for the bucket (None without keys when not ``required``)."""
        keys = self.keys(required)
        return None if keys is None else _client(self.endpoint, self.region, *keys)

    def restic_env(self) -> dict[str, str]:
        """Return the keys and region restic's S3 backend reads."""
        access, secret = self.keys() or ("", "")
        return {"AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": self.region}

    def prepare(self, dry_run: bool) -> Prepared:
        """Make the bucket exist, private, versioned and with its lifecycle rules."""
        client = self.client()
        existed = bucket_exists(client, self.bucket)
        return Prepared(ensure_bucket(client, self.spec, dry_run), existed)

    def stored_bytes(self) -> int | None:
        """Return the size of every object under the prefix (None without the bucket's keys)."""
        client = self.client(required=False)
        if client is None:
            return None
        total = 0
        prefix = self.prefix.strip("/") + "/"
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            total += sum(int(item["Size"]) for item in page.get("Contents", []))
        return total

    def shared_copy(self) -> BucketCopy | None:
        """Return the bucket's copy of the fleet's state, or None when the keys are not set."""
        client = self.client(required=False)
        if client is None:
            logger.info("no bucket keys in the environment: the fleet view shows this machine's state only")
            return None
        return BucketCopy(client, self.bucket, self.env_name)

    def _locks_folder(self) -> str:
        return "/".join(part for part in (self.prefix.strip("/"), LOCKS) if part) + "/"

    def lock_ids(self) -> list[str]:
        """Return the names of the objects in the repository's ``locks/`` folder of the bucket."""
        names = object_names(self.client(), self.bucket, self._locks_folder())
        return sorted(name for name in names if _LOCK_ID.match(name))

    def remove_lock(self, lock_id: str) -> None:
        """Remove the lock's object from the bucket."""
        remove_object(self.client(), self.bucket, self._locks_folder() + _checked_lock_id(lock_id))

    def protection(self) -> list[str]:
        """Return the bucket's versioning, how long it keeps removed versions, and its object lock."""
        return protection(self.client(), self.bucket)

    @property
    def network_endpoint(self) -> str | None:
        """Return the scheme, host and port of the endpoint, as restic's location names it."""
        url = self.location().removeprefix("s3:")
        scheme, _, rest = url.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}" if rest else url

    @property
    def storage_region(self) -> str | None:
        """Return the region: Spaces' from its endpoint (``ams3.digitaloceanspaces.com``), any other storage's as
        the model says."""
        host = urlparse(self.endpoint).hostname or ""
        return host.split(".")[0] if host.endswith("digitaloceanspaces.com") else self.region

    def key_variables(self) -> dict[str, str]:
        """Return restic's two key variables with the variables the model names for them."""
        return {"AWS_ACCESS_KEY_ID": self.access_key_env, "AWS_SECRET_ACCESS_KEY": self.secret_key_env}


@functools.lru_cache(maxsize=8)
def _client(endpoint: str, region: str, access_key: str, secret_key: str) -> Any:
    """One boto3 client per endpoint and keys for the whole command (clients are thread-safe)."""
    return make_client(endpoint, region, access_key, secret_key)


def _checked_lock_id(lock_id: str) -> str:
    """Given a lock id, return it; anything but restic's 64 hex digits is refused (it names a file)."""
    if not _LOCK_ID.match(lock_id):
        msg = f"{lock_id!r} is not a restic lock id (64 hexadecimal digits)"
        raise StorageError(msg)
    return lock_id


def secret_from(variable: str) -> str:
    """Given an environment variable's name, return its value, masked from now on; unset is a
    ConfigError that says to export it."""
    value = os.environ.get(variable, "")
    if not value:
        msg = f"the environment variable {variable} is not set; export it (secrets never live in the YAML files)"
        raise ConfigError([msg])
    register_secret(value)
    return value


def _local(
    env: Environment, repository: Repository, project_root: Path, keys: Keys, spec: BucketSpec | None
) -> Backend:
    return LocalBackend(repository.path or "", project_root, env.name)


def _s3(env: Environment, repository: Repository, project_root: Path, keys: Keys, spec: BucketSpec | None) -> Backend:
    bucket = repository.bucket or env.bucket_name
    return S3Backend(
        repository.endpoint or "",
        repository.region,
        bucket,
        repository.prefix,
        dataclasses.replace(spec or bucket_spec(env), name=bucket),
        *(keys or (env.backup.access_key_id_env, env.backup.secret_access_key_env)),
        env.name,
    )


Keys = tuple[str, str] | None  # the variables that hold an S3 key pair; None: the backup hosts' pair
# Each kind of the model: its backend's class and how the model's repository makes one.
BACKENDS: dict[str, tuple[type[LocalBackend | S3Backend], Callable[..., Backend]]] = {
    "local": (LocalBackend, _local),
    "s3": (S3Backend, _s3),
}
# What no process inherits from the caller (each command names its repository and credentials itself):
# restic's own variables (``RESTIC_REPOSITORY``, ``RESTIC_PASSWORD``…) and every backend's; the runner asks.
SCRUBBED_PREFIXES = ("RESTIC_", *dict.fromkeys(p for kind, _ in BACKENDS.values() for p in kind.variable_prefixes))
scrub_inherited(SCRUBBED_PREFIXES)


def backend_of(
    env: Environment, repository: Repository, project_root: Path, keys: Keys = None, spec: BucketSpec | None = None
) -> Backend:
    """Given a repository from the model, return its backend (reached with the ``keys`` variables, when given)."""
    return BACKENDS[repository.kind][1](env, repository, project_root, keys, spec)


def set_backend(env: Environment, set_name: str, project_root: Path, keys: Keys = None) -> Backend:
    """Given a backup set, return the backend of its repository (reached with the ``keys`` variables, when
    given: the vault reads the primary with its own key)."""
    return backend_of(env, env.repository_for(set_name), project_root, keys)


def vault_keys(env: Environment) -> Keys:
    """Given an environment with an off-site copy, return the variables of the vault's key."""
    copy = env.backup.copy_
    return None if copy is None else (copy.access_key_id_env, copy.secret_access_key_env)


def copy_backend(env: Environment, set_name: str, project_root: Path) -> Backend:
    """Given a backup set, return the backend of its off-site copy, reached with the vault's key; an
    environment without a copy is a UsageError that says how to declare one."""
    repository = env.copy_repository_for(set_name)
    if repository is None:
        msg = f"{env.name} has no off-site copy: declare backup.copy (docs/environment-model.md) to have one"
        raise UsageError(msg)
    return backend_of(env, repository, project_root, vault_keys(env), copy_bucket_spec(env))


def offsite_backend(env: Environment, project_root: Path) -> Backend | None:
    """Given an environment, return the backend of its off-site copy as a whole (the bucket or folder the vault
    copies every set into), reached with the vault's key; None without a copy."""
    copy = env.backup.copy_
    if copy is None:
        return None
    bucket = env.copy_bucket_name
    repository = copy.repository if bucket is None else copy.repository.model_copy(update={"bucket": bucket})
    return backend_of(env, repository, project_root, vault_keys(env), copy_bucket_spec(env))


def environment_backend(env: Environment, project_root: Path) -> Backend:
    """Given an environment, return the backend of its default repository (the bucket the fleet's
    state, drill reports and ledger are shared through)."""
    return backend_of(env, env.backup.repository, project_root)


def shared_copy(env: Environment, project_root: Path) -> BucketCopy | None:
    """Given an environment, return where its fleet's state is shared, or None (this machine only)."""
    return environment_backend(env, project_root).shared_copy()
