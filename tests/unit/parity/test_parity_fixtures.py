"""Table-driven parity cases: tests/fixtures/parity/<case>/ holds the pair (case.yaml) and the expected report.

case.yaml: ``a`` (a shipped environment), ``base`` (the shipped file the candidate B starts from),
``patch`` (written over it; null removes a default), ``parity_add``/``parity_remove`` (changes to
parity.yaml). expected.json: the exit code and, for exit 0/1, the summary, every non-allowed difference as
[resource, kind, path, reason], the reasons of allowed model differences, the allowances this pair did not
use and the stale ones (none: only ``--chain`` calls an allowance stale); for exit 2, a fragment of the error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import PROJECT, overlay

pytestmark = pytest.mark.render  # renders under the mock engine

CASES = sorted(p for p in (PROJECT / "tests" / "fixtures" / "parity").iterdir() if p.is_dir())


def prepare(case: Path, environments: Path) -> dict:
    """Given a case folder and a scratch environments folder, write the candidate and parity.yaml."""
    spec = yaml.safe_load((case / "case.yaml").read_text())
    base = yaml.safe_load((environments / f"{spec['base']}.yaml").read_text())
    candidate = overlay(
        base,
        {
            "environment": {"name": "candidate", "domain": "candidate.example.net", "predecessor": spec["a"]},
            "network": {"vpc_cidr": "10.250.0.0/16"},  # every environment's range is its own
        },
    )
    (environments / "candidate.yaml").write_text(yaml.safe_dump(overlay(candidate, spec.get("patch") or {})))
    rules = yaml.safe_load((environments / "parity.yaml").read_text())
    removed = set(spec.get("parity_remove", []))
    rules["allowed"] = [a for a in rules["allowed"] if a["field"] not in removed] + spec.get("parity_add", [])
    (environments / "parity.yaml").write_text(yaml.safe_dump(rules))
    return spec


def observed(code: int, out: str, err: str) -> dict:
    """Given the CLI's result, return what the fixtures record of it."""
    if code == 2:
        return {"exit": 2, "error": err.strip().splitlines()[-1].rsplit("/", 1)[-1]}
    report = json.loads(out)
    rows = report["differences"] + report["model"]
    return {
        "exit": code,
        "summary": report["summary"],
        "not_allowed": sorted(
            [d["resource"], d["kind"], d["path"], d["reason"]] for d in rows if d["kind"] != "allowed"
        ),
        "allowed_model_reasons": sorted({d["reason"] for d in report["model"] if d["kind"] == "allowed"}),
        "unused_allowances": report["unused_allowances"],
        "stale_allowances": report["stale_allowances"],
    }


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_parity_case(case: Path, environments: Path, cli) -> None:
    spec = prepare(case, environments)
    result = cli("--environments", environments, "parity", spec["a"], "candidate", "--format", "json")
    got = observed(result.code, result.out, result.err)
    expected = json.loads((case / "expected.json").read_text())
    if expected["exit"] == 2:
        assert got["exit"] == 2
        assert expected["error"] in result.err
        assert "Traceback" not in result.err
    else:
        assert got == expected


if __name__ == "__main__":  # pragma: no cover - regenerates expected.json for review: python -m …
    import shutil
    import tempfile

    from seawall.cli.app import main

    for case in CASES:
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch) / "environments"
            shutil.copytree(PROJECT / "environments", folder)
            spec = prepare(case, folder)
            import contextlib
            import io

            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(["--environments", str(folder), "parity", spec["a"], "candidate", "--format", "json"])
            (case / "expected.json").write_text(
                json.dumps(observed(code, out.getvalue(), err.getvalue()), indent=2) + "\n"
            )
            print(case.name, code, file=sys.stderr)
