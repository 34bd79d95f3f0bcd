"""``seawall host record|verify``: a host's own look at what Seawall placed on it (run on the host, as root).

record is the deploy's last step on every host; verify runs hourly from its timer (``drift.schedule``)."""

from __future__ import annotations

from typing import Annotated

import typer

from seawall.cli.context import TableOrJson, print_json, settings_of, stdout

HOST_HELP = "On a host: record what the deploy placed (its last step), verify the host against it (hourly)."
app = typer.Typer(help=HOST_HELP, no_args_is_help=True)


@app.command("record")
def record_command(
    quarantine: Annotated[
        bool,
        typer.Option(
            "--quarantine",
            help="First move every file no deploy placed out of Seawall's folders (into "
            "/var/lib/seawall/drift-quarantine/TIME/, nothing deleted).",
        ),
    ] = False,
) -> None:
    """Write the host's deploy-time record beside /etc/seawall/manifest.json (the secret files', the loaded
    ruleset's and the installed wheel's hashes). The deploy runs it after writing the manifest."""
    from seawall.backup.actions.drift import record

    for path in record(quarantine=quarantine):
        typer.echo(f"moved {path} (no deploy placed it) into the quarantine")


@app.command("verify")
def verify_command(
    ctx: typer.Context,
    env_name: Annotated[str, typer.Argument(metavar="ENV", help="Environment.")],
    host: Annotated[str, typer.Option("--host", metavar="HOST", help="This host's name in the model.")],
    output: Annotated[TableOrJson, typer.Option("--format", help="table or json.")] = TableOrJson.table,
) -> None:
    """Compare this host with its manifest and deploy-time record: every placed file's content, mode and owner,
    files no deploy placed, the units, the loaded firewall, the installed wheel. Writes the metrics and the
    result (state/ENV/drift/HOST, in the bucket too where the host has its keys); changes nothing on the host.
    Exit 1 when anything differs."""
    from seawall.backup.actions.drift import verify
    from seawall.errors import UsageError
    from seawall.model import load_environment
    from seawall.model.schema import droplet_names

    settings = settings_of(ctx)
    env = load_environment(settings.environments, env_name)
    hosts = sorted([*env.datacenter_hosts, *(d for n, s in env.services.items() for d in droplet_names(n, s))])
    if host not in hosts:
        raise UsageError(f"{env.name} has no host {host!r} (known: {', '.join(hosts)})")
    result = verify(env, host, settings.project_root)
    if output is TableOrJson.json:
        print_json(result)
    else:
        _print_result(result)
    if result["drift"]:
        raise typer.Exit(1)


def _print_result(result: dict) -> None:
    from rich.markup import escape
    from rich.table import Table

    if not result["drift"]:
        stdout().print(f"{escape(result['host'])}: no drift (checked {result['checked']})")
        return
    table = Table(title=f"drift on {result['host']} ({result['environment']})")
    for column in ("kind", "what", "deployed", "found"):
        table.add_column(column)
    for item in result["drift"]:
        table.add_row(*(escape(str(item.get(key, ""))) for key in ("kind", "subject", "expected", "found")))
    stdout().print(table)


def register(root: typer.Typer) -> None:
    """Add the ``host`` group to the app."""
    root.add_typer(app, name="host")
