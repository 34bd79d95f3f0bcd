"""``seawall up`` end to end with an injected Pulumi driver.

The fake driver stands in for Pulumi's Automation API stack because the Pulumi CLI (which the real
LocalWorkspace drives) cannot be installed here. Everything around it is real: the guard rails, the
offline parity and audit, the ledger on disk and its copy in a bucket on the loopback S3 server.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from seawall import deploy
from seawall.ledger import read_ledger


class FakeDriver:
    """Records what the deploy asked of Pulumi; ``fail`` makes ``up`` raise like a failed update."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[str] = []
        self.fail = fail
        self.env_vars: dict[str, str] = {}

    def preview(self, on_output):
        self.calls.append("preview")
        on_output("Previewing update (qanet): 3 to update")
        return {"change_summary": {"update": 3}}

    def up(self, on_output):
        self.calls.append("up")
        if self.fail:
            raise RuntimeError("digitalocean: 422 droplet limit reached")
        on_output("Updating (qanet): 3 updated")
        return {"result": "succeeded", "resource_changes": {"update": 3, "same": 70}}


@pytest.fixture
def driver(mocker, monkeypatch) -> FakeDriver:
    """The fake stands in where `seawall up` builds its Automation API driver (the one thing that needs
    the Pulumi CLI); `deploy.deploy` itself takes the driver factory as an argument."""
    fake = FakeDriver()

    def make(env, root, env_vars):
        fake.env_vars = env_vars
        return fake

    mocker.patch.object(deploy, "make_driver", side_effect=make)
    mocker.patch.object(deploy, "require_pulumi_cli", return_value=None)
    monkeypatch.setenv("GITHUB_ACTOR", "ops-alice")
    return fake


