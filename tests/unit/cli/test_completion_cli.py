"""``seawall completion``: the bash script, sourced in a real bash, completes Seawall's commands."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_the_bash_script_completes_ba_to_backup(tmp_path: Path, cli) -> None:
    script = cli("completion", "bash")
    assert script.code == 0
    (tmp_path / "completion.bash").write_text(script.out)
    shim = tmp_path / "seawall"  # the installed console script, as the shell finds it on PATH
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m seawall "$@"\n')
    shim.chmod(0o755)
    line = (
        f"source {tmp_path / 'completion.bash'}; COMP_WORDS=(seawall ba); COMP_CWORD=1; "
        "_seawall_completion seawall; printf '%s\\n' \"${COMPREPLY[@]}\""
    )
    environment = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "PYTHONPATH": str(PROJECT)}
    done = subprocess.run(["bash", "--norc", "-c", line], capture_output=True, text=True, env=environment, timeout=60)
    assert "backup" in done.stdout.split()


def test_zsh_and_fish_scripts_name_seawall(cli) -> None:
    for shell in ("zsh", "fish"):
        result = cli("completion", shell)
        assert result.code == 0
        assert "_SEAWALL_COMPLETE" in result.out
