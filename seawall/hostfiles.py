"""Files placed on hosts: where each one goes, and the one shell format that carries them.

The host layout (every path Seawall places on a host) is named once, below: the unit renderer
(``seawall.backup.schedules``), the SSH steps (``seawall.components._host``), the manifest and drift check, the
policies and the documents all read it from here, so a path changes in one place.

Every SSH step writes its files with ``file_lines``: a here-document to ``PATH.new``, its mode, a rename,
so a host never sees half a file. The policies read what a step installs with ``installed_files``, the
exact inverse, so the format has one home and a test that round-trips it (``tests/unit/test_hostfiles.py``).
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

# The host layout. Seawall itself: a virtual environment built from the deploy's wheel and lock file.
SEAWALL_HOME = "/opt/seawall"
SEAWALL_BIN = f"{SEAWALL_HOME}/bin/seawall"
DIST = f"{SEAWALL_HOME}/dist"  # the wheel and lock file, root-owned, checked against their hashes
STAGING = ".seawall/dist"  # relative: where a user other than root copies them (SFTP cannot sudo), in its home
LOCK_NAME = "requirements.lock"
# Where Debian's and Ubuntu's python3-venv keep the pip wheel (python3-pip-whl): the install runs pip from it,
# unpacked and compiled once into PIP_CACHE/<the wheel's name> (run from the wheel, pip compiles its own modules
# on every start: 1.7 s on a lab host, as zipimport keeps no bytecode; 0.4 s unpacked).
PIP_WHEELS = "/usr/share/python-wheels"
PIP_CACHE = "/var/cache/seawall"
# Seawall's configuration: the host's environment file, its credentials (0600) and the deploy's manifest.
CONFIG_DIR = "/etc/seawall"
HOST_ENVIRONMENTS = f"{CONFIG_DIR}/environments"
CREDENTIALS_FILE = f"{CONFIG_DIR}/credentials.env"
# The vault's key and the off-site copy's password: on the vault host only, never on a backup host.
VAULT_CREDENTIALS_FILE = f"{CONFIG_DIR}/vault.env"
# The repository passwords where the model names no password file of its own.
PASSWORD_FILE = f"{CONFIG_DIR}/restic-password"
COPY_PASSWORD_FILE = f"{CONFIG_DIR}/restic-copy-password"
# A managed database's connection details on the hosts of the services it trusts (root-only, 0600): DATABASE_*
# variables for an EnvironmentFile= of the service's own unit.
DATABASES_DIR = f"{CONFIG_DIR}/databases"
MANIFEST_FILE = f"{CONFIG_DIR}/manifest.json"
# What the host recorded when the deploy's manifest step ran (root only: it holds the secret files' hashes).
RECORDED_FILE = f"{CONFIG_DIR}/manifest.recorded.json"
# Where the manifest step moves what a person left in Seawall's own folders, so a re-apply clears the drift
# and loses nothing.
QUARANTINE_DIR = "/var/lib/seawall/drift-quarantine"
# systemd units (each named ``seawall-*``), the cron file for hosts without systemd, and the firewall.
UNIT_DIR = "/etc/systemd/system"
VERIFY_UNIT = "seawall-host-verify"  # the drift check's unit, on every host
FIREWALL_UNIT = f"{UNIT_DIR}/seawall-firewall.service"
CRON_DIR = "/etc/cron.d"
NFT_FILE = "/etc/nftables.d/seawall.nft"
APT_LOCK = "/run/lock/seawall-apt.lock"  # Seawall's own apt steps, one at a time
# Where Seawall is the only writer: a file found there that no step placed is drift (``extra``).
OWNED = (f"{CONFIG_DIR}/**", f"{UNIT_DIR}/seawall-*")

# Services' images (#35): each service with an artifact runs as its own unit, podman running its image by digest;
# the container's secrets (0600) and the registry's login (0600, when it has one) beside Seawall's configuration,
# and the unit a roll replaced, kept until the new one answers its health path.
CONTAINER_STEP = "container"  # ``<host>-container-<service>``: the roll's step on each host
CONTAINER_ENV_DIR = f"{CONFIG_DIR}/containers"
REGISTRY_AUTH_FILE = f"{CONFIG_DIR}/registry-auth.json"
ROLLBACK_DIR = "/var/lib/seawall/rollback"


def container_unit_name(service: str) -> str:
    """Given a service, return the name of the unit that runs its image (``seawall-app-<service>.service``)."""
    return f"seawall-app-{service}.service"


def container_env_file(service: str) -> str:
    """Given a service, return the file of its container's secrets (podman's ``--env-file``)."""
    return f"{CONTAINER_ENV_DIR}/{service}.env"


STAGED = ".staged"  # a file checked before it moves in (``PATH.staged``) counts as the file it becomes
# The SSH steps a host gets are named ``<host>-<step>``: the host component names them so, the policies
# find every host by its install step and check its exporter step.
INSTALL_STEP = "install"
EXPORTER_STEP = "node-exporter"
MANIFEST_STEP = "manifest"  # the last step on every host: what the others placed (seawall.manifest)
_FILE = re.compile(r"cat > (\S+)\.new <<'(SEAWALL_EOF_\w+)'\n(.*?)\n\2\n", re.S)


@dataclass(frozen=True)
class RenderedFile:
    """A file to place on a host: where, what, and with which mode."""

    path: str
    content: str
    mode: str = "0644"


def _marker(index: int, content: str) -> str:
    """Return a here-document marker that no line of the content equals."""
    marker = f"SEAWALL_EOF_{index}"
    if marker in content.splitlines():
        marker += "_" + hashlib.sha256(content.encode()).hexdigest()[:16]
    return marker


def file_lines(files: Sequence[RenderedFile]) -> list[str]:
    """Given files, return the shell lines that write each one atomically (a here-document to
    ``PATH.new``, its mode, a rename)."""
    lines = []
    for index, rendered in enumerate(files):
        if any(character.isspace() for character in rendered.path):
            msg = f"a host file's path has a space: {rendered.path!r}"
            raise ValueError(msg)
        body = rendered.content.rstrip("\n")
        marker = _marker(index, body)
        path = shlex.quote(rendered.path)
        lines.append(f'install -d -m 0755 "$(dirname {path})"')
        lines.append(f"cat > {path}.new <<'{marker}'\n{body}\n{marker}")
        lines.append(f"chmod {rendered.mode} {path}.new && mv {path}.new {path}")
    return lines


def installed_files(script: str) -> dict[str, str]:
    """Given a step's script, return the files it writes, by path, without their final newlines (a file
    staged for checking counts as the file it becomes)."""
    return {match.group(1).removesuffix(STAGED): match.group(3) for match in _FILE.finditer(script + "\n")}


def step_name(host: str, step: str) -> str:
    """Given a host and a step (``INSTALL_STEP``…), return the step's resource name."""
    return f"{host}-{step}"


def host_of_step(name: str, step: str) -> str | None:
    """Given a resource name and a step, return the host whose step it is, or None."""
    suffix = f"-{step}"
    return name.removesuffix(suffix) if name.endswith(suffix) and len(name) > len(suffix) else None


def database_env_file(cluster: str) -> str:
    """Given a managed database cluster's name, return the file of its connection details on a trusting host."""
    return f"{DATABASES_DIR}/{cluster}.env"
