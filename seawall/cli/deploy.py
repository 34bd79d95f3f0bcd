"""``seawall guard``, ``seawall up`` and ``seawall ledger``: the release rules, the deploy, its record."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from seawall.cli.context import Settings, TableOrJson, print_json, settings_of, stdout
from seawall.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from seawall.guard import DeployRequest, Verdict
    from seawall.ledger import BucketMirror, LedgerEntry
    from seawall.model import Environment

Operator = Annotated[str | None, typer.Option("--operator", help="Who deploys (checked against release.operators).")]
Issue = Annotated[str | None, typer.Option("--issue", help="The issue that logs this change (URL or owner/repo#N).")]
Emergency = Annotated[bool, typer.Option("--emergency", help="Bypass the freeze window only; needs --incident.")]
Incident = Annotated[
    str | None, typer.Option("--incident", help="The open Critical or Major incident an emergency deploy answers.")
]
Priority = Annotated[
    str | None,
    typer.Option("--priority", help="The issue's priority: critical, major or minor (required for protected tiers)."),
]


def ledger_dir(settings: Settings) -> Path:
    """Given the settings, return the local ledger folder (``ledger/`` beside environments/)."""
    return settings.project_root / "ledger"


def _mirror(env: Environment, settings: Settings, required: bool) -> BucketMirror | None:
    """Return the ledger's shared copy (``release.ledger``: its own bucket, with the deployers' key from
    the variables it names); without the key, an error for a deploy, a warning otherwise; None when the
    model names no ledger bucket."""
    import logging
    import os

    from seawall.backup.storage import make_client
    from seawall.ledger import BucketMirror

    del settings  # the ledger's bucket is the model's, not the checkout's
    storage = env.release.ledger
    if storage is None:
        return None
    key, secret = os.environ.get(storage.access_key_id_env), os.environ.get(storage.secret_access_key_env)
    if not key or not secret:
        names = f"{storage.access_key_id_env} and {storage.secret_access_key_env}"
        if required:
            msg = f"the deploy ledger's bucket {storage.bucket} needs the deployers' key: set {names}"
            raise ConfigError([msg])
        logging.getLogger(__name__).warning("%s are not set: reading the local ledger copy only", names)
        return None
    return BucketMirror(make_client(storage.endpoint, storage.region, key, secret), storage.bucket)


def _request(
    env_name: str,
    at: str | None,
    operator: str | None,
    issue: str | None,
    emergency: bool,
    incident: str | None,
    priority: str | None = None,
) -> DeployRequest:
    from seawall.deploy import identity
    from seawall.guard import DeployRequest

    now = dt.datetime.now(dt.UTC) if at is None else _time_at(at)
    who, source = identity()
    if priority is not None:
        from seawall.incidents.report import severity_named

        priority = severity_named(priority)
    return DeployRequest(env_name, now, operator, who, source, issue, emergency, incident, priority)


def _time_at(at: str) -> dt.datetime:
    """Given ``--at``'s text, return the aware time it names, or refuse it in one line (exit 2)."""
    from seawall.errors import SeawallError

    try:
        moment = dt.datetime.fromisoformat(at)
    except ValueError:
        msg = f"--at {at!r} is not an ISO 8601 time: give one like 2026-12-03T10:00+01:00"
        raise SeawallError(msg) from None
    if moment.tzinfo is None:
        msg = f"--at {at!r} needs a time zone offset: add one like +01:00 or Z"
        raise SeawallError(msg)
    return moment


def _on_the_release_calendar(env: Environment, request: DeployRequest) -> None:
    """Refuse, in one line (exit 2), a time the release time zone's calendar cannot show."""
    from seawall.guard import GuardError, release_time

    try:
        release_time(env, request.now)
    except GuardError as exc:
        msg = f"--at {exc}: give a time between 0001-01-01T00:00 and 9999-12-31T23:59 there"
        raise GuardError(msg) from None


