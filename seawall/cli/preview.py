"""``seawall preview ENV``: render an environment offline and show its resources."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.tree import Tree

from seawall.cli.context import TableOrJson, settings_of, stdout

if TYPE_CHECKING:
    from seawall.render import Graph


def short_type(token: str) -> str:
    """Given a type token (``digitalocean:index/droplet:Droplet``), return its last part (``Droplet``)."""
    return token.rsplit(":", 1)[-1]


def graph_tree(graph: Graph) -> Tree:
    """Given a rendered graph, return a tree grouped by component."""
    tree = Tree(f"[bold]{graph.environment}[/] ({len(graph.resources)} resources)")

    def add(branch: Tree, parent: str | None) -> None:
        for record in graph.children_of(parent):
            label = f"{record.name} [dim]{short_type(record.type)}[/]"
            add(branch.add(label if record.custom else f"[bold]{label}[/]"), record.name)

    add(tree, None)
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
) -> None:
    """Render ENV offline under Pulumi's mock engine (no CLI, plugin or credential) and show its resources."""
    from seawall.model import load_environment
    from seawall.render import render

    settings = settings_of(ctx)
    env = load_environment(settings.environments, name)
    if live:
        from seawall import deploy

        deploy.require_pulumi_cli()
        summary = deploy.make_driver(env, settings.project_root).preview(typer.echo)
        typer.echo(f"changes: {summary.get('change_summary', {})}")
        return
    graph = render(env)
    if output is TableOrJson.json:
        typer.echo(graph.to_json(), nl=False)
        return
    console = stdout()
    console.print(graph_tree(graph))
    console.print(type_counts(graph))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("preview")(preview_command)
