"""The offline engine (seawall.render) records what a deploy would: an input that is another resource's output is
a reference to that output, never the fake cloud's stand-in and never dropped. Pulumi's own mock engine."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from seawall.model import load_environment
from seawall.render import FakeCloud, Graph, reference, referenced, render, stand_in_outputs
from seawall.stacks.program import OFFLINE
from tests.conftest import SHIPPED

pytestmark = pytest.mark.render  # renders under the mock engine

SHIPPED_ENVIRONMENTS = ["devnet", "qanet", "testnet", "mainnet"]
DROPLET = "digitalocean:index/droplet:Droplet"
DNS_RECORD = "digitalocean:index/dnsRecord:DnsRecord"


@cache
def graph(name: str) -> Graph:
    return render(load_environment(SHIPPED, name), OFFLINE)


def droplets(rendered: Graph) -> list[str]:
    return sorted(name for name, record in rendered.resources.items() if record.type == DROPLET)


def test_the_vpc_record_of_each_droplet_refers_to_its_private_address_and_waits_for_it() -> None:
    devnet = graph("devnet")
    assert droplets(devnet) == ["api-1", "db-1", "faucet-1", "indexer-1", "monitoring-1"]
    for droplet in droplets(devnet):
        record = devnet.resources[f"{droplet}-dns-vpc"]
        assert record.type == DNS_RECORD
        assert record.inputs["name"] == f"{droplet}.vpc"
        assert record.inputs["value"] == {"ref": f"{droplet}.ipv4AddressPrivate"}
        assert droplet in devnet.dependencies[record.name]
        # A droplet with a reserved IP is named by it (tests/unit/components/test_reserved_ip.py).
        public = (
            f"{droplet}-address-ip.ipAddress" if f"{droplet}-address" in devnet.resources else f"{droplet}.ipv4Address"
        )
        assert devnet.resources[f"{droplet}-dns"].inputs["value"] == {"ref": public}


def test_what_other_resources_compute_is_a_reference_to_it() -> None:
    devnet = graph("devnet")
    assert devnet.resources["api-1"].inputs["vpcUuid"] == {"ref": "network-vpc.id"}
    assert devnet.resources["api-1-install"].inputs["connection"]["host"] == {"ref": "api-1.ipv4Address"}
    attachment = devnet.resources["db-1-volume-attachment"].inputs
    assert (attachment["dropletId"], attachment["volumeId"]) == ({"ref": "db-1.id"}, {"ref": "db-1-volume.id"})
    assert {"ref": "db-1.dropletUrn"} in devnet.resources["project-project"].inputs["resources"]
    assert devnet.outputs["droplet_ips"]["api"] == [{"ref": "api-1.ipv4Address"}]
    assert devnet.outputs["vpc_id"] == {"ref": "network-vpc.id"}


def _stand_ins(rendered: Graph) -> set[str]:
    return {
        str(value)
        for record in rendered.resources.values()
        if record.custom
        for value in stand_in_outputs(record.name, record.type, record.inputs).values()
    }


@pytest.mark.parametrize("name", SHIPPED_ENVIRONMENTS)
def test_no_stand_in_of_the_fake_cloud_reaches_the_graph(name: str) -> None:
    rendered = graph(name)
    text = rendered.to_json()
    assert [value for value in _stand_ins(rendered) if value in text] == []
    assert '"ref"' in text


@pytest.mark.parametrize("name", SHIPPED_ENVIRONMENTS)
def test_every_reference_names_a_resource_of_the_graph_it_depends_on(name: str) -> None:
    rendered = graph(name)
    for record in rendered.resources.values():
        for target, output in _references(record.inputs):
            assert target in rendered.resources, (record.name, target)
            assert target in rendered.dependencies[record.name], (record.name, target)
            assert output in stand_in_outputs(target, rendered.resources[target].type, {}), (record.name, output)


def _references(value: Any) -> list[tuple[str, str]]:
    found = referenced(value)
    if found is not None:
        return [found]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [pair for item in items for pair in _references(item)]


def test_the_same_model_gives_the_same_bytes_with_the_references() -> None:
    env = load_environment(SHIPPED, "mainnet")
    first = render(env, OFFLINE).to_json()
    assert render(env, OFFLINE).to_json() == first
    assert json.loads(first)["resources"]


class KnowingCloud(FakeCloud):
    """A cloud whose droplet addresses are real (as the lab fleet's are)."""

    known_outputs = frozenset({"ipv4Address", "ipv4AddressPrivate"})

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        identity, state = super().new_resource(args)
        if args.typ == DROPLET:
            state["ipv4Address"], state["ipv4AddressPrivate"] = "192.0.2.21", "10.10.0.21"
        return identity, state


def test_outputs_a_cloud_really_knows_are_recorded_as_values_and_the_rest_as_references() -> None:
    rendered = render(load_environment(SHIPPED, "devnet"), OFFLINE, cloud=KnowingCloud())
    assert rendered.resources["api-1-dns-vpc"].inputs["value"] == "10.10.0.21"
    assert rendered.resources["api-1-dns"].inputs["value"] == "192.0.2.21"
    assert rendered.resources["api-1-install"].inputs["connection"]["host"] == "192.0.2.21"
    assert rendered.resources["api-1"].inputs["vpcUuid"] == {"ref": "network-vpc.id"}


def test_a_reference_names_the_resource_and_its_output() -> None:
    assert reference("api-1", "ipv4AddressPrivate") == {"ref": "api-1.ipv4AddressPrivate"}
    assert referenced({"ref": "api-1.ipv4AddressPrivate"}) == ("api-1", "ipv4AddressPrivate")
    for value in ("api-1.ipv4Address", {"ref": "no-output"}, {"ref": "a.b", "other": 1}, {"ref": 3}, None):
        assert referenced(value) is None
