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

from seawall.hostfiles import (
    APT_LOCK,
    CREDENTIALS_FILE,
    DIST,
    EXPORTER_STEP,
    FIREWALL_UNIT,
    INSTALL_STEP,
    LOCK_NAME,
    MANIFEST_FILE,
    MANIFEST_STEP,
    NFT_FILE,
    PIP_WHEELS,
    SEAWALL_HOME,
    STAGED,
    STAGING,
    VAULT_CREDENTIALS_FILE,
    VERIFY_UNIT,
    RenderedFile,
    file_lines,
    step_name,
)
from seawall.manifest import OWNER, Manifest, build_manifest

EXPORTER_UNIT = "prometheus-node-exporter"
# apt-get and dpkg, waiting while another apt or dpkg holds their locks (cloud-init's or unattended-upgrades'
# boot-time run; DPkg::Lock::Timeout covers only dpkg's frontend lock, not apt-get update's lists lock) and
# failing at once on anything else, with apt's own words.
_WAIT_FOR_APT = r"""seawall_locked() {
  tries=0
  while :; do
    if out=$(DEBIAN_FRONTEND=noninteractive "$@" 2>&1); then return 0; fi
    case "$out" in
      *"Could not get lock"*|*"locked by another process"*|*"Unable to acquire the dpkg frontend lock"*) ;;
      *) printf '%s\n' "$out" >&2; return 1 ;;
    esac
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ]; then printf 'apt stayed locked for 10 minutes:\n%s\n' "$out" >&2; return 1; fi
    sleep 10
  done
}"""
_APT_OPTIONS = "-o DPkg::Lock::Timeout=60 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"


def apt_install(packages: Sequence[str]) -> list[str]:
    """Given Debian packages, return the lines that install those not fully installed: Seawall's own apt
    steps one at a time (a flock), waiting for apt's locks, without Recommends, a package a killed run
    left half-configured finished first, and any failure stopping the step (so a settings file is never
    written for a package that is not there, and the next deploy runs the step again). Settings files
    are written after the package, so dpkg never stops at a conffile question."""
    names = " ".join(shlex.quote(package) for package in packages)
    return [
        _WAIT_FOR_APT,
        f"exec 8>{APT_LOCK}",
        "flock 8",
        'missing=""',
        f"for package in {names}; do",
        "  dpkg-query -W -f='${db:Status-Status}' \"$package\" 2>/dev/null | grep -qx installed"
        ' || missing="$missing $package"',
        "done",
        'if [ -n "$missing" ]; then',
        "  seawall_locked dpkg --force-confdef --force-confold --configure -a",
        f"  seawall_locked apt-get -q {_APT_OPTIONS} update",
        f"  seawall_locked apt-get -q -y --no-install-recommends {_APT_OPTIONS} install $missing",
        "fi",
        "exec 8>&-",
    ]


INSTALL_PACKAGES = ("restic", "python3-venv")


def as_root(user: str, script: str) -> str:
    """Given the SSH user and a step's script, return the command the step runs: the script verbatim in
    a quoted here-document (the policies read it back with ``hostfiles.installed_files``), run by ``sh``,
    through ``sudo -n`` unless the user is root, with the deploying machine's address as ``$1`` (the
    firewall step keeps it admitted). A user without password-less sudo fails the step with sudo's
    own words."""
    marker = "SEAWALL_STEP"
    while marker in script.splitlines():
        marker += "_"
    sudo = "" if user == "root" else "sudo -n "
    return f'{sudo}sh -c "$(cat <<\'{marker}\'\n{script.rstrip()}\n{marker}\n)" seawall-step "${{SSH_CLIENT%% *}}"'


@dataclass(frozen=True)
class Delivery:
    """The build a deploy ships: its identity, the wheel (None in an offline render) and the lock file."""

    identity: str
    wheel_name: str
    wheel_path: str | None
    wheel_sha256: str
    lock_path: str
    lock_sha256: str


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
    settings: Sequence[RenderedFile] = ()  # Debian's /etc/default files: where each reads its configuration


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


