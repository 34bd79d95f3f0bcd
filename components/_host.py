"""The one host-configuration path: what every host, droplet or data-center host, gets over SSH.

A private module beside the components (not a component: the shape test lets ``_``-files be): the steps
are ``pulumi_command`` resources whose scripts (``seawall.components._scripts``: pure text) are idempotent
and whose ``triggers`` hold the hash of what they render, so each re-runs exactly when its content changes.
Secrets reach the host on a command's standard input, never in its command line. Nothing here changes a
droplet's ``user_data``, so no configuration change replaces a droplet.

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
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import pulumi
from pulumi_command import remote

from seawall.components._scripts import (
    CONTAINERS_CONF,
    EXPORTER_UNIT,
    Container,
    Delivery,
    Exporter,
    FirewallRule,
    MonitoringServer,
    as_root,
    container_script,
    container_unit,
    content_hash,
    exporter_script,
    firewall_files,
    firewall_script,
    install_script,
    manifest_script,
    monitoring_script,
    staging_folder,
    write_files_script,
    write_stdin_script,
)
from seawall.hostfiles import (
    CONTAINER_STEP,
    CREDENTIALS_FILE,
    DIST,
    EXPORTER_STEP,
    FIREWALL_UNIT,
    INSTALL_STEP,
    LOCK_NAME,
    MANIFEST_STEP,
    REGISTRY_AUTH_FILE,
    VAULT_CREDENTIALS_FILE,
    RenderedFile,
    container_unit_name,
    step_name,
)
from seawall.manifest import OWNER, Manifest, build_manifest


def credentials_text(
    key_env: str, key: pulumi.Input[str], secret_env: str, secret: pulumi.Input[str]
) -> pulumi.Output[str]:
    """Given an S3 key pair and the variables that name it, return the environment file's content."""
    return pulumi.Output.format("{0}={1}\n{2}={3}\n", key_env, key, secret_env, secret)


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
        return credentials_text(
            self.access_key_id_env, self.access_key_id, self.secret_access_key_env, self.secret_access_key
        )

    @functools.cached_property
    def triggers(self) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        """Return the hashes that re-run the password and credentials steps when a secret changes."""
        return (
            pulumi.Output.from_input(self.restic_password).apply(content_hash),
            self.credentials_file.apply(content_hash),
        )


@dataclass
class VaultSecrets:
    """What the vault alone holds, as Pulumi secrets: the off-site copy's password and the vault's key (it
    reads the primary bucket and writes the copy's). No backup host's step ever carries them."""

    copy_password: pulumi.Input[str]
    access_key_id: pulumi.Input[str]
    secret_access_key: pulumi.Input[str]
    password_file: str
    access_key_id_env: str
    secret_access_key_env: str

    @functools.cached_property
    def credentials_file(self) -> pulumi.Output[str]:
        """Return the vault's credentials file's content."""
        return credentials_text(
            self.access_key_id_env, self.access_key_id, self.secret_access_key_env, self.secret_access_key
        )

    def files(self) -> list[tuple[str, str, pulumi.Input[str], pulumi.Output[str]]]:
        """Return the vault's two secret files: (step, path, content, trigger)."""
        password = pulumi.Output.from_input(self.copy_password)
        return [
            ("copy-password", self.password_file, password, password.apply(content_hash)),
            (
                "vault-credentials",
                VAULT_CREDENTIALS_FILE,
                self.credentials_file,
                self.credentials_file.apply(content_hash),
            ),
        ]


@dataclass(frozen=True)
class ContainerConfig:
    """A service's image on a host, and its secrets as a Pulumi secret (the env file's text; None without)."""

    container: Container
    secrets: pulumi.Input[str] | None = None


@dataclass
class Roll:
    """The order a service's hosts take a new image in: each host's container steps wait for those of the host
    before it, so a step that fails (a pull refused, a health path that does not answer) stops the roll there."""

    last: list[pulumi.Resource] = field(default_factory=list)


