"""One table-driven fixture per rule: tests/fixtures/rules/<case>.yaml patches one shipped file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from seawall.errors import ConfigError
from seawall.model import load_environments
from tests.conftest import PROJECT, patch_environment

CASES = sorted((PROJECT / "tests" / "fixtures" / "rules").glob("*.yaml"))


@pytest.mark.parametrize("case", CASES, ids=[case.stem for case in CASES])
def test_each_rule_reports_its_field(case: Path, environments: Path) -> None:
    spec = yaml.safe_load(case.read_text())
    patch_environment(environments, spec["env"], spec["patch"])
    with pytest.raises(ConfigError) as caught:
        load_environments(environments)
    expected = spec["expect"]
    matching = [p for p in caught.value.problems if f": {expected['path']}: " in p and expected["contains"] in p]
    assert matching, "\n".join(caught.value.problems)
    assert all(problem.split(":")[1].isdigit() for problem in caught.value.problems)
    if "secret" in spec:
        assert spec["secret"] not in str(caught.value)
