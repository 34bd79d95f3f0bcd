"""What the fleet recorded, for the documents: every host's last backup, run and drill (local state and
the bucket's copy when its keys are set), the deploy ledger, and each host's last drift check against the
deployed graph (``ledger/ENV.deployed.json``).

The documents say when this state was recorded (the newest stamp in it), never when it was read, so the
same recorded state always gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seawall.backup.actions.copy import read_copy_records
from seawall.backup.actions.drift import read_fleet_drift
from seawall.backup.backends import shared_copy
from seawall.backup.state import StateStore
from seawall.dr.report import last_rehearsal
from seawall.drift import FleetDrift
from seawall.files import resolve
from seawall.ledger import LedgerEntry, deployed_graph_path, outcomes, read_ledger
from seawall.model.schema import Environment


@dataclass
class Measured:
    """One environment's recorded state: per (set, host), and its deploys."""

    states: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    deploys: list[tuple[LedgerEntry, str]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    # (set, host) → why its recorded state was not used (wrong shape or size, dated in the future)
    untrusted: dict[tuple[str, str], str] = field(default_factory=dict)
    # (set, host) → what the deep status last saw in the repository ({time, snapshot, status})
    confirmed: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # set → the vault's record of its off-site copy, and what makes it untrusted (None: nothing)
    copies: dict[str, tuple[dict[str, Any], str | None]] = field(default_factory=dict)
    # each host's last drift check against the deployed graph (None: not read)
    drift: FleetDrift | None = None
    # the last DR rehearsal's record (``seawall dr rehearse``) and what makes it untrusted (None: nothing)
    rehearsal: dict[str, Any] = field(default_factory=dict)
    rehearsal_problem: str | None = None

    @property
    def newest(self) -> dt.datetime | None:
        """Return the newest time the state, the ledger and the drift checks carry (None when nothing was
        recorded)."""
        stamps = [str(state.get("updated", "")) for state in self.states.values()]
        stamps += [entry.time for entry, _ in self.deploys]
        stamps += [self.drift.newest() or ""] if self.drift is not None else []
        stamps += [str(self.rehearsal.get("time", ""))]
        times = [dt.datetime.fromisoformat(stamp).astimezone(dt.UTC) for stamp in stamps if stamp]
        return max(times, default=None)

    @property
    def as_of(self) -> str | None:
        """Return ``newest`` as the documents print it."""
        return self.newest.strftime("%Y-%m-%d %H:%M UTC") if self.newest else None

    def set_host(self, set_name: str, host: str) -> dict[str, Any]:
        """Given a set and host, return what was recorded: last backup, run and drill (empty values when
        nothing was)."""
        state = self.states.get((set_name, host), {})
        run, drill, snapshot = state.get("last_run", {}), state.get("last_drill", {}), state.get("last_snapshot", {})
        return {
            "set": set_name,
            "host": host,
            "last_backup": _minute(snapshot.get("time")),
            "last_run": run.get("result"),
            "restic": run.get("restic"),
            "last_drill": _minute(drill.get("time")),
            "drill_time": drill.get("time"),
            "drill_result": drill.get("result"),
            "rto_seconds": drill.get("rto_seconds"),
            "rpo_seconds": drill.get("rpo_seconds"),
        }

    def last_deploy(self) -> dict[str, Any] | None:
        """Return the newest succeeded deploy, or None."""
        done = [entry for entry, outcome in self.deploys if outcome == "succeeded"]
        if not done:
            return None
        entry = done[-1]
        return {
            "time": _minute(entry.time),
            "operator": entry.operator,
            "issue": entry.issue,
            "versions": entry.versions,
        }


def _minute(stamp: str | None) -> str | None:
    if not stamp:
        return None
    return dt.datetime.fromisoformat(stamp).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")


def read_measured(env: Environment, project_root: Path, ledger_dir: Path) -> Measured:
    """Given an environment, return its recorded state: the local state folder and ledger, and the
    bucket's copy of the fleet's state when its keys are in the environment."""
    bucket = shared_copy(env, project_root)
    store = StateStore(resolve(project_root, env.backup.state_dir), env.name, bucket, env.backup.clock_skew_tolerance)
    pairs = [(name, host) for name in sorted(env.backup_sets) for host in env.hosts_of_set(name)]
    states = {pair: state for pair, state in store.read_hosts(pairs).items() if state}
    sources = ["this machine's state"] + (["the bucket's copy"] if bucket is not None else [])
    deploys = outcomes(read_ledger(ledger_dir, env.name))
    copies = (
        read_copy_records(env, project_root, sorted(env.backup_sets)) if env.backup.copy_ and env.backup_sets else {}
    )
    drift = read_fleet_drift(env, project_root, deployed_graph_path(ledger_dir, env.name))
    rehearsal, problem = last_rehearsal(store)
    return Measured(states, deploys, sources, store.untrusted, store.confirmed, copies, drift, rehearsal, problem)
