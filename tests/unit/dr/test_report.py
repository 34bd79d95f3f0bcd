"""The rehearsal's record as every reader shows it: the status line against the model's interval (ok, failed,
overdue, never, untrusted) and the metrics the status host exports, from what the engine's own result
serializes to (``report_json`` and ``summary``)."""

from __future__ import annotations

import datetime as dt

from seawall.dr.engine import HostOutcome, Rehearsal, Request, SetOutcome, Step
from seawall.dr.report import rehearsal_metrics, rehearsal_status, report_json, report_markdown, summary

FINISHED = dt.datetime(2026, 12, 1, 6, 40, tzinfo=dt.UTC)
INTERVAL = dt.timedelta(days=31)


def _result(passed: bool = True) -> Rehearsal:
    check = {"command": "pg_restore --list …", "ok": passed, "detail": ""}
    outcome = SetOutcome(
        "postgres",
        "db-1",
        rto_target=7200.0,
        rpo_target=25200.0,
        snapshot={"id": "ab" * 32, "short_id": "abababab"},
        note="the newest",
        age_seconds=3600.0,
        restore_seconds=40.0,
        verified_after=812.5,
        verified_at=812.5,
        checks=[check],
        rto_ok=True,
        rpo_ok=True,
        error=None if passed else "check 'pg_restore --list …' failed",
        kind="" if passed else "check",
    )
    host = HostOutcome("db-1", [Step("boot", 60.0), Step("host step db-1-install", 300.0)], [outcome])
    result = Rehearsal(
        "mainnet",
        Request(["db-1"]),
        "digitalocean",
        "mainnet-dr-20261201",
        "2026-12-01T06:26:00+00:00",
        recovery_target=14400.0,
        hosts=[host],
        finished=FINISHED.isoformat(),
        seconds=840.0,
        verified_after=812.5,
    )
    if not passed:
        failure = {"kind": "check", "host": "db-1", "set": "postgres", "message": outcome.error or ""}
        result.failures.append(failure | {"runbook": "docs/ops/runbooks/restore-backup-set.md"})
    return result


def test_a_passed_rehearsal_is_ok_until_the_interval_then_overdue() -> None:
    record = summary(report_json(_result()), "/var/lib/seawall/reports/drills/mainnet/dr/x.json")
    ok = rehearsal_status(record, None, INTERVAL, FINISHED + dt.timedelta(days=30), "mainnet")
    assert ok == {"status": "ok", "time": record["time"], "detail": "passed, every set verified after 812s of 14400s"}
    late = rehearsal_status(record, None, INTERVAL, FINISHED + dt.timedelta(days=32), "mainnet")
    assert late["status"] == "overdue"
    assert late["detail"].endswith("longer than the interval: run `seawall dr rehearse mainnet`")


def test_a_failed_or_missing_or_untrusted_rehearsal_says_what_to_do() -> None:
    record = summary(report_json(_result(passed=False)), "x.json")
    failed = rehearsal_status(record, None, INTERVAL, FINISHED, "mainnet")
    assert failed["status"] == "failed"
    assert "check 'pg_restore --list …' failed" in failed["detail"]
    assert rehearsal_status({}, None, INTERVAL, FINISHED, "mainnet")["detail"] == (
        "no DR rehearsal yet: run `seawall dr rehearse mainnet`"
    )
    assert (
        rehearsal_status({}, "verified_seconds: not a number", INTERVAL, FINISHED, "mainnet")["status"] == "untrusted"
    )


def test_the_metrics_carry_the_result_its_time_the_interval_and_each_set() -> None:
    record = summary(report_json(_result()), "x.json")
    text = rehearsal_metrics("mainnet", record, INTERVAL)
    assert 'seawall_dr_rehearsal_success{environment="mainnet"} 1' in text
    assert (
        f'seawall_dr_rehearsal_last_run_timestamp_seconds{{environment="mainnet"}} {int(FINISHED.timestamp())}' in text
    )
    assert (
        'seawall_dr_rehearsal_set_verified_seconds{backup_host="db-1",environment="mainnet",set="postgres"} 812.5'
        in text
    )
    never = rehearsal_metrics("mainnet", {}, INTERVAL)
    assert 'seawall_dr_rehearsal_last_run_timestamp_seconds{environment="mainnet"} 0' in never  # overdue at once
    assert 'seawall_dr_rehearsal_success{environment="mainnet"} 0' in never


def test_the_markdown_has_each_set_each_step_and_each_failure_with_its_runbook() -> None:
    text = report_markdown(report_json(_result(passed=False)))
    assert "**Result: FAILED**" in text
    assert "| postgres | db-1 | abababab | 3600.0s of 25200.0s | 812.5s of 7200.0s | FAIL |" in text
    assert "| db-1 | host step db-1-install | 300.0s | pass |" in text
    assert "(runbook: docs/ops/runbooks/restore-backup-set.md)" in text