def _with_incident(settings: Settings, env: Environment, request: DeployRequest) -> DeployRequest:
    """Given an emergency request, return it with what the reports repository says of its incident."""
    import dataclasses

    from seawall.incidents.report import find_report, repository_of
    from seawall.incidents.reports_repo import AmbiguousReport, ReportsError, UnmergedReports

    if not (request.emergency and request.incident):
        return request
    try:
        found = find_report(repository_of(env, settings.project_root), request.incident).incident
    except (AmbiguousReport, UnmergedReports):
        raise
    except ReportsError:
        return request
    if found.environment != env.name:
        return request
    return dataclasses.replace(request, incident_severity=found.severity, incident_open=found.open)


def _verdicts(
    ctx: typer.Context, env_name: str, request: DeployRequest, deploying: bool = False, renderer: Any = None
) -> tuple[Environment, list[Verdict], Any]:
    from seawall.deploy import verdicts_for
    from seawall.model import load_environments, load_parity_rules
    from seawall.releases import read_releases
    from seawall.stacks.offline import offline_renderer

    settings = settings_of(ctx)
    if renderer is None:
        renderer = offline_renderer()
        renderer.warm()  # it renders the environment and its predecessor: their processes load the program now
    env = load_environments(settings.environments, [env_name])[env_name]
    _on_the_release_calendar(env, request)
    before = env.environment.predecessor
    predecessor = load_environments(settings.environments, [before])[before] if before else None
    mirror = _mirror(env, settings, required=deploying)
    # The predecessor's own evidence: its ledger bucket (never a copy in this environment's bucket).
    evidence = _mirror(predecessor, settings, required=deploying) if predecessor is not None else None
    request = _with_incident(settings, env, request)
    rules = load_parity_rules(settings.environments)
    releases = read_releases(ledger_dir(settings))
    drills = drill_evidence_of(predecessor, settings) if predecessor is not None and has_artifacts(env) else None
    verdicts = verdicts_for(
        env, predecessor, request, ledger_dir(settings), evidence, rules, renderer, releases, drills
    )
    return env, verdicts, mirror


def has_artifacts(env: Environment) -> bool:
    """Given an environment, return whether any of its services runs an artifact."""
    return any(service.artifact is not None for service in env.services.values())


def drill_evidence_of(env: Environment, settings: Settings) -> list[Any] | None:
    """Given the predecessor, return the last drill of each of its (set, host) pairs from its backup state (this
    machine's, else its bucket's copy), or None when the state cannot be read."""
    import logging

    from seawall.backup.context import state_store
    from seawall.errors import SeawallError
    from seawall.guard import drill_evidence

    pairs = [(name, host) for name in sorted(env.backup_sets) for host in env.hosts_of_set(name)]
    try:
        documents = state_store(env, settings.project_root).read_hosts(pairs)
    except (SeawallError, OSError) as exc:
        logging.getLogger(__name__).warning("the drill results of %s could not be read: %s", env.name, exc)
        return None
    return drill_evidence(documents)


def _verdict_table(env_name: str, verdicts: list[Verdict]) -> Table:
    table = Table(title=f"may {env_name} be deployed?")
    for column in ("rule", "verdict", "why", "how to proceed"):
        table.add_column(column, overflow="fold")
    for verdict in verdicts:
        style = "green" if verdict.allowed else "bold red"
        table.add_row(
            verdict.rule, f"[{style}]{'allowed' if verdict.allowed else 'REFUSED'}[/]", verdict.reason, verdict.how
        )
    return table


