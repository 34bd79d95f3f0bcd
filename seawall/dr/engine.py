"""The rehearsal over an executor: fresh machines, the host steps, every set restored in place, checked and
timed.

For each host, one after another: a fresh machine (``boot``), the deploy's own host steps (``host_steps``),
the host's Seawall timers stopped (a rehearsal host never backs up or prunes as the host it stands in for),
then for each set: its snapshots listed on the new host (``seawall snapshots``, which names the drill that
verified each one), the snapshot chosen (``plan.choose_snapshots``), ``seawall restore --in-place`` (the set's
hooks: the postgres set loads its dump into the fresh database), the set's drill checks against the live
paths, and the time from the host's rebuild to that set's data verified; last, the service's own health (its
units active). The executor is the seam: the lab's containers (``tests/lab/dr.py``) or a temporary stack in
the DR region (``seawall.dr.stack``). Whatever happens, what the rehearsal created is torn down unless
``keep`` (a signal tears it down regardless) before the result is returned or the error raised.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from seawall.backup.client import parse_time
from seawall.dr.plan import AUTO, choose_snapshots, judge_set, runbook
from seawall.errors import Interrupted
from seawall.hostfiles import CREDENTIALS_FILE, HOST_ENVIRONMENTS, SEAWALL_BIN, VAULT_CREDENTIALS_FILE
from seawall.model.schema import Environment
from seawall.model.types import split_command

logger = logging.getLogger(__name__)
PRIMARY, COPY = "primary", "copy"


@dataclass(frozen=True)
class Ran:
    """What one command on a rebuilt host did."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def last_line(self) -> str:
        """Return the last line of its error output (or of its output), where a command says why it failed."""
        lines = [line for line in (self.stderr or self.stdout).splitlines() if line.strip()]
        return lines[-1].strip() if lines else f"exit {self.returncode}"


class StepFailed(Exception):
    """A host step failed on the new machine: its name and what it said."""

    def __init__(self, step: str, detail: str) -> None:
        self.step = step
        self.detail = detail
        super().__init__(f"host step {step} failed: {detail}")


class Machines(Protocol):
    """The seam: where a rehearsal gets fresh machines, runs the deploy's host steps and commands on them, and
    what it tears down; ``seawall`` is the shell line that runs Seawall on a new machine (``host_seawall_line``
    on real hosts). ``kind`` names it in the report (``lab``, ``digitalocean``), ``stack`` what it made."""

    kind: str
    stack: str

    def boot(self, host: str) -> None: ...

    def host_steps(self, host: str) -> list[tuple[str, float]]: ...

    def run(self, host: str, command: str) -> Ran: ...

    def seawall(self, source: str, args: tuple[str, ...]) -> str: ...

    def tear_down(self) -> None: ...


@dataclass(frozen=True)
class Request:
    """What to rehearse: the hosts, the snapshot pick, the repositories (``primary`` or the off-site
    ``copy``), whether to keep the machines, and the issue the restores are logged under."""

    hosts: list[str]
    snapshot: str = AUTO
    source: str = PRIMARY
    keep: bool = False
    issue: str = "dr-rehearsal"


@dataclass
class Step:
    """One timed step of a host's rebuild."""

    name: str
    seconds: float
    ok: bool = True
    detail: str = ""


@dataclass
class SetOutcome:
    """One set on one rebuilt host: the snapshot restored and its age (the achieved RPO), the time from the
    host's rebuild to its data verified (the measured RTO) against its targets, its checks, and what failed."""

    set_name: str
    host: str
    rto_target: float
    rpo_target: float
    snapshot: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    age_seconds: float | None = None
    restore_seconds: float = 0.0
    verified_after: float | None = None  # from the host's rebuild
    verified_at: float | None = None  # from the rehearsal's start
    checks: list[dict[str, Any]] = field(default_factory=list)
    rto_ok: bool = False
    rpo_ok: bool = False
    error: str | None = None
    kind: str = ""

    @property
    def passed(self) -> bool:
        return self.error is None and self.rto_ok and self.rpo_ok


