"""``seawall validate``: load and check environments, print a summary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from seawall.cli.context import TableOrJson, print_json, settings_of, stdout

if TYPE_CHECKING:
    from seawall.model import Environment


def summarize_environment(env: Environment) -> dict[str, Any]:
    """Given an environment, return its one-line summary as data."""
    return {
        "name": env.name,
        "tier": env.environment.tier,
        "provider": env.environment.provider,
        "region": env.environment.region,
        "predecessor": env.environment.predecessor,
        "services": len(env.services),
        "droplets": sum(service.count for service in env.services.values()),
        "datacenter_hosts": len(env.datacenter_hosts),
        "backup_sets": len(env.backup_sets),
        "versions": {name: service.version for name, service in sorted(env.services.items())},
    }


def validate_command(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(metavar="[ENV]...", help="Environments (all when none).")] = None,
    output: Annotated[TableOrJson, typer.Option("--format", help="table or json.")] = TableOrJson.table,
) -> None:
    """Validate environments and print a summary. Warnings (what a protected tier would refuse) go to
    stderr, each at its FILE:LINE. Exit 0 when valid, warnings or not; 2 with every error at once."""
    import logging

    from seawall.model import environment_warnings, load_environments, load_parity_rules

    settings = settings_of(ctx)
    envs = load_environments(settings.environments, names or None)
    for warning in environment_warnings(settings.environments, envs):
        logging.getLogger(__name__).warning("%s", warning)
    parity = load_parity_rules(settings.environments)
    rows = [summarize_environment(env) for env in envs.values()]
    if output is TableOrJson.json:
        print_json(
            {"valid": True, "environments": rows, "parity_rules": len(parity.allowed) + len(parity.environment_only)}
        )
        return
    table = Table(title=f"{len(rows)} environment{'s' if len(rows) != 1 else ''} valid")
    for column in ("environment", "tier", "region", "after", "services", "droplets", "dc hosts", "backup sets"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["name"],
            row["tier"],
            row["region"] if row["provider"] == "digitalocean" else "local",
            row["predecessor"] or "-",
            str(row["services"]),
            str(row["droplets"]),
            str(row["datacenter_hosts"]),
            str(row["backup_sets"]),
        )
    stdout().print(table)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("validate")(validate_command)
