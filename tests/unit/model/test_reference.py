"""docs/environment-model.md is generated from the schema: every field described, every section there,
and the committed file is stale the moment a description changes (#33)."""

from __future__ import annotations

import inspect
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from seawall.errors import ConfigError
from seawall.model import load_environments, reference, schema
from seawall.model.reference import REFERENCE, REGENERATE, main, render_reference, stale_reference
from seawall.model.schema import Alerting, Environment, Monitoring, Severity, SeverityTargets
from seawall.model.types import SEVERITIES
from tests.conftest import PROJECT, SHIPPED, patch_environment

MODELS = [
    model
    for model in vars(schema).values()
    if inspect.isclass(model)
    and issubclass(model, schema.StrictModel)
    and model is not schema.StrictModel
    and model.__module__ == schema.__name__
]


def test_the_committed_reference_is_what_the_schema_generates() -> None:
    committed = (PROJECT / REFERENCE).read_text(encoding="utf-8")
    assert committed == render_reference(), f"docs/environment-model.md is stale: run `{REGENERATE}` and commit it"


def test_a_changed_description_makes_the_committed_reference_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT)
    assert not stale_reference(PROJECT)
    assert main(["--check"]) == 0
    monkeypatch.setattr(Monitoring.model_fields["scrape_interval"], "description", "How often, in a new word.")
    assert stale_reference(PROJECT)
    assert main(["--check"]) == 1
    assert "How often, in a new word." in render_reference()


def test_the_header_names_the_command_that_regenerates_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    header = render_reference().split("\n\n")[1]
    assert f"`{REGENERATE}`" in header
    assert f"python -m {reference.__name__}" == REGENERATE
    (tmp_path / "docs").mkdir()
    monkeypatch.chdir(tmp_path)
    assert main([]) == 0
    assert capsys.readouterr().out.strip() == str(REFERENCE)
    assert (tmp_path / REFERENCE).read_text(encoding="utf-8") == render_reference()


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_every_field_of_every_model_says_what_it_is(model: type[BaseModel]) -> None:
    undescribed = [name for name, info in model.model_fields.items() if not (info.description or "").strip()]
    assert not undescribed, f"{model.__name__}: {', '.join(undescribed)} need Field(description=...)"


def test_every_model_class_has_its_section_and_every_section_its_fields() -> None:
    text = render_reference()
    sections = reference.collect_sections(Environment, "") + reference.collect_sections(schema.ParityRules, "x")
    assert {section.model for section in sections} == set(MODELS)
    for model in MODELS:
        for name, info in model.model_fields.items():
            assert f"| `{info.alias or name}` |" in text, f"{model.__name__}.{name}"


@pytest.mark.parametrize("section", list(Environment.model_fields))
def test_every_top_level_section_is_in_the_reference(section: str) -> None:
    text = render_reference()
    dictionary = section in ("services", "datacenter_hosts", "backup_sets", "databases")
    assert f"## `{section}{'.*' if dictionary else ''}`" in text


@pytest.mark.parametrize(
    ("patch", "where"),
    [
        ({"availability": {"bussiness": {}}}, "availability"),
        ({"monitoring": {"scrape_intervall": "30s"}}, "monitoring"),
        ({"incidents": {"severities": {"Major": {"impakt": "x"}}}}, "incidents.severities.*"),
        ({"services": {"api": {"health": {"pth": "/"}}}}, "services.*.health"),
    ],
)
def test_an_unknown_key_is_sent_to_the_reference_that_holds_its_section(
    tmp_path: Path, patch: dict, where: str
) -> None:
    folder = tmp_path / "environments"
    shutil.copytree(SHIPPED, folder)  # with the key files the environments name
    patch_environment(folder, "qanet", patch)
    with pytest.raises(ConfigError) as raised:
        load_environments(folder, ["qanet"])
    (problem,) = [p for p in raised.value.problems if "unknown key" in p]
    assert f"against {REFERENCE.as_posix()})" in problem
    assert f"## `{where}`" in (PROJECT / REFERENCE).read_text(encoding="utf-8")


def test_a_type_the_reference_does_not_explain_stops_the_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(reference.TYPES, "Duration")
    with pytest.raises(ValueError, match="does not explain the types Duration"):
        render_reference()


def test_the_reference_passes_the_markdown_linter_with_the_projects_rules() -> None:
    scan = subprocess.run(
        [sys.executable, "-m", "pymarkdown", "--config", str(PROJECT / "pyproject.toml"), "scan", str(REFERENCE)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert scan.returncode == 0, scan.stdout + scan.stderr


def test_the_shipped_defaults_state_the_teams_policy_rather_than_leaving_it_to_the_schema() -> None:
    defaults = yaml.safe_load((SHIPPED / "defaults.yaml").read_text())
    severity_fields = [name for name, info in Alerting.model_fields.items() if info.annotation == Severity]
    assert len(severity_fields) > 20
    assert sorted(set(severity_fields) - set(defaults["alerting"])) == []
    targets = defaults["incidents"]["severities"]
    assert sorted(targets) == sorted(SEVERITIES)
    assert all(sorted(targets[s]) == sorted(SeverityTargets.model_fields) for s in SEVERITIES)
    assert sorted(defaults["monitoring"]["host_alerts"]) == ["cpu", "disk", "memory", "window"]
