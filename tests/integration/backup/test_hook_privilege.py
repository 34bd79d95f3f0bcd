"""Hooks and drill checks run with no secret Seawall holds: not the Spaces keys a unit's credentials
file puts in Seawall's environment, not anything else but the harmless variables and what the set
passes by name (``hooks.pass_env``). Real restic, real hooks."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.integration.backup.conftest import Lab

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("restic") is None, reason="restic is not installed"),
]


def _dump_env(path: Path) -> str:
    return f"{sys.executable} -c \"import json, os; open('{path}', 'w').write(json.dumps(dict(os.environ)))\""


def test_hooks_and_checks_see_no_secret_unless_the_set_passes_it(
    local_lab: Lab, seawall, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOME_DATABASE_PASSWORD", "hunter2")
    monkeypatch.setenv("PGHOST", "db.internal")
    hook, check = tmp_path / "hook.json", tmp_path / "check.json"
    files = local_lab.set("files")
    files["hooks"] = {"before": [_dump_env(hook)], "pass_env": ["PGHOST"]}
    files["drill"]["checks"] = [_dump_env(check)]
    local_lab.write()
    assert seawall(local_lab, "backup", "init", "lab").code == 0
    assert seawall(local_lab, "backup", "run", "lab").code == 0
    assert seawall(local_lab, "drill", "lab").code == 0
    for seen in (json.loads(hook.read_text()), json.loads(check.read_text())):
        assert "LAB_ACCESS_KEY_ID" not in seen
        assert "LAB_SECRET_ACCESS_KEY" not in seen
        assert "SOME_DATABASE_PASSWORD" not in seen
        assert not [name for name in seen if name.startswith(("RESTIC_", "AWS_"))]
        assert seen["PGHOST"] == "db.internal"
        assert (seen["SEAWALL_SET"], seen["SEAWALL_HOST"]) == ("files", "lab-host")
        assert seen["PATH"]
