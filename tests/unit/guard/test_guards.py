"""Every guard rail with a frozen clock, table-driven."""

from __future__ import annotations

import datetime as dt
import json
from functools import cache

import pytest

from seawall.guard import (
    DeployRequest,
    check_audit,
    check_freeze,
    check_issue,
    check_operator,
    check_parity,
    check_promotion,
    in_freeze,
)
from seawall.ledger import LedgerEntry
from seawall.model import Environment, load_environment
from tests.conftest import SHIPPED

BRUSSELS = "Europe/Brussels"


@cache
def env(name: str) -> Environment:
    return load_environment(SHIPPED, name)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("when", "frozen"),
    [
        ("2026-12-02T23:59:00+01:00", False),  # Wednesday 23:59 in Brussels: allowed
        ("2026-12-03T00:00:00+01:00", True),  # Thursday 00:00: refused
        ("2026-12-02T23:30:00+00:00", True),  # Wednesday in UTC, but already Thursday 00:30 in Brussels
        ("2026-12-05T23:59:59+01:00", True),  # Saturday 23:59:59: still frozen
        ("2026-12-06T00:00:00+01:00", False),  # Sunday 00:00, the team's new week: open again
        ("2026-12-06T12:00:00+01:00", False),  # Sunday noon: a working day
        ("2026-03-25T22:59:00+00:00", False),  # Wednesday 23:59 CET, the week DST starts
        ("2026-03-28T22:59:00+00:00", True),  # Saturday 23:59 CET (DST starts the next morning)
        ("2026-03-28T23:00:00+00:00", False),  # Sunday 00:00 CET
        ("2026-10-24T21:59:00+00:00", True),  # Saturday 23:59 CEST (DST ends the next morning)
        ("2026-10-24T22:00:00+00:00", False),  # Sunday 00:00 CEST
        ("2026-10-21T21:59:00+00:00", False),  # Wednesday 23:59 CEST
        ("2026-10-21T22:00:00+00:00", True),  # Thursday 00:00 CEST
    ],
)
def test_the_freeze_window_is_read_in_the_teams_time_zone(when: str, frozen: bool) -> None:
    assert env("mainnet").release.timezone == BRUSSELS
    assert in_freeze(env("mainnet"), at(when)) is frozen
    verdict = check_freeze(env("mainnet"), DeployRequest("mainnet", at(when)))
    assert verdict.allowed is not frozen
    if frozen:
        assert "--emergency --incident" in verdict.how


def test_environments_without_a_freeze_deploy_any_day() -> None:
    assert check_freeze(env("devnet"), DeployRequest("devnet", at("2026-12-05T12:00:00+01:00"))).allowed


def emergency(incident: str | None, severity: str | None = "Critical", is_open: bool = True) -> DeployRequest:
    saturday = at("2026-12-05T12:00:00+01:00")
    return DeployRequest(
        "mainnet", saturday, emergency=True, incident=incident, incident_severity=severity, incident_open=is_open
    )


def test_an_emergency_for_an_open_critical_or_major_incident_bypasses_only_the_freeze() -> None:
    for severity in ("Critical", "Major"):
        verdict = check_freeze(env("mainnet"), emergency("INC-2026-042", severity))
        assert verdict.allowed, verdict
        assert "bypassed for incident INC-2026-042" in verdict.reason
    assert not check_freeze(env("mainnet"), emergency(None)).allowed
    request = DeployRequest("mainnet", NOW, operator="mallory", emergency=True, incident="INC-2026-042")
    assert not check_operator(env("mainnet"), request).allowed


@pytest.mark.parametrize(
    ("severity", "is_open", "reason"),
    [
        (None, False, "is not in the reports repository"),
        ("Critical", False, "is closed"),
        ("Minor", True, "only Critical and Major allow an emergency"),
    ],
)
def test_an_emergency_is_refused_for_a_missing_closed_or_minor_incident(
    severity: str | None, is_open: bool, reason: str
) -> None:
    verdict = check_freeze(env("mainnet"), emergency("INC-2026-042", severity, is_open))
    assert not verdict.allowed
    assert reason in verdict.reason


def test_a_protected_tier_needs_the_issues_priority() -> None:
    issue = "https://github.com/acme/ops/issues/12"
    refused = check_issue(env("mainnet"), DeployRequest("mainnet", NOW, issue=issue))
    assert not refused.allowed
    assert "--priority" in refused.how
    allowed = check_issue(env("mainnet"), DeployRequest("mainnet", NOW, issue=issue, priority="Major"))
    assert allowed.allowed
    assert "(Major)" in allowed.reason
    assert check_issue(env("qanet"), DeployRequest("qanet", NOW, issue=issue)).allowed


NOW = at("2026-12-01T10:00:00+01:00")


