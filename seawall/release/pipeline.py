"""One release of one service: its stages in order, then one line in the release ledger.

A built artifact goes build → push → verify; an upstream one (pinned by digest) copy → verify. Each stage is
a function from the job to the job with what it learnt (the local tag, the pushed digest); a stage that fails
raises, and then nothing is recorded. Another stage is one more row: ThreeFold's hub converts an OCI image in
a registry to a flist, so a ``("flist", convert_to_flist)`` row after ``verify`` would take the job's
``reference`` and add the flist's address to its ``outputs`` (the ledger line keeps them).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from seawall.errors import UsageError
from seawall.files import resolve
from seawall.ledger import now_iso
from seawall.model.schema import Artifact, Environment, Registry
from seawall.release.oci import (
    ReleaseError,
    make_build_command,
    make_copy_command,
    make_inspect_command,
    make_push_command,
    registry_host,
    registry_login,
    run_tool,
)
from seawall.releases import ReleaseEntry, append_release, read_releases, releases_of

logger = logging.getLogger(__name__)
GIT_PREFIXES = ("https://", "http://", "git://", "git@", "ssh://")


@dataclass(frozen=True)
class ReleaseJob:
    """What one release knows: the service's artifact and version, where it goes, and what the stages found."""

    service: str
    version: str
    artifact: Artifact
    registry: Registry
    project_root: Path
    scratch: Path
    login: dict[str, str]
    tag: str = ""
    digest: str = ""
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def image(self) -> str:
        """Return the registry's name of the image (``registry.url/name``)."""
        return f"{self.registry.url}/{self.artifact.name or self.service}"

    @property
    def destination(self) -> str:
        """Return the image's name with the version as its tag."""
        return f"{self.image}:{self.version}"

    @property
    def what(self) -> str:
        """Return the release as messages name it."""
        return f"{self.service} {self.version}"


Stage = Callable[[ReleaseJob], ReleaseJob]


def build_image(job: ReleaseJob) -> ReleaseJob:
    """Build the context's Containerfile with buildah; return the job with the local tag and the build inputs."""
    context, containerfile, inputs = build_inputs(job.artifact, job.project_root)
    tag = f"localhost/seawall/{job.service}:{job.version}"
    run_tool(make_build_command(context, containerfile, tag, job.scratch / "iid"), {}, f"building {job.what}")
    image_id = (job.scratch / "iid").read_text().strip()
    return dataclasses.replace(job, tag=tag, inputs={**inputs, "image_id": image_id})


def push_image(job: ReleaseJob) -> ReleaseJob:
    """Push the built image to the registry; return the job with the digest the push wrote."""
    digestfile = job.scratch / "digest"
    command = make_push_command(job.tag, job.destination, digestfile, job.registry.tls_verify)
    run_tool(command, job.login, f"pushing {job.what} to {job.destination}", registry_host(job.registry.url))
    return dataclasses.replace(job, digest=digestfile.read_text().strip())


def copy_upstream(job: ReleaseJob) -> ReleaseJob:
    """Copy the pinned upstream image into the registry byte for byte; return the job with its digest."""
    upstream = job.artifact.upstream or ""
    digestfile = job.scratch / "digest"
    # An upstream on the team's own registry is reached as the registry is; any other one over verified HTTPS.
    same = registry_host(upstream) == registry_host(job.registry.url)
    source_tls = job.registry.tls_verify if same else True
    command = make_copy_command(upstream, job.destination, digestfile, source_tls, job.registry.tls_verify)
    run_tool(command, job.login, f"copying {upstream} to {job.destination}", registry_host(upstream))
    digest = digestfile.read_text().strip()
    pinned = upstream.rsplit("@", 1)[1]
    if digest != pinned:
        msg = f"copying {upstream} gave {digest}, not the pinned digest: nothing was recorded"
        raise ReleaseError(msg)
    return dataclasses.replace(job, digest=digest, inputs={"upstream": upstream})


