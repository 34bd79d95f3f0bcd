"""From lab to production: config changes never replace a droplet, replacements are gated, the release
rules hold inside the program, and hosts get the exact build. Pulumi's own mock engine throughout."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
from pathlib import Path

import pulumi
import pytest
import yaml

from seawall.model import load_environment
from seawall.render import render
from seawall.replacements import DROPLET, VOLUME, gated, plan_changes, resources_by_name
from seawall.stacks.program import OFFLINE
from tests.conftest import PROJECT, patch_environment

pytestmark = pytest.mark.render  # renders under the mock engine

THURSDAY = dt.datetime(2026, 12, 3, 10, 0, tzinfo=dt.UTC)


def _plan(environments: Path, env_name: str, change) -> list:
    before = resources_by_name(json.loads(render(load_environment(environments, env_name), OFFLINE).to_json()))
    change(environments)
    after = resources_by_name(json.loads(render(load_environment(environments, env_name), OFFLINE).to_json()))
    return plan_changes(before, after).changes


def _stateful(changes: list) -> list:
    return [c for c in changes if c.action in ("replace", "delete") and c.type in (DROPLET, VOLUME)]


@pytest.mark.parametrize(
    "patch",
    [
        {"alerting": {"channels": {"ops-email": {"email": "new-oncall@example.net"}}}},
        {"backup_sets": {"postgres": {"paths": ["/var/lib/postgresql/16/main", "/etc/postgresql"]}}},
        {"backup_sets": {"postgres": {"schedule": "*-*-* 00/4:00:00", "retention": {"keep_daily": 30}}}},
        {"services": {"db": {"version": "16.5.0"}, "api": {"version": "1.9.0"}}},
    ],
    ids=["alert-address", "backup-paths", "schedule-and-retention", "service-version"],
)
def test_a_configuration_change_replaces_no_droplet_and_no_volume(environments: Path, patch: dict) -> None:
    defaults = yaml.safe_load((environments / "defaults.yaml").read_text())
    assert "ops-email" in defaults["alerting"]["channels"] or "alerting" not in patch
    changes = _plan(environments, "mainnet", lambda folder: patch_environment(folder, "mainnet", patch))
    assert changes, "the change shows in the plan"
    assert _stateful(changes) == []
    droplets = [c for c in changes if c.type == DROPLET]
    assert all(c.action == "update" for c in droplets)


def test_a_new_seawall_build_reinstalls_on_every_host_and_replaces_nothing_stateful(
    environments: Path, monkeypatch
) -> None:
    from seawall.build import Build
    from seawall.stacks import program

    env = load_environment(environments, "mainnet")
    before = resources_by_name(json.loads(render(env, OFFLINE).to_json()))
    monkeypatch.setattr(program, "offline_build", lambda: Build("sha256:" + "ab" * 32, PROJECT / "requirements.lock"))
    after = resources_by_name(json.loads(render(env, OFFLINE).to_json()))
    changes = plan_changes(before, after).changes
    installs = {c.name for c in changes if c.name.endswith("-install")}
    hosts = [d for name, s in env.services.items() for d in (f"{name}-{i}" for i in range(1, s.count + 1))]
    assert installs == {f"{host}-install" for host in [*hosts, *env.datacenter_hosts]}
    assert _stateful(changes) == []


def test_a_new_droplet_image_replaces_it_and_the_gate_refuses_unless_allowed(environments: Path) -> None:
    changes = _plan(
        environments,
        "mainnet",
        lambda f: patch_environment(f, "mainnet", {"services": {"db": {"image": "ubuntu-26-04-x64"}}}),
    )
    (db,) = [c for c in changes if c.name == "db-1"]
    assert (db.action, db.inputs) == ("replace", ("image",))
    from seawall.replacements import Plan

    plan = Plan(changes)
    assert [c.name for c in gated(plan, ["db-1"], [])] == ["db-1"]
    assert gated(plan, ["db-1"], ["db-1"]) == []


def test_user_data_is_a_bootstrap_that_never_changes_with_the_model(environments: Path) -> None:
    def user_data(folder: Path) -> dict[str, str]:
        graph = json.loads(render(load_environment(folder, "mainnet"), OFFLINE).to_json())
        return {r["name"]: r["inputs"]["userData"] for r in graph["resources"] if r["type"] == DROPLET}

    before = user_data(environments)
    patch_environment(environments, "mainnet", {"backup_sets": {"postgres": {"paths": ["/srv/other"]}}})
    assert user_data(environments) == before
    assert "seawall" not in " ".join(before.values())


def test_preview_against_an_earlier_graph_prints_the_plan(environments: Path, cli, tmp_path: Path) -> None:
    earlier = cli("--environments", environments, "preview", "mainnet", "--format", "json")
    (tmp_path / "before.json").write_text(earlier.out)
    patch_environment(environments, "mainnet", {"services": {"db": {"image": "ubuntu-26-04-x64"}}})
    shown = cli(
        "--environments", environments, "preview", "mainnet", "--against", tmp_path / "before.json", "--format", "json"
    )
    assert shown.code == 0, shown.err
    changes = {c["name"]: c for c in json.loads(shown.out)["changes"]}
    assert changes["db-1"]["action"] == "replace"
    assert changes["db-1"]["inputs"] == ["image"]
    table = cli("--environments", environments, "preview", "mainnet", "--against", tmp_path / "before.json")
    assert "replace" in table.out
    assert "db-1" in table.out
    bad = cli("--environments", environments, "preview", "mainnet", "--against", tmp_path / "nothing.json")
    assert bad.code == 2
    assert "not a graph from `seawall preview --format json`" in bad.err


class _Counting(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.registered: list[str] = []

    def new_resource(self, args):
        self.registered.append(args.name)
        return args.name + "-id", dict(args.inputs)

    def call(self, args):
        return {}


def test_plain_pulumi_up_on_a_thursday_fails_before_any_resource_with_the_verdicts(monkeypatch) -> None:
    from seawall.stacks.program import run_stack

    monkeypatch.setenv("SEAWALL_ISSUE", "acme/ops#11")
    monkeypatch.setenv("SEAWALL_OPERATOR", "ops-alice")
    monkeypatch.setenv("SEAWALL_PRIORITY", "major")
    monkeypatch.setenv("GITHUB_ACTOR", "ops-alice")
    mocks = _Counting()
    pulumi.runtime.set_mocks(mocks, project="seawall", stack="mainnet", preview=False)
    with pytest.raises(pulumi.RunError) as refused:
        run_stack(PROJECT / "environments", "mainnet", now=THURSDAY)
    text = str(refused.value)
    assert "release refused by Seawall's rules; nothing was changed" in text
    assert re.search(r"freeze-window\s+REFUSED", text)
    assert re.search(r"issue-reference\s+allowed", text)
    assert mocks.registered == []


def test_a_preview_only_warns(monkeypatch) -> None:
    from seawall.stacks.release import ReleaseRequest, check_release

    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *a, **k: warnings.append(message))
    verdicts = check_release(
        "mainnet",
        PROJECT / "environments",
        ReleaseRequest("acme/ops#1", "ops-alice", None, False, "d1"),
        THURSDAY,
        True,
    )
    assert any(v["rule"] == "freeze-window" and not v["allowed"] for v in verdicts)
    assert any("freeze-window would refuse an update" in w for w in warnings)


def test_the_program_reads_the_model_from_seawall_environments(tmp_path: Path) -> None:
    from seawall.stacks.program import environments_folder

    assert environments_folder({"SEAWALL_ENVIRONMENTS": str(tmp_path)}) == tmp_path.resolve()
    assert environments_folder({}) == (PROJECT / "environments").resolve()


def test_no_source_installs_seawall_by_name() -> None:
    found = subprocess.run(
        ["grep", "-rnE", "pip[0-9.]* install.*seawall==", "components", "stacks", "backup", "seawall"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.stdout == ""


def test_every_secret_the_program_reads_is_named_in_each_stack_file_and_the_readme() -> None:
    from seawall.stacks.program import PROVIDER_SECRETS, SECRET_CONFIG

    readme = (PROJECT / "README.md").read_text()
    deploy = readme[readme.index("## Deploying with Pulumi") : readme.index("## Release rules")]
    for env_name in ("devnet", "qanet", "testnet", "mainnet"):
        env = load_environment(PROJECT / "environments", env_name)
        slack = {c.slack_url_config for c in env.alerting.channels.values() if c.slack_url_config}
        read = {*SECRET_CONFIG, *PROVIDER_SECRETS, *slack}
        comments = " ".join(
            line
            for line in (PROJECT / f"Pulumi.{env_name}.yaml").read_text().splitlines()
            if "provider:" in line or "program:" in line
        )
        named = set(re.findall(r"[A-Za-z]+(?::[A-Za-z]+)?", comments.replace("provider:", "").replace("program:", "")))
        assert named == read, env_name
        assert all(f"`{key}`" in deploy for key in read)
    assert "dcSshPrivateKey" not in readme


def test_the_lock_pins_every_runtime_dependency_by_hash() -> None:
    import tomllib

    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    lock = (PROJECT / "requirements.lock").read_text()
    pinned = {
        line.split("==")[0].strip().lower() for line in lock.splitlines() if "==" in line and not line.startswith(" ")
    }
    for requirement in project["dependencies"]:
        name = re.split(r"[<>=\[ ;]", requirement, maxsplit=1)[0].lower()
        assert name in pinned, f"{name} is not pinned in requirements.lock: refresh it (README, deploying)"
    blocks = [block for block in lock.split("\n") if "==" in block and not block.startswith(" ")]
    assert all(block.rstrip().endswith("\\") for block in blocks)  # each pin is followed by its hashes
