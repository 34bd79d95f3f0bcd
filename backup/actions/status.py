"""``seawall backup status``: the fleet view from the inventory.

Every host and set that should have snapshots gets a row: the age of its newest snapshot against the
set's RPO, its size, its last run and drill. By default the rows come from what every host recorded
(local state, and the bucket's copy written by the other hosts: one object listing per environment),
so the table costs no restic process and no key derivation at any fleet size. A host with no recorded
backup is an alarm, and so is a run that saw a snapshot dated in the future.

``--deep`` confirms against the repositories: each is listed once for all its hosts (``--no-lock``, so
status never waits for or disturbs a running backup), ``--jobs`` at a time, the age is measured from
the newest snapshot not dated in the future, and a repository that disagrees with what was recorded
(its newest snapshot is not the one the host's last run wrote) is an alarm.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from seawall.backup.context import BackupContext
from seawall.backup.decisions import CLOCK_SKEW, DISAGREES, NO_SNAPSHOT, OK, RPO_MISSED, judge_listing
from seawall.backup.metrics import render_series, write_metrics
from seawall.backup.restic import ResticError, make_snapshots_command, parse_snapshots
from seawall.backup.state import RUN_SUCCEEDED
from seawall.model.types import format_duration

logger = logging.getLogger(__name__)
UNREACHABLE = "unreachable"
RUN_FAILED = "run-failed"
UNTRUSTED = "untrusted-state"


@dataclass
class StatusRow:
    """One host's view of one set."""

    host: str
    set_name: str
    status: str
    snapshots: int = 0
    newest: str | None = None
    age_seconds: float | None = None
    rpo_seconds: float = 0.0
    size_bytes: int | None = None
    files: int | None = None
    last_run: str | None = None
    last_drill: str | None = None
    detail: str = ""
    # When the repository last confirmed this row (a deep status, here or the status host's); None: never
    confirmed: str | None = None

    @property
    def alarm(self) -> bool:
        """Return whether this row needs attention."""
        return self.status != OK

    def as_json(self) -> dict[str, Any]:
        """Return the row as JSON-able data."""
        return asdict(self)


def fleet_status(
    context: BackupContext, now: dt.datetime | None = None, jobs: int = 4, deep: bool = False
) -> list[StatusRow]:
    """Given a backup context, return one row per chosen host and set: from the recorded state, or with
    ``deep`` from one listing of each repository (checked against the recorded state)."""
    now = now or dt.datetime.now(dt.UTC)
    states = context.store.read_hosts(context.pairs)
    if not deep:
        rows = [_recorded_row(context, name, host, states[(name, host)], now) for name, host in context.pairs]
    else:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            listed = pool.map(lambda name: _listing(context, name), context.sets)
            listings = dict(zip(context.sets, listed, strict=True))
        rows = []
        for set_name, host in context.pairs:
            snapshots, error = listings[set_name]
            rows.append(_row(context, set_name, host, snapshots, error, states[(set_name, host)], now))
    if deep:
        _record_confirmed(context, rows, now)
    for row in rows:
        row.confirmed = context.store.confirmed.get((row.set_name, row.host), {}).get("time")
        why = context.store.untrusted.get((row.set_name, row.host))
        if why is not None and (row.status == OK or not deep):
            # What a key holder wrote cannot be told from what the host did: an alarm, never an OK.
            row.status, row.detail = UNTRUSTED, f"the recorded state is not trusted: {why}"
    return rows


STATUS_HELP = {
    "alarm": "1 when the status found an alarm for this set and host (label status says which), else 0",
    "deep": "1 when the rows were confirmed against the repositories (--deep), 0 when from the record",
    "last_run_timestamp_seconds": "When this status last ran",
}


def write_status_metrics(context: BackupContext, rows: list[StatusRow], deep: bool) -> None:
    """Given the rows, write them for node_exporter's textfile collector (``seawall_status_<env>.prom``):
    one alarm series per set and host, and when the status ran (the alert on a disagreement reads these)."""
    env = context.env.name
    series: list[tuple[dict[str, str], dict[str, float | None]]] = [
        ({"environment": env}, {"last_run_timestamp_seconds": time.time(), "deep": int(deep)})
    ]
    # ``backup_host``, not ``host``: Prometheus sets ``host`` to the scraped machine (the status host) and
    # drops a ``host`` written here (as ``exported_host``, see the node job in ``seawall.monitoring.prometheus``).
    series += [
        ({"environment": env, "set": r.set_name, "backup_host": r.host, "status": r.status}, {"alarm": int(r.alarm)})
        for r in rows
    ]
    write_metrics(context.metrics_dir, f"seawall_status_{env}", render_series("seawall_status", series, STATUS_HELP))


