"""``seawall backup prune``: one retention-and-prune job per set, run on one host of the set.

Check the repository; only when the check passed, forget what the keep-rules let go (never a protected
snapshot: see ``backup.retention``), then prune. A failed check forgets and deletes nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from dataclasses import dataclass, field

from seawall.backup import records
from seawall.backup.context import COPY, BackupContext, state_store
from seawall.backup.decisions import after_check
from seawall.backup.records import MAX_FORGOTTEN_IDS
from seawall.backup.restic import make_check_command, make_prune_command
from seawall.backup.retention import apply_retention, plan_retention
from seawall.backup.state import COPIES, VAULT_LOCK
from seawall.errors import BackupError, ConfigError

logger = logging.getLogger(__name__)


@dataclass
class PruneOutcome:
    """What prune came to for one set's repository."""

    set_name: str
    repository: str
    result: str
    error: str = ""
    forgotten: list[str] = field(default_factory=list)
    protected: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Return whether the repository was pruned (or would be)."""
        return self.result in ("pruned", "dry-run")


def prune_repositories(
    context: BackupContext, dry_run: bool = False, issue: str | None = None, scheduled: bool = False
) -> list[PruneOutcome]:
    """Given a backup context, check, apply retention to and prune each chosen set's repository; each
    prune is recorded (with its issue, or as scheduled) in the state of the set's prune host."""
    if context.env.release.require_issue and not (issue or scheduled or dry_run):
        msg = f"{context.env.name} requires an issue for a prune run by hand: add --issue URL"
        raise ConfigError([msg])
    # The copy's prune waits for the vault's copy (which takes no restic lock) and the other way round.
    with context.store.exclusive(VAULT_LOCK) if context.source == COPY else contextlib.nullcontext():
        outcomes = [_prune(context, name, dry_run) for name in context.sets]
    if not dry_run:
        now = dt.datetime.now(dt.UTC).isoformat()
        for outcome in outcomes:
            record = {"time": now, "result": outcome.result, "forgotten": len(outcome.forgotten)}
            # What was forgotten, by id (with what earlier prunes forgot): the vault tells these from snapshots
            # that vanished otherwise, also when two prunes ran between two of its listings.
            record["forgotten_ids"] = _forgotten_ids(context, outcome.set_name, outcome.forgotten)
            record["issue"] = issue or ("scheduled" if scheduled else None)
            context.store.update({"last_prune": record}, outcome.set_name, _recorded_on(context, outcome.set_name))
    return outcomes


def _forgotten_ids(context: BackupContext, set_name: str, forgotten: list[str]) -> list[str]:
    """The ids this prune forgets, then those earlier prunes recorded, the newest MAX_FORGOTTEN_IDS."""
    earlier = context.store.read(set_name, _recorded_on(context, set_name)).get("last_prune", {})
    merged = list(dict.fromkeys([*forgotten, *(earlier.get("forgotten_ids") or [])]))
    return merged[:MAX_FORGOTTEN_IDS]


def _announce_forgetting(context: BackupContext, set_name: str, forgotten: list[str]) -> None:
    """Before forgetting, record what will be forgotten: a copy that lists the primary while the forget and
    prune run must not take these for snapshots that vanished."""
    if not forgotten:
        return
    now = dt.datetime.now(dt.UTC).isoformat()
    record = {"time": now, "result": "forgetting", "forgotten_ids": _forgotten_ids(context, set_name, forgotten)}
    context.store.update({"last_prune": record}, set_name, _recorded_on(context, set_name))


def _recorded_on(context: BackupContext, set_name: str) -> str:
    """The host whose state records a prune: the set's prune host, or the vault for the off-site copy."""
    copy = context.env.backup.copy_
    return copy.vault if context.source == COPY and copy is not None else context.env.prune_host(set_name)


def _prune(context: BackupContext, set_name: str, dry_run: bool) -> PruneOutcome:
    restic = context.restic(set_name)
    where = restic.target.repository
    outcome = PruneOutcome(set_name, where, "failed")
    try:
        if not dry_run:
            logger.info("checking %s before retention and prune", where)
            check_error = None
            try:
                restic.execute_waiting_for_locks(lambda: make_check_command(restic.target))
            except BackupError as exc:
                check_error = str(exc)
            if (stop := after_check(check_error)) is not None:
                outcome.result, outcome.error = stop
                logger.error("check of %s failed; nothing was forgotten or pruned: %s", where, check_error)
                return outcome
        copy = context.env.backup.copy_
        plan = plan_retention(
            restic,
            set_name,
            copy.retention if context.source == COPY and copy is not None else context.backup_set(set_name).retention,
            _verified(context, set_name),
            dt.datetime.now(dt.UTC),
            context.env.backup.clock_skew_tolerance,
            context.env.backup.safety_snapshot_keep,
            _copied(context, set_name),
        )
        outcome.forgotten, outcome.protected = plan.forget, plan.protected
        if dry_run:
            logger.info("dry run: would check %s, forget %d snapshot(s), then prune", where, len(plan.forget))
            outcome.result = "dry-run"
            return outcome
        _announce_forgetting(context, set_name, plan.forget)
        apply_retention(restic, plan)
        restic.execute_waiting_for_locks(lambda: make_prune_command(restic.target))
    except BackupError as exc:
        outcome.error = str(exc)
        return outcome
    logger.info("forgot %d snapshot(s) of %s and pruned %s", len(plan.forget), set_name, where)
    outcome.result = "pruned"
    return outcome


def _copied(context: BackupContext, set_name: str) -> set[str] | None:
    """Given a primary set of an environment with an off-site copy, return the primary's ids of what the copy
    holds, from the vault's record (none readable: an empty set, so that every snapshot is kept back); None
    where there is no copy to wait for (no copy, or this is the copy's own prune)."""
    if context.env.backup.copy_ is None or context.source == COPY:
        return None
    copies = state_store(context.env, context.project_root, COPY)
    record, problem = copies.read_shared(records.COPIES, records.COPIES_TIMES, COPIES, set_name)
    if problem or not record.get("originals"):
        logger.warning(
            "retention keeps every snapshot of %s: the off-site copy's record of what it holds is %s",
            set_name,
            problem
            or f"not there yet (the vault's `seawall backup copy {context.env.name} --set {set_name}` makes it)",
        )
    # What the copy received, also what its own retention let go since: waiting for those would keep them forever.
    return set(record.get("originals") or []) | set(record.get("received") or [])


def _verified(context: BackupContext, set_name: str) -> list[str]:
    """Given a set, return the snapshots the last passed drills of its hosts verified (every host's)."""
    every_host = [(set_name, host) for host in context.env.hosts_of_set(set_name)]
    documents = context.store.read_hosts(every_host)
    return [str(doc["verified"]["snapshot"]) for doc in documents.values() if doc.get("verified", {}).get("snapshot")]