def content_hash(*parts: str) -> str:
    """Given rendered contents, return the hash that triggers a re-run when any of them changes."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def write_files_script(
    files: Sequence[RenderedFile], timers: Sequence[str], commands: Sequence[Sequence[str]] = ()
) -> str:
    """Given files, timers and commands, return an idempotent script that writes the files, enables the
    timers and runs each command as a transient unit with the credentials file the timers' units read
    (so that it sees exactly the environment a scheduled run sees)."""
    lines = ["set -eu", *file_lines(files)]
    if timers:
        lines.append("systemctl daemon-reload")
        lines.append(f"systemctl enable --now {' '.join(shlex.quote(timer) for timer in timers)}")
    for argv in commands:
        run = ("systemd-run", "--wait", "--pipe", "--quiet", f"--property=EnvironmentFile=-{CREDENTIALS_FILE}", "--")
        lines.append(shlex.join([*run, *argv]))
    return "\n".join(lines) + "\n"


def firewall_script(rules: Sequence[FirewallRule], ssh_port: int) -> str:
    """Given inbound rules and the SSH port, return the script that checks the ruleset with ``nft -c``,
    refuses it when it would not admit the deploying machine (``$1``, its address as the host sees it)
    to SSH, and only then installs it, loads it and enables the unit that loads it at every boot."""
    files = firewall_files(rules)
    admitted = sorted(
        {source for rule in rules if rule.port == ssh_port and rule.protocol == "tcp" for source in rule.sources}
    )
    member = (
        "import ipaddress, sys; address = ipaddress.ip_address(sys.argv[1]); "
        "sys.exit(not any(address in ipaddress.ip_network(net, strict=False) for net in sys.argv[2:]))"
    )
    refusal = (
        "seawall: refusing to load the firewall: it would lock out the deploying machine ($1), which is not "
        f"among the sources admitted to SSH (port {ssh_port}): add its address to network.admin_cidrs"
    )
    lines = [
        "set -eu",
        *file_lines([RenderedFile(f"{f.path}{STAGED}", f.content) for f in files]),
        f"nft -c -f {NFT_FILE}{STAGED}",
        f'if [ -n "${{1:-}}" ] && ! python3 -c {shlex.quote(member)} "$1" {" ".join(map(shlex.quote, admitted))}; then',
        f'  echo "{refusal}" >&2',
        f"  rm -f {' '.join(f.path + STAGED for f in files)}",
        "  exit 1",
        "fi",
        *(f"mv {f.path}{STAGED} {f.path}" for f in files),
        f"nft -f {NFT_FILE}",
        "systemctl daemon-reload",
        "systemctl enable --quiet seawall-firewall.service",
    ]
    return "\n".join(lines) + "\n"


def staging_folder(user: str) -> str:
    """Given the SSH user, return where the build's files are copied (SFTP cannot sudo): ``/opt/seawall/dist``
    for root, else a folder in the user's home (SFTP resolves a relative path there); the install step
    checks both files' hashes before anything is installed from them."""
    return DIST if user == "root" else STAGING


# The install runs pip from the system's pip wheel (``PIP_WHEELS``), so /opt/seawall holds only what hosts run,
# not pip and setuptools (27 MB).
# botocore's service models that hosts use (S3 alone, backup/storage.py); the others are 28 MB of data no host
# command reads, removed after each install (the deploying machine keeps its full botocore).
BOTOCORE_SERVICES = ("s3",)


