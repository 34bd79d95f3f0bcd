"""The promotion rule by digest and evidence, as pure functions over ledgers: mainnet gets a service's image
only when the digest its version is released as ran on testnet with its health checks passing and every testnet
drill passed since; a version re-pointed at another digest is refused by name."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest

from seawall.guard import DrillEvidence, check_promotion, check_release_digests, drill_evidence
from seawall.ledger import LedgerEntry, LedgerError, parse_ledger
from seawall.model import Environment, load_environment
from seawall.model.schema import Artifact
from seawall.releases import ReleaseEntry, artifact_evidence, parse_releases, release_digests
from tests.conftest import SHIPPED, Result

OLD, NEW = "sha256:" + "a" * 64, "sha256:" + "b" * 64
DEPLOYED = "2026-11-30T10:00:00+00:00"


@cache
def mainnet() -> Environment:
    """Mainnet whose api runs an image built from a context (its health path is the shipped /healthz)."""
    env = load_environment(SHIPPED, "mainnet")
    api = env.services["api"].model_copy(update={"artifact": Artifact(context="images/api", ports=[8080])})
    return env.model_copy(update={"services": {**env.services, "api": api}})


def release(digest: str, version: str | None = None, time: str = "2026-11-29T09:00:00+00:00") -> ReleaseEntry:
    version = version or mainnet().services["api"].version
    return ReleaseEntry(time, "api", version, "registry.example/team/api", digest, "build")


def deployed(digest: str, healthy: bool = True, result: str = "succeeded", version: str | None = None) -> LedgerEntry:
    versions = {name: service.version for name, service in mainnet().services.items()}
    if version is not None:
        versions["api"] = version
    return LedgerEntry(
        DEPLOYED, "testnet", "ops-bob", "ops-bob", "acme/ops#1", versions, "h", result,
        digests={"api": digest}, healthy=["api"] if healthy else [],
    )  # fmt: skip


def drills(time: str = "2026-12-01T05:00:00+00:00", passed: bool = True) -> list[DrillEvidence]:
    return [DrillEvidence("api-config", "api-1", time, passed), DrillEvidence("postgres", "db-1", time, True)]


def test_the_digest_that_ran_healthy_with_drills_passed_since_is_promoted() -> None:
    verdict = check_promotion(mainnet(), [deployed(NEW)], None, [release(NEW)], drills())
    assert verdict.allowed, verdict.reason
    assert "by digest" in verdict.reason


def test_a_version_re_pointed_at_another_digest_is_refused_by_name() -> None:
    # testnet ran api 1.8.1 as OLD; the release ledger now says 1.8.1 is NEW.
    verdict = check_promotion(mainnet(), [deployed(OLD)], None, [release(NEW)], drills())
    assert not verdict.allowed
    version = mainnet().services["api"].version
    assert f"api {version} ran on testnet as {OLD[:19]}…, not as {NEW[:19]}…" in verdict.reason
    assert "re-pointed" in verdict.reason


@pytest.mark.parametrize(
    ("ledger", "evidence", "reason"),
    [
        ([deployed(NEW, healthy=False)], drills(), "never ran on testnet with its health checks passing"),
        ([deployed(NEW, result="failed")], drills(), "never ran on testnet with its health checks passing"),
        ([], drills(), "never ran on testnet"),
        ([deployed(NEW)], drills(passed=False), "api-config on api-1 (failed 2026-12-01T05:00:00+00:00)"),
        ([deployed(NEW)], drills(time="2026-11-30T09:00:00+00:00"), "have not all passed since"),
        ([deployed(NEW)], [DrillEvidence("postgres", "db-1", "", False)], "postgres on db-1 (never drilled)"),
        ([deployed(NEW)], None, "its drill results could not be read"),
    ],
)
def test_a_digest_without_its_evidence_is_refused(
    ledger: list[LedgerEntry], evidence: list[DrillEvidence] | None, reason: str
) -> None:
    verdict = check_promotion(mainnet(), ledger, None, [release(NEW)], evidence)
    assert not verdict.allowed
    assert reason in verdict.reason


def test_a_service_with_an_artifact_and_no_release_is_refused() -> None:
    verdict = check_promotion(mainnet(), [deployed(NEW)], None, [], drills())
    assert not verdict.allowed
    assert "has no release (`seawall release build api`)" in verdict.reason


def test_services_without_an_artifact_keep_the_version_rule() -> None:
    proven = deployed(NEW)
    db_missing = LedgerEntry(**{**proven.__dict__, "versions": {"api": proven.versions["api"]}})
    refused = check_promotion(mainnet(), [db_missing], None, [release(NEW)], drills())
    assert not refused.allowed
    assert "never deployed successfully to testnet: db " in refused.reason


def test_the_release_digest_rule_names_a_re_pointed_version() -> None:
    version = mainnet().services["api"].version
    assert check_release_digests(mainnet(), [release(NEW)]).allowed
    twice = check_release_digests(mainnet(), [release(OLD), release(NEW, time="2026-11-30T00:00:00+00:00")])
    assert not twice.allowed
    assert f"api {version} was re-pointed: the release ledger binds it to 2 digests" in twice.reason
    assert "never released" in check_release_digests(mainnet(), []).reason
    assert check_release_digests(load_environment(SHIPPED, "mainnet"), []).reason == "no service has an artifact"


def test_an_upstream_release_must_be_the_pinned_digest() -> None:
    env = mainnet()
    pinned = env.services["api"].model_copy(
        update={"artifact": Artifact(upstream=f"docker.io/library/busybox@{OLD}", ports=[8080])}
    )
    env = env.model_copy(update={"services": {**env.services, "api": pinned}})
    verdict = check_release_digests(env, [release(NEW)])
    assert not verdict.allowed
    assert f"not the pinned {OLD[:19]}…" in verdict.reason


def test_a_deploy_records_digests_and_health_only_when_it_succeeded() -> None:
    services = mainnet().services
    assert artifact_evidence(services, [release(NEW)], succeeded=True) == ({"api": NEW}, ["api"])
    assert artifact_evidence(services, [release(NEW)], succeeded=False) == ({"api": NEW}, [])
    assert release_digests([release(OLD), release(NEW)], {"api": services["api"].version}) == {"api": OLD}


def test_ledger_lines_keep_digests_and_old_lines_read_as_before() -> None:
    entry = deployed(NEW)
    assert parse_ledger(entry.as_line(), "x") == [entry]
    plain = LedgerEntry(DEPLOYED, "testnet", "o", "o", "i", {"api": "1"}, "h", "succeeded")
    assert "digests" not in plain.as_line()
    assert parse_ledger(plain.as_line(), "x")[0].digests == {}
    with pytest.raises(LedgerError, match="digests has the wrong type"):
        parse_ledger(plain.as_line().replace('"deploy_id"', '"digests": {"api": 1}, "deploy_id"'), "x")


def test_a_damaged_release_ledger_names_its_line() -> None:
    good = release(NEW).as_line()
    with pytest.raises(Exception, match=r"releases:2: a release line whose digest"):
        parse_releases(good + good.replace(NEW, "sha256:short"), "releases")


def test_drill_evidence_is_read_from_the_backup_state() -> None:
    documents = {
        ("postgres", "db-1"): {"last_drill": {"time": "2026-12-01T05:00:00+00:00", "result": "passed"}},
        ("api-config", "api-1"): {"last_drill": {"time": "2026-12-01T05:00:00+00:00", "result": "failed"}},
        ("api-config", "api-2"): {},
    }
    assert drill_evidence(documents) == [
        DrillEvidence("api-config", "api-1", "2026-12-01T05:00:00+00:00", False),
        DrillEvidence("api-config", "api-2", "", False),
        DrillEvidence("postgres", "db-1", "2026-12-01T05:00:00+00:00", True),
    ]


def test_the_fleet_page_shows_the_digest_of_the_last_deploy_that_succeeded() -> None:
    from seawall.opsdocs.fleet_page import running_images

    later = LedgerEntry(**{**deployed(NEW).__dict__, "time": "2026-12-02T10:00:00+00:00"})
    failed = LedgerEntry(**{**deployed(OLD, result="failed").__dict__, "time": "2026-12-03T10:00:00+00:00"})
    [shown] = running_images([(deployed(OLD), "succeeded"), (later, "succeeded"), (failed, "failed")])
    assert shown["digest"] == NEW
    assert shown["since"] == "2026-12-02T10:00:00+00:00"
    assert shown["healthy"] is True
    assert running_images([(failed, "failed")]) == []


def test_seawall_ledger_shows_which_digest_ran(environments: Path, cli: Callable[..., Result]) -> None:
    from seawall.ledger import append_entry

    append_entry(environments.parent / "ledger", LedgerEntry(**{**deployed(NEW).__dict__, "environment": "devnet"}))
    [row] = json.loads(cli("--environments", environments, "ledger", "devnet", "--format", "json").out)
    assert (row["digests"], row["healthy"]) == ({"api": NEW}, ["api"])
    table = cli("--environments", environments, "ledger", "devnet").out
    assert "digests (health" in table
    assert "(healthy)" in table
