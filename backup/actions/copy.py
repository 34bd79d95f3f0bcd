"""``seawall backup copy``: the vault's off-site copy of every set, and the alarm when snapshots vanish.

For each chosen set, on the vault host (the only machine with the vault's key and the copy's password):

1. list the primary (read with the vault's key) and compare it with the listing the vault kept from its
   last run: a snapshot gone without a recorded prune (the prune host records what it forgot) is an alarm
   that stays, naming the set, the hosts and the snapshots and whether the copy holds them, until it is
   acknowledged (``--acknowledge --issue``);
2. ``restic copy`` every snapshot of the set the copy lacks (restic skips those it holds);
3. list the copy and record what it holds (the primary's prune host reads it: a snapshot the copy has not
   received is never forgotten from the primary), the protection its storage shows now, and metrics.

A failed copy (the copy's storage unreachable, a key refused) is recorded, named and fails the command;
the next run copies what this one missed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seawall.backup import records
from seawall.backup.client import Restic, parse_time
from seawall.backup.context import COPY, BackupContext, state_store
from seawall.backup.metrics import render_metrics, write_metrics
from seawall.backup.restic import RepositoryMissing, make_copy_command, make_snapshots_command, parse_snapshots
from seawall.backup.retention import newest_present
from seawall.backup.state import COPIES, LISTINGS, VAULT_LOCK
from seawall.errors import BackupError, ConfigError
from seawall.model.schema import Environment

logger = logging.getLogger(__name__)
HELP = {
    "success": "1 when the last off-site copy of the set succeeded, 0 otherwise",
    "last_run_timestamp_seconds": "When the last off-site copy of the set ended",
    "age_seconds": "Age of the oldest of the hosts' newest snapshots in the off-site copy",
    "target_seconds": "The set's RPO plus the copy's delay: the age above which the copy is late",
    "vanished_snapshots": "Snapshots gone from the primary without a recorded prune, not yet acknowledged",
}


@dataclass
class CopyOutcome:
    """What the copy of one set came to."""

    set_name: str
    repository: str
    result: str = "failed"
    error: str = ""
    copied: int = 0
    vanished: list[dict[str, Any]] = field(default_factory=list)
    newest: dict[str, str] = field(default_factory=dict)
    protection: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return whether the copy holds every snapshot of the primary and none vanished unacknowledged."""
        return self.result in ("copied", "dry-run") and not self.vanished


def copy_sets(context: BackupContext, dry_run: bool = False, acknowledge: str | None = None) -> list[CopyOutcome]:
    """Given a copy context (``source="copy"``), copy every chosen set from its primary into its off-site
    copy; with ``acknowledge`` (an issue), first clear the set's vanished-snapshot alarm, recording the issue."""
    copy = context.env.backup.copy_
    if copy is None:  # pragma: no cover - build_context refuses a copy context without a copy
        raise ConfigError([f"{context.env.name} has no off-site copy"])
    with context.store.exclusive(VAULT_LOCK):
        return [_copy(context, name, dry_run, acknowledge) for name in context.sets]


