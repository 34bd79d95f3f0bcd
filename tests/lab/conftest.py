"""The lab fleet, booted once per test session on the worker that runs the lab tests (``xdist_group``).

Four Debian 12 hosts, at the lab model's addresses: dc-storage-1 (the shipped non-root ``ssh_user``),
dc-build-1 (root), the droplets app-1 and monitoring-1 (their ``user_data`` run by cloud-init's NoCloud).
The deploy is applied three times before any test looks: first from an address the data-center hosts'
firewall would lock out (every step but the firewalls succeeds, and the firewalls refuse), then from the
admin network (only what did not run yet runs), then again (nothing runs).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from seawall.backup.schedules import render_bootstrap
from seawall.build import Build
from seawall.model.schema import Environment
from seawall.render import Graph
from tests.lab import deploy
from tests.lab.executor import Applied, Executor
from tests.lab.fleet import Lab, lab_fleet, lab_unavailable

UNAVAILABLE = lab_unavailable()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/lab/" in str(item.fspath):
            item.add_marker(pytest.mark.xdist_group("lab"))
            item.add_marker(pytest.mark.lab)
            if UNAVAILABLE:
                item.add_marker(pytest.mark.skip(reason=f"lab fleet skipped: {UNAVAILABLE}"))


@dataclass
class Deployed:
    """The booted, deployed lab and what the deploy did."""

    lab: Lab
    environments: Path
    env: Environment
    graph: Graph
    shipped: Build
    executor: Executor
    refused: Applied
    applies: list[Applied]


def write_dns(lab: Lab, graph: Graph, env: Environment) -> None:
    """The stand-in for DigitalOcean's DNS: every A record of the graph in every host's /etc/hosts."""
    records = [
        f"{record.inputs['value']} {record.inputs['name']}.{env.environment.domain}"
        for record in graph.resources.values()
        if record.type.endswith(":DnsRecord") and record.inputs.get("type") == "A" and "value" in record.inputs
    ]
    for host in lab.hosts.values():
        with (host.root / "etc/hosts").open("a") as hosts:
            hosts.write("# the lab's DNS stand-in: the graph's records\n" + "\n".join(records) + "\n")


@pytest.fixture(scope="session")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    folder = tmp_path_factory.mktemp("lab")
    hosts = [(name, address, user, None) for name, (address, user) in deploy.DATACENTER.items()]
    hosts += [(name, address, "root", render_bootstrap(None)) for name, address in deploy.DROPLETS.items()]
    with lab_fleet(folder / "fleet", hosts) as lab:
        environments = deploy.environments_folder(folder)
        env = deploy.load(environments)
        shipped = deploy.build(folder)
        graph = deploy.render_lab(env, lab, shipped)
        write_dns(lab, graph, env)
        deploy.make_bucket(env)
        logs = folder / "steps"
        logs.mkdir()
        # The deploying machine reaches the hosts from the data-center side first: not in admin_cidrs.
        refused = Executor(folder / "state.json", logs, source="10.213.2.1").apply(graph)
        executor = Executor(folder / "state.json", logs)
        applies = [executor.apply(graph), executor.apply(graph)]
        yield Deployed(lab, environments, env, graph, shipped, executor, refused, applies)


def on_host(deployed: Deployed, host: str, command: str, check: bool = True, timeout: float = 300) -> str:
    """Run a command as root on a lab host; return its standard output."""
    return deployed.lab.ssh(deployed.lab.hosts[host], command, check=check, timeout=timeout).stdout
