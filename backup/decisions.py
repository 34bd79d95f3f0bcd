"""Backup decisions as pure functions over recorded facts: no restic, no clock, no file.

Each takes what restic printed (snapshot lists as ``snapshots --json`` gives them), what a check came to and
what the state records, and returns the decision: which snapshot a drill restores, its RPO, the targets met
or missed, the check slice it reads, whether prune may go on after its check, what a run's listing of its
host's snapshots raises, and the row a deep status shows. The actions call them with what they just read;
``tests/fixtures/<area>/<case>/`` holds recorded cases (retention's plan is ``backup.retention``'s, as pure).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from seawall.backup.client import parse_time
from seawall.backup.retention import future_alarm, in_future, newest_present
from seawall.errors import BackupError
from seawall.model.types import format_duration

Snapshot = dict[str, Any]  # one snapshot as restic's ``snapshots --json`` prints it


def choose_snapshot(
    snapshots: Sequence[Snapshot], wanted: str, seed: int, set_name: str, host: str, environment: str
) -> Snapshot:
    """Given a host's snapshots of a set (oldest first) and the drill's pick (``latest``, ``random`` with its
    seed, or an id or its prefix), return the snapshot to restore, or raise BackupError saying why none is."""
    if not snapshots:
        run = f"seawall backup run {environment} --set {set_name} --host {host}"
        msg = f"{host} has no snapshot of {set_name} to drill: run `{run}` first"
        raise BackupError(msg)
    if wanted == "latest":
        return snapshots[-1]
    if wanted == "random":
        older = snapshots[:-1] or snapshots
        return random.Random(seed).choice(older)
    matching = [s for s in snapshots if str(s.get("id", "")).startswith(wanted)]
    if len(matching) != 1:
        msg = f"snapshot {wanted!r} {'is ambiguous' if matching else 'is not one'} of {set_name} on {host}"
        raise BackupError(msg)
    return matching[0]


def future_alarms(
    snapshots: Sequence[Snapshot], now: dt.datetime, tolerance: dt.timedelta, set_name: str, host: str
) -> list[str]:
    """Given a host's snapshots, return an alarm for each one dated in the future beyond the tolerance."""
    return [
        future_alarm(set_name, host, snapshot, parse_time(str(snapshot["time"])) - now)
        for snapshot in snapshots
        if in_future(snapshot, now, tolerance)
    ]


def measure_rpo(
    snapshots: Sequence[Snapshot], now: dt.datetime, tolerance: dt.timedelta, set_name: str, host: str
) -> tuple[float | None, list[str]]:
    """Given a host's snapshots, return the age in seconds of the newest one not dated in the future (None
    when there is none) and the alarms of those dated in the future (each a failure of the drill)."""
    newest = newest_present(snapshots, now, tolerance)
    age = None if newest is None else max(0.0, (now - parse_time(str(newest["time"]))).total_seconds())
    return age, future_alarms(snapshots, now, tolerance, set_name, host)


