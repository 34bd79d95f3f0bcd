"""``seawall backup init|run|prune|copy|status|schedule|drill|restore|snapshots|check|unlock``.

The last five are also top-level commands (``seawall drill`` is ``seawall backup drill``): their modules,
``seawall.cli.drill`` and ``seawall.cli.repository``, register them in both places."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from seawall.cli.context import TableOrJson, print_json, settings_of, stdout

if TYPE_CHECKING:
    from collections.abc import Iterator

    from seawall.backup.context import BackupContext
    from seawall.backup.plan import Job
    from seawall.model.schema import Environment

BACKUP_HELP = """Create, back up, prune, copy off-site, drill, restore, list, check, unlock and schedule repositories.

--from copy makes init, prune, drill, restore, snapshots, check and unlock work on the sets' off-site copies.

drill, restore, snapshots, check and unlock are also top-level commands: `seawall drill ENV` is
`seawall backup drill ENV`."""
app = typer.Typer(help=BACKUP_HELP, no_args_is_help=True)
EnvArg = Annotated[str, typer.Argument(metavar="ENV", help="Environment.")]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", metavar="SET", help="Only this backup set (repeatable: each one given).")
]
HostOpt = Annotated[
    str | None, typer.Option("--host", metavar="HOST", help="Only this host (droplet or data-center host).")
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print what would be done (no -v needed), change nothing.")]


class Source(StrEnum):
    """Which repositories a command works on."""

    primary = "primary"
    copy = "copy"


FromOpt = Annotated[
    Source,
    typer.Option(
        "--from",
        help="primary: the sets' own repositories; copy: their off-site copies (the vault's key and password).",
    ),
]


def backup_context(
    ctx: typer.Context,
    name: str,
    set_name: list[str] | None = None,
    host: str | None = None,
    source: Source = Source.primary,
) -> BackupContext:
    """Given the command's context and options, load the environment and build the backup context once."""
    from seawall.backup.context import build_context
    from seawall.model import load_environment

    settings = settings_of(ctx)
    env = load_environment(settings.environments, name)
    return build_context(env, settings.project_root, set_name, host, source.value)


@app.command("init")
def init_command(
    ctx: typer.Context,
    env_name: EnvArg,
    set_name: SetOpt = None,
    dry_run: DryRun = False,
    source: FromOpt = Source.primary,
) -> None:
    """Create the repositories (and make the S3/Spaces bucket private, versioned, with lifecycle rules).

    With --from copy (on the vault): the off-site copies, with their primaries' chunker parameters, in a
    bucket that keeps removed versions (and, where asked and supported, locks objects) for the copy's
    longest keep-rule."""
    from seawall.backup.actions.init import init_repositories

    context = backup_context(ctx, env_name, set_name, source=source)
    outcomes, generated = init_repositories(context, dry_run)
    for outcome in outcomes:
        done = "; ".join(("would " if dry_run else "") + action for action in outcome.actions) or "already in place"
        typer.echo(f"{outcome.set_name}: {outcome.repository}: {done}")
    if generated and not dry_run:
        typer.echo(
            f"generated the repository password in {generated} (mode 0600): keep a copy away from this machine "
            "(a password manager or a sealed envelope); without it no backup can be restored"
        )
    elif generated:
        typer.echo(f"would generate the repository password in {generated} (mode 0600)")


@app.command("run")
def run_command(
    ctx: typer.Context, env_name: EnvArg, set_name: SetOpt = None, host: HostOpt = None, dry_run: DryRun = False
) -> None:
    """Run pre-hooks, back up, run post-hooks. Exit 1 on any failure or alarm (a snapshot dated in the future).

    Before and after each backup, the locks this host's dead restic processes left in the repository (a
    restic killed or cut off mid-upload) are removed; another host's lock and a live one never are.
    """
    from seawall.backup.actions.run import run_backups

    context = backup_context(ctx, env_name, set_name, host)
    with _progress() as progress:
        outcomes = run_backups(context, dry_run, progress)
    if dry_run:
        for outcome in outcomes:
            typer.echo(_planned_backup(outcome.job))
        return
    table = Table(title=f"backups of {context.env.name}")
    for column in ("set", "host", "result", "snapshot", "added", "files", "seconds", "error"):
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
            escape("; ".join(text for text in (o.error, o.unrecorded) if text)),
        )
    stdout().print(table)
    for alarm in (alarm for o in outcomes for alarm in o.alarms):
        typer.echo(f"alarm: {alarm}", err=True)
    if not all(o.ok and not o.alarms for o in outcomes):
        raise typer.Exit(1)


