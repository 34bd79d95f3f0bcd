"""Drill reports (JSON with a stable schema, and Markdown), metrics and the remembered last result."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seawall.backup.context import PRIMARY
from seawall.backup.decisions import drill_state_changes
from seawall.backup.metrics import render_metrics, write_metrics
from seawall.files import write_atomically
from seawall.markdown import markdown_table

if TYPE_CHECKING:
    from seawall.backup.context import BackupContext
    from seawall.backup.drill import DrillResult

SCHEMA = "seawall.drill/1"
HELP = {
    "success": "1 when the last drill passed every step and target, 0 otherwise",
    "rto_seconds": "Restore plus verification time of the last drill",
    "rpo_seconds": "Age of the newest snapshot when the last drill ran",
    "coverage_ratio": "Share of the repository's packs read by check slices in the current cycle",
    "check_success": "1 when the last drill's check slice found the repository sound, 0 otherwise",
    "last_run_timestamp_seconds": "When the last drill ended",
}


def report_json(result: DrillResult) -> dict[str, Any]:
    """Given a drill result, return the report in schema ``seawall.drill/1`` (docs/drills.md)."""
    sample = result.sample
    check = result.check
    return {
        "schema": SCHEMA,
        "environment": result.environment,
        "set": result.set_name,
        "host": result.host,
        "repository": result.repository,
        "started": result.started,
        "finished": result.finished,
        "result": "passed" if result.passed else "failed",
        "failures": list(result.failures),
        "snapshot": result.snapshot,
        "check": dataclasses.asdict(check) if check else None,
        "restore": result.restore,
        "sample": (
            {
                "directory": sample.directory,
                "files": sample.files,
                "bytes": sample.bytes,
                "mismatches": sample.mismatches,
                "missing": sample.missing,
                "ok": sample.ok,
            }
            if sample
            else None
        ),
        "floors": result.floors,
        "checks": result.checks,
        "rto": result.rto,
        "rpo": result.rpo,
        # Only on standard output, when the report could not be written where it belongs.
        **({"unrecorded": result.unrecorded} if result.unrecorded else {}),
    }


def report_markdown(report: dict[str, Any]) -> str:
    """Given a JSON report, return it as Markdown for people and issues."""
    check = report["check"] or {}
    lines = [
        f"# Restore drill: {report['set']} on {report['host']} ({report['environment']})",
        "",
        f"**Result: {report['result'].upper()}** — {report['started']} to {report['finished']}",
        "",
    ]
    rows: list[tuple[str, str, str]] = [
        (
            "snapshot",
            report["snapshot"].get("short_id", "-"),
            f"{report['snapshot'].get('time', '-')} ({report['snapshot'].get('pick', '-')})",
        ),
        (
            f"check slice {check.get('slice', '-')}",
            _ok(check.get("ok")),
            f"coverage {check.get('coverage', 0):.0%} {check.get('detail', '')}",
        ),
        (
            "restore --verify",
            _ok(report["restore"].get("ok")),
            f"{report['restore'].get('seconds', 0):.1f}s {report['restore'].get('detail', '')}",
        ),
    ]
    if report["sample"]:
        sample = report["sample"]
        rows.append(("sampled hashes", _ok(sample["ok"]), f"{sample['files']} files in {sample['directory']}"))
    if report["floors"]:
        floors = report["floors"]
        rows.append(("size floor", _ok(floors["ok"]), f"{floors['files']} files, {floors['bytes']} bytes"))
    rows += [(f"check `{c['command']}`", _ok(c["ok"]), c["detail"]) for c in report["checks"]]
    for name in ("rto", "rpo"):
        value = report[name]
        if value:
            seconds = "unmeasured" if value["seconds"] is None else f"{value['seconds']:.1f}s"
            rows.append((name.upper(), _ok(value["ok"]), f"{seconds} of {value['target_seconds']:.0f}s"))
    lines += markdown_table(("step", "result", "detail"), rows)
    if report["failures"]:
        lines += ["", "## Failures", "", *(f"- {failure}" for failure in report["failures"])]
    return "\n".join(lines) + "\n"


def _ok(value: Any) -> str:
    return "pass" if value else "FAIL"


def record_drill(context: BackupContext, result: DrillResult) -> Path:
    """Given a drill result, write its reports (locally and to the bucket), metrics and state; return the
    JSON report's path. A passed drill records the snapshot it verified in the state, where retention
    finds it: the mark never changes a snapshot's id (a restic tag would)."""
    report = report_json(result)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"{stamp}-{result.set_name}-{result.host}"
    base = context.reports_dir / name
    text = json.dumps(report, indent=2, sort_keys=True) + "\n"
    write_atomically(base.with_suffix(".json"), text)
    write_atomically(base.with_suffix(".md"), report_markdown(report))
    write_atomically(context.reports_dir / f"latest-{result.set_name}-{result.host}.json", text)
    if context.store.bucket is not None:
        context.store.bucket.put(context.store.bucket.key("reports", f"{name}.json"), text)
    _drill_metrics(context, result.set_name, result.host, result)
    context.store.update(drill_state_changes(report, str(base.with_suffix(".json"))), result.set_name, result.host)
    return base.with_suffix(".json")


def record_interrupted_drill(context: BackupContext, set_name: str, host: str, reason: str) -> None:
    """Given a drill stopped by a signal, record it as interrupted: state and metrics with ``success 0``."""
    _drill_metrics(context, set_name, host, None)
    finished = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    context.store.update({"last_drill": {"time": finished, "result": "interrupted", "detail": reason}}, set_name, host)


def _drill_metrics(context: BackupContext, set_name: str, host: str, result: DrillResult | None) -> None:
    values: dict[str, float | None] = {
        "success": 1 if result is not None and result.passed else 0,
        "rto_seconds": result.rto.get("seconds") if result is not None else None,
        "rpo_seconds": result.rpo.get("seconds") if result is not None else None,
        "coverage_ratio": result.check.coverage if result is not None and result.check else None,
        "check_success": (1 if result.check.ok else 0) if result is not None and result.check else None,
        "last_run_timestamp_seconds": dt.datetime.now(dt.UTC).timestamp(),
    }
    labels = {"environment": context.env.name, "host": host, "set": set_name}
    # A drill of the off-site copy is a series (and a file) of its own, beside the primary's.
    labels |= {"repository": context.source} if context.source != PRIMARY else {}
    text = render_metrics("seawall_drill", labels, values, HELP)
    name = "_".join(("seawall_drill", *context.scope.split("/"), host, set_name))
    write_metrics(context.metrics_dir, name, text)
