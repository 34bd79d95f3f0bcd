"""`.ci/setup` installs exactly the hash-pinned test lock and the project, and checks Python first; the
test lock covers every dependency of pyproject.toml and keeps the runtime pins that hosts get."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
SETUP = (PROJECT / ".ci/setup").read_text()


def _pins(lock: str) -> dict[str, str]:
    """Given a lock file, return each pinned name (normalized) with its version."""
    pins = {}
    for line in lock.splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            name, version = line.split("==", 1)
            pins[_normalized(name)] = version.split()[0]
    return pins


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def _requirement_name(requirement: str) -> str:
    return _normalized(re.split(r"[<>=\[ ;]", requirement, maxsplit=1)[0])


def test_the_test_lock_pins_every_runtime_and_test_dependency_by_hash() -> None:
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    lock = (PROJECT / "requirements-test.lock").read_text()
    pinned = _pins(lock)
    for requirement in project["dependencies"] + project["optional-dependencies"]["test"]:
        name = _requirement_name(requirement)
        assert name in pinned, f"{name} is not pinned in requirements-test.lock: refresh it (its first lines)"
    blocks = [line for line in lock.splitlines() if "==" in line and not line.startswith((" ", "#"))]
    assert all(line.rstrip().endswith("\\") for line in blocks)  # each pin is followed by its hashes


def test_the_test_lock_keeps_every_pin_of_the_lock_that_hosts_get() -> None:
    runtime = _pins((PROJECT / "requirements.lock").read_text())
    test = _pins((PROJECT / "requirements-test.lock").read_text())
    differ = {name: (version, test.get(name)) for name, version in runtime.items() if test.get(name) != version}
    assert not differ, f"the tests would not run on what hosts get: {differ}"


def test_setup_checks_python_before_it_installs_anything() -> None:
    python_check = SETUP.index("sys.version_info < (3, 11)")
    assert python_check < SETUP.index("apt-get")
    assert python_check < SETUP.index("python3 -m venv")


def test_setup_installs_the_hash_pinned_lock_and_the_project_without_its_dependencies() -> None:
    commands = [line.strip() for line in SETUP.splitlines() if not line.lstrip().startswith("#")]
    assert '"${pip[@]}" --require-hashes -r requirements-test.lock' in commands
    assert '"${pip[@]}" --no-deps -e .' in commands
    assert not any(".[test]" in line for line in commands)
