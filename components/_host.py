"""The one host-configuration path: what every host, droplet or data-center host, gets over SSH.

A private module beside the components (not a component: the shape test lets ``_``-files be): the steps
are ``pulumi_command`` resources whose scripts are idempotent and whose ``triggers`` hold the hash of
what they render, so each re-runs exactly when its content changes. Secrets reach the host on a
command's standard input, never in its command line. Nothing here changes a droplet's ``user_data``, so
no configuration change replaces a droplet.

1. Seawall itself: the wheel built from the deploy's checkout and ``requirements.lock`` are copied to
   ``/opt/seawall/dist/`` and installed with ``--require-hashes`` (the dependencies from the lock, the
   wheel by its own hash). A new build re-installs on every host.
2. The repository password and the S3 keys (mode 0600).
3. The host's environment file, backup/drill/prune units and timers.
4. On data-center hosts, the nftables firewall, loaded now and at every boot by its own unit.
5. node_exporter with its textfile collector on Seawall's metrics folder, restarted when its settings
   change; on the monitoring host, Prometheus and Alertmanager with the rendered configuration (checked
   by ``promtool`` and ``amtool`` before it is moved in place) and the Slack webhook files, reloaded when
   the content changes.
"""

from __future__ import annotations

import functools
import hashlib
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_command import remote

from seawall.backup.schedules import CREDENTIALS_FILE
from seawall.hostfiles import EXPORTER_STEP, INSTALL_STEP, STAGED, RenderedFile, file_lines, step_name

SEAWALL_HOME = "/opt/seawall"
DIST = f"{SEAWALL_HOME}/dist"
NFT_FILE = "/etc/nftables.d/seawall.nft"
FIREWALL_UNIT = "/etc/systemd/system/seawall-firewall.service"


def apt_install(present: str, packages: str) -> str:
    """Given a shell test that passes when the packages are there, return the line that installs them
    from Debian's packages otherwise (waiting up to 5 minutes for a boot-time apt run)."""
    apt = "apt-get -o DPkg::Lock::Timeout=300"
    return (
        f"{present} || {{ export DEBIAN_FRONTEND=noninteractive; {apt} update -qq && "
        f"{apt} install -y -qq {packages}; }}"
    )


INSTALL_PACKAGES = apt_install(
    "command -v restic >/dev/null 2>&1 && python3 -c 'import venv, ensurepip' 2>/dev/null", "restic python3-venv"
)


@dataclass(frozen=True)
class Delivery:
    """The build a deploy ships: its identity, the wheel (None in an offline render) and the lock file."""

    identity: str
    wheel_name: str
    wheel_path: str | None
    wheel_sha256: str
    lock_path: str


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
class Exporter:
    """node_exporter on a host: Debian's settings file, and the textfile folder Seawall writes to."""

    settings: RenderedFile
    textfile_dir: str


@dataclass(frozen=True)
class MonitoringServer:
    """What the monitoring host gets: Prometheus and Alertmanager files (installed paths) and the
    Slack webhook URLs (path, secret) that Alertmanager reads from files."""

    prometheus: Sequence[RenderedFile]
    alertmanager: Sequence[RenderedFile]
    webhooks: Sequence[tuple[str, pulumi.Input[str]]] = ()


@dataclass(frozen=True)
class HostConfig:
    """Everything one host gets: its files (environment file, units), the timers to enable, the
    secrets (None for a host without backups), node_exporter's settings, for a data-center host its
    firewall, and for the monitoring host its server configuration."""

    files: Sequence[RenderedFile]
    timers: Sequence[str]
    secrets: HostSecrets | None
    firewall: Sequence[FirewallRule] | None = None
    exporter: Exporter | None = None
    monitoring: MonitoringServer | None = None


