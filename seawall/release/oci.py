"""The OCI tools as data: buildah builds and pushes, skopeo copies and inspects (Debian's packages; no daemon).

Every command is a tuple made by a ``make_*_command`` function and run by ``seawall.runner``; the registry's
credentials reach the tools in an auth file (``REGISTRY_AUTH_FILE``, mode 0600, removed after), never on a
command line. Storage is the tools' own configuration: ``CONTAINERS_STORAGE_CONF`` names another
``storage.conf`` (the tests' one keeps everything in a temporary folder with the ``vfs`` driver).

What works where PID 1 is not systemd and there is no cgroup manager (a CI container): ``buildah bud
--isolation chroot`` (a ``RUN`` step needs no user namespace or runtime), and on a host ``podman`` with
``--cgroup-manager=cgroupfs --events-backend=file`` (``seawall.components._scripts.container_unit``).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from seawall.errors import SeawallError
from seawall.logs import register_secret
from seawall.model.schema import Registry
from seawall.runner import Command, Result, run

logger = logging.getLogger(__name__)
BUILD_TIMEOUT = 3600.0
PUSH_TIMEOUT = 1800.0
INSPECT_TIMEOUT = 120.0
# What the tools print when the registry is the problem, and what to tell the user (first match wins).
_REGISTRY_FAILURES = (
    ("connection refused", "cannot be reached (connection refused): start it, or check `registry.url`"),
    ("no such host", "cannot be found (no such host): check `registry.url`"),
    ("i/o timeout", "did not answer in time: check the network and `registry.url`"),
    ("unauthorized", "refused the credentials: check the variables `registry.username_env`/`password_env` name"),
    ("authentication required", "wants a login: set `registry.username_env` and `registry.password_env`"),
    ("denied", "refused access: the credentials may not push to this name"),
    ("manifest unknown", "does not hold that image (manifest unknown): check the name and the digest"),
    ("http response to https client", "speaks HTTP, not HTTPS: set `registry.tls_verify: false` for it"),
    ("certificate", "has a certificate that is not trusted: fix it, or for a test registry `tls_verify: false`"),
)


class ReleaseError(SeawallError):
    """A build, push or copy failed; nothing was recorded."""

    exit_code = 1


def make_build_command(context: str, containerfile: str, tag: str, iidfile: Path) -> Command:
    """Given a build context (a folder or git URL), its Containerfile, a tag and where to write the image id,
    return the ``buildah bud`` command."""
    argv = ("buildah", "bud", "--isolation", "chroot", "--file", containerfile, "--tag", tag, "--iidfile", str(iidfile))
    return Command((*argv, context), timeout=BUILD_TIMEOUT)


def make_push_command(tag: str, destination: str, digestfile: Path, tls_verify: bool) -> Command:
    """Given a built image's tag, the registry's name for it and where to write the pushed digest, return the
    ``buildah push`` command."""
    argv = ("buildah", "push", f"--tls-verify={str(tls_verify).lower()}", "--digestfile", str(digestfile), tag)
    return Command((*argv, f"docker://{destination}"), timeout=PUSH_TIMEOUT)


def make_copy_command(source: str, destination: str, digestfile: Path, source_tls: bool, tls_verify: bool) -> Command:
    """Given an upstream image by digest and the registry's name for it, return the ``skopeo copy`` that puts it
    there byte for byte (``--preserve-digests``: the digest the model pins is the digest the hosts run)."""
    argv = (
        "skopeo",
        "copy",
        "--preserve-digests",
        f"--src-tls-verify={str(source_tls).lower()}",
        f"--dest-tls-verify={str(tls_verify).lower()}",
        "--digestfile",
        str(digestfile),
    )
    return Command((*argv, f"docker://{source}", f"docker://{destination}"), timeout=PUSH_TIMEOUT)


def make_inspect_command(reference: str, tls_verify: bool) -> Command:
    """Given an image reference (by tag or digest), return the ``skopeo inspect`` that prints its digest."""
    argv = ("skopeo", "inspect", f"--tls-verify={str(tls_verify).lower()}", "--format", "{{.Digest}}")
    return Command((*argv, f"docker://{reference}"), timeout=INSPECT_TIMEOUT)


def make_version_command() -> Command:
    """Return the command that prints buildah's version (recorded as the builder's)."""
    return Command(("buildah", "--version"), timeout=INSPECT_TIMEOUT)


def registry_host(url: str) -> str:
    """Given ``registry.url`` (or an image name), return the registry's host and port."""
    return url.split("/", 1)[0]


def auth_file_text(registry: Registry, environ: Mapping[str, str]) -> str | None:
    """Given the registry and the process environment, return the auth file's JSON (None without a login);
    a login whose variables are not set is a ReleaseError that names them."""
    if registry.username_env is None and registry.password_env is None:
        return None
    names = [name for name in (registry.username_env, registry.password_env) if name]
    unset = [name for name in names if not environ.get(name)]
    if unset or len(names) < 2:
        msg = f"the registry's login needs {', '.join(unset) or 'both username_env and password_env'} set"
        raise ReleaseError(msg)
    user, password = environ[names[0]], environ[names[1]]
    register_secret(password)
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    register_secret(token)
    return json.dumps({"auths": {registry_host(registry.url): {"auth": token}}})


@contextmanager
def registry_login(registry: Registry, environ: Mapping[str, str] = os.environ) -> Iterator[dict[str, str]]:
    """Given the registry, yield the variables that log the tools in (``REGISTRY_AUTH_FILE`` of a 0600 file made
    for this command and removed after; nothing without a login)."""
    text = auth_file_text(registry, environ)
    if text is None:
        yield {}
        return
    with tempfile.TemporaryDirectory(prefix="seawall-registry-") as folder:
        path = Path(folder) / "auth.json"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(text)
        yield {"REGISTRY_AUTH_FILE": str(path)}


def run_tool(command: Command, login: Mapping[str, str], what: str, registry: str | None = None) -> Result:
    """Given a tool's command, the login variables and what it does (``push api 1.9.0``), run it; a failure is
    one ReleaseError: what failed and, when the registry is the cause, what to do."""
    result = run(Command(command.argv, env={**command.env, **login}, cwd=command.cwd, timeout=command.timeout))
    if result.ok:
        return result
    if result.timed_out:
        msg = f"{what} did not finish within {command.timeout:.0f}s"
        raise ReleaseError(msg)
    line = result.last_error_line()
    lowered = result.stderr.lower()
    for needle, advice in _REGISTRY_FAILURES:
        if registry is not None and needle in lowered:
            raise ReleaseError(f"{what} failed: the registry {registry} {advice} ({line})")
    raise ReleaseError(f"{what} failed: {line}")
