"""Data-center host: restic, Seawall's backup units and the host firewall, applied over SSH.

Each step is a ``pulumi_command.remote.Command`` whose script is idempotent and whose ``triggers`` hold
the hash of what it renders, so it re-runs exactly when its content changes. Secrets reach the host on
the command's standard input, never in its command line.
"""

from __future__ import annotations

import functools
import hashlib
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_command import remote

from seawall.backup.schedules import CREDENTIALS_FILE, RenderedFile

NFT_FILE = "/etc/nftables.d/seawall.nft"
INSTALL_RESTIC = (
    "set -eu; command -v restic >/dev/null 2>&1 || "
    "{ export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq restic python3-venv; }"
)


@dataclass
class HostSecrets:
    """What a host needs to reach its repositories, as Pulumi secrets."""

    restic_password: pulumi.Input[str]
    access_key_id: pulumi.Input[str]
    secret_access_key: pulumi.Input[str]
    password_file: str
    access_key_id_env: str
    secret_access_key_env: str

    @functools.cached_property
    def credentials_file(self) -> pulumi.Output[str]:
        """Return the S3 credentials file's content, built once for every host that needs it."""
        return pulumi.Output.format(
            "{0}={1}\n{2}={3}\n",
            self.access_key_id_env,
            self.access_key_id,
            self.secret_access_key_env,
            self.secret_access_key,
        )

    @functools.cached_property
    def triggers(self) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        """Return the hashes that re-run the password and credentials steps when a secret changes."""
        return (
            pulumi.Output.from_input(self.restic_password).apply(content_hash),
            self.credentials_file.apply(content_hash),
        )


@dataclass(frozen=True)
class FirewallRule:
    """One inbound allowance: protocol, port and source networks."""

    protocol: str
    port: int
    sources: Sequence[str]


@dataclass(frozen=True)
class DatacenterHostArgs:
    address: str
    ssh_user: str
    ssh_port: int
    ssh_private_key: pulumi.Input[str]
    files: Sequence[RenderedFile]
    timers: Sequence[str]
    firewall: Sequence[FirewallRule]
    secrets: HostSecrets
    seawall_package: str


def content_hash(*parts: str) -> str:
    """Given rendered contents, return the hash that triggers a re-run when any of them changes."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def write_files_script(files: Sequence[RenderedFile], timers: Sequence[str]) -> str:
    """Given files and timers, return an idempotent script that writes them and enables the timers."""
    lines = ["set -eu"]
    for index, rendered in enumerate(files):
        marker = f"SEAWALL_EOF_{index}"
        path = shlex.quote(rendered.path)
        lines.append(f'install -d -m 0755 "$(dirname {path})"')
        lines.append(f"cat > {path}.new <<'{marker}'\n{rendered.content.rstrip(chr(10))}\n{marker}")
        lines.append(f"chmod {rendered.mode} {path}.new && mv {path}.new {path}")
    if timers:
        lines.append("systemctl daemon-reload")
        lines.append(f"systemctl enable --now {' '.join(shlex.quote(timer) for timer in timers)}")
    return "\n".join(lines) + "\n"


def _write_stdin_script(path: str) -> str:
    quoted = shlex.quote(path)
    return f'set -eu; umask 077; install -d -m 0700 "$(dirname {quoted})"; cat > {quoted}'


def credential_commands(
    name: str, connection: remote.ConnectionArgs, secrets: HostSecrets, parent: pulumi.Resource
) -> list[remote.Command]:
    """Given a host connection, return the commands that place the repository password and S3 keys."""
    password_trigger, credentials_trigger = secrets.triggers
    files = [
        ("restic-password", secrets.password_file, secrets.restic_password, password_trigger),
        ("s3-credentials", CREDENTIALS_FILE, secrets.credentials_file, credentials_trigger),
    ]
    return [
        remote.Command(
            f"{name}-{step}",
            connection=connection,
            create=_write_stdin_script(path),
            stdin=content,
            triggers=[trigger],
            opts=pulumi.ResourceOptions(parent=parent),
        )
        for step, path, content, trigger in files
    ]


def nftables_ruleset(rules: Sequence[FirewallRule]) -> str:
    """Given inbound rules, return a default-deny nftables table for the host."""
    lines = [
        "# Loaded in one transaction: the table is replaced atomically, never left open.",
        "table inet seawall",
        "delete table inet seawall",
        "table inet seawall {",
        "  chain input {",
        "    type filter hook input priority 0; policy drop;",
        "    ct state established,related accept",
        "    iif lo accept",
        "    meta l4proto { icmp, ipv6-icmp } accept",
    ]
    for rule in rules:
        v4 = [s for s in rule.sources if ":" not in s]
        v6 = [s for s in rule.sources if ":" in s]
        for family, sources in (("ip", v4), ("ip6", v6)):
            if sources:
                lines.append(f"    {family} saddr {{ {', '.join(sources)} }} {rule.protocol} dport {rule.port} accept")
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


class DatacenterHost(pulumi.ComponentResource):
    """An on-premises host brought to the same backup set-up as the droplets, over SSH."""

    def __init__(self, name: str, args: DatacenterHostArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("seawall:datacenter_host:DatacenterHost", name, None, opts)
        connection = remote.ConnectionArgs(
            host=args.address, user=args.ssh_user, port=args.ssh_port, private_key=args.ssh_private_key
        )
        child = pulumi.ResourceOptions(parent=self)
        install = (
            f"{INSTALL_RESTIC}; [ -x /opt/seawall/bin/seawall ] || python3 -m venv /opt/seawall; "
            f"/opt/seawall/bin/pip install --quiet {shlex.quote(args.seawall_package)}"
        )
        self.install = remote.Command(
            f"{name}-install", connection=connection, create=install, triggers=[content_hash(install)], opts=child
        )
        self.credentials = credential_commands(name, connection, args.secrets, self)
        units = write_files_script(args.files, args.timers)
        self.units = remote.Command(
            f"{name}-backup-units",
            connection=connection,
            create=units,
            triggers=[content_hash(units)],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.install, *self.credentials]),
        )
        ruleset = nftables_ruleset(args.firewall)
        firewall_script = write_files_script([RenderedFile(NFT_FILE, ruleset)], []) + f"nft -f {NFT_FILE}\n"
        self.firewall = remote.Command(
            f"{name}-firewall",
            connection=connection,
            create=firewall_script,
            triggers=[content_hash(ruleset)],
            opts=child,
        )
        self.register_outputs({"address": args.address})
