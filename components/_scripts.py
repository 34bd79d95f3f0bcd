"""The scripts every host step runs: pure functions from what a host gets to the shell text that puts it there.

Nothing here declares a resource or imports Pulumi: ``seawall.components._host`` wraps each script in a
``pulumi_command`` step, and the unit tests read and run the text on its own
(``tests/unit/components/test_scripts.py``, ``test_host_steps.py``); the lab fleet runs it on booted hosts.
Every script is idempotent, stops at its first failure (``set -eu``), and writes files with
``hostfiles.file_lines``, so a host never sees half a file.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from seawall.hostfiles import (
    APT_LOCK,
    CREDENTIALS_FILE,
    DIST,
    FIREWALL_UNIT,
    LOCK_NAME,
    MANIFEST_FILE,
    NFT_FILE,
    PIP_CACHE,
    PIP_WHEELS,
    ROLLBACK_DIR,
    SEAWALL_HOME,
    STAGED,
    STAGING,
    UNIT_DIR,
    VERIFY_UNIT,
    RenderedFile,
    container_unit_name,
    file_lines,
)

if TYPE_CHECKING:
    import pulumi

    from seawall.manifest import Manifest

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
    pip runs unpacked from its wheel (``PIP_CACHE``), without its download cache, once on a first install. Nothing
    is byte-compiled at install (``--no-compile``: 14 MB of bytecode for modules no host command imports, a third
    of pip's time); Python compiles what a command imports on its first run, as root, into the root-owned
    environment."""
    wheel = f"{DIST}/{delivery.wheel_name}"
    requirement = f"seawall @ file://{wheel}#sha256={delivery.wheel_sha256} --hash=sha256:{delivery.wheel_sha256}"
    options = "--quiet --disable-pip-version-check --no-cache-dir --require-hashes --no-deps"
    pip = f'{SEAWALL_HOME}/bin/python "$pip_dir/pip" install {options}'
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
        f'pip_dir={PIP_CACHE}/"$(basename "$pip_wheel" .whl)"',
        'if [ ! -f "$pip_dir/pip/__main__.py" ]; then',
        f"  install -d -m 0755 -o root -g root {PIP_CACHE}",
        '  rm -rf "$pip_dir.new"',
        '  python3 -m zipfile -e "$pip_wheel" "$pip_dir.new"',
        '  python3 -m compileall -q -j 0 "$pip_dir.new" > /dev/null || true',
        '  rm -rf "$pip_dir" && mv "$pip_dir.new" "$pip_dir"',
        "fi",
        f"[ -x {SEAWALL_HOME}/bin/python ] || python3 -m venv --without-pip {SEAWALL_HOME}",
        f"echo {shlex.quote(requirement)} > {DIST}/seawall.requirement",
        # A first install is one pip run; a later one installs the lock (what is there already is kept) and
        # then the wheel again, whose version a rebuild need not change.
        f"set -- {SEAWALL_HOME}/lib/python3*/site-packages/seawall-*.dist-info",
        'if [ -e "$1" ]; then',
        f"  {pip} --no-compile -r {DIST}/{LOCK_NAME}",
        f"  {pip} --no-compile --force-reinstall -r {DIST}/seawall.requirement",
        "else",
        f"  {pip} --no-compile -r {DIST}/{LOCK_NAME} -r {DIST}/seawall.requirement",
        "fi",
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


def write_stdin_script(path: str, group: str | None = None) -> str:
    """Given a path (and the group that may read it), return the script that writes the step's standard input
    there: mode 0600 for root alone, or 0640 for the group, through a rename."""
    quoted = shlex.quote(path)
    if group is None:
        return f'set -eu; umask 077; install -d -m 0700 "$(dirname {quoted})"; cat > {quoted}'
    return (
        f'set -eu; umask 027; install -d -m 0750 -g {group} "$(dirname {quoted})"; '
        f"cat > {quoted}.new; chgrp {group} {quoted}.new; mv {quoted}.new {quoted}"
    )


# Services' images (#35). Where PID 1 is not systemd or no cgroup manager answers (a CI container), podman's
# defaults (the systemd cgroup manager, journald events) fail; cgroupfs and the file events backend work everywhere
# podman does, so every host uses them.
PODMAN = ("/usr/bin/podman", "--cgroup-manager=cgroupfs", "--events-backend=file")
OPEN_FILES = 16384  # the container's open files and processes (LimitNOFILE/LimitNPROC of its unit too)
PROCESSES = 4096
# No kernel keyring per container: the seccomp filters of systemd-nspawn (the lab's hosts) and of many CI
# sandboxes refuse keyctl, and crun then fails every start; the container shares its unit's session keyring.
CONTAINERS_CONF = RenderedFile(
    "/etc/containers/containers.conf.d/seawall.conf",
    "# Seawall: crun makes no session keyring per container (keyctl is refused in sandboxes)\n[containers]\n"
    "keyring = false\n",
)
HEALTH_TRIES = 60  # one every 2 s: a host has two minutes to answer its health path before the roll stops
_HEALTH_CHECK = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5).close()"


