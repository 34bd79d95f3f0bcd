"""`seawall drift ENV --cloud` through the CLI: the real client (pydo) against the stand-in of DigitalOcean's API
(tests/unit/digitalocean_api.py, on 127.0.0.1: the API itself cannot be reached from here), serving the
recorded cases of tests/fixtures/clouddrift/; every host's own check is clean, so the exit code is the cloud's."""

from __future__ import annotations

import functools
import json
import logging
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from seawall.clouddrift import SCOPE
from tests.conftest import SHIPPED, patch_environment
from tests.unit.digitalocean_api import FIXTURES, TOKEN, running

pytestmark = pytest.mark.render  # compares against devnet's graph, rendered under the mock engine

CASES = sorted(path.name for path in FIXTURES.iterdir() if (path / "expected.json").is_file())


@functools.cache
def _deployed_graph() -> str:
    from seawall.model import load_environment
    from seawall.render import render
    from seawall.stacks.program import OFFLINE

    return render(load_environment(SHIPPED, "devnet"), OFFLINE).to_json()


def report_clean_checks(environments: Path, graph: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Let every host of the graph run its own check (`seawall host verify`) and find what the deploy placed:
    only what it observes of the host is given (this machine is not the host)."""
    from seawall.backup.actions import drift as host_drift
    from seawall.drift import deployed_manifests
    from seawall.manifest import Observation, Seen, recorded_facts
    from seawall.model import load_environment

    env = load_environment(environments, "devnet")
    root = environments.parent
    for host, manifest in deployed_manifests(json.loads(graph.read_text())).items():
        seen = {f.path: Seen(f.path, f.sha256 or "0" * 64, f.mode, f.owner) for f in manifest.files}
        units = dict.fromkeys(manifest.units, "enabled")
        observation = Observation(seen, list(seen), units, "ruleset" if manifest.firewall else None, "wheel")
        monkeypatch.setattr(host_drift, "observe", lambda _manifest, seen=observation: seen)
        paths = host_drift.Paths(root / host / "manifest.json", root / host / "recorded.json", root / host / "q")
        paths.manifest.parent.mkdir()
        paths.manifest.write_text(manifest.to_text())
        paths.recorded.write_text(json.dumps(recorded_facts(manifest, observation)))
        assert host_drift.verify(env, host, root, paths)["drift"] == []


@pytest.fixture(autouse=True)
def _logging_as_before() -> Iterator[None]:
    """A command run with -vv leaves the root logger at DEBUG with a handler on this test's captured stderr:
    take both away, so that the next test's set-up logs nothing into a closed stream."""
    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_seawall", False)]:
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)


