"""``seawall backup init|run|prune|status|schedule``."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from seawall.cli.context import TableOrJson, print_json, settings_of, stdout

if TYPE_CHECKING:
    from collections.abc import Iterator

    from backup.plan import Job

app = typer.Typer(help="Back up, prune, check and schedule restic backups.", no_args_is_help=True)
EnvArg = Annotated[str, typer.Argument(metavar="ENV", help="Environment.")]
SetOpt = Annotated[str | None, typer.Option("--set", help="Only this backup set.")]
HostOpt = Annotated[str | None, typer.Option("--host", help="Only this host (droplet or data-center host).")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Say what would be done, change nothing.")]


def _load(ctx: typer.Context, name: str) -> tuple[Any, Path]:
    from seawall.model import load_environment

    settings = settings_of(ctx)
    return load_environment(settings.environments, name), settings.project_root


@app.command("init")
def init_command(ctx: typer.Context, env_name: EnvArg, set_name: SetOpt = None, dry_run: DryRun = False) -> None:
    """Create the repositories (and make the S3/Spaces bucket private, versioned, with lifecycle rules)."""
    from backup.actions.init import init_repositories

    env, root = _load(ctx, env_name)
    for outcome in init_repositories(env, root, set_name, dry_run):
        done = "; ".join(outcome.actions) or "already in place"
        typer.echo(f"{outcome.set_name}: {outcome.repository}: {done}")


@app.command("run")
def run_command(
    ctx: typer.Context, env_name: EnvArg, set_name: SetOpt = None, host: HostOpt = None, dry_run: DryRun = False
) -> None:
    """Run pre-hooks, back up, run post-hooks, then apply retention when everything succeeded. Exit 1 on any failure."""
    from backup.actions.run import run_backups

    env, root = _load(ctx, env_name)
    with _progress() as progress:
        outcomes = run_backups(env, root, set_name, host, dry_run, progress)
    table = Table(title=f"backups of {env.name}")
    for column in ("set", "host", "result", "snapshot", "added", "files", "seconds", "forgotten", "error"):
        table.add_column(column, overflow="fold")
    for o in outcomes:
        style = "green" if o.ok else "red"
        table.add_row(
            o.job.set_name,
            o.job.host,
            f"[{style}]{o.result}[/]",
            o.snapshot or "-",
            _bytes(o.bytes_added),
            str(o.files),
            f"{o.seconds:.1f}",
            str(len(o.forgotten)),
            o.error,
        )
    stdout().print(table)
    if not all(o.ok for o in outcomes):
        raise typer.Exit(1)


@app.command("prune")
def prune_command(ctx: typer.Context, env_name: EnvArg, set_name: SetOpt = None, dry_run: DryRun = False) -> None:
    """Check each repository and prune it only when the check passed. Exit 1 when a check or prune failed."""
    from backup.actions.prune import prune_repositories

    env, root = _load(ctx, env_name)
    outcomes = prune_repositories(env, root, set_name, dry_run)
    for o in outcomes:
        typer.echo(f"{o.set_name}: {o.repository}: {o.result}" + (f": {o.error}" if o.error else ""))
    if not all(o.ok for o in outcomes):
        raise typer.Exit(1)


@app.command("status")
def status_command(
    ctx: typer.Context,
    env_name: EnvArg,
    output: Annotated[TableOrJson, typer.Option("--format", help="table or json.")] = TableOrJson.table,
) -> None:
    """Show every host and set of the inventory: newest snapshot age against RPO, size, last run and drill.

    Exit 1 when any host has no snapshot, missed its RPO or its repository cannot be read.
    """
    from backup.actions.status import fleet_status

    env, root = _load(ctx, env_name)
    rows = fleet_status(env, root)
    if output is TableOrJson.json:
        print_json(
            {"environment": env.name, "rows": [row.as_json() for row in rows], "alarms": sum(r.alarm for r in rows)}
        )
    else:
        table = Table(title=f"backup status of {env.name}")
        for column in (
            "host",
            "set",
            "status",
            "snapshots",
            "newest",
            "age",
            "rpo",
            "size",
            "last run",
            "last drill",
            "detail",
        ):
            table.add_column(column, overflow="fold")
        for r in rows:
            style = "green" if not r.alarm else "bold red"
            table.add_row(
                r.host,
                r.set_name,
                f"[{style}]{r.status}[/]",
                str(r.snapshots),
                r.newest or "-",
                _age(r.age_seconds),
                _age(r.rpo_seconds),
                _bytes(r.size_bytes),
                r.last_run or "-",
                r.last_drill or "-",
                r.detail,
            )
        stdout().print(table)
    if any(row.alarm for row in rows):
        raise typer.Exit(1)


@app.command("schedule")
def schedule_command(
    ctx: typer.Context,
    env_name: EnvArg,
    host: Annotated[str, typer.Option("--host", help="The host to render the schedule of.")],
    out: Annotated[Path | None, typer.Option("--out", help="Write the files into this folder.")] = None,
    seawall_bin: Annotated[str | None, typer.Option("--seawall-bin", help="Path of seawall on the host.")] = None,
    dry_run: DryRun = False,
) -> None:
    """Render the host's systemd backup and drill units, its environment file and a cron alternative."""
    from backup.actions.schedule import schedule_files, write_schedule

    env, _ = _load(ctx, env_name)
    files = schedule_files(env, host, seawall_bin)
    if out is None:
        for rendered in files:
            typer.echo(f"# {rendered.path} (mode {rendered.mode})\n{rendered.content}")
        return
    for path in write_schedule(files, out, dry_run):
        typer.echo(str(path))


def _bytes(value: int | None) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"  # pragma: no cover


def _age(seconds: float | None) -> str:
    from datetime import timedelta

    from seawall.model.types import format_duration

    return "-" if seconds is None else format_duration(timedelta(seconds=int(seconds)))


@contextmanager
def _progress() -> Iterator[Any]:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    console = Console(file=sys.stderr)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bars:
        tasks: dict[tuple[str, str], Any] = {}

        def update(job: Job, status: dict[str, Any]) -> None:
            key = (job.set_name, job.host)
            if key not in tasks:
                tasks[key] = bars.add_task(f"{job.set_name} on {job.host}", total=None)
            bars.update(tasks[key], completed=status.get("bytes_done", 0), total=status.get("total_bytes") or None)

        yield update


def register(root: typer.Typer) -> None:
    """Add the ``backup`` group to the app."""
    root.add_typer(app, name="backup")
