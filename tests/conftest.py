"""Shared fixtures: a scratch copy of the shipped environments, and the CLI run in-process; and the markers.

Markers (pyproject.toml declares them): ``integration`` is a test that runs real parts (restic, an S3
server, system tools, whole commands, benchmarks): every test under ``tests/integration``, ``tests/e2e`` and
``tests/bench`` is one, whatever its file says. ``render`` is a test that runs a program under Pulumi's mock
engine (seconds per environment); it is ``integration`` too. So ``pytest -m "not integration" tests
--ignore=tests/lab`` is the fast answer (the pure unit tests, under a minute), ``pytest -m render`` the
renders alone, and the full command (``.ci/test``, no ``-m``) runs them all. In a run that leaves render tests
out, a test that starts the mock engine in this process without the marker fails and says to mark it.
"""

from __future__ import annotations

import re
import shlex
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
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


INTEGRATION_FOLDERS = ("integration", "e2e", "bench")  # under tests/: the real-parts layers


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the real-parts folders' tests ``integration``, and every ``render`` test ``integration`` too."""
    for item in items:
        parts = Path(str(item.path)).relative_to(PROJECT).parts
        if (parts[:1] == ("tests",) and parts[1:2] and parts[1] in INTEGRATION_FOLDERS) or item.get_closest_marker(
            "render"
        ):
            item.add_marker(pytest.mark.integration)


def _renders_left_out(config: pytest.Config) -> bool:
    """Return whether this run's ``-m`` leaves out a test marked only ``render`` (and so ``integration``)."""
    expression = config.getoption("markexpr", "")
    if not expression:
        return False
    from _pytest.mark.expression import Expression

    marks = {"render", "integration"}
    return not Expression.compile(expression).evaluate(lambda name, **_: name in marks)


def _mock_monitor() -> object | None:
    settings = sys.modules.get("pulumi.runtime.settings")
    return None if settings is None else getattr(settings.SETTINGS, "monitor", None)


@pytest.fixture(autouse=True)
def _unmarked_renders_fail(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """In a run without the render tests, fail a test that started the mock engine without the marker (here,
    or in render processes): the fast answer stays fast only while every render is marked."""
    if not _renders_left_out(request.config):
        yield
        return
    import seawall.render

    in_processes: list[bool] = []
    spread = seawall.render.map_in_processes

    def counted(*args: Any, **kwargs: Any) -> Any:
        in_processes.append(True)
        return spread(*args, **kwargs)

    monkeypatch.setattr(seawall.render, "map_in_processes", counted)
    before = _mock_monitor()
    yield
    if in_processes or _mock_monitor() is not before:
        pytest.fail(
            f"{request.node.nodeid} renders under Pulumi's mock engine: mark it @pytest.mark.render (tests/conftest.py)"
        )


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
