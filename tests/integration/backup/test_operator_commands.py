"""``seawall restore``, ``snapshots``, ``check`` and ``unlock`` as an operator uses them, on real restic."""

from __future__ import annotations

import filecmp
import json
import os
import signal
from pathlib import Path

import pytest

from tests.integration.backup.conftest import RESTIC, Lab
from tests.integration.backup.test_backup_faults import _hold_lock

pytestmark = [pytest.mark.integration, pytest.mark.skipif(RESTIC is None, reason="restic is not installed")]


def _ready(lab: Lab, seawall) -> None:
    assert seawall(lab, "backup", "init", "lab").code == 0
    assert seawall(lab, "backup", "run", "lab").code == 0


def test_restore_into_a_new_folder_gives_back_every_file_with_a_summary(lab: Lab, seawall, tmp_path: Path) -> None:
    _ready(lab, seawall)
    target = tmp_path / "restored"
    result = seawall(lab, "restore", "lab", "--target", target, "--issue", "ops/infra#12")
    assert result.code == 0, result.err
    (snapshot,) = lab.snapshots("files")
    assert f"restored snapshot {snapshot['short_id']} of files on lab-host into" in result.out
    assert "21 files, 1.0 MiB" in result.out
    copy = target / lab.data.relative_to("/")
    assert filecmp.dircmp(lab.data, copy).diff_files == []
    assert sorted(p.name for p in copy.rglob("*")) == sorted(p.name for p in lab.data.rglob("*"))
    state = json.loads((lab.root / "state" / "lab" / "files" / "lab-host.json").read_text())
    assert state["last_restore"]["issue"] == "ops/infra#12"
    assert state["last_restore"]["files"] == 21


def test_restore_refuses_a_non_empty_folder_and_needs_the_issue_the_model_requires(
    local_lab: Lab, seawall, tmp_path: Path
) -> None:
    _ready(local_lab, seawall)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    refused = seawall(local_lab, "restore", "lab", "--target", busy, "--issue", "ops#1")
    assert refused.code == 2
    assert "is not an empty folder" in refused.err
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]
    no_issue = seawall(local_lab, "restore", "lab", "--target", tmp_path / "new")
    assert no_issue.code == 2
    assert "lab requires an issue for every restore: add --issue URL" in no_issue.err


def test_restore_of_only_some_paths(local_lab: Lab, seawall, tmp_path: Path) -> None:
    _ready(local_lab, seawall)
    wanted = str(local_lab.data / "docs" / "file-3.txt")
    result = seawall(local_lab, "restore", "lab", "--target", tmp_path / "one", "--include", wanted, "--issue", "o#1")
    assert result.code == 0, result.err
    restored = [p for p in (tmp_path / "one").rglob("*") if p.is_file()]
    assert [p.name for p in restored] == ["file-3.txt"]


