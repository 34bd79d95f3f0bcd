"""Managed databases under Pulumi's mock engine, in every shipped environment: the cluster in the VPC, its firewall
admitting the trusted services' droplets by tag, a user per service, its pools, replicas and alerts, and the
connection details on the trusted services' hosts alone, as a secret file."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from seawall.errors import ConfigError
from seawall.model import load_environment
from seawall.render import PLACEHOLDER_SECRET, FakeCloud, Graph, Program, render
from seawall.stacks.program import OFFLINE, SECRET_CONFIG, VAULT_CONFIG, build
from tests.conftest import SHIPPED, patch_environment

pytestmark = pytest.mark.render  # renders under the mock engine

ENVIRONMENTS = ["devnet", "qanet", "testnet", "mainnet"]
CLUSTER = "digitalocean:index/databaseCluster:DatabaseCluster"


@cache
def graph(name: str) -> Graph:
    return render(load_environment(SHIPPED, name), OFFLINE)


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_every_environment_has_its_index_cluster_in_its_vpc_behind_its_trusted_services(name: str) -> None:
    env, resources = load_environment(SHIPPED, name), graph(name).resources
    declared = env.databases["index"]
    cluster = resources["index-database-cluster"].inputs
    assert cluster["name"] == f"{name}-index"
    assert (cluster["engine"], cluster["version"], cluster["size"]) == ("pg", "16", declared.size)
    assert cluster["nodeCount"] == declared.node_count
    assert cluster["privateNetworkUuid"] == {"ref": "network-vpc.id"}
    assert cluster["maintenanceWindows"] == [{"day": "sunday", "hour": "03:00"}]
    assert f"tier:{env.environment.tier}" in cluster["tags"]
    firewall = resources["index-database-firewall"]
    assert firewall.inputs["rules"] == [
        {"type": "tag", "value": f"{name}-api"},
        {"type": "tag", "value": f"{name}-indexer"},
    ]
    # The firewall waits for the tags it names: DigitalOcean refuses a rule for a tag that does not exist.
    assert {"api-tag", "indexer-tag"} <= set(graph(name).dependencies["index-database-firewall"])
    users = sorted(r.inputs["name"] for r in resources.values() if r.type.endswith("databaseUser:DatabaseUser"))
    assert users == ["api", "indexer"]
    pool = resources["index-database-pool-api-reads"].inputs
    assert (pool["dbName"], pool["user"], pool["mode"], pool["size"]) == ("index", "api", "transaction", 10)
    replicas = [r for r in resources.values() if r.type.endswith("databaseReplica:DatabaseReplica")]
    assert len(replicas) == declared.read_replicas == (1 if name == "mainnet" else 0)
    alerts = {r.inputs["type"]: r.inputs for r in resources.values() if r.name.startswith("index-database-")
              and r.type.endswith("monitorAlert:MonitorAlert")}  # fmt: skip
    assert sorted(alerts) == [
        "v1/dbaas/alerts/cpu_alerts",
        "v1/dbaas/alerts/disk_utilization_alerts",
        "v1/dbaas/alerts/memory_utilization_alerts",
    ]
    assert all(alert["entities"] == [{"ref": "index-database-cluster.id"}] for alert in alerts.values())
    assert graph(name).outputs["databases"] == {"index": {"ref": "index-database-cluster.privateHost"}}


class _Passwords(FakeCloud):
    """The fake cloud, answering each database user and pool with a password of its own (the real cloud generates
    them; the offline placeholder masks the whole file)."""

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        identity, state = super().new_resource(args)
        if args.typ.endswith("databaseUser:DatabaseUser"):
            state["password"] = f"pw-{args.inputs['name']}-0123456789"
        if args.typ.endswith("databaseConnectionPool:DatabaseConnectionPool"):
            state["privateUri"] = f"postgresql://{args.inputs['user']}:pw-pool-0123456789@pool.internal:25061/pool"
        return identity, state


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_the_trusted_services_hosts_alone_get_the_connection_details_in_a_root_only_file(name: str) -> None:
    secrets = {key: f"value-of-{key}-0123456789" for key in (*SECRET_CONFIG, *VAULT_CONFIG)}
    program = Program(build, SECRET_CONFIG + VAULT_CONFIG)
    rendered = render(load_environment(SHIPPED, name), program, secrets, _Passwords())
    steps = {n: r for n, r in rendered.resources.items() if n.endswith("-database-index")}
    env = load_environment(SHIPPED, name)
    expected = {f"{s}-{i}-database-index" for s in ("api", "indexer") for i in range(1, env.services[s].count + 1)}
    assert set(steps) == expected
    api = steps["api-1-database-index"].inputs
    assert "cat > /etc/seawall/databases/index.env" in api["create"]
    assert "umask 077" in api["create"]
    assert "pw-api-0123456789" not in api["create"]  # the password comes on standard input, never in the command
    text = api["stdin"]
    assert "DATABASE_USER=api\nDATABASE_PASSWORD=pw-api-0123456789\n" in text
    assert f"DATABASE_HOST=private-{name}-index-" in text
    assert "DATABASE_URL=postgresql://api:pw-api-0123456789@private-" in text
    assert "DATABASE_POOL_URL=postgresql://api:pw-pool-0123456789@pool.internal:25061/pool\n" in text
    assert "DATABASE_USER=indexer\n" in steps["indexer-1-database-index"].inputs["stdin"]
    assert "DATABASE_POOL_URL" not in steps["indexer-1-database-index"].inputs["stdin"]
    # Each password is in its own service's file and nowhere else in the graph.
    for resource_name, record in rendered.resources.items():
        recorded = json.dumps(record.inputs)
        if not (resource_name.startswith("api-") and resource_name.endswith("-database-index")):
            assert "pw-api-0123456789" not in recorded, resource_name
    manifest = rendered.resources["api-1-manifest"].inputs["create"]
    assert "/etc/seawall/databases/index.env" in manifest
    assert "pw-api-0123456789" not in manifest


def test_offline_every_password_is_the_masked_placeholder() -> None:
    text = graph("devnet").to_json()
    assert PLACEHOLDER_SECRET not in text
    assert json.loads(text)  # the graph is whole
    stdin = graph("devnet").resources["api-1-database-index"].inputs["stdin"]
    assert stdin == "[secret]"


def test_a_database_trusting_an_unknown_service_or_naming_an_unknown_pool_user_is_refused(environments: Path) -> None:
    patch_environment(
        environments,
        "qanet",
        {"databases": {"index": {"trusted_sources": ["indexer", "apii"], "pools": [
            {"name": "api-reads", "database": "idx", "user": "api", "size": 10}]}}},
    )  # fmt: skip
    with pytest.raises(ConfigError) as raised:
        load_environment(environments, "qanet")
    problems = "\n".join(raised.value.problems)
    assert "'apii' is not a service of qanet" in problems
    assert "'idx' is not a database of index (index)" in problems
    assert "'api' is no user of index: its users are its trusted_sources" in problems


def test_a_database_without_trusted_sources_is_refused_by_the_model(environments: Path) -> None:
    patch_environment(environments, "devnet", {"databases": {"index": {"trusted_sources": []}}})
    with pytest.raises(ConfigError) as raised:
        load_environment(environments, "devnet")
    assert any("trusted_sources" in problem for problem in raised.value.problems)


def test_an_environment_without_databases_declares_no_cluster(environments: Path) -> None:
    patch_environment(environments, "qanet", {"databases": None})
    resources = render(load_environment(environments, "qanet"), OFFLINE).resources
    assert not [r for r in resources.values() if r.type == CLUSTER]
    assert not [n for n in resources if n.endswith("-database-index")]
