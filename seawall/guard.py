"""Guard rails before any deploy: pure functions over (now, operator, environment, ledger).

Each rule returns a verdict naming the rule, whether it allows the deploy, why, and how to proceed. The
clock and the identity come in as arguments, so every rule is tested with a frozen clock. ``GUARD_RULES``
is the table of rules (as ``seawall.policies.RULES`` is of the policies): a new rule is a function and a
row, and ``seawall guard``, ``seawall up`` and the program's own gate all run it.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from seawall.errors import SeawallError
from seawall.ledger import LedgerEntry
from seawall.model.schema import Environment
from seawall.releases import ReleaseEntry, release_digests, releases_of, repointed

# The days a week time (``Thu 00:00``, the freeze window's bounds) starts with, from Monday.
WEEKTIME_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_ISSUE = re.compile(r"^(https?://\S+/(issues|pull|merge_requests)/\d+|[\w.-]+/[\w.-]+#\d+)$")


class GuardError(SeawallError):
    """The rules cannot judge a request: its time is not on the calendar of the release time zone."""


@dataclass(frozen=True)
class DeployRequest:
    """Who wants to deploy what, when, and why."""

    environment: str
    now: dt.datetime
    operator: str | None = None
    identity: str | None = None
    identity_source: str = "none"
    issue: str | None = None
    emergency: bool = False
    incident: str | None = None
    priority: str | None = None
    # What the reports repository says of ``incident`` (looked up by the caller): its severity and
    # whether it is open; None when it is not there.
    incident_severity: str | None = None
    incident_open: bool = False


@dataclass(frozen=True)
class Verdict:
    """One rule's answer."""

    rule: str
    allowed: bool
    reason: str
    how: str = ""


def minute_of_week(text: str) -> int:
    """Given ``Thu 00:00`` or ``Sun 24:00``, return minutes since Monday 00:00."""
    day, _, clock = text.partition(" ")
    hours, _, minutes = clock.partition(":")
    return WEEKTIME_DAYS.index(day) * 1440 + int(hours) * 60 + int(minutes)


def release_time(env: Environment, now: dt.datetime) -> dt.datetime:
    """Given an environment and an aware time, return that instant on the release time zone's clock; raise
    GuardError when it falls outside the years 1 to 9999 there (the calendar Python represents).

    ``astimezone`` goes through UTC, which can leave the calendar where the release zone does not (just
    before 0001-01-01 in UTC is still year 1 in a zone ahead of it): then the time is moved a day inward,
    converted, and moved back on the zone's clock; the result is kept only when it is the same instant.
    """
    zone = zoneinfo.ZoneInfo(env.release.timezone)
    try:
        return now.astimezone(zone)
    except OverflowError:
        pass
    inward = dt.timedelta(days=1 if now.year == 1 else -1)
    try:
        local = (now + inward).astimezone(zone) - inward
    except OverflowError:
        local = None
    if local is None or local != now:
        msg = f"{now.isoformat()} is outside the years 1 to 9999 in {env.release.timezone} (the release time zone)"
        raise GuardError(msg)
    return local


def in_freeze(env: Environment, now: dt.datetime) -> bool:
    """Given an environment and an aware time, return whether the time falls in its freeze window (read on
    the release time zone's clock; GuardError when the time is not on its calendar)."""
    if env.name not in env.release.freeze.environments:
        return False
    local = release_time(env, now)
    minute = local.weekday() * 1440 + local.hour * 60 + local.minute
    start, end = minute_of_week(env.release.freeze.starts), minute_of_week(env.release.freeze.ends)
    if start <= end:
        return start <= minute < end
    return minute >= start or minute < end


def check_freeze(env: Environment, request: DeployRequest) -> Verdict:
    """No releases to frozen environments inside the window, except a recorded emergency."""
    freeze = env.release.freeze
    window = f"{freeze.starts} – {freeze.ends} {env.release.timezone}"
    if request.emergency and not request.incident:
        return Verdict(
            "freeze-window",
            False,
            "--emergency needs the incident it answers",
            "add --incident ID (the incident issue); the bypass is recorded in the ledger",
        )
    if request.emergency and (refusal := _incident_refusal(env, request)):
        return Verdict(
            "freeze-window", False, refusal, "an emergency deploy answers an open Critical or Major incident"
        )
    if not in_freeze(env, request.now):
        return Verdict(
            "freeze-window",
            True,
            f"outside the freeze window ({window})"
            if env.name in freeze.environments
            else f"{env.name} has no freeze window",
        )
    if request.emergency:
        return Verdict(
            "freeze-window",
            True,
            f"inside the freeze window ({window}), bypassed for incident {request.incident}; recorded in the ledger",
        )
    return Verdict(
        "freeze-window",
        False,
        f"no releases to {env.name} during the freeze window ({window})",
        "wait for the window to end, or for a production incident use --emergency --incident ID",
    )


