"""The rehearsal engine with real restic and the real Seawall on a stand-in for a new machine: this machine,
whose "new disk" has lost the sets' paths (``Fresh``: the boot removes them, the host steps are the test's to
pass or fail, commands run here). Everything but the machine is real: the backups, the drill that verifies a
snapshot, ``seawall snapshots`` and ``seawall restore --in-place`` run by the rehearsal, a damaged repository,
the report, the record and the metrics. The lab fleet rebuilds real hosts (``tests/lab/test_dr.py``)."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from seawall.dr.engine import QUIESCE, Ran, Request, StepFailed, rehearse
from seawall.dr.report import last_rehearsal, record_rehearsal, rehearsal_metrics, report_json, report_markdown
from seawall.errors import Interrupted
from seawall.model import load_environment
from tests.integration.backup.conftest import Lab

pytestmark = pytest.mark.integration
HOST = "lab-host"


@dataclass
class Fresh:
    """This machine as a new one: ``boot`` loses the sets' live paths, ``host_steps`` fails when told."""

    lab: Lab
    failing_step: str | None = None
    interrupt_on: str | None = None  # a word of a command: the signal arrives while it runs
    kind: str = "local"
    stack: str = "this machine"
    ran: list[str] = field(default_factory=list)
    torn_down: int = 0

    def boot(self, host: str) -> None:
        env = load_environment(self.lab.environments, "lab")
        for set_name in env.host_sets(host):
            for path in env.backup_sets[set_name].paths:
                shutil.rmtree(path, ignore_errors=True)

    def host_steps(self, host: str) -> list[tuple[str, float]]:
        if self.failing_step:
            raise StepFailed(self.failing_step, "E: Unable to locate package restic")
        return [(f"{host}-install", 0.5)]

    def run(self, host: str, command: str) -> Ran:
        self.ran.append(command)
        if self.interrupt_on and self.interrupt_on in command:
            raise Interrupted(15)
        if command == QUIESCE:  # this machine's timers are not the rehearsal's to stop
            return Ran(0, "", "")
        result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=False, timeout=300)
        return Ran(result.returncode, result.stdout, result.stderr)

    def seawall(self, source: str, args: tuple[str, ...]) -> str:
        return shlex.join([sys.executable, "-m", "seawall", "--environments", str(self.lab.environments), *args])

    def tear_down(self) -> None:
        self.torn_down += 1


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _with_checks(lab: Lab, checks: list[str]) -> None:
    lab.set("files")["drill"]["checks"] = checks
    lab.write()


def _backed_up_and_drilled(lab: Lab, seawall: Callable[..., Any]) -> None:
    assert seawall(lab, "backup", "init", "lab").code == 0
    assert seawall(lab, "backup", "run", "lab", "--set", "files").code == 0
    drilled = seawall(lab, "drill", "lab", "--set", "files")
    assert drilled.code == 0, drilled.out + drilled.err


def test_a_lost_host_is_rebuilt_from_its_verified_snapshot_and_the_report_says_how_long(
    local_lab: Lab, seawall: Callable[..., Any]
) -> None:
    _with_checks(local_lab, ["test -s {path}/big.bin", "test -d {restore}" + str(local_lab.data / "docs")])
    _backed_up_and_drilled(local_lab, seawall)
    before = _hashes(local_lab.data)
    machines = Fresh(local_lab)
    env = load_environment(local_lab.environments, "lab")
    result = rehearse(env, Request([HOST], issue="lab#9"), machines)
    report = report_json(result)
    assert report["result"] == "passed", report["failures"]
    assert _hashes(local_lab.data) == before
    (host,) = report["hosts"]
    (rehearsed,) = host["sets"]
    assert rehearsed["snapshot"]["verified_by"].startswith("drill of ")
    assert [check["ok"] for check in rehearsed["checks"]] == [True, True]
    assert rehearsed["rto"]["target_seconds"] == 600
    assert 0 < rehearsed["rto"]["seconds"] <= report["seconds"]
    assert rehearsed["rpo"]["target_seconds"] == 7200
    assert [step["name"] for step in host["steps"]] == [
        "boot", "host step lab-host-install", "stop the host's timers", "restore and check files"
    ]  # fmt: skip
    assert machines.torn_down == 1
    # The restore is logged under the rehearsal's issue.
    state = json.loads((local_lab.root / "state/lab/files/lab-host.json").read_text())
    assert state["last_restore"]["issue"] == "lab#9"
    assert state["verified"]["snapshot"].startswith(rehearsed["snapshot"]["id"][:8])
    markdown = report_markdown(report)
    assert "**Result: PASSED**" in markdown
    assert f"| files | lab-host | {rehearsed['snapshot']['short_id']} |" in markdown


