"""``seawall drill ENV``: restore drills with measured RPO and RTO."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from seawall.cli.backup import FromOpt, SetOpt, Source, backup_context
from seawall.cli.context import TableOrJson, print_json, stdout


def drill_command(
    ctx: typer.Context,
    env_name: Annotated[str, typer.Argument(metavar="ENV", help="Environment.")],
    set_name: SetOpt = None,
    host: Annotated[str | None, typer.Option("--host", help="Only this host.")] = None,
    snapshot: Annotated[
        str, typer.Option("--snapshot", help="latest, random (an older one, seeded) or an id.")
    ] = "latest",
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed for random choices (recorded in the report).")
    ] = None,
    jobs: Annotated[
        int, typer.Option("--jobs", min=1, max=32, help="restic processes at once (drills, check slices, samples).")
    ] = 2,
    target: Annotated[
        Path | None, typer.Option("--target", help="Empty scratch folder (default: a temporary one).")
    ] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the restored files for inspection.")] = False,
    output: Annotated[TableOrJson, typer.Option("--format", help="table or json.")] = TableOrJson.table,
    source: FromOpt = Source.primary,
) -> None:
    """Restore snapshots into scratch, verify them, measure RPO and RTO; exit 1 when anything failed.

    --from copy drills the off-site copies (on the vault): the same steps and targets, reports and metrics
    of their own."""
    from seawall.backup.actions.drill import DrillOptions, run_drills
    from seawall.backup.reports import report_json

    context = backup_context(ctx, env_name, set_name, host, source)
    options = DrillOptions(snapshot, seed, jobs, target, keep)
    console = Console(file=sys.stderr)
    with console.status("drilling", spinner="dots") if console.is_terminal else contextlib.nullcontext() as status:
        results = run_drills(context, options, _reporter(status))
    if output is TableOrJson.json:
        print_json({"environment": context.env.name, "drills": [report_json(r) for r in results]})
    else:
        stdout().print(_table(context.env.name, results))
        for result in results:
            for failure in [*result.failures, *([result.unrecorded] if result.unrecorded else [])]:
                typer.echo(f"{result.set_name} on {result.host}: {failure}", err=True)
    if not all(result.passed and not result.unrecorded for result in results):
        raise typer.Exit(1)


def _table(env_name: str, results: list[Any]) -> Table:
    table = Table(title=f"restore drills of {env_name}")
    for column in ("set", "host", "result", "snapshot", "RPO", "RTO", "check slice", "coverage", "report"):
        table.add_column(column, overflow="fold")
    for r in results:
        rpo = f"{r.rpo['seconds']:.0f}s / {r.rpo['target_seconds']:.0f}s" if r.rpo.get("seconds") is not None else "-"
        rto = f"{r.rto['seconds']:.1f}s / {r.rto['target_seconds']:.0f}s" if r.rto else "-"
        style = "green" if r.passed and not r.unrecorded else "bold red"
        table.add_row(
            r.set_name,
            r.host,
            f"[{style}]{'passed' if r.passed else 'failed'}{', unrecorded' if r.unrecorded else ''}[/]",
            str(r.snapshot.get("short_id", "-")),
            rpo,
            rto,
            r.check.slice if r.check else "-",
            f"{r.check.coverage:.0%}" if r.check else "-",
            str(r.report_path or "-"),
        )
    return table


def _reporter(status: Any) -> Any:
    def report(key: str, step: str) -> None:
        if status is not None:
            status.update(f"{key}: {step}")

    return report


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("drill")(drill_command)
