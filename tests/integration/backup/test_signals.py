"""SIGTERM (what ``systemctl stop`` sends, to the main process only with KillMode=mixed) and SIGINT:
every command stops its restic, removes its scratch, records the run as interrupted and exits 128 + the
signal. Real restic against the loopback S3 server, which is slow enough to be caught mid-transfer."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.integration.backup.conftest import RESTIC, Lab, restic_children, seawall_process

pytestmark = [pytest.mark.integration, pytest.mark.skipif(RESTIC is None, reason="restic is not installed")]
BIG = 96 * 1024 * 1024


def _signal_when_restic_runs(process, signum: int, command: str) -> list[int]:
    """Wait until the seawall process runs restic ``command``, then signal the seawall process only."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for child in restic_children(process.pid):
            try:
                argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if command.encode() in argv:
                time.sleep(0.5)  # let it take its lock and get going
                os.kill(process.pid, signum)
                return [child]
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"restic {command} never started: {process.communicate()}")


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")


def _big_lab(s3_lab: Lab) -> Lab:
    (s3_lab.data / "big.bin").write_bytes(os.urandom(BIG))
    s3_lab.document["backup"]["healthcheck_url_env"] = "LAB_PING"
    s3_lab.write()
    return s3_lab


def test_sigterm_to_backup_run_stops_restic_releases_its_lock_and_records_the_interruption(
    s3_lab: Lab, seawall, pings: list[str]
) -> None:
    lab = _big_lab(s3_lab)
    assert seawall(lab, "backup", "init", "lab").code == 0
    process = seawall_process(lab, "backup", "run", "lab")
    children = _signal_when_restic_runs(process, signal.SIGTERM, "backup")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert "interrupted by SIGTERM" in err
    assert "Traceback" not in err
    assert all(_gone(child) for child in children)
    assert lab.restic("files", "list", "locks", "--no-lock").stdout.strip() == ""
    state = json.loads((lab.root / "state" / "lab" / "files" / "lab-host.json").read_text())
    assert state["last_run"]["result"] == "interrupted"
    metrics = (lab.root / "metrics" / "seawall_backup_lab_lab-host_files.prom").read_text()
    assert 'seawall_backup_success{environment="lab",host="lab-host",set="files"} 0' in metrics
    assert pings == ["/ping/abc/start", "/ping/abc/fail"]
    # The next normal run recovers.
    (lab.data / "big.bin").write_bytes(b"small now")
    assert seawall(lab, "backup", "run", "lab").code == 0


def test_sigint_to_a_drill_removes_its_scratch_stops_restic_and_records_the_interruption(
    s3_lab: Lab, seawall, tmp_path: Path
) -> None:
    lab = _big_lab(s3_lab)
    assert seawall(lab, "backup", "init", "lab").code == 0
    assert seawall(lab, "backup", "run", "lab").code == 0
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    process = seawall_process(lab, "drill", "lab", env={"TMPDIR": str(scratch)})
    children = _signal_when_restic_runs(process, signal.SIGINT, "restore")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted by SIGINT" in err
    assert "Traceback" not in err
    assert all(_gone(child) for child in children)
    assert list(scratch.iterdir()) == []
    assert lab.restic("files", "list", "locks", "--no-lock").stdout.strip() == ""
    state = json.loads((lab.root / "state" / "lab" / "files" / "lab-host.json").read_text())
    assert state["last_drill"]["result"] == "interrupted"
    metrics = (lab.root / "metrics" / "seawall_drill_lab_lab-host_files.prom").read_text()
    assert 'seawall_drill_success{environment="lab",host="lab-host",set="files"} 0' in metrics
    assert seawall(lab, "drill", "lab").code == 0
