"""Real parts of releases: Debian's ``docker-registry`` (the distribution registry) on loopback with a
temporary configuration, and buildah's and skopeo's storage in a temporary folder (``vfs`` driver, through
``CONTAINERS_STORAGE_CONF``). Skipped, with the reason, only where a tool is not installed (``.ci/setup``
installs them). buildah runs as root here (CI's containers are root)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import patch_environment

TOOLS = ("buildah", "skopeo", "docker-registry")
MISSING = [tool for tool in TOOLS if shutil.which(tool) is None]
BUSYBOX = Path("/bin/busybox")  # busybox-static: one static binary, an image FROM scratch
CONTAINERFILE = """FROM scratch
COPY busybox /bin/busybox
COPY www /www
ENTRYPOINT ["/bin/busybox", "httpd", "-f", "-v", "-p", "8080", "-h", "/www"]
"""

pytestmark = pytest.mark.skipif(
    bool(MISSING) or os.geteuid() != 0, reason=f"needs root and {', '.join(MISSING) or 'root'} (bash .ci/setup)"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Registry:
    address: str  # host:port

    def tags(self, name: str) -> list[str]:
        try:
            with urllib.request.urlopen(f"http://{self.address}/v2/{name}/tags/list", timeout=10) as answer:
                return list(yaml.safe_load(answer.read()).get("tags") or [])
        except urllib.error.HTTPError:
            return []


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Debian's distribution registry on a free loopback port, its blobs in a temporary folder."""
    folder = tmp_path_factory.mktemp("registry")
    address = f"127.0.0.1:{free_port()}"
    config = {
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(folder / "blobs")}, "delete": {"enabled": True}},
        "http": {"addr": address},
    }
    (folder / "config.yml").write_text(yaml.safe_dump(config))
    log = (folder / "registry.log").open("w")
    process = subprocess.Popen(["docker-registry", "serve", str(folder / "config.yml")], stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://{address}/v2/", timeout=2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the registry did not start: {(folder / 'registry.log').read_text()}")
            time.sleep(0.1)
    yield Registry(address)
    process.terminate()
    process.wait(timeout=10)
    log.close()


@pytest.fixture(scope="session")
def storage_conf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A containers ``storage.conf`` keeping buildah's and skopeo's images in a temporary folder (vfs)."""
    folder = tmp_path_factory.mktemp("containers")
    path = folder / "storage.conf"
    path.write_text(f'[storage]\ndriver = "vfs"\ngraphroot = "{folder}/graph"\nrunroot = "{folder}/run"\n')
    return path


@pytest.fixture
def project(environments: Path, registry: Registry, storage_conf: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose devnet has a registry (the loopback one) and an ``api`` artifact built from
    ``images/api`` (busybox's httpd FROM scratch); returns the environments folder."""
    monkeypatch.setenv("CONTAINERS_STORAGE_CONF", str(storage_conf))
    context = environments.parent / "images" / "api"
    (context / "www").mkdir(parents=True)
    shutil.copy(BUSYBOX, context / "busybox")
    (context / "www" / "healthz").write_text("ok\n")
    (context / "Containerfile").write_text(CONTAINERFILE)
    patch_environment(
        environments,
        "devnet",
        {
            "registry": {"url": f"{registry.address}/example-org", "tls_verify": False},
            "services": {"api": {"artifact": {"context": "images/api", "ports": [8080]}}},
        },
    )
    return environments