@pytest.fixture
def deployed(environments: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """devnet deployed (its graph in a file), its state and metrics in this test's folder, every host checked
    clean, the stand-in's token set; return the graph's path."""
    state = {"state_dir": str(tmp_path / "state"), "metrics_dir": str(tmp_path / "metrics")}
    patch_environment(environments, "devnet", {"backup": state})
    graph = tmp_path / "devnet.deployed.json"
    graph.write_text(_deployed_graph())
    report_clean_checks(environments, graph, monkeypatch)
    monkeypatch.setenv("DIGITALOCEAN_TOKEN", TOKEN)
    monkeypatch.delenv("SEAWALL_DIGITALOCEAN_ENDPOINT", raising=False)
    return graph


def drift(cli, environments: Path, graph: Path, *options: str):
    return cli("--environments", environments, "drift", "devnet", "--graph", graph, *options)


def test_without_cloud_the_clean_fleet_passes_and_nothing_asks_digitalocean(cli, environments, deployed) -> None:
    with running("matching") as api:
        result = drift(cli, environments, deployed, "--format", "json")
    assert result.code == 0, result.err
    assert "cloud" not in json.loads(result.out)
    assert api.requests == []


@pytest.mark.parametrize("case", CASES)
def test_each_recorded_case_through_the_real_client(cli, environments, deployed, monkeypatch, case: str) -> None:
    expected = json.loads((FIXTURES / case / "expected.json").read_text())
    with running(case) as api:
        monkeypatch.setenv("SEAWALL_DIGITALOCEAN_ENDPOINT", api.endpoint)
        result = drift(cli, environments, deployed, "--cloud", "--format", "json")
    assert result.code == expected["exit"], result.err
    cloud = json.loads(result.out)["cloud"]
    assert [[d[k] for k in ("kind", "resource", "field", "deployed", "found")] for d in cloud["differences"]] == (
        expected["differences"]
    )
    assert cloud["scope"] == SCOPE
    assert set(expected.get("noted", [])) <= set(cloud["not_compared"])
    droplets = [query for path, query in api.requests if path == "/v2/droplets"]
    assert droplets[0] == {"page": ["1"], "per_page": ["200"], "tag_name": ["env:devnet"]}


def test_two_pages_of_droplets_are_both_read(cli, environments, deployed, monkeypatch) -> None:
    with running("two-pages") as api:
        monkeypatch.setenv("SEAWALL_DIGITALOCEAN_ENDPOINT", api.endpoint)
        result = drift(cli, environments, deployed, "--cloud", "--format", "json")
    assert result.code == 0, result.err
    assert api.paths() == [
        "/v2/droplets?page=1",
        "/v2/droplets?page=2",
        "/v2/firewalls?page=1",
        "/v2/volumes?page=1",
        "/v2/vpcs?page=1",
        "/v2/domains/devnet.example.net/records?page=1",
        "/v2/load_balancers?page=1",
        "/v2/reserved_ips?page=1",
        "/v2/databases?page=1",  # one answer, no pages (pydo's page parameter only)
        "/v2/databases/9cc10173-e9ea-4176-9dbc-a4cee4c4ff30/firewall?page=1",
    ]


@pytest.mark.parametrize("output", ["table", "markdown"])
def test_every_format_says_what_it_covers_and_what_it_did_not_compare(
    cli, environments, deployed, monkeypatch, output: str
) -> None:
    with running("miscounted-volumes") as api:
        monkeypatch.setenv("SEAWALL_DIGITALOCEAN_ENDPOINT", api.endpoint)
        result = drift(cli, environments, deployed, "--cloud", "--format", output)
    assert result.code == 0, result.err
    assert "DigitalOcean matches the deployed graph" in result.out
    assert SCOPE in " ".join(result.out.split())  # the table wraps it at the console's width
    assert "Not compared:" in result.out
    assert "volumes: DigitalOcean counted 5 but listed 4 (changed while listed?)" in result.out


def test_a_difference_is_a_row_of_the_table(cli, environments, deployed, monkeypatch) -> None:
    with running("resized-droplet") as api:
        monkeypatch.setenv("SEAWALL_DIGITALOCEAN_ENDPOINT", api.endpoint)
        result = drift(cli, environments, deployed, "--cloud")
    assert result.code == 1
    (row,) = [line for line in result.out.splitlines() if "devnet-db-1" in line]
    assert [cell.strip() for cell in row.strip("│ ").split("│")] == [
        "droplet devnet-db-1",
        "size",
        "s-2vcpu-4gb",
        "s-4vcpu-8gb",
    ]


def test_a_refused_token_is_one_line_without_the_token(cli, environments, deployed, monkeypatch) -> None:
    monkeypatch.setenv("DIGITALOCEAN_TOKEN", "dop_v1_revoked_0123456789")
    with running("matching") as api:
        monkeypatch.setenv("SEAWALL_DIGITALOCEAN_ENDPOINT", api.endpoint)
        result = drift(cli, environments, deployed, "--cloud", "-vv")
    assert result.code == 2
    assert result.out == ""
    (error,) = [line for line in result.err.splitlines() if "error:" in line]
    assert error == (
        "seawall: error: DigitalOcean refused the token in DIGITALOCEAN_TOKEN (401 Unauthorized: Unable to "
        "authenticate you): export a valid token (read-only will do)"
    )
    assert "Traceback" not in result.err
    assert "dop_v1_revoked_0123456789" not in result.err  # not even in -vv's debug lines
    assert len(api.requests) == 1  # the first refusal ends it


def test_an_api_that_is_down_is_one_clear_line(cli, environments, deployed, monkeypatch) -> None:
    with socket.socket() as closed:  # a port of this machine where nothing listens
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("SEAWALL_DIGITALOCEAN_ENDPOINT", f"http://127.0.0.1:{port}")
    result = drift(cli, environments, deployed, "--cloud")
    assert result.code == 2
    (error,) = result.err.splitlines()
    assert error.startswith(f"seawall: error: cannot reach DigitalOcean's API at http://127.0.0.1:{port} (")
    assert error.endswith("); check the network and SEAWALL_DIGITALOCEAN_ENDPOINT")
    assert "Connection refused" in error


def test_no_token_says_what_to_set_before_anything_is_read(cli, environments, deployed, monkeypatch) -> None:
    monkeypatch.delenv("DIGITALOCEAN_TOKEN")
    with running("matching") as api:
        monkeypatch.setenv("SEAWALL_DIGITALOCEAN_ENDPOINT", api.endpoint)
        result = drift(cli, environments, deployed, "--cloud")
    assert result.code == 2
    assert result.out == ""
    assert result.err.startswith("seawall: error: --cloud reads DigitalOcean's API with a token in DIGITALOCEAN_TOKEN")
    assert len(result.err.splitlines()) == 1
    assert api.requests == []


def test_without_pydo_it_says_how_to_install_it(cli, environments, deployed, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pydo", None)
    result = drift(cli, environments, deployed, "--cloud")
    assert result.code == 2
    assert result.err.strip() == (
        "seawall: error: --cloud needs DigitalOcean's Python client pydo, which is not installed: pip install "
        "'seawall[cloud]' (or pip install 'pydo>=0.44,<1') into Seawall's environment"
    )
