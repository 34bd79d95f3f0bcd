"""Incidents as the team's process says: a report per incident from the incident report template, in
the reports repository, prefilled with what Seawall knows, and every change to it a commit.

A report is Markdown with a YAML front matter that holds the incident's facts (id, severity, status,
roles, timeline, times). The body is rendered from ``INCIDENT_REPORT_TEMPLATE.md``; an update renders it
again and replaces only the blocks between ``<!-- seawall:NAME -->`` markers (summary, timeline,
resolution, durations), so what people wrote anywhere else in the report stays as they wrote it.

A command that changes a report holds the reports repository's lock (``ReportsRepository.locked``) from
reading the report to committing it, so that commands run at once take turns and none writes over
another's entry.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from seawall.errors import Interrupted
from seawall.files import os_reason, resolve, write_atomically
from seawall.incidents.reports_repo import AmbiguousReport, ReportsError, ReportsRepository
from seawall.ledger import LedgerEntry
from seawall.model.schema import Environment, Window, droplet_names
from seawall.model.types import SEVERITIES, WEEKDAYS, Severity
from seawall.opsdocs.measured import Measured
from seawall.runner import children
from seawall.templating import duration, template_environment, tidy_markdown

TEMPLATE = "INCIDENT_REPORT_TEMPLATE.md"
BLOCK = re.compile(r"<!-- seawall:(\w+) -->.*?<!-- /seawall:\1 -->", re.DOTALL)
FRONT = re.compile(r"\A---\n(.*?)\n---\n", re.DOTALL)
ID = re.compile(r"^INC-(\d{4})-(\d{3,})$")
ROLES = ("commander", "communications", "scribe")
# The statuses `seawall incident update --status` gives (open is where an incident starts, close ends it).
UPDATE_STATUSES = ("acknowledged", "mitigated")


@dataclass
class Incident:
    """One incident: its facts, as the report's front matter holds them."""

    id: str
    environment: str
    severity: Severity
    title: str
    opened: str
    author: str
    services: list[str] = field(default_factory=list)
    status: str = "open"
    roles: dict[str, str] = field(default_factory=dict)
    timeline: list[dict[str, str]] = field(default_factory=list)
    acknowledged: str | None = None
    mitigated: str | None = None
    resolved: str | None = None
    root_cause: str = ""
    resolution: str = ""
    deploys: list[str] = field(default_factory=list)
    escalations: list[str] = field(default_factory=list)

    @property
    def open(self) -> bool:
        """Return whether the incident is still open."""
        return self.status != "closed"

    def event(self, time: dt.datetime, author: str, kind: str, text: str) -> None:
        """Given an event, add it to the timeline."""
        self.timeline.append({"time": stamp(time), "author": author, "kind": kind, "text": text})


@dataclass(frozen=True)
class Report:
    """An incident and where its report lies."""

    incident: Incident
    path: Path


def current_status(incident: Incident) -> str:
    """Given an incident, return where it stands: closed once resolved, else the last status an update
    gave, else acknowledged once anyone answered, else open. Reports whose front matter an earlier Seawall
    left at ``open`` read the same."""
    if incident.resolved is not None or incident.status == "closed":
        return "closed"
    given = [event.get("text") for event in incident.timeline if event.get("kind") == "status"]
    statuses = [text for text in given if text in UPDATE_STATUSES]
    if statuses:
        return statuses[-1]
    return "acknowledged" if incident.acknowledged is not None else "open"


def stamp(time: dt.datetime) -> str:
    """Given an aware time, return it as the reports write times (UTC, seconds)."""
    return time.astimezone(dt.UTC).isoformat(timespec="seconds")


def parse_stamp(text: str) -> dt.datetime:
    """Given a time the reports wrote (``stamp``), return it."""
    return dt.datetime.fromisoformat(text)


def severity_named(text: str) -> Severity:
    """Given ``critical``, ``Major``…, return the severity, or raise ReportsError naming the choices."""
    for severity in SEVERITIES:
        if text.strip().lower() == severity.lower():
            return severity
    msg = f"{text!r} is not a severity: use critical, major or minor"
    raise ReportsError(msg)


def repository_of(env: Environment, project_root: Path) -> ReportsRepository:
    """Given an environment, return its reports repository."""
    return ReportsRepository(resolve(project_root, env.incidents.repository))


