"""The deploy ledger: append-only JSON lines per environment, kept locally and in the environment's bucket.

A line that cannot be read (corrupt or truncated) is reported with its line number, never skipped: the
promotion rule reads this ledger, and a silently dropped line could let an untested version through.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from seawall.errors import SeawallError

logger = logging.getLogger(__name__)
# The bucket copy is rewritten whole for each entry; a write that finds the object changed since it was
# read (another machine's entry) reads it again, up to this many times, waiting a little longer each time.
APPEND_ATTEMPTS = 20
APPEND_BACKOFF = 0.05
WRITTEN_IN_BETWEEN = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")
# How a storage without conditional writes may refuse the header (most ignore it instead): then the copy is
# written unconditionally, as before; a write refused for another reason fails the same way again.
NO_CONDITIONAL_WRITES = ("NotImplemented", "InvalidArgument", "InvalidRequest", "501", "400")


class LedgerError(SeawallError):
    """The ledger cannot be read or written."""


@dataclass(frozen=True)
class LedgerEntry:
    """One deploy attempt: who, when, what, why, and how it ended."""

    time: str
    environment: str
    operator: str
    identity: str
    issue: str
    versions: dict[str, str]
    model_hash: str
    result: str
    incident: str = ""
    emergency: bool = False
    summary: dict[str, Any] = field(default_factory=dict)
    deploy_id: str = ""
    priority: str = ""
    # What ran (#35): the digest of each service with an artifact, and those whose health checks passed on every
    # host of the roll (``seawall.releases.artifact_evidence``).
    digests: dict[str, str] = field(default_factory=dict)
    healthy: list[str] = field(default_factory=list)

    def as_line(self) -> str:
        """Return the entry as one JSON line (without ``digests`` and ``healthy`` when they are empty: an entry of
        a model without artifacts is the line it was before they existed)."""
        data = asdict(self)
        for name in ("digests", "healthy"):
            if not data[name]:
                del data[name]
        return json.dumps(data, sort_keys=True) + "\n"


# A ledger is read whole by the guard: a line or a bucket copy beyond these is refused, never parsed.
MAX_LINE_CHARACTERS = 64 * 1024
MAX_LEDGER_BYTES = 64 * 1024 * 1024
TEXT_FIELDS = ("time", "environment", "operator", "identity", "issue", "model_hash", "result", "incident",
               "deploy_id", "priority")  # fmt: skip


def ledger_path(folder: Path, env_name: str) -> Path:
    """Given the ledger folder and an environment, return its ledger file."""
    return folder / f"{env_name}.jsonl"


def deployed_graph_path(folder: Path, env_name: str) -> Path:
    """Given the ledger folder and an environment, return where the graph of its last successful deploy is
    kept (``ENV.deployed.json``, written on the machine that deploys)."""
    return folder / f"{env_name}.deployed.json"


def read_ledger(folder: Path, env_name: str) -> list[LedgerEntry]:
    """Given the ledger folder and an environment, return its entries, or raise on any unreadable line."""
    path = ledger_path(folder, env_name)
    if not path.exists():
        return []
    with path.open("rb") as stream:
        raw = stream.read(MAX_LEDGER_BYTES + 1)
    if len(raw) > MAX_LEDGER_BYTES:
        raise LedgerError(f"{path} is beyond a ledger's {MAX_LEDGER_BYTES} bytes: it is not read; repair it by hand")
    try:
        return parse_ledger(raw.decode("utf-8"), str(path))
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise LedgerError(f"{path}:{line}: not UTF-8 text; repair it from the bucket copy or by hand") from None


def parse_ledger(text: str, where: str) -> list[LedgerEntry]:
    """Given ledger text, return its entries; every bad line is named in one LedgerError."""
    entries, problems = [], []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    elif lines:
        problems.append(f"{where}:{len(lines)}: the last line is truncated (no newline)")
    for number, line in enumerate(lines, start=1):
        if len(line) > MAX_LINE_CHARACTERS:
            problems.append(
                f"{where}:{number}: a ledger line of {len(line)} characters (at most {MAX_LINE_CHARACTERS})"
            )
            continue
        try:
            data = json.loads(line)
            entries.append(LedgerEntry(**data))
        except (json.JSONDecodeError, TypeError, RecursionError) as exc:
            problems.append(f"{where}:{number}: unreadable ledger line ({exc.__class__.__name__})")
            continue
        wrong = _wrong_fields(entries[-1])
        if wrong:
            entries.pop()
            problems.append(f"{where}:{number}: a ledger line whose {', '.join(wrong)} has the wrong type")
    if problems:
        msg = "the deploy ledger is damaged; repair it from the bucket copy or by hand:\n" + "\n".join(problems)
        raise LedgerError(msg)
    return entries


def _wrong_fields(entry: LedgerEntry) -> list[str]:
    """Given an entry read from a file or a bucket, return the fields whose values are not of their type."""
    wrong = [name for name in TEXT_FIELDS if not isinstance(getattr(entry, name), str)]
    if not isinstance(entry.versions, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in entry.versions.items()
    ):
        wrong.append("versions")
    if not isinstance(entry.digests, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in entry.digests.items()
    ):
        wrong.append("digests")
    if not isinstance(entry.healthy, list) or not all(isinstance(name, str) for name in entry.healthy):
        wrong.append("healthy")
    if not isinstance(entry.emergency, bool):
        wrong.append("emergency")
    if not isinstance(entry.summary, dict):
        wrong.append("summary")
    return wrong


def append_entry(folder: Path, entry: LedgerEntry, mirror: Any | None = None) -> None:
    """Given an entry, append it to the local ledger (and to the bucket copy through ``mirror``)."""
    path = ledger_path(folder, entry.environment)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as stream:
        stream.write(entry.as_line())
        stream.flush()
        os.fsync(stream.fileno())
    if mirror is not None:
        mirror.append(entry)


class BucketMirror:
    """The ledger's copy in the environment's bucket (``ledger/<env>.jsonl``), kept with boto3."""

    def __init__(self, client: Any, bucket: str, prefix: str = "ledger") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def key(self, env_name: str) -> str:
        """Given an environment, return the object key of its ledger."""
        return f"{self.prefix}/{env_name}.jsonl"

    def url(self, env_name: str) -> str:
        """Given an environment, return its ledger's object as messages name it (``s3://BUCKET/KEY``)."""
        return f"s3://{self.bucket}/{self.key(env_name)}"

    def read_text(self, env_name: str) -> str:
        """Given an environment, return the bucket copy of its ledger ('' when there is none)."""
        return self._read(env_name)[0]

    def _read(self, env_name: str) -> tuple[str, str | None]:
        """Given an environment, return its ledger copy and the object's ETag (None when there is none)."""
        from botocore.exceptions import ClientError

        try:
            found = self.client.get_object(Bucket=self.bucket, Key=self.key(env_name))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "NoSuchBucket", "404"):
                return "", None
            raise
        size = int(found.get("ContentLength") or 0)
        if size > MAX_LEDGER_BYTES:
            found["Body"].close()
            msg = (
                f"{self.url(env_name)} is {size} bytes, beyond a ledger's {MAX_LEDGER_BYTES}: "
                "it is not read; check who wrote it (the bucket is versioned) and restore the last good version"
            )
            raise LedgerError(msg)
        try:
            return found["Body"].read(MAX_LEDGER_BYTES + 1).decode("utf-8"), found.get("ETag")
        except UnicodeDecodeError:
            msg = f"{self.url(env_name)} is not UTF-8 text: restore its last good version"
            raise LedgerError(msg) from None

    def append(self, entry: LedgerEntry) -> None:
        """Given an entry, append it to the bucket copy: read, check, append, and write only if nobody wrote
        in between (``If-Match`` the ETag read, ``If-None-Match: *`` for a first entry); when somebody did,
        read again and retry, so that entries recorded at once from several machines are all kept."""
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.key(entry.environment)
        try:
            for attempt in range(APPEND_ATTEMPTS):
                text, etag = self._read(entry.environment)
                parse_ledger(text, self.url(entry.environment))
                if self._put_unless_changed(key, text + entry.as_line(), etag):
                    return
                time.sleep(random.uniform(0, APPEND_BACKOFF * (attempt + 1)))
        except (BotoCoreError, ClientError) as exc:
            msg = f"could not write the ledger copy to bucket {self.bucket}: {exc}"
            raise LedgerError(msg) from None
        msg = (
            f"could not write the ledger copy to bucket {self.bucket}: it changed under each of {APPEND_ATTEMPTS} "
            "attempts (other machines recording at once); the local ledger holds the entry"
        )
        raise LedgerError(msg)

    def _put_unless_changed(self, key: str, text: str, etag: str | None) -> bool:
        """Given the new copy and the ETag of the copy it extends (None: there was none), write it unless the
        object changed since; return whether it was written."""
        from botocore.exceptions import ClientError

        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=text.encode(), **condition)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in WRITTEN_IN_BETWEEN:
                return False
            if code == "NoSuchBucket":
                # The first entry ever: the ledger's own bucket, private and versioned (the deployers' key).
                logger.info("creating the ledger's bucket %s (private, versioned)", self.bucket)
                self.client.create_bucket(Bucket=self.bucket)
                self.client.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
                return False
            if code not in NO_CONDITIONAL_WRITES:
                raise
            # A storage without conditional writes: the last writer wins, as before they existed.
            logger.warning(
                "bucket %s does not take conditional writes: the ledger copy is written without", self.bucket
            )
            self.client.put_object(Bucket=self.bucket, Key=key, Body=text.encode())
        return True