@app.command("prune")
def prune_command(
    ctx: typer.Context,
    env_name: EnvArg,
    set_name: SetOpt = None,
    dry_run: DryRun = False,
    issue: Annotated[
        str | None,
        typer.Option("--issue", help="The issue that logs this prune (required by hand where the model says)."),
    ] = None,
    scheduled: Annotated[
        bool, typer.Option("--scheduled", help="Run by the prune timer (recorded as scheduled, no issue needed).")
    ] = False,
    source: FromOpt = Source.primary,
) -> None:
    """Check each repository; only when the check passed, apply retention (protected snapshots stay), then prune.

    One job per set, on one host of the set (the set's prune_host); where there is an off-site copy, a
    snapshot the copy has not received is kept back. --from copy prunes the copies with the copy's own
    retention, on the vault. Exit 1 when a check, retention or prune failed.
    """
    from seawall.backup.actions.prune import prune_repositories

    context = backup_context(ctx, env_name, set_name, source=source)
    outcomes = prune_repositories(context, dry_run, issue, scheduled)
    for o in outcomes:
        if dry_run and o.ok:
            forgets = ", ".join(snapshot[:8] for snapshot in o.forgotten) or "none"
            typer.echo(
                f"{o.set_name}: {o.repository}: would check, forget {len(o.forgotten)} snapshot(s) ({forgets}), keep "
                f"back {len(o.protected)} protected, then prune"
            )
            continue
        forgot = f"{'would forget' if dry_run else 'forgot'} {len(o.forgotten)}, kept back {len(o.protected)}"
        typer.echo(f"{o.set_name}: {o.repository}: {o.result} ({forgot})" + (f": {o.error}" if o.error else ""))
    if not all(o.ok for o in outcomes):
        raise typer.Exit(1)


@app.command("copy")
def copy_command(
    ctx: typer.Context,
    env_name: EnvArg,
    set_name: SetOpt = None,
    dry_run: DryRun = False,
    acknowledge: Annotated[
        bool, typer.Option("--acknowledge", help="Clear the vanished-snapshot alarm of the sets (needs --issue).")
    ] = False,
    issue: Annotated[str | None, typer.Option("--issue", help="The issue that logs the acknowledgement.")] = None,
) -> None:
    """On the vault: copy every set's new snapshots into its off-site copy, and raise the alarm for snapshots
    that vanished from a primary without a recorded prune.

    Exit 1 when a copy failed or an alarm stands (it stays until --acknowledge --issue URL)."""
    from seawall.backup.actions.copy import copy_sets
    from seawall.errors import UsageError

    if acknowledge and not issue:
        raise UsageError("--acknowledge needs --issue URL: the issue that says what happened to the vanished snapshots")
    context = backup_context(ctx, env_name, set_name, source=Source.copy)
    outcomes = copy_sets(context, dry_run, issue if acknowledge else None)
    for o in outcomes:
        done = f"would copy {o.copied} snapshot(s)" if dry_run else f"{o.result}, {o.copied} new snapshot(s)"
        typer.echo(f"{o.set_name}: {o.repository}: {done}" + (f": {o.error}" if o.error else ""))
        if o.protection:
            typer.echo(f"{o.set_name}: protection: {'; '.join(o.protection)}")
        if o.vanished:
            typer.echo(_vanished_alarm(context.env, o.set_name, o.vanished), err=True)
    if not all(o.ok for o in outcomes):
        raise typer.Exit(1)


def _vanished_alarm(env: Environment, set_name: str, vanished: list[dict[str, Any]]) -> str:
    """Given snapshots that vanished from a set's primary, return the alarm with the commands that list them
    in the copy, restore one host's from there and, once understood, acknowledge them."""
    hosts = sorted({entry["host"] for entry in vanished})
    shown = ", ".join(f"{entry['id'][:8]}{'' if entry['in_copy'] else ' (not in the copy)'}" for entry in vanished)
    chosen = f"{env.name} --set {set_name}"
    issue = " --issue URL" if env.release.require_issue else ""
    each = " (each host's with its --host)" if len(hosts) > 1 else ""
    kept = "them" if all(entry["in_copy"] for entry in vanished) else "the others"
    return (
        f"alarm: {len(vanished)} snapshot(s) of {set_name} (hosts {', '.join(hosts)}) vanished from the primary "
        f"without a recorded prune: {shown}; the copy keeps {kept}: list them with `seawall snapshots {chosen} --from "
        f"copy`, restore with `seawall restore {chosen} --host {hosts[0]} --from copy --target DIR{issue}`{each}, "
        f"and once understood acknowledge with `seawall backup copy {chosen} --acknowledge --issue URL`"
    )


