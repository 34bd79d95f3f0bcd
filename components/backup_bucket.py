"""Backup storage: the environment's private, versioned Spaces bucket for restic repositories."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as do

from seawall.backup.storage import ABORT_UPLOADS, EXPIRE_NONCURRENT, BucketSpec


@dataclass(frozen=True)
class BackupBucketArgs:
    spec: BucketSpec
    region: str


class BackupBucket(pulumi.ComponentResource):
    """A private Spaces bucket with versioning and lifecycle rules that clean up after restic."""

    def __init__(self, name: str, args: BackupBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("seawall:backup_bucket:BackupBucket", name, None, opts)
        self.bucket = do.SpacesBucket(
            f"{name}-bucket",
            name=args.spec.name,
            region=args.region,
            acl="private",
            versioning=do.SpacesBucketVersioningArgs(enabled=True),
            lifecycle_rules=[
                do.SpacesBucketLifecycleRuleArgs(
                    id=EXPIRE_NONCURRENT,
                    enabled=True,
                    noncurrent_version_expiration=do.SpacesBucketLifecycleRuleNoncurrentVersionExpirationArgs(
                        days=args.spec.noncurrent_version_days
                    ),
                ),
                do.SpacesBucketLifecycleRuleArgs(
                    id=ABORT_UPLOADS,
                    enabled=True,
                    abort_incomplete_multipart_upload_days=args.spec.abort_multipart_days,
                ),
            ],
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        self.register_outputs({"bucket_name": self.bucket.name, "bucket_urn": self.bucket.bucket_urn})