def test_in_place_restore_needs_yes_runs_hooks_and_keeps_a_safety_snapshot_that_prune_keeps(
    local_lab: Lab, seawall, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    local_lab.set("files")["hooks"] = {
        "before_restore": [f"sh -c 'echo stop >> {journal}'"],
        "after_restore": [f"sh -c 'echo start >> {journal}'"],
    }
    local_lab.set("files")["retention"] = {"keep_last": 1}
    local_lab.write()
    _ready(local_lab, seawall)
    original = (local_lab.data / "docs" / "file-5.txt").read_text()
    (local_lab.data / "docs" / "file-5.txt").write_text("damaged by a bad deploy")
    unconfirmed = seawall(local_lab, "restore", "lab", "--in-place", "--issue", "ops#7")
    assert unconfirmed.code == 2
    assert "add --yes" in unconfirmed.err
    assert not journal.exists()
    result = seawall(local_lab, "restore", "lab", "--in-place", "--yes", "--issue", "ops#7")
    assert result.code == 0, result.err
    assert (local_lab.data / "docs" / "file-5.txt").read_text() == original
    assert journal.read_text().split() == ["stop", "start"]
    safety = [s for s in local_lab.snapshots("files") if "seawall-safety" in (s.get("tags") or [])]
    assert len(safety) == 1
    assert f"safety snapshot {safety[0]['short_id']}" in result.out
    # The safety snapshot holds the damaged state, and retention keeps it for safety_snapshot_keep.
    assert seawall(local_lab, "backup", "run", "lab").code == 0
    assert seawall(local_lab, "backup", "prune", "lab", "--issue", "ops#1").code == 0
    assert safety[0]["id"] in [s["id"] for s in local_lab.snapshots("files")]


def test_snapshots_lists_ids_sizes_tags_and_the_drill_that_verified_one(lab: Lab, seawall) -> None:
    _ready(lab, seawall)
    assert seawall(lab, "drill", "lab").code == 0
    (lab.data / "more.txt").write_text("more")
    assert seawall(lab, "backup", "run", "lab").code == 0
    result = seawall(lab, "snapshots", "lab", "--format", "json")
    assert result.code == 0, result.err
    rows = json.loads(result.out)["snapshots"]
    assert [row["host"] for row in rows] == ["lab-host", "lab-host"]
    assert rows[0]["verified_by"].startswith("drill of ")
    assert rows[1]["verified_by"] is None
    assert all(row["size_bytes"] > 1024 * 1024 for row in rows)
    assert [row["id"] for row in rows] == [s["id"] for s in lab.snapshots("files")]
    table = seawall(lab, "snapshots", "lab", "--host", "lab-host")
    assert rows[0]["short_id"] in table.out
    assert "drill of" in table.out


def test_check_reads_a_subset_and_passes_on_a_healthy_repository(local_lab: Lab, seawall) -> None:
    _ready(local_lab, seawall)
    result = seawall(local_lab, "check", "lab", "--read-data-subset", "1/2")
    assert result.code == 0, result.err
    assert f"files: {local_lab.root / 'repositories' / 'files'}: ok" in result.out


def test_unlock_removes_only_stale_locks_unless_forced(local_lab: Lab, seawall) -> None:
    _ready(local_lab, seawall)
    live = _hold_lock(local_lab)
    try:
        kept = seawall(local_lab, "unlock", "lab")
        assert kept.code == 1
        assert "kept live lock" in kept.err
        assert local_lab.restic("files", "list", "locks", "--no-lock").stdout.strip()
    finally:
        os.kill(live.pid, signal.SIGKILL)
        live.wait()
    cleared = seawall(local_lab, "unlock", "lab")
    assert cleared.code == 0, cleared.err
    assert "removed 1 stale lock(s)" in cleared.out
    assert local_lab.restic("files", "list", "locks", "--no-lock").stdout.strip() == ""
    live = _hold_lock(local_lab)
    try:
        forced = seawall(local_lab, "unlock", "lab", "--force")
        assert forced.code == 0
        assert "removed 1 stale lock(s)" in forced.out
    finally:
        live.kill()
        live.wait()


def test_a_prune_by_hand_needs_its_issue_and_every_prune_is_recorded(local_lab: Lab, seawall) -> None:
    _ready(local_lab, seawall)
    state = local_lab.root / "state" / "lab" / "files" / "lab-host.json"
    before = [s["id"] for s in local_lab.snapshots("files")]
    refused = seawall(local_lab, "backup", "prune", "lab")
    assert refused.code == 2
    assert "requires an issue for a prune run by hand: add --issue URL" in refused.err
    assert "last_prune" not in json.loads(state.read_text())
    assert [s["id"] for s in local_lab.snapshots("files")] == before
    assert seawall(local_lab, "backup", "prune", "lab", "--issue", "acme/ops#31").code == 0
    assert json.loads(state.read_text())["last_prune"]["issue"] == "acme/ops#31"
    assert seawall(local_lab, "backup", "prune", "lab", "--scheduled").code == 0
    recorded = json.loads(state.read_text())["last_prune"]
    assert (recorded["issue"], recorded["result"]) == ("scheduled", "pruned")