@pytest.mark.parametrize(
    ("name", "operator", "identity", "source", "allowed", "fragment"),
    [
        ("mainnet", "ops-alice", "ops-alice", "ci", True, "is an ops-team operator"),
        ("mainnet", None, None, "none", False, "the operator must be named"),
        ("mainnet", "mallory", "mallory", "ci", False, "is not an ops-team operator"),
        ("mainnet", "ops-alice", "mallory", "ci", False, "does not match the CI identity"),
        ("mainnet", "ops-alice", "someone", "git", True, "advisory outside CI"),
        ("testnet", None, None, "none", True, "not a protected tier"),
    ],
)
def test_only_the_ops_team_deploys_to_production(name, operator, identity, source, allowed, fragment) -> None:
    verdict = check_operator(env(name), DeployRequest(name, NOW, operator, identity, source))
    assert verdict.allowed is allowed
    assert fragment in verdict.reason


@pytest.mark.parametrize(
    ("issue", "allowed"),
    [
        ("https://github.com/acme/ops/issues/12", True),
        ("https://gitlab.example.net/ops/infra/-/merge_requests/7", True),
        ("acme/ops#12", True),
        (None, False),
        ("fixing stuff", False),
    ],
)
def test_every_deploy_names_its_issue(issue: str | None, allowed: bool) -> None:
    verdict = check_issue(env("qanet"), DeployRequest("qanet", NOW, issue=issue))
    assert verdict.allowed is allowed
    if not allowed:
        assert "--issue URL" in verdict.how


def _entry(versions: dict[str, str], result: str = "succeeded") -> LedgerEntry:
    return LedgerEntry(
        "2026-11-30T10:00:00+00:00", "testnet", "ops-bob", "ops-bob", "acme/ops#1", versions, "h", result
    )


def test_mainnet_only_gets_versions_proven_on_testnet() -> None:
    mainnet = env("mainnet")
    versions = {name: service.version for name, service in mainnet.services.items()}
    assert check_promotion(mainnet, [_entry(versions)]).allowed
    refused = check_promotion(mainnet, [])
    assert not refused.allowed
    assert "api 1.8.1" in refused.reason
    assert "seawall up testnet" in refused.how
    failed = check_promotion(mainnet, [_entry(versions, "failed")])
    assert not failed.allowed
    partly = check_promotion(mainnet, [_entry({**versions, "api": "1.8.2"})])
    assert partly.reason == "never deployed successfully to testnet: api 1.8.1"
    assert check_promotion(env("qanet"), []).allowed


def test_parity_and_audit_refuse_with_what_to_do() -> None:
    assert check_parity(env("mainnet"), []).allowed
    refused = check_parity(env("mainnet"), ["api-firewall inboundRules.tcp/8080.portRange (violation)"])
    assert not refused.allowed
    assert "seawall parity testnet mainnet" in refused.how
    assert not check_audit(["no-world-ssh-or-database on db-firewall"], "mainnet").allowed
    assert check_audit([], "mainnet").allowed


def test_the_rule_table_names_each_rule_as_its_verdict_does_and_runs_them_all() -> None:
    from seawall.guard import GUARD_RULES, release_verdicts
    from seawall.model.schema import Artifact

    request = DeployRequest("mainnet", at("2026-12-05T12:00:00+01:00"))  # frozen, no operator, no issue
    mainnet = env("mainnet")
    api = mainnet.services["api"].model_copy(update={"artifact": Artifact(context="images/api")})  # never released
    mainnet = mainnet.model_copy(update={"services": {**mainnet.services, "api": api}})
    verdicts = release_verdicts(mainnet, request, [], ["web-1 size (violation)"], ["audit-rule on x"])
    assert [v.rule for v in verdicts] == [name for name, _ in GUARD_RULES]
    assert [v.allowed for v in verdicts] == [False] * len(GUARD_RULES), "every rule answers, even after a refusal"


# --at at the edges of the calendar (#28): Python's datetime spans the years 1 to 9999; a time whose instant
# in the release time zone (Europe/Brussels: LMT +00:17:30 in year 1, CET +01:00 in 9999) is inside that
# span is judged, even where the same instant in UTC falls outside it; any other is refused in one line.
@pytest.mark.parametrize(
    ("when", "local"),
    [
        ("0001-01-01T00:00:00Z", "0001-01-01T00:17:30"),
        ("0001-01-01T00:10:00+00:17:30", "0001-01-01T00:10:00"),  # before 0001-01-01 00:00 in UTC
        ("9999-12-31T22:59:59+00:00", "9999-12-31T23:59:59"),
        ("9999-12-31T23:59:59+01:00", "9999-12-31T23:59:59"),
    ],
)
def test_a_time_at_the_calendars_edge_is_read_in_the_release_time_zone(when: str, local: str) -> None:
    from seawall.guard import release_time

    shown = release_time(env("mainnet"), at(when))
    assert shown.replace(tzinfo=None).isoformat() == local
    assert shown == at(when)
    assert isinstance(in_freeze(env("mainnet"), at(when)), bool)


