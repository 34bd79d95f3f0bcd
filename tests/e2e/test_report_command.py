"""``seawall report`` as a user runs it: the page and its JSON from a copy of the project."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.unit.docs.fleet import ENVIRONMENTS


def test_report_writes_the_page_and_the_same_data_as_json(tmp_path: Path, cli) -> None:
    shutil.copytree(ENVIRONMENTS, tmp_path / "environments")
    environments = tmp_path / "environments"
    written = cli("--environments", environments, "report")
    assert written.code == 0, written.err
    page = tmp_path / "reports" / "fleet.html"
    assert written.out.strip() == str(page)
    data = json.loads(cli("--environments", environments, "report", "--format", "json").out)
    assert data["schema"] == "seawall.fleet/1"
    assert [env["name"] for env in data["environments"]] == ["devnet", "mainnet"]
    html = page.read_text()
    for env in data["environments"]:
        assert f'id="env-{env["name"]}"' in html
        for reason in env["reasons"]:
            assert reason.replace("'", "&#39;") in html
    # No host recorded anything here: every backup is an alarm, named.
    assert data["environments"][0]["status"] == "alarm"
    assert "store-data on store-1: no backup recorded" in html


def test_report_of_one_environment_and_an_unwritable_target(tmp_path: Path, cli) -> None:
    shutil.copytree(ENVIRONMENTS, tmp_path / "environments")
    environments = tmp_path / "environments"
    one = json.loads(cli("--environments", environments, "report", "devnet", "--format", "json").out)
    assert [env["name"] for env in one["environments"]] == ["devnet"]
    assert one["parity"]["links"] == []
    (tmp_path / "blocked").write_text("a file, not a folder")
    refused = cli("--environments", environments, "report", "--out", tmp_path / "blocked" / "fleet.html")
    assert refused.code == 2
    assert "choose a writable file with --out" in refused.err
    assert "Traceback" not in refused.err
