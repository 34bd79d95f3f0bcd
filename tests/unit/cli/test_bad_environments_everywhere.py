"""Property-based (#17): mutate the shipped environment files (values and their types, YAML tags, unknown
keys, deletions, special files) and run every command that reads them. Whatever the mutation, each
command exits 0, 1 or 2, prints no traceback and no secret-looking value, and finishes (a SIGALRM guard
turns a hang into a failure; it bounds hangs, it measures no speed)."""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import SHIPPED

pytestmark = pytest.mark.render  # renders under the mock engine

SECRET = "pasted-secret-Xq9Lw2"
HANG_GUARD_SECONDS = 120
COMMANDS = [
    ("validate",),
    ("preview", "qanet", "--format", "json"),
    ("audit", "qanet"),
    ("parity", "devnet", "qanet"),
    ("guard", "qanet", "--issue", "acme/ops#1"),
    ("ledger", "qanet"),
    ("backup", "status", "qanet"),
]
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.just(SECRET),
    st.just("999999999999d"),
    st.just("*-02-30"),
    st.lists(st.text(max_size=5), max_size=3),
)
TAGS = ["!!int", "!!float", "!!bool", "!!timestamp", "!!binary", "!!python/object:os.system"]


@contextlib.contextmanager
def hang_guard(seconds: int) -> Iterator[None]:
    def expired(*_: object) -> None:
        raise TimeoutError(f"a command ran longer than {seconds}s: a hang")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


SECRET_LOOKING = re.compile(r"password|token|secret|private|access|key|url")


def _mutate(folder: Path, file_name: str, operation: str, choice: int, value: object, tag: str) -> bool:
    """Mutate one file; return whether the secret went where a secret belongs (a secret-looking field, or
    a value under a YAML tag): only there must it never be printed. A description that holds it is a
    description, and shown as one."""
    path = folder / file_name
    if operation == "special":
        path.unlink()
        [lambda: os.mkfifo(path), lambda: path.symlink_to("/dev/zero"), lambda: path.write_text("")][choice % 3]()
        return False
    if operation == "tag":
        key = random.Random(choice).choice(["password_env", "password", "healthcheck_url_env", "count", "rpo"])
        text = path.read_text().replace("\nbackup:\n", f"\nbackup:\n  {key}: {tag} {SECRET}\n", 1)
        path.write_text(
            text if text != path.read_text() else path.read_text() + f"\nbackup:\n  {key}: {tag} {SECRET}\n"
        )
        return True
    data = yaml.safe_load(path.read_text()) or {}
    paths = _paths(data)
    if not paths:
        return False
    target = paths[choice % len(paths)]
    parent = data
    for part in target[:-1]:
        parent = parent[part]
    last = target[-1]
    if operation == "delete":
        del parent[last]
    elif operation == "unknown" and isinstance(parent, dict):
        parent[f"{last}_typo"] = value
    else:
        parent[last] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return value == SECRET and operation != "delete" and bool(SECRET_LOOKING.search(str(last)))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    file_name=st.sampled_from(["qanet.yaml", "defaults.yaml", "parity.yaml", "devnet.yaml"]),
    operation=st.sampled_from(["set", "delete", "unknown", "tag", "special"]),
    choice=st.integers(min_value=0, max_value=10_000),
    value=values,
    tag=st.sampled_from(TAGS),
)
def test_every_command_answers_a_bad_environment_cleanly(
    tmp_path_factory, cli, file_name: str, operation: str, choice: int, value: object, tag: str
) -> None:
    folder = tmp_path_factory.mktemp("bad") / "environments"
    shutil.copytree(SHIPPED, folder)
    secret_placed = _mutate(folder, file_name, operation, choice, value, tag)
    for command in COMMANDS:
        with hang_guard(HANG_GUARD_SECONDS):
            result = cli("--environments", folder, *command)
        output = result.out + result.err
        assert result.code in (0, 1, 2), (command, output[-2000:])
        assert "Traceback" not in output, command
        if secret_placed:
            assert SECRET not in output, (command, output[-2000:])
