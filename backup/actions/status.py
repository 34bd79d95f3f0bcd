"""``seawall backup status``: the fleet view from the inventory.

Every host and set that should have snapshots gets a row: the age of its newest snapshot against the
set's RPO, its size, the last run and the last drill. A host with no snapshot at all is an alarm.
Repositories are read with ``--no-lock``, so status never waits for or disturbs a running backup.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from backup.client import Restic, parse_time
from backup.plan import make_target, resolve
from backup.restic import ResticError, make_snapshots_command, make_stats_command, parse_snapshots
from backup.state import StateStore
from seawall.model.schema import Environment
from seawall.model.types import format_duration

OK, RPO_MISSED, NO_SNAPSHOT, UNREACHABLE = "ok", "rpo-missed", "no-snapshot", "unreachable"


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

    @property
    def alarm(self) -> bool:
        """Return whether this row needs attention."""
        return self.status != OK

    def as_json(self) -> dict[str, Any]:
        """Return the row as JSON-able data."""
        return asdict(self)


def fleet_status(env: Environment, project_root: Path, now: dt.datetime | None = None) -> list[StatusRow]:
    """Given an environment, return one row per host and set of its inventory."""
    now = now or dt.datetime.now(dt.UTC)
    store = StateStore(resolve(project_root, env.backup.state_dir), env.name)
    rows: list[StatusRow] = []
    for set_name in sorted(env.backup_sets):
        hosts = env.hosts_of_set(set_name)
        if not hosts:
            continue
        rpo = env.backup_sets[set_name].rpo.total_seconds()
        restic = Restic(make_target(env, set_name, project_root))
        try:
            snapshots = parse_snapshots(restic.execute(make_snapshots_command(restic.target, set_name)).stdout)
        except ResticError as exc:
            rows += [StatusRow(host, set_name, UNREACHABLE, rpo_seconds=rpo, detail=str(exc)) for host in hosts]
            continue
        for host in hosts:
            own = [snapshot for snapshot in snapshots if snapshot.get("hostname") == host]
            rows.append(_row(restic, host, set_name, own, rpo, now, store.read(set_name, host)))
    return rows


def _row(
    restic: Restic,
    host: str,
    set_name: str,
    own: list[dict[str, Any]],
    rpo: float,
    now: dt.datetime,
    state: dict[str, Any],
) -> StatusRow:
    last_run = state.get("last_run", {}).get("result")
    last_drill = state.get("last_drill", {}).get("result")
    if not own:
        return StatusRow(
            host,
            set_name,
            NO_SNAPSHOT,
            rpo_seconds=rpo,
            last_run=last_run,
            last_drill=last_drill,
            detail="no snapshot at all: this host's data is not backed up",
        )
    newest = own[-1]
    age = (now - parse_time(str(newest["time"]))).total_seconds()
    stats = json.loads(restic.execute(make_stats_command(restic.target, str(newest["id"]))).stdout or "{}")
    status = OK if age <= rpo else RPO_MISSED
    detail = "" if status == OK else f"newest snapshot is {format_duration(dt.timedelta(seconds=int(age)))} old"
    return StatusRow(
        host,
        set_name,
        status,
        len(own),
        str(newest.get("short_id")),
        age,
        rpo,
        stats.get("total_size"),
        stats.get("total_file_count"),
        last_run,
        last_drill,
        detail,
    )
