"""``seawall dr rehearse`` on the production path: the temporary stack ``ENV-dr-<date>`` in the DR region.

The Automation API's stack is injected where ``seawall.dr.stack`` makes it (``create_or_select_stack``), as
``seawall up``'s driver is (tests/e2e/test_up.py): the Pulumi CLI that the real LocalWorkspace drives cannot be
installed here, so a stand-in records what the rehearsal asked of it and answers as Pulumi does. The program
the stack would run is rendered for real, under Pulumi's mock engine.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from seawall.dr import stack
from seawall.dr.engine import StepFailed
from seawall.model import load_environment
from seawall.render import render
from seawall.stacks.program import OFFLINE

DAY = dt.date(2026, 12, 7)


class FakeStack:
    """Stands in for pulumi.automation.Stack (the Pulumi CLI is not installed here): ``up`` answers the
    program's outputs (``droplet_ips``) or fails as a failed update does; ``destroy`` and the workspace's
    ``remove_stack`` are recorded."""

    def __init__(self, name: str, env_vars: dict[str, str], fail: str | None = None) -> None:
        self.name, self.env_vars, self.fail = name, env_vars, fail
        self.calls: list[str] = []
        self.config: dict[str, str] = {}
        self.workspace = SimpleNamespace(remove_stack=lambda stack_name: self.calls.append(f"remove {stack_name}"))

    def set_config(self, key: str, value: Any) -> None:
        self.config[key] = value.value

    def up(self, on_output: Any) -> Any:
        self.calls.append("up")
        if self.fail == "signal":
            from seawall.errors import Interrupted

            raise Interrupted(15)
        if self.fail:
            raise RuntimeError(
                f"error: update failed\n  urn:pulumi:{self.name}::seawall::command:remote:Command::{self.fail}: "
                "exit 100"
            )
        outputs = {"droplet_ips": SimpleNamespace(value={"db": ["203.0.113.7"], "api": ["203.0.113.8"]})}
        return SimpleNamespace(outputs=outputs)

    def destroy(self, on_output: Any) -> None:
        self.calls.append("destroy")

    def cancel(self) -> None:
        self.calls.append("cancel")


@pytest.fixture
def stacks(monkeypatch: pytest.MonkeyPatch) -> list[FakeStack]:
    made: list[FakeStack] = []

    def create_or_select_stack(stack_name: str, work_dir: str, opts: Any) -> FakeStack:
        made.append(FakeStack(stack_name, dict(opts.env_vars)))
        return made[-1]

    from pulumi import automation

    monkeypatch.setattr(automation, "create_or_select_stack", create_or_select_stack)
    monkeypatch.setattr(stack, "require_pulumi_cli", lambda: None)
    return made


def test_the_temporary_stack_is_named_for_the_day_in_the_dr_region_and_runs_the_dr_program(
    environments: Path, stacks: list[FakeStack]
) -> None:
    env = load_environment(environments, "mainnet")
    machines = stack.make_machines(env, environments, environments.parent, ["db-1", "api-1"], DAY)
    (made,) = stacks
    assert made.name == machines.stack == "mainnet-dr-20261207"
    assert made.config == {"digitalocean:region": env.dr.region}
    assert made.env_vars["SEAWALL_DR_OF"] == "mainnet"
    assert made.env_vars["SEAWALL_DR_HOSTS"] == "db-1 api-1"
    assert made.env_vars["SEAWALL_DR_DAY"] == "2026-12-07"
    machines.boot("db-1")
    machines.boot("api-1")
    assert made.calls == ["up"]  # one update makes every droplet and runs its host steps
    assert machines.addresses == {"db-1": "203.0.113.7", "api-1": "203.0.113.8"}
    assert machines.host_steps("db-1") == []
    machines.tear_down()
    assert made.calls == ["up", "destroy", "remove mainnet-dr-20261207"]


def test_a_failed_update_names_the_step_that_failed(environments: Path, stacks: list[FakeStack]) -> None:
    env = load_environment(environments, "mainnet")
    machines = stack.make_machines(env, environments, environments.parent, ["db-1"], DAY)
    stacks[0].fail = "db-1-install"
    with pytest.raises(StepFailed) as failed:
        machines.boot("db-1")
    assert failed.value.step == "db-1-install"


def test_without_the_pulumi_cli_the_rehearsal_exits_2_saying_how_to_install_it(
    environments: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    result = cli("--environments", environments, "dr", "rehearse", "mainnet", "--host", "db-1")
    assert result.code == 2
    (line,) = result.err.strip().splitlines()
    assert line.startswith(
        "seawall: error: the Pulumi CLI is not installed: install it (https://www.pulumi.com/docs/install/"
    )


@pytest.mark.render
def test_the_dr_program_builds_droplets_in_the_dr_region_with_no_production_name_and_no_public_port(
    environments: Path,
) -> None:
    from seawall.dr.plan import rehearsal_environment

    env = load_environment(environments, "mainnet")
    rehearsed = rehearsal_environment(env, ["db-1", "api-1"], DAY)
    graph = json.loads(render(rehearsed, OFFLINE).to_json())
    droplets = [r for r in graph["resources"] if r["type"].endswith(":Droplet")]
    assert sorted(d["inputs"]["name"] for d in droplets) == ["mainnet-api-1", "mainnet-db-1"]
    assert {d["inputs"]["region"] for d in droplets} == {env.dr.region}
    records = [r["inputs"] for r in graph["resources"] if r["type"].endswith(":DnsRecord")]
    names = {f"{record['name']}.{record['domain']}" for record in records}
    production = {name for service in env.services for name in env.dns_names(service, f"{service}-1")}
    assert names == {f"{host}.mainnet-dr-20261207.{env.environment.domain}" for host in ("api-1", "api-1.vpc", "db-1",
                                                                                        "db-1.vpc")}  # fmt: skip
    assert not names & production
    firewalls = [r["inputs"] for r in graph["resources"] if r["type"].endswith(":Firewall")]
    assert firewalls
    public = [
        rule
        for fw in firewalls
        for rule in fw.get("inboundRules", [])
        if "0.0.0.0/0" in rule.get("sourceAddresses", [])
    ]
    assert public == []


def test_the_monthly_workflow_runs_a_rehearsal_the_command_line_accepts_within_the_interval(
    environments: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shlex

    import yaml

    from tests.conftest import PROJECT

    workflow = yaml.safe_load((PROJECT / "docs/examples/github-actions-dr-rehearsal.yml").read_text())
    (cron,) = [entry["cron"] for entry in workflow[True]["schedule"]]
    day, month, weekday = cron.split()[2:]
    assert (day, month, weekday) == ("1", "*", "*")  # monthly: 28 to 31 days apart
    env = load_environment(environments, "mainnet")
    assert env.dr.rehearsal_interval >= dt.timedelta(days=31)
    (job,) = workflow["jobs"].values()
    (line,) = [step["run"] for step in job["steps"] if "dr rehearse" in str(step.get("run"))]
    words = shlex.split(line.replace("${{ matrix.environment }}", "mainnet").replace("${{", "").replace("}}", ""))
    assert words[:6] == ["sudo", "-E", ".venv/bin/seawall", "dr", "rehearse", "mainnet"]  # it writes /var/lib/seawall
    words = words[2:]
    monkeypatch.setenv("PATH", "/nonexistent")
    result = cli("--environments", environments, *words[1:])
    assert result.code == 2  # the options parsed and the model loaded: only the Pulumi CLI is missing here
    assert "the Pulumi CLI is not installed" in result.err


def test_a_signal_during_the_update_cancels_it_then_destroys_the_stack(
    environments: Path, stacks: list[FakeStack]
) -> None:
    from seawall.dr.engine import Request, rehearse
    from seawall.errors import Interrupted

    env = load_environment(environments, "mainnet")
    machines = stack.make_machines(env, environments, environments.parent, ["db-1"], DAY)
    stacks[0].fail = "signal"
    with pytest.raises(Interrupted):
        rehearse(env, Request(["db-1"]), machines)
    assert stacks[0].calls == ["up", "cancel", "destroy", "remove mainnet-dr-20261207"]
