"""The DR rehearsal on the lab fleet, at the application level: a db droplet running Debian's PostgreSQL and
a data-center host with files, deployed with the deploy's own host steps, backed up by their sets (the db's
own dump hook, as the shipped model has it) and drilled; then both are destroyed, container and disk, and
``seawall dr rehearse`` rebuilds them on fresh containers through the same host steps and executor, restores
every set in place (the dump loaded into a fresh PostgreSQL by the set's after_restore hook) and times it.
A query returns the rows written before the backup; the files compare equal by hash.

This file boots a lab of its own (the lab-dr environment, ``tests/lab/lab-dr.yaml``), one lab on the machine at
a time: it waits while another file's (or another person's) fleet holds the lab lock."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from seawall.backup.schedules import render_bootstrap
from seawall.model import load_environment
from seawall.model.schema import Environment
from seawall.render import FakeCloud, Graph, Program, render
from tests.lab import deploy
from tests.lab.dr import LabMachines, Spec, destroy_host, in_lab_network, start_lab_waiting
from tests.lab.executor import Executor
from tests.lab.fleet import ACCESS_KEY, ROOT, SECRET_KEY, Host, Lab

pytestmark = pytest.mark.integration

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


@dataclass
class Rehearsed:
    lab: Lab
    env: Environment
    machines: LabMachines
    code: int
    report: dict[str, Any]
    stderr: str
    rows_before: str
    hashes_before: str
    environments: Path


def _query(lab: Lab) -> str:
    query = "runuser -u postgres -- psql -At -d app -c 'select count(*), sum(n) from facts'"
    return lab.ssh(lab.hosts[DB], query).stdout


def _hashes(lab: Lab) -> str:
    return lab.ssh(lab.hosts[DC], "cd /srv/flists && find . -type f -print0 | sort -z | xargs -0 sha256sum").stdout


@pytest.fixture(scope="module")
def rehearsed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rehearsed]:
    folder = tmp_path_factory.mktemp("lab-dr")
    lab = start_lab_waiting(folder / "fleet", list(SPECS.values()))
    try:
        environments = deploy.environments_folder(folder)
        (environments / "lab.yaml").unlink()  # the other lab's fleet: its VPC is this one's
        shutil.copy(ROOT / "tests/lab/lab-dr.yaml", environments / "lab-dr.yaml")
        env = load_environment(environments, "lab-dr")
        graph = _render(env, lab, folder)
        (folder / "steps").mkdir()
        Executor(folder / "state.json", folder / "steps").apply(graph).raise_on_failure()
        rows, hashes = _write_back_up_and_drill(lab, env)
        for host in (DB, DC):
            destroy_host(lab, host)  # lost: the container, its disk and its namespace
        _deployer_folders(environments)
        machines = LabMachines(lab, graph, env, folder / "rehearsal", dict(SPECS), _install_for)
        code, out, err = _rehearse(environments, machines)
        report = json.loads(out) if out.strip().startswith("{") else {}
        yield Rehearsed(lab, env, machines, code, report, err, rows, hashes, environments)
    finally:
        lab.down()


def _render(env: Environment, lab: Lab, folder: Path) -> Graph:
    from seawall.stacks import program

    shipped = deploy.build(folder)
    graph = render(env, Program(lambda e: program.build(e, shipped), program.SECRET_CONFIG), deploy.secrets(lab),
                   DrCloud())  # fmt: skip
    deploy.write_dns(lab, graph, env)
    deploy.make_bucket(env)
    return graph


def _install_for(lab: Lab, host: Host) -> None:
    if host.name == DB:
        install_postgresql(lab, host)


def _write_back_up_and_drill(lab: Lab, env: Environment) -> tuple[str, str]:
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
    return _query(lab), _hashes(lab)


def _deployer_folders(environments: Path) -> None:
    """The deploying machine keeps its state, reports and metrics in the test's folder (the hosts' model,
    already deployed, keeps the shipped ones)."""
    path = environments / "lab-dr.yaml"
    model = yaml.safe_load(path.read_text())
    own = {"state_dir": "deployer/state", "reports_dir": "deployer/reports", "metrics_dir": "deployer/prom"}
    model["backup"] |= own
    (environments.parent / "deployer/prom").mkdir(parents=True)
    path.write_text(yaml.safe_dump(model, sort_keys=False))


def _rehearse(environments: Path, machines: LabMachines) -> tuple[int, str, str]:
    """`seawall dr rehearse` in this process with the lab's machines injected where the temporary stack's
    are made (the one part that needs the Pulumi CLI and DigitalOcean), from the deploying machine's place
    on the bridge, with the bucket's keys."""
    from seawall.cli.app import main
    from seawall.dr import stack

    argv = ["--environments", str(environments), "dr", "rehearse", "lab-dr", "--host", DB, "--host", DC, "--keep",
            "--format", "json", "--issue", "lab/dr#1"]  # fmt: skip
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stack, "make_machines", lambda *args: machines)
        patch.setenv("SPACES_ACCESS_KEY_ID", ACCESS_KEY)
        patch.setenv("SPACES_SECRET_ACCESS_KEY", SECRET_KEY)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = in_lab_network(lambda: main(argv))
    return code, out.getvalue(), err.getvalue()


