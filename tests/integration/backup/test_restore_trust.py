"""Restores trust nothing a snapshot says about itself (real restic, as root where it matters): anyone
with a set's password can add a snapshot tagged as any host's. In place, only the set's paths are
written, never through a link; another host's snapshot needs --from-host; an --include that matches
nothing is an error; and the after_restore hooks run whatever happened."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.integration.backup.conftest import Lab

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("restic") is None, reason="restic is not installed"),
]


def _in_place(seawall, lab: Lab, *extra: str):
    return seawall(lab, "restore", "lab", "--set", "files", "--in-place", "--yes", "--issue", "acme/ops#1", *extra)


def _hooks(lab: Lab, tmp_path: Path) -> Path:
    marker = tmp_path / "after-restore-ran"
    lab.set("files")["hooks"] = {"before_restore": ["true"], "after_restore": [f"touch {marker}"]}
    lab.write()
    return marker


def test_a_planted_snapshot_with_paths_outside_the_set_is_refused_in_place(
    local_lab: Lab, seawall, tmp_path: Path
) -> None:
    assert seawall(local_lab, "backup", "init", "lab").code == 0
    assert seawall(local_lab, "backup", "run", "lab").code == 0
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "authorized_keys").write_text("attacker key\n")
    # Another holder of the password adds a snapshot tagged as this host's set, holding a path outside it.
    planted = local_lab.restic("files", "backup", "--host", "lab-host", "--tag", "seawall", "--tag", "set:files",
                               str(local_lab.data), str(outside))  # fmt: skip
    assert planted.returncode == 0, planted.stderr
    (outside / "authorized_keys").write_text("the real key\n")
    result = _in_place(seawall, local_lab)
    assert result.code == 1
    assert f"holds {outside}" in result.err
    assert "not a path of files" in result.err
    assert (outside / "authorized_keys").read_text() == "the real key\n"


def test_another_hosts_snapshot_needs_from_host_and_says_so(local_lab: Lab, seawall, tmp_path: Path) -> None:
    assert seawall(local_lab, "backup", "init", "lab").code == 0
    other = local_lab.restic("files", "backup", "--host", "lab-empty", "--tag", "seawall", "--tag", "set:files",
                             str(local_lab.data))  # fmt: skip
    assert other.returncode == 0, other.stderr
    snapshot = next(s for s in local_lab.snapshots("files") if s["hostname"] == "lab-empty")["short_id"]
    target = tmp_path / "restored"
    args = ("restore", "lab", "--set", "files", "--snapshot", snapshot, "--target", str(target), "--issue", "x/y#1")
    refused = seawall(local_lab, *args)
    assert refused.code == 1
    assert "taken on lab-empty, not lab-host" in refused.err
    assert "--from-host lab-empty" in refused.err
    assert not target.exists() or not any(target.iterdir())
    allowed = seawall(local_lab, *args, "--from-host", "lab-empty")
    assert allowed.code == 0, allowed.err
    assert "lab-empty's snapshot" in allowed.out
    assert (target / str(local_lab.data).lstrip("/") / "big.bin").read_bytes() == (
        local_lab.data / "big.bin"
    ).read_bytes()


def test_links_in_the_live_tree_restore_cleanly_and_are_never_written_through(
    local_lab: Lab, seawall, tmp_path: Path
) -> None:
    marker = _hooks(local_lab, tmp_path)
    data = local_lab.data
    (data / "docs" / "link-to-file").symlink_to(data / "docs" / "file-1.txt")
    assert seawall(local_lab, "backup", "init", "lab").code == 0
    assert seawall(local_lab, "backup", "run", "lab").code == 0
    # After the backup: the live tree changes, and a link now points out of the set where a folder was.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "file-0.txt").write_text("must stay\n")
    shutil.rmtree(data / "docs")
    (data / "docs").symlink_to(elsewhere)
    (data / "newer.txt").write_text("created after the snapshot\n")
    result = _in_place(seawall, local_lab)
    assert result.code == 0, result.err
    assert (elsewhere / "file-0.txt").read_text() == "must stay\n"
    assert sorted(p.name for p in elsewhere.iterdir()) == ["file-0.txt"]
    assert (data / "docs").is_dir()
    assert not (data / "docs").is_symlink()
    assert (data / "docs" / "file-3.txt").read_text() == "content 3\n" * 4
    assert os.readlink(data / "docs" / "link-to-file") == str(data / "docs" / "file-1.txt")
    assert (data / "newer.txt").exists()  # kept: the default keeps what the snapshot does not have
    assert marker.exists()
    assert not [p for p in data.iterdir() if p.name.startswith(".seawall-restore-")]


def test_delete_removes_what_the_snapshot_does_not_have(local_lab: Lab, seawall) -> None:
    assert seawall(local_lab, "backup", "init", "lab").code == 0
    assert seawall(local_lab, "backup", "run", "lab").code == 0
    (local_lab.data / "newer.txt").write_text("created after the snapshot\n")
    assert _in_place(seawall, local_lab, "--delete").code == 0
    assert not (local_lab.data / "newer.txt").exists()
    assert (local_lab.data / "big.bin").exists()


def test_after_restore_hooks_run_when_the_restore_fails(local_lab: Lab, seawall, tmp_path: Path) -> None:
    marker = _hooks(local_lab, tmp_path)
    assert seawall(local_lab, "backup", "init", "lab").code == 0
    assert seawall(local_lab, "backup", "run", "lab").code == 0
    for pack in (local_lab.root / "repositories" / "files" / "data").rglob("*"):
        if pack.is_file():
            pack.write_bytes(b"damaged")
    result = _in_place(seawall, local_lab)
    assert result.code == 1
    assert "after_restore hooks ran" in result.err
    assert marker.exists()


def test_an_include_that_matches_nothing_is_an_error(local_lab: Lab, seawall, tmp_path: Path) -> None:
    assert seawall(local_lab, "backup", "init", "lab").code == 0
    assert seawall(local_lab, "backup", "run", "lab").code == 0
    missing = str(local_lab.data / "no-such-file")
    result = seawall(local_lab, "restore", "lab", "--set", "files", "--include", missing,
                     "--target", str(tmp_path / "restored"), "--issue", "x/y#1")  # fmt: skip
    assert result.code == 1
    assert f"--include {missing} matches nothing" in result.err
    outside = seawall(local_lab, "restore", "lab", "--set", "files", "--include", "/etc/passwd",
                      "--target", str(tmp_path / "restored2"), "--issue", "x/y#1")  # fmt: skip
    assert outside.code == 2
    assert "is not inside the set's paths" in outside.err


def test_a_restore_into_a_folder_says_where_each_path_landed(local_lab: Lab, seawall, tmp_path: Path) -> None:
    assert seawall(local_lab, "backup", "init", "lab").code == 0
    assert seawall(local_lab, "backup", "run", "lab").code == 0
    target = tmp_path / "restored"
    result = seawall(local_lab, "restore", "lab", "--set", "files", "--target", str(target), "--issue", "x/y#1")
    assert result.code == 0, result.err
    assert f"{local_lab.data} -> {target / str(local_lab.data).lstrip('/')}" in result.out


def test_a_restore_of_one_include_says_it_landed_under_the_folder_at_its_absolute_path(
    local_lab: Lab, seawall, tmp_path: Path
) -> None:
    assert seawall(local_lab, "backup", "init", "lab").code == 0
    assert seawall(local_lab, "backup", "run", "lab").code == 0
    wanted, target = local_lab.data / "docs" / "file-2.txt", tmp_path / "restored"
    result = seawall(local_lab, "restore", "lab", "--set", "files", "--include", str(wanted),
                     "--target", str(target), "--issue", "x/y#1")  # fmt: skip
    assert result.code == 0, result.err
    landed = target / str(wanted).lstrip("/")
    assert f"  {wanted} -> {landed}" in result.out.splitlines()
    assert landed.read_text() == "content 2\n" * 3


def test_an_in_place_restore_says_each_path_landed_where_it_lives(local_lab: Lab, seawall) -> None:
    assert seawall(local_lab, "backup", "init", "lab").code == 0
    assert seawall(local_lab, "backup", "run", "lab").code == 0
    result = _in_place(seawall, local_lab)
    assert result.code == 0, result.err
    assert f"  {local_lab.data} -> {local_lab.data}" in result.out.splitlines()