def guard_command(
    ctx: typer.Context,
    env_name: Annotated[str, typer.Argument(metavar="ENV", help="Environment.")],
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="Ask for this time instead of now (ISO 8601 with offset, in the years 1 to 9999 on the release "
            "time zone's clock; exit 2 otherwise).",
        ),
    ] = None,
    operator: Operator = None,
    issue: Issue = None,
    emergency: Emergency = False,
    incident: Incident = None,
    priority: Priority = None,
    output: Annotated[TableOrJson, typer.Option("--format", help="table or json.")] = TableOrJson.table,
) -> None:
    """May I deploy ENV now (or at TIME)? Every rule with its verdict; exit 1 when any refuses."""
    request = _request(env_name, at, operator, issue, emergency, incident, priority)
    _, verdicts, _ = _verdicts(ctx, env_name, request)
    if output is TableOrJson.json:
        print_json(
            {
                "environment": env_name,
                "at": request.now.isoformat(),
                "allowed": all(v.allowed for v in verdicts),
                "verdicts": [v.__dict__ for v in verdicts],
            }
        )
    else:
        stdout().print(_verdict_table(env_name, verdicts))
    if not all(verdict.allowed for verdict in verdicts):
        raise typer.Exit(1)


def up_command(
    ctx: typer.Context,
    env_name: Annotated[str, typer.Argument(metavar="ENV", help="Environment (the Pulumi stack).")],
    issue: Issue = None,
    operator: Operator = None,
    yes: Annotated[bool, typer.Option("--yes", help="Apply the previewed plan without asking.")] = False,
    emergency: Emergency = False,
    incident: Incident = None,
    priority: Priority = None,
    allow_replace: Annotated[
        list[str] | None,
        typer.Option("--allow-replace", help="Let this stateful droplet or volume be replaced (repeatable)."),
    ] = None,
) -> None:
    """Check the guard rails, show the plan against the last deploy, preview with the policy pack, confirm,
    and apply that plan; record it in the ledger. A stateful droplet or a volume is never replaced unless
    --allow-replace names it; the plan names each one, what data it holds, and the flags to give.
    Without the Pulumi CLI, the verdicts and the plan are shown first, then how to install it.
    Exit 0 when applied, 1 when refused or declined, 2 without the Pulumi CLI or on a configuration error."""
    from seawall import deploy as deploying
    from seawall.deploy import DeployRefused
    from seawall.errors import ToolMissing
    from seawall.model.schema import model_hash
    from seawall.releases import read_releases

    settings = settings_of(ctx)
    try:
        deploying.require_pulumi_cli()
        missing: ToolMissing | None = None
    except ToolMissing as exc:
        missing = exc  # the verdicts and the plan are still shown: they need no CLI
    request = _request(env_name, None, operator, issue, emergency, incident, priority)
    from seawall.stacks.offline import offline_renderer

    renderer = offline_renderer()  # one render of each environment, shared by parity, audit and the plan
    env, verdicts, mirror = _verdicts(ctx, env_name, request, deploying=missing is None, renderer=renderer)
    stdout().print(_verdict_table(env_name, verdicts))
    refusal = _replacements_refused(env, settings, allow_replace or [], renderer.graph(env))
    if missing is not None:
        raise ToolMissing(_still_refused(str(missing), verdicts, refusal))
    if refusal is not None:
        raise DeployRefused(refusal)

    def confirm(preview: dict[str, Any]) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            raise UsageError("no terminal to confirm the deploy: run with --yes to apply the previewed plan")
        return typer.confirm(f"apply this plan to {env_name}? {preview.get('change_summary', {})}", default=False)

    entry = deploying.deploy(
        env,
        request,
        verdicts,
        lambda deploy_id: deploying.make_driver(
            env,
            settings.project_root,
            deploying.program_variables(settings.environments, request, deploy_id),
        ),
        ledger_dir(settings),
        mirror,
        confirm,
        typer.echo,
        model_hash(env),
        read_releases(ledger_dir(settings)),
    )
    if entry is None:
        typer.echo("declined: nothing was changed")
        raise typer.Exit(1)
    typer.echo(f"deployed {env_name}: {entry.summary}; recorded in the ledger")
    _link_incident(settings, env, entry)


def _link_incident(settings: Settings, env: Environment, entry: Any) -> None:
    """Given an emergency deploy's ledger entry, record it in its incident's timeline (a warning, never a
    failure, when the reports repository cannot take the commit: the deploy is done)."""
    import logging

    from seawall.incidents.report import link_deploy, repository_of
    from seawall.incidents.reports_repo import ReportsError

    if not (entry.emergency and entry.incident):
        return
    try:
        link_deploy(env, repository_of(env, settings.project_root), entry, settings.project_root / "templates")
    except ReportsError as exc:
        logging.getLogger(__name__).warning(
            "the deploy is recorded in the ledger but not in %s: %s", entry.incident, exc
        )