def test_the_record_feeds_the_metrics_and_every_reader(local_lab: Lab, seawall: Callable[..., Any]) -> None:
    _backed_up_and_drilled(local_lab, seawall)
    env = load_environment(local_lab.environments, "lab")
    report = report_json(rehearse(env, Request([HOST]), Fresh(local_lab)))
    from seawall.backup.context import state_store

    store = state_store(env, local_lab.root)
    (local_lab.root / "metrics").mkdir(exist_ok=True)
    path = record_rehearsal(store, local_lab.root / "reports/dr", local_lab.root / "metrics", report,
                            env.dr.rehearsal_interval)  # fmt: skip
    assert json.loads(path.read_text()) == report
    assert path.with_suffix(".md").read_text().startswith("# DR rehearsal of lab")
    record, problem = last_rehearsal(store)
    assert problem is None
    assert record["result"] == "passed"
    assert set(record["sets"]) == {"files/lab-host"}
    metrics = (local_lab.root / "metrics/seawall_dr_rehearsal_lab.prom").read_text()
    assert metrics == rehearsal_metrics("lab", record, env.dr.rehearsal_interval)
    assert 'seawall_dr_rehearsal_success{environment="lab"} 1' in metrics
    assert 'seawall_dr_rehearsal_set_success{backup_host="lab-host",environment="lab",set="files"} 1' in metrics
    assert 'seawall_dr_rehearsal_interval_seconds{environment="lab"} 2678400' in metrics


def _packs(lab: Lab) -> set[Path]:
    return {path for path in (lab.root / "repositories/files/data").rglob("*") if path.is_file()}


def _verified_then_newer(lab: Lab, seawall: Callable[..., Any]) -> dict[str, str]:
    """A drilled (verified) snapshot, then a newer one whose own packs are deleted: the newest is damaged."""
    _backed_up_and_drilled(lab, seawall)
    verified, before = _hashes(lab.data), _packs(lab)
    (lab.data / "new.bin").write_bytes(os.urandom(300_000))
    assert seawall(lab, "backup", "run", "lab", "--set", "files").code == 0
    for pack in _packs(lab) - before:
        pack.unlink()
    return verified


def test_a_damaged_newest_snapshot_falls_back_to_the_newest_verified_one_and_says_so(
    local_lab: Lab, seawall: Callable[..., Any]
) -> None:
    verified = _verified_then_newer(local_lab, seawall)
    env = load_environment(local_lab.environments, "lab")
    report = report_json(rehearse(env, Request([HOST]), Fresh(local_lab)))
    (rehearsed,) = report["hosts"][0]["sets"]
    newest = local_lab.snapshots("files")[-1]["short_id"]
    assert report["result"] == "passed", report["failures"]
    assert rehearsed["snapshot"]["short_id"] != newest
    assert rehearsed["note"].startswith(f"snapshot {newest} did not restore: ")
    assert rehearsed["note"].endswith(
        f"restored the newest verified snapshot {rehearsed['snapshot']['short_id']} instead"
    )
    assert _hashes(local_lab.data) == verified


def test_with_snapshot_latest_a_damaged_newest_snapshot_fails_naming_it(
    local_lab: Lab, seawall: Callable[..., Any]
) -> None:
    _verified_then_newer(local_lab, seawall)
    env = load_environment(local_lab.environments, "lab")
    report = report_json(rehearse(env, Request([HOST], snapshot="latest"), Fresh(local_lab)))
    newest = local_lab.snapshots("files")[-1]["short_id"]
    assert report["result"] == "failed"
    (failure,) = report["failures"]
    assert failure["kind"] == "restore"
    assert failure["message"].startswith(f"snapshot {newest} did not restore: ")
    assert failure["runbook"] == "docs/ops/runbooks/restore-backup-set.md"


