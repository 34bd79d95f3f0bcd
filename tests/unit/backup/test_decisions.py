"""Backup decisions over recorded facts, one case per folder of ``tests/fixtures/<area>/``: what real restic
printed (``restic/``, recorded by ``python -m tests.unit.backup.record_restic``), the case's facts and the
expected decision. ``drill``, ``retention`` and ``status`` feed restic's JSON to the pure decisions; ``prune`` runs the
actions' flow (a run, the check, retention, prune) with ``tests.unit.restic_replay`` standing in for restic.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from seawall.backup.actions.prune import prune_repositories
from seawall.backup.actions.run import run_backups
from seawall.backup.context import build_context
from seawall.backup.decisions import (
    choose_snapshot,
    judge_listing,
    judge_targets,
    measure_rpo,
    slice_to_check,
    slices_after,
)
from seawall.backup.restic import parse_snapshots
from seawall.backup.retention import parse_forget_plan, plan_forgetting
from seawall.errors import BackupError
from seawall.model import load_environment
from tests.conftest import PROJECT
from tests.unit.restic_replay import HOST, SET, labels, read_case, replaying, write_environment

FIXTURES = PROJECT / "tests" / "fixtures"


def cases(area: str) -> list[Any]:
    return [pytest.param(case, id=case.name) for case in sorted((FIXTURES / area).iterdir()) if case.is_dir()]


def test_every_area_has_cases_and_every_case_its_recording() -> None:
    for area in ("drill", "retention", "prune", "status"):
        assert len(cases(area)) >= 3, area
        for param in cases(area):
            case = param.values[0]
            assert (case / "restic" / "version.stdout").read_text().startswith("restic "), case
            assert (case / "expected.json").is_file(), case


@pytest.mark.parametrize("case", cases("drill"))
def test_a_drill_chooses_its_snapshot_and_measures_rpo_and_targets_from_the_listing(case: Path) -> None:
    facts, expected = read_case(case)
    snapshots = parse_snapshots((case / "restic" / "snapshots.stdout").read_text())
    host = facts.get("host", HOST)
    try:
        chosen = choose_snapshot(snapshots, facts["pick"], facts["seed"], SET, host, "lab")
    except BackupError as exc:
        assert str(exc) == expected["error"]
        return
    assert "error" not in expected, f"{case.name}: expected {expected['error']!r}, chose {chosen['id']}"
    now = dt.datetime.fromisoformat(facts["now"])
    rpo, alarms = measure_rpo(snapshots, now, dt.timedelta(seconds=facts["tolerance_seconds"]), SET, host)
    rto_target, rpo_target = facts["targets_seconds"]
    rto_entry, rpo_entry, failures = judge_targets(facts["rto_seconds"], rpo, (rto_target, rpo_target), SET, host)
    assert chosen["id"] == expected["snapshot"]
    assert (rto_entry, rpo_entry) == (expected["rto"], expected["rpo"])
    assert alarms + failures == expected["failures"]  # the drill's order: the alarms, then the targets


@pytest.mark.parametrize("case", cases("retention"))
def test_retention_forgets_restics_plan_less_the_protected_snapshots(case: Path) -> None:
    facts, expected = read_case(case)
    groups = parse_forget_plan((case / "restic" / "forget.stdout").read_text())
    plan = plan_forgetting(
        groups,
        facts["verified"],
        dt.datetime.fromisoformat(facts["now"]),
        dt.timedelta(seconds=facts["tolerance_seconds"]),
        dt.timedelta(seconds=facts["safety_keep_seconds"]),
        None if facts["copied"] is None else set(facts["copied"]),
    )
    assert sorted(plan.forget) == sorted(expected["forget"])
    assert plan.protected == expected["protected"]
    assert plan.kept == expected["kept"]


@pytest.mark.parametrize("case", cases("prune"))
def test_prune_runs_only_after_a_passing_check(case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    facts, expected = read_case(case)
    context = build_context(load_environment(write_environment(tmp_path, facts.get("keep")), "lab"), tmp_path)
    for label in facts.get("verified", []):
        context.store.update({"verified": {"snapshot": labels(case)[label]}}, SET, HOST)
    with replaying(case, monkeypatch) as restic:
        runs = [outcome.result for outcome in run_backups(context)] if facts.get("run") else None
        before = len(restic.subcommands)
        [outcome] = prune_repositories(context, dry_run=facts.get("dry_run", False), scheduled=True)
    assert runs == expected.get("run")
    # A run lists its snapshots beside its backup: their order is the threads'.
    assert sorted(restic.subcommands[:before]) == sorted(expected.get("run_restic", []))
    assert restic.subcommands[before:] == expected["restic"]
    assert outcome.result == expected["result"]
    assert expected.get("error_contains", "") in outcome.error
    assert (outcome.forgotten, outcome.protected) == (expected["forgotten"], expected["protected"])


@pytest.mark.parametrize("case", cases("status"))
def test_a_deep_status_judges_each_host_from_the_repositorys_listing(case: Path) -> None:
    facts, expected = read_case(case)
    listed = parse_snapshots((case / "restic" / "snapshots.stdout").read_text())
    own = [snapshot for snapshot in listed if snapshot["hostname"] == facts["host"]]
    now, tolerance = dt.datetime.fromisoformat(facts["now"]), dt.timedelta(seconds=facts["tolerance_seconds"])
    verdict = judge_listing(own, facts["recorded"], now, tolerance, facts["rpo_seconds"])
    assert dataclasses.asdict(verdict) == expected


@pytest.mark.parametrize(
    ("state", "slices", "ok", "checked", "following"),
    [
        ({}, 3, True, (1, [1], 1 / 3), {"slices": 3, "next": 2, "slices_read": [1]}),
        (
            {"slices": 3, "next": 3, "slices_read": [1, 2]},
            3,
            True,
            (3, [1, 2, 3], 1.0),
            {"slices": 3, "next": 1, "slices_read": []},
        ),
        (
            {"slices": 3, "next": 2, "slices_read": [1]},
            3,
            False,
            (2, [1], 1 / 3),
            {"slices": 3, "next": 3, "slices_read": [1]},
        ),
        (
            {"slices": 4, "next": 3, "slices_read": [1, 2]},
            3,
            True,
            (1, [1], 1 / 3),
            {"slices": 3, "next": 2, "slices_read": [1]},
        ),
        (
            {"slices": 3, "next": 1, "slices_read": [2, 7]},
            3,
            True,
            (1, [1, 2], 2 / 3),
            {"slices": 3, "next": 2, "slices_read": [1, 2]},
        ),
    ],
    ids=["first-drill", "cycle-complete", "failed-slice-is-read-again", "slice-count-changed", "unknown-slice-dropped"],
)
def test_a_drill_reads_the_next_check_slice_and_a_full_cycle_starts_again(
    state: dict[str, Any], slices: int, ok: bool, checked: tuple[int, list[int], float], following: dict[str, Any]
) -> None:
    k, read = slice_to_check(state, slices)
    now_read, coverage, after = slices_after(k, read, ok, slices)
    assert (k, now_read, coverage) == checked
    assert after == following