def read_report(path: Path) -> Report:
    """Given a report file, return the incident its front matter holds."""
    text = path.read_text(encoding="utf-8")
    match = FRONT.match(text)
    try:
        data = yaml.safe_load(match.group(1)) if match else None
        if not isinstance(data, dict):
            raise TypeError("no front matter")
        return Report(Incident(**data), path)
    except (yaml.YAMLError, TypeError) as exc:
        msg = f"{path} is not an incident report Seawall can read ({type(exc).__name__}): fix its front matter"
        raise ReportsError(msg) from None


def all_reports(repository: ReportsRepository) -> list[Report]:
    """Given the repository, return every report, oldest first."""
    return [read_report(path) for path in repository.reports()]


def find_report(repository: ReportsRepository, incident_id: str) -> Report:
    """Given an id, return its report, or raise ReportsError naming the known ones (AmbiguousReport when
    two reports carry it)."""
    repository.require_readable()
    found = [path for path in repository.reports() if f"-{incident_id}-" in path.name]
    if len(found) > 1:
        names = ", ".join(str(path.relative_to(repository.folder)) for path in found)
        msg = (
            f"{incident_id} names {len(found)} reports ({names}): two clones gave out the same id. Keep the "
            f"first; give the other the next free id (`seawall incident list` names it) in its file name and its "
            f"front matter's id, and commit that"
        )
        raise AmbiguousReport(msg)
    if found:
        return read_report(found[0])
    ids = sorted(report.incident.id for report in all_reports(repository))[-5:]
    msg = f"no incident {incident_id!r} in {repository.folder} (newest: {', '.join(ids) or 'none'})"
    raise ReportsError(msg)


def next_id(repository: ReportsRepository, now: dt.datetime) -> str:
    """Given the repository and the time, return the next id of that year (``INC-2026-007``): after every
    id of this clone and of the branch it tracks, fetched first, so that clones do not give out one id
    twice once each pushes what it opened."""
    return free_ids(repository, now.astimezone(dt.UTC).year, 1)[0]


def free_ids(repository: ReportsRepository, year: int, count: int) -> list[str]:
    """Given the repository, a year and how many, return the next ``count`` free ids of that year (after
    every id of this clone and of the branch it tracks, fetched first)."""
    ids = [report.incident.id for report in all_reports(repository)] + repository.upstream_ids()
    numbers = [int(match.group(2)) for found in ids if (match := ID.match(found)) and int(match.group(1)) == year]
    first = max(numbers, default=0) + 1
    return [f"INC-{year}-{number:03d}" for number in range(first, first + count)]


def renumbering(repository: ReportsRepository, reports: list[Report]) -> list[str]:
    """Given the repository and its reports, return what to do about each id that several reports carry
    (two clones gave it out): the first report keeps it, each other one gets its own next free id."""
    by_id: dict[str, list[Report]] = {}
    for report in reports:
        by_id.setdefault(report.incident.id, []).append(report)
    advice = []
    for incident_id, carrying in sorted(by_id.items()):
        match = ID.match(incident_id)
        if len(carrying) < 2 or match is None:
            continue
        others = carrying[1:]
        named = [str(report.path.relative_to(repository.folder)) for report in carrying]
        given = ", ".join(
            f"{name} the id {free}"
            for name, free in zip(named[1:], free_ids(repository, int(match.group(1)), len(others)), strict=True)
        )
        advice.append(
            f"{incident_id}: two clones gave out the same id ({', '.join(named)}): {named[0]} keeps it; give "
            f"{given}, in its file name and its front matter's id, and commit that"
        )
    return advice


def slug(title: str) -> str:
    """Given a title, return its file-name form (``db-1-out-of-disk``)."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:50].strip("-") or "incident"


# --- what Seawall knows, for a report ---------------------------------------------------------------


def in_window(window: Window, zone: str, now: dt.datetime) -> bool:
    """Given a window of the team's hours, return whether ``now`` falls in it."""
    local = now.astimezone(zoneinfo.ZoneInfo(zone))
    return WEEKDAYS[local.weekday()] in window.days and window.start <= local.strftime("%H:%M") < window.end


def coverage(env: Environment, severity: Severity, now: dt.datetime, escalate_to: list[str]) -> str:
    """Given the time and severity, return who answers now according to the availability windows."""
    zone = env.availability.timezone or env.release.timezone
    operators = ", ".join(env.release.operators) or "the operations team"
    if in_window(env.availability.business, zone, now):
        return f"business hours ({zone}): the operations team ({operators})"
    if in_window(env.availability.on_call, zone, now):
        on_call = ", ".join(env.incidents.on_call or env.release.operators) or "the on-call operator"
        if severity == "Critical":
            return f"on-call hours ({zone}): {on_call}"
        return f"on-call hours ({zone}), for Critical matters only: a {severity} waits for business hours"
    return f"outside coverage ({zone}): escalate to {', '.join(escalate_to) or operators}"


