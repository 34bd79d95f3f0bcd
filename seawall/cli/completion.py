"""``seawall completion bash|zsh|fish``: print the shell completion script to source or install."""

from __future__ import annotations

import enum
from typing import Annotated

import typer


class Shell(enum.StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def completion_command(
    ctx: typer.Context,
    shell: Annotated[Shell, typer.Argument(help="bash, zsh or fish.")],
) -> None:
    """Print the completion script: `eval "$(seawall completion bash)"`, or save it where the shell looks."""
    from typer._click.shell_completion import get_completion_class
    from typer._completion_classes import completion_init

    completion_init()
    script_class = get_completion_class(shell.value)
    if script_class is None:  # pragma: no cover - the three shells are all registered
        raise typer.BadParameter(f"no completion for {shell.value}")
    root = ctx.find_root().command
    typer.echo(script_class(root, {}, "seawall", "_SEAWALL_COMPLETE").source())


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("completion")(completion_command)
