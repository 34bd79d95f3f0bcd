"""The drill engine: prove that one set's backup on one host restores, and measure RPO and RTO.

``seawall.backup.actions.drill`` runs it for every chosen set and host and records the results. For
each set and host: pick a snapshot (latest, a seeded random older one, or an id); read a rotating slice
of the repository's packs (``check --read-data-subset=k/n``, so every pack is read once every n
drills); restore into an empty scratch folder with ``--verify``; compare a sampled folder's hashes with
what the repository streams; run the set's own checks against the restored tree; measure RTO (restore
plus verification) and RPO (age of the newest snapshot) against the set's targets; record a report and
metrics. The check slice, the snapshot list and the sample run beside the restore when ``--jobs``
leaves a slot (the context's slots bound the restic processes at once), read-only and at a lower CPU
priority. What it decides from what restic printed (the snapshot, the slice, RPO and the targets) is
``seawall.backup.decisions``'s.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seawall.backup import records
from seawall.backup.client import Restic
from seawall.backup.context import BackupContext
from seawall.backup.decisions import choose_snapshot, judge_targets, measure_rpo, slice_to_check, slices_after
from seawall.backup.diagnose import affected_snapshots, explain_restore_failure
from seawall.backup.hooks import run_hooks
from seawall.backup.restic import (
    RepositoryDamaged,
    ResticError,
    beside,
    make_check_command,
    make_dump_command,
    make_ls_command,
    make_restore_command,
    make_snapshots_command,
    parse_snapshots,
)
from seawall.backup.retention import in_future
from seawall.backup.verify import (
    SampleResult,
    choose_folder,
    compare_sample,
    describe_mismatches,
    draw_files,
    folders_of,
    hash_tar_stream,
    measure_tree,
    remove_tree,
)
from seawall.errors import BackupError, ConfigError
from seawall.files import os_reason
from seawall.model.schema import BackupSet

logger = logging.getLogger(__name__)
_RESTORING = re.compile(r"restoring <Snapshot ([0-9a-f]+) ")
Reporter = Callable[[str, str], None]
Draw = tuple[int, int]  # the seed, and how many files the sample compares at most


@dataclass(frozen=True)
class DrillOptions:
    """How to drill: which snapshot, the seed for random choices, parallel jobs, scratch folder."""

    snapshot: str = "latest"
    seed: int | None = None
    jobs: int = 2  # restic processes at once
    target: Path | None = None
    keep: bool = False


@dataclass
class CheckSlice:
    """The rotating ``check --read-data-subset`` of one repository."""

    slice: str
    ok: bool
    seconds: float
    coverage: float
    slices_read: list[int]
    detail: str = ""


@dataclass
class DrillResult:
    """Everything one drill measured; ``failures`` is empty when it passed."""

    environment: str
    set_name: str
    host: str
    repository: str
    started: str
    snapshot: dict[str, Any] = field(default_factory=dict)
    check: CheckSlice | None = None
    restore: dict[str, Any] = field(default_factory=dict)
    sample: SampleResult | None = None
    floors: dict[str, Any] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)
    rto: dict[str, Any] = field(default_factory=dict)
    rpo: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    finished: str = ""
    listing: list[dict[str, Any]] = field(default_factory=list, repr=False)
    report_path: Path | None = None
    # Why the result could not be recorded (reports, state or metrics unwritable): the command then fails,
    # whatever the drill found, since monitoring and prune cannot see it.
    unrecorded: str = ""

    @property
    def passed(self) -> bool:
        """Return whether every step passed and both targets were met."""
        return not self.failures


def scratch_root(context: BackupContext, target: Path | None) -> Path:
    env, sets = context.env, context.sets
    if target is None:
        return Path(tempfile.mkdtemp(prefix=f"seawall-drill-{env.name}-"))
    target = target.resolve()
    if target.exists() and any(target.iterdir()):
        raise ConfigError([f"--target {target} is not empty: a drill restores only into an empty folder"])
    for name in sets:
        for source in context.backup_set(name).paths:
            live = context.folder(source).resolve()
            if target == live or target.is_relative_to(live) or live.is_relative_to(target) or target == Path("/"):
                raise ConfigError(
                    [f"--target {target} overlaps {live}, a live path of set {name}: choose a scratch folder"]
                )
    target.mkdir(parents=True, exist_ok=True)
    return target


def check_slice(context: BackupContext, set_name: str) -> CheckSlice:
    store = context.store
    slices = context.backup_set(set_name).drill.read_data_slices
    state = store.read("drills", set_name)
    if (
        problem := records.problem(state, records.CHECK_SLICES, dt.datetime.now(dt.UTC), dt.timedelta(0), ())
    ) is not None:
        logger.warning("the check slices of %s are not trusted (%s): starting again at slice 1", set_name, problem)
        state = {}
    k, read = slice_to_check(state, slices)
    restic = context.restic(set_name)
    started, waited = time.monotonic(), restic.waited()
    try:
        restic.execute(beside(make_check_command(restic.target, f"{k}/{slices}", lock=False)))
        ok, detail = True, ""
    except RepositoryDamaged as exc:
        ok, detail = False, f"{exc}{affected_snapshots(restic, exc)}"
    except ResticError as exc:
        ok, detail = False, str(exc)
    seconds = _working(started, waited, restic)
    read, coverage, following = slices_after(k, read, ok, slices)
    try:
        store.write(following, "drills", set_name)
    except OSError as exc:  # the drill goes on; recording its result will fail the same way, and say so
        logger.error(
            "could not remember the check slice %s of %s (%s): the next drill checks it again",
            k,
            set_name,
            os_reason(exc),
        )
    return CheckSlice(f"{k}/{slices}", ok, seconds, coverage, read, detail)


def drill_one(
    context: BackupContext,
    set_name: str,
    host: str,
    options: DrillOptions,
    seed: int,
    scratch_parent: Path,
    check: Future[CheckSlice],
    report: Reporter | None,
) -> DrillResult:
    """Given one set and host, drill it into a folder under ``scratch_parent`` and return the result
    (nothing recorded: the action records)."""
    env = context.env
    say = report or (lambda _key, _step: None)
    key = f"{set_name} on {host}"
    restic = context.restic(set_name)
    target = restic.target
    result = DrillResult(env.name, set_name, host, target.repository, _now())
    verified = context.store.read(set_name, host).get("verified", {}).get("snapshot")
    scratch = scratch_parent / f"{set_name}--{host}"
    scratch.mkdir(parents=True, exist_ok=False)
    try:
        with ThreadPoolExecutor(max_workers=1) as side:
            say(key, "restoring")
            most = context.backup_set(set_name).drill.sample_files
            if options.snapshot == "latest":
                # The newest snapshot is restored at once; listing and sampling follow it on the side.
                restored = threading.Event()
                holder: dict[str, str] = {}
                sample = side.submit(_list_and_sample, restic, set_name, host, (seed, most), restored, holder)
                try:
                    _restore(restic, "latest", scratch, result, (host, set_name), _restored_id(holder, restored))
                finally:
                    restored.set()
                snapshots, sampled = sample.result()
                chosen = _by_id(snapshots, holder.get("id", ""), set_name, host, context.env.name)
            else:
                snapshots = parse_snapshots(restic.execute(make_snapshots_command(target, set_name, host)).stdout)
                chosen = choose_snapshot(snapshots, options.snapshot, seed, set_name, host, context.env.name)
                pending = side.submit(_sample, restic, chosen["id"], (seed, most))
                _restore(restic, chosen["id"], scratch, result)
                sampled = pending.result()
            result.listing = snapshots
            result.snapshot = {
                "id": chosen["id"],
                "short_id": chosen.get("short_id"),
                "time": chosen["time"],
                "pick": options.snapshot if options.snapshot in ("latest", "random") else "id",
                "seed": seed,
                "verified_before": verified == chosen["id"],
            }
            say(key, "verifying")
            verifying = time.monotonic()
            _verify(context, set_name, host, scratch, sampled, result)
            # RTO is the restore and the set's verification: not the drill's own sample stream (a real
            # recovery has none) and not a wait for a --jobs slot.
            rto = result.restore["seconds"] + time.monotonic() - verifying
        rpo = _rpo(context, restic, set_name, host, snapshots, result)
        _targets(context.backup_set(set_name), rto, rpo, result)
    except BackupError as exc:
        result.failures.append(str(exc))
    finally:
        if not options.keep:
            remove_tree(scratch)
    result.check = check.result()
    if not result.check.ok:
        result.failures.insert(0, f"check of slice {result.check.slice} failed: {result.check.detail}")
    result.finished = _now()
    say(key, "passed" if result.passed else "failed")
    return result


def _rpo(
    context: BackupContext,
    restic: Restic,
    set_name: str,
    host: str,
    snapshots: list[dict[str, Any]],
    result: DrillResult,
) -> float | None:
    """Return the age of the newest snapshot not dated in the future (None when there is none); a
    snapshot dated in the future beyond the tolerance is a failure of the drill."""
    now = dt.datetime.now(dt.UTC)
    tolerance = context.env.backup.clock_skew_tolerance
    if any(in_future(snapshot, now, tolerance) for snapshot in snapshots) and len(snapshots) < 2:
        # The fast path listed only the snapshot it restored; the newest one not in the future needs all.
        snapshots = parse_snapshots(restic.execute(make_snapshots_command(restic.target, set_name, host)).stdout)
    rpo, alarms = measure_rpo(snapshots, now, tolerance, set_name, host)
    result.failures += alarms
    return rpo


def _restored_id(holder: dict[str, str], restored: threading.Event) -> Callable[[str], None]:
    """Return a reader of restore's output that records which snapshot it restores."""

    def read(line: str) -> None:
        match = _RESTORING.search(line)
        if match and "id" not in holder:
            holder["id"] = match.group(1)
            restored.set()

    return read


