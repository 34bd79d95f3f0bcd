"""Runbooks cannot rot: every ``sh`` block of every runbook generated for ``local`` runs, as written, in
a scratch copy of the project with real restic repositories, and succeeds; every other step there (a
``text`` block) is marked as a hand step with the reason no test runs it, and a runbook with nothing to
run says why (no silent skip)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from seawall.model import load_environment
from seawall.monitoring.alerts import ALERTS, COPY_ALERTS
from seawall.opsdocs.generate import PROCEDURES
from tests.conftest import PROJECT, give_local_a_copy

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("restic") is None, reason="restic is not installed"),
]
BIN = Path(sys.executable).parent
RUNBOOKS = [f"{name}.md" for name in PROCEDURES] + [kind.runbook for kind in ALERTS.values()]
# The runbooks whose local sections must hold commands to run (the others only have hand steps there).
MUST_RUN = {
    "restore-backup-set.md",
    "rebuild-host.md",
    "rotate-restic-password.md",
    "add-service.md",
    "add-environment.md",
    "emergency-deploy.md",
    "seawall-backup-failed.md",
    "seawall-drill-failed.md",
    "seawall-check-failing.md",
    # local has an off-site copy (a folder of this machine, made by the vault localhost).
    "seawall-copy-failed.md",
    "seawall-copy-late.md",
    "seawall-copy-silent.md",
    "seawall-snapshots-vanished.md",
}
FENCE = re.compile(r"^( *)```sh\n(.*?)^\1```$", re.MULTILINE | re.DOTALL)
TEXT_FENCE = re.compile(r"^( *)```text\n(.*?)^\1```$", re.MULTILINE | re.DOTALL)
# A paragraph that opens with one of these says why what follows (or nothing) is not run.
HAND = re.compile(r"^\*\*(By hand|Nothing to do here)\*\*: (?P<why>\S.{20,})", re.DOTALL)


def seawall_env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "ISSUE": "https://github.com/example-org/ops/issues/7",
        **extra,
    }


def run(command: list[str] | str, cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    argv = ["bash", "-euo", "pipefail", "-c", command] if isinstance(command, str) else command
    return subprocess.run(
        argv, cwd=cwd, env=seawall_env(**extra), capture_output=True, text=True, check=False, timeout=600
    )


def copy_project(target: Path) -> Path:
    for name in ("environments", "docs", "templates"):
        shutil.copytree(PROJECT / name, target / name)
    shutil.copy(PROJECT / "README.md", target / "README.md")
    return target


# The runbooks that say more where the environment has an off-site copy.
WITH_A_COPY = ["restore-backup-set.md"] + [ALERTS[name].runbook for name in COPY_ALERTS]


def with_a_copy(project: Path) -> Path:
    """Give the project's local environment an off-site copy, unless it has one."""
    give_local_a_copy(project / "environments")
    return project


def copy_project_with_a_copy(target: Path) -> Path:
    return with_a_copy(copy_project(target))


def generate(root: Path, docs: Path) -> Path:
    made = run([str(BIN / "seawall"), "docs", "local", "--out", str(docs)], root)
    assert made.returncode == 0, made.stderr
    return docs / "runbooks"


@pytest.fixture(scope="module")
def runbooks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """local's runbooks, generated in a copy of the project."""
    return generate(copy_project(tmp_path_factory.mktemp("project")), tmp_path_factory.mktemp("docs"))


@pytest.fixture(scope="module")
def copy_runbooks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """local's runbooks where local has an off-site copy."""
    root = with_a_copy(copy_project(tmp_path_factory.mktemp("project")))
    return generate(root, tmp_path_factory.mktemp("docs"))


def sh_blocks(text: str) -> list[str]:
    return [textwrap.dedent(match.group(2)) for match in FENCE.finditer(text)]


def paragraphs(text: str) -> list[str]:
    return [block.strip() for block in re.split(r"\n\s*\n", text) if block.strip()]


def reasons(text: str) -> list[str]:
    """Given a runbook, return the reason of each hand-step or nothing-to-do mark in it."""
    return [found["why"] for block in paragraphs(text) if (found := HAND.match(block))]


def unmarked_hand_steps(text: str) -> list[str]:
    """Given a runbook, return each ``text`` block whose paragraph before it gives no reason."""
    unmarked = []
    for match in TEXT_FENCE.finditer(text):
        before = paragraphs(text[: match.start()])
        if not before or not HAND.match(before[-1]):
            unmarked.append(match.group(2))
    return unmarked


