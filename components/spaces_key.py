"""Spaces key: the backup hosts' access key, scoped to their environment's bucket."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as do


@dataclass(frozen=True)
class BucketKeyArgs:
    env_name: str
    buckets: Sequence[str]  # each granted read-write; no other bucket, and never the account's full access
    depends_on: Sequence[pulumi.Resource] = ()


class BucketKey(pulumi.ComponentResource):
    """A Spaces access key with read-write grants on the named buckets only: what the backup hosts hold, so that a
    stolen host key reaches neither another environment's bucket nor the ledger's, and manages no bucket (the
    deployer's key, the provider's own, alone creates and configures buckets)."""

    def __init__(self, name: str, args: BucketKeyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("seawall:spaces_key:BucketKey", name, None, opts)
        self.key = do.SpacesKey(
            f"{name}-key",
            name=f"seawall-{args.env_name}-backup-hosts",
            grants=[do.SpacesKeyGrantArgs(bucket=bucket, permission="readwrite") for bucket in args.buckets],
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.access_key: pulumi.Output[str] = pulumi.Output.secret(self.key.access_key)
        self.secret_key: pulumi.Output[str] = pulumi.Output.secret(self.key.secret_key)
        self.register_outputs({"access_key": self.access_key})
