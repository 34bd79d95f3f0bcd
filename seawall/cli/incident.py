"""``seawall incident new|update|close|list|escalate``: incident reports in the reports repository."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shlex
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from seawall.cli.context import OutputFormat, print_json, settings_of, stdout
from seawall.incidents.reports_repo import LOCK_WAIT_SECONDS

if TYPE_CHECKING:
    from seawall.cli.context import Settings
    from seawall.incidents.report import Incident, Report
    from seawall.incidents.reports_repo import ReportsRepository
    from seawall.ledger import LedgerEntry
    from seawall.model.schema import Environment
    from seawall.opsdocs.measured import Measured

app = typer.Typer(
    help="Incident reports: open, update, close, list and escalate incidents. Commands that change reports "
    f"in one repository take turns: one waits up to {LOCK_WAIT_SECONDS:g} s for another, then exits 2 and "
    "writes nothing.",
    no_args_is_help=True,
)
IdArg = Annotated[str, typer.Argument(metavar="ID", help="The incident (INC-2026-001).")]
Author = Annotated[str | None, typer.Option("--author", help="Who does this (default: git's user.name, or $USER).")]
# How far ahead of this machine's clock an --at may be: another machine's clock, read off a screen.
AT_AHEAD = dt.timedelta(minutes=5)
At = Annotated[
    str | None,
    typer.Option(
        "--at",
        help="Record it at this time instead of now (ISO 8601 with offset), for entries after the fact: not in the "
        "future, not before the incident was opened.",
    ),
]


def _now(at: str | None) -> dt.datetime:
    from seawall.errors import ConfigError, UsageError

    if at is None:
        return dt.datetime.now(dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(at)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise UsageError(f"--at {at!r} is not an ISO 8601 time with an offset (2026-12-01T14:30:00+01:00)")
    now = dt.datetime.now(dt.UTC)
    if moment > now + AT_AHEAD:
        raise ConfigError(
            [f"--at {at!r} is in the future (it is {now:%Y-%m-%dT%H:%M}Z): --at records what already happened"]
        )
    return moment


def _author(author: str | None) -> str:
    from seawall.deploy import identity

    return author or identity()[0] or os.environ.get("USER") or "unknown"


def _templates(settings: Settings) -> Path:
    return settings.project_root / "templates"


def _locate(settings: Settings, incident_id: str) -> tuple[Environment, ReportsRepository, Report]:
    """Find an incident in the reports repositories the environments name."""
    from seawall.incidents.report import find_report, repository_of
    from seawall.incidents.reports_repo import AmbiguousReport, ReportsError, UnmergedReports
    from seawall.model import list_environments, load_environments

    envs = load_environments(settings.environments, list_environments(settings.environments))
    seen: dict[Path, ReportsRepository] = {}
    for env in envs.values():
        repository = repository_of(env, settings.project_root)
        seen.setdefault(repository.folder.resolve(), repository)
    problem: ReportsError | None = None
    for repository in seen.values():
        try:
            report = find_report(repository, incident_id)
        except (AmbiguousReport, UnmergedReports):
            raise
        except ReportsError as exc:
            problem = exc
            continue
        if report.incident.environment not in envs:
            msg = f"{incident_id} belongs to {report.incident.environment!r}, which has no environment file here"
            raise ReportsError(msg)
        return envs[report.incident.environment], repository, report
    assert problem is not None
    raise problem


@contextmanager
def _located(settings: Settings, incident_id: str) -> Iterator[tuple[Environment, ReportsRepository, Report]]:
    """Find an incident, then hold its repository's lock while the command changes it: the report is read
    again once the lock is held, since the command that held it before may have changed it."""
    from seawall.incidents.report import find_report

    env, repository, _ = _locate(settings, incident_id)
    with repository.locked():
        yield env, repository, find_report(repository, incident_id)


def _facts(settings: Settings, env: Environment) -> tuple[list[LedgerEntry], Measured]:
    from seawall.cli.deploy import ledger_dir
    from seawall.ledger import read_ledger
    from seawall.opsdocs.measured import read_measured

    folder = ledger_dir(settings)
    return read_ledger(folder, env.name), read_measured(env, settings.project_root, folder)


@app.command("new")
def new_command(
    ctx: typer.Context,
    env_name: Annotated[str, typer.Argument(metavar="ENV", help="The environment where it happens.")],
    severity: Annotated[str, typer.Option("--severity", help="critical, major or minor.")],
    title: Annotated[str, typer.Option("--title", help="What is wrong, in a few words.")],
    services: Annotated[
        list[str] | None, typer.Option("--service", help="An affected service or data-center host (repeatable).")
    ] = None,
    author: Author = None,
    at: At = None,
) -> None:
    """Open an incident: its report from the template, prefilled with what Seawall knows, committed.

    The id is the next of the year after every report of this clone and of the branch it tracks (fetched
    first, when there is one); Seawall never pushes."""
    from seawall.incidents.report import open_incident, repository_of, severity_named
    from seawall.model import load_environment

    settings = settings_of(ctx)
    chosen = severity_named(severity)
    env = load_environment(settings.environments, env_name)
    ledger, measured = _facts(settings, env)
    repository = repository_of(env, settings.project_root)
    report = open_incident(
        env,
        repository,
        chosen,
        title,
        services or [],
        _author(author),
        _now(at),
        ledger,
        measured,
        _templates(settings),
    )
    typer.echo(f"{report.incident.id} {report.path}")


@app.command("update")
def update_command(
    ctx: typer.Context,
    incident_id: IdArg,
    note: Annotated[str | None, typer.Option("--note", help="What happened, what was done.")] = None,
    roles: Annotated[
        list[str] | None,
        typer.Option("--role", help="ROLE=NAME: commander, communications or scribe (repeatable)."),
    ] = None,
    severity: Annotated[str | None, typer.Option("--severity", help="A new severity.")] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="acknowledged or mitigated: what `incident list` shows until another is given or it is closed.",
        ),
    ] = None,
    author: Author = None,
    at: At = None,
) -> None:
    """Add to an open incident's timeline: a note, a role, a severity change or a status; one commit."""
    from seawall.incidents.report import ROLES, change_incident, severity_named, updated
    from seawall.incidents.reports_repo import ReportsError

    settings = settings_of(ctx)
    assigned: dict[str, str] = {}
    for item in roles or []:
        role, _, name = item.partition("=")
        if role not in ROLES or not name.strip():
            msg = f"--role {item!r}: use ROLE=NAME with ROLE one of {', '.join(ROLES)}"
            raise ReportsError(msg)
        assigned[role] = name.strip()
    chosen = severity_named(severity) if severity is not None else None
    moment, who = _now(at), _author(author)
    with _located(settings, incident_id) as (env, repository, report):
        changed = updated(env, report, who, moment, note, assigned, chosen, status)
        ledger, measured = _facts(settings, env)
        message = f"{incident_id}: update by {who}"
        change_incident(env, repository, report, changed, message, ledger, measured, _templates(settings))
    typer.echo(f"{incident_id} {report.path}")


