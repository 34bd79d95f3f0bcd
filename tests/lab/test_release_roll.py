"""Releases on the lab fleet (#35): a tiny image built FROM scratch (busybox-static's one static binary running
``httpd``) with real buildah by ``seawall release build``, pushed to Debian's ``docker-registry`` on the lab bridge
(the deployer's address, the stand-in for DigitalOcean's registry), rolled across two booted hosts by the
service's roll steps (podman, the unit by digest, the health path); then a release whose image does not answer
its health path stops after the first host, which goes back to its previous digest, and the second host never
leaves it.

Its own fleet (two hosts, ``app-1`` and ``app-2``): the lab's tests share one booted fleet per file. Only the
roll steps of the graph run (the hosts' other steps are test_fleet.py's): what this proves is the roll.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from seawall.hostfiles import CONTAINER_STEP
from seawall.model import load_environment
from seawall.model.schema import Environment
from seawall.releases import read_releases
from seawall.render import Graph, Program, render
from tests.conftest import patch_environment
from tests.lab import deploy
from tests.lab.executor import Applied, Executor
from tests.lab.fleet import DEPLOYER, LAB_WAIT_SECONDS, Lab, in_lab, lab_fleet

HOSTS = {"app-1": "10.213.1.11", "app-2": "10.213.1.13"}
REGISTRY = f"{DEPLOYER}:5000"
BUSYBOX = Path("/bin/busybox")
CONTAINERFILE = """FROM scratch
COPY busybox /bin/busybox
COPY www /www
ENTRYPOINT ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]
"""
HOST_STORAGE = (
    '[storage]\ndriver = "vfs"\nrunroot = "/run/containers/storage"\ngraphroot = "/var/lib/containers/storage"\n'
)
pytestmark = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in ("buildah", "skopeo", "docker-registry")) or not BUSYBOX.exists(),
    reason="needs buildah, skopeo, docker-registry and busybox-static (bash .ci/setup)",
)


class RollCloud(deploy.LabCloud):
    """The mock engine's answers with this file's two droplets at their lab addresses."""

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        identity, state = super(deploy.LabCloud, self).new_resource(args)
        if args.typ.endswith(":Droplet"):
            host = str(args.inputs.get("name", "")).removeprefix("lab-")
            state["ipv4Address"] = state["ipv4AddressPrivate"] = HOSTS.get(host, "10.213.1.99")
        return identity, state


@dataclass
class Rolled:
    lab: Lab
    environments: Path
    executor: Executor
    first: Applied
    again: Applied
    bad: Applied
    releases: dict[str, str]  # version → digest


def release(environments: Path, version: str, healthy: bool, storage: Path) -> str:
    """Build and push ``app`` at ``version`` with ``seawall release build`` from the deployer's place on the lab
    bridge; a release that is not healthy serves no /healthz. Return its digest."""
    context = environments.parent / "images" / "app"
    shutil.rmtree(context, ignore_errors=True)
    (context / "www").mkdir(parents=True)
    shutil.copy(BUSYBOX, context / "busybox")
    (context / "www" / ("healthz" if healthy else "index.html")).write_text("ok\n")
    (context / "Containerfile").write_text(CONTAINERFILE)
    argv = [sys.executable, "-m", "seawall", "--environments", str(environments), "release", "build", "app",
            "--version", version, "--environment", "lab"]  # fmt: skip
    environ = {**os.environ, "CONTAINERS_STORAGE_CONF": str(storage)}
    done = subprocess.run(in_lab(*argv), capture_output=True, text=True, env=environ, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    [entry] = [e for e in read_releases(environments.parent / "ledger") if e.version == version]
    return entry.digest


def roll_graph(environments: Path, lab: Lab, version: str) -> Graph:
    """Render the lab model at ``version`` with the release ledger; keep only the roll steps."""
    from seawall.stacks import program

    patch_environment(environments, "lab", {"services": {"app": {"version": version}}})
    env = load_environment(environments, "lab")
    releases = read_releases(environments.parent / "ledger")
    config = program.SECRET_CONFIG + program.VAULT_CONFIG
    graph = render(env, Program(lambda e: program.build(e, releases=releases), config), deploy.secrets(lab),
                   RollCloud())  # fmt: skip
    steps = {name: r for name, r in graph.resources.items() if f"-{CONTAINER_STEP}-" in name}
    dependencies = {name: [d for d in graph.dependencies.get(name, []) if d in steps] for name in steps}
    return Graph(graph.environment, steps, {}, dependencies)


def lab_model(folder: Path) -> tuple[Path, Environment]:
    """The lab's environments, with ``app`` on two droplets running its artifact from the lab's registry."""
    environments = deploy.environments_folder(folder)
    patch_environment(
        environments,
        "lab",
        {
            "registry": {"url": f"{REGISTRY}/lab", "tls_verify": False},
            "services": {
                "app": {
                    "count": 2,
                    "health": {"path": "/healthz", "port": 8080, "protocol": "http"},
                    "artifact": {"context": "images/app", "ports": [8080]},
                }
            },
        },
    )
    return environments, load_environment(environments, "lab")


@pytest.fixture(scope="module")
def rolled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rolled]:
    folder = tmp_path_factory.mktemp("roll")
    storage = folder / "storage.conf"
    storage.write_text(f'[storage]\ndriver = "vfs"\ngraphroot = "{folder}/graph"\nrunroot = "{folder}/run"\n')
    environments, _ = lab_model(folder)
    hosts = [(name, address, "root", None) for name, address in HOSTS.items()]
    # Another lab test file may hold the lab on the other worker (one lab at a time): wait for it to go down.
    with lab_fleet(folder / "fleet", hosts, wait=LAB_WAIT_SECONDS) as lab:
        for host in lab.hosts.values():
            # The lab's hosts have an overlay root, on which podman's overlay driver cannot stack (a droplet's
            # ext4 can): their containers' storage uses vfs, as this machine's does (a lab-only setting).
            lab.ssh(host, "mkdir -p /etc/containers && cat > /etc/containers/storage.conf", stdin=HOST_STORAGE)
        registry = start_registry(folder)
        try:
            digests = {"1.0.0": release(environments, "1.0.0", True, storage)}
            executor = Executor(folder / "state.json", folder / "steps")
            (folder / "steps").mkdir()
            first = executor.apply(roll_graph(environments, lab, "1.0.0"))
            again = executor.apply(roll_graph(environments, lab, "1.0.0"))
            digests["1.0.1"] = release(environments, "1.0.1", False, storage)
            bad = executor.apply(roll_graph(environments, lab, "1.0.1"))
            yield Rolled(lab, environments, executor, first, again, bad, digests)
        finally:
            registry.terminate()
            registry.wait(timeout=10)


def start_registry(folder: Path) -> subprocess.Popen:
    """Debian's distribution registry on the lab bridge, at the deployer's address (plain HTTP)."""
    config = {"version": 0.1, "log": {"level": "warn"}, "http": {"addr": REGISTRY},
              "storage": {"filesystem": {"rootdirectory": str(folder / "registry")}}}  # fmt: skip
    (folder / "registry.yml").write_text(yaml.safe_dump(config))
    log = (folder / "registry.log").open("w")
    process = subprocess.Popen(in_lab("docker-registry", "serve", str(folder / "registry.yml")), stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    probe = in_lab(sys.executable, "-c", f"import urllib.request; urllib.request.urlopen('http://{REGISTRY}/v2/')")
    for _ in range(100):
        if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
            return process
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"the lab's registry did not start: {(folder / 'registry.log').read_text()}")


def running_digest(rolled: Rolled, host: str) -> str:
    """The digest of the image the host's service container runs, as podman names it (``IMAGE@sha256:…``)."""
    found = rolled.lab.ssh(rolled.lab.hosts[host], "podman --cgroup-manager=cgroupfs --events-backend=file inspect "
                                                   "--format '{{.ImageName}}' seawall-app")  # fmt: skip
    return found.stdout.strip().rpartition("@")[2]


