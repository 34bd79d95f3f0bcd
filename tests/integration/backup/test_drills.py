"""Restore drills with real restic: real numbers, missed targets, damaged repositories, rotation, scratch."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import PROJECT
from tests.integration.backup.conftest import RESTIC, Lab

pytestmark = [pytest.mark.integration, pytest.mark.skipif(RESTIC is None, reason="restic is not installed")]


def _backed_up(lab: Lab, seawall) -> None:
    assert seawall(lab, "backup", "init", "lab").code == 0
    assert seawall(lab, "backup", "run", "lab").code == 0


def _drill(lab: Lab, seawall, *args: str):
    result = seawall(lab, "drill", "lab", "--format", "json", *args)
    return result, (json.loads(result.out)["drills"] if result.out.strip().startswith("{") else [])


def _age(snapshot_time: str) -> float:
    from seawall.backup.client import parse_time

    return (dt.datetime.now(dt.UTC) - parse_time(snapshot_time)).total_seconds()


def test_a_good_drill_passes_with_real_numbers_and_marks_the_snapshot_verified(lab: Lab, seawall) -> None:
    _backed_up(lab, seawall)
    (snapshot,) = lab.snapshots("files")
    before = _age(snapshot["time"])
    result, (report,) = _drill(lab, seawall)
    after = _age(snapshot["time"])
    assert result.code == 0, result.err
    assert report["result"] == "passed"
    assert report["failures"] == []
    assert report["rto"]["seconds"] > 0
    assert report["rto"]["ok"] is True
    assert before - 1 <= report["rpo"]["seconds"] <= after + 1
    assert report["snapshot"]["id"] == snapshot["id"]
    assert report["restore"]["ok"] is True
    assert report["sample"]["ok"] is True
    assert report["sample"]["files"] >= 1
    assert report["floors"]["files"] == 21
    assert report["check"]["slice"] == "1/3"
    assert report["check"]["coverage"] == pytest.approx(1 / 3)
    saved = sorted((lab.root / "reports" / "drills" / "lab").glob("2*-files-lab-host.*"))
    assert [path.suffix for path in saved] == [".json", ".md"]
    assert json.loads(saved[0].read_text())["schema"] == "seawall.drill/1"
    assert "Result: PASSED" in saved[1].read_text()
    metrics = (lab.root / "metrics" / "seawall_drill_lab_lab-host_files.prom").read_text()
    assert 'seawall_drill_success{environment="lab",host="lab-host",set="files"} 1' in metrics
    (same,) = lab.snapshots("files")
    assert same["id"] == snapshot["id"]  # the verified mark lives in Seawall's state: the id stays
    state = json.loads((lab.root / "state" / "lab" / "files" / "lab-host.json").read_text())
    assert state["verified"]["snapshot"] == snapshot["id"]
    assert state["last_drill"]["result"] == "passed"
    status = json.loads(seawall(lab, "backup", "status", "lab", "--format", "json").out)
    assert status["rows"][0]["last_drill"] == "passed"


def test_sample_files_limits_the_sampled_files_and_zero_turns_the_sample_off(local_lab: Lab, seawall) -> None:
    _backed_up(local_lab, seawall)
    local_lab.set("files")["drill"]["sample_files"] = 3  # every folder holds 20 files or more
    local_lab.write()
    result, (report,) = _drill(local_lab, seawall)
    assert result.code == 0, result.err
    assert report["sample"]["files"] == 3
    assert report["sample"]["ok"] is True
    local_lab.set("files")["drill"]["sample_files"] = 0
    local_lab.write()
    result, (report,) = _drill(local_lab, seawall)
    assert result.code == 0, result.err
    assert report["sample"] is None


def test_a_missed_rpo_fails_the_drill(local_lab: Lab, seawall) -> None:
    local_lab.set("files").update({"schedule": "*-*-* *:*:0/2", "rpo": "2s"})
    local_lab.write()
    _backed_up(local_lab, seawall)
    time.sleep(3)
    result, (report,) = _drill(local_lab, seawall)
    assert result.code == 1
    assert report["rpo"]["ok"] is False
    assert any(failure.startswith("RPO missed: the newest snapshot is") for failure in report["failures"])
    assert report["restore"]["ok"] is True


def test_a_missed_rto_fails_the_drill(local_lab: Lab, seawall) -> None:
    local_lab.set("files").update({"rto": "1s"})
    local_lab.set("files")["drill"]["checks"] = ["sleep 1.2"]
    local_lab.write()
    _backed_up(local_lab, seawall)
    result, (report,) = _drill(local_lab, seawall)
    assert result.code == 1
    assert report["rto"]["seconds"] > 1
    assert any(failure.startswith("RTO missed:") for failure in report["failures"])


def test_a_failing_check_command_fails_the_drill_and_placeholders_point_into_the_restore(
    local_lab: Lab, seawall
) -> None:
    local_lab.set("files")["drill"]["checks"] = ["test -s {path}/docs/file-3.txt", "test -s {path}/docs/no-such-file"]
    local_lab.write()
    _backed_up(local_lab, seawall)
    result, (report,) = _drill(local_lab, seawall)
    assert result.code == 1
    assert [check["ok"] for check in report["checks"]] == [True, False]
    assert "drill check 'test -s {path}/docs/no-such-file' failed (exit 1" in report["failures"][0]


def _largest_pack(lab: Lab) -> Path:
    packs = [path for path in (lab.root / "repositories" / "files" / "data").rglob("*") if path.is_file()]
    return max(packs, key=lambda path: path.stat().st_size)


def test_a_corrupted_pack_fails_at_check_or_verify_and_says_which(local_lab: Lab, seawall) -> None:
    _backed_up(local_lab, seawall)
    pack = _largest_pack(local_lab)
    pack.chmod(0o644)
    data = bytearray(pack.read_bytes())
    for offset in range(100, min(len(data), 40000), 97):
        data[offset] ^= 0xFF
    pack.write_bytes(bytes(data))
    result, (report,) = _drill(local_lab, seawall)
    assert result.code == 1
    text = " ".join(report["failures"])
    assert "check of slice" in text or "restore with --verify failed" in text


def test_a_deleted_pack_fails_the_drill(local_lab: Lab, seawall) -> None:
    local_lab.document["backup"]["command_timeout"] = "20s"
    local_lab.write()
    _backed_up(local_lab, seawall)
    _largest_pack(local_lab).unlink()
    result, (report,) = _drill(local_lab, seawall)
    assert result.code == 1
    assert report["result"] == "failed"
    assert report["failures"]


def test_rotation_reads_every_slice_once_every_n_drills(local_lab: Lab, seawall) -> None:
    _backed_up(local_lab, seawall)
    seen = []
    for _ in range(4):
        result, (report,) = _drill(local_lab, seawall)
        assert result.code == 0
        seen.append((report["check"]["slice"], round(report["check"]["coverage"], 2)))
    assert seen == [("1/3", 0.33), ("2/3", 0.67), ("3/3", 1.0), ("1/3", 0.33)]


def _files_outside(root: Path, allowed: tuple[str, ...]) -> dict[str, float]:
    return {
        str(path): path.stat().st_mtime
        for path in root.rglob("*")
        if path.is_file() and not str(path.relative_to(root)).startswith(allowed)
    }


def test_a_drill_writes_only_in_scratch_and_cleans_it_on_success_and_failure(
    local_lab: Lab, seawall, tmp_path: Path, monkeypatch
) -> None:
    _backed_up(local_lab, seawall)
    scratch = local_lab.root / "scratch"
    allowed = ("scratch", "reports", "state", "metrics", "repositories")
    before = _files_outside(local_lab.root, allowed)
    own_temporary = tmp_path / "tmp"  # this test's own, so drills of other test workers cannot show up in it
    own_temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(own_temporary))
    result, _ = _drill(local_lab, seawall, "--target", str(scratch))
    assert result.code == 0
    assert list(scratch.iterdir()) == []
    assert _files_outside(local_lab.root, allowed) == before
    local_lab.set("files")["drill"]["checks"] = ["false"]
    local_lab.write()
    before = _files_outside(local_lab.root, allowed)
    failed, _ = _drill(local_lab, seawall, "--target", str(scratch))
    assert failed.code == 1
    assert list(scratch.iterdir()) == []
    assert _files_outside(local_lab.root, allowed) == before
    assert _drill(local_lab, seawall)[0].code == 1  # in a temporary folder of its own this time
    assert list(own_temporary.iterdir()) == []


def test_a_drill_refuses_a_non_empty_or_live_target(local_lab: Lab, seawall) -> None:
    _backed_up(local_lab, seawall)
    busy = local_lab.root / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    refused = seawall(local_lab, "drill", "lab", "--target", str(busy))
    assert refused.code == 2
    assert "is not empty" in refused.err
    live = seawall(local_lab, "drill", "lab", "--target", str(local_lab.data / "restore-here"))
    assert live.code == 2
    assert "a live path of set files" in live.err
    assert (busy / "keep.txt").read_text() == "mine"


def test_random_picks_an_older_snapshot_with_the_seed_recorded(local_lab: Lab, seawall) -> None:
    _backed_up(local_lab, seawall)
    for index in range(3):
        (local_lab.data / f"more-{index}").write_text(str(index))
        assert seawall(local_lab, "backup", "run", "lab").code == 0
    snapshots = local_lab.snapshots("files")
    first, (report,) = _drill(local_lab, seawall, "--snapshot", "random", "--seed", "11")
    assert first.code == 0
    assert report["snapshot"]["pick"] == "random"
    assert report["snapshot"]["seed"] == 11
    assert report["snapshot"]["id"] in [s["id"] for s in snapshots[:-1]]
    assert report["rpo"]["seconds"] < _age(snapshots[0]["time"])


def test_many_sets_drill_in_parallel(local_lab: Lab, seawall) -> None:
    second = local_lab.root / "second"
    second.mkdir()
    (second / "one.txt").write_text("1")
    local_lab.document["backup_sets"]["more"] = {**local_lab.set("files"), "paths": [str(second)]}
    local_lab.document["datacenter_hosts"]["lab-host"]["backup_sets"] = ["files", "more"]
    local_lab.write()
    _backed_up(local_lab, seawall)
    result = seawall(local_lab, "drill", "lab", "--jobs", "2")
    assert result.code == 0, result.err
    assert "files" in result.out
    assert "more" in result.out
    assert result.out.count("passed") == 2


def test_the_shipped_workflow_example_runs_the_drill_and_the_parity_chain() -> None:
    workflow = yaml.safe_load((PROJECT / "docs" / "examples" / "github-actions-drill.yml").read_text())
    steps = " ".join(str(step.get("run", "")) for job in workflow["jobs"].values() for step in job["steps"])
    assert "seawall drill" in steps
    assert "seawall parity --chain" in steps
    assert workflow[True]["schedule"][0]["cron"]


def test_the_risk_of_a_set_never_drilled_goes_once_its_hint_is_followed(local_lab: Lab, seawall, tmp_path) -> None:
    from tests.conftest import hint

    _backed_up(local_lab, seawall)
    docs = tmp_path / "docs"
    assert seawall(local_lab, "docs", "lab", "--out", docs).code == 0
    risks = sorted(docs.rglob("risk-assessment.md"))
    assert len(risks) == 1, risks
    (finding,) = [line for line in risks[0].read_text().splitlines() if "| set-never-drilled |" in line]
    assert "run `seawall drill lab --set files --host lab-host` and keep its timer enabled" in finding
    assert seawall(local_lab, *hint(finding)).code == 0
    assert seawall(local_lab, "docs", "lab", "--out", docs).code == 0
    assert "set-never-drilled" not in risks[0].read_text()
