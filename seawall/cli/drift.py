"""``seawall drift ENV``: which hosts no longer match what the last deploy placed, from their own checks.

Reads the deployed graph (``ledger/ENV.deployed.json``, or ``--graph``) and each host's last ``seawall host
verify`` result (this machine's state, else the environment's bucket); needs no cloud or SSH credential. With
``--cloud`` it also compares DigitalOcean's droplets, firewalls, DNS records and volumes with the graph
(``seawall.clouddrift``: a read-only token in ``DIGITALOCEAN_TOKEN``; ``SEAWALL_DIGITALOCEAN_ENDPOINT`` points
it at another address of the API, plain http only on 127.0.0.1)."""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from seawall.cli.context import OutputFormat, print_json, settings_of, stdout

if TYPE_CHECKING:
    from seawall.clouddrift import CloudComparison
    from seawall.drift import HostDrift

HELP = (
    "Which hosts no longer match the last deploy (files, units, firewall, wheel), missed a deploy or stopped "
    "checking; exit 1 on any."
)


def drift_command(
    ctx: typer.Context,
    env_name: Annotated[str, typer.Argument(metavar="ENV", help="Environment.")],
    graph: Annotated[
        Path | None,
        typer.Option(
            "--graph", help="The deployed graph (default: ledger/ENV.deployed.json, written by `seawall up`)."
        ),
    ] = None,
    output: Annotated[OutputFormat, typer.Option("--format", help="table, json or markdown.")] = OutputFormat.table,
    cloud: Annotated[
        bool,
        typer.Option(
            "--cloud",
            help="Also compare droplets, firewalls, DNS records and volumes with DigitalOcean's API (a read-only "
            "token in DIGITALOCEAN_TOKEN; `pulumi refresh` is the complete answer).",
        ),
    ] = False,
) -> None:
    """Show, per host, what no longer matches the last deploy: drifted files (content, mode, owner, missing,
    extra), units, the firewall and the wheel as the host's hourly check found them, a manifest that is not
    the deployed one (a missed deploy), another build, a host that stopped reporting. Exit 1 on any, 2 when
    there is no deployed graph. ``--cloud`` also lists what differs in DigitalOcean (missing, changed, extra),
    what it could not compare, and says what it covers; no token, no pydo or an API that refuses is exit 2."""
    import datetime as dt

    from seawall.backup.actions.drift import read_fleet_drift
    from seawall.cli.deploy import deployed_graph
    from seawall.drift import failing
    from seawall.errors import SeawallError
    from seawall.model import load_environment

    settings = settings_of(ctx)
    env = load_environment(settings.environments, env_name)
    access = None
    if cloud:  # before anything is read: a missing token or client is said first
        from seawall.clouddrift import cloud_access

        access = cloud_access(os.environ)
    path = graph if graph is not None else deployed_graph(settings, env.name)
    fleet = read_fleet_drift(env, settings.project_root, path)
    if fleet.problem is not None:
        raise SeawallError(f"{fleet.problem}{'' if graph is not None else '; or pass --graph'}")
    report = fleet.judge(dt.datetime.now(dt.UTC), env.drift.stale_after)
    comparison = None
    if access is not None:
        from seawall.clouddrift import cloud_differences

        comparison = cloud_differences(env, json.loads(path.read_text(encoding="utf-8")), access)
    _show(env.name, report, comparison, output)
    if failing(report) or (comparison is not None and comparison.differences):
        raise typer.Exit(1)


class _Column(StrEnum):
    host = "host"
    status = "status"
    checked = "checked"
    what = "what"


def _show(env_name: str, report: list[HostDrift], cloud: CloudComparison | None, output: OutputFormat) -> None:
    from seawall.drift import describe

    if output is OutputFormat.json:
        data: dict[str, Any] = {"environment": env_name, "hosts": [entry.as_json() for entry in report]}
        if cloud is not None:
            data["cloud"] = cloud.as_json()
        print_json(data)
        return
    if output is OutputFormat.markdown:
        from seawall.markdown import markdown_table

        rows = [(e.host, e.status, e.checked or "never", "<br>".join(describe(e)) or "—") for e in report]
        lines = [f"# Drift of {env_name}", "", *markdown_table([c.value for c in _Column], rows)]
        if cloud is not None:
            lines += ["", "## Cloud", ""]
            differ = [item.row() for item in cloud.differences]
            lines += markdown_table(["resource", "field", "deployed", "found"], differ) if differ else [_MATCHES]
            lines += ["", *_cloud_notes(cloud, "- ")]
        typer.echo("\n".join(lines))
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"drift of {env_name}")
    for column in _Column:
        table.add_column(column.value)
    for entry in report:
        table.add_row(entry.host, entry.status, entry.checked or "never", escape("\n".join(describe(entry)) or "—"))
    stdout().print(table)
    if cloud is not None:
        found = Table(title=f"{env_name} in DigitalOcean against the deployed graph")
        for heading in ("resource", "field", "deployed", "found"):
            found.add_column(heading)
        for item in cloud.differences:
            found.add_row(*(escape(str(cell)) for cell in item.row()))
        stdout().print(found if cloud.differences else _MATCHES)
        for line in _cloud_notes(cloud, "  "):
            stdout().print(escape(line), highlight=False)


_MATCHES = "DigitalOcean matches the deployed graph"


def _cloud_notes(cloud: CloudComparison, bullet: str) -> list[str]:
    """What the cloud comparison did not compare, and what it covers (every format says it)."""
    from seawall.clouddrift import SCOPE

    skipped = [f"{bullet}{item}" for item in cloud.not_compared]
    return [*(["Not compared:", *skipped, ""] if skipped else []), SCOPE]


def register(app: typer.Typer) -> None:
    """Add this module's command to the app."""
    app.command("drift", help=HELP)(drift_command)