def _incident_refusal(env: Environment, request: DeployRequest) -> str:
    """Return why the emergency's incident does not allow it ('' when it does)."""
    if request.incident_severity is None:
        opening = f"seawall incident new {env.name} --severity critical --title TITLE"
        return (
            f"incident {request.incident} is not in the reports repository: open it with `{opening}` (or "
            "--severity major) and give the id it prints to --incident"
        )
    if not request.incident_open:
        return f"incident {request.incident} is closed"
    if request.incident_severity not in ("Critical", "Major"):
        return f"incident {request.incident} is {request.incident_severity}: only Critical and Major allow an emergency"
    return ""


def check_operator(env: Environment, request: DeployRequest) -> Verdict:
    """Only the ops team deploys to protected tiers; the declared operator must match the identity."""
    tier = env.environment.tier
    if tier not in env.release.protected_tiers:
        return Verdict("authorized-operator", True, f"{tier} is not a protected tier")
    operators = env.release.operators
    if not request.operator:
        return Verdict(
            "authorized-operator",
            False,
            f"{env.name} is {tier}: the operator must be named",
            f"add --operator NAME (one of: {', '.join(operators)})",
        )
    if request.operator not in operators:
        return Verdict(
            "authorized-operator",
            False,
            f"{request.operator!r} is not an ops-team operator of {env.name}",
            f"ask one of {', '.join(operators)} to deploy, or add the operator to release.operators",
        )
    if request.identity_source == "ci" and request.identity != request.operator:
        reason = f"--operator {request.operator} does not match the CI identity {request.identity!r}"
        return Verdict(
            "authorized-operator", False, reason, "deploy as yourself: --operator must be who runs the deploy"
        )
    note = ""
    if request.identity_source != "ci":
        seen = f"git says {request.identity!r}" if request.identity else "no identity found"
        note = f" (advisory outside CI: {seen})"
    return Verdict("authorized-operator", True, f"{request.operator} is an ops-team operator{note}")


def check_issue(env: Environment, request: DeployRequest) -> Verdict:
    """Every deploy names the issue that logs it."""
    if not env.release.require_issue:
        return Verdict("issue-reference", True, "issue references are not required here")
    protected = env.environment.tier in env.release.protected_tiers
    if request.issue and _ISSUE.match(request.issue.strip()):
        if protected and not request.priority:
            return Verdict(
                "issue-reference",
                False,
                f"{env.name} is {env.environment.tier}: the issue's priority must be named",
                "add --priority critical|major|minor (the issue's priority label)",
            )
        priority = f" ({request.priority})" if request.priority else ""
        return Verdict("issue-reference", True, f"logged as {request.issue}{priority}")
    problem = "no issue reference" if not request.issue else f"{request.issue!r} is not an issue reference"
    return Verdict(
        "issue-reference",
        False,
        problem,
        "add --issue URL (https://…/issues/N or owner/repo#N) of the change, with its priority label",
    )


@dataclass(frozen=True)
class DrillEvidence:
    """The last drill of one backup set on one host, as the environment's backup state records it (``time`` is ''
    when it never drilled)."""

    set: str
    host: str
    time: str
    passed: bool


