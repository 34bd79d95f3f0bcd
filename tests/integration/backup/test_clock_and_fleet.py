"""A host whose clock ran ahead, and a fleet of hosts backing up into one repository at once."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import hint
from tests.integration.backup.conftest import RESTIC, Lab, seawall_process

PROMTOOL = shutil.which("promtool")

pytestmark = [pytest.mark.integration, pytest.mark.skipif(RESTIC is None, reason="restic is not installed")]


def _misdated_snapshot(lab: Lab, ahead: dt.timedelta) -> str:
    """Back up as a host whose clock is ``ahead`` would: restic's own --time sets the snapshot's date."""
    when = (dt.datetime.now(dt.UTC) + ahead).strftime("%Y-%m-%d %H:%M:%S")
    made = lab.restic(
        "files", "backup", "--json", "--host", "lab-host", "--tag", "seawall", "--tag", "set:files",
        "--time", when, str(lab.data),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return next(json.loads(line) for line in made.stdout.splitlines() if '"summary"' in line)["snapshot_id"]


def test_a_snapshot_dated_in_the_future_never_costs_the_fresh_backup_and_raises_the_alarm(lab: Lab, seawall) -> None:
    lab.set("files")["retention"] = {"keep_last": 1}
    lab.write()
    assert seawall(lab, "backup", "init", "lab").code == 0
    future = _misdated_snapshot(lab, dt.timedelta(weeks=5))

    run = seawall(lab, "backup", "run", "lab")
    assert run.code == 1
    assert f"snapshot {future[:8]} of files on lab-host is dated" in run.err
    assert "in the future" in run.err
    fresh = json.loads((lab.root / "state" / "lab" / "files" / "lab-host.json").read_text())["last_snapshot"]["id"]

    prune = seawall(lab, "backup", "prune", "lab", "--issue", "ops#1")
    assert prune.code == 0, prune.out + prune.err
    ids = {snapshot["id"] for snapshot in lab.snapshots("files")}
    assert any(i.startswith(fresh) for i in ids)  # keep_last 1 alone would have kept only the misdated one
    assert any(i.startswith(future[:8]) for i in ids)

    status = seawall(lab, "backup", "status", "lab", "--format", "json")
    assert status.code == 1
    (row,) = json.loads(status.out)["rows"]
    assert row["status"] == "clock-skew"
    assert 0 <= row["age_seconds"] < 600
    assert row["newest"] == fresh[:8]

    drill = seawall(lab, "drill", "lab", "--format", "json")
    assert drill.code == 1
    (report,) = json.loads(drill.out)["drills"]
    assert report["rpo"]["seconds"] >= 0
    assert any("in the future" in failure for failure in report["failures"])

    # Recovery: once the misdated snapshot is forgotten, the next run is clean.
    assert lab.restic("files", "forget", future).returncode == 0
    assert seawall(lab, "backup", "run", "lab").code == 0
    assert seawall(lab, "backup", "status", "lab").code == 0


def test_twenty_hosts_back_up_into_one_s3_repository_at_once_and_all_succeed(s3_lab: Lab, seawall) -> None:
    hosts = [f"node-{index:02d}" for index in range(20)]
    s3_lab.document["datacenter_hosts"] = {
        host: {"address": "127.0.0.1", "ssh_user": "root", "roles": ["lab"], "backup_sets": ["files"]} for host in hosts
    }
    s3_lab.document["backup"]["lock_wait"] = "2s"
    s3_lab.document["backup"]["lock_attempts"] = 6
    # restic 0.14 retries a lock file another host removed for about 45 s, up to twice a backup: on two
    # loaded cores that outlasts the lab's two-minute timeout (the real default is six hours).
    s3_lab.document["backup"]["command_timeout"] = "10m"
    s3_lab.set("files")["retention"] = {"keep_last": 1}
    s3_lab.write()
    assert seawall(s3_lab, "backup", "init", "lab").code == 0
    processes = [seawall_process(s3_lab, "backup", "run", "lab", "--host", host) for host in hosts]
    finished = [(process.wait(timeout=600), process.stderr.read() if process.stderr else "") for process in processes]
    assert [code for code, _ in finished] == [0] * 20, [err for code, err in finished if code]
    snapshots = s3_lab.snapshots("files")
    assert sorted({snapshot["hostname"] for snapshot in snapshots}) == hosts
    check = s3_lab.restic("files", "check")
    assert check.returncode == 0, check.stderr
    # The set's one retention-and-prune job keeps every host's newest snapshot.
    assert seawall(s3_lab, "backup", "run", "lab", "--host", "node-00").code == 0
    assert seawall(s3_lab, "backup", "prune", "lab", "--issue", "ops#1").code == 0
    kept = s3_lab.snapshots("files")
    assert len(kept) == 20
    assert sorted(snapshot["hostname"] for snapshot in kept) == hosts


def test_status_shows_every_hosts_last_run_from_the_bucket_on_any_machine(s3_lab: Lab, seawall, tmp_path) -> None:
    assert seawall(s3_lab, "backup", "init", "lab").code == 0
    assert seawall(s3_lab, "backup", "run", "lab").code == 0
    assert seawall(s3_lab, "drill", "lab").code == 0
    # Another machine: the same environment, an empty state folder of its own.
    s3_lab.document["backup"]["state_dir"] = str(tmp_path / "elsewhere")
    s3_lab.write()
    status = seawall(s3_lab, "backup", "status", "lab", "--format", "json")
    assert status.code == 0, status.out + status.err
    (row,) = json.loads(status.out)["rows"]
    assert row["last_run"] == "ok"
    assert row["last_drill"] == "passed"
    assert row["size_bytes"] > 1024 * 1024


def test_a_host_without_a_record_is_found_by_the_deep_status_its_hint_names(local_lab: Lab, seawall, tmp_path) -> None:
    assert seawall(local_lab, "backup", "init", "lab").code == 0
    assert seawall(local_lab, "backup", "run", "lab").code == 0
    (snapshot,) = local_lab.snapshots("files")
    local_lab.document["backup"]["state_dir"] = str(tmp_path / "elsewhere")  # a machine without the record
    local_lab.write()
    status = seawall(local_lab, "backup", "status", "lab", "--format", "json")
    assert status.code == 1
    (row,) = json.loads(status.out)["rows"]
    assert row["status"] == "no-snapshot"
    followed = seawall(local_lab, *hint(row["detail"], "seawall backup status"), "--format", "json")
    assert followed.code == 0, followed.out + followed.err
    (asked,) = json.loads(followed.out)["rows"]
    assert (asked["status"], asked["newest"]) == ("ok", snapshot["short_id"])


def test_deep_status_confirms_against_the_repository_and_flags_a_disagreement(local_lab: Lab, seawall) -> None:
    assert seawall(local_lab, "backup", "init", "lab").code == 0
    assert seawall(local_lab, "backup", "run", "lab").code == 0
    assert seawall(local_lab, "backup", "status", "lab", "--deep").code == 0
    # A snapshot the host's record does not know (written by hand, or a lost record).
    made = local_lab.restic(
        "files", "backup", "--host", "lab-host", "--tag", "seawall", "--tag", "set:files", str(local_lab.data)
    )
    assert made.returncode == 0, made.stderr
    recorded = seawall(local_lab, "backup", "status", "lab", "--format", "json")
    assert recorded.code == 0  # the record alone cannot know
    deep = seawall(local_lab, "backup", "status", "lab", "--deep", "--metrics", "--format", "json")
    assert deep.code == 1
    (row,) = json.loads(deep.out)["rows"]
    assert row["status"] == "disagrees"
    assert "but the last run recorded" in row["detail"]
    checked = seawall(local_lab, *hint(row["detail"]))  # what it says to do: check that set's repository
    assert checked.code == 0, checked.out + checked.err
    assert checked.out == f"files: {local_lab.root / 'repositories' / 'files'}: ok\n"
    # What the scheduled deep status leaves for node_exporter: the alarm, by set, host and status.
    metrics = local_lab.root / "metrics" / "seawall_status_lab.prom"
    assert 'seawall_status_alarm{backup_host="lab-host",environment="lab",set="files",status="disagrees"} 1' in (
        metrics.read_text()
    )
    assert 'seawall_status_deep{environment="lab"} 1' in metrics.read_text()
    if PROMTOOL is not None:
        checked = subprocess.run([PROMTOOL, "check", "metrics"], input=metrics.read_text(), text=True,
                                 capture_output=True, check=False)  # fmt: skip
        assert checked.returncode == 0, checked.stdout + checked.stderr
    assert seawall(local_lab, "backup", "run", "lab").code == 0
    assert seawall(local_lab, "backup", "status", "lab", "--deep", "--metrics").code == 0
    assert 'status="ok"} 0' in metrics.read_text()
    assert "disagrees" not in metrics.read_text()


def test_deep_status_measures_age_from_the_newest_snapshot_not_in_the_future(local_lab: Lab, seawall) -> None:
    assert seawall(local_lab, "backup", "init", "lab").code == 0
    assert seawall(local_lab, "backup", "run", "lab").code == 0
    _misdated_snapshot(local_lab, dt.timedelta(days=3))
    deep = seawall(local_lab, "backup", "status", "lab", "--deep", "--format", "json")
    assert deep.code == 1
    (row,) = json.loads(deep.out)["rows"]
    assert row["status"] == "clock-skew"
    assert 0 <= row["age_seconds"] < 600


def test_the_status_hosts_own_file_sees_every_host_of_the_fleet(local_lab: Lab, seawall, tmp_path: Path) -> None:
    """What the scheduled deep status runs with on the status host: the environment file Seawall puts
    there, not the operator's folder. It must cover every set and host, not only the status host's own."""
    import yaml

    from seawall.backup.schedules import host_environment
    from seawall.model import load_environment

    local_lab.document["backup_sets"]["other"] = dict(local_lab.set("files"))
    local_lab.document["datacenter_hosts"]["lab-empty"]["backup_sets"] = ["other"]
    local_lab.write()
    assert seawall(local_lab, "backup", "init", "lab").code == 0
    assert seawall(local_lab, "backup", "run", "lab").code == 0
    env = load_environment(local_lab.environments, "lab")
    watcher = env.status_host()
    on_host = tmp_path / "on-the-status-host"
    on_host.mkdir()
    (on_host / "lab.yaml").write_text(yaml.safe_dump(host_environment(env, watcher or "")))
    deep = seawall(local_lab, "--environments", on_host, "backup", "status", "lab", "--deep", "--format", "json")
    assert deep.code == 0, deep.out + deep.err
    rows = json.loads(deep.out)["rows"]
    assert sorted((row["set_name"], row["host"], row["status"]) for row in rows) == [
        ("files", "lab-host", "ok"),
        ("other", "lab-empty", "ok"),
    ]