@pytest.fixture
def s3_environments(environments: Path, monkeypatch) -> Path:
    """The shipped environments with their bucket on the loopback S3 server."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    defaults = yaml.safe_load((environments / "defaults.yaml").read_text())
    defaults["backup"]["repository"]["endpoint"] = f"http://{host}:{port}"
    prefix = f"up{next(_BUCKETS)}"
    defaults["backup"]["repository"]["bucket_prefix"] = prefix
    # The ledger's own bucket, written with the deployers' key (the hosts' Spaces key is another).
    defaults["release"]["ledger"] = {"endpoint": f"http://{host}:{port}", "bucket": f"{prefix}-ledger"}
    (environments / "defaults.yaml").write_text(yaml.safe_dump(defaults, sort_keys=False))
    monkeypatch.setenv("SPACES_ACCESS_KEY_ID", "up-key")
    monkeypatch.setenv("SPACES_SECRET_ACCESS_KEY", "up-secret")
    monkeypatch.setenv("LEDGER_ACCESS_KEY_ID", "up-deployer-key")
    monkeypatch.setenv("LEDGER_SECRET_ACCESS_KEY", "up-deployer-secret")
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=f"http://{host}:{port}",
        region_name="us-east-1",
        aws_access_key_id="up-key",
        aws_secret_access_key="up-secret",
    )
    client.create_bucket(Bucket=f"{prefix}-qanet-backups")
    monkeypatch.setattr("tests.e2e.test_up.S3", client, raising=False)
    monkeypatch.setattr("tests.e2e.test_up.BUCKET", f"{prefix}-qanet-backups", raising=False)
    monkeypatch.setattr("tests.e2e.test_up.LEDGER_BUCKET", f"{prefix}-ledger", raising=False)
    yield environments
    server.stop()


S3 = None
BUCKET = ""
LEDGER_BUCKET = ""
_BUCKETS = itertools.count()


def test_a_passing_deploy_previews_applies_and_records_locally_and_in_the_bucket(
    s3_environments: Path, driver, cli
) -> None:
    result = cli("--environments", s3_environments, "up", "qanet", "--issue", "acme/ops#7", "--yes")
    assert result.code == 0, result.out + result.err
    assert driver.calls == ["preview", "up"]
    assert "Updating (qanet): 3 updated" in result.out
    (entry,) = read_ledger(s3_environments.parent / "ledger", "qanet")
    assert entry.result == "succeeded"
    assert entry.issue == "acme/ops#7"
    assert entry.identity == "ops-alice"
    assert entry.versions["api"] == "1.8.2"
    assert entry.summary["resource_changes"] == {"update": 3, "same": 70}
    copy = S3.get_object(Bucket=LEDGER_BUCKET, Key="ledger/qanet.jsonl")["Body"].read().decode()
    assert json.loads(copy)["issue"] == "acme/ops#7"
    # Never in the environment's bucket, whose key every backup host holds.
    assert "Contents" not in S3.list_objects_v2(Bucket=BUCKET, Prefix="ledger/")
    shown = cli("--environments", s3_environments, "ledger", "qanet", "--format", "json")
    assert json.loads(shown.out)[0]["result"] == "succeeded"
    # The program runs with the model seawall up checked: --environments reaches it, and the request.
    assert driver.env_vars["SEAWALL_ENVIRONMENTS"] == str(s3_environments.resolve())
    assert driver.env_vars["SEAWALL_ISSUE"] == "acme/ops#7"
    assert driver.env_vars["SEAWALL_DEPLOY_ID"] == entry.deploy_id


def test_a_failed_update_is_recorded_and_exits_1(s3_environments: Path, driver, cli) -> None:
    driver.fail = True
    result = cli("--environments", s3_environments, "up", "qanet", "--issue", "acme/ops#8", "--yes")
    assert result.code == 1
    assert "pulumi up of qanet failed" in result.err
    (entry,) = read_ledger(s3_environments.parent / "ledger", "qanet")
    assert entry.result == "failed"
    assert "droplet limit" in entry.summary["error"]


def test_a_refused_deploy_calls_nothing_and_writes_nothing(s3_environments: Path, driver, cli) -> None:
    result = cli("--environments", s3_environments, "up", "qanet", "--yes")
    assert result.code == 1
    assert "issue-reference: no issue reference" in result.err
    assert driver.calls == []
    assert not (s3_environments.parent / "ledger").exists()
    assert "Contents" not in S3.list_objects_v2(Bucket=BUCKET)
    assert LEDGER_BUCKET not in [b["Name"] for b in S3.list_buckets()["Buckets"]]


def test_mainnet_is_refused_without_a_testnet_record_and_nothing_runs(
    environments: Path, driver, cli, monkeypatch
) -> None:
    monkeypatch.setenv("SPACES_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("SPACES_SECRET_ACCESS_KEY", "s")
    monkeypatch.setattr("seawall.cli.deploy._mirror", lambda env, settings, required: None)
    result = cli(
        "--environments", environments, "up", "mainnet", "--issue", "acme/ops#9", "--operator", "ops-alice", "--yes"
    )
    assert result.code == 1
    assert "promotion: never deployed successfully to testnet" in result.err
    assert driver.calls == []


def test_without_the_pulumi_cli_up_shows_the_verdicts_and_the_plan_then_how_to_install_it(
    environments: Path, cli, monkeypatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no Pulumi CLI (nor anything else) to find
    monkeypatch.setattr("seawall.deploy.identity", lambda: ("ops-alice", "ci"))
    result = cli("--environments", environments, "up", "qanet", "--issue", "acme/ops#7", "--yes")
    assert result.code == 2
    assert "may qanet be deployed?" in result.out
    assert "issue-reference" in result.out
    assert "planned changes to qanet" in result.out
    assert "the Pulumi CLI is not installed" in result.err
    assert "https://www.pulumi.com/docs/install/" in result.err
    assert "Traceback" not in result.err


def test_without_the_pulumi_cli_up_names_the_stateful_replacements_and_the_flags_it_will_demand(
    environments: Path, cli, monkeypatch
) -> None:
    from tests.conftest import patch_environment

    monkeypatch.setenv("PATH", "/nonexistent")  # no Pulumi CLI (nor anything else) to find
    monkeypatch.setattr("seawall.deploy.identity", lambda: ("ops-alice", "ci"))
    deployed = cli("--environments", environments, "preview", "qanet", "--format", "json")
    ledger = environments.parent / "ledger"
    ledger.mkdir()
    (ledger / "qanet.deployed.json").write_text(deployed.out)
    patch_environment(environments, "defaults", {"services": {"db": {"image": "ubuntu-26-04-x64"}}})
    result = cli("--environments", environments, "up", "qanet", "--issue", "acme/ops#7", "--yes")
    assert result.code == 2
    assert "may qanet be deployed?" in result.out
    assert "stateful replacements (1)" in result.out
    assert "`seawall up qanet` will refuse these unless run with: --allow-replace db-1" in result.out.splitlines()
    assert "the Pulumi CLI is not installed" in result.err
    assert "once it is installed, this deploy is still refused: it would replace stateful resources: db-1" in result.err
    assert "run again with --allow-replace db-1" in result.err


def test_guard_answers_for_a_given_time(environments: Path, cli, monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_ACTOR", "ops-alice")

    def guard(name: str, *extra: str):
        return cli("--environments", environments, "guard", name, "--issue", "acme/ops#1", "--format", "json", *extra)

    allowed = guard("qanet")
    assert allowed.code == 0
    assert json.loads(allowed.out)["allowed"] is True
    thursday = guard("testnet", "--at", "2026-12-03T09:00+01:00")
    assert thursday.code == 1
    verdicts = {v["rule"]: v for v in json.loads(thursday.out)["verdicts"]}
    assert verdicts["freeze-window"]["allowed"] is False
    unknown = guard("testnet", "--at", "2026-12-03T09:00+01:00", "--emergency", "--incident", "INC-2026-007")
    assert unknown.code == 1
    assert "not in the reports repository" in unknown.out
    reports = environments.parent / "incident_reports"
    subprocess.run(["git", "init", "-q", str(reports)], check=True)
    for key, value in (("user.name", "Ops Alice"), ("user.email", "alice@example.net")):
        subprocess.run(["git", "-C", str(reports), "config", key, value], check=True)
    opened = cli("--environments", environments, "incident", "new", "testnet", "--severity", "major",
                 "--title", "API errors after the release", "--service", "api", "--author", "ops-alice")  # fmt: skip
    assert opened.code == 0, opened.err
    incident = opened.out.split()[0]
    emergency = guard("testnet", "--at", "2026-12-03T09:00+01:00", "--emergency", "--incident", incident)
    assert emergency.code == 0, emergency.out


def test_up_refuses_to_replace_a_stateful_droplet_unless_allowed_by_name(s3_environments: Path, driver, cli) -> None:
    from tests.conftest import patch_environment

    deployed = cli("--environments", s3_environments, "preview", "qanet", "--format", "json")
    ledger = s3_environments.parent / "ledger"
    ledger.mkdir()
    (ledger / "qanet.deployed.json").write_text(deployed.out)
    patch_environment(s3_environments, "defaults", {"services": {"db": {"image": "ubuntu-26-04-x64"}}})
    refused = cli("--environments", s3_environments, "up", "qanet", "--issue", "acme/ops#10", "--yes")
    assert refused.code == 1
    assert "it would replace stateful resources: db-1 (replace: image; the droplet of db" in refused.err
    assert "run again with --allow-replace db-1" in refused.err
    assert "`seawall up qanet` will refuse these unless run with: --allow-replace db-1" in refused.out.splitlines()
    assert driver.calls == []
    assert "replace" in refused.out
    allowed = cli(
        "--environments", s3_environments, "up", "qanet", "--issue", "acme/ops#10", "--yes", "--allow-replace", "db-1"
    )
    assert allowed.code == 0, allowed.out + allowed.err
    assert driver.calls == ["preview", "up"]


def test_the_program_records_its_start_and_a_start_without_an_outcome_shows_as_failed(environments: Path, cli) -> None:
    started = cli("--environments", environments, "ledger-record", "qanet", "--result", "started", "--deploy-id", "d-1",
                  "--issue", "acme/ops#12")  # fmt: skip
    assert started.code == 0, started.err
    shown = json.loads(cli("--environments", environments, "ledger", "qanet", "--format", "json").out)
    assert [(e["deploy_id"], e["outcome"]) for e in shown] == [("d-1", "failed-or-interrupted")]
    done = cli("--environments", environments, "ledger-record", "qanet", "--result", "succeeded", "--deploy-id", "d-1")
    assert done.code == 0
    shown = json.loads(cli("--environments", environments, "ledger", "qanet", "--format", "json").out)
    assert [e["outcome"] for e in shown] == ["started", "succeeded"]
    assert (environments.parent / "ledger" / "qanet.deployed.json").is_file()
