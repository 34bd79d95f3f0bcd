"""A declared stand-in for restic: it replays what the real binary printed, so that the backup actions' decision
flow (back up, check, forget, prune, and what each outcome lets happen next) runs in a unit test in milliseconds,
with no repository and no restic process. The real binary is what ``tests/integration/backup`` runs against
local repositories and S3 servers; this only replays what it printed there, recorded by
``python -m tests.unit.backup.record_restic`` (restic 0.14.0 against a local repository under /tmp).

It takes the runner's place for restic's commands only (``seawall.backup.client.run`` and ``stream``, and
``seawall.backup.restic.run`` for ``restic version``): the command tuples, the client's lock handling, the
classification of exit codes and standard error and the actions are Seawall's own. Answers are keyed by the
restic subcommand (``check``, ``forget``): the Nth call of a subcommand answers ``restic/<sub>.N.stdout``
(``.stderr``, ``.exit``: 0 when absent) of the case's folder where the recording has an Nth call, else
``restic/<sub>.stdout``; a subcommand with no recorded answer fails the test (the flow ran a command the
recording never saw). It keeps every command it was asked for, for the tests to assert.

The environment both the recording and the replay run in is ``write_environment``'s: one host, one set, a
local repository under the given folder.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

import pytest
import yaml

from seawall.runner import Command, Result

T = TypeVar("T")
HOST, SET = "lab-host", "files"


def subcommand(argv: tuple[str, ...]) -> str:
    """Given a restic command line, return its subcommand (the first word after the binary and ``--repo R``)."""
    words = iter(argv[1:])
    for word in words:
        if word == "--repo":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return ""


def answer_name(sub: str, call: int) -> str:
    """Given a subcommand and which call of it this is (1, 2, …), return the stem its answer is kept under."""
    return sub if call == 1 else f"{sub}.{call}"


class ResticReplay:
    """Recorded restic answers of one case (``<case>/restic/``), and the commands asked of them so far."""

    def __init__(self, case: Path) -> None:
        self.folder = case / "restic"
        self.asked: list[tuple[str, ...]] = []

    @property
    def subcommands(self) -> list[str]:
        """Return the subcommand of every command asked so far, in order (``restic version`` left out)."""
        return [sub for sub in map(subcommand, self.asked) if sub != "version"]

    def answer(self, command: Command) -> Result:
        """Given a restic command, return what restic printed for this call of its subcommand."""
        self.asked.append(command.argv)
        sub = subcommand(command.argv)
        call = sum(1 for argv in self.asked if subcommand(argv) == sub)
        stem = answer_name(sub, call)
        if not (self.folder / f"{stem}.stdout").exists():
            stem = sub
        if not (self.folder / f"{stem}.stdout").exists():
            pytest.fail(f"restic {sub} was asked for (call {call}) but {self.folder} recorded no answer to it")
        code = self._read(stem, "exit")
        return Result(command.argv, int(code or 0), self._read(stem, "stdout"), self._read(stem, "stderr"), 0.01)

    def _read(self, stem: str, suffix: str) -> str:
        path = self.folder / f"{stem}.{suffix}"
        return path.read_text() if path.exists() else ""

    def run(self, command: Command, on_line: Callable[[str], None] | None = None) -> Result:
        """Stand in for ``seawall.runner.run``: answer, feeding ``on_line`` every line as the runner would."""
        result = self.answer(command)
        for line in result.stdout.splitlines():
            if on_line is not None:
                on_line(line)
        return result

    def stream(self, command: Command, consume: Callable[[IO[bytes]], T]) -> tuple[Result, T | None]:
        """Stand in for ``seawall.runner.stream``: give ``consume`` the recorded output as bytes."""
        result = self.answer(command)
        return result, consume(io.BytesIO(result.stdout.encode()))


@contextmanager
def replaying(case: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ResticReplay]:
    """Given a case folder, answer every restic command from its recording for the block's length."""
    from seawall.backup import client, restic

    replay = ResticReplay(case)
    monkeypatch.setattr(restic, "_versions", {})  # the version is the recording's, asked once
    monkeypatch.setattr(restic, "run", replay.run)
    monkeypatch.setattr(client, "run", replay.run)
    monkeypatch.setattr(client, "stream", replay.stream)
    yield replay


def write_environment(root: Path, retention: dict[str, Any] | None = None) -> Path:
    """Given a folder (and the set's keep-rules), write the ``lab`` environment of the recordings and replays
    under it (one host backing up ``root/data`` to a local repository in ``root/repositories``) and return its
    environments folder."""
    environments = root / "environments"
    environments.mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    (root / "password").write_text("lab-recorded-password\n")
    document: dict[str, Any] = {
        "environment": {
            "name": "lab",
            "tier": "development",
            "provider": "local",
            "region": "ams3",
            "domain": "lab.test",
        },
        "network": {"vpc_cidr": "10.99.0.0/16", "admin_cidrs": ["192.0.2.0/24"]},
        "datacenter_hosts": {
            HOST: {"address": "127.0.0.1", "ssh_user": "root", "roles": ["lab"], "backup_sets": [SET]}
        },
        "backup": {
            "repository": {"kind": "local", "path": str(root / "repositories")},
            "password_file": str(root / "password"),
            "state_dir": str(root / "state"),
            "metrics_dir": str(root / "metrics"),
            "reports_dir": str(root / "reports" / "drills"),
            "lock_wait": "1s",
            "lock_attempts": 2,
            "command_timeout": "2m",
        },
        "backup_sets": {
            SET: {
                "paths": [str(root / "data")],
                "schedule": "hourly",
                "retention": retention or {"keep_last": 3},
                "rpo": "2h",
                "rto": "10m",
                "drill": {"schedule": "daily", "read_data_slices": 3, "min_files": 1},
            }
        },
        "alerting": {
            "channels": {"ops": {"email": "ops@example.net"}},
            "routes": {severity: {"channels": ["ops"]} for severity in ("Critical", "Major", "Minor")},
        },
    }
    (environments / "lab.yaml").write_text(yaml.safe_dump(document))
    return environments


def labels(case: Path) -> dict[str, str]:
    """Given a case folder, return the id restic gave each labelled snapshot of its recording."""
    path = case / "labels.json"
    return json.loads(path.read_text()) if path.exists() else {}


def read_case(case: Path) -> tuple[dict[str, Any], Any]:
    """Given a case folder, return its facts and its expected decision, each snapshot label written in them
    (``{s1.id}``, ``{s1.short}``) replaced by what the recording's ``labels.json`` says it is."""
    ids = {label: _Label(snapshot_id) for label, snapshot_id in labels(case).items()}
    facts = _fill(json.loads((case / "facts.json").read_text()), ids)
    return facts, _fill(json.loads((case / "expected.json").read_text()), ids)


class _Label:
    def __init__(self, snapshot_id: str) -> None:
        self.id, self.short = snapshot_id, snapshot_id[:8]


def _fill(value: Any, ids: dict[str, _Label]) -> Any:
    if isinstance(value, str):
        return value.format_map(ids) if "{" in value else value
    if isinstance(value, list):
        return [_fill(item, ids) for item in value]
    if isinstance(value, dict):
        return {_fill(key, ids): _fill(item, ids) for key, item in value.items()}
    return value