@dataclass(frozen=True)
class HostConfig:
    """Everything one host gets: its files (environment file, units), the timers to enable, the
    secrets (None for a host without backups), node_exporter's settings, for a data-center host its
    firewall, for the monitoring host its server configuration, and the commands to run once the files
    are there (``backup init`` of the repositories this host creates)."""

    files: Sequence[RenderedFile]
    timers: Sequence[str]
    secrets: HostSecrets | None
    firewall: Sequence[FirewallRule] | None = None
    exporter: Exporter | None = None
    monitoring: MonitoringServer | None = None
    commands: Sequence[Sequence[str]] = ()
    vault: VaultSecrets | None = None  # the off-site copy's secrets, on the vault host only
    environment: str = ""  # the environment's name, for the host's manifest
    # Managed databases' connection details, on the hosts of the services they trust: (step, path, secret content,
    # trigger), written as the other secret files are (0600, from standard input).
    databases: Sequence[tuple[str, str, pulumi.Input[str], pulumi.Output[str]]] = ()
    # A data-center host's rules whose sources are other resources' outputs (a service's droplets by their reserved
    # IPs): (protocol, port, sources), added to ``firewall`` once the addresses are known.
    firewall_from: Sequence[tuple[str, int, Sequence[pulumi.Input[str]]]] = ()
    containers: Sequence[ContainerConfig] = ()  # the services' images it runs (#35)
    registry_auth: pulumi.Input[str] | None = None  # the registry's login file, when the registry has one


def configure_host(
    name: str,
    connection: remote.ConnectionArgs,
    user: str,
    delivery: Delivery,
    config: HostConfig,
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource] = (),
    ssh_port: int = 22,
    roll: Roll | None = None,
) -> list[pulumi.Resource]:
    """Given a host's connection and SSH user, the build and its configuration, declare the SSH steps;
    return them. Every script runs as root (``sudo -n`` for another user); the copies go where the
    user may write, and the install step moves them in after checking their hashes."""
    child = pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on))
    staging = staging_folder(user)
    copies = [
        remote.CopyToRemote(
            f"{name}-copy-{what}",
            connection=connection,
            source=_asset(path, delivery.identity),
            remote_path=f"{staging}/{file_name}",
            triggers=[content_hash(delivery.identity, file_name)],
            opts=child,
        )
        for what, path, file_name in (
            ("wheel", delivery.wheel_path, delivery.wheel_name),
            ("lock", delivery.lock_path, LOCK_NAME),
        )
    ]

    def step(step: str, script: str, after: Sequence[pulumi.Resource], *content: str) -> remote.Command:
        opts = pulumi.ResourceOptions(parent=parent, depends_on=[*depends_on, *after])
        return _step(step_name(name, step), connection, as_root(user, script), opts, *(content or (script,)))

    script = install_script(delivery, user)
    install = step(INSTALL_STEP, script, copies, script, delivery.identity)
    steps: list[pulumi.Resource] = [*copies, install]
    secrets = credential_commands(name, connection, user, config.secrets, parent, child) if config.secrets else []
    if config.vault is not None:
        secrets += _secret_files(name, connection, user, config.vault.files(), parent, child)
    secrets += _secret_files(name, connection, user, config.databases, parent, child)
    steps += secrets
    if config.files:
        units = write_files_script(config.files, config.timers, config.commands)
        steps.append(step("backup-units", units, [install, *secrets]))
    if config.exporter is not None:
        steps.append(step(EXPORTER_STEP, exporter_script(config.exporter), []))
    resolved = _with_firewall_sources(config)
    if config.firewall is not None:
        # Last on the host's own work: python3 (the install step's) checks that the deployer stays admitted.
        if resolved is None:
            steps.append(step("firewall", firewall_script(config.firewall, ssh_port), steps[1:]))
        else:
            rules = resolved.apply(lambda known: firewall_script(known.firewall or [], ssh_port))
            steps.append(
                remote.Command(
                    step_name(name, "firewall"),
                    connection=connection,
                    create=rules.apply(lambda text: as_root(user, text)),
                    triggers=[rules.apply(content_hash)],
                    opts=pulumi.ResourceOptions(parent=parent, depends_on=[*depends_on, *steps[1:]]),
                )
            )
    if config.monitoring is not None:
        server = step("monitoring", monitoring_script(config.monitoring), [])
        # After the packages: the files belong to the group Alertmanager runs as, which they create.
        # Alertmanager reads a webhook file when it sends, so a first deploy needs no restart.
        steps.append(server)
        steps += [
            remote.Command(
                f"{name}-webhook-{index}",
                connection=connection,
                create=as_root(user, write_stdin_script(path, group="prometheus")),
                stdin=url,
                triggers=[pulumi.Output.from_input(url).apply(content_hash)],
                opts=pulumi.ResourceOptions(parent=parent, depends_on=[server]),
            )
            for index, (path, url) in enumerate(config.monitoring.webhooks, start=1)
        ]
    if config.containers:
        steps += container_steps(name, connection, user, config, [install, *secrets], parent, roll or Roll())
    # Last: the manifest of everything above, recorded again whenever a file, a secret or the build changes.
    plain = manifest_script(host_manifest(name, delivery, config))
    manifest: pulumi.Output[str] = pulumi.Output.from_input(plain)
    triggers: list[pulumi.Input[str]] = [content_hash(plain, delivery.identity)]
    if resolved is not None:
        manifest = resolved.apply(lambda known: manifest_script(host_manifest(name, delivery, known)))
        triggers = [manifest.apply(lambda text: content_hash(text, delivery.identity))]
    if config.secrets is not None:
        triggers += list(config.secrets.triggers)
    if config.vault is not None:
        triggers += [trigger for _, _, _, trigger in config.vault.files()]
    triggers += [trigger for _, _, _, trigger in config.databases]
    if config.monitoring is not None:
        triggers += [pulumi.Output.from_input(url).apply(content_hash) for _, url in config.monitoring.webhooks]
    steps.append(
        remote.Command(
            step_name(name, MANIFEST_STEP),
            connection=connection,
            create=manifest.apply(lambda text: as_root(user, text)),
            triggers=triggers,
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[*depends_on, *steps]),
        )
    )
    return steps


