"""The parity engine: the shipped chain is in parity; an extra port is a violation that names its service."""

from __future__ import annotations

from pathlib import Path

import pytest

from seawall.model import load_environments, load_parity_rules
from seawall.parity import ALLOWED, compare_environments
from seawall.render import referenced
from seawall.stacks.program import offline_renderer
from tests.conftest import SHIPPED, patch_environment

pytestmark = pytest.mark.render  # renders under the mock engine


@pytest.mark.parametrize(("a", "b"), [("devnet", "qanet"), ("qanet", "testnet"), ("testnet", "mainnet")])
def test_the_shipped_chain_is_in_parity_except_for_declared_knobs(a: str, b: str) -> None:
    envs = load_environments(SHIPPED, [a, b])
    report = compare_environments(envs[a], envs[b], load_parity_rules(SHIPPED), offline_renderer())
    assert report.violations == []
    allowed = [d for d in report.differences if d.kind == ALLOWED]
    assert allowed
    assert all(d.reason for d in allowed)


def test_an_extra_port_on_mainnet_is_a_violation_naming_service_firewall_and_port(environments: Path) -> None:
    ports = [
        {"port": 443, "from": "public"},
        {"port": 22, "from": "admin"},
        {"port": 9100, "from": "monitoring"},
        {"port": 8080, "from": "public"},
    ]
    patch_environment(environments, "mainnet", {"services": {"api": {"ports": ports}}})
    envs = load_environments(environments, ["testnet", "mainnet"])
    report = compare_environments(envs["testnet"], envs["mainnet"], load_parity_rules(environments), offline_renderer())
    firewall = [d for d in report.violations if d.resource == "api-firewall"]
    assert firewall
    assert all(d.group == "api" for d in firewall)
    assert any(d.b == "8080" for d in firewall)
    model = [d for d in report.violations if d.type == "model"]
    assert any(d.path.startswith("services.api.ports") and d.resource == "services.api" for d in model)


def test_a_difference_in_a_field_nobody_allowed_is_a_violation(environments: Path) -> None:
    patch_environment(environments, "mainnet", {"services": {"db": {"image": "debian-12-x64"}}})
    envs = load_environments(environments, ["testnet", "mainnet"])
    report = compare_environments(envs["testnet"], envs["mainnet"], load_parity_rules(environments), offline_renderer())
    assert any(d.resource == "db-1" and d.path == "image" for d in report.violations)


@pytest.mark.parametrize(("a", "b"), [("devnet", "qanet"), ("testnet", "mainnet")])
def test_references_to_the_same_resource_are_equal_and_only_a_resource_in_one_environment_differs(
    a: str, b: str
) -> None:
    envs = load_environments(SHIPPED, [a, b])
    renderer = offline_renderer()
    report = compare_environments(envs[a], envs[b], load_parity_rules(SHIPPED), renderer, attribute=False)
    graph_a, graph_b = renderer.graph(envs[a]), renderer.graph(envs[b])
    by_reference = [d for d in report.differences if referenced(d.a) or referenced(d.b)]
    assert by_reference, "a droplet only one of them has is in the other's project only by reference"
    for difference in by_reference:
        # One side refers to a resource the other environment does not have: never a reference that moved.
        assert None in (difference.a, difference.b), difference
        target, output = referenced(difference.a or difference.b)
        assert (target in graph_a.resources) != (target in graph_b.resources), difference
        assert difference.path == f"resources.{target}.{output}"  # a list of references is keyed by their names
