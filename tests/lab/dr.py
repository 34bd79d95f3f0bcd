"""The lab's machines for ``seawall dr rehearse``: fresh containers standing in for new droplets and
rebuilt data-center hosts, the deploy's own host steps through the lab's executor, and the lab's SSH.

``LabMachines`` meets the rehearsal's ``Machines`` seam (``seawall/dr/engine.py``) as the temporary stack does
in production: ``boot`` makes a host from nothing (a new overlay over the cached Debian 12 tree, its namespace
at the model's address, booted with systemd) and runs the service's own install where the test gives one
(PostgreSQL for the db host: Debian's package from the mirror stand-in, not Seawall's business);
``host_steps`` applies the graph's steps of that host with a fresh executor state (a new machine has run none);
``tear_down`` destroys every container it made, disk and namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from seawall.dr.engine import Ran, StepFailed, host_seawall_line
from seawall.render import Graph
from tests.lab import deploy
from tests.lab.executor import COMMAND, COPY, Executor
from tests.lab.fleet import LAB_NS, Host, Lab, kill_inside, sh, start_lab

Spec = tuple[str, str, str, str | None]  # name, address, SSH user, user_data (a droplet) or None


def destroy_host(lab: Lab, name: str) -> None:
    """Given a lab host, destroy it as a lost machine is lost: its container stopped, its disk (the overlay's
    upper layer) and its namespace removed."""
    host = lab.hosts.pop(name)
    if host.process is not None and host.process.poll() is None:
        host.process.terminate()
        with contextlib.suppress(Exception):
            host.process.wait(timeout=30)
        if host.process.poll() is None:
            host.process.kill()
            host.process.wait(timeout=30)
    kill_inside([host.netns])
    for _ in range(10):
        if sh("umount", str(host.root), check=False).returncode == 0 or not os.path.ismount(host.root):
            break
        time.sleep(1)
    sh("ip", "netns", "delete", host.netns, check=False)
    shutil.rmtree(host.folder, ignore_errors=True)


def host_graph(graph: Graph, address: str) -> Graph:
    """Given a graph and a host's address, return the graph of that host's steps only (and their order)."""
    names = {
        name
        for name, record in graph.resources.items()
        if record.type in (COMMAND, COPY) and (record.inputs.get("connection") or {}).get("host") == address
    }
    return Graph(
        graph.environment,
        {name: graph.resources[name] for name in names},
        {},
        {name: [d for d in graph.dependencies.get(name, []) if d in names] for name in names},
    )


@dataclass
class LabMachines:
    """Fresh lab containers for a rehearsal, made and destroyed by it."""

    lab: Lab
    graph: Graph
    env: Any
    folder: Path
    specs: dict[str, Spec]
    install: Callable[[Lab, Host], None] | None = None  # the service's own install on a new machine
    kind: str = "lab"
    stack: str = "lab containers"
    created: list[str] = field(default_factory=list)

    def boot(self, host: str) -> None:
        if host in self.lab.hosts:
            raise StepFailed("boot", f"{host} still runs in the lab: a rehearsal rebuilds a lost host")
        name, address, user, user_data = self.specs[host]
        made = self.lab.add_host(name, address, user, user_data is not None, user_data)
        self.created.append(name)
        deploy.write_dns(SimpleNamespace(hosts={name: made}), self.graph, self.env)  # type: ignore[arg-type]
        self.lab.boot(made)
        self.lab.wait_until_up(made)
        if self.install is not None:
            self.install(self.lab, made)

    def host_steps(self, host: str) -> list[tuple[str, float]]:
        logs = self.folder / f"steps-{host}"
        logs.mkdir(parents=True, exist_ok=True)
        executor = Executor(self.folder / f"state-{host}-{time.monotonic_ns()}.json", logs)
        applied = executor.apply(host_graph(self.graph, self.specs[host][1]))
        if applied.failed:
            first = applied.failed[0]
            raise StepFailed(first.name, first.output.strip().splitlines()[-1] if first.output.strip() else "")
        return [(run.name, run.seconds) for run in applied.runs]

    def run(self, host: str, command: str) -> Ran:
        result = self.lab.ssh(self.lab.hosts[host], command, check=False, timeout=1800)
        return Ran(result.returncode, result.stdout, result.stderr)

    def seawall(self, source: str, args: tuple[str, ...]) -> str:
        return host_seawall_line(source, args)

    def tear_down(self) -> None:
        for name in reversed(self.created):
            if name in self.lab.hosts:
                destroy_host(self.lab, name)
        self.created.clear()


_CLONE_NEWNET = 0x40000000


def in_lab_network(action: Callable[[], Any]) -> Any:
    """Given an action, run it in a thread that has joined the lab's network namespace (the deploying
    machine's place: the bucket on the bridge is reachable from there, as ``in_lab`` gives a command)."""
    outcome: dict[str, Any] = {}

    def body() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        with open(f"/run/netns/{LAB_NS}") as namespace:
            if libc.setns(namespace.fileno(), _CLONE_NEWNET) != 0:
                outcome["error"] = OSError(ctypes.get_errno(), "setns into the lab's namespace failed")
                return
        try:
            outcome["value"] = action()
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def start_lab_waiting(folder: Path, hosts: list[Spec], seconds: float = 3600) -> Lab:
    """Start a lab, waiting while another holds the machine's lab lock (another test file's fleet, or another
    helper's), for at most ``seconds``: one lab at a time, whichever file runs first."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return start_lab(folder, hosts)
        except RuntimeError as exc:
            if "another lab fleet" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(20)