def _copy(context: BackupContext, set_name: str, dry_run: bool, acknowledge: str | None) -> CopyOutcome:
    restic = context.restic(set_name)
    outcome = CopyOutcome(set_name, restic.target.repository)
    record, problem = context.store.read_shared(records.COPIES, records.COPIES_TIMES, COPIES, set_name)
    if problem:
        # Never written over: the alarm it may hold would be lost. A person looks at it first.
        outcome.error = (
            f"the vault's record of the copy is not trusted, so nothing was copied: {problem}; look at it (it may "
            "hold vanished snapshots), then move it away"
        )
        logger.error("copy of %s: %s", set_name, outcome.error)
        return outcome
    listing = _read(context, records.LISTING, records.LISTING_TIMES, LISTINGS, set_name)
    if acknowledge and record.get("vanished"):
        logger.warning("%d vanished snapshot(s) of %s acknowledged: %s", len(record["vanished"]), set_name, acknowledge)
        if not dry_run:
            acknowledged = {"time": _now(), "issue": acknowledge, "snapshots": len(record["vanished"])}
            record = context.store.update({"vanished": [], "acknowledged": acknowledged}, COPIES, set_name)
    now = _now()
    changes: dict[str, Any] = {}
    # The copy's listing runs beside the primary's (each restic process spends most of its time deriving
    # the repository's key); the primary's is judged first, so vanished snapshots alarm also when the copy
    # cannot be reached.
    with ThreadPoolExecutor(max_workers=2) as pool:
        in_copy = pool.submit(_listing, context, restic, set_name, dry_run, bool(record.get("last_copy")))
        try:
            source = context.vault_primary(set_name)
            primary = parse_snapshots(source.execute(make_snapshots_command(source.target, set_name)).stdout)
            outcome.vanished = list(record.get("vanished") or [])
            copied_before = set(record.get("originals") or [])
            outcome.vanished += _vanished(context, set_name, listing, outcome.vanished, primary, copied_before, now)
            changes["vanished"] = outcome.vanished
            if not dry_run:
                rows = [
                    {"id": str(s["id"]), "host": str(s.get("hostname", "")), "time": str(s.get("time", ""))}
                    for s in primary
                ]
                context.store.update({"snapshots": rows, "listed": now}, LISTINGS, set_name)
            held = in_copy.result()
            originals = {_original(s) for s in held}
            # What the copy received once stays received: its own retention may have let it go since, and
            # copying it again would undo that retention (and upload it again every week).
            present = {str(s["id"]) for s in primary}
            received = (set(record.get("received") or []) | originals) & present
            missing = [s for s in primary if str(s["id"]) not in received]
            if dry_run:
                logger.info(
                    "dry run: would copy %d snapshot(s) of %s into %s", len(missing), set_name, outcome.repository
                )
                outcome.result, outcome.copied = "dry-run", len(missing)
                return outcome
            if missing:
                ids = [str(s["id"]) for s in missing]
                restic.execute_waiting_for_locks(lambda: make_copy_command(restic.target, source.target, ids))
                # restic copy succeeds only when every chosen snapshot is in the copy: it now holds what it held
                # and what was missing (with the primary's hosts and times), with no listing to ask again.
                held = held + [{**s, "original": s["id"]} for s in missing]
            outcome.copied = len(missing)
            outcome.newest = _newest(held, context)
            changes |= {"originals": sorted(_original(s) for s in held), "newest": outcome.newest}
            changes["received"] = sorted(received | {str(s["id"]) for s in missing})
            outcome.protection = _protection(context, set_name)
            changes |= {"protection": outcome.protection, "protection_checked": _now()}
            outcome.result = "copied"
        except BackupError as exc:
            outcome.error = str(exc)
            logger.error("copy of %s into %s failed: %s", set_name, outcome.repository, exc)
        finally:
            if not dry_run:
                error = outcome.error[: records.MAX_TEXT]
                last = {"time": _now(), "result": outcome.result, "error": error, "copied": outcome.copied}
                context.store.update({**changes, "last_copy": last}, COPIES, set_name)
                _metrics(context, set_name, outcome, record)
    return outcome


def _protection(context: BackupContext, set_name: str) -> list[str]:
    """What protects the copy, as its storage shows it now; a storage that cannot say is named, and the copy,
    which succeeded, stays a success."""
    from seawall.backup.storage import StorageError

    try:
        return context.backend(set_name).protection()
    except StorageError as exc:
        logger.warning("the protection of %s could not be read: %s", set_name, exc)
        return [f"protection: not known ({str(exc)[:200]})"]


def _read(context: BackupContext, check: records.Check, times: tuple[str, ...], *parts: str) -> dict[str, Any]:
    """The vault's own document (or the bucket's copy of it); one of the wrong shape is named and not used."""
    document, problem = context.store.read_shared(check, times, *parts)
    if problem:
        logger.warning("the vault's last record is not used: %s", problem)
    return document


def _original(snapshot: dict[str, Any]) -> str:
    """A copied snapshot's id in the primary (restic keeps it as ``original``)."""
    return str(snapshot.get("original") or snapshot.get("id"))


