"""The off-site copy's decisions that need no restic: what retention keeps back for the copy, how long the
copy's bucket keeps and locks, and how late the copy is."""

from __future__ import annotations

import datetime as dt

import pytest

from seawall.backup.actions.copy import copy_age
from seawall.backup.retention import protect
from seawall.backup.storage import longest_keep_days
from seawall.model.schema import Retention

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


def _snapshot(snapshot_id: str, hours_ago: float, host: str = "db-1") -> dict[str, object]:
    return {"id": snapshot_id, "time": (NOW - dt.timedelta(hours=hours_ago)).isoformat(), "hostname": host}


def test_retention_keeps_back_every_snapshot_the_copy_lacks_and_only_those() -> None:
    snapshots = [_snapshot("a" * 64, 30), _snapshot("b" * 64, 20), _snapshot("c" * 64, 1)]
    kept = protect(snapshots, NOW, dt.timedelta(minutes=5), [], dt.timedelta(days=30), copied={"a" * 64})
    assert kept["b" * 64] == "not in the off-site copy yet"
    assert "a" * 64 not in kept  # the copy has it: the keep-rules may let it go
    assert kept["c" * 64] == "the newest snapshot of db-1 not dated in the future"  # the first reason stays
    without_copy = protect(snapshots, NOW, dt.timedelta(minutes=5), [], dt.timedelta(days=30))
    assert set(without_copy) == {"c" * 64}
    nothing_known = protect(snapshots, NOW, dt.timedelta(minutes=5), [], dt.timedelta(days=30), copied=set())
    assert set(nothing_known) == {s["id"] for s in snapshots}  # no record of the copy: keep everything


@pytest.mark.parametrize(
    ("rules", "schedules", "days"),
    [
        ({"keep_daily": 30, "keep_weekly": 12, "keep_monthly": 24}, ["daily"], 24 * 31),
        ({"keep_last": 10}, ["hourly"], 1),
        ({"keep_last": 10}, ["hourly", "daily"], 10),  # the slowest set decides
        ({"keep_hourly": 48}, ["daily"], 48),  # 48 hours that hold a snapshot: 48 days of daily ones
        ({"keep_weekly": 8}, ["daily"], 56),
        ({"keep_hourly": 49}, ["hourly"], 3),
        ({"keep_within": "400d"}, ["daily"], 400),
        ({"keep_yearly": 2}, ["daily"], 732),
    ],
)
def test_the_copys_bucket_keeps_and_locks_for_its_longest_keep_rule(rules: dict, schedules: list, days: int) -> None:
    assert longest_keep_days(Retention.model_validate(rules), schedules) == days


def test_the_copy_is_as_late_as_its_most_behind_host_and_unknown_while_a_host_is_missing() -> None:
    newest = {"db-1": (NOW - dt.timedelta(hours=3)).isoformat(), "db-2": (NOW - dt.timedelta(hours=1)).isoformat()}
    assert copy_age(newest, ["db-1", "db-2"], NOW) == pytest.approx(3 * 3600)
    assert copy_age(newest, ["db-1", "db-2", "db-3"], NOW) is None
    assert copy_age({}, [], NOW) is None
