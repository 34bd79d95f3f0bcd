"""The backup engine end to end, with real restic, on a local repository and on the loopback S3 server."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.backup.conftest import ACCESS_KEY, RESTIC, SECRET_KEY, Lab

pytestmark = [pytest.mark.integration, pytest.mark.skipif(RESTIC is None, reason="restic is not installed")]
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


def test_init_run_and_status_give_a_real_snapshot_and_metrics(lab: Lab, seawall) -> None:
    assert seawall(lab, "backup", "init", "lab").code == 0
    result = seawall(lab, "backup", "run", "lab", "--host", "lab-host")
    assert result.code == 0, result.out + result.err
    (snapshot,) = lab.snapshots("files")
    assert snapshot["hostname"] == "lab-host"
    assert sorted(snapshot["tags"]) == ["seawall", "set:files"]
    assert snapshot["short_id"] in result.out
    listing = lab.restic("files", "ls", "--json", "--no-lock", "latest").stdout
    assert f'"path":"{lab.data}/docs/file-7.txt"' in listing.replace(" ", "")
    metrics = (lab.root / "metrics" / "seawall_backup_lab_lab-host_files.prom").read_text()
    assert 'seawall_backup_success{environment="lab",host="lab-host",set="files"} 1' in metrics
    assert 'seawall_backup_snapshots{environment="lab",host="lab-host",set="files"} 1' in metrics
    status = seawall(lab, "backup", "status", "lab", "--format", "json")
    assert status.code == 0
    (row,) = json.loads(status.out)["rows"]
    assert row["status"] == "ok"
    assert row["newest"] == snapshot["short_id"]
    assert row["size_bytes"] == sum(path.stat().st_size for path in lab.data.rglob("*") if path.is_file())
    assert row["files"] >= 21
    assert row["last_run"] == "ok"


def test_s3_init_makes_the_bucket_private_versioned_with_lifecycle(s3_lab: Lab, seawall) -> None:
    import boto3

    assert seawall(s3_lab, "backup", "init", "lab").code == 0
    repository = s3_lab.document["backup"]["repository"]
    client = boto3.client(
        "s3",
        endpoint_url=repository["endpoint"],
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    bucket = repository["bucket"]
    assert client.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rules = {rule["ID"]: rule for rule in client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert rules["expire-noncurrent-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    assert rules["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 7
    grants = client.get_bucket_acl(Bucket=bucket)["Grants"]
    assert not any("AllUsers" in str(grant.get("Grantee", {})) for grant in grants)
    keys = [item["Key"] for item in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert "restic/files/config" in keys
    again = seawall(s3_lab, "backup", "init", "lab")
    assert "already in place" in again.out


def test_hooks_run_around_the_backup_and_their_output_is_in_the_snapshot(local_lab: Lab, seawall) -> None:
    dump = local_lab.data / "dump.sql"
    marker = local_lab.root / "after-ran"
    python = sys.executable
    local_lab.set("files")["hooks"] = {
        "before": [f"{python} -c \"open('{dump}', 'w').write('-- dump')\""],
        "after": [f"touch {marker}"],
    }
    local_lab.write()
    seawall(local_lab, "backup", "init", "lab")
    assert seawall(local_lab, "backup", "run", "lab").code == 0
    assert marker.exists()
    dumped = local_lab.restic("files", "dump", "--no-lock", "latest", str(dump))
    assert dumped.stdout == "-- dump"


def test_a_failing_pre_hook_skips_the_backup_and_runs_on_error(local_lab: Lab, seawall) -> None:
    marker = local_lab.root / "on-error-ran"
    seawall(local_lab, "backup", "init", "lab")
    assert seawall(local_lab, "backup", "run", "lab").code == 0
    local_lab.set("files")["hooks"] = {"before": ["false"], "on_error": [f"touch {marker}"]}
    local_lab.write()
    result = seawall(local_lab, "backup", "run", "lab")
    assert result.code == 1
    assert "pre-hook 'false' failed (exit 1" in result.out + result.err
    assert marker.exists()
    assert len(local_lab.snapshots("files")) == 1


def test_retention_runs_in_prune_and_keeps_the_rules_and_the_verified_snapshot_by_its_own_id(lab: Lab, seawall) -> None:
    seawall(lab, "backup", "init", "lab")
    assert seawall(lab, "backup", "run", "lab").code == 0
    first = lab.snapshots("files")[0]["id"]
    assert seawall(lab, "drill", "lab").code == 0
    for index in range(4):
        (lab.data / f"new-{index}.txt").write_text(str(index))
        assert seawall(lab, "backup", "run", "lab").code == 0
    assert len(lab.snapshots("files")) == 5  # a run never forgets: retention is the prune job's
    result = seawall(lab, "backup", "prune", "lab", "--issue", "ops#1")
    assert result.code == 0, result.out + result.err
    assert "forgot 1, kept back 1" in result.out
    snapshots = lab.snapshots("files")
    assert len(snapshots) == 4
    assert first in [snapshot["id"] for snapshot in snapshots]  # the drill's snapshot, under the same id
    assert all("seawall-verified" not in (snapshot.get("tags") or []) for snapshot in snapshots)


def test_prune_runs_only_after_a_passing_check(local_lab: Lab, seawall) -> None:
    # A check that meets a missing pack may retry loading it for minutes (restic's own backoff); the
    # command timeout bounds that, and a timed-out check is a failed check all the same.
    local_lab.document["backup"]["command_timeout"] = "20s"
    local_lab.write()
    seawall(local_lab, "backup", "init", "lab")
    for index in range(2):
        (local_lab.data / f"v{index}").write_text("x" * 10000 * (index + 1))
        seawall(local_lab, "backup", "run", "lab")
    result = seawall(local_lab, "backup", "prune", "lab", "--issue", "ops#1")
    assert result.code == 0
    assert "files: " in result.out
    assert "pruned" in result.out
    packs = sorted((local_lab.root / "repositories" / "files" / "data").rglob("*"))
    victim = next(path for path in packs if path.is_file())
    victim.unlink()
    remaining = sorted(p for p in (local_lab.root / "repositories" / "files").rglob("*") if p.is_file())
    result = seawall(local_lab, "backup", "prune", "lab", "--issue", "ops#1")
    assert result.code == 1
    assert "check-failed" in result.out
    assert all(path.exists() for path in remaining)


def test_status_calls_a_host_without_snapshots_an_alarm(local_lab: Lab, seawall) -> None:
    local_lab.document["datacenter_hosts"]["lab-empty"]["backup_sets"] = ["files"]
    local_lab.write()
    seawall(local_lab, "backup", "init", "lab")
    seawall(local_lab, "backup", "run", "lab", "--host", "lab-host")
    result = seawall(local_lab, "backup", "status", "lab", "--format", "json")
    assert result.code == 1
    rows = {row["host"]: row for row in json.loads(result.out)["rows"]}
    assert rows["lab-host"]["status"] == "ok"
    assert rows["lab-empty"]["status"] == "no-snapshot"
    table = seawall(local_lab, "backup", "status", "lab")
    assert "no-snapshot" in table.out


def test_status_reports_a_missed_rpo(local_lab: Lab, seawall) -> None:
    import datetime as dt

    from seawall.backup.actions.status import fleet_status
    from seawall.model import load_environment

    seawall(local_lab, "backup", "init", "lab")
    seawall(local_lab, "backup", "run", "lab")
    env = load_environment(local_lab.environments, "lab")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)
    from seawall.backup.context import build_context

    (row,) = fleet_status(build_context(env, local_lab.root), now=later)
    assert row.status == "rpo-missed"
    assert row.age_seconds is not None
    assert row.age_seconds > row.rpo_seconds


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
def test_schedule_renders_units_that_systemd_accepts(local_lab: Lab, seawall, tmp_path: Path) -> None:
    out = tmp_path / "units"
    seawall_bin = str(Path(sys.executable).with_name("seawall"))
    result = seawall(
        local_lab, "backup", "schedule", "lab", "--host", "lab-host", "--out", out, "--seawall-bin", seawall_bin
    )
    assert result.code == 0
    names = sorted(path.name for path in out.iterdir())
    assert names == [
        "lab.yaml",
        "seawall-backup-files.service",
        "seawall-backup-files.timer",
        "seawall-drill-files.service",
        "seawall-drill-files.timer",
        # Every host's hourly drift check (drift.schedule).
        "seawall-host-verify.service",
        "seawall-host-verify.timer",
        "seawall-lab",
        "seawall-prune-files.service",
        "seawall-prune-files.timer",
        # lab-host is the environment's status host (the prune host of its first set).
        "seawall-status.service",
        "seawall-status.timer",
    ]
    units = [str(out / name) for name in names if name.startswith("seawall-") and "." in name]
    verify = subprocess.run(
        [SYSTEMD_ANALYZE or "", "verify", "--man=no", *units], capture_output=True, text=True, check=False
    )
    assert verify.returncode == 0
    assert [line for line in verify.stderr.splitlines() if "seawall-" in line] == []
    timer = (out / "seawall-backup-files.timer").read_text()
    calendar = next(line.split("=", 1)[1] for line in timer.splitlines() if line.startswith("OnCalendar="))
    parsed = subprocess.run([SYSTEMD_ANALYZE or "", "calendar", calendar], capture_output=True, text=True, check=False)
    assert parsed.returncode == 0
    assert "*-*-* *:00:00" in parsed.stdout
    assert "Persistent=true" in timer
    assert "RandomizedDelaySec=900" in timer
    assert "KillMode=mixed" in (out / "seawall-backup-files.service").read_text()
    assert "backup prune lab --set files" in (out / "seawall-prune-files.service").read_text()
    assert (
        f"ExecStart={seawall_bin} --environments /etc/seawall/environments backup run lab --set files --host lab-host"
        in (out / "seawall-backup-files.service").read_text()
    )


def test_healthcheck_pings_start_success_and_fail(local_lab: Lab, seawall, pings: list[str]) -> None:
    local_lab.document["backup"]["healthcheck_url_env"] = "LAB_PING"
    local_lab.write()
    seawall(local_lab, "backup", "init", "lab")
    assert seawall(local_lab, "backup", "run", "lab").code == 0
    local_lab.set("files")["hooks"] = {"before": ["false"]}
    local_lab.write()
    assert seawall(local_lab, "backup", "run", "lab").code == 1
    seen = pings
    assert seen == ["/ping/abc/start", "/ping/abc", "/ping/abc/start", "/ping/abc/fail"]
