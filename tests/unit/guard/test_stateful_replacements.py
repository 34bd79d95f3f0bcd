"""Which replacements ``seawall up`` gates, and what the plan says each one holds (real offline renders)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from seawall.model import load_environment
from seawall.render import referenced, render, stand_in_outputs
from seawall.replacements import DROPLET, allow_replace_names, plan_changes, resources_by_name, stateful_changes
from seawall.stacks.program import OFFLINE
from tests.conftest import patch_environment

pytestmark = pytest.mark.render  # renders under the mock engine


def _resources(environments: Path, name: str) -> dict:
    return resources_by_name(json.loads(render(load_environment(environments, name), OFFLINE).to_json()))


def test_a_stateful_droplet_removed_by_a_lower_count_is_gated_with_its_volume(environments: Path) -> None:
    patch_environment(environments, "qanet", {"services": {"db": {"count": 2}}})
    before = _resources(environments, "qanet")
    patch_environment(environments, "qanet", {"services": {"db": {"count": 1}}})
    env = load_environment(environments, "qanet")
    stateful = stateful_changes(env, plan_changes(before, _resources(environments, "qanet")))
    # Its reserved IP goes with it: the address is given back for good (#31).
    assert allow_replace_names(stateful) == ["db-2", "db-2-address-ip", "db-2-volume"]
    assert [item.change.action for item in stateful] == ["delete", "delete", "delete"]
    assert stateful[0].what.startswith("the droplet of db, a stateful service")


def test_a_volume_is_held_by_the_sets_with_a_path_inside_its_mount(environments: Path) -> None:
    before = _resources(environments, "qanet")
    patch_environment(environments, "qanet", {"services": {"indexer": {"volume": {"filesystem": "xfs"}}}})
    env = load_environment(environments, "qanet")
    (volume,) = stateful_changes(env, plan_changes(before, _resources(environments, "qanet")))
    assert (volume.change.name, volume.kind, volume.service) == ("indexer-1-volume", "volume", "indexer")
    assert volume.backup_sets == ("indexer-state",)


def test_a_volume_no_set_holds_says_its_data_is_lost_with_it(environments: Path) -> None:
    before = _resources(environments, "qanet")
    patch_environment(environments, "qanet", {"services": {"monitoring": {"volume": {"filesystem": "xfs"}}}})
    env = load_environment(environments, "qanet")
    (volume,) = stateful_changes(env, plan_changes(before, _resources(environments, "qanet")))
    assert volume.change.name == "monitoring-1-volume"
    assert volume.holds == "no backup set holds its data: it is lost with it"


def test_a_stateless_droplet_is_not_gated(environments: Path) -> None:
    before = _resources(environments, "qanet")
    patch_environment(environments, "qanet", {"services": {"api": {"image": "ubuntu-26-04-x64"}}})
    env = load_environment(environments, "qanet")
    plan = plan_changes(before, _resources(environments, "qanet"))
    assert [c.name for c in plan.of("replace")] == ["api-1"]
    assert stateful_changes(env, plan) == []


def _before_references(value: Any, resources: dict, key: str = "") -> Any:
    """Given a graph's inputs, return them as graphs recorded them before references: the fake cloud's stand-in
    value in place of each reference (an id made a number where the program makes it one), and no value
    where the cloud answered nothing (a droplet's private address)."""
    target = referenced(value)
    if target is not None:
        name, output = target
        stand_in = stand_in_outputs(name, resources[name]["type"], resources[name]["inputs"])[output]
        return int(stand_in) if key == "dropletId" else stand_in
    if isinstance(value, dict):
        return {
            k: _before_references(item, resources, k)
            for k, item in value.items()
            if referenced(item) is None or referenced(item)[1] != "ipv4AddressPrivate"
        }
    if isinstance(value, list):
        return [_before_references(item, resources) for item in value]
    return value


def test_a_graph_recorded_before_references_plans_no_replacement_only_the_vpc_records_values(
    environments: Path,
) -> None:
    after = _resources(environments, "mainnet")
    before = {name: {**item, "inputs": _before_references(item["inputs"], after)} for name, item in after.items()}
    assert before["db-1-volume-attachment"]["inputs"]["dropletId"] == int(stand_in_outputs("db-1", DROPLET, {})["id"])
    changes = plan_changes(before, after).changes
    vpc_records = sorted(name for name in after if name.endswith("-dns-vpc"))
    assert vpc_records
    assert [(c.name, c.action, c.inputs) for c in changes] == [(name, "update", ("value",)) for name in vpc_records]


def test_a_reference_that_names_another_output_is_a_change(environments: Path) -> None:
    after = _resources(environments, "qanet")
    before = json.loads(json.dumps(after))
    before["api-1-dns-vpc"]["inputs"]["value"] = {"ref": "api-1.ipv4Address"}
    before["api-1"]["inputs"]["vpcUuid"] = {"ref": "old-network-vpc.id"}
    changes = plan_changes(before, after).changes
    assert [(c.name, c.action, c.inputs) for c in changes] == [
        ("api-1", "replace", ("vpcUuid",)),
        ("api-1-dns-vpc", "update", ("value",)),
    ]


def test_a_replaced_reserved_ip_is_gated_and_a_replaced_balancer_is_not(environments: Path) -> None:
    before = _resources(environments, "qanet")
    # As deployed: the db's address reserved in another region, the balancer in another VPC.
    before["db-1-address-ip"] = {**before["db-1-address-ip"], "inputs": {"region": "fra1"}}
    balancer = before["api-lb-balancer"]
    before["api-lb-balancer"] = {**balancer, "inputs": {**balancer["inputs"], "vpcUuid": {"ref": "other-vpc.id"}}}
    env = load_environment(environments, "qanet")
    plan = plan_changes(before, _resources(environments, "qanet"))
    assert {(c.name, c.inputs) for c in plan.of("replace")} >= {
        ("db-1-address-ip", ("region",)),
        ("api-lb-balancer", ("vpcUuid",)),
    }
    (address,) = stateful_changes(env, plan)
    assert (address.change.name, address.kind, address.service) == ("db-1-address-ip", "reserved ip", "db")
    assert address.what == "the reserved IP of db-1 (service db)"
    assert "given back for good" in address.holds
    assert allow_replace_names([address]) == ["db-1-address-ip"]


def test_a_replaced_database_cluster_is_gated_and_a_resize_is_not(environments: Path) -> None:
    before = _resources(environments, "mainnet")
    cluster = before["index-database-cluster"]
    # As deployed: another engine (the cluster is made again, empty), and two nodes of a smaller size.
    before["index-database-cluster"] = {**cluster, "inputs": {**cluster["inputs"], "engine": "mysql"}}
    env = load_environment(environments, "mainnet")
    plan = plan_changes(before, _resources(environments, "mainnet"))
    assert [(c.name, c.action, c.inputs) for c in plan.changes] == [("index-database-cluster", "replace", ("engine",))]
    (database,) = stateful_changes(env, plan)
    assert (database.kind, database.service) == ("database", None)
    assert database.what.startswith("the managed database index (pg 16, 2 node(s)): The chain index")
    assert "point-in-time recovery are deleted with it" in database.holds
    assert allow_replace_names([database]) == ["index-database-cluster"]
    # A resize and another node count change the cluster in place: nothing to gate.
    resized = {**cluster, "inputs": {**cluster["inputs"], "size": "db-s-1vcpu-2gb", "nodeCount": 1}}
    plan = plan_changes({**before, "index-database-cluster": resized}, _resources(environments, "mainnet"))
    assert [(c.name, c.action, c.inputs) for c in plan.changes] == [
        ("index-database-cluster", "update", ("nodeCount", "size"))
    ]
    assert stateful_changes(env, plan) == []
