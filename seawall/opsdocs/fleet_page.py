"""The fleet page (``seawall report``): one self-contained HTML file of backups, drills, each host's drift,
parity and deploy readiness, and the same data as JSON.

``fleet_data`` turns what was gathered (the model, what hosts recorded, their drift checks against the
deployed graph, the drill reports, the ledger, the guard's verdicts and the parity chain) into plain
JSON-able data, the same for the same inputs and time. ``render_page`` draws the page from that data alone
with ``templates/fleet.html.j2``: inline CSS, inline SVG charts drawn by pygal (no script, no font or image
fetched), so the page and the JSON never disagree and the file works offline, attached to an issue or kept
as a CI artifact.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pygal
from pygal.style import Style

from seawall.backup.actions.copy import copy_row
from seawall.backup.state import RUN_SUCCEEDED
from seawall.dr.report import rehearsal_status
from seawall.guard import Verdict, in_freeze, minute_of_week
from seawall.ledger import LedgerEntry
from seawall.model.schema import Environment
from seawall.opsdocs import facts
from seawall.opsdocs.facts import bounded
from seawall.opsdocs.measured import Measured
from seawall.parity import ParityReport
from seawall.sizes import size_table
from seawall.templating import duration, template_environment

SCHEMA = "seawall.fleet/1"
# Rules that depend on who deploys and why, not on the environment: shown, not part of readiness.
PER_DEPLOY_RULES = ("authorized-operator", "issue-reference")
RECENT_DEPLOYS = 5
TREND_POINTS = 20
OK, WARNING, ALARM = "ok", "warning", "alarm"
# Refusals already named as their own reason (the freeze with its end, parity violations as an alarm).
QUIET_RULES = ("freeze-window", "parity")


@dataclass
class EnvironmentInputs:
    """What was gathered for one environment."""

    env: Environment
    measured: Measured
    drills: list[dict[str, Any]] = field(default_factory=list)
    ledger: list[tuple[LedgerEntry, str]] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)


def fleet_data(inputs: Sequence[EnvironmentInputs], chain: Sequence[ParityReport], now: dt.datetime) -> dict[str, Any]:
    """Given what was gathered and the time, return the page's data (schema ``seawall.fleet/1``)."""
    links = [_link(report) for report in chain]
    environments = [_environment(item, links, now) for item in inputs]
    return {
        "schema": SCHEMA,
        "generated": now.astimezone(dt.UTC).isoformat(timespec="seconds"),
        "environments": environments,
        "parity": {"chain": _chain_names(chain), "links": links},
        "sizes_as_of": size_table().as_of,
    }


def _chain_names(chain: Sequence[ParityReport]) -> list[str]:
    return [chain[0].a, *(report.b for report in chain)] if chain else []


