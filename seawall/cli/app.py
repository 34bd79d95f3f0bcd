"""The ``seawall`` application: global options, command registration, errors to exit codes.

Exit codes: 0 success, 1 a check failed (parity, audit, guard, backup, drill), 2 usage or
configuration error (and a missing tool), 130 interrupted by SIGINT, 143 by SIGTERM.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from seawall import __version__
from seawall.cli import audit, backup, deploy, drill, parity, preview, repository, validate
from seawall.cli.context import Settings
from seawall.errors import Interrupted, SeawallError
from seawall.logs import configure_logging, mask
from seawall.runner import children, clean_text

HELP = """Seawall: infrastructure as code and backup drills for devnet → qanet → testnet → mainnet.

Exit codes: 0 ok, 1 a check failed, 2 usage or configuration error, 130/143 interrupted by SIGINT/SIGTERM."""

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
        from seawall.build import installed_build

        sys.stdout.write(f"seawall {__version__} ({installed_build()})\n")
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


for module in (validate, preview, parity, audit, deploy, backup, drill, repository):
    module.register(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` and return its exit code; never let a traceback reach the user."""
    command = typer.main.get_command(app)
    with _stopping_on_signals():
        try:
            command.main(args=argv, prog_name="seawall", standalone_mode=True)
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        except SeawallError as exc:
            _print_error(str(exc))
            return exc.exit_code
        except Interrupted as exc:
            children.wait_all()
            children.clean_up()
            _print_error(str(exc))
            return exc.exit_code
    return 0


@contextmanager
def _stopping_on_signals() -> Iterator[None]:
    """While a command runs, SIGINT and SIGTERM stop its children and raise ``Interrupted`` in it.

    The command's own cleanup (scratch folders, the interrupted record, the ``/fail`` ping) runs as
    the exception unwinds; a second signal while it does is ignored. Outside the main thread (an
    embedding program) signals stay as they were.
    """
    children.reset()

    def handler(signum: int, _frame: object) -> None:
        if children.interrupted is not None:
            return
        children.stop_all(signum)
        raise Interrupted(signum)

    try:
        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _print_error(message: str) -> None:
    text = clean_text(mask(message))
    if os.environ.get("NO_COLOR") or not sys.stderr.isatty():
        sys.stderr.write(f"seawall: error: {text}\n")
    else:
        sys.stderr.write(f"\x1b[31mseawall: error:\x1b[0m {text}\n")


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