def circle_owners(env: Environment, services: list[str]) -> list[str]:
    """Given affected services, return whom the incident escalates to (their circle owners)."""
    named = [env.services[s].circle_owner for s in services if s in env.services]
    owners = sorted({owner for owner in named if owner})
    return owners or sorted({s.circle_owner for s in env.services.values() if s.circle_owner})


def recent_changes(entries: list[LedgerEntry], now: dt.datetime, within: dt.timedelta) -> list[dict[str, Any]]:
    """Given the ledger, return its entries of the last ``within`` before ``now``."""
    since = now - within
    return [
        {
            "time": entry.time,
            "operator": entry.operator or "-",
            "issue": entry.issue or "-",
            "result": entry.result,
            "versions": ", ".join(f"{k} {v}" for k, v in entry.versions.items()) or "-",
            "emergency": entry.emergency,
            "incident": entry.incident,
        }
        for entry in entries
        if since <= parse_stamp(entry.time) <= now
    ]


def affected(env: Environment, services: list[str], measured: Measured) -> list[dict[str, Any]]:
    """Given the affected services, return their hosts, versions and backup and drill state."""
    rows = []
    for name in services:
        if name in env.services:
            service = env.services[name]
            hosts, version, sets = droplet_names(name, service), service.version, service.backup_sets
        else:
            hosts, version, sets = [name], "-", env.datacenter_hosts[name].backup_sets
        recorded = [measured.set_host(s, host) for s in sets for host in hosts]
        rows.append({"name": name, "hosts": hosts, "version": version, "recorded": recorded})
    return rows


def check_services(env: Environment, services: list[str]) -> None:
    """Raise ReportsError when a named service is neither a service nor a data-center host of ``env``."""
    known = sorted([*env.services, *env.datacenter_hosts])
    unknown = [name for name in services if name not in known]
    if unknown:
        msg = f"{env.name} has no service or data-center host {', '.join(unknown)} (known: {', '.join(known)})"
        raise ReportsError(msg)


def report_context(
    env: Environment, incident: Incident, ledger: list[LedgerEntry], measured: Measured
) -> dict[str, Any]:
    """Given an incident and what Seawall knows, return what the template shows."""
    opened = parse_stamp(incident.opened)
    targets = env.incidents.severities[incident.severity]
    owners = circle_owners(env, incident.services)
    return {
        "incident": incident,
        "env": env,
        "targets": targets,
        "impact": targets.impact,
        "deadlines": {
            "acknowledge": stamp(opened + targets.acknowledge_within),
            "update_every": duration(targets.update_every),
            "mitigate": stamp(opened + targets.mitigate_within),
            "resolve": stamp(opened + targets.resolve_within),
        },
        "escalate_to": owners,
        "label": env.incidents.labels[incident.severity],
        "coverage": coverage(env, incident.severity, opened, owners),
        "changes": recent_changes(ledger, opened, env.incidents.changes_within),
        "changes_within": duration(env.incidents.changes_within),
        "affected": affected(env, incident.services, measured),
        "durations": durations(env, incident),
        "roles": {role: incident.roles.get(role, "") for role in ROLES},
    }


def durations(env: Environment, incident: Incident) -> list[dict[str, str]]:
    """Given an incident, return time to acknowledge, mitigate and resolve against the severity's targets
    (only those that happened)."""
    opened = parse_stamp(incident.opened)
    targets = env.incidents.severities[incident.severity]
    rows = []
    for name, when, target in (
        ("acknowledge", incident.acknowledged, targets.acknowledge_within),
        ("mitigate", incident.mitigated, targets.mitigate_within),
        ("resolve", incident.resolved, targets.resolve_within),
    ):
        if when is None:
            continue
        took = parse_stamp(when) - opened
        verdict = "met" if took <= target else f"missed by {duration(took - target)}"
        rows.append({"name": name, "took": duration(took), "target": duration(target), "verdict": verdict})
    return rows


# --- rendering and writing ----------------------------------------------------------------------------


def render_report(context: dict[str, Any], project_templates: Path | None) -> str:
    """Given the context, return the report: front matter and the template's body."""
    incident: Incident = context["incident"]
    body = tidy_markdown(template_environment(project_templates).get_template(TEMPLATE).render(context))
    front = yaml.safe_dump(asdict(incident), sort_keys=False, allow_unicode=True)
    return f"---\n{front}---\n{body}"


