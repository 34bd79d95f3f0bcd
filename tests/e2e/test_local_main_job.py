"""README's main job on the embedded `local` environment, in a scratch copy of the project."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import PROJECT

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("restic") is None, reason="restic is not installed"),
]


def test_validate_backup_status_and_drill_of_local_work_out_of_the_box(tmp_path: Path, cli) -> None:
    for name in ("environments", "docs"):
        shutil.copytree(PROJECT / name, tmp_path / name)
    shutil.copy(PROJECT / "README.md", tmp_path / "README.md")
    environments = tmp_path / "environments"
    steps = [
        ("validate",),
        ("backup", "init", "local"),
        ("backup", "run", "local"),
        ("backup", "copy", "local"),
        ("backup", "status", "local"),
        ("drill", "local"),
        ("drill", "local", "--from", "copy"),
    ]
    for step in steps:
        result = cli("--environments", environments, *step)
        assert result.code == 0, f"{step}: {result.out}{result.err}"
    password = tmp_path / "var" / "local" / "restic-password"
    assert password.stat().st_mode & 0o777 == 0o600
    reports = sorted((tmp_path / "reports" / "drills" / "local").glob("latest-*.json"))
    assert [json.loads(path.read_text())["result"] for path in reports] == ["passed", "passed"]
    copied = sorted((tmp_path / "reports" / "drills" / "local" / "copy").glob("latest-*.json"))
    assert [json.loads(path.read_text())["result"] for path in copied] == ["passed", "passed"]
    assert (tmp_path / "var" / "local" / "restic-copy-password").stat().st_mode & 0o777 == 0o600
