"""S3 / DigitalOcean Spaces storage for repositories, managed with boto3.

``ensure_bucket`` makes the environment's bucket exist, private, versioned and with the lifecycle rules
that clean up after restic (expire non-current versions, abort incomplete multipart uploads). Transient
errors are retried by botocore's standard retry mode, with backoff.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from seawall.errors import BackupError
from seawall.model.schema import Environment, Retention

logger = logging.getLogger(__name__)
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


class StorageError(BackupError):
    """The object storage could not be reached or refused a request."""


EXPIRE_NONCURRENT = "expire-noncurrent-versions"
ABORT_UPLOADS = "abort-incomplete-uploads"


@dataclass(frozen=True)
class BucketSpec:
    """What the bucket must be: its name and lifecycle limits. One spec serves both the Pulumi component
    (``components/backup_bucket.py``) and ``seawall backup init`` (``ensure_bucket``)."""

    name: str
    noncurrent_version_days: int
    abort_multipart_days: int
    object_lock_days: int = 0  # lock every new object (COMPLIANCE) this long; 0: no lock asked for


def bucket_spec(env: Environment) -> BucketSpec:
    """Given an environment, return the spec of its backup bucket."""
    return BucketSpec(env.bucket_name, env.backup.noncurrent_version_days, env.backup.abort_multipart_days)


def copy_bucket_spec(env: Environment) -> BucketSpec | None:
    """Given an environment, return the spec of its off-site copy's bucket (None without an S3 copy): a
    removed object's version is kept, and where asked each new object locked, at least as long as the
    copy's longest keep-rule, so that whatever retention still keeps can be recovered."""
    copy, name = env.backup.copy_, env.copy_bucket_name
    if copy is None or name is None:
        return None
    days = longest_keep_days(copy.retention, [s.schedule for s in env.backup_sets.values()] or [copy.schedule])
    kept = max(env.backup.noncurrent_version_days, days)
    return BucketSpec(name, kept, env.backup.abort_multipart_days, days if copy.object_lock else 0)