def _with_firewall_sources(config: HostConfig) -> pulumi.Output[HostConfig] | None:
    """Given a host's configuration, return it with the rules whose sources are outputs added to its firewall,
    once they are known (None when it has none: its steps are plain text)."""
    if config.firewall is None or not config.firewall_from:
        return None
    rules = list(config.firewall_from)
    groups = pulumi.Output.all(*[pulumi.Output.all(*sources) for _, _, sources in rules])

    def known(resolved: list[list[str]]) -> HostConfig:
        extra = [
            FirewallRule(protocol, port, sorted(map(str, got)))
            for (protocol, port, _), got in zip(rules, resolved, strict=True)
        ]
        return replace(config, firewall=[*(config.firewall or []), *extra], firewall_from=())

    return groups.apply(known)


def container_steps(
    name: str,
    connection: remote.ConnectionArgs,
    user: str,
    config: HostConfig,
    after: Sequence[pulumi.Resource],
    parent: pulumi.Resource,
    roll: Roll,
) -> list[pulumi.Resource]:
    """Given a host's containers, return their steps: the registry's login and each container's secrets
    (0600, from standard input), then one roll step per service, after the host before it in ``roll``'s
    order; ``roll`` then holds this host's roll steps for the next host."""
    placed: list[pulumi.Resource] = []
    if config.registry_auth is not None:
        placed += _secret_files(
            name,
            connection,
            user,
            [("registry-auth", REGISTRY_AUTH_FILE, config.registry_auth, _hash_of(config.registry_auth))],
            parent,
        )
    rolled: list[pulumi.Resource] = []
    for item in config.containers:
        service = item.container.service
        env_steps: list[pulumi.Resource] = []
        if item.secrets is not None and item.container.env_file is not None:
            file = (f"container-env-{service}", item.container.env_file, item.secrets, _hash_of(item.secrets))
            env_steps = list(_secret_files(name, connection, user, [file], parent))
        script = container_script(item.container)
        triggers: list[pulumi.Input[str]] = [content_hash(script)]
        triggers += [_hash_of(item.secrets)] if item.secrets is not None else []
        rolled.append(
            remote.Command(
                step_name(name, f"{CONTAINER_STEP}-{service}"),
                connection=connection,
                create=as_root(user, script),
                triggers=triggers,
                opts=pulumi.ResourceOptions(parent=parent, depends_on=[*after, *placed, *env_steps, *roll.last]),
            )
        )
        placed += env_steps
    roll.last = rolled
    return [*placed, *rolled]