def _listing(
    context: BackupContext, restic: Restic, set_name: str, dry_run: bool, copied_before: bool
) -> list[dict[str, Any]]:
    """The copy's snapshots of the set. A copy never made before gets its repository first (its bucket made as
    ``init --from copy`` makes it), so that the first copy needs no step of its own on any host; a copy that
    was made before and whose repository is gone is an error, never quietly made anew."""
    from seawall.backup.actions.init import init_repositories

    copy = context.env.backup.copy_
    assert copy is not None
    try:
        if copy.password_file and not context.folder(copy.password_file).exists():
            # A password file the model names that is not there yet: init generates it, as for the primary.
            raise RepositoryMissing(f"no password file {copy.password_file} yet")
        return parse_snapshots(restic.execute(make_snapshots_command(restic.target, set_name)).stdout)
    except RepositoryMissing as exc:
        if copied_before:
            msg = (
                f"the off-site copy's repository {restic.target.repository} is gone ({exc}), although the vault copied "
                f"into it before: find out what removed it before anything else; `seawall backup init "
                f"{context.env.name} --set {set_name} --from copy` makes a new one"
            )
            raise RepositoryMissing(msg) from None
        if dry_run:
            logger.info("dry run: would create the off-site copy's repository %s", restic.target.repository)
            return []
        logger.warning("the off-site copy has no repository at %s yet: creating it", restic.target.repository)
    one = dataclasses.replace(context, pairs=[pair for pair in context.pairs if pair[0] == set_name])
    init_repositories(one)
    return parse_snapshots(restic.execute(make_snapshots_command(restic.target, set_name)).stdout)


def _vanished(
    context: BackupContext,
    set_name: str,
    listing: dict[str, Any],
    known: list[dict[str, Any]],
    primary: list[dict[str, Any]],
    originals: set[str],
    now: str,
) -> list[dict[str, Any]]:
    """Snapshots the vault's last listing of the primary had that the primary has no more, other than those
    a recorded prune forgot and those ``known`` to the alarm already; each says whether the copy held it at
    the vault's last run (``originals``)."""
    present = {str(s["id"]) for s in primary}
    excused = _forgotten(context, set_name) | {str(entry.get("id")) for entry in known}
    rows = [row for row in listing.get("snapshots") or [] if row.get("id")]  # a row without its id says nothing
    found = [
        {
            "id": row["id"],
            "host": str(row.get("host", "unknown")),
            "time": str(row.get("time", "unknown")),
            "detected": now,
            "in_copy": row["id"] in originals,
        }
        for row in rows
        if row["id"] not in present and row["id"] not in excused
    ]
    if found:
        logger.error(
            "alarm: %d snapshot(s) of %s (hosts %s) vanished from the primary without a recorded prune: %s; the "
            "copy holds %d of them",
            len(found),
            set_name,
            ", ".join(sorted({entry["host"] for entry in found})),
            ", ".join(entry["id"][:8] for entry in found),
            sum(entry["in_copy"] for entry in found),
        )
    return found


def _forgotten(context: BackupContext, set_name: str) -> set[str]:
    """The snapshots the set's prune host recorded forgetting (its last prune)."""
    store = state_store(context.env, context.project_root)
    documents = store.read_hosts([(set_name, context.env.prune_host(set_name))])
    return {str(i) for doc in documents.values() for i in (doc.get("last_prune") or {}).get("forgotten_ids") or []}


def _newest(snapshots: list[dict[str, Any]], context: BackupContext) -> dict[str, str]:
    """Each host's newest snapshot time in the copy (not one dated in the future)."""
    now = dt.datetime.now(dt.UTC)
    tolerance = context.env.backup.clock_skew_tolerance
    newest = {}
    for host in sorted({str(s.get("hostname", "")) for s in snapshots}):
        found = newest_present([s for s in snapshots if s.get("hostname") == host], now, tolerance)
        if found is not None:
            newest[host] = parse_time(str(found["time"])).isoformat()
    return newest


def copy_age(newest: dict[str, str], hosts: list[str], now: dt.datetime) -> float | None:
    """Given each host's newest snapshot time in the copy and the set's hosts, return the age of the oldest
    of them in seconds (None when a host has none in the copy yet: the copy lacks it entirely)."""
    if not hosts or any(host not in newest for host in hosts):
        return None
    return max((now - dt.datetime.fromisoformat(newest[host])).total_seconds() for host in hosts)


