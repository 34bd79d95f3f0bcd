"""One CLI grammar (#32): global options before or after the command, `backup --help` true to the group,
the repository commands under `backup` as well as at the top level."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import PROJECT

SHARED = ("drill", "restore", "snapshots", "check", "unlock")


def _listed_commands(help_text: str) -> list[str]:
    section = help_text.split("Commands:", 1)[1]
    return [line.split()[0] for line in section.splitlines() if line.startswith("  ") and line.strip()]


def test_backup_help_lists_exactly_the_subcommands_there_are(cli) -> None:
    import typer
    from typer import _click as click

    from seawall.cli.app import app

    group = typer.main.get_command(app)
    backup = group.get_command(click.Context(group), "backup")
    shown = cli("backup", "--help")
    assert shown.code == 0
    assert sorted(_listed_commands(shown.out)) == sorted(backup.commands)
    assert set(SHARED) <= set(backup.commands)


def test_the_repository_commands_are_the_same_under_backup_and_at_the_top_level(cli) -> None:
    for name in SHARED:
        top, under = cli(name, "--help"), cli("backup", name, "--help")
        assert top.code == under.code == 0, name
        assert top.out.replace(f"seawall {name}", "X") == under.out.replace(f"seawall backup {name}", "X"), name
    assert "also under `seawall backup`" in " ".join(cli("--help").out.split())


def test_a_backup_subcommand_runs_like_its_top_level_name(cli) -> None:
    top = cli("--environments", PROJECT / "environments", "check", "prodnet")
    under = cli("--environments", PROJECT / "environments", "backup", "check", "prodnet")
    assert top.code == under.code == 2
    assert top.err == under.err


def test_verbose_and_quiet_work_after_the_command(cli) -> None:
    where = ("--environments", PROJECT / "environments")
    assert "INFO: dry run: would back up" in cli(*where, "backup", "run", "local", "--dry-run", "-v").err
    assert "INFO: dry run: would back up" in cli("backup", "run", "local", "--dry-run", *where, "--verbose").err
    assert "INFO:" not in cli(*where, "backup", "run", "local", "--dry-run").err
    assert "INFO:" not in cli(*where, "-v", "backup", "run", "local", "--dry-run", "-q").err
    assert "INFO:" not in cli(*where, "-q", "backup", "run", "local", "--dry-run", "-v").err


def test_environments_works_after_the_command(cli, environments: Path) -> None:
    (environments / "local.yaml").unlink()
    result = cli("validate", "--format", "json", "--environments", environments)
    assert result.code == 0, result.err
    assert "local" not in [row["name"] for row in json.loads(result.out)["environments"]]


def test_global_options_stay_out_of_each_commands_own_help(cli) -> None:
    shown = cli("backup", "run", "--help").out
    assert "--verbose" not in shown
    assert "--environments" not in shown


ENV_COMMANDS = [
    ("preview", "prodnet"),
    ("audit", "prodnet"),
    ("parity", "devnet", "prodnet"),
    ("guard", "prodnet", "--issue", "acme/ops#1"),
    ("ledger", "prodnet"),
    ("validate", "prodnet"),
    ("backup", "status", "prodnet"),
    ("backup", "drill", "prodnet"),
    ("drill", "prodnet"),
    ("snapshots", "prodnet"),
    ("monitoring", "render", "prodnet"),
    ("docs", "prodnet", "--out", "unused"),
    ("report", "prodnet", "--format", "json"),
]


def test_an_unknown_environment_is_a_usage_error_that_lists_the_known_ones(cli) -> None:
    folder = PROJECT / "environments"
    for command in ENV_COMMANDS:
        result = cli("--environments", folder, *command)
        assert result.code == 2, (command, result.err)
        assert result.out == "", command
        assert result.err == (
            f"seawall: error: 'prodnet' is not an environment of {folder} "
            "(known: devnet, qanet, testnet, mainnet, local): give one of those\n"
        ), command


def test_an_unknown_set_or_host_is_a_usage_error_that_lists_the_known_ones(cli) -> None:
    where = ("--environments", PROJECT / "environments")
    unknown_set = cli(*where, "backup", "run", "local", "--set", "nope", "--dry-run")
    assert unknown_set.code == 2
    assert unknown_set.err.startswith("seawall: error: local has no backup set 'nope' (known: project-config, ")
    assert "configuration error" not in unknown_set.err
    unknown_host = cli(*where, "snapshots", "local", "--host", "ghost")
    assert unknown_host.code == 2
    assert unknown_host.err == "seawall: error: local has no host 'ghost' that backs up anything (known: localhost)\n"


def test_dry_run_prints_the_plan_without_verbose_and_changes_nothing(cli, environments: Path) -> None:
    result = cli("--environments", environments, "backup", "run", "local", "--dry-run")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["project-config on localhost", "project-docs on localhost"]
    assert all(" would run 0 before hook(s), back up " in line for line in lines)
    assert f"back up {environments} to {environments.parent / 'var/local/repositories/project-config'}" in lines[0]
    assert result.err == ""
    assert not (environments.parent / "var").exists()
    out = environments.parent / "units"
    scheduled = cli("--environments", environments, "backup", "schedule", "local", "--host", "localhost", "--out", out,
                    "--dry-run")  # fmt: skip
    assert scheduled.code == 0, scheduled.err
    assert scheduled.out.splitlines()[0].startswith(f"would write {out}/")
    assert not out.exists()


def test_every_set_given_counts(cli, environments: Path) -> None:
    where = ("--environments", environments)
    both = ("--set", "project-docs", "--set", "project-config")
    init = cli(*where, "backup", "init", "local", *both, "--dry-run")
    assert init.code == 0, init.err
    assert [line.split(":")[0] for line in init.out.splitlines()[:2]] == ["project-config", "project-docs"]
    run = cli(*where, "backup", "run", "local", *both, "--dry-run")
    assert [line.split(" ")[0] for line in run.out.splitlines()] == ["project-config", "project-docs"]
    one = cli(*where, "backup", "run", "local", "--set", "project-docs", "--dry-run")
    assert [line.split(" ")[0] for line in one.out.splitlines()] == ["project-docs"]
    unknown = cli(*where, "backup", "run", "local", "--set", "project-docs", "--set", "nope", "--dry-run")
    assert unknown.code == 2
    assert unknown.err == "seawall: error: local has no backup set 'nope' (known: project-config, project-docs)\n"
    restore = cli(*where, "restore", "local", *both, "--target", environments.parent / "out")
    assert restore.code == 2
    assert restore.err == (
        "seawall: error: restore one set at a time: choose one of project-config, project-docs with --set\n"
    )


@pytest.mark.render
def test_empty_results_are_a_sentence_not_an_empty_table(cli, environments: Path) -> None:
    audit = cli("--environments", environments, "audit", "local")
    assert audit.code == 0, audit.err
    from seawall.policies import RULES

    assert audit.out == f"audit passed: local meets all {len(RULES)} rules, no finding\n"
    ledger = cli("--environments", environments, "ledger", "local")
    assert ledger.code == 0, ledger.err
    assert (
        ledger.out
        == "the deploy ledger of local has no entry yet (every deploy, `seawall up` or `pulumi up`, adds one)\n"
    )