def _link(report: ParityReport) -> dict[str, Any]:
    summary = report.summary()
    return {
        "from": report.a,
        "to": report.b,
        "allowed": summary["allowed"],
        "violations": [
            {"resource": d.resource, "path": d.path, "kind": d.kind, "a": _text(d.a), "b": _text(d.b)}
            for d in report.violations
        ],
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _environment(item: EnvironmentInputs, links: list[dict[str, Any]], now: dt.datetime) -> dict[str, Any]:
    env = item.env
    backups = _backups(item, now)
    copies = _copies(item, now)
    drift = facts.drift_view(env, item.measured.drift, now)
    readiness = _readiness(env, item.verdicts, now)
    violations = sum(len(link["violations"]) for link in links if link["to"] == env.name)
    status, reasons = _status(backups, readiness, violations, copies, drift["hosts"])
    totals = facts.totals(env, size_table())
    return {
        "name": env.name,
        "tier": env.environment.tier,
        "status": status,
        "reasons": reasons,
        "backups": backups,
        "copies": copies,
        "drift": drift,
        "dr_rehearsal": rehearsal_status(
            item.measured.rehearsal, item.measured.rehearsal_problem, env.dr.rehearsal_interval, now, env.name
        ),
        "trends": _trends(item),
        "coverage": _coverage(item),
        "readiness": readiness,
        "deploys": [_deploy(entry, outcome) for entry, outcome in item.ledger[-RECENT_DEPLOYS:]][::-1],
        "running": running_images(item.ledger),
        "inventory": {
            "droplets": totals["droplets"],
            "datacenter_hosts": totals["datacenter_hosts"],
            "vcpus": totals["vcpus"],
            "memory_gib": totals["memory_gib"],
            "storage_gb": totals["storage_gb"],
            "monthly_cost": round(totals["cost"], 2),
            "complete": totals["complete"],
            # Managed database clusters (#31): the cloud keeps their data, so the page says what it keeps.
            "databases": [
                {"name": row["label"], "engine": row["engine"], "nodes": row["nodes"], "pitr": row["pitr"]}
                for row in facts.database_rows(env)
            ],
        },
    }


def _backups(item: EnvironmentInputs, now: dt.datetime) -> list[dict[str, Any]]:
    env, rows = item.env, []
    for set_name in sorted(env.backup_sets):
        backup_set = env.backup_sets[set_name]
        for host in env.hosts_of_set(set_name):
            state = item.measured.states.get((set_name, host), {})
            snapshot, run = state.get("last_snapshot", {}), state.get("last_run", {})
            drill = state.get("last_drill", {})
            age = (now - dt.datetime.fromisoformat(snapshot["time"])).total_seconds() if snapshot.get("time") else None
            sizes = list(state.get("sizes", {}).values())
            row = {
                "set": set_name,
                "host": host,
                "age_seconds": None if age is None else max(0.0, round(age)),
                "rpo_seconds": backup_set.rpo.total_seconds(),
                "last_run": _word(run.get("result")),
                "size_bytes": snapshot.get("bytes") or (sizes[-1] if sizes else None),
                "growth_bytes": sizes[-1] - sizes[-2] if len(sizes) > 1 else None,
                "last_drill": _word(drill.get("result")),
                "last_drill_time": drill.get("time"),
                "rto_seconds": drill.get("rto_seconds"),
                "rto_target_seconds": backup_set.rto.total_seconds(),
                "confirmed": item.measured.confirmed.get((set_name, host), {}).get("time"),
            }
            row["status"], row["problem"] = _backup_status(row)
            untrusted = item.measured.untrusted.get((set_name, host))
            if untrusted is not None:
                row["status"], row["problem"] = ALARM, f"untrusted state: {bounded(untrusted)}"
            rows.append(row)
    return rows


def _copies(item: EnvironmentInputs, now: dt.datetime) -> list[dict[str, Any]]:
    """Each set's off-site copy as the vault recorded it (none where the environment has no copy)."""
    if item.env.backup.copy_ is None:
        return []
    rows = []
    for set_name in sorted(item.env.backup_sets):
        record, problem = item.measured.copies.get(set_name, ({}, None))
        row = copy_row(item.env, set_name, record, problem, now).as_json()
        row["detail"] = bounded(row["detail"])
        row["protection"] = [bounded(text) for text in row["protection"]]
        rows.append(row)
    return rows


def _word(value: Any) -> str | None:
    """A result word from recorded state, bounded (a key holder can write any text there)."""
    return None if value is None else bounded(str(value), 40)


def _backup_status(row: dict[str, Any]) -> tuple[str, str]:
    if row["age_seconds"] is None:
        return ALARM, "no backup recorded"
    if row["last_run"] not in (None, RUN_SUCCEEDED):
        return ALARM, f"last run {row['last_run']}"
    if row["age_seconds"] > row["rpo_seconds"]:
        age, rpo = duration(row["age_seconds"]), duration(row["rpo_seconds"])
        return ALARM, f"RPO missed: newest backup {age} old, RPO {rpo}"
    if row["last_drill"] not in (None, "passed"):
        return ALARM, f"last drill {row['last_drill']}"
    if row["last_drill"] is None:
        return WARNING, "never drilled"
    if row["rto_seconds"] is not None and row["rto_seconds"] > row["rto_target_seconds"]:
        measured, target = duration(row["rto_seconds"]), duration(row["rto_target_seconds"])
        return WARNING, f"RTO {measured} above target {target}"
    return OK, ""


def _trends(item: EnvironmentInputs) -> list[dict[str, Any]]:
    series: dict[tuple[str, str], dict[str, Any]] = {}
    for report in sorted(item.drills, key=lambda r: str(r.get("finished", ""))):
        key = (str(report.get("set")), str(report.get("host")))
        seconds = (report.get("rto") or {}).get("seconds")
        if seconds is not None:
            series.setdefault(key, {"rto": [], "sizes": []})["rto"].append([report.get("finished"), seconds])
    for (set_name, host), state in item.measured.states.items():
        sizes = list(state.get("sizes", {}).values())
        if sizes:
            series.setdefault((set_name, host), {"rto": [], "sizes": []})["sizes"] = sizes[-TREND_POINTS:]
    return [
        {"set": set_name, "host": host, "rto": values["rto"][-TREND_POINTS:], "sizes": values["sizes"]}
        for (set_name, host), values in sorted(series.items())
    ]


def _coverage(item: EnvironmentInputs) -> list[dict[str, Any]]:
    """Which check slices of each repository the drills read, and when each was read last."""
    repositories: dict[str, dict[str, Any]] = {}
    for report in sorted(item.drills, key=lambda r: str(r.get("finished", ""))):
        check = report.get("check") or {}
        slice_text = str(check.get("slice") or "")
        if "/" not in slice_text:
            continue
        index, total = (int(part) for part in slice_text.split("/", 1))
        entry = repositories.setdefault(str(report.get("set")), {"set": report.get("set"), "slices": total, "read": {}})
        entry["slices"] = total
        entry["read"][str(index)] = report.get("finished")
    return [
        {
            "set": entry["set"],
            "slices": entry["slices"],
            "read": [{"slice": k, "time": entry["read"].get(str(k))} for k in range(1, entry["slices"] + 1)],
        }
        for _, entry in sorted(repositories.items())
    ]


def _readiness(env: Environment, verdicts: list[Verdict], now: dt.datetime) -> dict[str, Any]:
    rules = [
        {
            "rule": v.rule,
            "allowed": v.allowed,
            "reason": v.reason,
            "how": v.how,
            "per_deploy": v.rule in PER_DEPLOY_RULES,
        }
        for v in verdicts
    ]
    blocking = [rule for rule in rules if not rule["allowed"] and not rule["per_deploy"]]
    frozen = in_freeze(env, now)
    return {
        "ready": not blocking,
        "rules": rules,
        "frozen": frozen,
        "freeze_changes": _next_freeze_change(env, now),
    }


def _next_freeze_change(env: Environment, now: dt.datetime) -> str | None:
    """Given the time, return when the freeze window next opens (if frozen) or starts (None: no window)."""
    if env.name not in env.release.freeze.environments:
        return None
    zone = zoneinfo.ZoneInfo(env.release.timezone)
    local = now.astimezone(zone)
    target = minute_of_week(env.release.freeze.ends if in_freeze(env, now) else env.release.freeze.starts)
    current = local.weekday() * 1440 + local.hour * 60 + local.minute
    ahead = (target - current) % (7 * 1440) or 7 * 1440
    moment = (local.replace(second=0, microsecond=0) + dt.timedelta(minutes=ahead)).astimezone(zone)
    return moment.isoformat(timespec="minutes")


def running_images(ledger: Sequence[tuple[LedgerEntry, str]]) -> list[dict[str, Any]]:
    """Given the ledger with outcomes, return which digest each service with an artifact runs: the last deploy
    that succeeded, with its version, since when, and whether its health checks passed."""
    running: dict[str, dict[str, Any]] = {}
    for entry, outcome in ledger:
        if outcome != "succeeded":
            continue
        for service, digest in entry.digests.items():
            if running.get(service, {}).get("digest") != digest:
                running[service] = {"service": service, "version": entry.versions.get(service, ""), "since": entry.time}
            running[service].update(digest=digest, healthy=service in entry.healthy)
    return [running[name] for name in sorted(running)]


def _deploy(entry: LedgerEntry, outcome: str) -> dict[str, Any]:
    return {
        "time": entry.time,
        "operator": entry.operator,
        "issue": entry.issue,
        "result": outcome,
        "emergency": entry.emergency,
        "incident": entry.incident,
        "priority": entry.priority,
    }


def _status(
    backups: list[dict[str, Any]],
    readiness: dict[str, Any],
    violations: int,
    copies: Sequence[dict[str, Any]] = (),
    drift: Sequence[dict[str, Any]] = (),
) -> tuple[str, list[str]]:
    alarms = [f"{row['set']} on {row['host']}: {row['problem']}" for row in backups if row["status"] == ALARM]
    alarms += [
        f"off-site copy of {row['set_name']}: {row['status']}: {row['detail']}" for row in copies if row["alarm"]
    ]
    alarms += [
        f"host {row['host']}: {row['status']}" + (f": {row['differs'][0]}" if row["differs"] else "")
        for row in drift
        if row["alarm"]
    ]
    warnings = [f"{row['set']} on {row['host']}: {row['problem']}" for row in backups if row["status"] == WARNING]
    if violations:
        alarms.append(f"{violations} parity violation(s) against its predecessor")
    if readiness["frozen"]:
        warnings.append(f"frozen until {readiness['freeze_changes']}")
    blocking = [r for r in readiness["rules"] if not r["allowed"] and not r["per_deploy"]]
    warnings += [f"not deployable: {r['rule']}: {r['reason']}" for r in blocking if r["rule"] not in QUIET_RULES]
    if alarms:
        return ALARM, alarms + warnings
    if warnings:
        return WARNING, warnings
    return OK, ["every backup fresh, every drill passed, in parity, deployable"]


# --- the page ---------------------------------------------------------------------------------------------

SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL | re.IGNORECASE)
CHART_STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#1f2933",
    foreground_strong="#1f2933",
    foreground_subtle="#7b8794",
    colors=("#2563eb", "#b45309"),
    font_family="system-ui, sans-serif",
)


