"""The services' images on their hosts (#35): the unit runs the image by digest with podman and passes
systemd-analyze; the roll step pulls first, keeps the unit it replaces, waits for the health path and puts the
previous unit back when it does not answer; in a render, each droplet's roll step waits for the one before
(the booted hosts of tests/lab/test_release_roll.py run the same steps)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from seawall.components._scripts import CONTAINERS_CONF, Container, container_script, container_unit
from seawall.hostfiles import ROLLBACK_DIR, installed_files
from seawall.model import load_environment
from seawall.releases import ReleaseEntry
from tests.conftest import patch_environment

DIGEST = "sha256:" + "c" * 64
REFERENCE = f"10.213.0.1:5000/team/api@{DIGEST}"
CONTAINER = Container(
    "api", REFERENCE, (8080,), ("/var/lib/api", "/data"), "/etc/seawall/containers/api.env",
    "http://127.0.0.1:8080/healthz", tls_verify=False,
)  # fmt: skip


def test_the_unit_runs_the_image_by_digest_on_the_hosts_network_and_never_pulls_at_boot() -> None:
    unit = container_unit(CONTAINER)
    assert unit.path == "/etc/systemd/system/seawall-app-api.service"
    [start] = [line for line in unit.content.splitlines() if line.startswith("ExecStart=")]
    assert start.startswith("ExecStart=/usr/bin/podman --cgroup-manager=cgroupfs --events-backend=file run ")
    assert start.endswith(f" {REFERENCE}")
    for option in ("--network host", "--pull never", "--env-file /etc/seawall/containers/api.env",
                   "--volume /var/lib/api:/data", "--name seawall-api", "--replace"):  # fmt: skip
        assert option in start


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    unit = container_unit(CONTAINER)
    path = tmp_path / Path(unit.path).name
    path.write_text(unit.content)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(path)], capture_output=True, text=True, check=False
    )
    problems = [line for line in result.stderr.splitlines() if path.name in line and "podman" not in line]
    assert problems == [], result.stderr


def test_the_roll_step_pulls_before_it_stops_anything_and_rolls_back_when_health_fails() -> None:
    script = container_script(CONTAINER, tries=3)
    unit = container_unit(CONTAINER)
    assert installed_files(script) == {
        unit.path: unit.content.rstrip("\n"),
        CONTAINERS_CONF.path: CONTAINERS_CONF.content.rstrip("\n"),
    }
    pull = script.index(f"pull --quiet --tls-verify=false {REFERENCE}")
    assert pull < script.index("systemctl restart seawall-app-api.service")
    assert script.index(f"cp -p /etc/systemd/system/seawall-app-api.service {ROLLBACK_DIR}/") < script.index("cat > ")
    assert "http://127.0.0.1:8080/healthz" in script
    assert '[ "$tries" -ge 3 ]' in script
    rollback = script[script.index('[ "$tries" -ge 3 ]') :]
    assert f"mv {ROLLBACK_DIR}/seawall-app-api.service /etc/systemd/system/seawall-app-api.service" in rollback
    assert rollback.index("exit 1") < rollback.index("done")
    assert script.rstrip().endswith(f"rm -f {ROLLBACK_DIR}/seawall-app-api.service")


def test_without_a_health_path_the_step_does_not_wait() -> None:
    script = container_script(Container("worker", REFERENCE))
    assert "until python3" not in script
    assert "--env-file" not in container_unit(Container("worker", REFERENCE)).content


@pytest.mark.render
def test_each_droplet_takes_the_image_after_the_one_before_by_its_digest(environments: Path) -> None:
    from seawall.render import Program, render
    from seawall.stacks import program

    patch_environment(
        environments,
        "devnet",
        {
            "registry": {"url": "10.213.0.1:5000/team", "tls_verify": False},
            "services": {"api": {"count": 3, "artifact": {"context": "images/api", "ports": [8080]}}},
        },
    )
    env = load_environment(environments, "devnet")
    release = ReleaseEntry("2026-12-01T00:00:00+00:00", "api", env.services["api"].version, "10.213.0.1:5000/team/api",
                           DIGEST, "build")  # fmt: skip
    graph = render(
        env, Program(lambda e: program.build(e, releases=[release]), program.SECRET_CONFIG + program.VAULT_CONFIG)
    )
    data = json.loads(graph.to_json())
    steps = {r["name"]: r for r in data["resources"] if r["name"].endswith("-container-api")}
    assert sorted(steps) == ["api-1-container-api", "api-2-container-api", "api-3-container-api"]
    assert f"10.213.0.1:5000/team/api@{DIGEST}" in json.dumps(steps["api-1-container-api"])
    dependencies = data["dependencies"]
    assert "api-1-container-api" in dependencies["api-2-container-api"]
    assert "api-2-container-api" in dependencies["api-3-container-api"]
    assert "api-2-container-api" not in dependencies["api-1-container-api"]
    assert not any(name.endswith("-container-api") for name in dependencies.get("db-1-install", []))


@pytest.mark.render
def test_a_data_center_host_takes_a_services_image_after_its_last_droplet(environments: Path) -> None:
    from seawall.render import Program, render
    from seawall.stacks import program

    patch_environment(
        environments,
        "devnet",
        {
            "registry": {"url": "10.213.0.1:5000/team", "tls_verify": False},
            "services": {"api": {"count": 2, "artifact": {"context": "images/api", "ports": [8080]}}},
            "datacenter_hosts": {"dc-build-1": {"containers": ["api"]}},
        },
    )
    env = load_environment(environments, "devnet")
    release = ReleaseEntry("2026-12-01T00:00:00+00:00", "api", env.services["api"].version, "10.213.0.1:5000/team/api",
                           DIGEST, "build")  # fmt: skip
    graph = render(
        env, Program(lambda e: program.build(e, releases=[release]), program.SECRET_CONFIG + program.VAULT_CONFIG)
    )
    data = json.loads(graph.to_json())
    steps = {r["name"]: r for r in data["resources"] if r["name"].endswith("-container-api")}
    assert sorted(steps) == ["api-1-container-api", "api-2-container-api", "dc-build-1-container-api"]
    on_host = json.dumps(steps["dc-build-1-container-api"])
    assert f"10.213.0.1:5000/team/api@{DIGEST}" in on_host
    assert "sudo -n" in on_host, "a data-center host's SSH user is not root: the step runs through sudo"
    dependencies = data["dependencies"]
    assert "api-2-container-api" in dependencies["dc-build-1-container-api"]
    assert "dc-build-1-container-api" not in dependencies["api-2-container-api"]


def test_an_artifact_needs_a_registry_and_a_data_center_host_runs_only_images_there_are(environments: Path) -> None:
    from seawall.errors import ConfigError

    patch_environment(
        environments,
        "devnet",
        {
            "services": {"api": {"artifact": {"context": "images/api", "ports": [8080]}}},
            "datacenter_hosts": {"dc-build-1": {"containers": ["db"]}},
        },
    )
    with pytest.raises(ConfigError) as raised:
        load_environment(environments, "devnet")
    problems = "\n".join(raised.value.problems)
    assert "services.api.artifact: its image needs the environment's registry" in problems
    assert (
        "datacenter_hosts.dc-build-1.containers.0: 'db' is not a service with an artifact (services with one: api)"
        in problems
    )
