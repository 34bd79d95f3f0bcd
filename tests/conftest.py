"""Shared fixtures: a scratch copy of the shipped environments, and the CLI run in-process."""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from seawall.cli.app import main

PROJECT = Path(__file__).resolve().parent.parent
SHIPPED = PROJECT / "environments"


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def environments(tmp_path: Path) -> Path:
    """A writable copy of the shipped environments folder."""
    target = tmp_path / "environments"
    shutil.copytree(SHIPPED, target)
    return target


def overlay(data: dict, patch: dict) -> dict:
    """Return ``patch`` written over ``data`` key by key, keeping explicit nulls."""
    result = dict(data)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = overlay(result[key], value)
        else:
            result[key] = value
    return result


def patch_environment(directory: Path, name: str, patch: dict) -> None:
    """Write ``patch`` over ``directory/name.yaml`` (a null stays, so it removes the default)."""
    path = directory / f"{name}.yaml"
    data = yaml.safe_load(path.read_text()) or {}
    path.write_text(yaml.safe_dump(overlay(data, patch), sort_keys=False))


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run ``seawall ARGS`` in this process and return its exit code, stdout and stderr."""

    def run(*args: str | Path) -> Result:
        code = main([str(arg) for arg in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def hint(message: str, command: str = "seawall", fill: dict[str, str] | None = None) -> list[str]:
    """Given a message, return the first backquoted command in it that starts with ``command`` (what it
    tells a person to run), as the words after the program's name, with the placeholders a person fills in
    (``DIR``, ``URL``) filled from ``fill``: a test runs them, as the person would."""
    found = re.search(rf"`({re.escape(command)}(?: [^`]*)?)`", message)
    assert found, f"no `{command} …` in: {message}"
    return [(fill or {}).get(word, word) for word in shlex.split(found.group(1))[1:]]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """List the artifacts tests kept for a reviewer (screenshots of the fleet page), with their paths: a
    test names them with ``record_property("artifact", path)``; pytest keeps its last temp folders."""
    artifacts = [
        value
        for reports in terminalreporter.stats.values()
        for report in reports
        for name, value in getattr(report, "user_properties", [])
        if name == "artifact" and getattr(report, "when", "call") == "call"
    ]
    if artifacts:
        terminalreporter.section("artifacts kept for review")
        for path in sorted(set(artifacts)):
            terminalreporter.line(str(path))


def with_each_field(fields: Iterable[str], value: str) -> Callable[[Any], Any]:
    """A decorator for a hypothesis test of ``field`` and ``value``: every field also gets ``value`` on
    every run, whatever the random examples draw."""
    from hypothesis import example

    def decorate(test: Any) -> Any:
        for field in sorted(fields):
            test = example(field=field, value=value)(test)
        return test

    return decorate


# local's off-site copy as the shipped local.yaml declares it (a folder of this machine, the vault localhost):
# written over a local environment that has none.
LOCAL_COPY = {
    "backup": {
        "copy": {
            "repository": {"kind": "local", "endpoint": None, "path": "var/local/copies"},
            "vault": "localhost",
            "password_file": "var/local/restic-copy-password",
            "retention": {"keep_daily": 30},
        }
    }
}


def give_local_a_copy(environments: Path) -> None:
    """Give the local environment of ``environments`` an off-site copy, unless it has one."""
    from seawall.model import load_environment

    if load_environment(environments, "local").backup.copy_ is None:
        patch_environment(environments, "local", LOCAL_COPY)
