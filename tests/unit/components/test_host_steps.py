"""The host steps' shell, run for real in sh and bash with stand-ins for apt, dpkg, sudo and sleep on PATH
(the booted hosts of tests/lab run the same scripts against the real ones)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from seawall.components._scripts import apt_install, as_root
from seawall.hostfiles import RenderedFile, file_lines, installed_files


def shim(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def run(script: str, folder: Path, shell: str = "sh", **env: str) -> subprocess.CompletedProcess[str]:
    variables = {**os.environ, "PATH": f"{folder}:{os.environ['PATH']}", "LOG": str(folder / "calls"), **env}
    return subprocess.run([shell, "-c", script], capture_output=True, text=True, env=variables, timeout=60, check=False)


@pytest.fixture
def apt(tmp_path: Path) -> Path:
    """Stand-ins: dpkg-query says nothing is installed; apt-get and dpkg log their arguments and fail as
    the files ``fail-<n>`` say (a lock held, then free); flock and sleep do nothing but log."""
    shim(tmp_path, "dpkg-query", "exit 1")
    for tool in ("apt-get", "dpkg"):
        shim(
            tmp_path,
            tool,
            f'echo "{tool} $*" >> "$LOG"\n'
            f'n=$(grep -c "^{tool} " "$LOG")\n'
            f'if [ -f "$0.fail-$n" ]; then cat "$0.fail-$n" >&2; exit 100; fi',
        )
    shim(tmp_path, "flock", 'echo "flock $*" >> "$LOG"')
    shim(tmp_path, "sleep", 'echo "sleep $*" >> "$LOG"')
    return tmp_path


def test_apt_waits_while_another_apt_holds_the_lists_lock_then_installs_without_recommends(apt: Path) -> None:
    held = "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)\n"
    for attempt in (1, 2):
        (apt / f"apt-get.fail-{attempt}").write_text(held)
    script = "set -eu\n" + "\n".join(apt_install(["restic", "python3-venv"])) + "\necho installed\n"
    result = run(script, apt)
    calls = (apt / "calls").read_text().splitlines()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "installed"
    assert [c for c in calls if c.startswith("sleep")] == ["sleep 10", "sleep 10"]
    install = [c for c in calls if c.startswith("apt-get") and " install " in c]
    assert len(install) == 1
    assert "--no-install-recommends" in install[0]
    assert install[0].endswith("restic python3-venv")
    assert calls.index(next(c for c in calls if c.startswith("dpkg "))) < calls.index(install[0])
    assert calls[0] == "flock 8"


def test_any_other_apt_failure_stops_the_step_before_the_next_line(apt: Path) -> None:
    (apt / "apt-get.fail-2").write_text("E: Unable to locate package restic\n")
    script = "set -eu\n" + "\n".join(apt_install(["restic"])) + "\necho settings-written\n"
    result = run(script, apt)
    assert result.returncode != 0
    assert "settings-written" not in result.stdout
    assert "Unable to locate package restic" in result.stderr
    assert "sleep" not in (apt / "calls").read_text()


def test_apt_does_nothing_when_every_package_is_installed(apt: Path) -> None:
    shim(apt, "dpkg-query", "echo installed")
    result = run("set -eu\n" + "\n".join(apt_install(["restic"])), apt)
    assert result.returncode == 0, result.stderr
    assert "apt-get" not in (apt / "calls").read_text()


@pytest.mark.parametrize("shell", ["sh", "bash"])
@pytest.mark.parametrize("user", ["root", "seawall"])
def test_a_step_runs_verbatim_as_root_with_the_deployers_address(tmp_path: Path, shell: str, user: str) -> None:
    shim(tmp_path, "sudo", 'echo "sudo $*" >> "$LOG"; [ "$1" = -n ] && shift; exec "$@"')
    target = tmp_path / "out.txt"
    content = "quotes ' \" ` $HOME ${X:-y} \\n ) ( \nSEAWALL_STEP\nlast line"
    script = "\n".join(["set -eu", *file_lines([RenderedFile(str(target), content)]), 'echo "deployer=$1"'])
    command = as_root(user, script)
    assert installed_files(command) == installed_files(script) == {str(target): content}
    result = run(command, tmp_path, shell, SSH_CLIENT="203.0.113.7 50022 22")
    assert result.returncode == 0, result.stderr
    assert target.read_text() == content + "\n"
    assert result.stdout.strip() == "deployer=203.0.113.7"
    sudo = (tmp_path / "calls").read_text() if (tmp_path / "calls").exists() else ""
    assert sudo.startswith("sudo -n sh -c") == (user != "root")
