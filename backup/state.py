"""What Seawall remembers between runs, per environment, set and host, as small JSON files.

Written atomically (a temporary file renamed into place), so a crash never leaves half a file. When
the environment's repositories live in a bucket, every document is also written to the bucket under
``seawall/state/<env>/`` (and drill reports under ``seawall/reports/<env>/``), so any machine with the
bucket's keys sees every host's last run and drill: the fleet view. A failed bucket write is logged and
never fails the backup or drill it records.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from seawall.backup import records
from seawall.backup.records import MAX_DOCUMENT_BYTES
from seawall.files import write_atomically

logger = logging.getLogger(__name__)
BUCKET_ROOT = "seawall"
# What a backup run records as its ``last_run.result`` when it succeeded completely (the fleet page and
# status read the same word: a reader never spells what its writer writes).
RUN_SUCCEEDED = "ok"
CONFIRMED = "confirmed"  # the deep status's record of what each repository holds: state/<env>/confirmed/<set>
COPIES = "copies"  # the vault's record of each set's off-site copy: state/<env>/copy/copies/<set>
LISTINGS = "listings"  # the vault's last listing of each set's primary: state/<env>/copy/listings/<set>
VAULT_LOCK = "vault"  # held by the vault's copy and the copy's prune, so that they never overlap


class BucketCopy:
    """Documents kept in the environment's bucket, with boto3; every failure is logged, not raised."""

    def __init__(self, client: Any, bucket: str, env_name: str) -> None:
        self.client = client
        self.bucket = bucket
        self.env_name = env_name

    def key(self, kind: str, *parts: str) -> str:
        """Given a kind (``state``, ``reports``) and name parts, return the object key."""
        return "/".join((BUCKET_ROOT, kind, self.env_name, *parts))

    def put(self, key: str, text: str) -> bool:
        """Given a key and text, write the object; return whether it was written."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=text.encode("utf-8"))
        except (BotoCoreError, ClientError) as exc:
            logger.warning("could not write s3://%s/%s (the local copy is kept): %s", self.bucket, key, exc)
            return False
        return True

    def get(self, key: str) -> bytes | None:
        """Given a key, return the object's first bytes beyond ``MAX_DOCUMENT_BYTES`` at most (so a larger one
        is seen to be too large), or None when it is absent or cannot be read (logged)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            return bytes(body.read(MAX_DOCUMENT_BYTES + 1))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                logger.warning("could not read s3://%s/%s: %s", self.bucket, key, exc)
        except BotoCoreError as exc:
            logger.warning("could not read s3://%s/%s: %s", self.bucket, key, exc)
        return None

    def read_all(self, kind: str, refused: dict[str, str] | None = None) -> dict[str, str]:
        """Given a kind, return every object under it as key (relative to the kind's folder) → text; an
        object larger than ``MAX_DOCUMENT_BYTES`` is not read, and named in ``refused`` (key → why)."""
        from botocore.exceptions import BotoCoreError, ClientError

        prefix = self.key(kind) + "/"
        found: dict[str, str] = {}
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    name = item["Key"].removeprefix(prefix)
                    if int(item.get("Size", 0)) > MAX_DOCUMENT_BYTES:
                        why = f"{item['Size']} bytes, more than the {MAX_DOCUMENT_BYTES} a document may have"
                        logger.warning("s3://%s/%s is not read: %s", self.bucket, item["Key"], why)
                        if refused is not None:
                            refused[name] = why
                        continue
                    body = self.client.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read(MAX_DOCUMENT_BYTES)
                    found[name] = body.decode("utf-8", errors="replace")
        except (BotoCoreError, ClientError) as exc:
            logger.warning("could not read the fleet's state from s3://%s/%s: %s", self.bucket, prefix, exc)
        return found


