"""The build hosts get: a wheel of this checkout, installed with the hash-pinned lock into a fresh
virtual environment exactly as a host's install step does (``--require-hashes``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from seawall.build import LOCK_FILE, build_wheel, sha256_of, shipped_files
from tests.conftest import PROJECT
from tests.unit.test_build import LEFT_OUT

pytestmark = pytest.mark.integration


def test_the_wheel_installs_from_the_lock_with_hashes_names_its_build_and_adds_no_generic_modules(
    tmp_path: Path,
) -> None:
    shipped = build_wheel(PROJECT, tmp_path / "dist")
    assert shipped.wheel is not None
    again = build_wheel(PROJECT, tmp_path / "again")
    assert again.identity == shipped.identity  # reproducible: the same sources give the same bytes
    target = tmp_path / "opt-seawall"
    venv.EnvBuilder(with_pip=True).create(target)
    pip = [str(target / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    locked = subprocess.run(
        [*pip, "--require-hashes", "--no-deps", "-r", str(PROJECT / LOCK_FILE)], capture_output=True, text=True
    )
    assert locked.returncode == 0, locked.stderr[-2000:]
    requirement = tmp_path / "seawall.requirement"
    digest = sha256_of(shipped.wheel)
    requirement.write_text(f"seawall @ {shipped.wheel.as_uri()} --hash=sha256:{digest}\n")
    installed = subprocess.run(
        [*pip, "--require-hashes", "--no-deps", "-r", str(requirement)], capture_output=True, text=True
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    version = subprocess.run(
        [str(target / "bin" / "seawall"), "--version"], capture_output=True, text=True, cwd=tmp_path
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"seawall 0.1.0 (wheel sha256:{digest[:16]})"
    for generic in ("backup", "stacks", "components", "policy"):
        probe = subprocess.run(
            [str(target / "bin" / "python"), "-c", f"import {generic}"], capture_output=True, cwd=tmp_path
        )
        assert probe.returncode != 0, generic
    works = subprocess.run(
        [str(target / "bin" / "python"), "-c", "import seawall.backup.actions.drift, seawall.cli.backup"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert works.returncode == 0, works.stderr
    tampered = tmp_path / "tampered.requirement"
    tampered.write_text(f"seawall @ {shipped.wheel.as_uri()} --hash=sha256:{'0' * 64}\n")
    refused = subprocess.run(
        [*pip, "--require-hashes", "--no-deps", "--force-reinstall", "-r", str(tampered)],
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0
    assert "HASHES" in refused.stderr.upper()
    assert sys.version_info >= (3, 11)


def test_the_offline_identity_hashes_exactly_the_files_the_wheel_is_made_of(tmp_path: Path) -> None:
    # Built from a copy: setuptools builds in the checkout's build/ folder, which another test's build uses.
    checkout = tmp_path / "checkout"
    shutil.copytree(PROJECT, checkout, symlinks=True, ignore=LEFT_OUT)
    shipped = build_wheel(checkout, tmp_path / "dist")
    assert shipped.wheel is not None
    with zipfile.ZipFile(shipped.wheel) as wheel:
        members = wheel.namelist()
    files = shipped_files(checkout)
    packaged = {name for name in files if "/" in name}
    assert {name for name in members if ".dist-info/" not in name} == packaged
    for name in packaged:
        assert files[name].read_bytes() == zipfile.Path(shipped.wheel, name).read_bytes(), name
    licenses = {name.rsplit("/", 1)[-1] for name in members if ".dist-info/licenses/" in name}
    assert licenses == {name for name in files if "/" not in name} - {"pyproject.toml", "README.md"}
