"""The load balancer under Pulumi's mock engine, in every shipped environment: TLS with a managed certificate,
HTTP redirected, the service's health check, droplets by tag, DNS at the balancer and the droplets' public ports
admitted from it alone."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from seawall.model import load_environment
from seawall.render import Graph, render
from seawall.stacks.program import OFFLINE
from tests.conftest import SHIPPED, patch_environment

pytestmark = pytest.mark.render  # renders under the mock engine

ENVIRONMENTS = ["devnet", "qanet", "testnet", "mainnet"]


@cache
def graph(name: str) -> Graph:
    return render(load_environment(SHIPPED, name), OFFLINE)


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_the_api_is_behind_a_load_balancer_with_a_managed_certificate(name: str) -> None:
    resources = graph(name).resources
    certificate = resources["api-lb-certificate"].inputs
    assert certificate == {"domains": [f"api.{name}.example.net"], "name": f"{name}-api", "type": "lets_encrypt"}
    balancer = resources["api-lb-balancer"].inputs
    assert resources["api-lb-balancer"].parent == "api-lb"
    assert resources["api-lb"].parent == "api"
    assert balancer["vpcUuid"] == {"ref": "network-vpc.id"}
    assert balancer["region"] == "ams3"
    assert balancer["dropletTag"] == f"{name}-api"
    assert balancer["redirectHttpToHttps"] is True
    https, http = balancer["forwardingRules"]
    assert https == {
        "certificateName": f"{name}-api",
        "entryPort": 443,
        "entryProtocol": "https",
        "targetPort": 443,
        "targetProtocol": "https",
    }
    assert (http["entryPort"], http["entryProtocol"]) == (80, "http")
    health = load_environment(SHIPPED, name).services["api"].health
    assert health is not None
    assert balancer["healthcheck"]["path"] == health.path
    assert (balancer["healthcheck"]["port"], balancer["healthcheck"]["protocol"]) == (health.port, health.protocol)
    # The certificate exists before the balancer names it; the tag before the balancer attaches droplets by it.
    assert {"api-lb-certificate", "api-tag"} <= set(graph(name).dependencies["api-lb-balancer"])


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_the_public_name_points_at_the_balancer_and_no_droplet_serves_the_internet(name: str) -> None:
    resources = graph(name).resources
    record = resources["api-lb-dns"].inputs
    assert (record["name"], record["type"], record["value"]) == ("api", "A", {"ref": "api-lb-balancer.ip"})
    assert not [n for n in resources if n.startswith("api-") and n.endswith("-dns-public")]
    (web,) = [rule for rule in resources["api-firewall"].inputs["inboundRules"] if rule["portRange"] == "443"]
    assert web == {"portRange": "443", "protocol": "tcp", "sourceLoadBalancerUids": [{"ref": "api-lb-balancer.id"}]}
    # The uptime check and its alerts watch the public name, which is the balancer's.
    assert resources["api-monitoring-uptime"].inputs["target"] == f"https://api.{name}.example.net/healthz"
    alert = resources["api-lb-errors"].inputs
    assert alert["entities"] == [{"ref": "api-lb-balancer.id"}]
    assert alert["type"] == "v1/insights/lbaas/increase_in_http_error_rate_percentage_5xx"
    assert graph(name).outputs["load_balancer_ips"] == {"api": {"ref": "api-lb-balancer.ip"}}


def test_the_project_holds_the_balancer() -> None:
    held = graph("mainnet").resources["project-project"].inputs["resources"]
    assert {"ref": "api-lb-balancer.loadBalancerUrn"} in held


def test_a_public_service_of_many_droplets_gets_one_unasked_and_one_of_one_droplet_does_not(
    environments: Path,
) -> None:
    patch_environment(environments, "devnet", {"services": {"faucet": {"count": 2}}})
    env = load_environment(environments, "devnet")
    assert env.services["faucet"].balancer is not None
    assert "faucet-lb-balancer" in render(env, OFFLINE).resources
    assert "faucet-lb-balancer" not in graph("devnet").resources  # the shipped faucet: one droplet
    assert "faucet-1-dns-public" in graph("devnet").resources


def test_a_disabled_balancer_gives_each_droplet_the_public_name_and_port_again(environments: Path) -> None:
    patch_environment(environments, "testnet", {"services": {"api": {"load_balancer": {"enabled": False}}}})
    resources = render(load_environment(environments, "testnet"), OFFLINE).resources
    assert "api-lb" not in resources
    assert resources["api-2-dns-public"].inputs["value"] == {"ref": "api-2.ipv4Address"}
    (web,) = [rule for rule in resources["api-firewall"].inputs["inboundRules"] if rule["portRange"] == "443"]
    assert web["sourceAddresses"] == ["0.0.0.0/0", "::/0"]


def test_a_service_serving_http_gets_it_forwarded_and_its_health_port_admitted_from_the_balancer(
    environments: Path,
) -> None:
    ports = [{"port": 80, "from": "public"}, {"port": 22, "from": "admin"}, {"port": 9100, "from": "monitoring"}]
    patch_environment(
        environments,
        "defaults",
        {"services": {"api": {"ports": ports, "health": {"path": "/up", "port": 8080, "protocol": "http"}}}},
    )
    resources = render(load_environment(environments, "qanet"), OFFLINE).resources
    rules = resources["api-lb-balancer"].inputs["forwardingRules"]
    assert [(r["entryPort"], r["entryProtocol"], r["targetPort"], r["targetProtocol"]) for r in rules] == [
        (443, "https", 80, "http"),
        (80, "http", 80, "http"),
    ]
    admitted = {
        rule["portRange"]: rule
        for rule in resources["api-firewall"].inputs["inboundRules"]
        if "sourceLoadBalancerUids" in rule
    }
    assert sorted(admitted) == ["80", "8080"]
    assert all("sourceAddresses" not in rule for rule in admitted.values())


def test_a_balancer_needs_the_services_health_and_balances_only_a_public_http_port(environments: Path) -> None:
    from seawall.errors import ConfigError

    patch_environment(environments, "qanet", {"services": {"db": {"load_balancer": {"size_unit": 2}}}})
    assert "db-lb" not in render(load_environment(environments, "qanet"), OFFLINE).resources
    patch_environment(environments, "qanet", {"services": {"api": {"health": None}}})
    with pytest.raises(ConfigError) as raised:
        load_environment(environments, "qanet")
    assert "services.api.health: its load balancer checks each droplet's health" in str(raised.value)
