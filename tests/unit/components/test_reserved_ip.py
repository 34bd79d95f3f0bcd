"""Reserved IPs under Pulumi's mock engine, in every shipped environment: one per droplet of a stateful service,
assigned to it, and the droplet's public name pointing at it."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from seawall.model import load_environment
from seawall.model.schema import droplet_names
from seawall.render import Graph, render
from seawall.stacks.program import OFFLINE
from tests.conftest import SHIPPED, patch_environment

pytestmark = pytest.mark.render  # renders under the mock engine

ENVIRONMENTS = ["devnet", "qanet", "testnet", "mainnet"]


@cache
def graph(name: str) -> Graph:
    return render(load_environment(SHIPPED, name), OFFLINE)


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_each_droplet_of_a_stateful_service_keeps_its_address_in_a_reserved_ip(name: str) -> None:
    env = load_environment(SHIPPED, name)
    resources = graph(name).resources
    for service_name, service in env.services.items():
        for droplet in droplet_names(service_name, service):
            if not service.has_reserved_ip:
                assert f"{droplet}-address" not in resources
                assert resources[f"{droplet}-dns"].inputs["value"] == {"ref": f"{droplet}.ipv4Address"}
                continue
            assert service.is_stateful
            assert resources[f"{droplet}-address"].parent == service_name
            assert resources[f"{droplet}-address-ip"].inputs == {"region": env.environment.region}
            assignment = resources[f"{droplet}-address-assignment"].inputs
            assert assignment == {
                "dropletId": {"ref": f"{droplet}.id"},
                "ipAddress": {"ref": f"{droplet}-address-ip.ipAddress"},
            }
            assert resources[f"{droplet}-dns"].inputs["value"] == {"ref": f"{droplet}-address-ip.ipAddress"}
    assert set(graph(name).outputs["reserved_ips"]) == {n for n, s in env.services.items() if s.has_reserved_ip}
    assert {"db", "indexer", "monitoring"} <= set(graph(name).outputs["reserved_ips"])


def test_the_project_holds_each_reserved_ip() -> None:
    held = graph("mainnet").resources["project-project"].inputs["resources"]
    assert {"ref": "db-1-address-ip.reservedIpUrn"} in held


def test_a_service_may_ask_for_reserved_ips_or_go_without(environments: Path) -> None:
    asked = {"api": {"reserved_ip": True}, "indexer": {"reserved_ip": False}}
    patch_environment(environments, "qanet", {"services": asked})
    resources = render(load_environment(environments, "qanet"), OFFLINE).resources
    assert "api-1-address-ip" in resources
    assert resources["api-1-dns"].inputs["value"] == {"ref": "api-1-address-ip.ipAddress"}
    # Behind its balancer, the service's public name stays the balancer's.
    assert resources["api-lb-dns"].inputs["value"] == {"ref": "api-lb-balancer.ip"}
    assert "indexer-1-address" not in resources
