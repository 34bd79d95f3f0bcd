"""The ``seawall`` application: global options, command registration, errors to exit codes.

Exit codes: 0 success, 1 a check failed (parity, audit, guard, backup, drill), 2 usage or
configuration error (and a missing tool, or the machine refusing: a full disk, an unwritable folder),
130 interrupted by SIGINT, 143 by SIGTERM.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
import typer.core
from typer import _click as click

from seawall import __version__
from seawall.cli.context import Settings
from seawall.errors import Interrupted, SeawallError

HELP = """Seawall: infrastructure as code and backup drills for devnet → qanet → testnet → mainnet.

Exit codes: 0 ok, 1 a check failed, 2 usage or configuration error (or the machine refused: a full disk, an
unwritable folder), 130/143 interrupted by SIGINT/SIGTERM.

The options below (--environments, -v, -q) go before or after the command. drill, restore, snapshots, check
and unlock are also under `seawall backup` (the same commands)."""

# Every command: the module that registers it and its one-line help. A command's module (and what it
# imports) loads only when that command runs; `--help` and `--version` load none. A test keeps the
# lines equal to the commands' own help.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("seawall.cli.validate", "Validate environments and print a summary."),
    "preview": (
        "seawall.cli.preview",
        "Render ENV offline under Pulumi's mock engine (no CLI, plugin or credential) and show its resources.",
    ),
    "parity": (
        "seawall.cli.parity",
        "Show every difference between environments, classified; exit 1 on any violation, 2 on bad config.",
    ),
    "audit": ("seawall.cli.audit", "Check ENV against every policy offline; exit 1 on a mandatory violation."),
    "guard": (
        "seawall.cli.deploy",
        "May I deploy ENV now (or at TIME)? Every rule with its verdict; exit 1 when any refuses.",
    ),
    "up": (
        "seawall.cli.deploy",
        "Check the guard rails, show the plan against the last deploy, preview with the policy pack, confirm, "
        "and apply that plan; record it in the ledger.",
    ),
    "ledger": ("seawall.cli.deploy", "Show ENV's deploy ledger: who deployed what, when, why, and how it ended."),
    "ledger-record": ("seawall.cli.deploy", ""),
    "release": (
        "seawall.cli.release",
        "Build, push and record the services' images by digest (buildah, skopeo), and list the releases.",
    ),
    "backup": (
        "seawall.cli.backup",
        "Create, back up, prune, copy off-site, drill, restore, list, check, unlock and schedule repositories.",
    ),
    "drift": (
        "seawall.cli.drift",
        "Which hosts no longer match the last deploy (files, units, firewall, wheel), missed a deploy or stopped "
        "checking; exit 1 on any.",
    ),
    "host": (
        "seawall.cli.host",
        "On a host: record what the deploy placed (its last step), verify the host against it (hourly).",
    ),
    "monitoring": ("seawall.cli.monitoring", "Write Prometheus and Alertmanager configuration from the model."),
    "capacity": (
        "seawall.cli.capacity",
        "Utilisation (p50/p95), trends and the dates each resource crosses its threshold and 100% (or since when "
        "it has been above them), the size each service needs until the horizon with its cost, and the backups' "
        "growth; exit 1 when a host has no data, 2 when Prometheus cannot be reached, refuses a query, sends what "
        "is not a range query's answer or no complete answer before the deadline.",
    ),
    "report": (
        "seawall.cli.report",
        "Write the fleet page: backups against RPO, drills and RTO trends, each host's drift, check coverage, the "
        "parity chain, deploy readiness and the last deploys; one self-contained HTML file.",
    ),
    "incident": ("seawall.cli.incident", "Incident reports: open, update, close, list and escalate incidents."),
    "docs": (
        "seawall.cli.docs",
        "Write the inventory, service documents, runbooks, DR plans and risk assessment (same inputs, same bytes); "
        "--check exits 1 when the committed documents are not what the model generates.",
    ),
    "drill": (
        "seawall.cli.drill",
        "Restore snapshots into scratch, verify them, measure RPO and RTO; exit 1 when anything failed.",
    ),
    "dr": ("seawall.cli.dr", "Disaster recovery: rehearse rebuilding hosts from the model and the backups."),
    "restore": (
        "seawall.cli.repository",
        "Restore a snapshot into a new folder (verified), or in place with hooks and a safety snapshot first.",
    ),
    "snapshots": ("seawall.cli.repository", "List snapshots: id, time, host, size, tags, and which drill verified it."),
    "check": ("seawall.cli.repository", "Check each repository; damage names the packs and the snapshots they affect."),
    "unlock": (
        "seawall.cli.repository",
        "Remove stale locks (older than stale_lock_after, or of a dead process on this host); --force removes all.",
    ),
    "completion": (
        "seawall.cli.completion",
        'Print the completion script: `eval "$(seawall completion bash)"`, or save it where the shell looks.',
    ),
}


# The `deploy` extra's packages (pyproject.toml): a host has none of them, and a command that needs one says so.
DEPLOYER_PACKAGES = frozenset({"pulumi", "pulumi_digitalocean", "pulumi_command", "pulumi_policy", "jinja2", "pygal"})


class LazyGroup(typer.core.TyperGroup):
    """The top-level group: commands are listed from ``COMMANDS`` and imported only when they run."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Return the commands in their documented order."""
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Given a command name, import its module and return the command (None when unknown)."""
        if cmd_name not in COMMANDS:
            return None
        holder = typer.Typer(add_completion=False, rich_markup_mode=None)
        importlib.import_module(COMMANDS[cmd_name][0]).register(holder)
        command = typer.main.get_group(holder).get_command(ctx, cmd_name)
        if command is not None:
            accept_global_options(command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands from the table, without importing any."""
        rows = [(name, text) for name, (_, text) in COMMANDS.items() if text]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