@dataclass
class HostOutcome:
    """One rebuilt host: its steps, its sets, its service's health and what stopped it."""

    host: str
    steps: list[Step] = field(default_factory=list)
    sets: list[SetOutcome] = field(default_factory=list)
    health: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    kind: str = ""


@dataclass
class Rehearsal:
    """A whole rehearsal: where, when, what each host and set came to, and every failure with its runbook."""

    environment: str
    request: Request
    machines: str
    stack: str
    started: str
    recovery_target: float
    hosts: list[HostOutcome] = field(default_factory=list)
    finished: str = ""
    seconds: float = 0.0
    verified_after: float | None = None
    interrupted: str | None = None
    failures: list[dict[str, str]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures and self.interrupted is None


def host_seawall_line(source: str, args: tuple[str, ...]) -> str:
    """Given the repositories and Seawall's arguments, return the shell line that runs a host's own Seawall
    (``/opt/seawall``) with its credentials files (the copy's too for ``copy``, where the host holds them):
    the secrets come from root-only files on the host, never from this command line."""
    files = [CREDENTIALS_FILE, *([VAULT_CREDENTIALS_FILE] if source == COPY else [])]
    load = "; ".join(f"[ -r {f} ] && . {f}" for f in files)
    return f"set -a; {load}; set +a; " + shlex.join([SEAWALL_BIN, "--environments", HOST_ENVIRONMENTS, *args])


def _seawall(machines: Machines, source: str, *args: str) -> str:
    return machines.seawall(source, (*args, *(["--from", COPY] if source == COPY else [])))


def listing_args(env_name: str, set_name: str, host: str) -> tuple[str, ...]:
    """Given a set and host, return Seawall's arguments that list its snapshots as JSON."""
    return ("snapshots", env_name, "--set", set_name, "--host", host, "--format", "json")


def restore_args(env_name: str, set_name: str, host: str, snapshot: str, issue: str) -> tuple[str, ...]:
    """Given a set, host and snapshot id, return Seawall's arguments that restore it in place (with the set's
    hooks) and log it under the issue."""
    return ("restore", env_name, "--set", set_name, "--host", host, "--snapshot", snapshot, "--in-place", "--yes",
            "--issue", issue)  # fmt: skip


def make_check_line(text: str, first_path: str) -> str:
    """Given a drill check (``{restore}`` the scratch folder, ``{path}`` the set's first path in it), return it
    against the live paths of the rebuilt host: ``{restore}`` is the root; the words are quoted as the model
    wrote them (a check runs without a shell's interpretation)."""
    words = [word.replace("{path}", first_path).replace("{restore}", "") for word in split_command(text)]
    return shlex.join(words)


QUIESCE = "systemctl stop 'seawall-*.timer'"


def rehearse(
    env: Environment,
    request: Request,
    machines: Machines,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> Rehearsal:
    """Given an environment, a request and the machines to rebuild on, rehearse every host and return the
    result; what was created is torn down unless ``keep`` (always on a signal), before returning or raising."""
    result = Rehearsal(
        env.name,
        request,
        machines.kind,
        machines.stack,
        _stamp(now()),
        env.dr.recovery_target.total_seconds(),
    )
    started = clock()
    try:
        for host in request.hosts:
            outcome = HostOutcome(host)
            result.hosts.append(outcome)
            _rebuild(env, request, machines, outcome, clock, now, started)
            if outcome.kind in ("boot", "host-step"):
                break  # the new machines cannot be trusted to be what the model says: stop here
    except Interrupted as exc:
        result.interrupted = str(exc)
        _finish(result, clock() - started, now())
        _tear_down(machines, result, keep=False)
        raise
    except BaseException:
        _finish(result, clock() - started, now())
        _tear_down(machines, result, request.keep)
        raise
    _finish(result, clock() - started, now())
    _judge(env, result)
    _tear_down(machines, result, request.keep)
    return result


def _finish(result: Rehearsal, seconds: float, moment: dt.datetime) -> None:
    result.seconds, result.finished = seconds, _stamp(moment)


def _rebuild(
    env: Environment,
    request: Request,
    machines: Machines,
    outcome: HostOutcome,
    clock: Callable[[], float],
    now: Callable[[], dt.datetime],
    origin: float,
) -> None:
    host = outcome.host
    began = clock()
    if not _timed(outcome, "boot", clock, lambda: machines.boot(host)):
        return
    try:
        steps = machines.host_steps(host)
    except StepFailed as exc:
        outcome.error, outcome.kind = f"host step {exc.step} failed on the new {host}: {exc.detail}", "host-step"
        outcome.steps.append(Step(f"host step {exc.step}", 0.0, False, exc.detail))
        return
    outcome.steps += [Step(f"host step {name}", seconds) for name, seconds in steps]
    quiet = machines.run(host, QUIESCE)
    outcome.steps.append(Step("stop the host's timers", 0.0, quiet.ok, "" if quiet.ok else quiet.last_line()))
    if not quiet.ok:  # it would back up and prune as the host it stands in for: restore nothing onto it
        outcome.error, outcome.kind = f"stopping the new {host}'s timers failed: {quiet.last_line()}", "host-step"
        return
    for set_name in env.host_sets(host):
        backup_set = env.backup_sets[set_name]
        rehearsed = SetOutcome(set_name, host, backup_set.rto.total_seconds(), backup_set.rpo.total_seconds())
        outcome.sets.append(rehearsed)
        _restore_set(env, request, machines, rehearsed, now)
        if rehearsed.error is None:
            rehearsed.verified_after = clock() - began
            rehearsed.verified_at = clock() - origin
            rehearsed.rto_ok, rehearsed.rpo_ok = judge_set(
                rehearsed.verified_after, rehearsed.age_seconds or 0.0, rehearsed.rto_target, rehearsed.rpo_target
            )
        outcome.steps.append(Step(f"restore and check {set_name}", rehearsed.restore_seconds, rehearsed.error is None))
    _health(env, machines, outcome)


def _timed(outcome: HostOutcome, name: str, clock: Callable[[], float], action: Callable[[], None]) -> bool:
    started = clock()
    try:
        action()
    except StepFailed as exc:
        outcome.steps.append(Step(name, clock() - started, False, exc.detail))
        outcome.error, outcome.kind = f"{name} of the new {outcome.host} failed: {exc.detail}", "boot"
        return False
    outcome.steps.append(Step(name, clock() - started))
    return True


def _restore_set(
    env: Environment, request: Request, machines: Machines, outcome: SetOutcome, now: Callable[[], dt.datetime]
) -> None:
    """List, choose, restore in place (the newest verified snapshot when the newest does not restore and the
    pick allows it), then the set's checks; every failure named on the outcome."""
    started = time.monotonic()
    listed = machines.run(
        outcome.host, _seawall(machines, request.source, *listing_args(env.name, outcome.set_name, outcome.host))
    )
    if not listed.ok:
        outcome.error, outcome.kind = f"listing the snapshots failed: {listed.last_line()}", "snapshot"
        return
    rows = json.loads(listed.stdout or "{}").get("snapshots", [])
    choice = choose_snapshots(rows, request.snapshot, outcome.set_name, outcome.host, env.name, now())
    if choice.error is not None:
        outcome.error, outcome.kind = choice.error, "snapshot"
        return
    outcome.note = choice.note
    failed: list[str] = []
    for row in choice.tries:
        args = restore_args(env.name, outcome.set_name, outcome.host, str(row["id"]), request.issue)
        line = _seawall(machines, request.source, *args)
        restored = machines.run(outcome.host, line)
        if restored.ok:
            outcome.snapshot = {k: row.get(k) for k in ("id", "short_id", "time", "verified_by")}
            outcome.age_seconds = max(0.0, (now() - parse_time(str(row["time"]))).total_seconds())
            break
        failed.append(f"snapshot {row['short_id']} did not restore: {restored.last_line()}")
        logger.warning("%s of %s on %s: %s", request.snapshot, outcome.set_name, outcome.host, failed[-1])
    if not outcome.snapshot:
        outcome.error, outcome.kind = "; ".join(failed), "restore"
        return
    if failed:
        outcome.note = f"{failed[0]}; restored the newest verified snapshot {outcome.snapshot['short_id']} instead"
    first_path = env.backup_sets[outcome.set_name].paths[0]
    for text in env.backup_sets[outcome.set_name].drill.checks:
        ran = machines.run(outcome.host, make_check_line(text, first_path))
        outcome.checks.append({"command": text, "ok": ran.ok, "detail": "" if ran.ok else ran.last_line()})
    bad = [check["command"] for check in outcome.checks if not check["ok"]]
    if bad:
        outcome.error, outcome.kind = f"check {bad[0]!r} failed on the restored data", "check"
    outcome.restore_seconds = time.monotonic() - started


def _health(env: Environment, machines: Machines, outcome: HostOutcome) -> None:
    """The service's own health on its rebuilt droplet: each of its units active."""
    service_name = outcome.host.rpartition("-")[0]
    service = env.services.get(service_name) if outcome.host not in env.datacenter_hosts else None
    for unit in service.units if service is not None else []:
        ran = machines.run(outcome.host, shlex.join(["systemctl", "is-active", unit]))
        outcome.health.append({"unit": unit, "ok": ran.ok, "state": ran.stdout.strip() or ran.last_line()})
    down = [entry["unit"] for entry in outcome.health if not entry["ok"]]
    if down and outcome.error is None:
        outcome.error, outcome.kind = f"{', '.join(down)} not active on the rebuilt {outcome.host}", "health"


def _judge(env: Environment, result: Rehearsal) -> None:
    """Every failure of the rehearsal, one line each with the runbook to follow; the total time to data
    verified against the environment's recovery target."""
    for host in result.hosts:
        if host.error is not None:
            result.failures.append(_failure(env, host.kind, host.host, "", host.error))
        for rehearsed in host.sets:
            if rehearsed.error is not None:
                result.failures.append(_failure(env, rehearsed.kind, host.host, rehearsed.set_name, rehearsed.error))
                continue
            if not rehearsed.rto_ok:
                message = (
                    f"RTO missed: data verified after {rehearsed.verified_after:.0f}s, the target is "
                    f"{rehearsed.rto_target:.0f}s"
                )
                result.failures.append(_failure(env, "rto", host.host, rehearsed.set_name, message))
            if not rehearsed.rpo_ok:
                age = rehearsed.age_seconds or 0.0
                message = f"RPO missed: the snapshot was {age:.0f}s old, the target is {rehearsed.rpo_target:.0f}s"
                result.failures.append(_failure(env, "rpo", host.host, rehearsed.set_name, message))
    times = [s.verified_at for h in result.hosts for s in h.sets if s.verified_at is not None]
    result.verified_after = max(times) if times else None
    if result.verified_after is not None and result.verified_after > result.recovery_target:
        message = (
            f"recovery target missed: every set verified after {result.verified_after:.0f}s, the target is "
            f"{result.recovery_target:.0f}s"
        )
        result.failures.append(_failure(env, "recovery-target", "", "", message))


def _failure(env: Environment, kind: str, host: str, set_name: str, message: str) -> dict[str, str]:
    return {"kind": kind, "host": host, "set": set_name, "message": message, "runbook": runbook(env, kind)}


def _tear_down(machines: Machines, result: Rehearsal, keep: bool) -> None:
    if keep:
        logger.warning("--keep: the rebuilt hosts of %s (%s) are left running", result.environment, result.stack)
        return
    try:
        machines.tear_down()
    except Exception as exc:  # the rehearsal's result stands; what is left is named
        message = f"tearing down {result.stack} failed, remove it by hand: {exc}"
        result.failures.append({"kind": "tear-down", "host": "", "set": "", "message": message, "runbook": ""})


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")
