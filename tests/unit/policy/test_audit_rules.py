"""One fixture per rule: the shipped environments pass; each fixture fails the audit with its rule's id."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from seawall.audit import blocking, graph_resources
from seawall.model import load_environment
from seawall.policies import RULES, Resource, evaluate
from seawall.render import render
from seawall.stacks.program import OFFLINE
from tests.conftest import PROJECT, SHIPPED, patch_environment

pytestmark = pytest.mark.render  # renders under the mock engine

FIXTURES = sorted((PROJECT / "tests" / "fixtures" / "audit").glob("*.yaml"))


@pytest.mark.parametrize("name", ["devnet", "qanet", "testnet", "mainnet"])
def test_the_shipped_environments_pass_every_rule(name: str, cli) -> None:
    result = cli("--environments", SHIPPED, "audit", name)
    assert result.code == 0
    assert "audit passed" in result.out


def test_every_rule_has_a_fixture() -> None:
    assert sorted(rule.id for rule in RULES) == [path.stem for path in FIXTURES]


def _edited(resources: list[Resource], edits: list[dict]) -> list[Resource]:
    by_name = {resource.name: resource for resource in resources}
    for edit in edits:
        resource = by_name[edit["resource"]]
        props = dict(resource.props)
        if "replace" in edit:
            old, new = edit["replace"]
            assert old in props[edit["prop"]]
            props[edit["prop"]] = props[edit["prop"]].replace(old, new)
        else:
            props[edit["prop"]] = edit["value"]
        by_name[edit["resource"]] = Resource(resource.type, resource.name, props)
    return list(by_name.values())


@pytest.mark.parametrize("fixture", FIXTURES, ids=[path.stem for path in FIXTURES])
def test_each_rule_fails_its_fixture(fixture: Path, environments: Path) -> None:
    spec = yaml.safe_load(fixture.read_text())
    if "patch" in spec:
        patch_environment(environments, spec["env"], spec["patch"])
    resources = _edited(
        graph_resources(render(load_environment(environments, spec["env"]), OFFLINE)), spec.get("edit", [])
    )
    findings = evaluate(RULES, resources)
    mine = [f for f in findings if f.rule == fixture.stem]
    assert mine, findings
    assert mine[0].resource == spec["expect"]["resource"]
    assert all(f.rule == fixture.stem for f in findings)
    assert bool(blocking(mine)) is not spec["expect"].get("advisory", False)


def test_the_cli_names_the_rule_and_exits_1(environments: Path, cli) -> None:
    patch_environment(environments, "testnet", {"services": {"db": {"ports": [{"port": 22, "from": "public"}]}}})
    result = cli("--environments", environments, "audit", "testnet", "--format", "json")
    assert result.code == 1
    import json

    report = json.loads(result.out)
    assert report["passed"] is False
    assert [f["rule"] for f in report["findings"]] == ["no-world-ssh-or-database"]
    markdown = cli("--environments", environments, "audit", "testnet", "--format", "markdown")
    assert "| no-world-ssh-or-database | Critical | mandatory | db-firewall |" in markdown.out
