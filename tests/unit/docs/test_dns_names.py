"""The DNS names the documents list are the records the program creates: one derivation in the model
(``seawall.model.schema.Environment.dns_names``), checked against the rendered graph."""

from __future__ import annotations

from pathlib import Path

import pytest

from seawall.model import load_environment
from seawall.model.schema import droplet_names
from seawall.render import render
from seawall.stacks.program import OFFLINE
from tests.conftest import patch_environment

pytestmark = pytest.mark.render  # renders under the mock engine

DNS_RECORD = "digitalocean:index/dnsRecord:DnsRecord"


def records_of(env_name: str, environments: Path) -> set[str]:
    env = load_environment(environments, env_name)
    graph = render(env, OFFLINE)
    return {
        f"{record.inputs['name']}.{env.environment.domain}"
        for record in graph.resources.values()
        if record.type == DNS_RECORD
    }


def listed(env_name: str, environments: Path) -> set[str]:
    env = load_environment(environments, env_name)
    return {
        name
        for service_name, service in env.services.items()
        for droplet in droplet_names(service_name, service)
        for name in env.dns_names(service_name, droplet)
    }


@pytest.mark.parametrize("env_name", ["devnet", "mainnet"])
def test_the_listed_names_are_the_created_records(environments: Path, env_name: str) -> None:
    assert listed(env_name, environments) == records_of(env_name, environments)


def test_a_public_port_that_is_not_http_gets_no_public_name(environments: Path) -> None:
    """A node's p2p port is open to the public, but only an HTTP service gets ``<service>.<domain>``."""
    patch_environment(environments, "devnet", {"services": {"api": {"ports": [
        {"port": 30303, "from": "public"}, {"port": 22, "from": "admin"}, {"port": 9100, "from": "monitoring"},
    ], "health": None}}})  # fmt: skip
    names = listed("devnet", environments)
    assert names == records_of("devnet", environments)
    assert not any(name.startswith("api.") for name in names)
