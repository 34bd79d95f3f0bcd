"""The offline build identity (seawall.build.source_identity): a hash of every file the wheel is made of, found
from pyproject.toml as setuptools finds them, so that whatever changes the wheel changes the identity and the
offline plan re-installs hosts exactly when a deploy would. Checked on a copy of this checkout."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from seawall.build import BuildError, shipped_files, source_identity
from tests.conftest import PROJECT

LEFT_OUT = shutil.ignore_patterns(
    ".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"
)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of this checkout (its links kept as links), without its caches and build output."""
    target = tmp_path / "checkout"
    shutil.copytree(PROJECT, target, symlinks=True, ignore=LEFT_OUT)
    return target


def test_the_identity_is_the_checkouts_wherever_it_lies(checkout: Path) -> None:
    assert source_identity(checkout) == source_identity(PROJECT)


@pytest.mark.parametrize(
    "path",
    [
        "templates/inventory.md.j2",  # a template, shipped through the seawall/templates link
        "templates/runbooks/alert.md.j2",
        "templates/INCIDENT_REPORT_TEMPLATE.md",
        "seawall/data/digitalocean-sizes.yaml",
        "policy/PulumiPolicy.yaml",
        "backup/restic.py",
        "seawall/render.py",
        "README.md",  # the wheel's long description
        "LICENSE",
        "pyproject.toml",
        "requirements.lock",  # shipped beside the wheel
    ],
)
def test_a_change_to_anything_the_wheel_ships_changes_the_identity(checkout: Path, path: str) -> None:
    before = source_identity(checkout)
    with (checkout / path).open("a", encoding="utf-8") as file:
        file.write("\n# changed\n")
    assert source_identity(checkout) != before


def test_a_new_template_changes_the_identity_and_a_file_no_pattern_ships_does_not(checkout: Path) -> None:
    before = source_identity(checkout)
    (checkout / "templates" / "notes.txt").write_text("not package data\n")
    assert source_identity(checkout) == before
    (checkout / "templates" / "runbooks" / "new-runbook.md.j2").write_text("# A new runbook\n")
    assert source_identity(checkout) != before


@pytest.mark.parametrize("path", ["tests/conftest.py", "docs/architecture.md", "bench/render.py", "CHANGELOG.md"])
def test_a_change_to_what_the_wheel_does_not_ship_keeps_the_identity(checkout: Path, path: str) -> None:
    before = source_identity(checkout)
    with (checkout / path).open("a", encoding="utf-8") as file:
        file.write("\n# changed\n")
    assert source_identity(checkout) == before


def test_the_files_are_found_through_the_links_by_their_names_in_the_wheel() -> None:
    files = shipped_files(PROJECT)
    assert files["seawall/templates/inventory.md.j2"] == PROJECT / "seawall" / "templates" / "inventory.md.j2"
    assert "seawall/backup/restic.py" in files
    assert "seawall/policy/PulumiPolicy.yaml" in files
    assert not [name for name in files if "__pycache__" in name or name.startswith(("tests/", "bench/"))]


def test_a_folder_without_pyproject_is_no_checkout(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="not a checkout"):
        source_identity(tmp_path)
