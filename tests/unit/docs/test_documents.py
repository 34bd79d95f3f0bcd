"""The ops documents of the shipped environments: complete, linked to the alerts, lint-clean, current."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from seawall.model import load_environments
from seawall.model.schema import droplet_names
from seawall.monitoring.files import render_monitoring
from seawall.opsdocs.generate import DocsError, render_documents, without_measured, write_documents
from tests.conftest import PROJECT, SHIPPED, hint
from tests.unit.docs.fleet import fleet, recorded


@pytest.fixture(scope="module")
def shipped_documents() -> dict[str, str]:
    return render_documents(load_environments(SHIPPED), {}, PROJECT / "templates")


def test_every_host_and_service_of_every_environment_is_in_the_inventory_and_has_a_document(
    shipped_documents: dict[str, str],
) -> None:
    inventory = shipped_documents["inventory.md"]
    for env in load_environments(SHIPPED).values():
        section = inventory.split(f"### {env.name}\n", 1)[1].split("\n### ", 1)[0]
        hosts = [host for name, service in env.services.items() for host in droplet_names(name, service)]
        for host in [*hosts, *env.datacenter_hosts]:
            assert f"| {host} |" in section, f"{env.name}: {host} is not in the inventory"
        for name in [*env.services, *env.datacenter_hosts]:
            page = shipped_documents[f"services/{name}.md"]
            assert f"| {env.name} |" in page, f"services/{name}.md does not list {env.name}"
        assert f"dr-plan/{env.name}.md" in shipped_documents
        for name, service in env.services.items():
            assert f"| {name} | " in inventory.split("## Software", 1)[1]
            assert service.version in inventory.split("## Software", 1)[1]


def test_every_runbook_url_of_the_alert_rules_names_a_generated_runbook(shipped_documents: dict[str, str]) -> None:
    for env in load_environments(SHIPPED).values():
        files = render_monitoring(env)
        for name in [path for path in files if "/rules/" in path]:
            for group in yaml.safe_load(files[name])["groups"]:
                for rule in group["rules"]:
                    url = rule["annotations"]["runbook_url"]
                    assert url.startswith(env.monitoring.runbook_url)
                    target = "runbooks/" + url.rsplit("/", 1)[1]
                    assert target in shipped_documents, f"{rule['alert']}: {target} is not generated"
                    assert shipped_documents[target].startswith(f"# {rule['alert']}\n")


def test_every_link_between_the_documents_leads_to_a_generated_document(shipped_documents: dict[str, str]) -> None:
    for path, text in shipped_documents.items():
        for link in re.findall(r"\]\(([^)#]+?\.md)\)", text):
            target = (Path(path).parent / link).as_posix()
            normal = str(Path(target).resolve().relative_to(Path.cwd().resolve())) if ".." in target else target
            assert normal in shipped_documents, f"{path} links to {link}, which is not generated"


@pytest.mark.render
def test_what_hosts_recorded_sits_only_inside_the_measured_blocks() -> None:
    with_state = render_documents(fleet(), recorded())
    without_state = render_documents(fleet(), {})
    assert with_state.keys() == without_state.keys()
    changed = [path for path in with_state if with_state[path] != without_state[path]]
    assert changed, "the recorded state shows nowhere"
    for path in with_state:
        assert without_measured(with_state[path]) == without_measured(without_state[path]), path


@pytest.mark.render
def test_the_generated_markdown_passes_the_linter_with_the_projects_rules(tmp_path: Path) -> None:
    documents = render_documents(load_environments(SHIPPED), {}, PROJECT / "templates")
    documents |= {f"fleet/{path}": text for path, text in render_documents(fleet(), recorded()).items()}
    write_documents(documents, tmp_path / "docs")
    # pymarkdown reads its rules from [tool.pymarkdown] of the project's pyproject.toml.
    scan = subprocess.run(
        [sys.executable, "-m", "pymarkdown", "--config", str(PROJECT / "pyproject.toml"), "scan", "-r", "docs"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert scan.returncode == 0, scan.stdout + scan.stderr
    broken = tmp_path / "docs" / "broken.md"
    broken.write_text("# Title\n## No blank line above or below\ntext\n")
    rescan = subprocess.run(
        [sys.executable, "-m", "pymarkdown", "--config", str(PROJECT / "pyproject.toml"), "scan", str(broken)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "MD022" in rescan.stdout, "the linter would not notice a broken document"


def test_a_project_template_overrides_the_shipped_one(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "OPS_SERVICE_TEMPLATE.md").write_text("# {{ subject.name }}\n\nOwned by {{ subject.owner }}.\n")
    documents = render_documents(fleet(), {}, templates)
    assert documents["services/web.md"] == "# web\n\nOwned by @example-org/ops.\n"
    assert documents["inventory.md"] == render_documents(fleet(), {})["inventory.md"]


def test_a_broken_template_is_one_clear_error_naming_the_file(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "inventory.md.j2").write_text("# Inventory\n\n{% for env in environments %}\n")
    with pytest.raises(DocsError, match=r"inventory\.md\.j2:\d+: .*fix the template"):
        render_documents(fleet(), {}, templates)


def test_the_committed_documents_are_what_the_model_generates(cli) -> None:
    result = cli("--environments", SHIPPED, "docs", "--check")
    assert result.code == 0, result.out + result.err + "\nrun `seawall docs --no-state` and commit docs/ops"


def test_the_shipped_templates_are_where_the_package_finds_them_and_in_its_package_data() -> None:
    import fnmatch
    import tomllib

    shipped = PROJECT / "seawall" / "templates"
    assert shipped.resolve() == (PROJECT / "templates").resolve()
    assert (shipped / "OPS_SERVICE_TEMPLATE.md").is_file()
    patterns = tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["seawall"]
    for template in (PROJECT / "templates").rglob("*"):
        if template.is_file():
            relative = "templates/" + template.relative_to(PROJECT / "templates").as_posix()
            assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), f"{relative} is not installed"


def test_the_check_hint_when_followed_makes_the_check_pass(cli, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(SHIPPED, project / "environments")
    shutil.copytree(PROJECT / "docs" / "ops", project / "docs" / "ops")
    (project / "docs" / "ops" / "inventory.md").write_text("edited by hand\n")
    (project / "docs" / "ops" / "stray.md").write_text("not generated\n")
    checked = cli("--environments", project / "environments", "docs", "--check")
    assert checked.code == 1
    assert "run `seawall docs" in checked.err, checked.err
    assert cli("--environments", project / "environments", *hint(checked.err)).code == 0
    again = cli("--environments", project / "environments", "docs", "--check")
    assert again.code == 0, again.out + again.err
    assert (project / "docs" / "ops" / "inventory.md").read_text() == (PROJECT / "docs/ops/inventory.md").read_text()
    assert not (project / "docs" / "ops" / "stray.md").exists()


@pytest.mark.render
def test_the_dr_plan_and_the_restore_runbook_name_the_offsite_copy_or_its_absence_as_a_risk() -> None:
    documents = render_documents(fleet(), recorded())
    plan = documents["dr-plan/mainnet.md"]
    region = plan.split("### The region", 1)[1].split("\n## Restore order", 1)[0]
    for words in (
        "The vault **dc-archive-1**",
        "bucket `fleet-mainnet-copy` at `https://objects.dc.example.net` (region\ndc1)",
        "| store-data | store-1 | `s3:https://objects.dc.example.net/fleet-mainnet-copy/restic/store-data` |",
        "seawall snapshots mainnet --set store-data --from copy\n",
        "seawall restore mainnet --set store-data --host store-1 --from copy --target /srv/restore/mainnet-store-data",
        "locks every copied object\n84 days (COMPLIANCE)",
    ):
        assert words in region, words
    assert "**Risk**" not in plan
    assert "**Risk**: devnet has no off-site copy (`backup.copy`)" in documents["dr-plan/devnet.md"]
    runbook = documents["runbooks/restore-backup-set.md"].split("## From the off-site copy", 1)[1]
    mainnet = runbook.split("### mainnet: from the off-site copy", 1)[1]
    vault = "ssh -p 2222 seawall@192.0.2.40 sudo systemd-run"
    assert f"{vault} " in mainnet
    assert "snapshots mainnet --set archive-etc --from copy\n" in mainnet
    assert "restore mainnet --set store-data --host store-1 --from copy --target" in mainnet
    assert "**Risk**: devnet has no off-site copy" in runbook.split("### mainnet", 1)[0]
