"""SSH keys: the model's public keys as DigitalOcean SSH keys, which the environment's droplets are created with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as do


@dataclass(frozen=True)
class SshKeysArgs:
    env_name: str
    keys: Sequence[tuple[str, str]]  # (name, OpenSSH public key line)


class SshKeys(pulumi.ComponentResource):
    """One ``digitalocean.SshKey`` per public key of the model, named ``<env>-<name>``; droplets take their ids.

    DigitalOcean holds a public key once per account: environments sharing an account name different keys."""

    def __init__(self, name: str, args: SshKeysArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("seawall:ssh_keys:SshKeys", name, None, opts)
        self.keys = [
            do.SshKey(
                f"{name}-{key_name}",
                name=f"{args.env_name}-{key_name}",
                public_key=public_key.strip(),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for key_name, public_key in args.keys
        ]
        self.ids: list[pulumi.Output[str]] = [key.id for key in self.keys]
        self.register_outputs({"fingerprints": [key.fingerprint for key in self.keys]})
