"""The ``seawall`` application: global options, command registration, errors to exit codes.

Exit codes: 0 success, 1 a check failed (parity, audit, guard, backup, drill) or the run was
interrupted, 2 usage or configuration error (and a missing tool).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from seawall import __version__
from seawall.cli import audit, backup, deploy, drill, parity, preview, validate
from seawall.cli.context import Settings
from seawall.errors import SeawallError
from seawall.logs import configure_logging, mask

HELP = """Seawall: infrastructure as code and backup drills for devnet → qanet → testnet → mainnet.

Exit codes: 0 ok, 1 a check failed, 2 usage or configuration error."""

app = typer.Typer(
    name="seawall",
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"seawall {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def configure(
    ctx: typer.Context,
    environments: Annotated[
        Path,
        typer.Option(
            "--environments",
            envvar="SEAWALL_ENVIRONMENTS",
            help="Folder of environment files (defaults.yaml, <env>.yaml, parity.yaml).",
        ),
    ] = Path("environments"),
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log lines (-vv: debug).")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Set the options every command shares."""
    verbosity = -1 if quiet else verbose
    configure_logging(verbosity)
    ctx.obj = Settings(environments=environments, verbosity=verbosity)


for module in (validate, preview, parity, audit, deploy, backup, drill):
    module.register(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` and return its exit code; never let a traceback reach the user."""
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="seawall", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except SeawallError as exc:
        _print_error(str(exc))
        return exc.exit_code
    return 0


def _print_error(message: str) -> None:
    text = mask(message)
    if os.environ.get("NO_COLOR") or not sys.stderr.isatty():
        sys.stderr.write(f"seawall: error: {text}\n")
    else:
        sys.stderr.write(f"\x1b[31mseawall: error:\x1b[0m {text}\n")


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
