"""``seawall release build|list``: the services' images built, pushed and recorded by digest.

``build SERVICE --version V`` builds the service's artifact with buildah (or copies its pinned upstream image
with skopeo), pushes it to ``registry.url``, checks the registry holds that digest, and appends the release to
``ledger/releases.jsonl``; a build that fails, a registry that is down or refuses, a digest that does not
exist: one line, exit 1 (a missing Containerfile, an unknown service, a version already released: exit 2),
and nothing recorded. The artifact is the model's; the environment it is read from is the first of the
promotion chain that has the service (``--environment`` names another).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from seawall.cli.context import TableOrJson, print_json, settings_of, stdout
from seawall.errors import UsageError

if TYPE_CHECKING:
    from pathlib import Path

    from seawall.model.schema import Environment

HELP = "Build, push and record the services' images by digest (buildah, skopeo), and list the releases."
app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False, rich_markup_mode=None)


def _environment_of(environments: Path, service: str, name: str | None) -> Environment:
    """Given the environments folder, a service and ``--environment``, return the environment its artifact is
    read from: the one named, else the first of the promotion chain (no predecessor) that has the service."""
    from seawall.model import load_environment, load_environments, require_environment_name

    if name is not None:
        return load_environment(environments, require_environment_name(environments, name))
    loaded = load_environments(environments)
    roots = [env for _, env in sorted(loaded.items()) if env.environment.predecessor is None]
    for env in [*roots, *(env for _, env in sorted(loaded.items()) if env not in roots)]:
        if service in env.services:
            return env
    msg = f"{service!r} is a service of no environment in {environments}: give a service the model declares"
    raise UsageError(msg)


@app.command("build")
def build_command(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(metavar="SERVICE", help="The service whose artifact is released.")],
    version: Annotated[str, typer.Option("--version", help="The version to release it as (the image's tag).")],
    environment: Annotated[
        str | None, typer.Option("--environment", help="Read the artifact from this environment's model.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be done, and do nothing.")] = False,
) -> None:
    """Build SERVICE's image (or copy its pinned upstream one), push it, check the registry holds its digest,
    and record the release (name, version, digest, build inputs, builder). Exit 1 when a tool or the registry
    fails, 2 on bad input; nothing is recorded then."""
    from seawall.cli.deploy import ledger_dir
    from seawall.deploy import identity
    from seawall.release.pipeline import release_service

    settings = settings_of(ctx)
    _check_version(version)
    env = _environment_of(settings.environments, service, environment)
    who, source = identity()
    builder = {"identity": who or "", "identity_source": source}
    entry = release_service(env, service, version, ledger_dir(settings), settings.project_root, builder, dry_run)
    if entry is None:
        typer.echo(f"dry run: {service} {version} would be built and pushed; nothing was done")
        return
    typer.echo(f"released {service} {version}: {entry.reference}; recorded in {ledger_dir(settings)}/releases.jsonl")


def _check_version(version: str) -> None:
    """Refuse a version the model would refuse (a branch, spaces…), in one line."""
    from pydantic import TypeAdapter, ValidationError

    from seawall.model.types import Version

    try:
        TypeAdapter(Version).validate_python(version)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise UsageError(f"--version {version!r}: {reason}") from None


@app.command("list")
def list_command(
    ctx: typer.Context,
    service: Annotated[str | None, typer.Argument(metavar="[SERVICE]", help="Only this service's releases.")] = None,
    output: Annotated[TableOrJson, typer.Option("--format", help="table or json.")] = TableOrJson.table,
) -> None:
    """List the releases: service, version, digest, source and builder, oldest first."""
    from seawall.cli.deploy import ledger_dir
    from seawall.releases import describe_release, read_releases

    entries = [e for e in read_releases(ledger_dir(settings_of(ctx))) if service in (None, e.service)]
    if output is TableOrJson.json:
        print_json([describe_release(entry) for entry in entries])
        return
    if not entries:
        typer.echo("no release yet (`seawall release build SERVICE --version V` records one)")
        return
    table = Table(title=f"releases ({len(entries)})")
    for column in ("time", "service", "version", "digest", "source", "builder"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(e.time, e.service, e.version, e.digest, e.source, e.builder.get("identity", ""))
    stdout().print(table)


def register(root: typer.Typer) -> None:
    """Add the ``release`` group to the app."""
    root.add_typer(app, name="release")
