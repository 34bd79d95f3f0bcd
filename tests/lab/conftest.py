"""The lab fleet, booted once per test session on the worker that runs the lab tests: they are one file,
and ``.ci/test`` distributes by file (``--dist loadfile``; pytest 9.2 ignores the group suffix that
``xdist_group`` relies on, and a second worker's lab would remove the first one's).

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

from seawall.build import Build
from seawall.model.schema import Environment
from seawall.render import Graph
from tests.lab import deploy
from tests.lab.executor import Applied, Executor
from tests.lab.fleet import LAB_WAIT_SECONDS, Lab, lab_fleet, lab_unavailable

UNAVAILABLE = lab_unavailable()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/lab/" in str(item.fspath):
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
    tables_after_refusal: dict[str, str]


# One file's fixture: the fleet goes down when test_fleet.py ends, not when the worker's session does, so a lab
# test file on the other worker (one lab at a time) waits for this file only.
@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    folder = tmp_path_factory.mktemp("lab")
    # Another lab test file (tests/lab/test_dr.py boots a fleet of its own) may hold the lab on the other
    # worker: wait for it to go down.
    with lab_fleet(folder / "fleet", deploy.lab_hosts(), wait=LAB_WAIT_SECONDS) as lab:
        ready = deploy.prepare(folder, lab)
        logs = folder / "steps"
        logs.mkdir()
        # The deploying machine reaches the hosts from the data-center side first: not in admin_cidrs.
        refused = Executor(folder / "state.json", logs, source="10.213.2.1").apply(ready.graph)
        tables = {name: lab.ssh(lab.hosts[name], "nft list tables").stdout for name in deploy.DATACENTER}
        executor = Executor(folder / "state.json", logs)
        applies = [executor.apply(ready.graph), executor.apply(ready.graph)]
        yield Deployed(lab, ready.environments, ready.env, ready.graph, ready.shipped, executor, refused, applies,
                       tables)  # fmt: skip


def on_host(
    deployed: Deployed, host: str, command: str, check: bool = True, timeout: float = 300, stdin: str | None = None
) -> str:
    """Run a command as root on a lab host (``stdin`` its standard input); return its standard output."""
    return deployed.lab.ssh(deployed.lab.hosts[host], command, check=check, timeout=timeout, stdin=stdin).stdout
