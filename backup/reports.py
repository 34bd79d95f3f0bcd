"""Drill reports (JSON with a stable schema, and Markdown), metrics and the remembered last result."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

from backup.metrics import render_metrics, write_metrics
from backup.plan import resolve
from backup.state import StateStore, write_atomically
from seawall.model.schema import Environment

SCHEMA = "seawall.drill/1"
HELP = {
    "success": "1 when the last drill passed every step and target, 0 otherwise",
    "rto_seconds": "Restore plus verification time of the last drill",
    "rpo_seconds": "Age of the newest snapshot when the last drill ran",
    "coverage_ratio": "Share of the repository's packs read by check slices in the current cycle",
    "last_run_timestamp_seconds": "When the last drill ended",
}


def report_json(result: Any) -> dict[str, Any]:
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
    }


def report_markdown(report: dict[str, Any]) -> str:
    """Given a JSON report, return it as Markdown for people and issues."""
    check = report["check"] or {}
    lines = [
        f"# Restore drill: {report['set']} on {report['host']} ({report['environment']})",
        "",
        f"**Result: {report['result'].upper()}** — {report['started']} to {report['finished']}",
        "",
        "| step | result | detail |",
        "| --- | --- | --- |",
        _row(
            "snapshot",
            report["snapshot"].get("short_id", "-"),
            f"{report['snapshot'].get('time', '-')} ({report['snapshot'].get('pick', '-')})",
        ),
        _row(
            f"check slice {check.get('slice', '-')}",
            _ok(check.get("ok")),
            f"coverage {check.get('coverage', 0):.0%} {check.get('detail', '')}",
        ),
        _row(
            "restore --verify",
            _ok(report["restore"].get("ok")),
            f"{report['restore'].get('seconds', 0):.1f}s {report['restore'].get('detail', '')}",
        ),
    ]
    if report["sample"]:
        sample = report["sample"]
        lines.append(f"| sampled hashes | {_ok(sample['ok'])} | {sample['files']} files in {sample['directory']} |")
    if report["floors"]:
        floors = report["floors"]
        lines.append(f"| size floor | {_ok(floors['ok'])} | {floors['files']} files, {floors['bytes']} bytes |")
    lines += [f"| check `{c['command']}` | {_ok(c['ok'])} | {c['detail']} |" for c in report["checks"]]
    for name in ("rto", "rpo"):
        value = report[name]
        if value:
            lines.append(
                f"| {name.upper()} | {_ok(value['ok'])} | {value['seconds']:.1f}s of {value['target_seconds']:.0f}s |"
            )
    if report["failures"]:
        lines += ["", "## Failures", "", *(f"- {failure}" for failure in report["failures"])]
    return "\n".join(lines) + "\n"


def _row(step: str, verdict: str, detail: str) -> str:
    return f"| {step} | {verdict} | {detail.strip()} |"


def _ok(value: Any) -> str:
    return "pass" if value else "FAIL"


def record_drill(env: Environment, project_root: Path, result: Any) -> Path:
    """Given a drill result, write its reports, metrics and state; return the JSON report's path."""
    report = report_json(result)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = resolve(project_root, env.backup.reports_dir) / env.name
    base = folder / f"{stamp}-{result.set_name}-{result.host}"
    write_atomically(base.with_suffix(".json"), json.dumps(report, indent=2, sort_keys=True) + "\n")
    write_atomically(base.with_suffix(".md"), report_markdown(report))
    write_atomically(
        folder / f"latest-{result.set_name}-{result.host}.json", json.dumps(report, indent=2, sort_keys=True) + "\n"
    )
    now = dt.datetime.now(dt.UTC).timestamp()
    text = render_metrics(
        "seawall_drill",
        {"environment": env.name, "host": result.host, "set": result.set_name},
        {
            "success": 1 if result.passed else 0,
            "rto_seconds": result.rto.get("seconds"),
            "rpo_seconds": result.rpo.get("seconds"),
            "coverage_ratio": result.check.coverage if result.check else None,
            "last_run_timestamp_seconds": now,
        },
        HELP,
    )
    write_metrics(
        resolve(project_root, env.backup.metrics_dir), f"seawall_drill_{env.name}_{result.host}_{result.set_name}", text
    )
    store = StateStore(resolve(project_root, env.backup.state_dir), env.name)
    store.update(
        {
            "last_drill": {
                "time": result.finished,
                "result": report["result"],
                "snapshot": result.snapshot.get("short_id"),
                "report": str(base.with_suffix(".json")),
            }
        },
        result.set_name,
        result.host,
    )
    return base.with_suffix(".json")