def install_script(delivery: Delivery, user: str = "root") -> str:
    """Given the build and the SSH user, return the script that installs it into /opt/seawall: the copied
    wheel and lock file moved into the root-owned ``dist/`` and checked against the hashes this script
    carries, a virtual environment without pip, then pip run from the system's pip wheel with
    ``--require-hashes`` (the wheel's hash in its URL too, so that Debian 12's pip, which records no
    ``--hash``, records it for ``seawall --version``), and botocore's models of services no host calls removed.
    The lock's packages are not byte-compiled at install (``--no-compile``: 14 MB of bytecode for modules no
    host command imports, a third of pip's time); Python compiles what a command imports on its first run,
    as root, into the root-owned environment."""
    wheel = f"{DIST}/{delivery.wheel_name}"
    requirement = f"seawall @ file://{wheel}#sha256={delivery.wheel_sha256} --hash=sha256:{delivery.wheel_sha256}"
    options = "--quiet --disable-pip-version-check --require-hashes --no-deps"
    pip = f'{SEAWALL_HOME}/bin/python "$pip_wheel/pip" install {options}'
    kept = " ".join(f"! -name {name}" for name in BOTOCORE_SERVICES)
    lines = ["set -eu", *apt_install(INSTALL_PACKAGES), f"install -d -m 0755 {SEAWALL_HOME} {DIST}"]
    if user != "root":
        home = f'"$(getent passwd {shlex.quote(user)} | cut -d: -f6)"'
        for name in (delivery.wheel_name, LOCK_NAME):
            lines.append(f"install -m 0644 {home}/{STAGING}/{shlex.quote(name)} {DIST}/{shlex.quote(name)}")
    checks = f"{delivery.wheel_sha256}  {wheel}\\n{delivery.lock_sha256}  {DIST}/{LOCK_NAME}\\n"
    lines += [
        f"printf '{checks}' | sha256sum --quiet --strict -c -",
        f"pip_wheel=$(ls {PIP_WHEELS}/pip-*.whl 2>/dev/null | sort -V | tail -1)",
        f'[ -n "$pip_wheel" ] || {{ echo "seawall: no pip wheel in {PIP_WHEELS}: install python3-venv" >&2; exit 1; }}',
        f"[ -x {SEAWALL_HOME}/bin/python ] || python3 -m venv --without-pip {SEAWALL_HOME}",
        f"{pip} --no-compile -r {DIST}/{LOCK_NAME}",
        f"echo {shlex.quote(requirement)} > {DIST}/seawall.requirement",
        f"{pip} --force-reinstall -r {DIST}/seawall.requirement",
        f"for data in {SEAWALL_HOME}/lib/python3*/site-packages/botocore/data; do",
        f'  [ -d "$data" ] && find "$data" -mindepth 1 -maxdepth 1 -type d {kept} -exec rm -rf {{}} +',
        "done",
        f"{SEAWALL_HOME}/bin/seawall --version",
    ]
    return "\n".join(lines) + "\n"


def exporter_script(exporter: Exporter) -> str:
    """Given node_exporter's settings, return the script that installs it (the package first, so that
    Debian's settings file is ours after it), makes its textfile folder and restarts it only when its
    settings changed or it is not running."""
    settings = shlex.quote(exporter.settings.path)
    lines = [
        "set -eu",
        *apt_install([EXPORTER_UNIT]),
        f"install -d -m 0755 {shlex.quote(exporter.textfile_dir)}",
        f"before=$(sha256sum {settings} 2>/dev/null || true)",
        *file_lines([exporter.settings]),
        f"systemctl enable --quiet {EXPORTER_UNIT}",
        f'if [ "$before" != "$(sha256sum {settings})" ] || ! systemctl is-active --quiet {EXPORTER_UNIT}; then',
        f"  systemctl restart {EXPORTER_UNIT}",
        "fi",
    ]
    return "\n".join(lines) + "\n"


