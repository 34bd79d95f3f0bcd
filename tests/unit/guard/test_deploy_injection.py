"""`seawall.deploy.deploy` takes its Pulumi driver as an argument: plain injection, no patching."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from seawall.deploy import DeployRefused, deploy
from seawall.guard import DeployRequest, Verdict
from seawall.ledger import read_ledger
from seawall.model import load_environment
from tests.conftest import SHIPPED

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


class Driver:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def preview(self, on_output):
        self.calls.append("preview")
        return {"change_summary": {"update": 1}}

    def up(self, on_output):
        self.calls.append("up")
        return {"result": "succeeded", "resource_changes": {"update": 1}}


def test_an_allowed_deploy_runs_the_injected_driver_and_records_its_id(tmp_path: Path) -> None:
    env = load_environment(SHIPPED, "qanet")
    driver, ids = Driver(), []

    def factory(deploy_id: str) -> Driver:
        ids.append(deploy_id)
        return driver

    request = DeployRequest("qanet", NOW, issue="acme/ops#3")
    entry = deploy(
        env, request, [Verdict("issue-reference", True, "ok")], factory, tmp_path, None, lambda _: True, print, "h"
    )
    assert driver.calls == ["preview", "up"]
    assert entry is not None
    assert [e.deploy_id for e in read_ledger(tmp_path, "qanet")] == ids == [entry.deploy_id]


def test_a_refused_deploy_never_builds_a_driver(tmp_path: Path) -> None:
    env = load_environment(SHIPPED, "qanet")
    built: list[str] = []
    refused = [Verdict("freeze-window", False, "frozen", "wait")]
    with pytest.raises(DeployRefused, match="freeze-window: frozen"):
        deploy(env, DeployRequest("qanet", NOW), refused, built.append, tmp_path, None, lambda _: True, print, "h")
    assert built == []
    assert read_ledger(tmp_path, "qanet") == []
