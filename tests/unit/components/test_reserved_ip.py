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


def test_a_datacenter_host_admits_a_service_by_its_reserved_ips_else_by_its_droplets_addresses(
    environments: Path,
) -> None:
    from seawall.render import stand_in_outputs

    firewall = [
        {"port": 22, "from": "admin"},
        {"port": 9100, "from": "vpc"},
        {"port": 5000, "from": "db"},  # a stateful service: its reserved IP
        {"port": 8443, "from": "api"},  # droplets without reserved IPs: their public addresses
    ]
    patch_environment(environments, "qanet", {"datacenter_hosts": {"dc-build-1": {"firewall": firewall}}})
    env = load_environment(environments, "qanet")
    resources = render(env, OFFLINE).resources
    reserved = stand_in_outputs("db-1-address-ip", "digitalocean:index/reservedIp:ReservedIp", {})["ipAddress"]
    public = sorted(
        stand_in_outputs(droplet, "digitalocean:index/droplet:Droplet", {})["ipv4Address"]
        for droplet in droplet_names("api", env.services["api"])
    )
    ephemeral = stand_in_outputs("db-1", "digitalocean:index/droplet:Droplet", {})["ipv4Address"]
    script = resources["dc-build-1-firewall"].inputs["create"]
    assert f"ip saddr {{ {reserved} }} tcp dport 5000 accept" in script
    assert f"ip saddr {{ {', '.join(public)} }} tcp dport 8443 accept" in script
    assert ephemeral not in script  # never the address a rebuild of db-1 changes
    # The manifest records the same ruleset (by its hash), so the host's drift check knows it.
    import hashlib

    from seawall.components._scripts import FirewallRule, firewall_files

    rules = [
        FirewallRule("tcp", 22, env.network.admin_cidrs),
        FirewallRule("tcp", 9100, [env.network.vpc_cidr]),
        FirewallRule("tcp", 5000, [reserved]),
        FirewallRule("tcp", 8443, public),
    ]
    ruleset = firewall_files(rules)[0].content.rstrip("\n") + "\n"
    assert f"ip saddr {{ {reserved} }} tcp dport 5000 accept" in ruleset
    assert hashlib.sha256(ruleset.encode()).hexdigest() in resources["dc-build-1-manifest"].inputs["create"]
    # A host that admits no service by name keeps its plain steps.
    assert "tcp dport 5000" not in resources["dc-storage-1-firewall"].inputs["create"]
