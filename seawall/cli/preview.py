"""``seawall preview ENV``: render an environment offline and show its resources."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.tree import Tree

from seawall.cli.context import TableOrJson, print_json, settings_of, stdout

if TYPE_CHECKING:
    from seawall.model import Environment
    from seawall.render import Graph, ResourceRecord
    from seawall.replacements import Plan


def short_type(token: str) -> str:
    """Given a type token (``digitalocean:index/droplet:Droplet``), return its last part (``Droplet``)."""
    return token.rsplit(":", 1)[-1]


def graph_tree(graph: Graph) -> Tree:
    """Given a rendered graph, return a tree grouped by component."""
    custom = sum(1 for record in graph.resources.values() if record.custom)
    components = len(graph.resources) - custom
    tree = Tree(f"[bold]{graph.environment}[/] ({custom} resources in {components} components)")
    children: dict[str | None, list[ResourceRecord]] = {}
    for record in sorted(graph.resources.values(), key=lambda r: r.name):  # one pass: linear in resources
        children.setdefault(record.parent, []).append(record)
    pending: list[tuple[Tree, str | None]] = [(tree, None)]
    while pending:
        branch, parent = pending.pop()
        for record in children.get(parent, []):
            label = f"{record.name} [dim]{short_type(record.type)}[/]"
            pending.append((branch.add(label if record.custom else f"[bold]{label}[/]"), record.name))
    return tree


def type_counts(graph: Graph) -> Table:
    """Given a rendered graph, return a table of resource counts per type."""
    counts = Counter(record.type for record in graph.resources.values() if record.custom)
    table = Table(title="resources by type")
    table.add_column("type")
    table.add_column("count", justify="right")
    for token, count in sorted(counts.items()):
        table.add_row(token, str(count))
    table.add_row("[bold]total[/]", f"[bold]{sum(counts.values())}[/]")
    return table


def preview_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="ENV", help="Environment to render.")],
    output: Annotated[TableOrJson, typer.Option("--format", help="table (a tree) or json.")] = TableOrJson.table,
    live: Annotated[
        bool, typer.Option("--live", help="Preview against the real stack with the policy pack (needs the Pulumi CLI).")
    ] = False,
    against: Annotated[
        Path | None,
        typer.Option(
            "--against",
            help="An earlier `preview --format json` (or ledger/ENV.deployed.json): list each create, update, "
            "replace and delete with the inputs that cause it, then each stateful droplet or volume replaced "
            "(what data it holds) and the --allow-replace flags `seawall up` will demand.",
        ),
    ] = None,
) -> None:
    """Render ENV offline under Pulumi's mock engine (no CLI, plugin or credential) and show its resources."""
    from seawall.model import load_environment
    from seawall.render import render

    settings = settings_of(ctx)
    env = load_environment(settings.environments, name)
    if live:
        from seawall import deploy

        deploy.require_pulumi_cli()
        variables = {"SEAWALL_ENVIRONMENTS": str(settings.environments.resolve())}
        summary = deploy.make_driver(env, settings.project_root, variables).preview(typer.echo)
        typer.echo(f"changes: {summary.get('change_summary', {})}")
        return
    from seawall.stacks.offline import OFFLINE

    graph = render(env, OFFLINE)
    if against is not None:
        from seawall.replacements import plan_changes, resources_by_name

        plan = plan_changes(read_graph_file(against), resources_by_name(json.loads(graph.to_json())))
        print_plan(env, plan, output)
        return
    if output is TableOrJson.json:
        typer.echo(graph.to_json(), nl=False)
        return
    console = stdout()
    console.print(graph_tree(graph))
    console.print(type_counts(graph))


def read_graph_file(path: Path) -> dict[str, Any]:
    """Given an earlier ``preview --format json`` file, return its resources by name; a file that cannot
    be read or is not such a graph is a configuration error that says so."""
    from seawall.errors import ConfigError
    from seawall.replacements import resources_by_name

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(document, dict) or not isinstance(document.get("resources"), list):
            raise ValueError("no resources list")
        return resources_by_name(document)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError([f"{path}: not a graph from `seawall preview --format json` ({exc})"]) from None


def print_plan(env: Environment, plan: Plan, output: TableOrJson) -> None:
    """Given a plan, print it as a table (or JSON): each change with the inputs that cause it, then each
    stateful droplet or volume it replaces (what it is, which backup sets hold its data) and the exact
    ``--allow-replace`` flags ``seawall up`` will demand."""
    from seawall.replacements import allow_replace_names, stateful_changes

    stateful = stateful_changes(env, plan)
    if output is TableOrJson.json:
        print_json(
            {
                "environment": env.name,
                "changes": [asdict(change) for change in plan.changes],
                "stateful": [_stateful_item(item) for item in stateful],
                "allow_replace": allow_replace_names(stateful),
            }
        )
        return
    table = Table(title=f"planned changes to {env.name} ({len(plan.changes)})")
    for column in ("action", "resource", "type", "because of"):
        table.add_column(column, overflow="fold")
    styles = {"replace": "bold red", "delete": "bold red", "create": "green", "update": "yellow"}
    for change in plan.changes:
        style = styles[change.action]
        table.add_row(
            f"[{style}]{change.action}[/]", change.name, change.type.rsplit(":", 1)[-1], ", ".join(change.inputs)
        )
    stdout().print(table)
    _print_stateful(env.name, stateful)


def _stateful_item(item: Any) -> dict[str, Any]:
    return {
        "name": item.change.name,
        "action": item.change.action,
        "inputs": list(item.change.inputs),
        "kind": item.kind,
        "service": item.service,
        "what": item.what,
        "holds": item.holds,
        "backup_sets": list(item.backup_sets),
    }


def _print_stateful(env_name: str, stateful: list[Any]) -> None:
    """Print each stateful replacement on a line of its own (what it is, what holds its data), then the
    flags ``up`` demands on one line to copy."""
    from seawall.replacements import PROTECTED_KINDS, allow_replace_names

    if not stateful:
        typer.echo(f"no stateful droplet or volume is replaced: `seawall up {env_name}` needs no --allow-replace")
        return
    typer.echo(f"stateful replacements ({len(stateful)}): the data on each is lost with it, so back it up first")
    for item in stateful:
        because = f"{item.change.action}: {', '.join(item.change.inputs)}" if item.change.inputs else "delete"
        typer.echo(f"  {item.change.name} ({because}): {item.what}; {item.holds}")
    flags = " ".join(f"--allow-replace {name}" for name in allow_replace_names(stateful))
    typer.echo(f"`seawall up {env_name}` will refuse these unless run with: {flags}")
    protected = sorted(item.change.name for item in stateful if item.kind in PROTECTED_KINDS)
    if protected:
        typer.echo(
            f"protected in the stack: {', '.join(protected)}; Pulumi refuses to replace them until "
            f"`pulumi state unprotect URN` (each one's URN: `pulumi stack --stack {env_name} --show-urns`)"
        )


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("preview")(preview_command)