def merge_report(old: str, fresh: str) -> str:
    """Given the report on disk and a fresh rendering, return the fresh front matter with the fresh
    Seawall blocks in the old body (what people wrote outside the blocks stays)."""
    blocks = {match.group(1): match.group(0) for match in BLOCK.finditer(fresh)}
    old_body = FRONT.sub("", old, count=1)
    body = BLOCK.sub(lambda match: blocks.get(match.group(1), match.group(0)), old_body)
    front = FRONT.match(fresh)
    return (front.group(0) if front else "") + body


def write_and_commit(repository: ReportsRepository, files: dict[Path, str], message: str) -> str:
    """Given files' new texts, write them and commit them together; when the commit fails, put every file
    back as it was (nothing written) and raise.

    A signal (``Interrupted``) while the files are written or git commits puts them back too, once git has
    ended, unless the commit landed first: then the repository keeps it, whole. Either way the reports
    repository is left clean. The repository's lock is held throughout (taken here unless the caller,
    who read what it changes, holds it already).
    """
    with repository.locked():
        return _write_and_commit(repository, files, message)


def _write_and_commit(repository: ReportsRepository, files: dict[Path, str], message: str) -> str:
    # A link is in the way too: writing through it would change a file outside the repository.
    in_the_way = [path for path in files if path.is_symlink() or (path.exists() and not path.is_file())]
    if in_the_way:
        shown = ", ".join(str(path.relative_to(repository.folder)) for path in in_the_way)
        msg = (
            f"cannot write the report in {repository.folder}: {shown} is in the way (a folder, a link or a "
            "device); move it away. Nothing was written"
        )
        raise ReportsError(msg)
    try:
        before = {path: path.read_text(encoding="utf-8") if path.exists() else None for path in files}
    except OSError as exc:
        raise _unwritable(repository, exc) from None
    head = repository.head()
    try:
        for path, text in files.items():
            write_atomically(path, text)
        return repository.commit(list(files), message)
    except ReportsError:
        _put_back(repository, before)
        raise
    except OSError as exc:  # a full disk, a folder that cannot be made: nothing committed, nothing half-done
        _put_back(repository, before)
        raise _unwritable(repository, exc) from None
    except Interrupted:

        def put_back_unless_committed() -> None:
            if repository.head() == head:
                _put_back(repository, before)

        children.on_interrupt(f"reports {repository.folder}", put_back_unless_committed)
        raise


def _unwritable(repository: ReportsRepository, exc: OSError) -> ReportsError:
    return ReportsError(f"cannot write the report in {repository.folder}: {os_reason(exc)}; nothing was committed")


def _put_back(repository: ReportsRepository, before: dict[Path, str | None]) -> None:
    for path, old in before.items():
        repository.commit_undo(path)
        if old is None:
            path.unlink(missing_ok=True)
        else:
            write_atomically(path, old)


def open_incident(
    env: Environment,
    repository: ReportsRepository,
    severity: Severity,
    title: str,
    services: list[str],
    author: str,
    now: dt.datetime,
    ledger: list[LedgerEntry],
    measured: Measured,
    project_templates: Path | None,
) -> Report:
    """Given a new incident, write its report from the template, prefilled, and commit it (holding the
    repository's lock from giving out the id to the commit)."""
    check_services(env, services)
    if not title.strip():
        msg = "an incident needs a title: --title 'what is wrong, in a few words'"
        raise ReportsError(msg)
    with repository.locked():
        repository.require_clean()
        incident = Incident(next_id(repository, now), env.name, severity, title.strip(), stamp(now), author, services)
        incident.event(now, author, "opened", f"opened as {severity}: {incident.title}")
        local = now.astimezone(dt.UTC)
        path = repository.folder / f"{local.year}" / f"{local.date().isoformat()}-{incident.id}-{slug(title)}.md"
        text = render_report(report_context(env, incident, ledger, measured), project_templates)
        write_and_commit(repository, {path: text}, f"{incident.id}: open ({severity}) {incident.title}")
    return Report(incident, path)


