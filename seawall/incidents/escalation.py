"""``seawall incident escalate``: the escalation issue to the circle owner, as the team's process says
(escalate urgent matters to the circle owner through GitHub issues, with the priority label).

The issue body is rendered from ``templates/escalation.md.j2``; the command that files it is data (a
``gh issue create`` argv), printed exactly, and run through the one runner when ``--file`` is given and
gh is installed. The escalation is recorded in the incident's timeline, in one commit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path

from seawall.incidents.report import Incident, Report, change_incident, circle_owners, report_context, require_open
from seawall.incidents.reports_repo import ESCALATION_SUFFIX, ReportsError, ReportsRepository
from seawall.ledger import LedgerEntry
from seawall.model.schema import Environment
from seawall.opsdocs.measured import Measured
from seawall.runner import Command, run
from seawall.templating import template_environment, tidy_markdown

GH_TIMEOUT = 120


@dataclass(frozen=True)
class Escalation:
    """Where the body was written, the command that files it, and the issue's address once filed."""

    body_path: Path
    command: Command
    filed: str | None


def issue_title(incident: Incident) -> str:
    """Given an incident, return its escalation issue's title."""
    return f"[{incident.severity}] {incident.id} ({incident.environment}): {incident.title}"


def make_issue_command(env: Environment, incident: Incident, body: Path, owners: list[str]) -> Command:
    """Given the incident and its body file, return the ``gh issue create`` command: the priority label of
    its severity, assigned to circle owners that are accounts (a team is mentioned in the body)."""
    argv = ["gh", "issue", "create", "--title", issue_title(incident), "--body-file", str(body)]
    argv += ["--label", env.incidents.labels[incident.severity]]
    if env.incidents.github_repository:
        argv += ["--repo", env.incidents.github_repository]
    for owner in owners:
        if "/" not in owner:
            argv += ["--assignee", owner.removeprefix("@")]
    return Command(tuple(argv), timeout=GH_TIMEOUT)


def escalate(
    env: Environment,
    repository: ReportsRepository,
    report: Report,
    file: Path | None,
    gh_available: bool,
    author: str,
    now: dt.datetime,
    ledger: list[LedgerEntry],
    measured: Measured,
    project_templates: Path | None,
) -> Escalation:
    """Given an open incident, write the escalation issue's body (to ``file``, or beside the report in the
    repository), file it with gh when ``file`` is given and gh is installed, and record it."""
    require_open(report, now)
    repository.require_clean()
    incident = report.incident
    owners = circle_owners(env, incident.services)
    context = report_context(env, incident, ledger, measured) | {"report_path": _shown(report.path, repository)}
    body = tidy_markdown(template_environment(project_templates).get_template("escalation.md.j2").render(context))
    body_path = file if file is not None else report.path.with_name(report.path.stem + ESCALATION_SUFFIX)
    command = make_issue_command(env, incident, body_path, owners)
    also: dict[Path, str] = {}
    filed = None
    if file is None:
        also[body_path] = body
    else:
        try:
            file.write_text(body, encoding="utf-8")
        except OSError as exc:
            msg = f"cannot write {file}: {exc.strerror or exc}; choose another --file"
            raise ReportsError(msg) from None
        if gh_available:
            filed = _file_issue(command, file)
    changed = replace(
        incident, timeline=list(incident.timeline), escalations=[*incident.escalations, filed or "not filed"]
    )
    target = ", ".join(owners) or "the operations team"
    what = f"filed as {filed}" if filed else f"issue body in {_shown(body_path, repository)}, not filed yet"
    changed.event(now, author, "escalated", f"to {target} ({env.incidents.labels[incident.severity]}): {what}")
    change_incident(
        env,
        repository,
        report,
        changed,
        f"{incident.id}: escalated by {author}",
        ledger,
        measured,
        project_templates,
        also,
    )
    return Escalation(body_path, command, filed)


def _file_issue(command: Command, body: Path) -> str:
    result = run(command)
    if not result.ok:
        msg = (
            f"gh could not file the issue: {result.last_error_line()}; the body is in {body}: run the command "
            "below once gh is logged in (gh auth login)"
        )
        raise ReportsError(msg)
    lines = result.stdout.strip().splitlines()
    return lines[-1] if lines else "filed"


def _shown(path: Path, repository: ReportsRepository) -> str:
    where = path.resolve()
    top = repository.folder.resolve()
    return str(where.relative_to(top)) if where.is_relative_to(top) else str(path)