@pytest.mark.parametrize(
    "when",
    [
        "9999-12-31T23:59:59-12:00",  # in year 10000 in UTC and in Brussels
        "0001-01-01T00:00:00+14:00",  # in year 0 in UTC and in Brussels
        "9999-12-31T23:30:00+00:00",  # in year 9999 in UTC, in year 10000 in Brussels
        "0001-01-01T00:00:00+00:30",  # in year 0 in UTC and in Brussels (its calendar starts at 23:42:30 UTC)
        "9999-12-31T23:59:59.999999-23:59",
    ],
)
def test_a_time_outside_the_calendar_in_the_release_time_zone_is_refused_in_one_line(when: str, cli) -> None:
    result = cli("--environments", SHIPPED, "guard", "testnet", "--issue", "acme/ops#1", "--at", when)
    assert result.code == 2, result.err
    assert result.out == ""
    assert result.err.count("\n") == 1, result.err
    assert "Traceback" not in result.err
    assert f"--at {when} is outside the years 1 to 9999 in Europe/Brussels" in result.err
    assert "give a time between" in result.err


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("next thursday", "is not an ISO 8601 time"),
        ("2026-12-03T10:00", "needs a time zone offset"),
    ],
)
def test_an_unreadable_at_is_refused_in_one_line(when: str, message: str, cli) -> None:
    result = cli("--environments", SHIPPED, "guard", "testnet", "--issue", "acme/ops#1", "--at", when)
    assert result.code == 2
    assert result.err.count("\n") == 1, result.err
    assert message in result.err


@pytest.mark.render
def test_the_guard_judges_the_last_second_python_can_represent(environments, cli) -> None:
    from tests.conftest import patch_environment

    last = "9999-12-31T23:59:59-12:00"  # a Friday, in the freeze window of a zone 12 hours behind UTC
    judged = cli("--environments", environments, "guard", "testnet", "--issue", "acme/ops#1", "--format", "json",
                 "--at", "9999-12-31T22:59:59+00:00")  # fmt: skip
    assert judged.code == 1, judged.err
    assert "Traceback" not in judged.err
    verdicts = {v["rule"]: v for v in json.loads(judged.out)["verdicts"]}
    assert verdicts["freeze-window"]["allowed"] is False
    patch_environment(environments, "defaults", {"release": {"timezone": "Etc/GMT+12"}})
    behind = cli("--environments", environments, "guard", "testnet", "--issue", "acme/ops#1", "--format", "json",
                 "--at", last)  # fmt: skip
    assert behind.code == 1, behind.err
    answer = json.loads(behind.out)
    assert answer["at"] == last
    assert {v["rule"]: v for v in answer["verdicts"]}["freeze-window"]["allowed"] is False


@pytest.mark.render
def test_the_parity_and_audit_hints_of_a_refused_deploy_show_what_it_refused(environments, cli) -> None:
    from tests.conftest import hint, patch_environment

    public_db = [{"port": 5432, "from": "public"}, {"port": 22, "from": "admin"}]
    patch_environment(environments, "mainnet", {"services": {"db": {"ports": public_db}}})
    guard = cli("--environments", environments, "guard", "mainnet", "--issue", "acme/ops#1", "--format", "json")
    verdicts = {v["rule"]: v for v in json.loads(guard.out)["verdicts"]}
    parity, audit = verdicts["parity"], verdicts["audit"]
    assert parity["allowed"] is False
    assert audit["allowed"] is False

    differences = cli("--environments", environments, *hint(parity["how"]), "--format", "json")
    assert differences.code == 1
    report = json.loads(differences.out)
    assert parity["reason"].startswith(f"{report['summary']['violations']} parity violation(s) against testnet: ")
    listed = {f"{d['resource']} {d['path']} (violation)" for d in report["differences"] if d["kind"] == "violation"}
    refused = parity["reason"].split(": ", 1)[1].split(" (+")[0].split("; ")
    assert len(refused) == 5
    assert set(refused) <= listed

    findings = cli("--environments", environments, *hint(audit["how"]), "--format", "json")
    assert findings.code == 1
    mandatory = [f for f in json.loads(findings.out)["findings"] if f["enforcement"] == "mandatory"]
    assert audit["reason"] == "1 mandatory policy violation(s): " + "; ".join(
        f"{f['rule']} on {f['resource']}" for f in mandatory
    )
    assert "never `public`" in mandatory[0]["remediation"]  # the remediation the hint says to apply