def _list_and_sample(
    restic: Restic, set_name: str, host: str, draw: Draw, restored: threading.Event, holder: dict[str, str]
) -> tuple[list[dict[str, Any]], tuple[str | None, dict[str, str], str]]:
    """List the newest snapshot's files (its first line is the snapshot itself), then sample it."""
    lines = restic.execute(beside(make_ls_command(restic.target, "latest", host, set_name))).stdout.splitlines()
    restored.wait()
    snapshot = json.loads(lines[0]) if lines and lines[0].startswith("{") else {}
    if "id" not in holder:
        return [snapshot] if snapshot else [], (None, {}, "")
    if not str(snapshot.get("id", "")).startswith(holder["id"]):
        lines = restic.execute(beside(make_ls_command(restic.target, holder["id"]))).stdout.splitlines()
        snapshot = json.loads(lines[0])
    return [snapshot], _sample_listing(restic, holder["id"], lines[1:], draw)


def _by_id(
    snapshots: list[dict[str, Any]], short_id: str, set_name: str, host: str, environment: str
) -> dict[str, Any]:
    if not short_id:
        msg = f"restic did not say which snapshot of {set_name} on {host} it restored"
        raise BackupError(msg)
    return choose_snapshot(snapshots, short_id, 0, set_name, host, environment)