def content_hash(*parts: str) -> str:
    """Given rendered contents, return the hash that triggers a re-run when any of them changes."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def write_files_script(files: Sequence[RenderedFile], timers: Sequence[str]) -> str:
    """Given files and timers, return an idempotent script that writes them and enables the timers."""
    lines = ["set -eu", *file_lines(files)]
    if timers:
        lines.append("systemctl daemon-reload")
        lines.append(f"systemctl enable --now {' '.join(shlex.quote(timer) for timer in timers)}")
    return "\n".join(lines) + "\n"


def install_script(delivery: Delivery) -> str:
    """Given the build, return the script that installs it into /opt/seawall with hash checking."""
    wheel = f"{DIST}/{delivery.wheel_name}"
    requirement = f"seawall @ file://{wheel} --hash=sha256:{delivery.wheel_sha256}"
    return (
        "\n".join(
            [
                "set -eu",
                INSTALL_PACKAGES,
                f"[ -x {SEAWALL_HOME}/bin/python ] || python3 -m venv {SEAWALL_HOME}",
                f"{SEAWALL_HOME}/bin/pip install --quiet --disable-pip-version-check --require-hashes --no-deps "
                f"-r {DIST}/requirements.lock",
                f"echo {shlex.quote(requirement)} > {DIST}/seawall.requirement",
                f"{SEAWALL_HOME}/bin/pip install --quiet --disable-pip-version-check --require-hashes --no-deps "
                f"--force-reinstall -r {DIST}/seawall.requirement",
                f"{SEAWALL_HOME}/bin/seawall --version",
            ]
        )
        + "\n"
    )


def exporter_script(exporter: Exporter) -> str:
    """Given node_exporter's settings, return the script that installs it, makes its textfile folder
    and restarts it (the step runs again exactly when the settings change)."""
    lines = [
        "set -eu",
        apt_install("command -v prometheus-node-exporter >/dev/null 2>&1", "prometheus-node-exporter"),
        *file_lines([exporter.settings]),
        f"install -d -m 0755 {shlex.quote(exporter.textfile_dir)}",
        "systemctl enable prometheus-node-exporter",
        "systemctl restart prometheus-node-exporter",
    ]
    return "\n".join(lines) + "\n"


def monitoring_script(server: MonitoringServer) -> str:
    """Given the monitoring server's files, return the script that installs Prometheus and Alertmanager,
    checks the new configuration with their own tools before it replaces the old, and reloads both."""
    files = [*server.prometheus, *server.alertmanager]
    config = next(f.path for f in server.prometheus if f.path.endswith("/prometheus.yml"))
    manager = next(f.path for f in server.alertmanager if f.path.endswith("/alertmanager.yml"))
    rules = [shlex.quote(f.path + STAGED) for f in server.prometheus if f.path != config]
    present = "command -v prometheus >/dev/null 2>&1 && command -v prometheus-alertmanager >/dev/null 2>&1"
    lines = [
        "set -eu",
        apt_install(present, "prometheus prometheus-alertmanager"),
        # Staged beside the files they replace and checked there; nothing is moved in unless all pass.
        *file_lines([RenderedFile(f"{f.path}{STAGED}", f.content) for f in files]),
        f"promtool check config {shlex.quote(config + STAGED)}",
        f"promtool check rules {' '.join(rules)}",
        f"amtool check-config {shlex.quote(manager + STAGED)}",
        *(f"mv {shlex.quote(f.path + STAGED)} {shlex.quote(f.path)}" for f in files),
        "systemctl enable prometheus prometheus-alertmanager",
        "systemctl reload-or-restart prometheus prometheus-alertmanager",
    ]
    return "\n".join(lines) + "\n"


def firewall_files(rules: Sequence[FirewallRule]) -> list[RenderedFile]:
    """Given inbound rules, return the ruleset and the unit that loads it at every boot."""
    unit = (
        "[Unit]\n"
        "Description=Seawall host firewall (nftables table inet seawall)\n"
        "Wants=network-pre.target\n"
        "Before=network-pre.target\n"
        "After=nftables.service\n"
        "DefaultDependencies=no\n"
        "\n[Service]\n"
        "Type=oneshot\n"
        "RemainAfterExit=yes\n"
        f"ExecStart=/usr/sbin/nft -f {NFT_FILE}\n"
        "\n[Install]\n"
        "WantedBy=sysinit.target\n"
    )
    return [RenderedFile(NFT_FILE, nftables_ruleset(rules)), RenderedFile(FIREWALL_UNIT, unit)]


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


def configure_host(
    name: str,
    connection: remote.ConnectionArgs,
    delivery: Delivery,
    config: HostConfig,
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource] = (),
) -> list[pulumi.Resource]:
    """Given a host's connection, the build and its configuration, declare the SSH steps; return them."""
    child = pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on))
    copies = [
        remote.CopyToRemote(
            f"{name}-copy-{what}",
            connection=connection,
            source=_asset(path, delivery.identity),
            remote_path=f"{DIST}/{file_name}",
            triggers=[content_hash(delivery.identity, file_name)],
            opts=child,
        )
        for what, path, file_name in (
            ("wheel", delivery.wheel_path, delivery.wheel_name),
            ("lock", delivery.lock_path, "requirements.lock"),
        )
    ]
    script = install_script(delivery)
    install = _step(
        step_name(name, INSTALL_STEP),
        connection,
        script,
        pulumi.ResourceOptions(parent=parent, depends_on=copies),
        script,
        delivery.identity,
    )
    steps: list[pulumi.Resource] = [*copies, install]
    secrets = credential_commands(name, connection, config.secrets, parent, child) if config.secrets else []
    steps += secrets
    if config.files:
        units = write_files_script(config.files, config.timers)
        after = pulumi.ResourceOptions(parent=parent, depends_on=[install, *secrets])
        steps.append(_step(f"{name}-backup-units", connection, units, after))
    if config.firewall is not None:
        files = firewall_files(config.firewall)
        script = (
            write_files_script(files, [])
            + f"nft -c -f {NFT_FILE}\nnft -f {NFT_FILE}\n"
            + "systemctl daemon-reload\nsystemctl enable seawall-firewall.service\n"
        )
        steps.append(_step(f"{name}-firewall", connection, script, child, *(f.content for f in files)))
    if config.exporter is not None:
        steps.append(_step(step_name(name, EXPORTER_STEP), connection, exporter_script(config.exporter), child))
    if config.monitoring is not None:
        server = _step(f"{name}-monitoring", connection, monitoring_script(config.monitoring), child)
        # After the packages: the files belong to the group Alertmanager runs as, which they create.
        # Alertmanager reads a webhook file when it sends, so a first deploy needs no restart.
        steps.append(server)
        steps += [
            remote.Command(
                f"{name}-webhook-{index}",
                connection=connection,
                create=_write_stdin_script(path, group="prometheus"),
                stdin=url,
                triggers=[pulumi.Output.from_input(url).apply(content_hash)],
                opts=pulumi.ResourceOptions(parent=parent, depends_on=[server]),
            )
            for index, (path, url) in enumerate(config.monitoring.webhooks, start=1)
        ]
    return steps