def health(rolled: Rolled, host: str) -> str:
    """What the host answers on its health path, asked from the deployer's place on the bridge."""
    url = f"http://{HOSTS[host]}:8080/healthz"
    code = f"import urllib.request; print(urllib.request.urlopen('{url}', timeout=5).read().decode().strip())"
    return subprocess.run(
        in_lab(sys.executable, "-c", code), capture_output=True, text=True, check=False
    ).stdout.strip()


def test_the_release_rolls_one_host_after_the_other_and_runs_by_digest(rolled: Rolled) -> None:
    rolled.first.raise_on_failure()
    assert rolled.first.ran == ["app-1-container-app", "app-2-container-app"]
    for host in HOSTS:
        assert running_digest(rolled, host) == rolled.releases["1.0.0"]
        assert health(rolled, host) == "ok"
        unit = rolled.lab.ssh(rolled.lab.hosts[host], "cat /etc/systemd/system/seawall-app-app.service").stdout
        assert f"{REGISTRY}/lab/app@{rolled.releases['1.0.0']}" in unit


def test_a_second_apply_changes_nothing(rolled: Rolled) -> None:
    assert rolled.again.ran == []


def test_a_release_that_fails_its_health_check_stops_after_the_first_host(rolled: Rolled) -> None:
    assert rolled.bad.ran == ["app-1-container-app"]
    [failed] = rolled.bad.failed
    assert "did not answer" in failed.output
    assert "the roll stops here" in failed.output
    assert rolled.releases["1.0.1"] != rolled.releases["1.0.0"]
    # The first host is back on its previous digest, the second never left it; both answer.
    for host in HOSTS:
        assert running_digest(rolled, host) == rolled.releases["1.0.0"]
        assert health(rolled, host) == "ok"
    ledger = [
        json.loads(line) for line in (rolled.environments.parent / "ledger/releases.jsonl").read_text().splitlines()
    ]
    assert [entry["version"] for entry in ledger] == ["1.0.0", "1.0.1"]
