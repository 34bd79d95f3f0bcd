"""What Seawall remembers between runs, per environment, set and host, as small JSON files.

Written atomically (a temporary file renamed into place), so a crash never leaves half a file. When
the environment's repositories live in a bucket, every document is also written to the bucket under
``seawall/state/<env>/`` (and drill reports under ``seawall/reports/<env>/``), so any machine with the
bucket's keys sees every host's last run and drill: the fleet view. A failed bucket write is logged and
never fails the backup or drill it records.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
from pathlib import Path
from typing import Any

from seawall.files import write_atomically

logger = logging.getLogger(__name__)
BUCKET_ROOT = "seawall"
# What a backup run records as its ``last_run.result`` when it succeeded completely (the fleet page and
# status read the same word: a reader never spells what its writer writes).
RUN_SUCCEEDED = "ok"


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

    def read_all(self, kind: str) -> dict[str, str]:
        """Given a kind, return every object under it as key (relative to the kind's folder) → text."""
        from botocore.exceptions import BotoCoreError, ClientError

        prefix = self.key(kind) + "/"
        found: dict[str, str] = {}
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    body = self.client.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
                    found[item["Key"].removeprefix(prefix)] = body.decode("utf-8", errors="replace")
        except (BotoCoreError, ClientError) as exc:
            logger.warning("could not read the fleet's state from s3://%s/%s: %s", self.bucket, prefix, exc)
        return found


class StateStore:
    """JSON documents under ``state_dir/<env>/`` (and their bucket copies when there is a bucket)."""

    def __init__(self, state_dir: Path, env_name: str, bucket: BucketCopy | None = None) -> None:
        self.root = state_dir / env_name
        self.bucket = bucket

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
            data = self.read(*parts)
            data.update(changes)
            data["updated"] = dt.datetime.now(dt.UTC).isoformat()
            self.write(data, *parts)
        return data

    def read_hosts(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Given (set, host) pairs, return each one's document: the local copy, or the bucket's copy when
        that one is newer (another host wrote it), so one machine sees the whole fleet."""
        remote = self.bucket.read_all("state") if self.bucket is not None else {}
        documents = {}
        for set_name, host in pairs:
            local = self.read(set_name, host)
            shared = _document(remote.get(f"{set_name}/{host}.json", ""))
            documents[(set_name, host)] = max(local, shared, key=lambda d: str(d.get("updated", "")))
        return documents


def _document(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}