app = typer.Typer(
    name="seawall",
    cls=LazyGroup,
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
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
    from seawall.logs import configure_logging  # here, not at the top: `--help` and `--version` log nothing

    verbosity = -1 if quiet else verbose
    configure_logging(verbosity)
    ctx.obj = Settings(environments=environments, verbosity=verbosity)


def accept_global_options(command: click.Command) -> None:
    """Given a command (or group), let it and every command under it take the global options too.

    ``seawall backup run local -v`` is ``seawall -v backup run local``: the options are hidden from the
    command's own help (the top-level help lists them) and, given after the command, add to what was given
    before it (-v counts add up; -q anywhere wins; the last --environments holds).
    """
    if not any(param.name == "late_verbose" for param in command.params):
        command.params += _late_global_options()
    for sub in getattr(command, "commands", {}).values():
        accept_global_options(sub)


def _late_global_options() -> list[click.Parameter]:
    """Return fresh, hidden copies of the global options that a command takes after its name."""
    carrier = typer.Typer(add_completion=False, rich_markup_mode=None)
    carrier.command()(_late_options)
    return list(typer.main.get_command(carrier).params)


def _take_late_option(ctx: click.Context, param: click.Parameter, value: object) -> None:
    """Given a global option given after the command, update the settings the top-level callback made."""
    from typer._click.core import ParameterSource

    if not value or ctx.get_parameter_source(param.name or "") is not ParameterSource.COMMANDLINE:
        return
    settings = ctx.find_root().obj
    if not isinstance(settings, Settings):  # pragma: no cover - the callback always sets it
        return
    if param.name == "late_environments":
        settings.environments = Path(str(value))
        return
    if param.name == "late_quiet":
        settings.verbosity = -1
    elif settings.verbosity >= 0:
        settings.verbosity += int(str(value))
    from seawall.logs import configure_logging

    configure_logging(settings.verbosity)


def _late_options(
    late_environments: Annotated[
        Path | None,
        typer.Option("--environments", hidden=True, expose_value=False, callback=_take_late_option),
    ] = None,
    late_verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            hidden=True,
            expose_value=False,
            callback=_take_late_option,
        ),
    ] = 0,
    late_quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", hidden=True, expose_value=False, callback=_take_late_option),
    ] = False,
) -> None:
    """Carry the global options a command takes after its name (never run)."""


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` and return its exit code; never let a traceback reach the user."""
    # Seawall uses no pydantic plugin; looking for one scans the entry points of every installed package
    # (about 5 ms of every command that validates the model). Set the variable (even empty) to look.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    command = typer.main.get_command(app)
    if os.environ.get("_SEAWALL_COMPLETE"):  # the shell asks for completions (`seawall completion`)
        from typer._completion_classes import completion_init

        completion_init()
    with _stopping_on_signals():
        try:
            command.main(args=argv, prog_name="seawall", standalone_mode=True)
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        except SeawallError as exc:
            _print_error(str(exc))
            return exc.exit_code
        except Interrupted as exc:
            from seawall.runner import children

            children.wait_all()
            children.clean_up()
            _print_error(str(exc))
            return exc.exit_code
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] not in DEPLOYER_PACKAGES:
                raise
            _print_error(
                f"this command needs {exc.name.split('.')[0] if exc.name else 'a package'}, one of the deploying "
                "machine's packages, which this installation does not have (a host installs only what hosts run): "
                "run it where Seawall is installed with its deploy extra (`pip install 'seawall[deploy]'`, or "
                "`bash .ci/setup` in a checkout)"
            )
            return 2
        except OSError as exc:  # the machine, not Seawall: a full disk, a folder that cannot be made…
            import logging

            from seawall.files import os_reason

            logging.getLogger(__name__).debug("the operating system refused", exc_info=True)
            _print_error(
                f"the operating system refused: {os_reason(exc)}; check that the folders the model names exist "
                "or can be made, are writable, and their disk has room"
            )
            return 2
    return 0


@contextmanager
def _stopping_on_signals() -> Iterator[None]:
    """While a command runs, SIGINT and SIGTERM stop its children and raise ``Interrupted`` in it.

    The command's own cleanup (scratch folders, the interrupted record, the ``/fail`` ping) runs as
    the exception unwinds; a second signal while it does is ignored. Outside the main thread (an
    embedding program) signals stay as they were. The runner (which starts every child) loads when a command
    needs it, not for ``--help``: it is reset here only if an earlier command in this process loaded it.
    """
    loaded = sys.modules.get("seawall.runner")
    if loaded is not None:
        loaded.children.reset()

    def handler(signum: int, _frame: object) -> None:
        from seawall.runner import children

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
    from seawall.logs import mask
    from seawall.runner import clean_text

    text = clean_text(mask(message))
    if os.environ.get("NO_COLOR") or not sys.stderr.isatty():
        sys.stderr.write(f"seawall: error: {text}\n")
    else:
        sys.stderr.write(f"\x1b[31mseawall: error:\x1b[0m {text}\n")


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
