"""`seawall host verify` writes a host's result; `seawall drift` reads what it wrote (the writer's own state,
never hand-made JSON) beside the deployed graph, and says per host what is wrong."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from seawall.backup.actions.drift import DRIFT_STATE, Paths, record, verify
from seawall.drift import deployed_manifests
from seawall.hostfiles import MANIFEST_FILE, RenderedFile, file_lines
from seawall.manifest import build_manifest
from seawall.model import load_environment
from tests.conftest import patch_environment

pytestmark = pytest.mark.render  # renders devnet under the mock engine


@pytest.fixture
def project(environments: Path, tmp_path: Path, cli) -> tuple[Path, Path]:
    """devnet with its state and metrics in the test's folder, and its deployed graph."""
    patch_environment(
        environments,
        "devnet",
        {"backup": {"state_dir": str(tmp_path / "state"), "metrics_dir": str(tmp_path / "metrics")}},
    )
    graph = tmp_path / "ledger" / "devnet.deployed.json"
    graph.parent.mkdir()
    result = cli("--environments", environments, "preview", "devnet", "--format", "json")
    assert result.code == 0, result.err
    graph.write_text(result.out)
    return environments, graph


def host_paths(tmp_path: Path, graph: Path, host: str) -> Paths:
    """The host's manifest as the deploy wrote it (the graph's own step), in a folder of the test."""
    manifest = deployed_manifests(json.loads(graph.read_text()))[host]
    folder = tmp_path / host
    folder.mkdir()
    (folder / "manifest.json").write_text(manifest.to_text())
    return Paths(folder / "manifest.json", folder / "recorded.json", folder / "quarantine")


def test_a_host_that_checked_and_drifted_is_listed_with_what_differs(project, tmp_path: Path, cli) -> None:
    environments, graph = project
    env = load_environment(environments, "devnet")
    paths = host_paths(tmp_path, graph, "api-1")
    record(paths)
    result = verify(env, "api-1", environments.parent, paths)
    # This machine is not api-1: every file the deploy placed there is missing here.
    assert {d["kind"] for d in result["drift"]} >= {"missing"}
    assert (tmp_path / "state" / "devnet" / DRIFT_STATE / "api-1.json").is_file()
    metrics = (tmp_path / "metrics" / "seawall-drift.prom").read_text()
    assert 'seawall_host_drift{environment="devnet",host="api-1",kind="missing"}' in metrics
    shown = cli("--environments", environments, "drift", "devnet", "--format", "json")
    assert shown.code == 1
    hosts = {entry["host"]: entry for entry in json.loads(shown.out)["hosts"]}
    assert hosts["api-1"]["status"] == "drift"
    assert any(
        f["kind"] == "missing" and f["subject"] == "/etc/seawall/credentials.env" for f in hosts["api-1"]["findings"]
    )
    # The hosts that never checked: never-reported (they have the bucket key) or metric-only (they do not).
    assert {entry["status"] for host, entry in hosts.items() if host != "api-1"} <= {"never-reported", "metric-only"}
    assert hosts["faucet-1"]["status"] == "metric-only"


def test_a_host_on_an_older_manifest_missed_a_deploy_and_a_silent_one_is_named(project, tmp_path: Path, cli) -> None:
    environments, graph = project
    env = load_environment(environments, "devnet")
    paths = host_paths(tmp_path, graph, "db-1")
    old = json.loads(paths.manifest.read_text())
    old["units"] = [*old["units"], "seawall-gone.timer"]  # what an earlier deploy placed
    paths.manifest.write_text(json.dumps(old, indent=1, sort_keys=True) + "\n")
    record(paths)
    verify(env, "db-1", environments.parent, paths, now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=5))
    shown = cli("--environments", environments, "drift", "devnet", "--format", "json")
    entry = next(e for e in json.loads(shown.out)["hosts"] if e["host"] == "db-1")
    assert entry["status"] == "silent"  # worst first: 5 h without a check beats the missed deploy
    assert any("manifest" in reason and "the last deploy placed" in reason for reason in entry["reasons"])
    assert any("old (more than drift.stale_after)" in reason for reason in entry["reasons"])
    markdown = cli("--environments", environments, "drift", "devnet", "--format", "markdown")
    assert "| db-1 | silent |" in markdown.out


def test_a_forged_result_from_the_future_is_not_trusted(project, tmp_path: Path, cli) -> None:
    environments, graph = project
    env = load_environment(environments, "devnet")
    paths = host_paths(tmp_path, graph, "api-1")
    record(paths)
    verify(env, "api-1", environments.parent, paths, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    shown = cli("--environments", environments, "drift", "devnet", "--format", "json")
    entry = next(e for e in json.loads(shown.out)["hosts"] if e["host"] == "api-1")
    assert entry["status"] == "untrusted"
    assert "checked is in the future" in entry["reasons"][0]


def test_without_a_deployed_graph_drift_says_what_to_do(environments: Path, cli) -> None:
    result = cli("--environments", environments, "drift", "devnet")
    assert result.code == 2
    assert "no deployed graph (ledger/devnet.deployed.json): `seawall up devnet` writes it" in result.err
    assert result.err.rstrip().endswith("; or pass --graph")
    assert "Traceback" not in result.err


def test_verify_refuses_a_host_the_model_does_not_have(environments: Path, cli) -> None:
    result = cli("--environments", environments, "host", "verify", "devnet", "--host", "nope-9")
    assert result.code == 2
    assert "devnet has no host 'nope-9' (known: " in result.err


def test_record_with_quarantine_moves_what_no_deploy_placed_and_keeps_it(tmp_path: Path) -> None:
    etc = tmp_path / "etc" / "seawall"
    placed = RenderedFile(f"{etc}/environments/lab.yaml", "environment: {name: lab}\n", "0640")
    import subprocess

    subprocess.run(["sh", "-c", "set -eu\n" + "\n".join(file_lines([placed]))], check=True, timeout=60)
    manifest = build_manifest("lab", "h", [placed], [], [], False, "/w.whl")
    manifest = type(manifest)(**{**manifest.__dict__, "owned": (f"{etc}/**",)})
    paths = Paths(tmp_path / "manifest.json", tmp_path / "recorded.json", tmp_path / "quarantine")
    paths.manifest.write_text(manifest.to_text())
    (etc / "notes.txt").write_text("mine\n")
    moved = record(paths, quarantine=True, now=dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC))
    assert moved == [str(etc / "notes.txt")]
    kept = tmp_path / "quarantine" / "20261207T120000Z" / str(etc / "notes.txt").lstrip("/")
    assert kept.read_text() == "mine\n"
    assert not (etc / "notes.txt").exists()
    assert (etc / "environments/lab.yaml").is_file()
    assert oct(paths.recorded.stat().st_mode & 0o777) == "0o600"
    assert MANIFEST_FILE == "/etc/seawall/manifest.json"