class StateStore:
    """JSON documents under ``state_dir/<env>/`` (and their bucket copies when there is a bucket)."""

    def __init__(
        self,
        state_dir: Path,
        env_name: str,
        bucket: BucketCopy | None = None,
        tolerance: dt.timedelta = dt.timedelta(minutes=5),
    ) -> None:
        self.root = state_dir / env_name
        self.bucket = bucket
        self.tolerance = tolerance  # how far in the future a document's times may be (clock skew)
        # (set, host) → why its recorded state was not trusted, and when the repository last confirmed it
        # (the deep status's record), from the last read_hosts
        self.untrusted: dict[tuple[str, str], str] = {}
        self.confirmed: dict[tuple[str, str], dict[str, Any]] = {}

    def _path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts).with_suffix(".json")

    def read(self, *parts: str) -> dict[str, Any]:
        """Given a document's name parts, return it (empty when absent or unreadable)."""
        path = self._path(*parts)
        return _document(path.read_text(encoding="utf-8") if path.is_file() else "")

    def write(self, data: dict[str, Any], *parts: str) -> None:
        """Given a document and its name parts, store it atomically, and in the bucket."""
        text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
        write_atomically(self._path(*parts), text)
        if self.bucket is not None:
            self.bucket.put(self.bucket.key("state", *parts[:-1], f"{parts[-1]}.json"), text)

    def update(self, changes: dict[str, Any], *parts: str) -> dict[str, Any]:
        """Given changes, merge them into a document, stamp it, store it and return the result.

        A backup, a drill, a prune and a restore of one set on one host update one document, and their
        timers overlap: the read, merge and write hold a lock on ``<document>.lock`` (``flock``), so that an
        update made at once by another process is never lost.
        """
        lock_path = self._path(*parts).with_suffix(".lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self.read(*parts) or self._carried_over(*parts)
            data.update(changes)
            data["updated"] = dt.datetime.now(dt.UTC).isoformat()
            self.write(data, *parts)
        return data

    def _carried_over(self, *parts: str) -> dict[str, Any]:
        """A host rebuilt from nothing has no record of its own yet: the bucket's copy of the host it replaces
        (when it is trusted) is where its first update starts, so the fleet's record is continued, never
        replaced by one that forgot the last runs, drills and verified snapshots."""
        if self.bucket is None or self._path(*parts).is_file() or len(parts) != 2:
            return {}
        data, problem = self._checked(self.bucket.get(self.bucket.key("state", parts[0], f"{parts[1]}.json")),
                                      dt.datetime.now(dt.UTC))  # fmt: skip
        if problem is not None:
            logger.warning("the bucket's record of %s on %s is not carried over: %s", parts[0], parts[1], problem)
        return data

    @contextlib.contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Given a name, hold ``<name>.lock`` of this store (``flock``) for the block: jobs of one machine that
        must not overlap (the vault's copy, which takes no restic lock, and the copy's prune) wait for each other."""
        path = self.root / f"{name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def read_hosts(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Given (set, host) pairs, return each one's document, so one machine sees the whole fleet: this
        machine's own record where it has one (it wrote it: a host prefers its own record), else the
        bucket's copy. A document of the wrong shape or size, or dated in the future beyond the clock
        tolerance, is not used (an empty document stands in) and named in ``untrusted``."""
        refused: dict[str, str] = {}
        remote = self.bucket.read_all("state", refused) if self.bucket is not None else {}
        now = dt.datetime.now(dt.UTC)
        self.untrusted = {}
        documents = {}
        for set_name, host in pairs:
            key = f"{set_name}/{host}.json"
            path = self._path(set_name, host)
            local, local_problem = self._checked(path.read_bytes() if path.is_file() else None, now)
            shared, shared_problem = self._checked(remote[key].encode() if key in remote else None, now)
            if key in refused:
                shared_problem = refused[key]
            documents[(set_name, host)] = local or shared
            problem = local_problem or (None if local else shared_problem)
            if problem is not None:
                where = str(path) if local_problem else f"{self.bucket.key('state', key) if self.bucket else key}"
                self.untrusted[(set_name, host)] = f"{where}: {problem}"
                logger.warning("untrusted state of %s on %s: %s: %s", set_name, host, where, problem)
        self.confirmed = self._confirmations(sorted({name for name, _ in pairs}), remote, now)
        return documents

    def _confirmations(self, sets: list[str], remote: dict[str, str], now: dt.datetime) -> dict[tuple[str, str], Any]:
        """The deep status's record of each set (``confirmed/<set>``): this machine's, or the bucket's."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for set_name in sets:
            path = self._path(CONFIRMED, set_name)
            key = f"{CONFIRMED}/{set_name}.json"
            for raw in (path.read_bytes() if path.is_file() else None, remote[key].encode() if key in remote else None):
                data, _ = self._checked(raw, now, records.CONFIRMED, ())
                if data:
                    found.update({(set_name, host): entry for host, entry in data.items()})
                    break
        return found

    def read_shared(
        self, check: records.Check, times: tuple[str, ...], *parts: str
    ) -> tuple[dict[str, Any], str | None]:
        """Given a document's kind check, its time fields and name parts, return it from this machine (its
        writer's own copy) or else from the bucket, with None; or {} and where it is and what is wrong with it."""
        now = dt.datetime.now(dt.UTC)
        path = self._path(*parts)
        data, problem = self._checked(path.read_bytes() if path.is_file() else None, now, check, times)
        if data or problem:
            return data, None if problem is None else f"{path}: {problem}"
        if self.bucket is None:
            return {}, None
        key = self.bucket.key("state", *parts[:-1], f"{parts[-1]}.json")
        data, problem = self._checked(self.bucket.get(key), now, check, times)
        return data, None if problem is None else f"s3://{self.bucket.bucket}/{key}: {problem}"

    def record_confirmed(self, set_name: str, rows: dict[str, dict[str, Any]]) -> None:
        """Given a set and what the deep status saw for each host, keep it (here and in the bucket)."""
        self.write(rows, CONFIRMED, set_name)

    def _checked(
        self,
        raw: bytes | None,
        now: dt.datetime,
        check: records.Check = records.STATE,
        times: tuple[str, ...] = records.STATE_TIMES,
    ) -> tuple[dict[str, Any], str | None]:
        """Given a document's bytes (None: absent), return it and None, or {} and what is wrong with it."""
        if raw is None:
            return {}, None
        if len(raw) > MAX_DOCUMENT_BYTES:
            return {}, f"{len(raw)} bytes, more than the {MAX_DOCUMENT_BYTES} a document may have"
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return {}, f"not JSON ({exc})"
        found = records.problem(data, check, now, self.tolerance, times)
        return ({}, found) if found is not None else (data, None)


def _document(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}