@dataclass(frozen=True)
class Container:
    """One service's image on one host: the image by digest, how it runs (the host's network, the service's
    volume, its secrets' file) and the health URL a roll waits for."""

    service: str
    reference: str  # IMAGE@sha256:… (an offline render without the release ledger: IMAGE:VERSION)
    ports: tuple[int, ...] = ()
    volume: tuple[str, str] | None = None  # (the host's mount, the path in the container)
    env_file: str | None = None
    health_url: str | None = None
    tls_verify: bool = True
    auth_file: str | None = None


def container_unit(container: Container) -> RenderedFile:
    """Given a service's container, return its systemd unit: podman runs the image already pulled (by digest,
    never pulling at boot), on the host's network, restarted when it fails."""
    name = f"seawall-{container.service}"
    # Rootful podman asks for 1048576 open files unless told otherwise, which a host without CAP_SYS_RESOURCE (a
    # container, the lab's hosts) cannot grant: the limits are the unit's own, within what systemd may give.
    # No cgroup of its own (``--cgroups=disabled``): the container stays in its unit's cgroup, so systemd accounts
    # for it and stops it, on every host alike (the lab's nspawn hosts give podman no cgroup tree to make one in).
    options = ["run", "--rm", "--replace", "--name", name, "--network", "host", "--pull", "never", "--cgroups=disabled"]
    options += ["--ulimit", f"nofile={OPEN_FILES}:{OPEN_FILES}", "--ulimit", f"nproc={PROCESSES}:{PROCESSES}"]
    if container.env_file is not None:
        options += ["--env-file", container.env_file]
    if container.volume is not None:
        options += ["--volume", f"{container.volume[0]}:{container.volume[1]}"]
    podman = " ".join(PODMAN)
    text = f"""[Unit]
Description=Seawall: {container.service} ({container.reference}, podman)
Wants=network-online.target
After=network-online.target

[Service]
ExecStart={podman} {" ".join(shlex.quote(option) for option in options)} {container.reference}
ExecStop={podman} stop --ignore --time 10 {name}
Restart=on-failure
RestartSec=5
TimeoutStopSec=30
LimitNOFILE={OPEN_FILES}
LimitNPROC={PROCESSES}

[Install]
WantedBy=multi-user.target
"""
    return RenderedFile(f"{UNIT_DIR}/{container_unit_name(container.service)}", text)


def container_script(container: Container, tries: int = HEALTH_TRIES) -> str:
    """Given a service's container, return its roll step on one host: pull the image by digest (a digest the
    registry does not hold fails here, before anything stops), put the unit in place (the one it replaces kept
    aside), restart it, and wait for the health URL; a host that does not answer gets its previous unit back and
    fails the step, so the roll stops there and the hosts after it keep their digest."""
    unit = container_unit(container)
    unit_name = container_unit_name(container.service)
    kept = shlex.quote(f"{ROLLBACK_DIR}/{unit_name}")
    pull = [*PODMAN, "pull", "--quiet", f"--tls-verify={str(container.tls_verify).lower()}"]
    if container.auth_file is not None:
        pull += ["--authfile", container.auth_file]
    reference = shlex.quote(container.reference)
    lines = [
        "set -eu",
        *apt_install(["podman"]),
        f"if ! {' '.join(shlex.quote(part) for part in pull)} {reference} >/dev/null; then",
        f"  echo 'seawall: {container.service}: cannot pull {container.reference} on '\"$(hostname)\"' (above: "
        "why); this host keeps its image and the roll stops here' >&2",
        "  exit 1",
        "fi",
        f"install -d -m 0700 {shlex.quote(ROLLBACK_DIR)}",
        f"if [ -f {shlex.quote(unit.path)} ]; then cp -p {shlex.quote(unit.path)} {kept}; else rm -f {kept}; fi",
        *file_lines([CONTAINERS_CONF, unit]),
        "systemctl daemon-reload",
        f"systemctl enable --quiet {unit_name}",
        f"systemctl restart {unit_name}",
    ]
    if container.health_url is not None:
        url = shlex.quote(container.health_url)
        lines += [
            "tries=0",
            f"until python3 -c {shlex.quote(_HEALTH_CHECK)} {url} 2>/dev/null; do",
            "  tries=$((tries + 1))",
            f'  if [ "$tries" -ge {tries} ]; then',
            f"    echo 'seawall: {container.service}: {container.health_url} did not answer on '\"$(hostname)\"' "
            f"after {tries} tries: the roll stops here and the hosts after this one keep their digest' >&2",
            f"    journalctl --no-pager -n 20 -u {unit_name} >&2 || true",
            f"    if [ -f {kept} ]; then",
            f"      mv {kept} {shlex.quote(unit.path)}; systemctl daemon-reload; systemctl restart {unit_name} || true",
            f"      echo 'seawall: {container.service}: this host is back on its previous unit' >&2",
            "    else",
            f"      systemctl disable --now {unit_name} || true",
            "    fi",
            "    exit 1",
            "  fi",
            "  sleep 2",
            "done",
        ]
    lines.append(f"rm -f {kept}")
    return "\n".join(lines) + "\n"
