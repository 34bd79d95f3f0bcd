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

import yaml

from seawall.backup.schedules import render_bootstrap
from seawall.dr.engine import Ran, StepFailed, host_seawall_line
from seawall.model import load_environment
from seawall.model.schema import Environment
from seawall.render import FakeCloud, Graph, Program, render
from tests.lab import deploy
from tests.lab.executor import COMMAND, COPY, Executor
from tests.lab.fleet import LAB_NS, LAB_WAIT_SECONDS, ROOT, Host, Lab, kill_inside, sh, start_lab

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


def start_lab_waiting(folder: Path, hosts: list[Spec], seconds: float = LAB_WAIT_SECONDS) -> Lab:
    """Start a lab, waiting while another holds the machine's lab lock (test_fleet.py's fleet on the other
    worker, or another person's), for at most ``seconds``: one lab at a time, whichever file runs first."""
    return start_lab(folder, hosts, wait=seconds)


DB = "db-1"
DC = "dc-build-1"
SPECS: dict[str, Spec] = {
    DB: (DB, "10.213.1.21", "root", render_bootstrap(None)),
    DC: (DC, "10.213.2.11", "root", None),
}
ROWS = 500  # enough that the dump is over the postgres set's drill floor (min_bytes 1024)
FLISTS = {"app.flist": "flist of the app\n", "nested/indexer.flist": "x" * 40000, "empty.flist": ""}


class DrCloud(FakeCloud):
    """The mock engine's answers with the db droplet at its lab address (as ``deploy.LabCloud`` for the lab)."""

    known_outputs = frozenset({"ipv4Address", "ipv4AddressPrivate"})

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        identity, state = super().new_resource(args)
        if args.typ.endswith(":Droplet"):
            host = str(args.inputs.get("name", "")).removeprefix("lab-dr-")
            state["ipv4Address"] = state["ipv4AddressPrivate"] = SPECS[host][1]
        return identity, state


def install_postgresql(lab: Lab, host: Host) -> None:
    """The db service's own install (its image or its team's provisioning, not Seawall's): Debian's PostgreSQL
    from the mirror stand-in, and a superuser role for root, whom the set's hooks run as."""
    lab.ssh(host, "flock /run/lock/seawall-apt.lock sh -c 'apt-get -qq update && DEBIAN_FRONTEND=noninteractive "
            "apt-get -qq -y --no-install-recommends install postgresql'", timeout=1200)  # fmt: skip
    lab.ssh(host, "systemctl start postgresql && runuser -u postgres -- createuser --superuser root")


def query(lab: Lab) -> str:
    query = "runuser -u postgres -- psql -At -d app -c 'select count(*), sum(n) from facts'"
    return lab.ssh(lab.hosts[DB], query).stdout


def hashes(lab: Lab) -> str:
    return lab.ssh(lab.hosts[DC], "cd /srv/flists && find . -type f -print0 | sort -z | xargs -0 sha256sum").stdout


def render_graph(env: Environment, lab: Lab, folder: Path) -> Graph:
    from seawall.stacks import program

    shipped = deploy.build(folder)
    graph = render(env, Program(lambda e: program.build(e, shipped), program.SECRET_CONFIG), deploy.secrets(lab),
                   DrCloud())  # fmt: skip
    deploy.write_dns(lab, graph, env)
    deploy.make_bucket(env)
    return graph


def install_for(lab: Lab, host: Host) -> None:
    if host.name == DB:
        install_postgresql(lab, host)


def write_back_up_and_drill(lab: Lab, env: Environment) -> tuple[str, str]:
    """The services' data, one backup and one drill of each set (the drill marks the snapshot verified)."""
    db, dc = lab.hosts[DB], lab.hosts[DC]
    install_postgresql(lab, db)
    lab.ssh(db, "install -d /var/backups/postgres && createdb app && psql -d app -c "
            f"'create table facts (n integer primary key, what text); insert into facts select n, md5(n::text) "
            f"from generate_series(1, {ROWS}) as n'")  # fmt: skip
    for relative, text in FLISTS.items():
        path = f"/srv/flists/{relative}"
        lab.ssh(dc, f"install -d $(dirname {path}) && cat > {path}", stdin=text)
    for host, set_name in ((db, "postgres"), (dc, "flists")):
        for kind in ("backup", "drill"):
            lab.ssh(host, f"systemctl start seawall-{kind}-{set_name}.service", timeout=900)
    return query(lab), hashes(lab)


def deployer_folders(environments: Path) -> None:
    """The deploying machine keeps its state, reports and metrics in the test's folder (the hosts' model,
    already deployed, keeps the shipped ones)."""
    path = environments / "lab-dr.yaml"
    model = yaml.safe_load(path.read_text())
    own = {"state_dir": "deployer/state", "reports_dir": "deployer/reports", "metrics_dir": "deployer/prom"}
    model["backup"] |= own
    (environments.parent / "deployer/prom").mkdir(parents=True)
    path.write_text(yaml.safe_dump(model, sort_keys=False))


def deploy_dr_fleet(folder: Path, lab: Lab) -> tuple[Path, Environment, Graph, str, str]:
    """Given the lab-dr fleet, deploy it with the graph's own host steps, write the services' data, back up and
    drill each set once; return the environments, the model, the graph, the rows and the files' hashes."""
    environments = deploy.environments_folder(folder)
    (environments / "lab.yaml").unlink()  # the other lab's fleet: its VPC is this one's
    shutil.copy(ROOT / "tests/lab/lab-dr.yaml", environments / "lab-dr.yaml")
    env = load_environment(environments, "lab-dr")
    graph = render_graph(env, lab, folder)
    (folder / "steps").mkdir()
    Executor(folder / "state.json", folder / "steps").apply(graph).raise_on_failure()
    rows, hashes_before = write_back_up_and_drill(lab, env)
    return environments, env, graph, rows, hashes_before