def _sample(restic: Restic, snapshot: str, draw: Draw) -> tuple[str | None, dict[str, str], str]:
    """List the snapshot, draw a folder and hash what the repository streams of it."""
    listing = restic.execute(beside(make_ls_command(restic.target, snapshot))).stdout.splitlines()
    return _sample_listing(restic, snapshot, listing, draw)


def _sample_listing(
    restic: Restic, snapshot: str, listing: list[str], draw: Draw
) -> tuple[str | None, dict[str, str], str]:
    """Given a snapshot's listing and (seed, most files), draw a folder and hash what the repository
    streams of it; keep at most that many files of it, drawn with the seed."""
    seed, most = draw
    folder = choose_folder(folders_of(listing), seed, most)
    if folder is None:
        return None, {}, ""
    outcome, digests = restic.stream(beside(make_dump_command(restic.target, snapshot, folder)), hash_tar_stream)
    if not outcome.ok or digests is None:
        return folder, {}, f"restic dump of {folder} failed: {outcome.last_error_line()}"
    return folder, draw_files(digests, seed, most), ""


def _restore(
    restic: Restic,
    snapshot: str,
    scratch: Path,
    result: DrillResult,
    scope: tuple[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> None:
    started, waited = time.monotonic(), restic.waited()
    host, set_name = scope or (None, None)
    try:
        restic.execute_waiting_for_locks(
            lambda: make_restore_command(restic.target, snapshot, str(scratch), host=host, set_name=set_name), on_line
        )
    except ResticError as exc:
        detail = explain_restore_failure(
            restic, exc, snapshot, scratch, (host or result.host, set_name or result.set_name)
        )
        result.restore = {"ok": False, "seconds": _working(started, waited, restic), "detail": detail}
        msg = f"restore with --verify failed: {detail}"
        raise BackupError(msg) from None
    result.restore = {"ok": True, "seconds": _working(started, waited, restic), "verify": True, "detail": ""}


def _working(started: float, waited: float, restic: Restic) -> float:
    """Return the seconds since ``started`` less those this thread waited for a ``--jobs`` slot."""
    return time.monotonic() - started - (restic.waited() - waited)


def _verify(
    context: BackupContext,
    set_name: str,
    host: str,
    scratch: Path,
    sample: tuple[str | None, dict[str, str], str],
    result: DrillResult,
) -> None:
    backup_set = context.backup_set(set_name)
    folder, digests, problem = sample
    if problem:
        result.failures.append(problem)
    if folder is not None and digests:
        result.sample = compare_sample(folder, digests, scratch)
        result.failures += describe_mismatches(result.sample)
    drill = backup_set.drill
    files, total = measure_tree(scratch)
    result.floors = {
        "files": files,
        "bytes": total,
        "min_files": drill.min_files,
        "min_bytes": drill.min_bytes,
        "ok": files >= drill.min_files and total >= drill.min_bytes,
    }
    if not result.floors["ok"]:
        result.failures.append(
            f"restored {files} files / {total} bytes, below the floor of {drill.min_files} / {drill.min_bytes}"
        )
    hook_env = context.hook_env(set_name, host) | {"SEAWALL_RESTORE": str(scratch)}
    timeout = backup_set.rto.total_seconds() + 60
    first = context.folder(backup_set.paths[0]).resolve()
    places = {"restore": str(scratch), "path": str(scratch / first.relative_to(first.anchor))}
    for command in drill.checks:
        started = time.monotonic()
        try:
            run_hooks([command], "drill check", scratch, timeout, hook_env, places)
            result.checks.append({"command": command, "ok": True, "seconds": time.monotonic() - started, "detail": ""})
        except BackupError as exc:
            result.checks.append(
                {"command": command, "ok": False, "seconds": time.monotonic() - started, "detail": str(exc)}
            )
            result.failures.append(str(exc))


def _targets(backup_set: BackupSet, rto: float, rpo: float | None, result: DrillResult) -> None:
    targets = (backup_set.rto.total_seconds(), backup_set.rpo.total_seconds())
    result.rto, result.rpo, failures = judge_targets(rto, rpo, targets, result.set_name, result.host)
    result.failures += failures


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
