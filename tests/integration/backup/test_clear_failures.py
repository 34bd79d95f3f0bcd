"""Every failure an operator meets on a bad day says what happened and what to do, exits as documented,
and loses nothing already backed up. Real restic, local repositories and the loopback S3 server."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import hint
from tests.integration.backup.conftest import RESTIC, Lab

pytestmark = [pytest.mark.integration, pytest.mark.skipif(RESTIC is None, reason="restic is not installed")]
EVERY_COMMAND = [
    ("backup", "run", "lab"),
    ("backup", "prune", "lab", "--issue", "ops#1"),
    ("backup", "status", "lab", "--deep", "--format", "json"),
    ("backup", "init", "lab"),
    ("drill", "lab"),
    ("snapshots", "lab"),
    ("check", "lab"),
    ("unlock", "lab"),
    ("restore", "lab", "--target", "/tmp/never-written-by-seawall-tests"),
]
OPENING_COMMANDS = [command for command in EVERY_COMMAND if command[:2] != ("backup", "init")]


def _ready(lab: Lab, seawall) -> list[str]:
    assert seawall(lab, "backup", "init", "lab").code == 0
    assert seawall(lab, "backup", "run", "lab").code == 0
    return [snapshot["id"] for snapshot in lab.snapshots("files")]


@pytest.mark.parametrize("command", EVERY_COMMAND, ids=lambda c: " ".join(c[:2]))
def test_every_command_validates_set_and_host_the_same_way(local_lab: Lab, seawall, command) -> None:
    unknown_set = seawall(local_lab, *command, "--set", "nope")
    assert unknown_set.code == 2
    assert "lab has no backup set 'nope' (known: files)" in unknown_set.err
    assert "Traceback" not in unknown_set.err
    if command[0] in ("drill", "snapshots", "restore") or command[:2] in (("backup", "run"), ("backup", "status")):
        unknown_host = seawall(local_lab, *command, "--host", "\x1b[31mghost")
        assert unknown_host.code == 2
        assert "has no host '\\x1b[31mghost' that backs up anything" in unknown_host.err
        assert "\x1b" not in unknown_host.err


@pytest.mark.parametrize("command", OPENING_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_wrong_password_is_named_by_every_command(local_lab: Lab, seawall, command) -> None:
    before = _ready(local_lab, seawall)
    (local_lab.root / "password").write_text("not-the-password\n")
    result = (
        seawall(local_lab, *command, "--issue", "ops#1") if command[0] == "restore" else seawall(local_lab, *command)
    )
    assert result.code == 1, result.out + result.err
    assert f"the password does not open {local_lab.root / 'repositories' / 'files'}" in result.out + result.err
    assert "Traceback" not in result.err
    (local_lab.root / "password").write_text(local_lab.password + "\n")
    assert [s["id"] for s in local_lab.snapshots("files")] == before


@pytest.mark.parametrize("command", OPENING_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_an_unreachable_s3_endpoint_is_named_and_never_called_a_missing_repository(
    s3_lab: Lab, seawall, command
) -> None:
    with socket.socket() as probe:  # a loopback port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    s3_lab.document["backup"]["repository"]["endpoint"] = f"http://127.0.0.1:{port}"
    # restic retries a refused connection for a while; a short timeout keeps the test quick, and the
    # retry lines already name the refused connection.
    s3_lab.document["backup"]["command_timeout"] = "6s"
    s3_lab.write()
    args = (*command, "--issue", "ops#1") if command[0] == "restore" else command
    result = seawall(s3_lab, *args)
    text = result.out + result.err
    assert result.code == 1, text
    assert f"the storage at http://127.0.0.1:{port} cannot be reached" in text
    assert "backup init" not in text
    assert "no repository at" not in text


def test_init_of_an_unreachable_s3_endpoint_says_so_without_a_traceback(s3_lab: Lab, seawall) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    s3_lab.document["backup"]["repository"]["endpoint"] = f"http://127.0.0.1:{port}"
    s3_lab.write()
    result = seawall(s3_lab, "backup", "init", "lab")
    assert result.code == 1
    assert f"the storage at http://127.0.0.1:{port} cannot be reached" in result.err
    assert "Traceback" not in result.err


def test_init_dry_run_on_a_fresh_machine_says_what_it_would_create_and_creates_nothing(local_lab: Lab, seawall) -> None:
    (local_lab.root / "password").unlink()
    result = seawall(local_lab, "backup", "init", "lab", "--dry-run")
    assert result.code == 0, result.err
    assert f"would create repository {local_lab.root / 'repositories' / 'files'}" in result.out
    assert f"would generate the repository password in {local_lab.root / 'password'}" in result.out
    assert not (local_lab.root / "password").exists()
    assert not (local_lab.root / "repositories").exists()
    made = seawall(local_lab, "backup", "init", "lab")
    assert made.code == 0
    assert f"generated the repository password in {local_lab.root / 'password'}" in made.out
    assert "keep a copy away from this machine" in made.out
    assert (local_lab.root / "password").stat().st_mode & 0o777 == 0o600


def test_an_empty_repository_and_an_unknown_snapshot_get_one_clear_line(local_lab: Lab, seawall, tmp_path) -> None:
    assert seawall(local_lab, "backup", "init", "lab").code == 0
    drill = seawall(local_lab, "drill", "lab")
    assert drill.code == 1
    assert "lab-host has no snapshot of files yet: run `seawall backup run lab --set files --host lab-host` first" in (
        drill.err
    )
    listing = seawall(local_lab, "snapshots", "lab")
    assert listing.code == 1
    assert "no snapshot of files in lab yet: run `seawall backup run lab --set files` first" in listing.err
    restore = seawall(local_lab, "restore", "lab", "--target", tmp_path / "r1", "--issue", "ops#1")
    assert restore.code == 1
    assert "lab-host has no snapshot of files yet" in restore.err
    assert seawall(local_lab, "backup", "run", "lab").code == 0
    wrong = seawall(
        local_lab, "restore", "lab", "--snapshot", "deadbeef", "--target", tmp_path / "r2", "--issue", "ops#1"
    )
    assert wrong.code == 1
    assert "snapshot 'deadbeef' is not a snapshot of files: list them with `seawall snapshots lab" in wrong.err
    assert len(wrong.err.strip().splitlines()) == 1


def _tmpfs(path: Path, size: str) -> None:
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=False)
    if mounted.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root: the disk-full fault cannot be staged here")


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mount") is None, reason="needs root to mount a small tmpfs")
def test_a_full_target_filesystem_is_named_with_what_the_snapshot_needs(local_lab: Lab, seawall, tmp_path) -> None:
    before = _ready(local_lab, seawall)
    small = tmp_path / "small"
    _tmpfs(small, "512k")
    try:
        restore = seawall(local_lab, "restore", "lab", "--target", small / "here", "--issue", "ops#1")
        assert restore.code == 1
        assert f"the target filesystem of {small / 'here'} is full: the snapshot needs 1.0 MiB" in restore.err
        assert "restore into a folder on a larger filesystem" in restore.err
        shutil.rmtree(small / "here")
        drill = seawall(local_lab, "drill", "lab", "--target", small / "drill", "--format", "json")
        assert drill.code == 1
        (report,) = json.loads(drill.out)["drills"]
        assert any("is full: the snapshot needs 1.0 MiB" in failure for failure in report["failures"])
    finally:
        subprocess.run(["umount", str(small)], check=False)
    assert [s["id"] for s in local_lab.snapshots("files")] == before
    assert seawall(local_lab, "drill", "lab").code == 0


def test_a_missing_pack_is_named_with_the_snapshots_and_files_it_affects(local_lab: Lab, seawall) -> None:
    local_lab.document["backup"]["command_timeout"] = "20s"
    local_lab.write()
    before = _ready(local_lab, seawall)
    packs = [p for p in (local_lab.root / "repositories" / "files" / "data").rglob("*") if p.is_file()]
    biggest = max(packs, key=lambda p: p.stat().st_size)  # the one holding big.bin's contents
    saved = biggest.read_bytes()
    biggest.unlink()
    result = seawall(local_lab, "check", "lab")
    assert result.code == 1
    assert f"pack {biggest.name[:10]} is missing or unreadable" in result.out
    assert f"Affected snapshots: {before[0][:8]}" in result.out
    assert "big.bin" in result.out
    assert f"`restic --repo {local_lab.root / 'repositories' / 'files'} rebuild-index`" in result.out
    biggest.write_bytes(saved)
    assert seawall(local_lab, "check", "lab").code == 0
    assert [s["id"] for s in local_lab.snapshots("files")] == before


def _packs(lab: Lab) -> list[Path]:
    return [p for p in (lab.root / "repositories" / "files" / "data").rglob("*") if p.is_file()]


def test_the_damage_hint_when_followed_names_all_of_the_damage(local_lab: Lab, seawall) -> None:
    local_lab.document["backup"]["command_timeout"] = "20s"
    local_lab.write()
    _ready(local_lab, seawall)
    first = _packs(local_lab)
    (local_lab.data / "more.bin").write_bytes(os.urandom(512 * 1024))
    assert seawall(local_lab, "backup", "run", "lab").code == 0
    missing = max(first, key=lambda p: p.stat().st_size)  # big.bin's contents
    flipped = max(set(_packs(local_lab)) - set(first), key=lambda p: p.stat().st_size)  # more.bin's
    missing.unlink()
    with flipped.open("r+b") as pack:  # the same size, one byte changed: only reading it can tell
        pack.seek(flipped.stat().st_size // 2)
        byte = pack.read(1)
        pack.seek(-1, os.SEEK_CUR)
        pack.write(bytes([byte[0] ^ 0xFF]))
    checked = seawall(local_lab, "check", "lab")
    assert checked.code == 1
    assert f"pack {missing.name[:10]} is missing or unreadable" in checked.out
    assert flipped.name[:10] not in checked.out
    assert "run `seawall check lab --set files --read-data` to see all of the damage" in checked.out
    # restic 0.14 retries the missing pack for about 45 s; the changed one is read in the first second.
    local_lab.document["backup"]["command_timeout"] = "10s"
    local_lab.write()
    followed = seawall(local_lab, *hint(checked.out))
    assert followed.code == 1
    assert f"pack {missing.name[:10]}" in followed.out
    assert f"pack {flipped.name[:10]}" in followed.out, followed.out


def test_the_repair_hint_of_a_lost_pack_when_followed_writes_the_lost_data_again(
    local_lab: Lab, seawall, tmp_path: Path
) -> None:
    before = _ready(local_lab, seawall)
    max(_packs(local_lab), key=lambda p: p.stat().st_size).unlink()  # big.bin's contents
    checked = seawall(local_lab, "check", "lab")
    assert checked.code == 1
    rebuilt = local_lab.restic_command(*hint(checked.out, "restic"))  # with the set's password and keys
    assert rebuilt.returncode == 0, rebuilt.stderr
    again = seawall(local_lab, *hint(checked.out, "seawall backup run"))
    assert again.code == 1  # as it says: restic counts the files it stored again as unreadable
    assert "incomplete" in again.out + again.err
    assert seawall(local_lab, "check", "lab").code == 0
    assert seawall(local_lab, "backup", "run", "lab").code == 0  # the next one is clean
    restored = seawall(
        local_lab, "restore", "lab", "--snapshot", before[0], "--target", tmp_path / "old", "--issue", "ops#1"
    )
    assert restored.code == 0, restored.err  # the snapshot that used the lost pack restores, verified
    assert (tmp_path / "old" / str(local_lab.data).lstrip("/") / "big.bin").read_bytes() == (
        local_lab.data / "big.bin"
    ).read_bytes()


def test_a_lost_directory_pack_is_affected_until_the_check_it_names_passes(local_lab: Lab, seawall) -> None:
    before = _ready(local_lab, seawall)
    trees = min(_packs(local_lab), key=lambda p: p.stat().st_size)  # the directories, no file contents
    saved = trees.read_bytes()
    trees.unlink()
    # restic 0.14 retries loading the missing trees for about 45 s: its first retries tell enough.
    local_lab.document["backup"]["command_timeout"] = "5s"
    local_lab.write()
    checked = seawall(local_lab, "check", "lab")
    assert checked.code == 1
    assert "The packs hold directory data, not file contents" in checked.out, checked.out
    until = checked.out.split("The packs hold directory data")[1]
    assert "`seawall check lab --set files --read-data` passes" in until
    assert seawall(local_lab, *hint(until)).code == 1  # still affected
    trees.write_bytes(saved)
    assert seawall(local_lab, *hint(until)).code == 0
    assert [s["id"] for s in local_lab.snapshots("files")] == before


def test_a_lock_that_vanishes_while_it_is_read_is_not_an_error(local_lab: Lab, seawall, tmp_path) -> None:
    """A restic stand-in on PATH lists one lock id that does not exist (another process removed it
    between ``list locks`` and ``cat lock``); everything else goes to the real restic."""
    _ready(local_lab, seawall)
    wrapper = tmp_path / "restic-racing"
    wrapper.write_text(
        "#!/bin/sh\n"
        'case "$*" in *"list locks"*) echo 0000000000000000000000000000000000000000000000000000000000000000;; esac\n'
        f'exec {RESTIC} "$@"\n'
    )
    wrapper.chmod(0o755)
    local_lab.document["backup"]["restic_binary"] = str(wrapper)
    local_lab.write()
    result = seawall(local_lab, "unlock", "lab")
    assert result.code == 0, result.out + result.err
    assert "removed 0 stale lock(s)" in result.out


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mount") is None, reason="needs root to mount a small tmpfs")
def test_a_full_state_disk_fails_the_run_by_name_and_the_backup_is_kept(local_lab: Lab, seawall, tmp_path) -> None:
    assert seawall(local_lab, "backup", "init", "lab").code == 0
    full = tmp_path / "full"
    _tmpfs(full, "64k")
    try:
        _fill(full / "filler")
        local_lab.document["backup"]["state_dir"] = str(full / "state")
        local_lab.document["backup"]["metrics_dir"] = str(full / "metrics")
        local_lab.write()
        run = seawall(local_lab, "backup", "run", "lab")
        assert run.code == 1
        assert "could not record the run (snapshot " in run.out + run.err
        assert "No space left on device" in run.out + run.err
        assert "Traceback" not in run.out + run.err
        drill = seawall(local_lab, "drill", "lab", "--format", "json")
        assert drill.code == 1
        (report,) = json.loads(drill.out)["drills"]
        assert report["result"] == "passed"  # the drill itself passed: only its record is missing
        assert report["unrecorded"].startswith("could not record the drill, which passed: No space left")
        assert "Traceback" not in drill.err
        status = seawall(local_lab, "backup", "status", "lab", "--format", "json")  # reads only: unaffected
        assert status.code in (0, 1)
        assert "Traceback" not in status.err
    finally:
        subprocess.run(["umount", str(full)], check=False)
    assert len(local_lab.snapshots("files")) == 1  # the backup made its snapshot all the same


def _fill(path: Path) -> None:
    """Given a file on a small filesystem, write it until the filesystem is full."""
    with path.open("wb", buffering=0) as filler:
        try:
            while True:
                filler.write(b"x" * 4096)
        except OSError as exc:
            assert exc.errno == 28  # ENOSPC


def test_each_hint_of_a_missing_backup_or_snapshot_does_what_it_says_when_followed(
    local_lab: Lab, seawall, tmp_path: Path
) -> None:
    missing = seawall(local_lab, "check", "lab")
    assert missing.code != 0
    said = missing.out + missing.err
    assert "create it with `seawall backup init lab --set files`" in said, said
    assert seawall(local_lab, *hint(said)).code == 0  # the repository it names
    drill = seawall(local_lab, "drill", "lab")
    assert drill.code == 1
    assert seawall(local_lab, *hint(drill.err)).code == 0  # the backup the drill lacked
    assert seawall(local_lab, "drill", "lab").code == 0
    every = [snapshot["id"] for snapshot in local_lab.snapshots("files")]
    assert local_lab.restic("files", "forget", "--prune", *every).returncode == 0
    listing = seawall(local_lab, "snapshots", "lab")
    assert listing.code == 1
    assert seawall(local_lab, *hint(listing.err)).code == 0  # the backup it names
    assert seawall(local_lab, "snapshots", "lab").code == 0
    restore = seawall(local_lab, "restore", "lab", "--target", tmp_path / "r1", "--issue", "ops#1")
    assert restore.code == 0, restore.err
    wrong = seawall(
        local_lab, "restore", "lab", "--snapshot", "deadbeef", "--target", tmp_path / "r2", "--issue", "ops#1"
    )
    assert wrong.code == 1
    listed = seawall(local_lab, *hint(wrong.err), "--format", "json")
    assert listed.code == 0, listed.err
    first = json.loads(listed.out)["snapshots"][0]["id"]
    again = seawall(local_lab, "restore", "lab", "--snapshot", first, "--target", tmp_path / "r2", "--issue", "ops#1")
    assert again.code == 0, again.err