def monitoring_script(server: MonitoringServer) -> str:
    """Given the monitoring server's files, return the script that installs Prometheus and Alertmanager,
    checks the new configuration with their own tools before it replaces the old, points Debian's units
    at it (``/etc/default``: Debian's Alertmanager reads ``/etc/prometheus/alertmanager.yml`` otherwise),
    and reloads both."""
    files = [*server.prometheus, *server.alertmanager, *server.settings]
    config = next(f.path for f in server.prometheus if f.path.endswith("/prometheus.yml"))
    manager = next(f.path for f in server.alertmanager if f.path.endswith("/alertmanager.yml"))
    rules = [shlex.quote(f.path + STAGED) for f in server.prometheus if f.path != config]
    settings = " ".join(shlex.quote(f.path) for f in server.settings) or "/dev/null"
    lines = [
        "set -eu",
        *apt_install(["prometheus", "prometheus-alertmanager"]),
        # Staged beside the files they replace and checked there; nothing is moved in unless all pass.
        *file_lines([RenderedFile(f"{f.path}{STAGED}", f.content) for f in files]),
        f"promtool check config {shlex.quote(config + STAGED)}",
        f"promtool check rules {' '.join(rules)}",
        f"amtool check-config {shlex.quote(manager + STAGED)}",
        f"before=$(cat {settings} 2>/dev/null | sha256sum)",
        *(f"mv {shlex.quote(f.path + STAGED)} {shlex.quote(f.path)}" for f in files),
        "systemctl enable --quiet prometheus prometheus-alertmanager",
        # A changed settings file (ports, paths) needs a restart; a changed configuration only a reload.
        f'if [ "$before" != "$(cat {settings} | sha256sum)" ]; then',
        "  systemctl restart prometheus prometheus-alertmanager",
        "else",
        "  systemctl reload-or-restart prometheus prometheus-alertmanager",
        "fi",
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
        "    meta l4proto { icmp, icmpv6 } accept",
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
    user: str,
    delivery: Delivery,
    config: HostConfig,
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource] = (),
    ssh_port: int = 22,
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
    steps += secrets
    if config.files:
        units = write_files_script(config.files, config.timers, config.commands)
        steps.append(step("backup-units", units, [install, *secrets]))
    if config.exporter is not None:
        steps.append(step(EXPORTER_STEP, exporter_script(config.exporter), []))
    if config.firewall is not None:
        # Last on the host's own work: python3 (the install step's) checks that the deployer stays admitted.
        steps.append(step("firewall", firewall_script(config.firewall, ssh_port), steps[1:]))
    if config.monitoring is not None:
        server = step("monitoring", monitoring_script(config.monitoring), [])
        # After the packages: the files belong to the group Alertmanager runs as, which they create.
        # Alertmanager reads a webhook file when it sends, so a first deploy needs no restart.
        steps.append(server)
        steps += [
            remote.Command(
                f"{name}-webhook-{index}",
                connection=connection,
                create=as_root(user, _write_stdin_script(path, group="prometheus")),
                stdin=url,
                triggers=[pulumi.Output.from_input(url).apply(content_hash)],
                opts=pulumi.ResourceOptions(parent=parent, depends_on=[server]),
            )
            for index, (path, url) in enumerate(config.monitoring.webhooks, start=1)
        ]
    # Last: the manifest of everything above, recorded again whenever a file, a secret or the build changes.
    script = manifest_script(host_manifest(name, delivery, config))
    triggers: list[pulumi.Input[str]] = [content_hash(script, delivery.identity)]
    if config.secrets is not None:
        triggers += list(config.secrets.triggers)
    if config.vault is not None:
        triggers += [trigger for _, _, _, trigger in config.vault.files()]
    if config.monitoring is not None:
        triggers += [pulumi.Output.from_input(url).apply(content_hash) for _, url in config.monitoring.webhooks]
    steps.append(
        remote.Command(
            step_name(name, MANIFEST_STEP),
            connection=connection,
            create=as_root(user, script),
            triggers=triggers,
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[*depends_on, *steps]),
        )
    )
    return steps


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
    if config.monitoring is not None:
        files += [*config.monitoring.prometheus, *config.monitoring.alertmanager, *config.monitoring.settings]
        units += ["prometheus.service", "prometheus-alertmanager.service"]
        secret_files += [(path, "0640", "root:prometheus") for path, _ in config.monitoring.webhooks]
    wheel = f"{DIST}/{delivery.wheel_name}"
    return build_manifest(config.environment, name, files, secret_files, units, config.firewall is not None, wheel)


def manifest_script(manifest: Manifest) -> str:
    """Given a host's manifest, return the deploy's last step on the host: write the manifest, then let the
    installed Seawall record what only the host knows (the secret files', the ruleset's and the wheel's
    hashes) and move what no deploy placed out of Seawall's folders (into the quarantine, nothing lost), and
    start the host's first check."""
    lines = [
        "set -eu",
        *file_lines([RenderedFile(MANIFEST_FILE, manifest.to_text())]),
        f"{SEAWALL_HOME}/bin/seawall host record --quarantine",
        # The first check now, not at the next hour: a new host is never "never reported" for long.
        f"systemctl start --no-block {VERIFY_UNIT}.service",
    ]
    return "\n".join(lines) + "\n"


def _step(
    name: str, connection: remote.ConnectionArgs, command: str, opts: pulumi.ResourceOptions, *content: str
) -> remote.Command:
    """A command that runs again exactly when the ``content`` it stands for changes."""
    return remote.Command(name, connection=connection, create=command, triggers=[content_hash(*content)], opts=opts)


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
            create=as_root(user, _write_stdin_script(path)),
            stdin=content,
            triggers=[trigger],
            opts=opts or pulumi.ResourceOptions(parent=parent),
        )
        for step, path, content, trigger in files
    ]
