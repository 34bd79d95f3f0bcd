"""Record what real restic prints for every case of ``tests/fixtures/{drill,retention,prune,status}/``:
``python -m tests.unit.backup.record_restic [AREA/CASE …]`` (restic on PATH; a local repository under /tmp).

A case's ``facts.json`` says its scenario: ``snapshots`` (label, time, host, tags) are backed up in that order
into a fresh repository of ``tests.unit.restic_replay.write_environment``'s environment, each with
``--time``. Then, as Seawall runs it, the area's commands are recorded into the case's ``restic/`` folder
(``<sub>[.N].stdout``, ``.stderr``, ``.exit``, the Nth call of a subcommand):

- ``drill``: the host's snapshot listing (``snapshots --json`` of the set and host);
- ``status``: the set's listing of every host (``snapshots --json`` of the set), as a deep status reads it;
- ``retention``: restic's plan for the case's keep-rules (``forget --dry-run --json``);
- ``prune``: with the ``verified`` snapshots written into the host's state, a ``seawall backup run`` when
  ``run`` is set, one data pack deleted when ``damage`` is set, then ``seawall backup prune`` (``dry_run``):
  every restic command the actions ran.

``labels.json`` maps each label to the id restic gave the snapshot (``run``: the snapshot the recorded run
made), so ``expected.json`` names snapshots by label and outlives a new recording. Nothing else of the case
is written: the facts and the expected decision are the case's author's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from seawall.backup import client, restic
from seawall.backup.actions.prune import prune_repositories
from seawall.backup.actions.run import run_backups
from seawall.backup.backends import set_backend
from seawall.backup.client import parse_time
from seawall.backup.context import BackupContext, build_context
from seawall.backup.restic import (
    make_backup_command,
    make_forget_plan_command,
    make_init_command,
    make_snapshots_command,
    parse_snapshots,
)
from seawall.backup.retention import keep_arguments
from seawall.model import load_environment
from seawall.model.schema import Retention
from seawall.runner import Command, Result, run, stream
from tests.conftest import PROJECT
from tests.unit.restic_replay import HOST, SET, answer_name, subcommand, write_environment

FIXTURES = PROJECT / "tests" / "fixtures"
AREAS = ("drill", "retention", "prune", "status")
SCRATCH = Path("/tmp/seawall-restic-record")  # a fixed place: restic prints its paths, a new recording keeps them


def main(wanted: list[str]) -> int:
    """Record every case (or those named ``AREA/CASE``) and say which."""
    os.environ["TZ"] = "UTC"  # restic reads --time in local time
    cases = [case for area in AREAS for case in sorted((FIXTURES / area).iterdir()) if case.is_dir()]
    for case in cases:
        if not wanted or f"{case.parent.name}/{case.name}" in wanted:
            record(case)
            print(f"recorded {case.relative_to(PROJECT)}")
    return 0


def record(case: Path) -> None:
    """Given a case folder, build its scenario and record restic's answers and the snapshots' labels."""
    facts = json.loads((case / "facts.json").read_text())
    root = SCRATCH / f"{case.parent.name}-{case.name}"
    shutil.rmtree(root, ignore_errors=True)
    environment = write_environment(root, facts.get("keep"))
    context = build_context(load_environment(environment, "lab"), root)
    target = context.target(SET)
    _run(make_init_command(target))
    for snapshot in facts.get("snapshots", []):
        (root / "data" / "file.txt").write_text(f"{snapshot['label']}\n")
        command = make_backup_command(
            target, [str(root / "data")], snapshot.get("host", HOST), SET, tags=snapshot.get("tags", ())
        )
        _run(dataclasses.replace(command, argv=(*command.argv, "--time", snapshot["time"])))
    answers, labels = root / "answers", _labels(context, facts)
    with _recording(answers):
        RECORDERS[case.parent.name](context, facts, labels, root)
    shutil.rmtree(case / "restic", ignore_errors=True)
    shutil.copytree(answers, case / "restic")
    # Those the case forgot keep their labels; a snapshot made while recording gets its own.
    labels = {**labels, **_labels(context, facts)}
    (case / "labels.json").write_text(json.dumps(labels, indent=2) + "\n")


def _record_drill(context: BackupContext, facts: dict[str, Any], labels: dict[str, str], root: Path) -> None:
    context.restic(SET).execute(make_snapshots_command(context.target(SET), SET, facts.get("host", HOST)))


def _record_status(context: BackupContext, facts: dict[str, Any], labels: dict[str, str], root: Path) -> None:
    context.restic(SET).execute(make_snapshots_command(context.target(SET), SET))


def _record_retention(context: BackupContext, facts: dict[str, Any], labels: dict[str, str], root: Path) -> None:
    keep = keep_arguments(Retention.model_validate(facts["keep"]))
    context.restic(SET).execute(make_forget_plan_command(context.target(SET), SET, keep))


def _record_prune(context: BackupContext, facts: dict[str, Any], labels: dict[str, str], root: Path) -> None:
    for label in facts.get("verified", []):
        context.store.update({"verified": {"snapshot": labels[label]}}, SET, HOST)
    if facts.get("run"):
        run_backups(context)
    if facts.get("damage"):
        location = Path(set_backend(context.env, SET, root).location())
        next(path for path in sorted((location / "data").rglob("*")) if path.is_file()).unlink()
    prune_repositories(context, dry_run=facts.get("dry_run", False), scheduled=True)


RECORDERS: dict[str, Callable[[BackupContext, dict[str, Any], dict[str, str], Path], None]] = {
    "drill": _record_drill,
    "retention": _record_retention,
    "prune": _record_prune,
    "status": _record_status,
}


def _run(command: Command) -> Result:
    result = run(command)
    if not result.ok:
        raise SystemExit(f"{' '.join(command.argv[3:])} failed: {result.stderr}")
    return result


def _labels(context: BackupContext, facts: dict[str, Any]) -> dict[str, str]:
    """Each label of the facts' snapshots with its id (found by time and host); ``run`` for one made otherwise."""
    listed = parse_snapshots(_run(make_snapshots_command(context.target(SET), SET)).stdout)
    labels: dict[str, str] = {}
    for snapshot in listed:
        when = parse_time(str(snapshot["time"]))
        found = [
            s["label"]
            for s in facts.get("snapshots", [])
            if dt.datetime.fromisoformat(s["time"]).replace(tzinfo=dt.UTC) == when
            and s.get("host", HOST) == snapshot["hostname"]
        ]
        labels[found[0] if found else "run"] = str(snapshot["id"])
    return labels


