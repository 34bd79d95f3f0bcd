"""``seawall report [ENV...]``: the fleet page (self-contained HTML) or its data (JSON)."""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from seawall.cli.context import settings_of, write_output


class PageFormat(StrEnum):
    """What ``seawall report`` writes."""

    html = "html"
    json = "json"


def report_command(
    ctx: typer.Context,
    env_names: Annotated[
        list[str] | None, typer.Argument(metavar="[ENV]...", help="Environments (default: every one).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="File to write (default: reports/fleet.html; JSON goes to stdout without it)."),
    ] = None,
    output: Annotated[PageFormat, typer.Option("--format", help="html or json (the page's data).")] = PageFormat.html,
    templates: Annotated[
        Path | None, typer.Option("--templates", help="Templates that override the shipped ones.")
    ] = None,
) -> None:
    """Write the fleet page: backups against RPO, drills and RTO trends, each host's drift, check coverage, the
    parity chain, deploy readiness and the last deploys; one self-contained HTML file."""
    from seawall.cli.deploy import drill_evidence_of, has_artifacts, ledger_dir
    from seawall.deploy import identity, verdicts_for
    from seawall.guard import DeployRequest
    from seawall.ledger import outcomes, read_ledger
    from seawall.model import list_environments, load_environments, load_parity_rules
    from seawall.opsdocs.fleet_page import EnvironmentInputs, fleet_data, read_drill_reports, render_page
    from seawall.opsdocs.measured import read_measured
    from seawall.parity import compare_environments
    from seawall.releases import read_releases
    from seawall.stacks.offline import offline_renderer

    settings = settings_of(ctx)
    renderer = offline_renderer()
    renderer.warm()  # the render processes load the program while this one loads the environments
    every = list_environments(settings.environments)
    names = env_names or every
    envs = load_environments(settings.environments, names)
    rules = load_parity_rules(settings.environments)
    renderer.prefetch(list(envs.values()))  # every environment at once; each pair's comparison reuses them
    now = dt.datetime.now(dt.UTC)
    who, source = identity()
    folder = ledger_dir(settings)
    inputs, chain = [], []
    for name, env in envs.items():
        before = env.environment.predecessor
        predecessor = (
            (envs.get(before) or load_environments(settings.environments, [before])[before]) if before else None
        )
        request = DeployRequest(name, now, identity=who, identity_source=source)
        drills = drill_evidence_of(predecessor, settings) if predecessor is not None and has_artifacts(env) else None
        releases = read_releases(folder)
        verdicts = verdicts_for(env, predecessor, request, folder, None, rules, renderer, releases, drills)
        inputs.append(
            EnvironmentInputs(
                env,
                read_measured(env, settings.project_root, folder),
                read_drill_reports(env, settings.project_root),
                outcomes(read_ledger(folder, name)),
                verdicts,
            )
        )
        if before in envs and predecessor is not None:
            chain.append(compare_environments(predecessor, env, rules, renderer, attribute=False))
    data = fleet_data(inputs, chain, now)
    if output is PageFormat.json and out is None:
        typer.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    target = out if out is not None else settings.project_root / "reports" / "fleet.html"
    text = (
        json.dumps(data, indent=2, sort_keys=True) + "\n"
        if output is PageFormat.json
        else render_page(data, templates or settings.project_root / "templates")
    )
    write_output(target, text, "choose a writable file with --out")
    typer.echo(str(target))


def register(root: typer.Typer) -> None:
    """Add the ``report`` command to the app."""
    root.command("report")(report_command)
