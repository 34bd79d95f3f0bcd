"""``seawall monitoring render ENV``: Prometheus and Alertmanager configuration from the model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from seawall.cli.context import settings_of

app = typer.Typer(help="Write Prometheus and Alertmanager configuration from the model.", no_args_is_help=True)


@app.command("render")
def render_command(
    ctx: typer.Context,
    env_name: Annotated[str, typer.Argument(metavar="ENV", help="Environment.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder to write into (default: monitoring/ENV of the project).")
    ] = None,
) -> None:
    """Write prometheus.yml, the alert rules and alertmanager.yml for ENV (same model, same bytes)."""
    from seawall.errors import SeawallError
    from seawall.files import write_atomically
    from seawall.model import load_environment
    from seawall.monitoring.files import render_monitoring

    settings = settings_of(ctx)
    env = load_environment(settings.environments, env_name)
    folder = out if out is not None else settings.project_root / "monitoring" / env.name
    written = []
    for relative, text in render_monitoring(env).items():
        path = folder / relative
        try:
            if not path.is_file() or path.read_text() != text:
                write_atomically(path, text)
        except OSError as exc:
            msg = f"cannot write {path}: {exc.strerror or exc}; choose a writable folder with --out"
            raise SeawallError(msg) from None
        written.append(path)
    for path in written:
        typer.echo(str(path))


def register(root: typer.Typer) -> None:
    """Add the ``monitoring`` group to the app."""
    root.add_typer(app, name="monitoring")