def check_promotion(
    env: Environment,
    predecessor: Sequence[LedgerEntry] | None,
    conflict: str | None = None,
    releases: Sequence[ReleaseEntry] = (),
    drills: Sequence[DrillEvidence] | None = None,
) -> Verdict:
    """Protected tiers only receive what the predecessor environment proved, by its own ledger copies (refused
    when they disagree): a service with an artifact by digest (the digest its version is released as ran there,
    its health checks passing, and every drill there passed since), any other by its version string."""
    before = env.environment.predecessor
    if env.environment.tier not in env.release.protected_tiers or before is None:
        return Verdict("promotion", True, "no promotion rule for this environment")
    if conflict is not None:
        return Verdict(
            "promotion",
            False,
            conflict,
            f"find out which copy is right (`seawall ledger {before}` shows which copy holds each entry), then make "
            "both hold the same deploys",
        )
    succeeded = [entry for entry in predecessor or [] if entry.result == "succeeded"]
    missing = _unproven_versions(env, succeeded)
    unproven, proven_at = _unproven_digests(env, succeeded, releases)
    if missing or unproven:
        named = [f"never deployed successfully to {before}: {', '.join(missing)}"] if missing else []
        return Verdict(
            "promotion",
            False,
            "; ".join([*named, *unproven]),
            f"deploy these to {before} first (seawall up {before}), let its health checks and drills pass, then "
            "promote",
        )
    if proven_at is not None and (stale := _drills_not_passed_since(drills, proven_at)):
        return Verdict(
            "promotion",
            False,
            f"{before}'s drills have not all passed since its digests ran there ({proven_at}): {stale}",
            f"run `seawall drill {before}` (or wait for its schedule) and fix what fails, then promote",
        )
    by_digest = " (by digest, health checks and drills)" if proven_at is not None else ""
    return Verdict("promotion", True, f"everything was deployed successfully to {before}{by_digest}")


def _unproven_versions(env: Environment, succeeded: Sequence[LedgerEntry]) -> list[str]:
    """Return the services without an artifact whose version no succeeded deploy of the predecessor ran."""
    proven: dict[str, set[str]] = {}
    for entry in succeeded:
        for service, version in entry.versions.items():
            proven.setdefault(service, set()).add(version)
    return [
        f"{name} {service.version}"
        for name, service in sorted(env.services.items())
        if service.artifact is None and service.version not in proven.get(name, set())
    ]


def _unproven_digests(
    env: Environment, succeeded: Sequence[LedgerEntry], releases: Sequence[ReleaseEntry]
) -> tuple[list[str], str | None]:
    """Return why each service with an artifact is not proven on the predecessor (its digest never ran there
    with its health checks passing; a version that ran there as another digest is named as re-pointed), and
    when the last of them was first proven (None without artifacts)."""
    before = env.environment.predecessor
    wanted = {name: service for name, service in sorted(env.services.items()) if service.artifact is not None}
    digests = release_digests(releases, {name: service.version for name, service in wanted.items()})
    problems, times = [], []
    for name, service in wanted.items():
        digest = digests.get(name)
        if digest is None:
            problems.append(f"{name} {service.version} has no release (`seawall release build {name}`)")
            continue
        artifact = service.artifact
        needs_health = service.health is not None and artifact is not None and artifact.rollout_port is not None
        ran = [e for e in succeeded if e.digests.get(name) == digest and (name in e.healthy or not needs_health)]
        if ran:
            times.append(min(_moment(e.time) for e in ran))
            continue
        other = sorted(
            {
                e.digests[name]
                for e in succeeded
                if e.versions.get(name) == service.version and e.digests.get(name, digest) != digest
            }
        )
        if other:
            problems.append(
                f"{name} {service.version} ran on {before} as {other[0][:19]}…, not as {digest[:19]}…: the version "
                "was re-pointed at another digest"
            )
        else:
            problems.append(
                f"{name} {service.version} ({digest[:19]}…) never ran on {before} with its health checks passing"
            )
    proven_at = max(times).isoformat() if times and not problems else None
    return problems, proven_at


def _drills_not_passed_since(drills: Sequence[DrillEvidence] | None, since: str) -> str:
    """Return the predecessor's drills that did not pass after ``since`` ('' when all did)."""
    if drills is None:
        return "its drill results could not be read"
    moment = _moment(since)
    late = [
        f"{d.set} on {d.host} ({'passed' if d.passed else 'failed'} {d.time})"
        if d.time
        else f"{d.set} on {d.host} (never drilled)"
        for d in sorted(drills, key=lambda d: (d.set, d.host))
        if not d.passed or not d.time or _moment(d.time) <= moment
    ]
    return ", ".join(late[:5]) + (f" (+{len(late) - 5} more)" if len(late) > 5 else "")


def _moment(text: str) -> dt.datetime:
    """Given a recorded ISO 8601 time, return it aware (a time without an offset is UTC)."""
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def drill_evidence(documents: Mapping[tuple[str, str], Mapping[str, Any]]) -> list[DrillEvidence]:
    """Given each (set, host)'s backup state document, return its last drill as evidence."""
    evidence = []
    for (set_name, host), document in sorted(documents.items()):
        found = document.get("last_drill")
        last: Mapping[str, Any] = found if isinstance(found, dict) else {}
        time = last.get("time")
        evidence.append(
            DrillEvidence(set_name, host, time if isinstance(time, str) else "", last.get("result") == "passed")
        )
    return evidence


