"""The storage contract: what Seawall needs from a repository backend, run against every backend it
supports with real servers: a local folder, moto's S3 server and SeaweedFS (a second, real S3
implementation). A backend that lacks a feature Spaces has is marked here per backend, never skipped
silently."""

from __future__ import annotations

import filecmp
import json
import shutil
from pathlib import Path

import pytest

from tests.integration.backup.conftest import ACCESS_KEY, RESTIC, SECRET_KEY, Lab, make_lab

pytestmark = [pytest.mark.integration, pytest.mark.skipif(RESTIC is None, reason="restic is not installed")]
BACKENDS = ("local", "moto", "seaweedfs")
S3_BACKENDS = ("moto", "seaweedfs")


def lab_on(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Lab:
    return make_lab({"moto": "s3"}.get(backend, backend), tmp_path, monkeypatch, request)


def client_of(lab: Lab):
    import boto3

    repository = lab.document["backup"]["repository"]
    return boto3.client(
        "s3", endpoint_url=repository["endpoint"], region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
    )  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_backup_restores_byte_for_byte_and_the_repository_checks(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, seawall
) -> None:
    lab = lab_on(backend, tmp_path, monkeypatch, request)
    assert seawall(lab, "backup", "init", "lab").code == 0
    run = seawall(lab, "backup", "run", "lab")
    assert run.code == 0, run.out + run.err
    listed = json.loads(seawall(lab, "snapshots", "lab", "--format", "json").out)["snapshots"]
    assert [(s["host"], s["set_name"]) for s in listed] == [("lab-host", "files")]
    target = tmp_path / "restored"
    restored = seawall(lab, "restore", "lab", "--target", target, "--issue", "ops#1")
    assert restored.code == 0, restored.err
    copy = target / str(lab.data).lstrip("/")
    assert not filecmp.dircmp(lab.data, copy).diff_files
    assert (copy / "big.bin").read_bytes() == (lab.data / "big.bin").read_bytes()
    assert seawall(lab, "check", "lab").code == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_drill_passes_and_prune_keeps_what_the_drill_verified(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, seawall
) -> None:
    lab = lab_on(backend, tmp_path, monkeypatch, request)
    lab.set("files")["retention"] = {"keep_last": 1}
    lab.write()
    assert seawall(lab, "backup", "init", "lab").code == 0
    assert seawall(lab, "backup", "run", "lab").code == 0
    drill = seawall(lab, "drill", "lab")
    assert drill.code == 0, drill.out + drill.err
    verified = json.loads((lab.root / "state" / "lab" / "files" / "lab-host.json").read_text())["verified"]["snapshot"]
    for index in range(2):
        (lab.data / f"new-{index}.txt").write_text(str(index))
        assert seawall(lab, "backup", "run", "lab").code == 0
    assert seawall(lab, "backup", "prune", "lab", "--issue", "ops#2").code == 0
    kept = [s["id"] for s in lab.snapshots("files")]
    assert verified in kept, "the snapshot the drill verified survived keep_last 1"
    assert len(kept) == 2


@pytest.mark.parametrize("backend", S3_BACKENDS)
def test_init_makes_the_bucket_private_versioned_with_lifecycle_rules(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, seawall
) -> None:
    lab = lab_on(backend, tmp_path, monkeypatch, request)
    assert seawall(lab, "backup", "init", "lab").code == 0
    client, bucket = client_of(lab), lab.document["backup"]["repository"]["bucket"]
    assert client.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    grants = client.get_bucket_acl(Bucket=bucket).get("Grants", [])
    assert not any("AllUsers" in str(grant.get("Grantee", {})) for grant in grants)
    rules = {rule["ID"] for rule in client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert rules == {"expire-noncurrent-versions", "abort-incomplete-uploads"}
    assert "already in place" in seawall(lab, "backup", "init", "lab").out


@pytest.mark.parametrize("backend", S3_BACKENDS)
def test_the_fleet_view_and_the_ledger_live_in_the_bucket(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, seawall
) -> None:
    from seawall.ledger import BucketMirror, LedgerEntry

    lab = lab_on(backend, tmp_path, monkeypatch, request)
    assert seawall(lab, "backup", "init", "lab").code == 0
    assert seawall(lab, "backup", "run", "lab").code == 0
    shutil.rmtree(lab.root / "state")  # another machine: only the bucket's copy of the state is left
    rows = json.loads(seawall(lab, "backup", "status", "lab", "--format", "json").out)["rows"]
    assert [(row["host"], row["status"]) for row in rows] == [("lab-host", "ok")]
    mirror = BucketMirror(client_of(lab), lab.document["backup"]["repository"]["bucket"])
    entry = LedgerEntry("2026-12-01T10:00:00+00:00", "lab", "ops", "ops", "ops#3", {}, "h", "succeeded")
    mirror.append(entry)
    mirror.append(entry)
    assert mirror.read_text("lab") == entry.as_line() * 2


@pytest.mark.parametrize("backend", S3_BACKENDS)
def test_ledger_entries_appended_at_once_from_many_machines_are_all_kept_in_the_bucket(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, seawall
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from seawall.ledger import BucketMirror, LedgerEntry, parse_ledger

    lab = lab_on(backend, tmp_path, monkeypatch, request)
    assert seawall(lab, "backup", "init", "lab").code == 0
    bucket = lab.document["backup"]["repository"]["bucket"]
    entries = [
        LedgerEntry("2026-12-01T10:00:00+00:00", "lab", f"ops-{index}", "ops", "ops#4", {}, "h", "refused",
                    deploy_id=f"d-{index}")
        for index in range(24)
    ]  # fmt: skip

    def append(entry: LedgerEntry) -> None:  # each writer a machine of its own: its own client
        BucketMirror(client_of(lab), bucket).append(entry)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(append, entries))
    kept = parse_ledger(BucketMirror(client_of(lab), bucket).read_text("lab"), "bucket")
    assert sorted(entry.deploy_id for entry in kept) == sorted(entry.deploy_id for entry in entries)


def backend_of_lab(lab: Lab):
    from seawall.backup.backends import set_backend
    from seawall.model import load_environment

    return set_backend(load_environment(lab.environments, "lab"), "files", lab.root)


def restic_of(lab: Lab, backend, *args: str):
    import subprocess

    variables = {"RESTIC_PASSWORD": lab.password, "PATH": "/usr/bin:/bin", "HOME": str(lab.root)}
    argv = [RESTIC or "restic", "--repo", backend.location(), *args]
    return subprocess.run(argv, env=variables | backend.restic_env(), capture_output=True, text=True, check=False)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_backend_protocol_prepares_once_holds_a_repository_and_counts_its_bytes(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    from seawall.backup.backends import Backend

    lab = lab_on(backend, tmp_path, monkeypatch, request)
    storage: Backend = backend_of_lab(lab)
    assert storage.kind == lab.document["backup"]["repository"]["kind"]
    assert str(lab.root) not in storage.shown or storage.kind == "local"
    rehearsal = storage.prepare(dry_run=True)
    assert not rehearsal.existed
    assert not storage.prepare(dry_run=True).existed, "a dry run created the storage"
    first = storage.prepare(dry_run=False)
    again = storage.prepare(dry_run=False)
    assert (first.existed, again.existed, again.actions) == (False, True, [])
    assert first.actions == rehearsal.actions
    assert restic_of(lab, storage, "init").returncode == 0
    empty = storage.stored_bytes()
    assert (empty or 0) > 0, "restic's config and keys are stored"
    backed_up = restic_of(lab, storage, "backup", str(lab.data))
    assert backed_up.returncode == 0, backed_up.stderr
    assert (storage.stored_bytes() or 0) > empty + 1024 * 1024, "the 1 MiB of random data is counted"


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_shared_copy_is_the_bucket_on_s3_and_absent_for_a_folder(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    lab = lab_on(backend, tmp_path, monkeypatch, request)
    storage = backend_of_lab(lab)
    storage.prepare(dry_run=False)
    shared = storage.shared_copy()
    if backend not in S3_BACKENDS:
        assert shared is None, "a folder is this machine's alone"
        return
    assert shared is not None
    assert shared.put(shared.key("state", "files", "lab-host.json"), '{"updated": "x"}')
    assert shared.read_all("state") == {"files/lab-host.json": '{"updated": "x"}'}


@pytest.mark.parametrize("backend", S3_BACKENDS)
def test_without_the_bucket_keys_restic_is_refused_by_name_and_the_fleet_view_is_local(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    from seawall.errors import ConfigError

    lab = lab_on(backend, tmp_path, monkeypatch, request)
    monkeypatch.delenv("LAB_SECRET_ACCESS_KEY")
    storage = backend_of_lab(lab)
    assert storage.shared_copy() is None
    assert storage.stored_bytes() is None
    with pytest.raises(ConfigError) as refused:
        storage.restic_env()
    assert "LAB_SECRET_ACCESS_KEY" in str(refused.value)
    assert SECRET_KEY not in str(refused.value)


def _dead_lock(lab: Lab, backend) -> str:
    """Leave a lock in the repository the way a killed backup does (restic killed with SIGKILL while it
    holds its lock); return the lock's id."""
    import os
    import signal
    import subprocess
    import time

    before = set(restic_of(lab, backend, "list", "locks", "--no-lock").stdout.split())
    variables = {"RESTIC_PASSWORD": lab.password, "PATH": "/usr/bin:/bin", "HOME": str(lab.root)}
    holder = subprocess.Popen(
        [RESTIC or "restic", "--repo", backend.location(), "backup", "--stdin"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=variables | backend.restic_env(),
    )
    try:
        for _ in range(200):
            taken = set(restic_of(lab, backend, "list", "locks", "--no-lock").stdout.split()) - before
            if taken:
                return taken.pop()
            time.sleep(0.1)
        raise AssertionError("restic never took its lock")
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_backend_lists_and_removes_restics_lock_files_one_by_one_without_the_password(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    lab = lab_on(backend, tmp_path, monkeypatch, request)
    storage = backend_of_lab(lab)
    storage.prepare(dry_run=False)
    assert restic_of(lab, storage, "init").returncode == 0
    assert storage.lock_ids() == []
    first, second = _dead_lock(lab, storage), _dead_lock(lab, storage)
    assert sorted(storage.lock_ids()) == sorted([first, second])
    storage.remove_lock(first)
    assert restic_of(lab, storage, "list", "locks", "--no-lock").stdout.split() == [second]
    storage.remove_lock(first)  # already gone: another host removed it first
    assert storage.lock_ids() == [second]
    assert restic_of(lab, storage, "check").returncode == 1, "the other lock still holds the repository"
    storage.remove_lock(second)
    assert storage.lock_ids() == []
    assert restic_of(lab, storage, "check").returncode == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_backend_says_where_its_storage_is_and_which_variables_restic_reads_for_it(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    import os
    import socket
    from urllib.parse import urlsplit

    from seawall.backup.backends import SCRUBBED_PREFIXES, offsite_backend
    from seawall.backup.plan import make_target
    from seawall.model import load_environment

    lab = lab_on(backend, tmp_path, monkeypatch, request)
    env = load_environment(lab.environments, "lab")
    storage = backend_of_lab(lab)
    assert make_target(env, storage, lab.root).endpoint == storage.network_endpoint
    assert all(name.startswith(SCRUBBED_PREFIXES) for name in storage.restic_env()), "the runner scrubs them"
    assert offsite_backend(env, lab.root) is None, "the lab has no off-site copy"
    if backend not in S3_BACKENDS:
        assert (storage.bucket, storage.spec, storage.network_endpoint, storage.storage_region) == (None,) * 4
        assert storage.key_variables() == {}
        return
    repository = lab.document["backup"]["repository"]
    assert storage.bucket == storage.container == repository["bucket"]
    assert storage.spec is not None
    assert storage.spec.name == storage.bucket
    assert storage.network_endpoint == repository["endpoint"].rstrip("/")
    where = urlsplit(storage.network_endpoint)
    socket.create_connection((where.hostname, where.port), timeout=5).close()  # what a timeout probes answers
    assert storage.storage_region == env.backup.repository.region, "not Spaces: the region the model names"
    keys = storage.key_variables()
    assert keys == {"AWS_ACCESS_KEY_ID": "LAB_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY": "LAB_SECRET_ACCESS_KEY"}
    assert {name: os.environ[variable] for name, variable in keys.items()} == {
        name: storage.restic_env()[name] for name in keys
    }


@pytest.mark.parametrize("backend", BACKENDS)
def test_restic_ignores_the_callers_own_restic_variables(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, seawall
) -> None:
    lab = lab_on(backend, tmp_path, monkeypatch, request)
    assert seawall(lab, "backup", "init", "lab").code == 0
    # What an operator's shell may hold for another repository: the runner passes none of it on to restic.
    # (restic refuses a password command beside the password file Seawall gives it.)
    monkeypatch.setenv("RESTIC_REPOSITORY", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("RESTIC_PASSWORD_COMMAND", "false")
    run = seawall(lab, "backup", "run", "lab")
    assert run.code == 0, run.out + run.err
    assert [s["hostname"] for s in lab.snapshots("files")] == ["lab-host"]
    assert not (tmp_path / "elsewhere").exists()