def deployed_graph(settings: Settings, env_name: str) -> Path:
    """Given an environment, return where the graph of its last successful deploy is kept."""
    from seawall.ledger import deployed_graph_path

    return deployed_graph_path(ledger_dir(settings), env_name)


def _replacements_refused(env: Environment, settings: Settings, allowed: list[str], graph: Any) -> str | None:
    """Print the plan against the last deployed graph (each stateful replacement named, with the flags
    ``up`` demands); return why it is refused when it replaces a stateful droplet or a volume that
    ``--allow-replace`` does not name, else None."""
    from seawall.cli.preview import print_plan, read_graph_file
    from seawall.replacements import allow_replace_names, plan_changes, resources_by_name, stateful_changes

    previous = deployed_graph(settings, env.name)
    before = read_graph_file(previous) if previous.exists() else {}
    plan = plan_changes(before, resources_by_name(json.loads(graph.to_json())))
    print_plan(env, plan, TableOrJson.table)
    stateful = stateful_changes(env, plan)
    refused = [item for item in stateful if item.change.name not in allowed]
    if not refused:
        return None
    named = "; ".join(
        f"{item.change.name} ({item.change.action}: {', '.join(item.change.inputs) or 'removed'}; {item.what})"
        for item in refused
    )
    flags = " ".join(f"--allow-replace {name}" for name in allow_replace_names(stateful))
    return (
        f"deploy refused: it would replace stateful resources: {named}; back up their data "
        f"(the plan above names the backup sets), then run again with {flags}"
    )


def _still_refused(install: str, verdicts: list[Verdict], refusal: str | None) -> str:
    """Given how to install the Pulumi CLI, return it with what would still refuse the deploy then."""
    reasons = [f"{v.rule}: {v.reason}" for v in verdicts if not v.allowed]
    if refusal is not None:
        reasons.append(refusal.removeprefix("deploy refused: "))
    if not reasons:
        return install
    return f"{install}; once it is installed, this deploy is still refused: " + "; ".join(reasons)


def ledger_command(
    ctx: typer.Context,
    env_name: Annotated[str, typer.Argument(metavar="ENV", help="Environment.")],
    output: Annotated[TableOrJson, typer.Option("--format", help="table or json.")] = TableOrJson.table,
) -> None:
    """Show ENV's deploy ledger: who deployed what, when, why, and how it ended.

    With the deployers' key, the ledger bucket's copy too, and which copy holds each entry."""
    from seawall.model import load_environment, require_environment_name

    settings = settings_of(ctx)
    env = load_environment(settings.environments, require_environment_name(settings.environments, env_name))
    entries, both = _ledger_entries(env, settings)
    if output is TableOrJson.json:
        print_json([{**e.__dict__, "outcome": outcome, "copies": list(copies)} for e, outcome, copies in entries])
        return
    if not entries:
        typer.echo(
            f"the deploy ledger of {env.name} has no entry yet (every deploy, `seawall up` or `pulumi up`, adds one)"
        )
        return
    table = Table(title=f"deploy ledger of {env.name} ({len(entries)} entries)")
    images = any(e.digests for e, _, _ in entries)  # which digest ran where: a column once any artifact ran
    for column in (
        "time",
        "operator",
        "issue",
        "result",
        "versions",
        *(["digests (health passed)"] if images else []),
        "incident",
        "model",
        *(["copies"] if both else []),
    ):
        table.add_column(column, overflow="fold")
    for e, outcome, copies in entries:
        versions = ", ".join(f"{k} {v}" for k, v in e.versions.items())
        digests = [_digests_cell(e)] if images else []
        incident = (e.incident + " (emergency)") if e.emergency else ""
        held = [" and ".join(copies) + ("" if len(copies) > 1 else " only")] if both else []
        table.add_row(e.time, e.operator, e.issue, outcome, versions, *digests, incident, e.model_hash, *held)
    stdout().print(table)