def test_a_set_with_no_snapshot_fails_naming_it_and_the_others_are_still_rebuilt(
    local_lab: Lab, seawall: Callable[..., Any]
) -> None:
    notes = local_lab.root / "notes"
    notes.mkdir()
    local_lab.document["backup_sets"]["notes"] = {**local_lab.set("files"), "paths": [str(notes)]}
    local_lab.document["datacenter_hosts"][HOST]["backup_sets"] = ["files", "notes"]
    local_lab.write()
    _backed_up_and_drilled(local_lab, seawall)
    before = _hashes(local_lab.data)
    env = load_environment(local_lab.environments, "lab")
    report = report_json(rehearse(env, Request([HOST]), Fresh(local_lab)))
    assert report["result"] == "failed"
    assert [(f["set"], f["kind"]) for f in report["failures"]] == [("notes", "snapshot")]
    assert report["failures"][0]["message"].startswith("lab-host has no snapshot of notes: nothing to rebuild it from")
    assert {s["set"]: s["passed"] for s in report["hosts"][0]["sets"]} == {"files": True, "notes": False}
    assert _hashes(local_lab.data) == before


def test_a_failing_host_step_stops_the_rehearsal_names_the_step_and_tears_down(
    local_lab: Lab, seawall: Callable[..., Any]
) -> None:
    _backed_up_and_drilled(local_lab, seawall)
    machines = Fresh(local_lab, failing_step="lab-host-install")
    env = load_environment(local_lab.environments, "lab")
    report = report_json(rehearse(env, Request([HOST]), machines))
    assert report["result"] == "failed"
    (failure,) = report["failures"]
    assert failure["message"] == (
        "host step lab-host-install failed on the new lab-host: E: Unable to locate package restic"
    )
    assert failure["runbook"] == "docs/ops/runbooks/rebuild-host.md"
    assert report["hosts"][0]["sets"] == []
    assert machines.ran == []  # nothing restored onto a machine the steps did not finish
    assert machines.torn_down == 1
    kept = Fresh(local_lab, failing_step="lab-host-install")
    rehearse(env, Request([HOST], keep=True), kept)
    assert kept.torn_down == 0


def test_a_signal_tears_down_what_the_rehearsal_made_even_with_keep(
    local_lab: Lab, seawall: Callable[..., Any]
) -> None:
    _backed_up_and_drilled(local_lab, seawall)
    machines = Fresh(local_lab, interrupt_on=" restore ")
    env = load_environment(local_lab.environments, "lab")
    with pytest.raises(Interrupted) as stopped:
        rehearse(env, Request([HOST], keep=True), machines)
    assert stopped.value.exit_code == 143
    assert machines.torn_down == 1


