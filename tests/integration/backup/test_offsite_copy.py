"""The off-site copy on two real S3 servers: two SeaweedFS on loopback stand for two regions, each with
per-bucket identities (``-s3.config``).

The backup host's key may read and write the primary's bucket only; the vault's key (one pair on both
servers, as one scoped Spaces key spans regions) may read the primary's bucket and write the copy's. A
"compromised host" with the host's key and the set's password forgets and prunes every snapshot of the
primary; the copy keeps them, the vault's next copy raises the alarm, and a restore from the copy passes
with ``--verify``. A stopped copy server fails the copy cleanly, and the next copy catches up.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import hint
from tests.integration.backup.conftest import RESTIC, Lab, _document
from tests.integration.seaweedfs import SeaweedFS, identity

pytestmark = pytest.mark.integration
HOST_KEY, HOST_SECRET = "host-key", "host-secret-000000000000000000"
VAULT_KEY, VAULT_SECRET = "vault-key", "vault-secret-00000000000000000"
PRIMARY, COPY = "lab-primary", "lab-copy"


@pytest.fixture(scope="module")
def regions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SeaweedFS, SeaweedFS]]:
    """Two S3 servers: the primary's region and the copy's. Each identity is scoped to its buckets by name
    (``lab-primary*``, ``lab-copy*``: every test's buckets are its own)."""
    primary = SeaweedFS(
        tmp_path_factory.mktemp("region-a"),
        [
            identity("backup-host", HOST_KEY, HOST_SECRET, [f"{a}:{PRIMARY}*" for a in ("Read", "Write", "List")]),
            identity("vault", VAULT_KEY, VAULT_SECRET, [f"{a}:{PRIMARY}*" for a in ("Read", "List")]),
        ],
    )
    copy = SeaweedFS(
        tmp_path_factory.mktemp("region-b"),
        [identity("vault", VAULT_KEY, VAULT_SECRET, [f"{a}:{COPY}*" for a in ("Admin", "Read", "Write", "List")])],
    )
    try:
        primary.start()
        copy.start()
    except RuntimeError as exc:
        primary.stop()
        pytest.fail(str(exc))
    try:
        yield primary, copy
    finally:
        primary.stop()
        copy.stop()


@pytest.fixture
def two_regions(
    regions: tuple[SeaweedFS, SeaweedFS], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: Any
) -> Lab:
    """A lab environment whose set backs up into region A, with its off-site copy in region B, in fresh
    buckets made by the servers' admins (as Pulumi makes the primary's and the data center's operators the
    copy's)."""
    from seawall.backup.storage import BucketSpec, copy_bucket_spec, ensure_bucket
    from seawall.model import load_environment

    primary, copy = regions
    suffix = request.node.name.replace("_", "-")[-20:].strip("-").lower()
    data = tmp_path / "data"
    (data / "docs").mkdir(parents=True)
    for index in range(10):
        (data / "docs" / f"file-{index}.txt").write_text(f"content {index}\n" * (index + 1))
    (data / "big.bin").write_bytes(os.urandom(256 * 1024))
    bucket, copy_bucket = f"{PRIMARY}-{suffix}", f"{COPY}-{suffix}"
    document = _document(tmp_path, data, {"kind": "s3", "endpoint": primary.endpoint, "bucket": bucket})
    document["backup"]["copy"] = {
        # The copy's server by another name of loopback: another storage host, as another region's is.
        "repository": {
            "kind": "s3",
            "endpoint": copy.endpoint.replace("127.0.0.1", "localhost"),
            "region": "region-b",
            "bucket": copy_bucket,
        },
        "vault": "lab-vault",
        "password_file": str(tmp_path / "copy-password"),
        "retention": {"keep_last": 10},
        "object_lock": True,
    }
    document["datacenter_hosts"]["lab-vault"] = {"address": "127.0.0.3", "ssh_user": "root", "roles": ["vault"]}
    (tmp_path / "environments").mkdir()
    password = "lab-password-" + tmp_path.name
    (tmp_path / "password").write_text(password + "\n")
    (tmp_path / "copy-password").write_text("copy-password-" + tmp_path.name + "\n")
    lab = Lab(tmp_path, tmp_path / "environments", data, document, password)
    lab.write()
    env = load_environment(lab.environments, "lab")
    spec = copy_bucket_spec(env)
    assert spec is not None
    ensure_bucket(primary.client(), BucketSpec(bucket, 30, 7))
    ensure_bucket(copy.client(), spec)
    monkeypatch.setenv("LAB_ACCESS_KEY_ID", HOST_KEY)
    monkeypatch.setenv("LAB_SECRET_ACCESS_KEY", HOST_SECRET)
    monkeypatch.setenv("VAULT_ACCESS_KEY_ID", VAULT_KEY)
    monkeypatch.setenv("VAULT_SECRET_ACCESS_KEY", VAULT_SECRET)
    return lab


def _restic(lab: Lab, repository: str, key: tuple[str, str], *args: str, password: str | None = None) -> Any:
    import subprocess

    variables = {
        "RESTIC_PASSWORD": password or lab.password,
        "AWS_ACCESS_KEY_ID": key[0],
        "AWS_SECRET_ACCESS_KEY": key[1],
        "PATH": "/usr/bin:/bin",
        "HOME": str(lab.root),
    }
    argv = [RESTIC or "restic", "--repo", repository, *args]
    return subprocess.run(argv, capture_output=True, text=True, env=variables, check=False, timeout=300)


def _locations(lab: Lab) -> tuple[str, str]:
    from seawall.backup.backends import copy_backend, set_backend
    from seawall.model import load_environment

    env = load_environment(lab.environments, "lab")
    return set_backend(env, "files", lab.root).location(), copy_backend(env, "files", lab.root).location()


def test_a_stolen_host_key_deletes_the_primary_but_not_the_copy_and_the_vault_raises_the_alarm(
    two_regions: Lab, seawall, regions: tuple[SeaweedFS, SeaweedFS], tmp_path: Path
) -> None:
    lab = two_regions
    primary_repository, copy_repository = _locations(lab)
    assert seawall(lab, "backup", "init", "lab").code == 0
    for change in range(3):
        (lab.data / "docs" / "file-0.txt").write_text(f"change {change}\n")
        run = seawall(lab, "backup", "run", "lab")
        assert run.code == 0, run.out + run.err
    never = seawall(lab, "backup", "status", "lab", "--format", "json")
    assert never.code == 1
    (row,) = json.loads(never.out)["copies"]
    assert row["status"] == "never-copied"
    copied = seawall(lab, *hint(row["detail"]))  # on the vault, as it says
    assert copied.code == 0, copied.out + copied.err
    assert "copied, 3 new snapshot(s)" in copied.out
    # Seawall says what protects the copy as the storage shows it: versions kept and objects locked.
    assert "versioned: a removed object's version is kept 30 days" in copied.out
    assert "object lock: every new object locked 1 days (COMPLIANCE)" in copied.out

    # The backup host's key is refused on the copy's bucket: by the storage and by restic.
    _, copy = regions
    with pytest.raises(ClientError):
        copy.client(HOST_KEY, HOST_SECRET).list_objects_v2(Bucket=copy_repository.split("/")[3])
    assert _restic(lab, copy_repository, (HOST_KEY, HOST_SECRET), "snapshots", "--no-lock").returncode != 0

    # The compromised host: its key and the set's password forget and prune every snapshot of the primary.
    every = [snapshot["id"] for snapshot in json.loads(
        _restic(lab, primary_repository, (HOST_KEY, HOST_SECRET), "snapshots", "--json").stdout
    )]  # fmt: skip
    assert len(every) == 3
    forget = _restic(lab, primary_repository, (HOST_KEY, HOST_SECRET), "forget", "--prune", *every)
    assert forget.returncode == 0, forget.stderr
    assert json.loads(_restic(lab, primary_repository, (HOST_KEY, HOST_SECRET), "snapshots", "--json").stdout) in (
        [],
        None,
    )

    # The vault's next copy names the set, the host and every vanished snapshot; the copy holds them all.
    alarm = seawall(lab, "backup", "copy", "lab")
    assert alarm.code == 1
    assert (
        "alarm: 3 snapshot(s) of files (hosts lab-host) vanished from the primary without a recorded prune" in alarm.err
    )
    for snapshot_id in every:
        assert snapshot_id[:8] in alarm.err
    assert "(not in the copy)" not in alarm.err
    metrics = (lab.root / "metrics" / "seawall_copy_lab_files.prom").read_text()
    assert 'seawall_copy_vanished_snapshots{environment="lab",set="files"} 3' in metrics
    status = seawall(lab, "backup", "status", "lab", "--format", "json")
    assert status.code == 1
    (row,) = json.loads(status.out)["copies"]
    assert (row["status"], row["vanished"]) == ("vanished", 3)
    # The alarm stays on the next run, until it is acknowledged with an issue.
    assert seawall(lab, "backup", "copy", "lab").code == 1
    refused = seawall(lab, "backup", "copy", "lab", "--acknowledge")
    assert refused.code == 2
    assert "--acknowledge needs --issue" in refused.err

    # The alarm's commands, followed: the copy lists the vanished snapshots and restores, verified, the
    # files last backed up.
    listing = seawall(lab, *hint(alarm.err, "seawall snapshots"), "--format", "json")
    assert listing.code == 0, listing.err
    assert len(json.loads(listing.out)["snapshots"]) == 3  # under the copy's own ids
    filled = {"DIR": str(tmp_path / "restored"), "URL": "ops#7"}
    restored = seawall(lab, *hint(alarm.err, "seawall restore", filled))
    assert restored.code == 0, restored.out + restored.err
    assert "verified" in restored.out
    landed = tmp_path / "restored" / str(lab.data).lstrip("/")
    assert (landed / "docs" / "file-0.txt").read_text() == "change 2\n"
    assert (landed / "big.bin").read_bytes() == (lab.data / "big.bin").read_bytes()
    drill = seawall(lab, "drill", "lab", "--from", "copy", "--format", "json")
    assert drill.code == 0, drill.out + drill.err
    assert json.loads(drill.out)["drills"][0]["result"] == "passed"

    acknowledged = seawall(lab, *hint(alarm.err, "seawall backup copy", filled))
    assert acknowledged.code == 0, acknowledged.out + acknowledged.err
    assert seawall(lab, "backup", "copy", "lab").code == 0


def test_the_copy_servers_outage_fails_the_copy_cleanly_and_the_next_copy_catches_up(
    two_regions: Lab, seawall, regions: tuple[SeaweedFS, SeaweedFS]
) -> None:
    lab = two_regions
    _, copy = regions
    assert seawall(lab, "backup", "init", "lab").code == 0
    assert seawall(lab, "backup", "run", "lab").code == 0
    assert seawall(lab, "backup", "copy", "lab").code == 0
    copy.stop()
    try:
        (lab.data / "docs" / "file-1.txt").write_text("while the copy's region is away\n")
        assert seawall(lab, "backup", "run", "lab").code == 0
        failed = seawall(lab, "backup", "copy", "lab")
        assert failed.code == 1
        assert "Traceback" not in failed.out + failed.err
        assert f"the storage at {copy.endpoint.replace('127.0.0.1', 'localhost')}" in failed.out, failed.out
        status = json.loads(seawall(lab, "backup", "status", "lab", "--format", "json").out)
        assert status["copies"][0]["status"] == "copy-failed"
        metrics = (lab.root / "metrics" / "seawall_copy_lab_files.prom").read_text()
        assert 'seawall_copy_success{environment="lab",set="files"} 0' in metrics
    finally:
        copy.start()
    caught_up = seawall(lab, "backup", "copy", "lab")
    assert caught_up.code == 0, caught_up.out + caught_up.err
    assert "copied, 1 new snapshot(s)" in caught_up.out
    listing = json.loads(seawall(lab, "snapshots", "lab", "--from", "copy", "--format", "json").out)
    assert len(listing["snapshots"]) == 2


def test_prune_keeps_back_what_the_copy_has_not_received(two_regions: Lab, seawall) -> None:
    lab = two_regions
    lab.set("files")["retention"] = {"keep_last": 1}
    lab.write()
    assert seawall(lab, "backup", "init", "lab").code == 0
    for change in range(2):
        (lab.data / "docs" / "file-2.txt").write_text(f"change {change}\n")
        assert seawall(lab, "backup", "run", "lab").code == 0
    held = seawall(lab, "backup", "prune", "lab", "--issue", "ops#8")
    assert held.code == 0, held.out + held.err
    assert "forgot 0, kept back 1" in held.out  # no copy yet: keep_last 1 would forget the older one
    assert seawall(lab, *hint(held.err)).code == 0  # the vault's copy it says makes the record
    pruned = seawall(lab, "backup", "prune", "lab", "--issue", "ops#8")
    assert "forgot 1, kept back 0" in pruned.out, pruned.out + pruned.err
    # A recorded prune is no alarm: the vault knows what the prune host forgot.
    after = seawall(lab, "backup", "copy", "lab")
    assert after.code == 0, after.out + after.err
    assert "vanished" not in after.err