@contextmanager
def _recording(folder: Path) -> Iterator[None]:
    """For the block's length, run restic for real and keep every answer in ``folder``."""
    folder.mkdir(parents=True)
    calls: dict[str, int] = {}

    def keep(result: Result) -> Result:
        sub = subcommand(result.argv)
        calls[sub] = calls.get(sub, 0) + 1
        stem = folder / answer_name(sub, calls[sub])
        stem.with_name(f"{stem.name}.stdout").write_text(result.stdout)
        if result.stderr:
            stem.with_name(f"{stem.name}.stderr").write_text(result.stderr)
        if result.returncode:
            stem.with_name(f"{stem.name}.exit").write_text(f"{result.returncode}\n")
        return result

    def recorded_run(command: Command, on_line: Callable[[str], None] | None = None) -> Result:
        return keep(run(command, on_line))

    def recorded_stream(command: Command, consume: Callable[..., Any]) -> tuple[Result, Any]:
        result, value = stream(command, consume)
        return keep(result), value

    saved = restic.run, client.run, client.stream, dict(restic._versions)
    restic._versions.clear()
    restic.run, client.run, client.stream = recorded_run, recorded_run, recorded_stream  # type: ignore[assignment]
    try:
        yield
    finally:
        restic.run, client.run, client.stream = saved[:3]  # type: ignore[assignment]
        restic._versions.update(saved[3])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
