"""``seawall audit ENV``: the security and operations policies, offline, on the rendered graph."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from seawall.cli.context import OutputFormat, print_json, settings_of, stdout


def audit_command(
    ctx: typer.Context,
    env_name: Annotated[str, typer.Argument(metavar="ENV", help="Environment.")],
    output: Annotated[OutputFormat, typer.Option("--format", help="table, json or markdown.")] = OutputFormat.table,
) -> None:
    """Check ENV against every policy offline; exit 1 on a mandatory violation."""
    from seawall.audit import audit, blocking
    from seawall.model import load_environment
    from seawall.policies import RULES

    env = load_environment(settings_of(ctx).environments, env_name)
    from seawall.stacks.offline import offline_renderer

    findings = audit(env, offline_renderer())
    failed = blocking(findings)
    if output is OutputFormat.json:
        print_json(
            {
                "environment": env.name,
                "rules": [rule.id for rule in RULES],
                "findings": [f.as_json() for f in findings],
                "passed": not failed,
            }
        )
    elif output is OutputFormat.markdown:
        lines = [
            f"### Audit of {env.name}: {'passed' if not failed else 'FAILED'}",
            "",
            f"{len(RULES)} rules, {len(findings)} findings, {len(failed)} mandatory",
            "",
        ]
        if findings:
            from seawall.markdown import markdown_table

            lines += markdown_table(
                ("rule", "severity", "enforcement", "resource", "finding", "remediation"),
                [(f.rule, f.severity, f.enforcement, f.resource, f.message, f.remediation) for f in findings],
            )
        typer.echo("\n".join(lines))
    elif not findings:
        typer.echo(f"audit passed: {env.name} meets all {len(RULES)} rules, no finding")
    else:
        table = Table(title=f"audit of {env.name}: {len(RULES)} rules, {len(findings)} findings")
        for column in ("rule", "severity", "enforcement", "resource", "finding", "remediation"):
            table.add_column(column, overflow="fold")
        for f in findings:
            style = "bold red" if f.enforcement == "mandatory" else "yellow"
            table.add_row(f"[{style}]{f.rule}[/]", f.severity, f.enforcement, f.resource, f.message, f.remediation)
        stdout().print(table)
        typer.echo("audit passed" if not failed else f"audit failed: {len(failed)} mandatory violation(s)")
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("audit")(audit_command)
