"""The operator's look into repositories: ``seawall snapshots``, ``seawall check``, ``seawall unlock``."""

from __future__ import annotations

import datetime as dt
import functools
import logging
from dataclasses import dataclass, field
from typing import Any

from seawall.backup.client import LockInfo
from seawall.backup.context import BackupContext
from seawall.backup.diagnose import affected_snapshots
from seawall.backup.restic import (
    RepositoryDamaged,
    ResticError,
    make_check_command,
    make_snapshots_command,
    make_unlock_command,
    parse_snapshots,
)
from seawall.errors import BackupError
from seawall.runner import Command

logger = logging.getLogger(__name__)


@dataclass
class SnapshotRow:
    """One snapshot as an operator sees it."""

    id: str
    short_id: str
    time: str
    host: str
    set_name: str
    size_bytes: int | None
    tags: list[str]
    verified_by: str | None = None


def list_snapshots(context: BackupContext) -> list[SnapshotRow]:
    """Given a context, return the chosen sets' snapshots of the chosen hosts, oldest first; each says
    which drill verified it (from the fleet's state) and its size where restic or a run recorded it."""
    states = context.store.read_hosts(context.pairs)
    rows = []
    for set_name in context.sets:
        hosts = set(context.hosts(set_name))
        restic = context.restic(set_name)
        for snapshot in parse_snapshots(restic.execute(make_snapshots_command(restic.target, set_name)).stdout):
            host = str(snapshot.get("hostname", ""))
            if host not in hosts:
                continue
            state = states.get((set_name, host), {})
            rows.append(_row(set_name, host, snapshot, state))
    return sorted(rows, key=lambda row: (row.time, row.set_name, row.host))


def _row(set_name: str, host: str, snapshot: dict[str, Any], state: dict[str, Any]) -> SnapshotRow:
    snapshot_id = str(snapshot.get("id", ""))
    verified = state.get("verified", {})
    recorded = state.get("sizes", {})
    summary = snapshot.get("summary") or {}
    size = summary.get("total_bytes_processed", recorded.get(snapshot_id, recorded.get(snapshot_id[:8])))
    return SnapshotRow(
        snapshot_id,
        str(snapshot.get("short_id", snapshot_id[:8])),
        str(snapshot.get("time", "")),
        host,
        set_name,
        size,
        [str(tag) for tag in snapshot.get("tags") or []],
        f"drill of {verified.get('drill')}" if verified.get("snapshot") == snapshot_id else None,
    )


@dataclass
class CheckOutcome:
    """What ``restic check`` found in one set's repository."""

    set_name: str
    repository: str
    ok: bool
    detail: str = ""


def check_repositories(
    context: BackupContext, read_data_subset: str | None = None, read_data: bool = False
) -> list[CheckOutcome]:
    """Given a context, check each chosen set's repository; damage names its packs and what they affect."""
    outcomes = []
    for set_name in context.sets:
        restic = context.restic(set_name)
        command = make_check_command(restic.target, read_data_subset, read_data=read_data)
        try:
            restic.execute_waiting_for_locks(functools.partial(_same, command))
            outcomes.append(CheckOutcome(set_name, restic.target.repository, True))
        except RepositoryDamaged as exc:
            outcomes.append(
                CheckOutcome(set_name, restic.target.repository, False, f"{exc}{affected_snapshots(restic, exc)}")
            )
        except BackupError as exc:
            outcomes.append(CheckOutcome(set_name, restic.target.repository, False, str(exc)))
    return outcomes


def _same(command: Command) -> Command:
    return command


@dataclass
class UnlockOutcome:
    """The locks of one set's repository: which were removed and which are held by a live process."""

    set_name: str
    repository: str
    removed: list[str] = field(default_factory=list)
    live: list[str] = field(default_factory=list)


def unlock_repositories(context: BackupContext, force: bool = False) -> list[UnlockOutcome]:
    """Given a context, remove each chosen repository's stale locks (every lock with ``force``)."""
    outcomes = []
    for set_name in context.sets:
        restic = context.restic(set_name)
        outcome = UnlockOutcome(set_name, restic.target.repository)
        try:
            locks = restic.list_locks()
        except ResticError as exc:
            raise BackupError(str(exc)) from None
        now = dt.datetime.now(dt.UTC)
        stale = [lock for lock in locks if restic.is_stale(lock, now)]
        live = [lock for lock in locks if lock not in stale]
        if force or (stale and not live):
            restic.execute(make_unlock_command(restic.target, remove_all=True))
            outcome.removed = [_describe(lock) for lock in locks]
        elif stale:
            restic.execute(make_unlock_command(restic.target))
            remaining = {lock.lock_id for lock in restic.list_locks()}
            outcome.removed = [_describe(lock) for lock in stale if lock.lock_id not in remaining]
            live += [lock for lock in stale if lock.lock_id in remaining]
        outcome.live = [] if force else [_describe(lock) for lock in live]
        for text in outcome.removed:
            logger.warning("removed lock %s from %s", text, outcome.repository)
        outcomes.append(outcome)
    return outcomes


def _describe(lock: LockInfo) -> str:
    kind = "exclusive" if lock.exclusive else "shared"
    taken = lock.created.isoformat(timespec="seconds")
    return f"{lock.lock_id[:8]} ({kind}, pid {lock.pid} on {lock.hostname}, taken {taken})"
