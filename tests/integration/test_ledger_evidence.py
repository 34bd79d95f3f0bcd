"""Promotion reads the predecessor's own evidence, which no backup host can write (SeaweedFS with
per-bucket identities, ``-s3.config``: the deployers' key may write the ledger's bucket, a backup host's
key only its environment's bucket). A copy a host planted in the deployed environment's bucket is never
read; a local ledger and the bucket copy that disagree about a deploy are refused by name."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import hint, patch_environment
from tests.integration.backup.conftest import ACCESS_KEY, SECRET_KEY
from tests.integration.seaweedfs import SeaweedFS, identity

pytestmark = pytest.mark.integration
HOST_KEY, HOST_SECRET = "host-key", "host-secret-0000000000000000000"
MONDAY = "2026-11-30T10:00+01:00"  # outside the freeze window


@pytest.fixture(scope="module")
def scoped_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SeaweedFS with two identities: the deployers' (every bucket) and a backup host's, scoped to the
    environment buckets (``Read:``/``Write:``/``List:`` the bucket name)."""
    host_actions = [f"{action}:{bucket}" for bucket in ("ev-testnet-backups", "ev-mainnet-backups")
                    for action in ("Read", "Write", "List")]  # fmt: skip
    server = SeaweedFS(
        tmp_path_factory.mktemp("scoped-seaweedfs"), [identity("backup-host", HOST_KEY, HOST_SECRET, host_actions)]
    )
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        for bucket in ("ev-testnet-backups", "ev-mainnet-backups"):
            server.client().create_bucket(Bucket=bucket)
        yield server.endpoint
    finally:
        server.stop()


def _client(endpoint: str, key: str, secret: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret)  # fmt: skip


def _entry(env: str, versions: dict[str, str], deploy_id: str) -> str:
    return json.dumps({"time": "2026-11-23T10:00:00+00:00", "environment": env, "operator": "ops-alice",
                       "identity": "ops-alice", "issue": "acme/ops#1", "versions": versions, "model_hash": "h",
                       "result": "succeeded", "deploy_id": deploy_id}) + "\n"  # fmt: skip


@pytest.fixture
def ev(environments: Path, scoped_s3: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Path:
    ledger_bucket = f"ev-ledger-{request.node.name[-40:].lower().replace('_', '-').strip('-')}"[:60].rstrip("-")
    patch_environment(environments, "defaults", {
        "backup": {"repository": {"endpoint": scoped_s3, "bucket_prefix": "ev"}},
        "release": {"ledger": {"endpoint": scoped_s3, "bucket": ledger_bucket}},
    })  # fmt: skip
    monkeypatch.setenv("LEDGER_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("LEDGER_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("GITHUB_ACTOR", "ops-alice")
    monkeypatch.setattr("tests.integration.test_ledger_evidence.LEDGER", ledger_bucket, raising=False)
    _client(scoped_s3, ACCESS_KEY, SECRET_KEY).create_bucket(Bucket=ledger_bucket)
    return environments


LEDGER = ""


def _mainnet_versions(environments: Path) -> dict[str, str]:
    from seawall.model import load_environment

    return {name: s.version for name, s in load_environment(environments, "mainnet").services.items()}


def _guard(cli, environments: Path):
    result = cli("--environments", environments, "guard", "mainnet", "--at", MONDAY, "--operator", "ops-alice",
                 "--issue", "acme/ops#2", "--priority", "major", "--format", "json")  # fmt: skip
    verdicts = {v["rule"]: v for v in json.loads(result.out)["verdicts"]}
    return result.code, verdicts["promotion"]


def test_a_backup_hosts_key_is_refused_on_the_ledgers_bucket(ev: Path, scoped_s3: str) -> None:
    host = _client(scoped_s3, HOST_KEY, HOST_SECRET)
    host.put_object(Bucket="ev-mainnet-backups", Key="seawall/state/x.json", Body=b"{}")  # its own bucket: fine
    with pytest.raises(ClientError) as refused:
        host.put_object(Bucket=LEDGER, Key="ledger/testnet.jsonl", Body=_entry("testnet", {}, "forged").encode())
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


def test_a_copy_planted_in_the_deployed_environments_bucket_is_never_evidence(ev: Path, scoped_s3: str, cli) -> None:
    host = _client(scoped_s3, HOST_KEY, HOST_SECRET)
    forged = _entry("testnet", _mainnet_versions(ev), "forged")
    host.put_object(Bucket="ev-mainnet-backups", Key="ledger/testnet.jsonl", Body=forged.encode())
    code, promotion = _guard(cli, ev)
    assert code == 1
    assert promotion["allowed"] is False
    assert "never deployed successfully to testnet" in promotion["reason"]


def test_the_predecessors_bucket_copy_is_the_evidence_on_a_fresh_machine(ev: Path, scoped_s3: str, cli) -> None:
    deployers = _client(scoped_s3, ACCESS_KEY, SECRET_KEY)
    deployers.put_object(
        Bucket=LEDGER, Key="ledger/testnet.jsonl", Body=_entry("testnet", _mainnet_versions(ev), "d1").encode()
    )
    assert not (ev.parent / "ledger").exists()
    _, promotion = _guard(cli, ev)
    assert promotion["allowed"] is True, promotion


def test_local_and_bucket_copies_that_disagree_are_refused_naming_both(ev: Path, scoped_s3: str, cli) -> None:
    versions = _mainnet_versions(ev)
    deployers = _client(scoped_s3, ACCESS_KEY, SECRET_KEY)
    deployers.put_object(Bucket=LEDGER, Key="ledger/testnet.jsonl", Body=_entry("testnet", versions, "d1").encode())
    local = ev.parent / "ledger"
    local.mkdir()
    (local / "testnet.jsonl").write_text(_entry("testnet", versions, "d1") + _entry("testnet", versions, "d2"))
    code, promotion = _guard(cli, ev)
    assert code == 1
    assert promotion["allowed"] is False
    assert str(local / "testnet.jsonl") in promotion["reason"]
    assert f"s3://{LEDGER}/ledger/testnet.jsonl" in promotion["reason"]
    assert "d2" in promotion["reason"]
    followed = cli("--environments", ev, *hint(promotion["how"]), "--format", "json")
    assert followed.code == 0, followed.err
    held = {entry["deploy_id"]: entry["copies"] for entry in json.loads(followed.out)}
    assert held == {"d1": ["local", "bucket"], "d2": ["local"]}  # the deploy the bucket's copy lacks
    table = cli("--environments", ev, *hint(promotion["how"]))
    assert "local only" in table.out
    shutil.rmtree(local)