def _base_row(context: BackupContext, set_name: str, host: str, state: dict[str, Any]) -> StatusRow:
    """A row with what every view shows: the RPO, last run and drill, the recorded size."""
    recorded = state.get("last_snapshot", {})
    return StatusRow(
        host,
        set_name,
        OK,
        rpo_seconds=context.backup_set(set_name).rpo.total_seconds(),
        last_run=state.get("last_run", {}).get("result"),
        last_drill=state.get("last_drill", {}).get("result"),
        size_bytes=recorded.get("bytes"),
        files=recorded.get("files"),
    )


def _recorded_row(
    context: BackupContext, set_name: str, host: str, state: dict[str, Any], now: dt.datetime
) -> StatusRow:
    """One row from what the host recorded: its last snapshot, run and drill."""
    row = _base_row(context, set_name, host, state)
    recorded, last_run, rpo = state.get("last_snapshot", {}), state.get("last_run", {}), row.rpo_seconds
    row.newest, row.snapshots = recorded.get("id"), int(bool(recorded))
    if not recorded.get("time"):
        row.status = NO_SNAPSHOT
        run = f"seawall backup run {context.env.name} --set {set_name} --host {host}"
        deep = f"seawall backup status {context.env.name} --set {set_name} --host {host} --deep"
        row.detail = f"no backup recorded for this host: run `{run}` (or `{deep}` to ask restic)"
        return row
    row.age_seconds = max(0.0, (now - dt.datetime.fromisoformat(recorded["time"])).total_seconds())
    if last_run.get("alarms"):
        row.status, row.detail = CLOCK_SKEW, str(last_run["alarms"][0])
    elif last_run.get("result") not in (None, RUN_SUCCEEDED):
        row.status = RUN_FAILED
        row.detail = f"the last run {last_run.get('result')}: {last_run.get('error') or 'see the host journal'}"
    elif row.age_seconds > rpo:
        row.status = RPO_MISSED
        row.detail = f"last backup recorded {format_duration(dt.timedelta(seconds=int(row.age_seconds)))} ago"
    return row


def _record_confirmed(context: BackupContext, rows: list[StatusRow], now: dt.datetime) -> None:
    """Keep what the repositories showed, per set, for the plain status and the fleet page to say when
    each row was last confirmed (a repository that could not be read confirms nothing)."""
    stamp = now.isoformat(timespec="seconds")
    for set_name in context.sets:
        seen = {
            r.host: {"time": stamp, "snapshot": r.newest, "status": r.status} for r in rows if r.set_name == set_name
        }
        seen = {host: entry for host, entry in seen.items() if entry["status"] != UNREACHABLE}
        if seen:
            try:
                context.store.record_confirmed(set_name, {**_earlier(context, set_name), **seen})
            except OSError as exc:
                logger.warning("could not keep what the repository of %s showed: %s", set_name, exc)
            context.store.confirmed.update({(set_name, host): entry for host, entry in seen.items()})


def _earlier(context: BackupContext, set_name: str) -> dict[str, Any]:
    return {host: entry for (name, host), entry in context.store.confirmed.items() if name == set_name}


def _listing(context: BackupContext, set_name: str) -> tuple[list[dict[str, Any]], str]:
    restic = context.restic(set_name)
    try:
        return parse_snapshots(restic.execute(make_snapshots_command(restic.target, set_name)).stdout), ""
    except ResticError as exc:
        return [], str(exc)


def _row(
    context: BackupContext,
    set_name: str,
    host: str,
    snapshots: list[dict[str, Any]],
    error: str,
    state: dict[str, Any],
    now: dt.datetime,
) -> StatusRow:
    row = _base_row(context, set_name, host, state)
    recorded, rpo = state.get("last_snapshot", {}), row.rpo_seconds
    if error:
        row.status, row.detail = UNREACHABLE, error
        return row
    own = [snapshot for snapshot in snapshots if snapshot.get("hostname") == host]
    recorded_id = str(recorded["id"]) if recorded.get("id") else None
    verdict = judge_listing(own, recorded_id, now, context.env.backup.clock_skew_tolerance, rpo)
    row.status, row.detail, row.snapshots = verdict.status, verdict.detail, verdict.snapshots
    if verdict.newest is not None:
        row.newest, row.age_seconds = verdict.newest, verdict.age_seconds
    if verdict.status == DISAGREES:
        row.detail = (
            f"the repository's newest snapshot is {verdict.newest}, but the last run recorded "
            f"{recorded['id']}: a run's record was lost or the repository changed; check it with "
            f"`{context.target(set_name).seawall('check')}`"
        )
    return row
