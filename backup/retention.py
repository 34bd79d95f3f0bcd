"""Retention that never loses the snapshot that matters, whatever the keep-rules and the clocks say.

restic's keep-rules sort snapshots by their time, so one snapshot dated in the future (a host whose
clock ran ahead) wins ``keep_last`` over the snapshot just written. Seawall therefore asks restic for
its plan (``forget --dry-run``), takes out every protected snapshot, and forgets exactly the rest by id:

- each host's newest snapshot that is not in the future (beyond the tolerance);
- the snapshot the last passed drill of each host verified (kept in Seawall's state, not a restic tag);
- safety snapshots taken before an in-place restore, for ``safety_snapshot_keep``;
- where the environment has an off-site copy, every snapshot the copy has not received yet (the vault's
  record says what it holds; no record: every snapshot is kept back), so prune and copy never race to
  lose one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from seawall.backup.client import Restic, parse_time
from seawall.backup.restic import make_forget_ids_command, make_forget_plan_command
from seawall.model.schema import Retention

logger = logging.getLogger(__name__)
SAFETY_TAG = "seawall-safety"


@dataclass
class RetentionPlan:
    """What retention forgets and what it keeps back from restic's plan, with the reason for each."""

    forget: list[str] = field(default_factory=list)
    kept: int = 0
    protected: dict[str, str] = field(default_factory=dict)


def keep_arguments(retention: Retention) -> dict[str, str]:
    """Given a set's retention, return restic's keep-rules (``keep_daily`` → ``"7"``)."""
    return {
        key: (value if isinstance(value, str) else str(value))
        for key, value in retention.model_dump(mode="json").items()
        if value is not None
    }


def in_future(snapshot: Mapping[str, Any], now: dt.datetime, tolerance: dt.timedelta) -> bool:
    """Given a snapshot, return whether it is dated later than now plus the tolerance."""
    return parse_time(str(snapshot["time"])) > now + tolerance


def newest_present(
    snapshots: Iterable[Mapping[str, Any]], now: dt.datetime, tolerance: dt.timedelta
) -> Mapping[str, Any] | None:
    """Given snapshots, return the newest one that is not in the future, or None."""
    present = [s for s in snapshots if not in_future(s, now, tolerance)]
    return max(present, key=lambda s: parse_time(str(s["time"]))) if present else None


def protect(
    snapshots: list[Mapping[str, Any]],
    now: dt.datetime,
    tolerance: dt.timedelta,
    verified: Iterable[str],
    safety_keep: dt.timedelta,
    copied: set[str] | None = None,
) -> dict[str, str]:
    """Given every snapshot of a set (and, where there is an off-site copy, the ids it holds), return the ids
    retention must not forget, each with the reason."""
    reasons: dict[str, str] = {}
    verified = set(verified)
    for host in sorted({str(s.get("hostname", "")) for s in snapshots}):
        newest = newest_present([s for s in snapshots if s.get("hostname") == host], now, tolerance)
        if newest is not None:
            reasons[str(newest["id"])] = f"the newest snapshot of {host} not dated in the future"
    for snapshot in snapshots:
        snapshot_id = str(snapshot["id"])
        if snapshot_id in verified:
            reasons.setdefault(snapshot_id, "the snapshot the last passed drill verified")
        tags = snapshot.get("tags") or []
        if SAFETY_TAG in tags and parse_time(str(snapshot["time"])) > now - safety_keep:
            reasons.setdefault(snapshot_id, "a safety snapshot taken before an in-place restore")
        if copied is not None and snapshot_id not in copied:
            reasons.setdefault(snapshot_id, "not in the off-site copy yet")
    return reasons


def future_alarm(set_name: str, host: str, snapshot: dict[str, Any], ahead: dt.timedelta) -> str:
    """Given a snapshot dated in the future, return the alarm that says what it means and what to do."""
    return (
        f"snapshot {str(snapshot.get('id', ''))[:8]} of {set_name} on {host} is dated {snapshot.get('time')}, "
        f"{int(ahead.total_seconds())}s in the future: a clock ran ahead when it was taken; RPO is measured "
        "from the newest snapshot not in the future and retention keeps that one; fix the host's clock "
        "(timedatectl) and forget the misdated snapshot once a correct one exists"
    )


def plan_retention(
    restic: Restic,
    set_name: str,
    retention: Retention,
    verified: Iterable[str],
    now: dt.datetime,
    tolerance: dt.timedelta,
    safety_keep: dt.timedelta,
    copied: set[str] | None = None,
) -> RetentionPlan:
    """Given a set's repository and rules (and what its off-site copy holds, where there is one), return what
    retention would forget (read-only)."""
    output = restic.execute(make_forget_plan_command(restic.target, set_name, keep_arguments(retention))).stdout
    plan = plan_forgetting(parse_forget_plan(output), verified, now, tolerance, safety_keep, copied)
    for snapshot_id, reason in plan.protected.items():
        logger.warning("retention keeps %s of %s: %s", snapshot_id[:8], set_name, reason)
    return plan


def plan_forgetting(
    groups: list[dict[str, Any]],
    verified: Iterable[str],
    now: dt.datetime,
    tolerance: dt.timedelta,
    safety_keep: dt.timedelta,
    copied: set[str] | None = None,
) -> RetentionPlan:
    """Given restic's plan (``forget --dry-run --json`` groups, each with ``keep`` and ``remove``), the
    snapshots drills verified and (where there is an off-site copy) the ids it holds, return what retention
    forgets: restic's ``remove`` less every protected snapshot."""
    keep = [s for group in groups for s in group.get("keep") or []]
    remove = [s for group in groups for s in group.get("remove") or []]
    protected = protect(keep + remove, now, tolerance, verified, safety_keep, copied)
    plan = RetentionPlan(kept=len(keep))
    for snapshot in remove:
        snapshot_id = str(snapshot["id"])
        if snapshot_id in protected:
            plan.protected[snapshot_id] = protected[snapshot_id]
            plan.kept += 1
        else:
            plan.forget.append(snapshot_id)
    return plan


def apply_retention(restic: Restic, plan: RetentionPlan) -> None:
    """Given a plan, forget exactly its snapshots (nothing when there are none)."""
    if plan.forget:
        restic.execute_waiting_for_locks(lambda: make_forget_ids_command(restic.target, plan.forget))


def parse_forget_plan(text: str) -> list[dict[str, Any]]:
    """Given ``forget --dry-run --json`` output, return its groups (none when it printed no JSON list)."""
    for line in text.splitlines():
        if line.startswith("["):
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue
            return [item for item in data if isinstance(item, dict)]
    return []
