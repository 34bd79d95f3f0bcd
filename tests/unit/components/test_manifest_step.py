"""Every host's last step is its manifest, and the manifest is exactly what the host's other steps place:
each file any step writes (read back from the step's own script), with its hash and mode, each secret file
by path, each unit enabled. Rendered under Pulumi's mock engine for every shipped environment."""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from pathlib import Path

import pytest

from seawall.drift import deployed_manifests
from seawall.hostfiles import MANIFEST_STEP, installed_files, step_name
from seawall.model import load_environment
from seawall.render import Graph, render
from seawall.stacks.program import OFFLINE

ENVIRONMENTS = Path(__file__).resolve().parents[3] / "environments"
pytestmark = pytest.mark.render  # renders under the mock engine


@cache
def graph(name: str) -> Graph:
    return render(load_environment(ENVIRONMENTS, name), OFFLINE)


def host_steps(g: Graph, host: str) -> dict[str, dict]:
    return {
        name: record.inputs
        for name, record in g.resources.items()
        if record.type.startswith("command:remote:")
        and name.startswith(f"{host}-")
        and name != step_name(host, MANIFEST_STEP)
    }


@pytest.mark.parametrize("env_name", ["devnet", "testnet", "mainnet"])
def test_the_manifest_lists_every_file_each_step_writes_with_its_hash_and_comes_last(env_name: str) -> None:
    g = graph(env_name)
    manifests = deployed_manifests(json.loads(g.to_json()))
    assert manifests
    for host, manifest in manifests.items():
        steps = host_steps(g, host)
        written: dict[str, str] = {}
        for inputs in steps.values():
            written.update(installed_files(str(inputs.get("create", ""))))
        placed = {f.path: f for f in manifest.files}
        for path, content in written.items():
            assert placed[path].sha256 == hashlib.sha256((content + "\n").encode()).hexdigest(), (host, path)
        # Secret files arrive on a step's stdin: the manifest names each (hash left to the host).
        secret_paths = {
            match.group(1)
            for inputs in steps.values()
            if inputs.get("stdin") is not None
            for match in re.finditer(r"cat > (\S+?)(?:\.new)?(?=[;\s])", str(inputs.get("create", "")))
        }
        assert secret_paths == {f.path for f in manifest.files if f.secret}, host
        assert set(placed) == set(written) | secret_paths, host
        # Last: the engine runs it after every other step of the host.
        after = set(g.dependencies.get(step_name(host, MANIFEST_STEP), []))
        assert set(steps) <= after, host
        assert manifest.host == host
        assert manifest.environment == env_name
        assert f"{step_name(host, 'backup-units')}" in steps
        assert "seawall-host-verify.timer" in manifest.units


def test_a_changed_file_changes_only_the_manifests_of_the_hosts_that_hold_it() -> None:
    from seawall.model.schema import Environment

    env = load_environment(ENVIRONMENTS, "devnet")
    before = deployed_manifests(json.loads(graph("devnet").to_json()))
    data = env.model_dump(mode="json", by_alias=True)
    data["drift"]["schedule"] = "*-*-* *:30:00"
    after = deployed_manifests(json.loads(render(Environment.model_validate(data), OFFLINE).to_json()))
    assert all(before[h].digest != after[h].digest for h in before)  # every host has the verify timer
    host = "dc-build-1"
    data = env.model_dump(mode="json", by_alias=True)
    data["datacenter_hosts"][host]["firewall"][0]["port"] = 2222
    again = deployed_manifests(json.loads(render(Environment.model_validate(data), OFFLINE).to_json()))
    assert {h for h in before if before[h].digest != again[h].digest} == {host}