def _step(
    name: str, connection: remote.ConnectionArgs, script: str, opts: pulumi.ResourceOptions, *content: str
) -> remote.Command:
    """A command that runs ``script`` again exactly when it, or the ``content`` it stands for, changes."""
    return remote.Command(
        name, connection=connection, create=script, triggers=[content_hash(*(content or (script,)))], opts=opts
    )


def _asset(path: str | None, identity: str) -> pulumi.Asset:
    """The file to copy, or (in an offline render, where nothing is built) a stand-in naming the build."""
    return pulumi.FileAsset(path) if path is not None else pulumi.StringAsset(f"offline render of {identity}\n")


def _write_stdin_script(path: str, group: str | None = None) -> str:
    quoted = shlex.quote(path)
    if group is None:
        return f'set -eu; umask 077; install -d -m 0700 "$(dirname {quoted})"; cat > {quoted}'
    return (
        f'set -eu; umask 027; install -d -m 0750 -g {group} "$(dirname {quoted})"; '
        f"cat > {quoted}.new; chgrp {group} {quoted}.new; mv {quoted}.new {quoted}"
    )


def credential_commands(
    name: str,
    connection: remote.ConnectionArgs,
    secrets: HostSecrets,
    parent: pulumi.Resource,
    opts: pulumi.ResourceOptions | None = None,
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
            opts=opts or pulumi.ResourceOptions(parent=parent),
        )
        for step, path, content, trigger in files
    ]
