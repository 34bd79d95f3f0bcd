"""``seawall docs --check``: the committed documents against the model, the way CI runs it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import patch_environment
from tests.unit.docs.fleet import ENVIRONMENTS


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(ENVIRONMENTS, tmp_path / "environments")
    return tmp_path


def test_check_passes_on_freshly_written_documents_and_fails_after_a_model_change(project: Path, cli) -> None:
    environments = project / "environments"
    written = cli("--environments", environments, "docs")
    assert written.code == 0, written.err
    assert (project / "docs" / "ops" / "inventory.md").is_file()
    assert cli("--environments", environments, "docs", "--check").code == 0

    patch_environment(environments, "mainnet", {"services": {"web": {"size": "s-4vcpu-8gb"}}})
    check = cli("--environments", environments, "docs", "--check")
    assert check.code == 1
    assert f"changed: {project / 'docs' / 'ops' / 'inventory.md'}" in check.out
    assert f"changed: {project / 'docs' / 'ops' / 'services' / 'web.md'}" in check.out
    assert "run `seawall docs --no-state` and commit docs/ops" in check.err
    unchanged = (project / "docs" / "ops" / "inventory.md").read_text()
    assert "| web-1 | web | s-2vcpu-4gb |" in unchanged.split("### mainnet", 1)[1], "--check wrote a file"


def test_check_ignores_what_hosts_recorded_since_but_names_stale_and_missing_documents(project: Path, cli) -> None:
    environments = project / "environments"
    assert cli("--environments", environments, "docs").code == 0
    ops = project / "docs" / "ops"
    page = ops / "services" / "store.md"
    text = page.read_text()
    start, end = text.index("<!-- seawall:measured -->"), text.index("<!-- /seawall:measured -->")
    page.write_text(text[:start] + "<!-- seawall:measured -->\nA drill ran since.\n" + text[end:])
    assert cli("--environments", environments, "docs", "--check").code == 0

    (ops / "services" / "retired.md").write_text("# retired\n")
    (ops / "dr-plan" / "devnet.md").unlink()
    check = cli("--environments", environments, "docs", "--check")
    assert check.code == 1
    assert f"not generated: {ops / 'services' / 'retired.md'}" in check.out
    assert f"missing: {ops / 'dr-plan' / 'devnet.md'}" in check.out

    assert cli("--environments", environments, "docs").code == 0
    assert not (ops / "services" / "retired.md").exists()
    assert (ops / "dr-plan" / "devnet.md").is_file()


def test_a_selection_of_environments_needs_its_own_folder(project: Path, cli) -> None:
    environments = project / "environments"
    refused = cli("--environments", environments, "docs", "devnet")
    assert refused.code == 2
    assert "give --out DIR" in refused.err
    assert not (project / "docs").exists()
    written = cli("--environments", environments, "docs", "devnet", "--out", project / "devnet-docs")
    assert written.code == 0
    assert "mainnet" not in (project / "devnet-docs" / "inventory.md").read_text()


def test_an_unknown_environment_is_a_configuration_error(project: Path, cli) -> None:
    result = cli("--environments", project / "environments", "docs", "nosuchnet", "--out", project / "x")
    assert result.code == 2
    assert "nosuchnet" in result.err
    assert "Traceback" not in result.err