@pytest.mark.parametrize("runbook", RUNBOOKS)
def test_every_step_of_locals_runbook_that_no_test_runs_says_why(runbook: str, runbooks: Path) -> None:
    text = (runbooks / runbook).read_text()
    assert not unmarked_hand_steps(text), f"{runbook}: hand steps for local without a **By hand**: reason"
    if not sh_blocks(text):
        assert reasons(text), f"{runbook}: local runs nothing and the runbook does not say why"


@pytest.mark.parametrize("runbook", RUNBOOKS)
def test_every_command_of_locals_runbook_runs(runbook: str, runbooks: Path, seeded: Seeded) -> None:
    blocks = sh_blocks((runbooks / runbook).read_text())
    if runbook in MUST_RUN:
        assert blocks, f"{runbook} has no command for local to run"
    if not blocks:
        why = reasons((runbooks / runbook).read_text())
        assert why, f"{runbook}: local runs nothing and the runbook does not say why"
        pytest.skip(f"{runbook}: nothing for local to run: {' '.join(why[0].split())}")
    run_blocks(runbook, blocks, seeded(copy_project))


@pytest.mark.parametrize("runbook", WITH_A_COPY)
def test_every_command_of_locals_runbook_runs_where_local_has_an_offsite_copy(
    runbook: str, copy_runbooks: Path, seeded: Seeded
) -> None:
    text = (copy_runbooks / runbook).read_text()
    assert "--from copy" in text or "backup copy local" in text, f"{runbook} says nothing of the copy"
    assert not unmarked_hand_steps(text), f"{runbook}: hand steps for local without a **By hand**: reason"
    if load_environment(PROJECT / "environments", "local").backup.copy_ is not None:
        pytest.skip("the shipped local has an off-site copy: its own runbook test runs these commands")
    run_blocks(runbook, sh_blocks(text), seeded(copy_project_with_a_copy))


def seed(project: Path) -> str:
    """Give a project what every runbook starts from: real repositories backed up where the runbook runs
    (snapshots hold absolute paths) and, where local has an off-site copy, copied by the vault; the team's
    reports repository with the open incident an emergency deploy answers. Return the incident's id."""
    steps = [["backup", "init", "local"], ["backup", "run", "local"]]
    if load_environment(project / "environments", "local").backup.copy_ is not None:
        steps += [["backup", "init", "local", "--from", "copy"], ["backup", "copy", "local"]]
    for step in steps:
        done = run([str(BIN / "seawall"), *step], project)
        assert done.returncode == 0, done.stdout + done.stderr
    reports = project / "incident_reports"
    subprocess.run(["git", "init", "-q", str(reports)], check=True)
    for key, value in (("user.name", "Ops"), ("user.email", "ops@example.net")):
        subprocess.run(["git", "-C", str(reports), "config", key, value], check=True)
    new = ["incident", "new", "local", "--severity", "critical", "--title", "runbook"]
    opened = run([str(BIN / "seawall"), *new], project)
    assert opened.returncode == 0, opened.stderr
    return opened.stdout.split()[0]


Seeded = Callable[[Callable[[Path], Path]], tuple[Path, str]]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    """Given how to make a project, return a fresh one seeded (``seed``) and its incident's id. Seeding
    (two repositories made and backed up, a copy, an incident) is the same for every runbook, so it runs
    once per kind of project, kept aside; each test gets that copy back at the same path (the snapshots'
    paths), so no runbook sees what another changed."""
    made: dict[Callable[[Path], Path], tuple[Path, Path, str]] = {}

    def fresh(make: Callable[[Path], Path]) -> tuple[Path, str]:
        if make not in made:
            folder = tmp_path_factory.mktemp("seeded")
            project = make(folder / "project")
            incident = seed(project)
            shutil.copytree(project, folder / "pristine", symlinks=True)
            made[make] = (project, folder / "pristine", incident)
        project, pristine, incident = made[make]
        shutil.rmtree(project)
        shutil.copytree(pristine, project, symlinks=True)
        return project, incident

    return fresh


def run_blocks(runbook: str, blocks: list[str], seeded_project: tuple[Path, str]) -> None:
    """Run a runbook's blocks in order in its own seeded project (``seed``)."""
    project, incident = seeded_project
    for index, block in enumerate(blocks, 1):
        done = run(block, project, INCIDENT=incident)
        assert done.returncode == 0, f"{runbook} block {index} failed:\n{block}\n{done.stdout}\n{done.stderr}"
