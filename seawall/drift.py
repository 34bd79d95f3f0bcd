"""The fleet's drift, from the deploying machine: each host's last check against the deployed graph.

Pure: given what the last deploy placed (the manifests in ``ledger/ENV.deployed.json`` and the wheel it
shipped), each host's last ``seawall host verify`` result and the time, say per host what is wrong: files,
units, firewall or wheel that drifted (the host's own findings), a manifest that is not the deployed one (the
host missed a deploy), a wheel that is not the deployed build, a host that stopped reporting or never did, a
result that is not to be trusted. Hosts without the bucket's keys report by their metric alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from seawall.hostfiles import MANIFEST_FILE, MANIFEST_STEP, host_of_step, installed_files
from seawall.manifest import KINDS, Manifest, ManifestError, parse_manifest

# What `seawall drift` says of a host, worst first; all but "ok" and "metric-only" fail the command.
STATUSES = ("untrusted", "silent", "never-reported", "missed-deploy", "other-build", "drift", "metric-only", "ok")
FAILING = frozenset(STATUSES) - {"ok", "metric-only"}


@dataclass
class HostDrift:
    """One host's drift: its status, when it last checked, what differs (the host's own findings) and why."""

    host: str
    status: str
    checked: str | None = None
    findings: list[dict[str, str]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """Return the host's drift as JSON-ready data."""
        return {
            "host": self.host,
            "status": self.status,
            "checked": self.checked,
            "findings": self.findings,
            "reasons": self.reasons,
        }


@dataclass(frozen=True)
class Deployed:
    """What the last deploy placed, from its graph: each host's manifest, the wheel it shipped (None: the
    graph does not name it) and the hosts without the bucket's keys (they report by their metric alone)."""

    manifests: dict[str, Manifest]
    wheel: str | None = None
    metric_only: frozenset[str] = frozenset()


def deployed(graph: Mapping[str, Any]) -> Deployed:
    """Given a deployed graph's JSON (``ledger/ENV.deployed.json``), return what its deploy placed."""
    manifests = deployed_manifests(graph)
    names = {str(item.get("name")) for item in graph.get("resources", [])}
    metric_only = frozenset(host for host in manifests if f"{host}-s3-credentials" not in names)
    shipped = graph.get("shipped")
    wheel = shipped.get("wheel_sha256") if isinstance(shipped, dict) else None
    return Deployed(manifests, str(wheel) if wheel else None, metric_only)


@dataclass(frozen=True)
class FleetDrift:
    """One environment's drift as the deploying machine can know it: where the deployed graph was looked for,
    why it cannot be compared with (None: it can), what it placed, and each host's last result."""

    graph: str
    problem: str | None = None
    placed: Deployed | None = None
    results: Mapping[str, tuple[Mapping[str, Any], str | None]] = field(default_factory=dict)

    def judge(self, now: dt.datetime, stale_after: dt.timedelta) -> list[HostDrift]:
        """Given the time and how old a result may be, return every deployed host's drift (none without a graph)."""
        if self.placed is None:
            return []
        placed = self.placed
        return judge(placed.manifests, self.results, now, stale_after, placed.wheel, placed.metric_only)

    def newest(self) -> str | None:
        """Return the newest check time among the hosts' results (None: no host reported)."""
        stamps = [str(document["checked"]) for document, _ in self.results.values() if document]
        return max(stamps, key=dt.datetime.fromisoformat, default=None)


def deployed_manifests(graph: Mapping[str, Any]) -> dict[str, Manifest]:
    """Given a rendered graph's JSON (``seawall preview --format json``, ``ledger/ENV.deployed.json``), return
    each host's manifest from its manifest step, by host; a step whose manifest does not parse is left out."""
    found = {}
    for item in graph.get("resources", []):
        host = host_of_step(str(item.get("name", "")), MANIFEST_STEP)
        if host is None or not str(item.get("type", "")).startswith("command:remote:"):
            continue
        text = installed_files(str(item.get("inputs", {}).get("create", ""))).get(MANIFEST_FILE)
        if text is None:
            continue
        try:
            found[host] = parse_manifest(text + "\n")
        except ManifestError:
            continue
    return found


def judge(
    expected: Mapping[str, Manifest],
    results: Mapping[str, tuple[Mapping[str, Any], str | None]],
    now: dt.datetime,
    stale_after: dt.timedelta,
    wheel: str | None = None,
    metric_only: frozenset[str] = frozenset(),
) -> list[HostDrift]:
    """Given the deployed manifests, each host's last result (and what made it untrusted), the time, how old a
    result may be, the deployed wheel's sha256 (None: not known) and the hosts without the bucket's keys,
    return every host's drift, by host."""
    report = []
    for host in sorted(expected):
        document, untrusted = results.get(host, ({}, None))
        report.append(_judge_host(host, expected[host], document, untrusted, now, stale_after, wheel, metric_only))
    return report


def _judge_host(
    host: str,
    manifest: Manifest,
    document: Mapping[str, Any],
    untrusted: str | None,
    now: dt.datetime,
    stale_after: dt.timedelta,
    wheel: str | None,
    metric_only: frozenset[str],
) -> HostDrift:
    if untrusted is not None:
        return HostDrift(host, "untrusted", reasons=[f"its last result is not used: {untrusted}"])
    if not document:
        if host in metric_only:
            why = "no bucket key on this host: its drift is in its metric seawall_host_drift (and the alert)"
            return HostDrift(host, "metric-only", reasons=[why])
        return HostDrift(host, "never-reported", reasons=["no drift check of this host has reported"])
    checked = str(document["checked"])
    entry = HostDrift(host, "ok", checked)
    entry.findings = [dict(item) for item in document.get("drift", [])]
    entry.findings.sort(key=lambda item: (KINDS.index(item["kind"]) if item["kind"] in KINDS else 99, item["subject"]))
    statuses = []
    age = now - dt.datetime.fromisoformat(checked)
    if age > stale_after:
        statuses.append("silent")
        entry.reasons.append(f"its last check is {_hours(age)} old (more than drift.stale_after)")
    if document.get("manifest") not in (None, manifest.digest):
        statuses.append("missed-deploy")
        entry.reasons.append(
            f"it holds manifest {str(document['manifest'])[:12]}, the last deploy placed {manifest.digest[:12]}"
        )
    if wheel is not None and document.get("wheel") not in (None, wheel):
        statuses.append("other-build")
        entry.reasons.append(f"it runs wheel {str(document['wheel'])[:16]}, the last deploy shipped {wheel[:16]}")
    if entry.findings:
        statuses.append("drift")
    entry.status = min(statuses, key=STATUSES.index) if statuses else "ok"
    return entry


def _hours(age: dt.timedelta) -> str:
    hours = age.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def describe(entry: HostDrift) -> list[str]:
    """Given a host's drift, return what differs, one line each: why its status, then each finding."""
    found = [
        f"{item['kind']} {item['subject']}: {item.get('expected', '')} → {item.get('found', '')}"
        for item in entry.findings
    ]
    return [*entry.reasons, *found]


def failing(report: list[HostDrift]) -> bool:
    """Return whether any host drifted, missed a deploy, runs another build, or is not heard from."""
    return any(entry.status in FAILING for entry in report)
