"""The rehearsal's decisions over recorded facts: which snapshot of a set it restores, from the rows
``seawall snapshots --format json`` makes of what real restic printed (``tests/fixtures/dr/<case>/restic/``,
recorded by ``python -m tests.unit.backup.record_restic dr/CASE``) and the drills' verified marks in the state;
which hosts it rebuilds; and the temporary stack's model (the DR region, the sizes allowed, never the
production names or a public port)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from seawall.backup.actions.repository import list_snapshots
from seawall.backup.context import build_context
from seawall.dr.plan import (
    check_pick,
    choose_snapshots,
    hosts_to_rebuild,
    rehearsal_environment,
    runbook,
    stack_name,
)
from seawall.errors import UsageError
from seawall.model import load_environment
from tests.conftest import PROJECT
from tests.unit.restic_replay import HOST, SET, labels, read_case, replaying, write_environment

FIXTURES = PROJECT / "tests" / "fixtures" / "dr"
CASES = [pytest.param(case, id=case.name) for case in sorted(FIXTURES.iterdir()) if case.is_dir()]


def _rows(case: Path, facts: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """The rows `seawall snapshots --format json` prints for the recorded listing and the case's verified marks."""
    context = build_context(load_environment(write_environment(tmp_path), "lab"), tmp_path)
    for label in facts.get("verified", []):
        verified = {"snapshot": labels(case)[label], "drill": facts["now"]}
        context.store.update({"verified": verified}, SET, HOST)
    with replaying(case, monkeypatch):
        return [dataclasses.asdict(row) for row in list_snapshots(context)]


@pytest.mark.parametrize("case", CASES)
def test_a_rehearsal_chooses_its_snapshots_from_the_listing_and_the_drills_marks(
    case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    facts, expected = read_case(case)
    rows = _rows(case, facts, tmp_path, monkeypatch)
    choice = choose_snapshots(rows, facts["pick"], SET, HOST, "lab", dt.datetime.fromisoformat(facts["now"]))
    assert choice.error == expected.get("error")
    assert [row["short_id"] for row in choice.tries] == expected.get("tries", [])
    assert choice.note == expected.get("note", "")


def test_every_case_has_its_recording() -> None:
    assert len(CASES) >= 5
    for param in CASES:
        assert (param.values[0] / "restic" / "snapshots.stdout").is_file()


def test_the_default_hosts_are_those_holding_data_and_an_unknown_one_is_named() -> None:
    env = load_environment(PROJECT / "environments", "mainnet")
    hosts = hosts_to_rebuild(env)
    assert "db-1" in hosts
    assert "dc-build-1" in hosts
    assert "dc-vault-1" not in hosts  # it backs up nothing itself
    with pytest.raises(UsageError, match="nope is not a host of mainnet that holds data"):
        hosts_to_rebuild(env, ["nope"])


def test_the_snapshot_pick_is_one_of_the_words_or_a_time_with_its_zone() -> None:
    assert check_pick("verified") == "verified"
    assert check_pick("2026-12-01T00:00:00Z") == "2026-12-01T00:00:00Z"
    for bad in ("newest", "2026-12-01T00:00:00", "yesterday"):
        with pytest.raises(UsageError, match="--snapshot"):
            check_pick(bad)


def test_the_temporary_stack_is_in_the_dr_region_at_allowed_sizes_with_no_production_name_or_public_port() -> None:
    env = load_environment(PROJECT / "environments", "mainnet")
    env = env.model_copy(update={"dr": env.dr.model_copy(update={"sizes": {"db": "s-2vcpu-4gb"}})})
    day = dt.date(2026, 12, 7)
    rehearsed = rehearsal_environment(env, ["db-1", "api-1"], day)
    assert stack_name(env, day) == "mainnet-dr-20261207"
    assert rehearsed.environment.region == env.dr.region != env.environment.region
    assert set(rehearsed.services) == {"db", "api"}
    assert rehearsed.services["db"].size == "s-2vcpu-4gb"
    assert rehearsed.services["api"].size == env.services["api"].size
    assert rehearsed.datacenter_hosts == {}
    production = {name for service in env.services for name in env.dns_names(service, f"{service}-1")}
    names = {name for service in rehearsed.services for name in rehearsed.dns_names(service, f"{service}-1")}
    assert names
    assert not names & production
    assert all(port.source != "public" for s in rehearsed.services.values() for port in s.ports)
    assert any(port.source == "public" for port in env.services["api"].ports)  # there was one to close


def test_a_data_center_host_or_a_missing_dr_region_cannot_make_a_temporary_stack() -> None:
    env = load_environment(PROJECT / "environments", "mainnet")
    with pytest.raises(UsageError, match="dc-build-1 is a data-center host"):
        rehearsal_environment(env, ["dc-build-1"], dt.date(2026, 12, 7))
    bare = env.model_copy(update={"dr": env.dr.model_copy(update={"region": None})})
    with pytest.raises(UsageError, match=r"has no DR region: set dr\.region"):
        rehearsal_environment(bare, ["db-1"], dt.date(2026, 12, 7))


def test_each_failure_kind_points_to_its_runbook() -> None:
    env = load_environment(PROJECT / "environments", "mainnet")
    assert runbook(env, "host-step").endswith("/rebuild-host.md")
    assert runbook(env, "snapshot").endswith("/restore-backup-set.md")
    for name in ("rebuild-host", "restore-backup-set"):
        assert (PROJECT / "docs/ops/runbooks" / f"{name}.md").is_file()
