"""``seawall drill``: prove that backups restore, and measure RPO and RTO.

For each set and host: pick a snapshot (latest, a seeded random older one, or an id); read a rotating
slice of the repository's packs (``check --read-data-subset=k/n``, so every pack is read once every n
drills); restore into an empty scratch folder with ``--verify``; compare a sampled folder's hashes with
what the repository streams; run the set's own checks against the restored tree; measure RTO (restore
plus verification) and RPO (age of the newest snapshot) against the set's targets; record a report and
metrics. The check slice, the snapshot list and the sample run beside the restore, read-only and at a
lower CPU priority.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import logging
import random
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backup.client import LockPolicy, Restic, parse_time
from backup.hooks import run_hooks
from backup.plan import make_target, resolve
from backup.reports import record_drill
from backup.restic import (
    VERIFIED_TAG,
    ResticError,
    make_check_command,
    make_dump_command,
    make_ls_command,
    make_restore_command,
    make_snapshots_command,
    make_tag_command,
    parse_snapshots,
)
from backup.state import StateStore
from backup.verify import (
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
from seawall.model.schema import Environment
from seawall.runner import Command, stream

logger = logging.getLogger(__name__)
_RESTORING = re.compile(r"restoring <Snapshot ([0-9a-f]+) ")
Reporter = Callable[[str, str], None]
Draw = tuple[int, int]  # the seed, and how many files the sample compares at most
SIDE_NICE = 10


@dataclass(frozen=True)
class DrillOptions:
    """How to drill: which snapshot, the seed for random choices, parallel jobs, scratch folder."""

    snapshot: str = "latest"
    seed: int | None = None
    jobs: int = 1
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

    @property
    def passed(self) -> bool:
        """Return whether every step passed and both targets were met."""
        return not self.failures


def run_drills(
    env: Environment,
    project_root: Path,
    set_name: str | None,
    host: str | None,
    options: DrillOptions,
    report: Reporter | None = None,
) -> list[DrillResult]:
    """Given an environment and a selection, drill every (set, host) pair and return the results."""
    pairs = _pairs(env, set_name, host)
    scratch_root = _scratch_root(env, options.target, {name for name, _ in pairs}, project_root)
    store = StateStore(resolve(project_root, env.backup.state_dir), env.name)
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**31)
    with ThreadPoolExecutor(max_workers=max(1, options.jobs) + 2) as pool:
        checks = {
            name: pool.submit(_check_slice, env, name, project_root, store) for name in sorted({n for n, _ in pairs})
        }
        with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as drills:
            futures = [
                drills.submit(_drill, env, name, each, project_root, options, seed, scratch_root, checks[name], report)
                for name, each in pairs
            ]
            results = [future.result() for future in futures]
    for result in results:
        _mark_verified(env, project_root, result)
        result.report_path = record_drill(env, project_root, result)
    if options.target is None and not options.keep:
        shutil.rmtree(scratch_root, ignore_errors=True)
    return results


def _beside(command: Command) -> Command:
    """Given a read-only command that runs beside a restore, return it at a lower CPU priority.

    The restore is what RTO measures and it keeps the CPUs busy; the check slice, the listing and the
    sample use what it leaves idle instead of slowing it down.
    """
    return dataclasses.replace(command, nice=SIDE_NICE)


def _pairs(env: Environment, set_name: str | None, host: str | None) -> list[tuple[str, str]]:
    if set_name is not None and set_name not in env.backup_sets:
        raise ConfigError([f"{env.name} has no backup set {set_name!r} (known: {', '.join(sorted(env.backup_sets))})"])
    names = sorted(env.backup_sets) if set_name is None else [set_name]
    pairs = [(name, each) for name in names for each in env.hosts_of_set(name) if host is None or each == host]
    if not pairs:
        raise ConfigError([f"{env.name} has nothing to drill for the given --set/--host"])
    return pairs


def _scratch_root(env: Environment, target: Path | None, sets: set[str], project_root: Path) -> Path:
    if target is None:
        return Path(tempfile.mkdtemp(prefix=f"seawall-drill-{env.name}-"))
    target = target.resolve()
    if target.exists() and any(target.iterdir()):
        raise ConfigError([f"--target {target} is not empty: a drill restores only into an empty folder"])
    for name in sets:
        for source in env.backup_sets[name].paths:
            live = resolve(project_root, source).resolve()
            if target == live or target.is_relative_to(live) or live.is_relative_to(target) or target == Path("/"):
                raise ConfigError(
                    [f"--target {target} overlaps {live}, a live path of set {name}: choose a scratch folder"]
                )
    target.mkdir(parents=True, exist_ok=True)
    return target


def _check_slice(env: Environment, set_name: str, project_root: Path, store: StateStore) -> CheckSlice:
    slices = env.backup_sets[set_name].drill.read_data_slices
    state = store.read("drills", set_name)
    read = [k for k in state.get("slices_read", []) if 1 <= k <= slices] if state.get("slices") == slices else []
    k = int(state.get("next", 1)) if state.get("slices") == slices else 1
    restic = Restic(make_target(env, set_name, project_root))
    started = time.monotonic()
    try:
        restic.execute(_beside(make_check_command(restic.target, f"{k}/{slices}", lock=False)))
        ok, detail = True, ""
    except ResticError as exc:
        ok, detail = False, str(exc)
    seconds = time.monotonic() - started
    if ok:
        read = sorted({*read, k})
    coverage = len(read) / slices
    following = {"slices": slices, "next": k % slices + 1, "slices_read": [] if coverage >= 1 else read}
    store.write(following, "drills", set_name)
    return CheckSlice(f"{k}/{slices}", ok, seconds, coverage, read, detail)


def _drill(
    env: Environment,
    set_name: str,
    host: str,
    project_root: Path,
    options: DrillOptions,
    seed: int,
    scratch_root: Path,
    check: Future[CheckSlice],
    report: Reporter | None,
) -> DrillResult:
    say = report or (lambda _key, _step: None)
    key = f"{set_name} on {host}"
    target = make_target(env, set_name, project_root)
    restic = Restic(target, LockPolicy(env.backup.stale_lock_after, wait=env.backup.lock_wait.total_seconds()))
    result = DrillResult(env.name, set_name, host, target.repository, _now())
    scratch = scratch_root / f"{set_name}--{host}"
    scratch.mkdir(parents=True, exist_ok=False)
    try:
        with ThreadPoolExecutor(max_workers=1) as side:
            say(key, "restoring")
            most = env.backup_sets[set_name].drill.sample_files
            started = time.monotonic()
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
                chosen = _by_id(snapshots, holder.get("id", ""), set_name, host)
            else:
                snapshots = parse_snapshots(restic.execute(make_snapshots_command(target, set_name, host)).stdout)
                chosen = _choose(snapshots, options.snapshot, seed, set_name, host)
                started = time.monotonic()
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
                "verified_before": VERIFIED_TAG in (chosen.get("tags") or []),
            }
            say(key, "verifying")
            _verify(env, set_name, host, scratch, project_root, sampled, result)
            rto = time.monotonic() - started
        newest = parse_time(str(snapshots[-1]["time"]))
        rpo = (dt.datetime.now(dt.UTC) - newest).total_seconds()
        _targets(env, set_name, rto, rpo, result)
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
    lines = restic.execute(_beside(make_ls_command(restic.target, "latest", host, set_name))).stdout.splitlines()
    restored.wait()
    snapshot = json.loads(lines[0]) if lines and lines[0].startswith("{") else {}
    if "id" not in holder:
        return [snapshot] if snapshot else [], (None, {}, "")
    if not str(snapshot.get("id", "")).startswith(holder["id"]):
        lines = restic.execute(_beside(make_ls_command(restic.target, holder["id"]))).stdout.splitlines()
        snapshot = json.loads(lines[0])
    return [snapshot], _sample_listing(restic, holder["id"], lines[1:], draw)


def _by_id(snapshots: list[dict[str, Any]], short_id: str, set_name: str, host: str) -> dict[str, Any]:
    if not short_id:
        msg = f"restic did not say which snapshot of {set_name} on {host} it restored"
        raise BackupError(msg)
    return _choose(snapshots, short_id, 0, set_name, host)


def _choose(snapshots: list[dict[str, Any]], wanted: str, seed: int, set_name: str, host: str) -> dict[str, Any]:
    if not snapshots:
        msg = f"{host} has no snapshot of {set_name} to drill: run `seawall backup run` first"
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


def _sample(restic: Restic, snapshot: str, draw: Draw) -> tuple[str | None, dict[str, str], str]:
    """List the snapshot, draw a folder and hash what the repository streams of it."""
    listing = restic.execute(_beside(make_ls_command(restic.target, snapshot))).stdout.splitlines()
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
    outcome, digests = stream(_beside(make_dump_command(restic.target, snapshot, folder)), hash_tar_stream)
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
    started = time.monotonic()
    host, set_name = scope or (None, None)
    try:
        restic.execute_waiting_for_locks(
            lambda: make_restore_command(restic.target, snapshot, str(scratch), host=host, set_name=set_name), on_line
        )
    except ResticError as exc:
        result.restore = {"ok": False, "seconds": time.monotonic() - started, "detail": str(exc)}
        msg = f"restore with --verify failed: {exc}"
        raise BackupError(msg) from None
    result.restore = {"ok": True, "seconds": time.monotonic() - started, "verify": True, "detail": ""}


def _verify(
    env: Environment,
    set_name: str,
    host: str,
    scratch: Path,
    project_root: Path,
    sample: tuple[str | None, dict[str, str], str],
    result: DrillResult,
) -> None:
    folder, digests, problem = sample
    if problem:
        result.failures.append(problem)
    if folder is not None and digests:
        result.sample = compare_sample(folder, digests, scratch)
        result.failures += describe_mismatches(result.sample)
    drill = env.backup_sets[set_name].drill
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
    hook_env = {
        "SEAWALL_ENVIRONMENT": env.name,
        "SEAWALL_SET": set_name,
        "SEAWALL_HOST": host,
        "SEAWALL_RESTORE": str(scratch),
    }
    timeout = env.backup_sets[set_name].rto.total_seconds() + 60
    first = resolve(project_root, env.backup_sets[set_name].paths[0]).resolve()
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


def _targets(env: Environment, set_name: str, rto: float, rpo: float, result: DrillResult) -> None:
    backup_set = env.backup_sets[set_name]
    result.rto = {
        "seconds": round(rto, 3),
        "target_seconds": backup_set.rto.total_seconds(),
        "ok": rto <= backup_set.rto.total_seconds(),
    }
    result.rpo = {
        "seconds": round(rpo, 3),
        "target_seconds": backup_set.rpo.total_seconds(),
        "ok": rpo <= backup_set.rpo.total_seconds(),
    }
    if not result.rto["ok"]:
        result.failures.append(
            f"RTO missed: restore and verification took {rto:.1f}s, the target is {result.rto['target_seconds']:.0f}s"
        )
    if not result.rpo["ok"]:
        result.failures.append(
            f"RPO missed: the newest snapshot is {rpo:.0f}s old, the target is {result.rpo['target_seconds']:.0f}s"
        )


def _mark_verified(env: Environment, project_root: Path, result: DrillResult) -> None:
    """Tag a passed drill's snapshot as verified, and untag the host's older verified snapshots."""
    if not result.passed or not result.snapshot or result.snapshot["verified_before"]:
        return
    target = make_target(env, result.set_name, project_root)
    restic = Restic(target, LockPolicy(env.backup.stale_lock_after, wait=env.backup.lock_wait.total_seconds()))
    try:
        if len(result.listing) < 2:
            found = restic.execute(make_snapshots_command(target, result.set_name, result.host)).stdout
            result.listing = parse_snapshots(found)
        chosen_time = str(result.snapshot["time"])
        verified = [
            s for s in result.listing if VERIFIED_TAG in (s.get("tags") or []) and s["id"] != result.snapshot["id"]
        ]
        newest = max([chosen_time, *(str(s["time"]) for s in verified)])
        stale = [s for s in verified if str(s["time"]) < newest]
        if chosen_time == newest:
            restic.execute_waiting_for_locks(
                lambda: make_tag_command(target, result.snapshot["id"], add=[VERIFIED_TAG])
            )
        for older in stale:
            untag = functools.partial(make_tag_command, target, str(older["id"]), remove=[VERIFIED_TAG])
            restic.execute_waiting_for_locks(untag)
    except ResticError as exc:
        logger.warning(
            "the drill passed, but marking snapshot %s verified failed: %s", result.snapshot["short_id"], exc
        )


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