def test_the_rebuilt_db_answers_the_rows_written_before_the_backup(rehearsed: Rehearsed) -> None:
    assert rehearsed.code == 0, (rehearsed.stderr, json.dumps(rehearsed.report.get("failures"), indent=1))
    assert rehearsed.rows_before.strip() == f"{ROWS}|{ROWS * (ROWS + 1) // 2}"
    assert _query(rehearsed.lab) == rehearsed.rows_before


def test_the_rebuilt_data_center_hosts_files_are_the_same_by_hash(rehearsed: Rehearsed) -> None:
    assert rehearsed.hashes_before.count("\n") == len(FLISTS)
    assert _hashes(rehearsed.lab) == rehearsed.hashes_before


def test_the_report_times_every_step_and_set_against_its_targets(rehearsed: Rehearsed) -> None:
    report = rehearsed.report
    assert report["result"] == "passed"
    assert report["failures"] == []
    assert report["machines"] == "lab"
    sets = {(h["host"], s["set"]): s for h in report["hosts"] for s in h["sets"]}
    assert set(sets) == {(DB, "postgres"), (DC, "flists")}
    for (_, set_name), rehearsed_set in sets.items():
        target = rehearsed.env.backup_sets[set_name]
        assert rehearsed_set["rto"]["target_seconds"] == target.rto.total_seconds()
        assert 0 < rehearsed_set["rto"]["seconds"] <= report["seconds"]
        assert 0 <= rehearsed_set["rpo"]["seconds"] < target.rpo.total_seconds()
        # The drill verified the one snapshot there is: auto restored it.
        assert rehearsed_set["snapshot"]["verified_by"]
    assert [c["ok"] for c in sets[(DB, "postgres")]["checks"]] == [True]
    steps = {h["host"]: [s["name"] for s in h["steps"]] for h in report["hosts"]}
    assert steps[DB][0] == "boot"
    assert any(name.startswith("host step db-1-") for name in steps[DB])
    assert {h["host"]: h["health"] for h in report["hosts"]}[DB] == [
        {"unit": "postgresql.service", "ok": True, "state": "active"}
    ]
    assert report["verified_seconds"] <= report["recovery_target_seconds"]


def test_the_record_shows_the_last_rehearsal_and_the_rebuilt_hosts_never_back_up(rehearsed: Rehearsed) -> None:
    record = json.loads((rehearsed.environments.parent / "deployer/state/lab-dr/dr/rehearsal.json").read_text())
    assert record["result"] == "passed"
    assert set(record["sets"]) == {"postgres/db-1", "flists/dc-build-1"}
    metrics = (rehearsed.environments.parent / "deployer/prom/seawall_dr_rehearsal_lab-dr.prom").read_text()
    assert 'seawall_dr_rehearsal_success{environment="lab-dr"} 1' in metrics
    for host in (DB, DC):
        timers = rehearsed.lab.ssh(rehearsed.lab.hosts[host], "systemctl list-timers --no-legend 'seawall-*'").stdout
        assert timers.strip() == "", (host, timers)


def test_tear_down_destroys_every_rebuilt_container(rehearsed: Rehearsed) -> None:
    rehearsed.machines.tear_down()
    assert DB not in rehearsed.lab.hosts
    assert DC not in rehearsed.lab.hosts
    assert not list((rehearsed.lab.folder / "hosts").iterdir())