def _hash_of(content: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.from_input(content).apply(content_hash)


def host_manifest(name: str, delivery: Delivery, config: HostConfig) -> Manifest:
    """Given a host, the build and its configuration, return the manifest of everything its steps place: the
    files (a secret file by path, mode and owner only), the units they enable, its firewall and the wheel."""
    files = list(config.files)
    units = list(config.timers)
    if config.firewall is not None:
        files += firewall_files(config.firewall)
        units.append(FIREWALL_UNIT.rsplit("/", 1)[1])
    if config.exporter is not None:
        files.append(config.exporter.settings)
        units.append(f"{EXPORTER_UNIT}.service")
    secret_files: list[tuple[str, str, str]] = []
    if config.secrets is not None:
        secret_files += [(config.secrets.password_file, "0600", OWNER), (CREDENTIALS_FILE, "0600", OWNER)]
    if config.vault is not None:
        secret_files += [(path, "0600", OWNER) for _, path, _, _ in config.vault.files()]
    secret_files += [(path, "0600", OWNER) for _, path, _, _ in config.databases]
    if config.monitoring is not None:
        files += [*config.monitoring.prometheus, *config.monitoring.alertmanager, *config.monitoring.settings]
        units += ["prometheus.service", "prometheus-alertmanager.service"]
        secret_files += [(path, "0640", "root:prometheus") for path, _ in config.monitoring.webhooks]
    if config.containers:
        files.append(CONTAINERS_CONF)
    for item in config.containers:
        files.append(container_unit(item.container))
        units.append(container_unit_name(item.container.service))
        if item.secrets is not None and item.container.env_file is not None:
            secret_files.append((item.container.env_file, "0600", OWNER))
    if config.registry_auth is not None:
        secret_files.append((REGISTRY_AUTH_FILE, "0600", OWNER))
    wheel = f"{DIST}/{delivery.wheel_name}"
    return build_manifest(config.environment, name, files, secret_files, units, config.firewall is not None, wheel)


def _step(
    name: str, connection: remote.ConnectionArgs, command: str, opts: pulumi.ResourceOptions, *content: str
) -> remote.Command:
    """A command that runs again exactly when the ``content`` it stands for changes."""
    return remote.Command(name, connection=connection, create=command, triggers=[content_hash(*content)], opts=opts)


def _asset(path: str | None, identity: str) -> pulumi.Asset:
    """The file to copy, or (in an offline render, where nothing is built) a stand-in naming the build."""
    return pulumi.FileAsset(path) if path is not None else pulumi.StringAsset(f"offline render of {identity}\n")


def credential_commands(
    name: str,
    connection: remote.ConnectionArgs,
    user: str,
    secrets: HostSecrets,
    parent: pulumi.Resource,
    opts: pulumi.ResourceOptions | None = None,
) -> list[remote.Command]:
    """Given a host connection, return the commands that place the repository password and S3 keys."""
    password_trigger, credentials_trigger = secrets.triggers
    files: list[tuple[str, str, pulumi.Input[str], pulumi.Output[str]]] = [
        ("restic-password", secrets.password_file, secrets.restic_password, password_trigger),
        ("s3-credentials", CREDENTIALS_FILE, secrets.credentials_file, credentials_trigger),
    ]
    return _secret_files(name, connection, user, files, parent, opts)


def _secret_files(
    name: str,
    connection: remote.ConnectionArgs,
    user: str,
    files: Sequence[tuple[str, str, pulumi.Input[str], pulumi.Output[str]]],
    parent: pulumi.Resource,
    opts: pulumi.ResourceOptions | None = None,
) -> list[remote.Command]:
    """Given (step, path, content, trigger) of secret files, return the commands that write them (mode 0600)
    from their standard input, so that no secret is in a command line."""
    return [
        remote.Command(
            f"{name}-{step}",
            connection=connection,
            create=as_root(user, write_stdin_script(path)),
            stdin=content,
            triggers=[trigger],
            opts=opts or pulumi.ResourceOptions(parent=parent),
        )
        for step, path, content, trigger in files
    ]