def verify_in_registry(job: ReleaseJob) -> ReleaseJob:
    """Ask the registry what the version's tag names now; refuse unless it is the digest just pushed."""
    command = make_inspect_command(job.destination, job.registry.tls_verify)
    result = run_tool(command, job.login, f"checking {job.destination}", registry_host(job.registry.url))
    held = result.stdout.strip()
    if held != job.digest:
        msg = f"the registry holds {held or 'nothing'} for {job.destination}, not the pushed {job.digest}"
        raise ReleaseError(msg)
    return job


BUILD_STAGES: tuple[tuple[str, Stage], ...] = (
    ("build", build_image),
    ("push", push_image),
    ("verify", verify_in_registry),
)
UPSTREAM_STAGES: tuple[tuple[str, Stage], ...] = (("copy", copy_upstream), ("verify", verify_in_registry))


def build_inputs(artifact: Artifact, project_root: Path) -> tuple[str, str, dict[str, str]]:
    """Given a built artifact, return the context and Containerfile buildah gets and the inputs to record; a
    folder without its Containerfile is a UsageError that names both."""
    context = artifact.context or ""
    if context.startswith(GIT_PREFIXES):
        return context, artifact.containerfile, {"context": context, "containerfile": artifact.containerfile}
    folder = resolve(project_root, context)
    containerfile = folder / artifact.containerfile
    if not folder.is_dir():
        msg = f"the build context {folder} is not a folder: create it, or fix the artifact's `context`"
        raise UsageError(msg)
    if not containerfile.is_file():
        msg = f"no {artifact.containerfile} in the build context {folder}: add it, or name it in `containerfile`"
        raise UsageError(msg)
    inputs = {"context": context, "containerfile": artifact.containerfile, "context_sha256": folder_hash(folder)}
    return str(folder), str(containerfile), inputs


def folder_hash(folder: Path) -> str:
    """Given a folder, return a SHA-256 over its files' relative paths and contents (in sorted order)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def artifact_of(env: Environment, service: str) -> tuple[Artifact, Registry]:
    """Given an environment and a service's name, return its artifact and the registry; a service without an
    artifact, or a model without a registry, is a UsageError that says what to add."""
    known = sorted(name for name, svc in env.services.items() if svc.artifact is not None)
    found = env.services.get(service)
    if found is None or found.artifact is None:
        msg = f"{service!r} is no service with an artifact in {env.name} (those with one: {', '.join(known) or 'none'})"
        raise UsageError(msg)
    if env.registry is None:
        msg = f"{env.name} names no registry: add `registry: {{url: …}}` for the images to be pushed to"
        raise UsageError(msg)
    return found.artifact, env.registry


def release_service(
    env: Environment,
    service: str,
    version: str,
    ledger_dir: Path,
    project_root: Path,
    builder: dict[str, str],
    dry_run: bool = False,
) -> ReleaseEntry | None:
    """Given a service and the version to release, run its stages and record the release; return the entry
    (None on a dry run). A version already released is refused before anything is built."""
    artifact, registry = artifact_of(env, service)
    earlier = releases_of(read_releases(ledger_dir), service, version)
    if earlier:
        msg = (
            f"{service} {version} is already released as {earlier[0].digest}: a version names one image, so "
            "release the change under a new --version"
        )
        raise UsageError(msg)
    stages = BUILD_STAGES if artifact.context is not None else UPSTREAM_STAGES
    names = " → ".join(name for name, _ in stages)
    if dry_run:
        logger.info("dry run: would release %s %s (%s) to %s; nothing done", service, version, names, registry.url)
        return None
    logger.info("releasing %s %s: %s", service, version, names)
    with tempfile.TemporaryDirectory(prefix="seawall-release-") as scratch, registry_login(registry) as login:
        job = ReleaseJob(service, version, artifact, registry, project_root, Path(scratch), login)
        for name, stage in stages:
            logger.debug("stage %s of %s", name, job.what)
            job = stage(job)
    entry = ReleaseEntry(
        time=now_iso(dt.datetime.now(dt.UTC)),
        service=service,
        version=version,
        image=job.image,
        digest=job.digest,
        source="build" if artifact.context is not None else "upstream",
        inputs={**job.inputs, **job.outputs},
        builder={**builder, "host": socket.gethostname()},
    )
    append_release(ledger_dir, entry)
    return entry