def _digests_cell(entry: LedgerEntry) -> str:
    """Given a ledger entry, return its services' digests, each marked when its health checks passed."""
    return ", ".join(
        f"{name} {digest}{' (healthy)' if name in entry.healthy else ''}" for name, digest in entry.digests.items()
    )


def _ledger_entries(
    env: Environment, settings: Settings
) -> tuple[list[tuple[LedgerEntry, str, tuple[str, ...]]], bool]:
    """Given an environment, return its ledger's entries, each with its outcome and the copies that hold it
    (the local one, and the ledger bucket's where the deployers' key reads it), and whether the bucket's
    copy was read."""
    from seawall.ledger import held_by, outcomes, parse_ledger, read_ledger

    mirror = _mirror(env, settings, required=False)
    shared = None
    if mirror is not None:
        shared = parse_ledger(mirror.read_text(env.name), mirror.url(env.name))
    held = held_by(read_ledger(ledger_dir(settings), env.name), shared)
    shown = outcomes([entry for entry, _ in held])
    entries = [(entry, outcome, copies) for (entry, outcome), (_, copies) in zip(shown, held, strict=True)]
    return entries, shared is not None


def record_command(
    ctx: typer.Context,
    env_name: Annotated[str, typer.Argument(metavar="ENV", help="Environment.")],
    result: Annotated[str, typer.Option("--result", help="started, succeeded or failed.")],
    deploy_id: Annotated[str, typer.Option("--deploy-id", help="The update this entry belongs to.")],
    issue: Issue = None,
    operator: Operator = None,
    emergency: Emergency = False,
    incident: Incident = None,
    priority: Priority = None,
    wheel_sha256: Annotated[
        str | None, typer.Option("--wheel-sha256", help="The wheel the hosts got (named in the deployed graph).")
    ] = None,
) -> None:
    """Append one entry to ENV's ledger (the Pulumi program records its start, its final step the success)."""

    from seawall.ledger import LedgerEntry, append_entry, now_iso
    from seawall.model import load_environment
    from seawall.model.schema import model_hash
    from seawall.releases import artifact_evidence, read_releases

    if result not in ("started", "succeeded", "failed"):
        raise UsageError(f"--result {result!r} is not started, succeeded or failed")
    settings = settings_of(ctx)
    env = load_environment(settings.environments, env_name)
    request = _request(env_name, None, operator, issue, emergency, incident, priority)
    digests, healthy = artifact_evidence(env.services, read_releases(ledger_dir(settings)), result == "succeeded")
    entry = LedgerEntry(
        time=now_iso(dt.datetime.now(dt.UTC)),
        environment=env.name,
        operator=request.operator or "",
        identity=request.identity or "",
        issue=request.issue or "",
        versions={name: service.version for name, service in sorted(env.services.items())},
        model_hash=model_hash(env),
        result=result,
        incident=request.incident or "",
        emergency=request.emergency,
        deploy_id=deploy_id,
        priority=request.priority or "",
        digests=digests,
        healthy=healthy,
    )
    append_entry(ledger_dir(settings), entry, _mirror(env, settings, required=False))
    if result == "succeeded":
        _link_incident(settings, env, entry)
    if result == "succeeded":
        from seawall.files import write_atomically
        from seawall.render import render
        from seawall.stacks.offline import OFFLINE

        document = render(env, OFFLINE).as_json()
        if wheel_sha256:
            document["shipped"] = {"wheel_sha256": wheel_sha256}
        write_atomically(deployed_graph(settings, env.name), json.dumps(document, indent=2, sort_keys=True) + "\n")
    typer.echo(f"recorded {result} of {env.name} ({deploy_id}) in the ledger")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("guard")(guard_command)
    app.command("up")(up_command)
    app.command("ledger")(ledger_command)
    app.command("ledger-record", hidden=True)(record_command)
