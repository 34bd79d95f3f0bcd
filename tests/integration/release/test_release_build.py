"""``seawall release build`` with real buildah and skopeo against a real registry on loopback: what it records is
what the registry holds, and bad input (a missing Containerfile, a registry that is down, a digest that does
not exist, a version already released) gives one line and records nothing."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from seawall.releases import read_releases
from tests.conftest import Result, patch_environment
from tests.integration.release.conftest import Registry, free_port


def registry_digest(reference: str) -> str:
    """Ask the registry itself (skopeo, outside Seawall) which digest a reference names."""
    found = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}", f"docker://{reference}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return found.stdout.strip()


def releases(project: Path) -> list:
    return read_releases(project.parent / "ledger")


def test_a_build_is_pushed_and_recorded_by_the_digest_the_registry_holds(
    project: Path, registry: Registry, cli: Callable[..., Result]
) -> None:
    result = cli("--environments", project, "release", "build", "api", "--version", "1.9.0")
    assert result.code == 0, result.err
    [entry] = releases(project)
    assert (entry.service, entry.version, entry.source) == ("api", "1.9.0", "build")
    assert entry.image == f"{registry.address}/example-org/api"
    assert entry.digest == registry_digest(f"{registry.address}/example-org/api:1.9.0")
    assert entry.digest == registry_digest(entry.reference)
    assert entry.inputs["context"] == "images/api"
    assert len(entry.inputs["context_sha256"]) == 64
    assert entry.builder["host"]
    assert entry.reference in result.out
    listed = cli("--environments", project, "release", "list", "api", "--format", "json")
    assert [row["digest"] for row in json.loads(listed.out)] == [entry.digest]


def test_the_same_version_is_never_released_twice(project: Path, cli: Callable[..., Result]) -> None:
    assert cli("--environments", project, "release", "build", "api", "--version", "2.0.0").code == 0
    again = cli("--environments", project, "release", "build", "api", "--version", "2.0.0")
    assert again.code == 2
    assert "already released" in again.err
    assert len(again.err.strip().splitlines()) == 1
    assert len(releases(project)) == 1


def test_a_missing_containerfile_is_one_line_and_nothing_is_recorded(project: Path, cli: Callable[..., Result]) -> None:
    (project.parent / "images" / "api" / "Containerfile").unlink()
    result = cli("--environments", project, "release", "build", "api", "--version", "1.9.1")
    assert result.code == 2
    assert "no Containerfile in the build context" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert releases(project) == []


def test_a_registry_that_is_down_is_named_and_nothing_is_recorded(project: Path, cli: Callable[..., Result]) -> None:
    patch_environment(project, "devnet", {"registry": {"url": f"127.0.0.1:{free_port()}/example-org"}})
    result = cli("--environments", project, "release", "build", "api", "--version", "1.9.2")
    assert result.code == 1
    assert "cannot be reached (connection refused)" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert "Traceback" not in result.err
    assert releases(project) == []


def test_a_failing_build_is_one_line_and_nothing_is_recorded(project: Path, cli: Callable[..., Result]) -> None:
    containerfile = project.parent / "images" / "api" / "Containerfile"
    containerfile.write_text("FROM scratch\nCOPY not-there /x\n")
    result = cli("--environments", project, "release", "build", "api", "--version", "1.9.3")
    assert result.code == 1
    assert result.err.startswith("seawall: error: building api 1.9.3 failed:")
    assert "not-there" in result.err
    assert releases(project) == []


def test_an_upstream_image_is_copied_byte_for_byte_under_its_pinned_digest(
    project: Path, registry: Registry, cli: Callable[..., Result]
) -> None:
    assert cli("--environments", project, "release", "build", "api", "--version", "3.0.0").code == 0
    [built] = releases(project)
    upstream = f"{registry.address}/upstream/busybox@{built.digest}"
    subprocess.run(
        ["skopeo", "copy", "--preserve-digests", "--src-tls-verify=false", "--dest-tls-verify=false",
         f"docker://{built.reference}", f"docker://{registry.address}/upstream/busybox:1"],
        check=True, capture_output=True,
    )  # fmt: skip
    patch_environment(project, "devnet", {"services": {"db": {"artifact": {"upstream": upstream}}}})
    result = cli("--environments", project, "release", "build", "db", "--version", "16.4.0")
    assert result.code == 0, result.err
    entry = releases(project)[-1]
    assert (entry.service, entry.source, entry.digest) == ("db", "upstream", built.digest)
    assert registry_digest(f"{registry.address}/example-org/db:16.4.0") == built.digest
    assert entry.inputs == {"upstream": upstream}


def test_an_upstream_digest_that_does_not_exist_is_one_line_and_nothing_is_recorded(
    project: Path, registry: Registry, cli: Callable[..., Result]
) -> None:
    upstream = f"{registry.address}/upstream/busybox@sha256:{'0' * 64}"
    patch_environment(project, "devnet", {"services": {"db": {"artifact": {"upstream": upstream}}}})
    result = cli("--environments", project, "release", "build", "db", "--version", "16.4.1")
    assert result.code == 1
    assert "does not hold that image (manifest unknown)" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert releases(project) == []
    assert "16.4.1" not in registry.tags("example-org/db")