@app.command("status")
def status_command(
    ctx: typer.Context,
    env_name: EnvArg,
    set_name: SetOpt = None,
    host: HostOpt = None,
    deep: Annotated[
        bool, typer.Option("--deep", help="Confirm against the repositories (one restic listing each).")
    ] = False,
    jobs: Annotated[
        int | None, typer.Option("--jobs", min=1, max=64, help="With --deep: repositories at once (default: CPUs).")
    ] = None,
    metrics: Annotated[
        bool, typer.Option("--metrics", help="Also write the rows as textfile metrics (the scheduled deep status).")
    ] = False,
    output: Annotated[TableOrJson, typer.Option("--format", help="table or json.")] = TableOrJson.table,
) -> None:
    """Show every host and set of the inventory: last backup's age against RPO, size, last run and drill.

    From what every host recorded (no restic process); --deep lists each repository once, --jobs at a
    time, and flags a repository that disagrees with the record. Exit 1 when any host has no backup, missed
    its RPO, saw a snapshot dated in the future (clock-skew), disagrees, or its repository cannot be read.
    """
    import os

    from seawall.backup.actions.copy import copy_status
    from seawall.backup.actions.status import fleet_status, write_status_metrics

    context = backup_context(ctx, env_name, set_name, host)
    rows = fleet_status(context, jobs=jobs or os.cpu_count() or 2, deep=deep)
    copies = copy_status(context)
    rehearsal = _last_rehearsal(context)
    if metrics:
        write_status_metrics(context, rows, deep)
        from seawall.dr.report import write_rehearsal_metrics

        write_rehearsal_metrics(context.store, context.metrics_dir, context.env.name, context.env.dr.rehearsal_interval)
    if output is TableOrJson.json:
        print_json(
            {
                "environment": context.env.name,
                "rows": [row.as_json() for row in rows],
                "copies": [row.as_json() for row in copies],
                "dr_rehearsal": rehearsal,
                "alarms": sum(r.alarm for r in rows) + sum(r.alarm for r in copies),
            }
        )
    else:
        table = Table(title=f"backup status of {context.env.name}")
        columns = ("host", "set", "status", "snapshots", "newest", "age", "rpo", "size", "last run", "last drill",
                   "confirmed")  # fmt: skip
        for column in (*columns, "detail"):
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
                (r.confirmed or "never")[:16].replace("T", " "),
                escape(r.detail),
            )
        stdout().print(table)
        if copies:
            stdout().print(_copy_table(context.env.name, copies))
        typer.echo(
            f"last DR rehearsal: {rehearsal['status']} {rehearsal['time'] or ''} {rehearsal['detail']}".replace(
                "  ", " "
            )
        )
    if any(row.alarm for row in rows) or any(row.alarm for row in copies):
        raise typer.Exit(1)


def _last_rehearsal(context: Any) -> dict[str, Any]:
    """The last DR rehearsal as the fleet's record has it (``seawall dr rehearse``), against the interval."""
    import datetime as dt

    from seawall.dr.report import last_rehearsal, rehearsal_status

    record, problem = last_rehearsal(context.store)
    interval = context.env.dr.rehearsal_interval
    return rehearsal_status(record, problem, interval, dt.datetime.now(dt.UTC), context.env.name)


def _copy_table(env_name: str, copies: list[Any]) -> Table:
    table = Table(title=f"off-site copy of {env_name} (the vault's record)")
    for column in ("set", "status", "newest", "age", "target", "last copy", "protection (as read)", "detail"):
        table.add_column(column, overflow="fold")
    for c in copies:
        style = "green" if not c.alarm else "bold red"
        checked = f" (read {c.protection_checked[:16].replace('T', ' ')})" if c.protection_checked else ""
        table.add_row(
            c.set_name,
            f"[{style}]{c.status}[/]",
            (c.newest or "-")[:19].replace("T", " "),
            _age(c.age_seconds),
            _age(c.target_seconds),
            (c.last_copy or "-")[:16].replace("T", " "),
            escape("; ".join(c.protection) + checked) or "never read",
            escape(c.detail),
        )
    return table


@app.command("schedule")
def schedule_command(
    ctx: typer.Context,
    env_name: EnvArg,
    host: Annotated[str, typer.Option("--host", help="The host to render the schedule of.")],
    out: Annotated[Path | None, typer.Option("--out", help="Write the files into this folder.")] = None,
    seawall_bin: Annotated[str | None, typer.Option("--seawall-bin", help="Path of seawall on the host.")] = None,
    dry_run: DryRun = False,
) -> None:
    """Render the host's systemd backup, drill, prune (and deep status) units, its environment file and cron lines."""
    from seawall.backup.actions.schedule import schedule_files, write_schedule
    from seawall.model import load_environment

    env = load_environment(settings_of(ctx).environments, env_name)
    files = schedule_files(env, host, seawall_bin)
    if out is None:
        for rendered in files:
            typer.echo(f"# {rendered.path} (mode {rendered.mode})\n{rendered.content}")
        return
    for path in write_schedule(files, out, dry_run):
        typer.echo(f"would write {path}" if dry_run else str(path))


def _planned_backup(job: Job) -> str:
    """Given a job a dry run skipped, return the line that says what a run would do."""
    hooks = job.backup_set.hooks
    return (
        f"{job.set_name} on {job.host}: would run {len(hooks.before)} before hook(s), back up "
        f"{', '.join(job.paths)} to {job.target.repository}, then run {len(hooks.after)} after hook(s)"
    )


def _bytes(value: int | None) -> str:
    from seawall.backup.diagnose import human_bytes

    return human_bytes(value)


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
    """Add the ``backup`` group to the app: its own commands and the repository commands it shares with the top
    level."""
    from seawall.cli import drill, repository

    if "drill" not in {command.name for command in app.registered_commands}:
        drill.register(app)
        repository.register(app)
    root.add_typer(app, name="backup")
