"""A host installs only what hosts run (requirements.lock, the default dependencies): every host command runs
without the deploying machine's packages, and every command that needs one says so in one line, exit 2.

The packages are hidden by an import hook in a child interpreter, standing in for a host's /opt/seawall
(the lab's booted hosts run the real host install: tests/lab)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
HIDE = """
import importlib.abc, sys
HIDDEN = {"pulumi", "pulumi_digitalocean", "pulumi_command", "pulumi_policy", "jinja2", "pygal", "pydo",
          "grpc", "opentelemetry", "debugpy"}
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Absent())
from seawall.cli.app import main
sys.exit(main(sys.argv[1:]))
"""


def seawall_without_deploy(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-c", HIDE, "--environments", str(ROOT / "environments"), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=cwd, env=env, check=False)


def test_the_host_lock_holds_no_deployer_package() -> None:
    pinned = set(re.findall(r"^([a-z0-9_.-]+)==", (ROOT / "requirements.lock").read_text(), re.M))
    assert pinned >= {"boto3", "pydantic", "pyyaml", "typer", "rich"}
    assert not {name for name in pinned if name.startswith(("pulumi", "grpc", "opentelemetry", "jinja", "pygal"))}
    deploy = set(re.findall(r"^([a-z0-9_.-]+)==", (ROOT / "requirements-deploy.lock").read_text(), re.M))
    assert pinned < deploy
    assert {"pulumi", "pulumi-digitalocean", "pulumi-command", "pulumi-policy", "jinja2", "pygal"} <= deploy


@pytest.mark.parametrize(
    "args",
    [
        ("backup", "schedule", "mainnet", "--host", "db-1"),
        ("backup", "run", "local", "--dry-run"),
        ("backup", "prune", "local", "--dry-run"),
        ("backup", "init", "local", "--dry-run"),
        ("backup", "status", "local"),
        ("validate", "mainnet"),
        ("host", "verify", "--help"),
        ("drill", "--help"),
        ("restore", "--help"),
    ],
)
def test_every_host_command_runs_without_the_deployers_packages(args: tuple[str, ...], tmp_path: Path) -> None:
    result = seawall_without_deploy(*args, cwd=tmp_path)
    assert "this command needs" not in result.stderr
    assert "Traceback" not in result.stderr
    # 1: a check that ran and found what a fresh folder has (no repository yet); never 2, a missing package.
    assert result.returncode in (0, 1), result.stderr


@pytest.mark.parametrize(
    ("args", "package"),
    [
        (("preview", "devnet"), "pulumi"),
        (("audit", "devnet"), "pulumi"),
        (("docs", "--check"), "jinja2"),
        (("report", "devnet", "--format", "json"), "pygal"),
    ],
)
def test_a_command_that_needs_a_deployers_package_says_so_in_one_line(args: tuple[str, ...], package: str) -> None:
    result = seawall_without_deploy(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"seawall: error: this command needs {package}, one of the deploying machine's")
    assert "pip install 'seawall[deploy]'" in lines[0]