@app.command("close")
def close_command(
    ctx: typer.Context,
    incident_id: IdArg,
    root_cause: Annotated[str, typer.Option("--root-cause", help="What caused it.")],
    resolution: Annotated[str, typer.Option("--resolution", help="What fixed it.")],
    author: Author = None,
    at: At = None,
) -> None:
    """Close an incident: root cause, resolution, and the times to acknowledge, mitigate and resolve
    against its severity's targets; one commit."""
    from seawall.incidents.report import change_incident, closed, durations

    settings = settings_of(ctx)
    moment, who = _now(at), _author(author)
    with _located(settings, incident_id) as (env, repository, report):
        changed = closed(report, who, moment, root_cause, resolution)
        ledger, measured = _facts(settings, env)
        message = f"{incident_id}: closed by {who}"
        change_incident(env, repository, report, changed, message, ledger, measured, _templates(settings))
    for row in durations(env, changed):
        typer.echo(f"time to {row['name']}: {row['took']} (target {row['target']}): {row['verdict']}")
    typer.echo(f"{incident_id} {report.path}")


@app.command("list")
def list_command(
    ctx: typer.Context,
    only_open: Annotated[bool, typer.Option("--open", help="Only open incidents.")] = False,
    output: Annotated[OutputFormat, typer.Option("--format", help="table, json or markdown.")] = OutputFormat.table,
) -> None:
    """List the incidents of every reports repository, oldest first, each with its current status (the
    last one an update gave; acknowledged once anyone answered)."""
    from seawall.incidents.report import all_reports, renumbering, repository_of
    from seawall.markdown import markdown_table
    from seawall.model import list_environments, load_environments

    settings = settings_of(ctx)
    envs = load_environments(settings.environments, list_environments(settings.environments))
    folders = {repository_of(env, settings.project_root).folder.resolve(): env for env in envs.values()}
    reports = []
    for _, env in sorted(folders.items()):
        repository = repository_of(env, settings.project_root)
        repository.require_readable()
        found = all_reports(repository)
        for advice in renumbering(repository, found):
            logging.getLogger(__name__).warning("%s", advice)
        reports += found
    rows = [_row(report.incident, report.path, settings.project_root) for report in reports]
    rows = [row for row in rows if row["status"] != "closed" or not only_open]
    if output is OutputFormat.json:
        print_json(rows)
        return
    headers = ("id", "environment", "severity", "status", "title", "opened", "resolved", "report")
    if output is OutputFormat.markdown:
        typer.echo("\n".join(markdown_table(headers, [[row[h] or "-" for h in headers] for row in rows])))
        return
    from rich.table import Table

    table = Table(title=f"incidents ({len(rows)})")
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*(str(row[h] or "-") for h in headers))
    stdout().print(table)


def _row(incident: Incident, path: Path, root: Path) -> dict[str, str | None]:
    from seawall.incidents.report import current_status

    where = path.resolve()
    shown = str(where.relative_to(root)) if where.is_relative_to(root) else str(where)
    return {
        "id": incident.id,
        "environment": incident.environment,
        "severity": incident.severity,
        "status": current_status(incident),
        "title": incident.title,
        "opened": incident.opened,
        "resolved": incident.resolved,
        "report": shown,
    }


@app.command("escalate")
def escalate_command(
    ctx: typer.Context,
    incident_id: IdArg,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Write the issue body here and, when gh is installed, file the issue."),
    ] = None,
    author: Author = None,
    at: At = None,
) -> None:
    """Write the escalation issue to the circle owner (priority label of the severity) and print the
    `gh issue create` command that files it; with --file and gh installed, run it."""
    from seawall.incidents.escalation import escalate

    settings = settings_of(ctx)
    moment, who = _now(at), _author(author)
    with _located(settings, incident_id) as (env, repository, report):
        ledger, measured = _facts(settings, env)
        gh = shutil.which("gh") is not None
        outcome = escalate(env, repository, report, file, gh, who, moment, ledger, measured, _templates(settings))
    typer.echo(f"body: {outcome.body_path}")
    typer.echo(shlex.join(outcome.command.argv))
    if outcome.filed:
        typer.echo(f"filed: {outcome.filed}")


def register(root: typer.Typer) -> None:
    """Add the ``incident`` group to the app."""
    root.add_typer(app, name="incident")
