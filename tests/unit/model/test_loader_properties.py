"""Property-based: whatever is written into an environment file, the loader answers ConfigError or a model."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seawall.errors import ConfigError
from seawall.model import Environment, load_environments
from tests.conftest import SHIPPED

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
structures = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=25,
)
keys = st.sampled_from(["environment", "network", "services", "backup", "backup_sets", "alerting", "release", "x"])
documents = st.dictionaries(keys, structures, max_size=5)


def _load_with(tmp_path: Path, text: str) -> Environment | None:
    folder = tmp_path / "environments"
    if not folder.exists():
        shutil.copytree(SHIPPED, folder)
    (folder / "qanet.yaml").write_text(text)
    try:
        return load_environments(folder, ["qanet"])["qanet"]
    except ConfigError as exc:
        assert exc.problems
        assert all(":" in problem for problem in exc.problems)
        return None


@SETTINGS
@given(text=st.text(max_size=300))
def test_arbitrary_text_gives_a_model_or_a_config_error(tmp_path: Path, text: str) -> None:
    _load_with(tmp_path, text)


@SETTINGS
@given(document=documents)
def test_random_structures_give_a_model_or_a_config_error(tmp_path: Path, document: dict) -> None:
    result = _load_with(tmp_path, yaml.safe_dump(document))
    if result is not None:
        assert result.name == "qanet"


@SETTINGS
@given(
    section=st.sampled_from(["network", "services", "backup", "alerting"]),
    key=st.sampled_from(["password", "api_token", "secret", "private_key", "access_key"]),
    value=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=8, max_size=24).map(lambda v: "s3cr3t" + v),
)
def test_a_literal_secret_is_reported_and_never_echoed(tmp_path: Path, section: str, key: str, value: str) -> None:
    folder = tmp_path / "environments"
    if not folder.exists():
        shutil.copytree(SHIPPED, folder)
    (folder / "qanet.yaml").write_text(
        (SHIPPED / "qanet.yaml").read_text() + f"\n{section}:\n  {key}: {value}\n"
        if section in ("backup", "alerting")
        else (SHIPPED / "qanet.yaml").read_text().replace(f"{section}:\n", f"{section}:\n  {key}: {value}\n", 1)
    )
    try:
        load_environments(folder, ["qanet"])
    except ConfigError as exc:
        assert any(f"{section}.{key}: a secret must not be written" in problem for problem in exc.problems)
        assert value not in str(exc)
    else:
        raise AssertionError("a literal secret was accepted")
