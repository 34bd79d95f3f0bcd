"""``seawall docs [ENV...] [--out DIR] [--check]``: the ops documents, generated from the model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from seawall.cli.context import settings_of


def docs_command(
    ctx: typer.Context,
    env_names: Annotated[
        list[str] | None, typer.Argument(metavar="[ENV]...", help="Environments (default: every one).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder of the documents (default: docs/ops, for every environment).")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 and list the files that differ from the model.")
    ] = False,
    templates: Annotated[
        Path | None,
        typer.Option(
            "--templates", help="Templates that override the shipped ones (default: templates/ of the project)."
        ),
    ] = None,
    no_state: Annotated[
        bool, typer.Option("--no-state", help="Leave out what hosts recorded (backups, drills, deploys).")
    ] = False,
) -> None:
    """Write the inventory, service documents, runbooks, DR plans and risk assessment (same inputs, same
    bytes); --check exits 1 when the committed documents are not what the model generates."""
    from seawall.cli.deploy import ledger_dir
    from seawall.errors import UsageError
    from seawall.model import list_environments, load_environments
    from seawall.opsdocs.generate import render_documents, stale_documents, write_documents
    from seawall.opsdocs.measured import read_measured

    settings = settings_of(ctx)
    every = list_environments(settings.environments)
    names = env_names or every
    if out is None and sorted(set(names)) != sorted(every):
        msg = "docs/ops holds the documents of every environment: give --out DIR for a selection of them"
        raise UsageError(msg)
    envs = load_environments(settings.environments, names)
    measured = (
        {}
        if no_state
        else {name: read_measured(env, settings.project_root, ledger_dir(settings)) for name, env in envs.items()}
    )
    folder = out if out is not None else settings.project_root / "docs" / "ops"
    documents = render_documents(envs, measured, templates or settings.project_root / "templates")
    if check:
        differences = stale_documents(documents, folder)
        for difference in differences:
            typer.echo(f"{difference.kind}: {folder / difference.path}")
        if differences:
            typer.echo(
                f"{len(differences)} document(s) differ from the model: {_regenerate_hint(out, no_state)}", err=True
            )
            raise typer.Exit(1)
        typer.echo(f"{len(documents)} documents in {folder} are current")
        return
    touched = write_documents(documents, folder)
    for path in touched:
        typer.echo(str(folder / path))
    typer.echo(f"{len(documents)} documents in {folder}, {len(touched)} written or removed", err=True)


def _regenerate_hint(out: Path | None, no_state: bool) -> str:
    """The command that writes what --check compared: docs/ops is committed without any machine's state."""
    if out is None:
        return "run `seawall docs --no-state` and commit docs/ops (the committed documents carry no machine's state)"
    return f"run `seawall docs --out {out}{' --no-state' if no_state else ''}` (the same options without --check)"


def register(root: typer.Typer) -> None:
    """Add the ``docs`` command to the app."""
    root.command("docs")(docs_command)
