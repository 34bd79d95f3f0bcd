"""``seawall restore``, ``seawall snapshots``, ``seawall check`` and ``seawall unlock``: the commands an
operator reaches for on a bad day."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from seawall.cli.backup import EnvArg, FromOpt, HostOpt, SetOpt, Source, backup_context
from seawall.cli.context import TableOrJson, print_json, stdout


def restore_command(
    ctx: typer.Context,
    env_name: EnvArg,
    set_name: SetOpt = None,
    host: HostOpt = None,
    snapshot: Annotated[
        str, typer.Option("--snapshot", help="A snapshot id, or latest of the host and set.")
    ] = "latest",
    include: Annotated[list[str] | None, typer.Option("--include", help="Restore only this path (repeatable).")] = None,
    target: Annotated[Path | None, typer.Option("--target", help="A new or empty folder to restore into.")] = None,
    in_place: Annotated[
        bool, typer.Option("--in-place", help="Restore over the live paths of this host (needs --yes).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm an in-place restore.")] = False,
    issue: Annotated[str | None, typer.Option("--issue", help="The issue that logs this restore.")] = None,
    from_host: Annotated[
        str | None, typer.Option("--from-host", help="Restore a snapshot another host of the set took.")
    ] = None,
    delete: Annotated[
        bool, typer.Option("--delete", help="In place: remove files the snapshot does not have (kept by default).")
    ] = False,
    source: FromOpt = Source.primary,
) -> None:
    """Restore a snapshot into a new folder (verified), or in place with hooks and a safety snapshot first.

    Only the set's snapshots of this host are restored (another host's with --from-host); in place, a
    snapshot holding a path outside the set is refused, links are replaced, never written through, and
    files newer than the snapshot are kept unless --delete."""
    from seawall.backup.actions.restore import RestoreRequest, restore
    from seawall.backup.diagnose import human_bytes
    from seawall.errors import UsageError

    if in_place and not yes:
        raise UsageError(
            "--in-place overwrites the live files of this host: run the set's before_restore hooks, take a safety "
            "snapshot and restore only when you add --yes"
        )
    context = backup_context(ctx, env_name, set_name, host, source)
    request = RestoreRequest(snapshot, target, tuple(include or ()), in_place, issue, from_host, delete)
    console = Console(file=sys.stderr)
    with console.status("restoring", spinner="dots") if console.is_terminal else contextlib.nullcontext():
        outcome = restore(context, request)
    whose = f"{outcome.from_host}'s snapshot" if outcome.from_host else "snapshot"
    typer.echo(
        f"restored {whose} {outcome.snapshot} of {outcome.set_name} on {outcome.host} into {outcome.target}: "
        f"{outcome.files} files, {human_bytes(outcome.bytes)}, {outcome.seconds:.1f}s, verified"
        + (f"; safety snapshot {outcome.safety_snapshot[:8]}" if outcome.safety_snapshot else "")
    )
    for path, landed in outcome.landed:
        typer.echo(f"  {path} -> {landed}")


def snapshots_command(
    ctx: typer.Context,
    env_name: EnvArg,
    set_name: SetOpt = None,
    host: HostOpt = None,
    output: Annotated[TableOrJson, typer.Option("--format", help="table or json.")] = TableOrJson.table,
    source: FromOpt = Source.primary,
) -> None:
    """List snapshots: id, time, host, size, tags, and which drill verified it."""
    from dataclasses import asdict

    from seawall.backup.actions.repository import list_snapshots
    from seawall.backup.diagnose import human_bytes
    from seawall.errors import BackupError

    context = backup_context(ctx, env_name, set_name, host, source)
    rows = list_snapshots(context)
    if output is TableOrJson.json:
        print_json({"environment": context.env.name, "snapshots": [asdict(row) for row in rows]})
        return
    if not rows:
        run = " ".join(["seawall backup run", context.env.name, *(f"--set {name}" for name in context.sets)])
        msg = f"no snapshot of {', '.join(context.sets)} in {context.env.name} yet: run `{run}` first"
        raise BackupError(msg)
    table = Table(title=f"snapshots of {context.env.name}")
    for column in ("id", "time", "host", "set", "size", "tags", "verified"):
        table.add_column(column, overflow="fold")
    for row in rows:
        tags = ", ".join(tag for tag in row.tags if tag != "seawall" and not tag.startswith("set:"))
        table.add_row(
            row.short_id,
            row.time[:19],
            row.host,
            row.set_name,
            human_bytes(row.size_bytes),
            tags,
            row.verified_by or "-",
        )
    stdout().print(table)


def check_command(
    ctx: typer.Context,
    env_name: EnvArg,
    set_name: SetOpt = None,
    subset: Annotated[
        str | None, typer.Option("--read-data-subset", help="Also read this part of the packs (K/N, or a %).")
    ] = None,
    read_data: Annotated[bool, typer.Option("--read-data", help="Read every pack.")] = False,
    source: FromOpt = Source.primary,
) -> None:
    """Check each repository; damage names the packs and the snapshots they affect. Exit 1 on damage."""
    from seawall.backup.actions.repository import check_repositories

    context = backup_context(ctx, env_name, set_name, source=source)
    outcomes = check_repositories(context, subset, read_data)
    for o in outcomes:
        typer.echo(
            f"{o.set_name}: {o.repository}: {'ok' if o.ok else 'FAILED'}" + (f": {o.detail}" if o.detail else "")
        )
    if not all(o.ok for o in outcomes):
        raise typer.Exit(1)


def unlock_command(
    ctx: typer.Context,
    env_name: EnvArg,
    set_name: SetOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Remove live locks too.")] = False,
    source: FromOpt = Source.primary,
) -> None:
    """Remove stale locks (older than stale_lock_after, or of a dead process on this host); --force removes all."""
    from seawall.backup.actions.repository import unlock_repositories

    context = backup_context(ctx, env_name, set_name, source=source)
    held = False
    for o in unlock_repositories(context, force):
        typer.echo(f"{o.set_name}: {o.repository}: removed {len(o.removed)} stale lock(s)")
        for lock in o.live:
            held = True
            typer.echo(f"{o.set_name}: kept live lock {escape(lock)} (add --force only when no restic runs)", err=True)
    if held:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("restore")(restore_command)
    app.command("snapshots")(snapshots_command)
    app.command("check")(check_command)
    app.command("unlock")(unlock_command)