def _chart(title: str, values: list[float], unit: str) -> str:
    """Given a series, return a small line chart as inline SVG (pygal, no script)."""
    chart = pygal.Line(
        width=320,
        height=140,
        style=CHART_STYLE,
        show_legend=False,
        show_dots=True,
        dots_size=2,
        js=[],
        disable_xml_declaration=True,
        explicit_size=True,
        title=title,
        title_font_size=11,
        show_x_labels=False,
        y_title=unit,
        margin=4,
    )
    chart.add(title, values)
    # pygal always embeds a script that only sets its tooltip config (js=[] loads none): the page has no
    # script at all, so it reads the same with JavaScript off.
    return SCRIPT.sub("", str(chart.render(is_unicode=True)))


def charts(data: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Given the page's data, return each trend's charts (``ENV/SET/HOST`` → {"rto", "sizes"})."""
    drawn: dict[str, dict[str, str]] = {}
    for env in data["environments"]:
        for trend in env["trends"]:
            key = f"{env['name']}/{trend['set']}/{trend['host']}"
            drawn[key] = {}
            if len(trend["rto"]) > 1:
                drawn[key]["rto"] = _chart(f"RTO of {trend['set']} (s)", [point[1] for point in trend["rto"]], "s")
            if len(trend["sizes"]) > 1:
                sizes = [round(value / 1024**2, 2) for value in trend["sizes"]]
                drawn[key]["sizes"] = _chart(f"size of {trend['set']} (MiB)", sizes, "MiB")
    return drawn


def render_page(data: dict[str, Any], project_templates: Path | None = None) -> str:
    """Given the page's data, return the self-contained HTML page."""
    templates = template_environment(project_templates, html=True)
    return templates.get_template("fleet.html.j2").render(data=data, charts=charts(data))


# --- gathering ------------------------------------------------------------------------------------------


def read_drill_reports(env: Environment, project_root: Path) -> list[dict[str, Any]]:
    """Given an environment, return its drill reports: this machine's and the bucket's copies (when its
    keys are set), one per drill. A report of the wrong shape or size, dated in the future, or of a set
    and host the environment does not have is named in the log and left out."""
    import json
    import logging

    from seawall.backup import records
    from seawall.backup.backends import shared_copy
    from seawall.files import resolve

    log = logging.getLogger(__name__)
    texts: dict[str, str] = {}
    folder = resolve(project_root, env.backup.reports_dir) / env.name
    if folder.is_dir():
        for path in folder.glob("2*.json"):
            if path.is_file() and path.stat().st_size <= records.MAX_DOCUMENT_BYTES:
                texts[path.name] = path.read_text(encoding="utf-8", errors="replace")
    bucket = shared_copy(env, project_root)
    if bucket is not None:
        texts.update({Path(key).name: text for key, text in bucket.read_all("reports").items()})
    pairs = {(name, host) for name in env.backup_sets for host in env.hosts_of_set(name)}
    now, reports = dt.datetime.now(dt.UTC), []
    for name, text in sorted(texts.items()):
        try:
            report = json.loads(text)
        except ValueError:
            log.warning("drill report %s is not JSON: left out", name)
            continue
        if not isinstance(report, dict) or report.get("schema") != "seawall.drill/1":
            continue
        tolerance = env.backup.clock_skew_tolerance
        problem = records.problem(report, records.DRILL_REPORT, now, tolerance, ("finished",))
        if problem is None and (report.get("set"), report.get("host")) not in pairs:
            problem = "its set and host are not one of this environment's"
        if problem is not None:
            log.warning("drill report %s is not trusted (%s): left out", name, bounded(problem))
            continue
        reports.append(report)
    return reports