def _metrics(context: BackupContext, set_name: str, outcome: CopyOutcome, record: dict[str, Any]) -> None:
    copy = context.env.backup.copy_
    assert copy is not None
    newest = outcome.newest or record.get("newest") or {}
    age = copy_age(newest, context.env.hosts_of_set(set_name), dt.datetime.now(dt.UTC))
    backup_set = context.backup_set(set_name)
    values: dict[str, float | None] = {
        "success": 1 if outcome.result == "copied" else 0,
        "last_run_timestamp_seconds": dt.datetime.now(dt.UTC).timestamp(),
        # No snapshot of some host in the copy yet: as late as can be, so the alert fires.
        "age_seconds": age if age is not None else 1e12,
        "target_seconds": (backup_set.rpo + copy.delay).total_seconds(),
        "vanished_snapshots": len(outcome.vanished),
    }
    labels = {"environment": context.env.name, "set": set_name}
    text = render_metrics("seawall_copy", labels, values, HELP)
    write_metrics(context.metrics_dir, f"seawall_copy_{context.env.name}_{set_name}", text)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


@dataclass
class CopyRow:
    """One set's off-site copy as ``backup status`` shows it, from the vault's record."""

    set_name: str
    status: str
    last_copy: str | None
    newest: str | None
    age_seconds: float | None
    target_seconds: float
    vanished: int
    protection: list[str]
    protection_checked: str | None
    detail: str = ""

    @property
    def alarm(self) -> bool:
        """Return whether the copy needs a person: late, failed, never made, vanished snapshots, or untrusted."""
        return self.status != "ok"

    def as_json(self) -> dict[str, Any]:
        """Return the row as JSON-able data."""
        return {**self.__dict__, "alarm": self.alarm}


def copy_status(context: BackupContext) -> list[CopyRow]:
    """Given a context of an environment with an off-site copy, return each chosen set's copy as the vault
    recorded it (``copy_row``); none where the environment has no copy."""
    if context.env.backup.copy_ is None:
        return []
    records_of = read_copy_records(context.env, context.project_root, context.sets)
    now = dt.datetime.now(dt.UTC)
    return [copy_row(context.env, name, *records_of[name], now) for name in context.sets]


def read_copy_records(
    env: Environment, project_root: Path, sets: list[str]
) -> dict[str, tuple[dict[str, Any], str | None]]:
    """Given an environment with an off-site copy and sets, return the vault's record of each (this machine's
    or the bucket's), with what makes it untrusted (None when it is not)."""
    store = state_store(env, project_root, COPY)
    return {name: store.read_shared(records.COPIES, records.COPIES_TIMES, COPIES, name) for name in sets}


def copy_row(env: Environment, set_name: str, record: dict[str, Any], problem: str | None, now: dt.datetime) -> CopyRow:
    """Given a set and the vault's record of its copy, return the row: the oldest of the hosts' newest copied
    snapshots against the set's RPO plus the copy's delay, the last copy's result, vanished snapshots, and the
    protection the vault read from the storage."""
    copy = env.backup.copy_
    assert copy is not None
    target = (env.backup_sets[set_name].rpo + copy.delay).total_seconds()
    newest = record.get("newest") or {}
    hosts = env.hosts_of_set(set_name)
    age = copy_age(newest, hosts, now)
    last = record.get("last_copy") or {}
    vanished = list(record.get("vanished") or [])
    status, detail = "ok", ""
    if problem:
        status, detail = "untrusted-state", problem
    elif not last:
        making = f"seawall backup copy {env.name} --set {set_name}"
        status, detail = "never-copied", f"no copy recorded: `{making}` on {copy.vault} makes it (is its timer on?)"
    elif vanished:
        shown = ", ".join(f"{str(entry.get('id', '?'))[:8]} ({entry.get('host', '?')})" for entry in vanished[:10])
        status, detail = "vanished", f"{len(vanished)} snapshot(s) gone from the primary without a prune: {shown}"
    elif last.get("result") != "copied":
        status, detail = "copy-failed", str(last.get("error", ""))
    elif age is None or age > target:
        lacking = [host for host in hosts if host not in newest]
        status = "late"
        detail = f"no snapshot of {', '.join(lacking)} in the copy" if lacking else "the copy is older than its target"
    return CopyRow(
        set_name,
        status,
        last.get("time"),
        min(newest.values()) if newest else None,
        age,
        target,
        len(vanished),
        list(record.get("protection") or []),
        record.get("protection_checked"),
        detail,
    )