def judge_targets(
    rto: float, rpo: float | None, targets: tuple[float, float], set_name: str, host: str
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Given a drill's RTO and RPO in seconds (RPO None: unmeasured) and the set's (RTO, RPO) targets, return
    the report's ``rto`` and ``rpo`` entries and the failures: a target missed, or an RPO not measured."""
    rto_target, rpo_target = targets
    rto_entry = {"seconds": round(rto, 3), "target_seconds": rto_target, "ok": rto <= rto_target}
    rpo_entry = {
        "seconds": None if rpo is None else round(rpo, 3),
        "target_seconds": rpo_target,
        "ok": rpo is not None and rpo <= rpo_target,
    }
    failures = []
    if rpo is None:
        failures.append(f"RPO cannot be measured: every snapshot of {set_name} on {host} is in the future")
    if not rto_entry["ok"]:
        failures.append(f"RTO missed: restore and verification took {rto:.1f}s, the target is {rto_target:.0f}s")
    if rpo is not None and not rpo_entry["ok"]:
        failures.append(f"RPO missed: the newest snapshot is {rpo:.0f}s old, the target is {rpo_target:.0f}s")
    return rto_entry, rpo_entry, failures


def slice_to_check(state: Mapping[str, Any], slices: int) -> tuple[int, list[int]]:
    """Given the drills' recorded check slices of a set (trusted; ``{}`` to start again) and how many slices it
    has now, return the slice to read next and those read in this cycle (a changed count starts over)."""
    if state.get("slices") != slices:
        return 1, []
    return int(state.get("next", 1)), [k for k in state.get("slices_read", []) if 1 <= k <= slices]


def slices_after(k: int, read: Sequence[int], ok: bool, slices: int) -> tuple[list[int], float, dict[str, Any]]:
    """Given the slice just checked, those read before it in this cycle and whether the check passed, return
    the slices read, the share of packs they cover and the state the next drill starts from (a full cycle
    starts a new one; a failed slice is not read, so the cycle reads it again)."""
    read = sorted({*read, k}) if ok else list(read)
    coverage = len(read) / slices
    return read, coverage, {"slices": slices, "next": k % slices + 1, "slices_read": [] if coverage >= 1 else read}


def drill_state_changes(report: Mapping[str, Any], path: str) -> dict[str, Any]:
    """Given a drill's JSON report (schema ``seawall.drill/1``) and where it is kept, return the changes to
    the host's state: the last drill, and for a passed drill the snapshot it verified, which retention then
    protects (the mark is Seawall's state, never a restic tag: a tag would change the snapshot's id)."""
    snapshot, finished = report["snapshot"], report["finished"]
    changes: dict[str, Any] = {
        "last_drill": {
            "time": finished,
            "result": report["result"],
            "snapshot": snapshot.get("short_id"),
            "report": path,
            "rto_seconds": report["rto"].get("seconds"),
            "rpo_seconds": report["rpo"].get("seconds"),
        }
    }
    if report["result"] == "passed" and snapshot:
        changes["verified"] = {
            "snapshot": snapshot["id"],
            "short_id": snapshot.get("short_id"),
            "drill": finished,
            "report": path,
        }
    return changes


CHECK_FAILED = "check-failed"


def after_check(check_error: str | None) -> tuple[str, str] | None:
    """Given what the check before retention came to (its error; None: it passed), return the prune outcome
    it decides, ``check-failed`` and why, or None when retention and prune may go on: prune runs only after a
    passing check, and a failed check forgets and deletes nothing."""
    if check_error is None:
        return None
    return CHECK_FAILED, f"{check_error}; nothing was forgotten or pruned"


def count_after_run(snapshots: Sequence[Snapshot], new_snapshot: str | None) -> int:
    """Given a host's snapshots listed beside its backup and the new snapshot's short id, return how many it
    has now (the listing may or may not hold the new one)."""
    return len(snapshots) + (0 if any(s.get("short_id") == new_snapshot for s in snapshots) else 1)


# The statuses a deep status decides from a listing (``backup.actions.status`` adds those a listing cannot).
OK, RPO_MISSED, NO_SNAPSHOT, CLOCK_SKEW, DISAGREES = "ok", "rpo-missed", "no-snapshot", "clock-skew", "disagrees"


@dataclass(frozen=True)
class ListingVerdict:
    """What one repository listing says of one host's set: the status, why, and its newest snapshot."""

    status: str
    detail: str
    snapshots: int
    newest: str | None
    age_seconds: float | None


def judge_listing(
    own: Sequence[Snapshot], recorded_id: str | None, now: dt.datetime, tolerance: dt.timedelta, rpo: float
) -> ListingVerdict:
    """Given a host's snapshots of a set as the repository lists them, the id its last run recorded and the
    set's RPO in seconds, return the deep status's verdict (``DISAGREES`` with no detail: the caller names the
    command that checks the repository)."""
    newest = newest_present(own, now, tolerance)
    future = [snapshot for snapshot in own if in_future(snapshot, now, tolerance)]
    short = None if newest is None else str(newest.get("short_id"))
    age = None if newest is None else (now - parse_time(str(newest["time"]))).total_seconds()
    status, detail = OK, ""
    if future:
        status = CLOCK_SKEW
        detail = (
            f"{len(future)} snapshot(s) dated in the future (newest {future[-1].get('time')}): a clock ran ahead; "
            "the age is measured from the newest snapshot not in the future"
        )
    elif newest is None:
        status, detail = NO_SNAPSHOT, "no snapshot at all: this host's data is not backed up"
    elif age is not None and age > rpo:
        status = RPO_MISSED
        detail = f"newest snapshot is {format_duration(dt.timedelta(seconds=int(age)))} old"
    elif recorded_id and not str(newest.get("id", "")).startswith(recorded_id):
        status = DISAGREES
    return ListingVerdict(status, detail, len(own), short, age)