def longest_keep_days(retention: Retention, schedules: list[str]) -> int:
    """Given keep-rules and the schedules snapshots arrive on, return how many days the oldest kept snapshot can
    be: restic counts hours, days, weeks… that hold a snapshot, so each rule spans N times the longer of its
    period and the slowest schedule's gap."""
    from seawall.model.calendar import longest_interval, parse_calendar

    every = max(longest_interval(parse_calendar(schedule)) for schedule in schedules)
    periods = [
        (retention.keep_last, dt.timedelta(0)),
        (retention.keep_hourly, dt.timedelta(hours=1)),
        (retention.keep_daily, dt.timedelta(days=1)),
        (retention.keep_weekly, dt.timedelta(weeks=1)),
        (retention.keep_monthly, dt.timedelta(days=31)),
        (retention.keep_yearly, dt.timedelta(days=366)),
    ]
    spans = [max(period, every) * count for count, period in periods if count]
    spans.append(retention.keep_within or dt.timedelta(0))
    return max(1, -(-int(max(spans).total_seconds()) // 86400))


def make_client(endpoint: str, region: str, access_key: str, secret_key: str) -> Any:
    """Given an endpoint and keys, return an S3 client that retries transient errors with backoff."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=60),
    )


def lifecycle_rules(spec: BucketSpec) -> list[dict[str, Any]]:
    """Given the bucket spec, return its lifecycle rules in S3's shape."""
    return [
        {
            "ID": EXPIRE_NONCURRENT,
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "NoncurrentVersionExpiration": {"NoncurrentDays": spec.noncurrent_version_days},
        },
        {
            "ID": ABORT_UPLOADS,
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": spec.abort_multipart_days},
        },
    ]


def ensure_bucket(client: Any, spec: BucketSpec, dry_run: bool = False) -> list[str]:
    """Given a client and a spec, bring the bucket to the spec and return what was done (or would be)."""
    from botocore.exceptions import BotoCoreError, ClientError

    done = []
    try:
        if not bucket_exists(client, spec.name):
            done.append(f"create bucket {spec.name}" + (" with object lock" if spec.object_lock_days else ""))
            if not dry_run:
                client.create_bucket(
                    Bucket=spec.name, **({"ObjectLockEnabledForBucket": True} if spec.object_lock_days else {})
                )
        report: dict[str, Any] = (
            bucket_report(client, spec.name) if not done else {"private": False, "versioning": "", "lifecycle": []}
        )
        if report["private"] is None:
            logger.warning("this key may not read the ACL of bucket %s: check that it is private", spec.name)
        elif not report["private"]:
            done.append("make the bucket private")
            if not dry_run:
                client.put_bucket_acl(Bucket=spec.name, ACL="private")
        if report["versioning"] != "Enabled":
            done.append("enable versioning")
            if not dry_run:
                client.put_bucket_versioning(Bucket=spec.name, VersioningConfiguration={"Status": "Enabled"})
        if sorted(report["lifecycle"]) != sorted(rule["ID"] for rule in lifecycle_rules(spec)):
            done.append("set lifecycle rules")
            if not dry_run:
                client.put_bucket_lifecycle_configuration(
                    Bucket=spec.name, LifecycleConfiguration={"Rules": lifecycle_rules(spec)}
                )
        if spec.object_lock_days and _lock_differs(client, spec):
            done.append(_locked(client, spec, dry_run))
    except (ClientError, BotoCoreError) as exc:
        msg = f"object storage refused or could not be reached for bucket {spec.name}: {exc}"
        raise StorageError(msg) from None
    for action in done:
        logger.info("%s%s", "dry run: would " if dry_run else "", action)
    return done


def _lock_differs(client: Any, spec: BucketSpec) -> bool:
    """Whether the bucket's object lock is not the spec's; one this key may not read is left as it is."""
    from botocore.exceptions import ClientError

    try:
        return lock_days(client, spec.name) != spec.object_lock_days
    except ClientError:
        logger.warning("this key may not read the object lock of bucket %s: it is left as it is", spec.name)
        return False


def _locked(client: Any, spec: BucketSpec, dry_run: bool) -> str:
    """Lock the bucket's new objects for the spec's days; return what was done, or why the storage could not."""
    from botocore.exceptions import ClientError

    action = f"lock new objects for {spec.object_lock_days} days (COMPLIANCE)"
    if dry_run:
        return action
    retention = {"Mode": "COMPLIANCE", "Days": spec.object_lock_days}
    try:
        client.put_object_lock_configuration(
            Bucket=spec.name,
            ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": retention}},
        )
    except ClientError as exc:
        logger.warning("the storage refused the object lock of %s: %s", spec.name, exc)
        code = exc.response.get("Error", {}).get("Code", exc)
        return f"could not {action}: the storage refused ({code}); versioning alone protects the copy"
    return action


def lock_days(client: Any, bucket: str) -> int | None:
    """Given a bucket, return how many days its default object lock keeps a new object, or None when the
    bucket locks nothing (or its storage has no object lock). A key that may not read the configuration
    raises the ClientError: that is not knowing, not "no lock"."""

    locked = lock_rule(client, bucket)
    return locked[0] if locked else None


def lock_rule(client: Any, bucket: str) -> tuple[int, str] | None:
    """Given a bucket, return its default object lock (days, mode), or None when it locks nothing; a key
    that may not read the configuration raises the ClientError."""
    from botocore.exceptions import ClientError

    try:
        found = client.get_object_lock_configuration(Bucket=bucket).get("ObjectLockConfiguration", {})
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("AccessDenied", "Forbidden", "403"):
            raise
        return None
    if found.get("ObjectLockEnabled") != "Enabled":
        return None
    retention = found.get("Rule", {}).get("DefaultRetention", {})
    days = retention.get("Days") or (365 * retention["Years"] if retention.get("Years") else None)
    return (int(days), str(retention.get("Mode", "unknown mode"))) if days else None


def protection(client: Any, bucket: str) -> list[str]:
    """Given a bucket, return what protects its objects from deletion, as read from the storage now:
    versioning with how long a removed object's version is kept, and the object lock with its mode. What
    this key may not read is said to be not known, never assumed."""
    from botocore.exceptions import BotoCoreError, ClientError

    def read(call: Any) -> Any:
        try:
            return call()
        except ClientError as exc:
            return None if exc.response.get("Error", {}).get("Code") in DENIED else exc
        except BotoCoreError as exc:
            return exc

    versioning = read(lambda: client.get_bucket_versioning(Bucket=bucket).get("Status", ""))
    rules = read(lambda: _lifecycle(client, bucket))
    locked = read(lambda: lock_rule(client, bucket) or ())
    if isinstance(versioning, BotoCoreError):
        msg = f"the storage at {client.meta.endpoint_url} cannot be reached to show the protection of {bucket}"
        raise StorageError(msg)
    found = []
    if versioning is None:
        found.append("versioning: not known (this key may not read it)")
    elif versioning != "Enabled":
        found.append("not versioned: a removed object is gone")
    elif not isinstance(rules, list):
        found.append("versioned; how long a removed object's version is kept: not known (this key may not read it)")
    else:
        kept = [
            rule["NoncurrentVersionExpiration"]["NoncurrentDays"]
            for rule in rules
            if rule.get("Status") == "Enabled" and "NoncurrentDays" in rule.get("NoncurrentVersionExpiration", {})
        ]
        found.append(f"versioned: a removed object's version is kept {min(kept)} days" if kept else "versioned")
    if locked is None or isinstance(locked, Exception):
        found.append("object lock: not known (this key may not read it)")
    elif locked:
        found.append(f"object lock: every new object locked {locked[0]} days ({locked[1]})")
    else:
        found.append("no object lock")
    return found


DENIED = ("AccessDenied", "Forbidden", "403")


def _lifecycle(client: Any, bucket: str) -> list[dict[str, Any]]:
    """The bucket's lifecycle rules; a bucket without any has none (not an error)."""
    from botocore.exceptions import ClientError

    try:
        return list(client.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", []))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchLifecycleConfiguration":
            return []
        raise


def bucket_report(client: Any, bucket: str) -> dict[str, Any]:
    """Given a bucket, return whether it is private, its versioning status and lifecycle rule ids."""
    from botocore.exceptions import ClientError

    try:
        grants = client.get_bucket_acl(Bucket=bucket).get("Grants", [])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "AccessDenied":
            raise
        grants = None  # a key scoped to the bucket's objects (the vault's) may not read its ACL
    public = None if grants is None else any(grant.get("Grantee", {}).get("URI") == ALL_USERS for grant in grants)
    versioning = client.get_bucket_versioning(Bucket=bucket).get("Status", "")
    try:
        rules = client.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
    except ClientError:
        rules = []
    private = None if public is None else not public
    return {"private": private, "versioning": versioning, "lifecycle": [rule.get("ID", "") for rule in rules]}


def bucket_exists(client: Any, bucket: str) -> bool:
    """Given a client and a bucket, return whether the bucket exists; an endpoint that cannot be reached
    or refuses is a StorageError that names it."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket", "NotFound"):
            return False
        msg = f"the storage at {client.meta.endpoint_url} refused to show bucket {bucket}: {exc}"
        raise StorageError(msg) from None
    except BotoCoreError as exc:
        msg = f"the storage at {client.meta.endpoint_url} cannot be reached ({exc}): check the endpoint and the network"
        raise StorageError(msg) from None
    return True


def object_names(client: Any, bucket: str, folder: str) -> list[str]:
    """Given a bucket and a folder in it (``a/b/``), return the names of the objects in that folder; a
    bucket that does not exist holds none. One that cannot be read is a StorageError that names it."""
    from botocore.exceptions import BotoCoreError, ClientError

    names = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder):
            names += [str(item["Key"])[len(folder) :] for item in page.get("Contents", [])]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket", "NotFound"):
            return []
        msg = f"the storage at {client.meta.endpoint_url} refused to list {bucket}/{folder}: {exc}"
        raise StorageError(msg) from None
    except BotoCoreError as exc:
        msg = f"the storage at {client.meta.endpoint_url} cannot be reached ({exc}): check the endpoint and the network"
        raise StorageError(msg) from None
    return [name for name in names if name and "/" not in name]


def remove_object(client: Any, bucket: str, key: str) -> None:
    """Given a bucket and a key, remove the object (in a versioned bucket: hide it behind a delete marker,
    as restic's own removals do); one that is not there is no error."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client.delete_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        msg = f"the storage at {client.meta.endpoint_url} refused to remove {bucket}/{key}: {exc}"
        raise StorageError(msg) from None
    except BotoCoreError as exc:
        msg = f"the storage at {client.meta.endpoint_url} cannot be reached ({exc}): check the endpoint and the network"
        raise StorageError(msg) from None