def change_incident(
    env: Environment,
    repository: ReportsRepository,
    report: Report,
    changed: Incident,
    message: str,
    ledger: list[LedgerEntry],
    measured: Measured,
    project_templates: Path | None,
    also: dict[Path, str] | None = None,
) -> Report:
    """Given a report and its changed incident, render the Seawall blocks again and commit (with ``also``,
    more files of the repository in the same commit). The caller holds the repository's lock since it
    read ``report``, so that no other command changed it meanwhile."""
    repository.require_clean()
    fresh = render_report(report_context(env, changed, ledger, measured), project_templates)
    text = merge_report(report.path.read_text(encoding="utf-8"), fresh)
    write_and_commit(repository, {report.path: text, **(also or {})}, message)
    return Report(changed, report.path)


def require_open(report: Report, now: dt.datetime) -> None:
    """Raise ReportsError when the incident is closed, or ``now`` (an entry's time) is before it was opened:
    durations against the targets would come out negative."""
    if not report.incident.open:
        msg = f"{report.incident.id} is closed ({report.incident.resolved}): open a new incident instead"
        raise ReportsError(msg)
    if now < parse_stamp(report.incident.opened):
        msg = (
            f"{stamp(now)} is before {report.incident.id} was opened ({report.incident.opened}): check --at "
            "(an entry cannot come before the incident)"
        )
        raise ReportsError(msg)


def updated(
    env: Environment,
    report: Report,
    author: str,
    now: dt.datetime,
    note: str | None = None,
    roles: dict[str, str] | None = None,
    severity: Severity | None = None,
    status: str | None = None,
) -> Incident:
    """Given the changes of ``incident update``, return the incident with them and their timeline."""
    require_open(report, now)
    incident = replace(report.incident, roles=dict(report.incident.roles), timeline=list(report.incident.timeline))
    for role, name in (roles or {}).items():
        allowed = getattr(env.incidents.roles, role) or env.release.operators
        if allowed and name not in allowed:
            msg = f"{name!r} may not be the incident's {role} (incidents.roles.{role}: {', '.join(allowed)})"
            raise ReportsError(msg)
        incident.roles[role] = name
        incident.event(now, author, "role", f"{name} is {role}")
    if severity is not None and severity != incident.severity:
        incident.event(now, author, "severity", f"severity {incident.severity} → {severity}")
        incident.severity = severity
    if status is not None:
        if status not in UPDATE_STATUSES:
            msg = f"{status!r} is not a status: use {' or '.join(UPDATE_STATUSES)} (close ends an incident)"
            raise ReportsError(msg)
        if getattr(incident, status) is None:
            setattr(incident, status, stamp(now))
        incident.event(now, author, "status", status)
    if note:
        incident.event(now, author, "note", note)
    if len(incident.timeline) == len(report.incident.timeline):
        msg = "nothing to update: give --note, --role ROLE=NAME, --severity or --status"
        raise ReportsError(msg)
    if incident.acknowledged is None:
        # Any answer acknowledges the incident: someone is on it.
        incident.acknowledged = stamp(now)
    incident.status = current_status(incident)
    return incident


def closed(report: Report, author: str, now: dt.datetime, root_cause: str, resolution: str) -> Incident:
    """Given ``incident close``, return the incident resolved now."""
    require_open(report, now)
    if not root_cause.strip() or not resolution.strip():
        msg = "closing needs both --root-cause and --resolution (what caused it, what fixed it)"
        raise ReportsError(msg)
    incident = replace(report.incident, timeline=list(report.incident.timeline))
    moment = stamp(now)
    incident.acknowledged = incident.acknowledged or moment
    incident.mitigated = incident.mitigated or moment
    incident.resolved = moment
    incident.status = "closed"
    incident.root_cause, incident.resolution = root_cause.strip(), resolution.strip()
    incident.event(now, author, "closed", f"resolved: {incident.resolution}")
    return incident


def link_deploy(env: Environment, repository: ReportsRepository, entry: LedgerEntry, templates: Path | None) -> None:
    """Given an emergency deploy's ledger entry, add it to its incident's timeline and deploys (once per
    deploy id), in one commit: the ledger names the incident, the incident names the deploy."""
    with repository.locked():
        report = find_report(repository, entry.incident)
        if entry.deploy_id in report.incident.deploys:
            return
        changed = replace(report.incident, timeline=list(report.incident.timeline))
        changed.deploys = [*changed.deploys, entry.deploy_id]
        what = f"(deploy {entry.deploy_id}, issue {entry.issue or '-'})"
        text = f"emergency deploy of {entry.environment} {entry.result} {what}"
        who = entry.operator or entry.identity or "seawall"
        changed.event(parse_stamp(entry.time), who, "deploy", text)
        message = f"{entry.incident}: emergency deploy {entry.deploy_id}"
        change_incident(env, repository, report, changed, message, [], Measured(), templates)
