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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from seawall.model.schema import Environment
from tests.lab.dr import (
    DB,
    DC,
    FLISTS,
    ROWS,
    SPECS,
    LabMachines,
    deploy_dr_fleet,
    deployer_folders,
    destroy_host,
    hashes,
    in_lab_network,
    install_for,
    query,
    start_lab_waiting,
)
from tests.lab.fleet import ACCESS_KEY, SECRET_KEY, Lab

pytestmark = pytest.mark.integration


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


@pytest.fixture(scope="module")
def rehearsed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rehearsed]:
    folder = tmp_path_factory.mktemp("lab-dr")
    lab = start_lab_waiting(folder / "fleet", list(SPECS.values()))
    try:
        environments, env, graph, rows, hashes_before = deploy_dr_fleet(folder, lab)
        for host in (DB, DC):
            destroy_host(lab, host)  # lost: the container, its disk and its namespace
        deployer_folders(environments)
        machines = LabMachines(lab, graph, env, folder / "rehearsal", dict(SPECS), install_for)
        code, out, err = _rehearse(environments, machines)
        report = json.loads(out) if out.strip().startswith("{") else {}
        yield Rehearsed(lab, env, machines, code, report, err, rows, hashes_before, environments)
    finally:
        lab.down()


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
    assert query(rehearsed.lab) == rehearsed.rows_before


def test_the_rebuilt_data_center_hosts_files_are_the_same_by_hash(rehearsed: Rehearsed) -> None:
    assert rehearsed.hashes_before.count("\n") == len(FLISTS)
    assert hashes(rehearsed.lab) == rehearsed.hashes_before


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