def outcomes(entries: list[LedgerEntry]) -> list[tuple[LedgerEntry, str]]:
    """Given entries, return each with the result to show: a ``started`` entry that no later entry of the
    same deploy closed is ``failed-or-interrupted`` (the update died or is still running)."""
    closed = {e.deploy_id for e in entries if e.deploy_id and e.result != "started"}
    return [
        (e, "failed-or-interrupted" if e.result == "started" and e.deploy_id not in closed else e.result)
        for e in entries
    ]


def held_by(local: list[LedgerEntry], shared: list[LedgerEntry] | None) -> list[tuple[LedgerEntry, tuple[str, ...]]]:
    """Given the local ledger and the bucket's copy (None when it was not read), return every entry once,
    in time order, with the copies that hold it (``local``, ``bucket``): where they disagree, the entries
    only one of them holds."""
    copies: dict[str, tuple[LedgerEntry, list[str]]] = {}
    for name, entries in (("local", local), ("bucket", shared or [])):
        for entry in entries:
            copies.setdefault(entry.as_line(), (entry, []))[1].append(name)
    held = [(entry, tuple(dict.fromkeys(names))) for entry, names in copies.values()]
    return sorted(held, key=lambda item: item[0].time)


def now_iso(now: dt.datetime) -> str:
    """Given a time, return it as ISO 8601 UTC text."""
    return now.astimezone(dt.UTC).isoformat(timespec="seconds")
