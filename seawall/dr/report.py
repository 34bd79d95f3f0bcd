"""The rehearsal's report (JSON and Markdown), its metrics and the record every reader shows.

The JSON (schema ``seawall.dr-rehearsal/1``) holds each host's steps with their times, each set's snapshot and
its age (the achieved RPO), the time to its data verified (the measured RTO) against its targets, the total
against the environment's recovery target, and every failure with the runbook to follow. The last rehearsal's
summary is kept in the state (``state/<env>/dr/rehearsal.json``, and the bucket's copy), where ``backup
status``, the fleet page, the DR plan and the status host's metrics (``seawall_dr_rehearsal_*``) read it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from seawall.backup import records
from seawall.backup.metrics import render_series, write_metrics
from seawall.backup.state import StateStore
from seawall.dr.engine import Rehearsal
from seawall.files import write_atomically
from seawall.markdown import markdown_table

SCHEMA = "seawall.dr-rehearsal/1"
RECORD = ("dr", "rehearsal")  # the state document of the last rehearsal
HELP = {
    "success": "1 when the last DR rehearsal passed (every set verified within its targets), else 0",
    "last_run_timestamp_seconds": "When the last DR rehearsal finished",
    "interval_seconds": "How old the last DR rehearsal may be (dr.rehearsal_interval)",
    "verified_seconds": "Seconds from the rehearsal's start to every set's data verified",
    "recovery_target_seconds": "The environment's recovery target (dr.recovery_target)",
    "set_verified_seconds": "Seconds from the host's rebuild to this set's data verified (the measured RTO)",
    "set_rpo_seconds": "Age of the snapshot the rehearsal restored (the achieved RPO)",
    "set_success": "1 when the set was restored and verified within its targets, else 0",
}


def report_json(result: Rehearsal) -> dict[str, Any]:
    """Given a rehearsal, return its JSON report."""
    return {
        "schema": SCHEMA,
        "environment": result.environment,
        "result": "passed" if result.passed else ("interrupted" if result.interrupted else "failed"),
        "started": result.started,
        "finished": result.finished,
        "machines": result.machines,
        "stack": result.stack,
        "request": asdict(result.request),
        "seconds": round(result.seconds, 3),
        "verified_seconds": None if result.verified_after is None else round(result.verified_after, 3),
        "recovery_target_seconds": result.recovery_target,
        "hosts": [
            {
                "host": host.host,
                "error": host.error,
                "steps": [{**asdict(step), "seconds": round(step.seconds, 3)} for step in host.steps],
                "health": host.health,
                "sets": [_set_json(rehearsed) for rehearsed in host.sets],
            }
            for host in result.hosts
        ],
        "failures": result.failures,
        **({"interrupted": result.interrupted} if result.interrupted else {}),
    }


def _set_json(rehearsed: Any) -> dict[str, Any]:
    return {
        "set": rehearsed.set_name,
        "snapshot": rehearsed.snapshot,
        "note": rehearsed.note,
        "rpo": {
            "seconds": _round(rehearsed.age_seconds),
            "target_seconds": rehearsed.rpo_target,
            "ok": rehearsed.rpo_ok,
        },
        "rto": {
            "seconds": _round(rehearsed.verified_after),
            "target_seconds": rehearsed.rto_target,
            "ok": rehearsed.rto_ok,
        },
        "restore_seconds": round(rehearsed.restore_seconds, 3),
        "checks": rehearsed.checks,
        "error": rehearsed.error,
        "passed": rehearsed.passed,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def report_markdown(report: dict[str, Any]) -> str:
    """Given a JSON report, return it as Markdown for people and issues."""
    lines = [
        f"# DR rehearsal of {report['environment']} ({report['machines']}, {report['stack']})",
        "",
        f"**Result: {report['result'].upper()}** — {report['started']} to {report['finished']}; every set's data "
        f"verified after {_seconds(report['verified_seconds'])} against the recovery target of "
        f"{_seconds(report['recovery_target_seconds'])}",
        "",
        "## Sets",
        "",
    ]
    rows = [
        (
            s["set"],
            host["host"],
            s["snapshot"].get("short_id") or "-",
            f"{_seconds(s['rpo']['seconds'])} of {_seconds(s['rpo']['target_seconds'])}",
            f"{_seconds(s['rto']['seconds'])} of {_seconds(s['rto']['target_seconds'])}",
            "pass" if s["passed"] else "FAIL",
            s["error"] or s["note"],
        )
        for host in report["hosts"]
        for s in host["sets"]
    ]
    lines += markdown_table(("set", "host", "snapshot", "RPO (age)", "RTO (to verified)", "result", "detail"), rows)
    lines += ["", "## Steps", ""]
    steps = [
        (host["host"], step["name"], _seconds(step["seconds"]), "pass" if step["ok"] else "FAIL", step["detail"])
        for host in report["hosts"]
        for step in host["steps"]
    ]
    lines += markdown_table(("host", "step", "time", "result", "detail"), steps)
    if report["failures"]:
        lines += ["", "## What failed and what to do", ""]
        lines += [
            f"- {' '.join(filter(None, (f['host'], f['set'])))}: {f['message']} (runbook: {f['runbook'] or '-'})"
            for f in report["failures"]
        ]
    return "\n".join(lines) + "\n"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def summary(report: dict[str, Any], path: str) -> dict[str, Any]:
    """Given a report and where it is kept, return the record of the last rehearsal the readers show."""
    return {
        "time": report["finished"],
        "result": report["result"],
        "machines": report["machines"],
        "verified_seconds": report["verified_seconds"],
        "recovery_target_seconds": report["recovery_target_seconds"],
        "sets": {
            f"{s['set']}/{host['host']}": {
                "snapshot": s["snapshot"].get("short_id"),
                "rto_seconds": s["rto"]["seconds"],
                "rpo_seconds": s["rpo"]["seconds"],
                "passed": s["passed"],
            }
            for host in report["hosts"]
            for s in host["sets"]
        },
        "failures": [f["message"] for f in report["failures"]],
        "report": path,
    }


def rehearsal_metrics(env_name: str, record: dict[str, Any], interval: dt.timedelta) -> str:
    """Given the record of the last rehearsal (empty: none yet) and the model's interval, return the metrics
    (``seawall_dr_rehearsal_*``): the alert fires on a failed one, and on one older than the interval (or
    none: its timestamp is 0)."""
    labels = {"environment": env_name}
    finished = _timestamp(record.get("time"))
    series: list[tuple[dict[str, str], dict[str, float | None]]] = [
        (
            labels,
            {
                "success": 1 if record.get("result") == "passed" else 0,
                "last_run_timestamp_seconds": finished,
                "interval_seconds": interval.total_seconds(),
                "verified_seconds": record.get("verified_seconds"),
                "recovery_target_seconds": record.get("recovery_target_seconds"),
            },
        )
    ]
    for key, entry in sorted((record.get("sets") or {}).items()):
        set_name, _, host = key.partition("/")
        series.append(
            (
                {**labels, "set": set_name, "backup_host": host},
                {
                    "set_verified_seconds": entry.get("rto_seconds"),
                    "set_rpo_seconds": entry.get("rpo_seconds"),
                    "set_success": 1 if entry.get("passed") else 0,
                },
            )
        )
    return render_series("seawall_dr_rehearsal", series, HELP)


def _timestamp(text: Any) -> float:
    if not isinstance(text, str) or not text:
        return 0.0
    try:
        return dt.datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0


def report_name(report: dict[str, Any]) -> str:
    """Given a report, return its file name's stem (``20261207T221011Z-dr-mainnet``)."""
    moment = dt.datetime.fromisoformat(report["started"]).astimezone(dt.UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-dr-{report['environment']}"


def report_text(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=True) + "\n"


def report_paths(folder: Path, report: dict[str, Any]) -> tuple[Path, Path]:
    """Given the reports folder and a report, return where its JSON and Markdown go."""
    base = folder / report_name(report)
    return base.with_suffix(".json"), base.with_suffix(".md")


def record_rehearsal(store: StateStore, reports_dir: Path, metrics_dir: Path | None, report: dict[str, Any],
                     interval: dt.timedelta) -> Path:  # fmt: skip
    """Given the state store, the reports folder, the textfile folder (None: this machine has none) and a
    report, write the report (JSON and Markdown, locally and to the bucket), the record of the last
    rehearsal and its metrics; return the JSON report's path."""
    json_path, markdown_path = report_paths(reports_dir, report)
    text = report_text(report)
    write_atomically(json_path, text)
    write_atomically(markdown_path, report_markdown(report))
    if store.bucket is not None:
        store.bucket.put(store.bucket.key("reports", f"{report_name(report)}.json"), text)
    record = summary(report, str(json_path))
    store.write(record, *RECORD)
    if metrics_dir is not None and metrics_dir.is_dir():
        write_metrics(metrics_dir, f"seawall_dr_rehearsal_{report['environment']}",
                      rehearsal_metrics(report["environment"], record, interval))  # fmt: skip
    return json_path


def last_rehearsal(store: StateStore) -> tuple[dict[str, Any], str | None]:
    """Given the state store, return the record of the last rehearsal (this machine's, else the bucket's copy;
    empty when there was none) and what is wrong with it when it cannot be trusted."""
    return store.read_shared(records.REHEARSAL, records.REHEARSAL_TIMES, *RECORD)


def rehearsal_status(record: dict[str, Any], problem: str | None, interval: dt.timedelta, now: dt.datetime,
                     env_name: str) -> dict[str, Any]:  # fmt: skip
    """Given the record of the last rehearsal (and why it is not trusted), the model's interval and now, return
    what the readers show: ``ok``, ``failed``, ``overdue`` (older than the interval), ``never`` or ``untrusted``,
    when, and one line that says it (with the command to run when one is due)."""
    run = f"seawall dr rehearse {env_name}"
    if problem is not None:
        return {"status": "untrusted", "time": None, "detail": f"the last rehearsal's record is not trusted: {problem}"}
    if not record:
        return {"status": "never", "time": None, "detail": f"no DR rehearsal yet: run `{run}`"}
    age = now - dt.datetime.fromisoformat(record["time"])
    verified = record.get("verified_seconds")
    took = "" if verified is None else f", every set verified after {verified:.0f}s"
    target = record.get("recovery_target_seconds")
    took += "" if verified is None or target is None else f" of {target:.0f}s"
    if record["result"] != "passed":
        failures = "; ".join(record.get("failures") or []) or record["result"]
        return {
            "status": "failed",
            "time": record["time"],
            "detail": f"{record['result']} ({failures}): see {record.get('report')}",
        }
    if age > interval:
        days = age.days
        return {
            "status": "overdue",
            "time": record["time"],
            "detail": f"passed {days} days ago{took}, longer than the interval: run `{run}`",
        }
    return {"status": "ok", "time": record["time"], "detail": f"passed{took}"}


def write_rehearsal_metrics(store: StateStore, metrics_dir: Path, env_name: str, interval: dt.timedelta) -> None:
    """Given the state store (the bucket's copy: the status host reads what a deploying machine recorded), write
    the last rehearsal's metrics for node_exporter (a rehearsal never run: its timestamp 0, so it is overdue)."""
    record, problem = last_rehearsal(store)
    text = rehearsal_metrics(env_name, {} if problem else record, interval)
    write_metrics(metrics_dir, f"seawall_dr_rehearsal_{env_name}", text)
