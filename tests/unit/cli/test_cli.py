"""The CLI's contract: help, version, exit codes, JSON on stdout, lazy imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from seawall import __version__
from tests.conftest import PROJECT


def test_version_and_help(cli) -> None:
    assert cli("--version").out.strip() == f"seawall {__version__} (development checkout)"
    result = cli("--help")
    assert result.code == 0
    assert "validate" in result.out
    assert "Exit codes" in result.out


def test_validate_prints_every_environment_as_json(cli) -> None:
    result = cli("--environments", PROJECT / "environments", "validate", "--format", "json")
    assert result.code == 0
    report = json.loads(result.out)
    assert report["valid"] is True
    names = [row["name"] for row in report["environments"]]
    assert names == ["devnet", "qanet", "testnet", "mainnet", "local"]
    mainnet = report["environments"][3]
    assert mainnet["droplets"] == sum([3, 1, 1, 1])
    assert mainnet["versions"]["api"] == "1.8.1"


def test_the_shipped_environments_validate_with_no_warning(cli) -> None:
    result = cli("--environments", PROJECT / "environments", "validate")
    assert result.code == 0
    assert result.err == ""


def test_validate_warns_where_escalation_has_no_target_repository_below_production(cli, environments: Path) -> None:
    from tests.conftest import patch_environment

    patch_environment(environments, "devnet", {"incidents": {"github_repository": None}})
    result = cli("--environments", environments, "validate", "--format", "json")
    assert result.code == 0
    assert json.loads(result.out)["valid"] is True
    (warning,) = result.err.splitlines()
    line = (environments / "devnet.yaml").read_text().splitlines().index("  github_repository: null") + 1
    assert warning.startswith(f"seawall: WARNING: {environments / 'devnet.yaml'}:{line}: incidents.github_repository: ")
    assert "`seawall incident escalate` prints `gh issue create` without --repo" in warning
    assert "set it to the owner/repo where escalation issues are filed" in warning


def test_validate_refuses_a_production_environment_whose_escalation_has_no_target_repository(
    cli, environments: Path
) -> None:
    from tests.conftest import patch_environment

    patch_environment(environments, "mainnet", {"incidents": {"github_repository": None}})
    result = cli("--environments", environments, "validate", "mainnet")
    assert result.code == 2
    line = (environments / "mainnet.yaml").read_text().splitlines().index("  github_repository: null") + 1
    assert f"{environments / 'mainnet.yaml'}:{line}: incidents.github_repository: " in result.err
    assert "Traceback" not in result.err


@pytest.mark.render
def test_a_format_a_command_cannot_print_is_a_usage_error(cli) -> None:
    for command in (["validate"], ["preview", "devnet"], ["drill", "local"], ["backup", "status", "local"]):
        result = cli("--environments", PROJECT / "environments", *command, "--format", "markdown")
        assert result.code == 2, command
        assert "'markdown' is not one of 'table', 'json'" in " ".join(result.err.replace("│", " ").split())
        assert result.out == ""
    assert cli("--environments", PROJECT / "environments", "audit", "devnet", "--format", "markdown").code in (0, 1)


def test_validate_reads_the_environments_variable(cli, environments: Path, monkeypatch) -> None:
    (environments / "local.yaml").unlink()
    monkeypatch.setenv("SEAWALL_ENVIRONMENTS", str(environments))
    report = json.loads(cli("validate", "--format", "json").out)
    assert "local" not in [row["name"] for row in report["environments"]]


def test_a_missing_environments_folder_is_a_configuration_error(cli, tmp_path: Path) -> None:
    result = cli("--environments", tmp_path / "nowhere", "validate")
    assert result.code == 2
    assert "no such environments folder" in result.err


def test_a_usage_error_exits_2(cli) -> None:
    result = cli("validate", "--format", "yaml")
    assert result.code == 2


def test_help_does_not_import_pulumi_or_boto3() -> None:
    code = (
        "import sys\n"
        "from seawall.cli.app import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('pulumi', 'boto3', 'pulumi_digitalocean') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT).stdout
    assert out.strip().splitlines()[-1] == "HEAVY="


def test_the_command_table_lists_every_command_with_its_own_first_sentence() -> None:
    import typer
    from typer import _click as click

    from seawall.cli.app import COMMANDS, app

    group = typer.main.get_command(app)
    context = click.Context(group)
    for name, (_, line) in COMMANDS.items():
        command = group.get_command(context, name)
        assert command is not None, name
        first = (command.help or "").strip().split("\n\n")[0].replace("\n", " ").split(". ")[0].rstrip(".") + "."
        assert line in ("", first), name
        assert (line == "") == bool(command.hidden), name


def test_help_and_version_import_no_command_module() -> None:
    import subprocess
    import sys

    probe = (
        "import sys; from seawall.cli.app import main; "
        "code = main(['--help']); "
        "print(sorted(m for m in sys.modules if m.startswith('seawall.cli.') and m not in "
        "('seawall.cli.app', 'seawall.cli.context')))"
    )
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert shown.stdout.strip().splitlines()[-1] == "[]"
    assert "Commands:" in shown.stdout


def test_markdown_tables_escape_pipes_and_fold_line_breaks() -> None:
    from seawall.markdown import markdown_table

    lines = markdown_table(("a", "b"), [("x|y", "one\ntwo")])
    assert lines == ["| a | b |", "| --- | --- |", "| x\\|y | one two |"]


def test_validate_does_not_look_for_pydantic_plugins_unless_asked() -> None:
    # pydantic keeps the plugins it found in `_plugins`; it stays None when it never looked.
    probe = (
        "import contextlib, sys; from seawall.cli.app import main\n"
        "with contextlib.redirect_stdout(sys.stderr):\n    code = main(['validate'])\n"
        "from pydantic.plugin import _loader\n"
        "print(code, _loader._plugins is None)"
    )
    environ = {key: value for key, value in os.environ.items() if key != "PYDANTIC_DISABLE_PLUGINS"}

    def run(**extra: str) -> str:
        shown = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=PROJECT, env=environ | extra
        )
        return shown.stdout.strip().splitlines()[-1]

    assert run() == "0 True"
    assert run(PYDANTIC_DISABLE_PLUGINS="") == "0 False"