def check_release_digests(env: Environment, releases: Sequence[ReleaseEntry]) -> Verdict:
    """Every service with an artifact runs a released version, one digest per version (a version re-pointed at
    another digest is refused by name), and an upstream artifact's release is the digest the model pins."""
    wanted = {name: service for name, service in sorted(env.services.items()) if service.artifact is not None}
    if not wanted:
        return Verdict("release-digest", True, "no service has an artifact")
    problems = []
    for name, service in wanted.items():
        found = releases_of(releases, name, service.version)
        pinned = ((service.artifact.upstream if service.artifact else None) or "").rpartition("@")[2]
        if not found:
            problems.append(f"{name} {service.version} was never released")
        elif reason := repointed(releases, name, service.version):
            problems.append(reason)
        elif pinned and found[0].digest != pinned:
            problems.append(
                f"{name} {service.version} was released as {found[0].digest[:19]}…, not the pinned {pinned[:19]}…"
            )
    if problems:
        return Verdict(
            "release-digest",
            False,
            "; ".join(problems),
            "release each with `seawall release build SERVICE --version V` under a version of its own (a version "
            "names one image: give a changed image a new version)",
        )
    return Verdict("release-digest", True, f"every artifact is released by one digest ({', '.join(wanted)})")


def check_parity(env: Environment, violations: Sequence[str] | None) -> Verdict:
    """The environment is in parity with its predecessor."""
    before = env.environment.predecessor
    if before is None or violations is None:
        return Verdict("parity", True, "no predecessor to compare with")
    if violations:
        shown = "; ".join(violations[:5]) + (f" (+{len(violations) - 5} more)" if len(violations) > 5 else "")
        return Verdict(
            "parity",
            False,
            f"{len(violations)} parity violation(s) against {before}: {shown}",
            f"see `seawall parity {before} {env.name}`; fix the difference or allow it in parity.yaml",
        )
    return Verdict("parity", True, f"in parity with {before}")


def check_audit(findings: Sequence[str], env_name: str) -> Verdict:
    """The audit has no mandatory violation."""
    if findings:
        return Verdict(
            "audit",
            False,
            f"{len(findings)} mandatory policy violation(s): {'; '.join(findings[:5])}",
            f"see `seawall audit {env_name}` and apply each rule's remediation",
        )
    return Verdict("audit", True, "no mandatory policy violation")


@dataclass(frozen=True)
class GuardInputs:
    """Everything the release rules look at: the environment, the request, and what was found about it
    (the predecessor's ledger, parity violations, blocking audit findings)."""

    env: Environment
    request: DeployRequest
    predecessor: Sequence[LedgerEntry] | None
    parity_violations: Sequence[str] | None
    audit_findings: Sequence[str]
    evidence_conflict: str | None = None
    releases: Sequence[ReleaseEntry] = ()
    drills: Sequence[DrillEvidence] | None = None


GuardRule = Callable[[GuardInputs], Verdict]

# The release rules, in the order they are shown; each one answers, even after another refused.
GUARD_RULES: tuple[tuple[str, GuardRule], ...] = (
    ("freeze-window", lambda given: check_freeze(given.env, given.request)),
    ("authorized-operator", lambda given: check_operator(given.env, given.request)),
    ("issue-reference", lambda given: check_issue(given.env, given.request)),
    (
        "promotion",
        lambda given: check_promotion(
            given.env, given.predecessor, given.evidence_conflict, given.releases, given.drills
        ),
    ),
    ("release-digest", lambda given: check_release_digests(given.env, given.releases)),
    ("parity", lambda given: check_parity(given.env, given.parity_violations)),
    ("audit", lambda given: check_audit(given.audit_findings, given.env.name)),
)


def release_verdicts(
    env: Environment,
    request: DeployRequest,
    predecessor: Sequence[LedgerEntry] | None,
    parity_violations: Sequence[str] | None,
    audit_findings: Sequence[str],
    evidence_conflict: str | None = None,
    releases: Sequence[ReleaseEntry] = (),
    drills: Sequence[DrillEvidence] | None = None,
) -> list[Verdict]:
    """Given everything the rules need, return every rule's verdict (all rules run, even after a refusal)."""
    given = GuardInputs(
        env, request, predecessor, parity_violations, audit_findings, evidence_conflict, releases, drills
    )
    return [rule(given) for _, rule in GUARD_RULES]