def test_the_command_exits_143_on_a_signal_and_1_on_a_failure_with_one_line_each(
    local_lab: Lab, seawall: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from seawall.dr import stack

    _backed_up_and_drilled(local_lab, seawall)
    machines = Fresh(local_lab, interrupt_on=" restore ")
    monkeypatch.setattr(stack, "make_machines", lambda *args: machines)
    stopped = seawall(local_lab, "dr", "rehearse", "lab", "--host", HOST)
    assert stopped.code == 143
    assert machines.torn_down == 1
    failing = Fresh(local_lab, failing_step="lab-host-install")
    monkeypatch.setattr(stack, "make_machines", lambda *args: failing)
    failed = seawall(local_lab, "dr", "rehearse", "lab", "--host", HOST)
    assert failed.code == 1
    assert failed.err.strip().splitlines() == [
        "lab-host: host step lab-host-install failed on the new lab-host: E: Unable to locate package restic "
        "(runbook: docs/ops/runbooks/rebuild-host.md)"
    ]
    assert local_lab.password not in failed.out + failed.err


def test_a_missed_rto_and_recovery_target_fail_the_rehearsal_with_their_runbooks(
    local_lab: Lab, seawall: Callable[..., Any]
) -> None:
    _backed_up_and_drilled(local_lab, seawall)
    local_lab.set("files")["rto"] = "1s"
    local_lab.document["dr"] = {"recovery_target": "1s"}
    local_lab.write()
    env = load_environment(local_lab.environments, "lab")
    machines = Fresh(local_lab)
    original = machines.boot

    def slow_boot(host: str) -> None:  # a new machine takes its time (without a timed assertion: 1.5 s > 1 s)
        import time

        original(host)
        time.sleep(1.5)

    machines.boot = slow_boot  # type: ignore[method-assign]
    report = report_json(rehearse(env, Request([HOST]), machines))
    assert report["result"] == "failed"
    kinds = {f["kind"]: f for f in report["failures"]}
    assert set(kinds) == {"rto", "recovery-target"}
    assert kinds["rto"]["message"].startswith("RTO missed: data verified after ")
    assert kinds["rto"]["message"].endswith("the target is 1s")
    assert kinds["recovery-target"]["runbook"] == "docs/ops/runbooks/rebuild-host.md"
    assert report["hosts"][0]["sets"][0]["error"] is None  # restored and checked, only too slowly


def test_status_the_fleet_page_and_the_dr_plan_show_the_rehearsal_the_command_recorded(
    local_lab: Lab, seawall: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from seawall.dr import stack

    _backed_up_and_drilled(local_lab, seawall)
    before = seawall(local_lab, "backup", "status", "lab", "--format", "json")
    assert json.loads(before.out)["dr_rehearsal"]["status"] == "never"
    monkeypatch.setattr(stack, "make_machines", lambda *args: Fresh(local_lab))
    rehearsed = seawall(local_lab, "dr", "rehearse", "lab", "--host", HOST, "--format", "json")
    assert rehearsed.code == 0, rehearsed.err
    report = json.loads(rehearsed.out)
    assert Path(report["report_path"]).is_file()
    status = json.loads(seawall(local_lab, "backup", "status", "lab", "--format", "json").out)["dr_rehearsal"]
    assert status["status"] == "ok"
    assert status["time"] == report["finished"]
    table = seawall(local_lab, "backup", "status", "lab")
    assert f"last DR rehearsal: ok {report['finished']} passed, every set verified after" in table.out
    page = json.loads(seawall(local_lab, "report", "lab", "--format", "json").out)
    (item,) = page["environments"]
    assert item["dr_rehearsal"]["status"] == "ok"
    assert seawall(local_lab, "docs", "lab", "--out", tmp_path / "docs").code == 0
    plan = (tmp_path / "docs/dr-plan/lab.md").read_text()
    assert f"Last rehearsal: **ok** ({report['finished']}, local)" in plan
    short = report["hosts"][0]["sets"][0]["snapshot"]["short_id"]
    assert f"| files | lab-host | {short} |" in plan
    (local_lab.root / "metrics").mkdir(exist_ok=True)
    assert seawall(local_lab, "backup", "status", "lab", "--metrics").code == 0
    exported = (local_lab.root / "metrics/seawall_dr_rehearsal_lab.prom").read_text()
    assert 'seawall_dr_rehearsal_success{environment="lab"} 1' in exported


def test_from_copy_rebuilds_the_host_from_the_off_site_copy(local_lab: Lab, seawall: Callable[..., Any]) -> None:
    local_lab.document["backup"]["copy"] = {
        "repository": {"kind": "local", "path": str(local_lab.root / "copies")},
        "vault": "lab-vault",
        "password_file": str(local_lab.root / "copy-password"),
        "retention": {"keep_last": 10},
    }
    local_lab.document["datacenter_hosts"]["lab-vault"] = {"address": "127.0.0.3", "ssh_user": "root",
                                                           "roles": ["vault"]}  # fmt: skip
    (local_lab.root / "copy-password").write_text("copy-password\n")
    local_lab.write()
    _backed_up_and_drilled(local_lab, seawall)
    assert seawall(local_lab, "backup", "init", "lab", "--from", "copy").code == 0
    copied = seawall(local_lab, "backup", "copy", "lab")
    assert copied.code == 0, copied.out + copied.err
    before = _hashes(local_lab.data)
    shutil.rmtree(local_lab.root / "repositories")  # the primary is lost with its region
    env = load_environment(local_lab.environments, "lab")
    machines = Fresh(local_lab)
    report = report_json(rehearse(env, Request([HOST], source="copy"), machines))
    assert report["result"] == "passed", report["failures"]
    assert _hashes(local_lab.data) == before
    assert all("--from copy" in command for command in machines.ran if " restore " in command)
