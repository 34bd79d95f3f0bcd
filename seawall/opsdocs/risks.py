"""The risk assessment: findings computed from the model and the recorded state, each with a severity
(Critical / Major / Minor), its evidence and a mitigation.

Model rules see one environment; measured rules also see what its hosts recorded. Every rule is a
function in ``MODEL_RULES`` or ``MEASURED_RULES``; a finding in a protected tier (production) is one
step more severe where the rule says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from seawall.backup.backends import offsite_backend, set_backend
from seawall.model.schema import Environment
from seawall.model.types import Severity
from seawall.opsdocs.facts import backup_set_rows
from seawall.opsdocs.measured import Measured
from seawall.templating import duration

SEVERITY_ORDER = {"Critical": 0, "Major": 1, "Minor": 2}
# A drill may start this much after its schedule's longest gap before it counts as overdue.
DRILL_GRACE = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Risk:
    """One risk: where, how bad, what shows it, and what to do."""

    rule: str
    severity: Severity
    environment: str
    subject: str
    title: str
    evidence: str
    mitigation: str
    measured: bool = False

    @property
    def order(self) -> tuple[int, str, str, str]:
        """Return the key risks are listed by: severity, environment, rule, subject."""
        return (SEVERITY_ORDER[self.severity], self.environment, self.rule, self.subject)


ModelRule = Callable[[Environment], Iterator[Risk]]
MeasuredRule = Callable[[Environment, Measured], Iterator[Risk]]


def _protected(env: Environment) -> bool:
    return env.environment.tier in env.release.protected_tiers


def _worse_in_production(env: Environment, severity: Severity) -> Severity:
    if not _protected(env):
        return severity
    return "Critical" if severity in ("Critical", "Major") else "Major"


def single_stateful_droplet(env: Environment) -> Iterator[Risk]:
    """A service that keeps data on one droplet: losing it is an outage until a rebuild and a restore."""
    for name, service in sorted(env.services.items()):
        if service.is_stateful and service.count == 1:
            sets = ", ".join(f"{s} (RTO {duration(env.backup_sets[s].rto)})" for s in service.backup_sets) or "none"
            yield Risk(
                "single-stateful-droplet",
                _worse_in_production(env, "Major"),
                env.name,
                name,
                f"{name} keeps its data on a single droplet",
                f"count 1, {'volume ' + str(service.volume.size_gb) + ' GB' if service.volume else 'stateful'}; "
                f"recovery is a rebuild plus a restore of: {sets}",
                "run a replica (count 2 with the service's own replication), or accept the outage and keep the "
                "restore drilled within its RTO",
            )


def _copied_elsewhere(env: Environment) -> bool:
    """Whether the environment's off-site copy is outside the workload's region (a copy in a folder of the
    machine, or in the workload's own region, is not)."""
    copy = offsite_backend(env, Path("."))
    return copy is not None and copy.storage_region not in (None, env.environment.region)


def backups_beside_workload(env: Environment) -> Iterator[Risk]:
    """Repositories in the same region as the workload (or on the same machine), with no copy elsewhere."""
    if _copied_elsewhere(env):
        return
    seen: dict[str, list[str]] = {}
    for name in sorted(env.backup_sets):
        region = set_backend(env, name, Path(".")).storage_region
        if region is None:
            where = "a folder on the backed-up machine"
        elif region != env.environment.region:
            continue
        else:
            where = f"Spaces in {region}, the workload's region"
        seen.setdefault(where, []).append(name)
    for where, sets in seen.items():
        yield Risk(
            "backups-beside-workload",
            _worse_in_production(env, "Major"),
            env.name,
            ", ".join(sets),
            "backups live beside the data they protect, with no copy elsewhere",
            f"{len(sets)} set(s) in {where}: losing the region (or the machine) loses the data and its backups",
            "copy the repositories to a second region or provider (restic copy to a bucket elsewhere) and drill "
            "restores from the copy",
        )


def no_offsite_copy(env: Environment) -> Iterator[Risk]:
    """Sets with no off-site copy: their one repository is writable by every backup host of the set."""
    sets = [name for name in sorted(env.backup_sets) if env.hosts_of_set(name)]
    if env.backup.copy_ is not None or not sets:
        return
    yield Risk(
        "no-offsite-copy",
        _worse_in_production(env, "Major"),
        env.name,
        ", ".join(sets),
        "no off-site copy: a stolen backup-host key can delete these backups",
        f"backup.copy is not set: each of the {len(sets)} set(s) has one repository, whose every snapshot any host "
        "of the set can forget and prune (with the set's password and the key it backs up with), and a lost region, "
        "bucket or machine loses them all: no second copy remains to restore from",
        "declare backup.copy (docs/environment-model.md): the vault copies every set into another region's bucket "
        "or the data center's object storage with a key and password no backup host holds, and alarms when "
        "snapshots vanish from the primary",
    )


def unprotected_volume(env: Environment) -> Iterator[Risk]:
    """A volume that no backup set holds: neither a path inside its mount nor a set named in protected_by."""
    for name, service in sorted(env.services.items()):
        volume = service.volume
        if volume is None or volume.protected_by:
            continue
        mount = PurePosixPath(volume.mount)
        inside = [
            s
            for s in service.backup_sets
            for path in env.backup_sets[s].paths
            if PurePosixPath(path).is_relative_to(mount)
        ]
        if inside:
            continue
        yield Risk(
            "unprotected-volume",
            _worse_in_production(env, "Major"),
            env.name,
            name,
            f"the volume of {name} is backed up by no set",
            f"{volume.size_gb} GB at {volume.mount}; the service's sets ({', '.join(service.backup_sets) or 'none'}) "
            "hold no path inside it and none is named in volume.protected_by",
            "add a backup set with a path inside the mount (or a hook that dumps it, and name that set in "
            "protected_by), or accept losing it with the droplet (caches, metrics history)",
        )


def ssh_beyond_admin(env: Environment) -> Iterator[Risk]:
    """SSH open to anything but the admin ranges."""
    openings = [
        (name, port.port, port.source)
        for name, service in env.services.items()
        for port in service.ports
        if port.port == 22 and port.protocol == "tcp"
    ]
    openings += [
        (name, port.port, port.source)
        for name, host in env.datacenter_hosts.items()
        for port in host.firewall
        if port.port == host.ssh_port and port.protocol == "tcp"
    ]
    for subject, port, source in sorted(openings):
        if source == "admin":
            continue
        yield Risk(
            "ssh-beyond-admin",
            "Critical",
            env.name,
            subject,
            f"SSH on {subject} is reachable beyond the admin ranges",
            f"port {port}/tcp from {source}",
            "open SSH only 'from: admin' and reach other hosts through a bastion in the admin ranges",
        )


def service_without_owner(env: Environment) -> Iterator[Risk]:
    """A service nobody owns, or with no circle owner to escalate to."""
    for name, service in sorted(env.services.items()):
        missing = [field for field in ("owner", "circle_owner") if getattr(service, field) is None]
        if not missing:
            continue
        yield Risk(
            "service-without-owner",
            "Critical" if _protected(env) else "Minor",
            env.name,
            name,
            f"{name} has no {' and no '.join(missing)}",
            f"services.{name}: {', '.join(missing)} not set ({env.environment.tier} tier)",
            "set owner and circle_owner (GitHub accounts or teams): protected tiers refuse a service without them",
        )


def service_without_watch(env: Environment) -> Iterator[Risk]:
    """A service with no alert thresholds or no uptime check (a health endpoint)."""
    for name, service in sorted(env.services.items()):
        missing = [what for what, there in (("alerts", service.alerts), ("uptime check", service.health)) if not there]
        if not missing:
            continue
        yield Risk(
            "service-without-alerts-or-uptime-check",
            "Major" if len(missing) == 2 else "Minor",
            env.name,
            name,
            f"{name} has no {' and no '.join(missing)}",
            f"services.{name}: {'; '.join(f'no {what}' for what in missing)}"
            + (" (its hosts fall back to monitoring.host_alerts)" if service.alerts is None else ""),
            "set alerts (cpu/memory/disk) and a health endpoint, so an outage pages before a user reports it",
        )


def set_drills(env: Environment, measured: Measured) -> Iterator[Risk]:
    """Sets never drilled, whose last drill failed, or whose last drill is older than its schedule allows."""
    reference = measured.newest
    for row in backup_set_rows(env, env.backup_sets):
        for host in row["hosts"]:
            seen = measured.set_host(row["name"], host)
            subject = f"{row['name']} on {host}"
            if seen["drill_result"] is None:
                yield Risk(
                    "set-never-drilled",
                    _worse_in_production(env, "Major"),
                    env.name,
                    subject,
                    f"{subject} was never drilled",
                    "no drill recorded for this host and set",
                    f"run `seawall drill {env.name} --set {row['name']} --host {host}` and keep its timer enabled",
                    measured=True,
                )
                continue
            if seen["drill_result"] != "passed":
                yield Risk(
                    "drill-failed",
                    "Critical",
                    env.name,
                    subject,
                    f"the last drill of {subject} did not pass",
                    f"drill of {seen['last_drill']} UTC: {seen['drill_result']}",
                    "read the drill report, fix the named step, and drill again; until then this set is not "
                    "known to restore",
                    measured=True,
                )
            age = reference - dt.datetime.fromisoformat(seen["drill_time"]) if reference else None
            allowed = dt.timedelta(seconds=row["drill_gap_seconds"]) + DRILL_GRACE
            if age is not None and age > allowed:
                yield Risk(
                    "drill-overdue",
                    "Major",
                    env.name,
                    subject,
                    f"the last drill of {subject} is older than its schedule allows",
                    f"last drill {seen['last_drill']} UTC, {duration(age)} before the newest recorded state; "
                    f"the schedule ({row['drill']}) allows {duration(allowed)}",
                    "check the host's seawall-drill timer (`systemctl list-timers 'seawall-drill-*'`)",
                    measured=True,
                )


def rto_below_measured(env: Environment, measured: Measured) -> Iterator[Risk]:
    """An RTO target the last drill did not meet."""
    for row in backup_set_rows(env, env.backup_sets):
        for host in row["hosts"]:
            seen = measured.set_host(row["name"], host)
            if seen["rto_seconds"] is None or seen["rto_seconds"] <= row["rto_seconds"]:
                continue
            yield Risk(
                "rto-below-measured",
                _worse_in_production(env, "Major"),
                env.name,
                f"{row['name']} on {host}",
                f"the RTO target of {row['name']} is below what its drill measured",
                f"target {row['rto']}, measured {duration(seen['rto_seconds'])} (drill of {seen['last_drill']} UTC)",
                "raise the rto to what is achievable, or make the restore faster (smaller set, closer repository)",
                measured=True,
            )


MODEL_RULES: tuple[ModelRule, ...] = (
    single_stateful_droplet,
    backups_beside_workload,
    no_offsite_copy,
    unprotected_volume,
    ssh_beyond_admin,
    service_without_owner,
    service_without_watch,
)
MEASURED_RULES: tuple[MeasuredRule, ...] = (set_drills, rto_below_measured)


def assess(env: Environment, measured: Measured | None) -> list[Risk]:
    """Given an environment and its recorded state (None: the model only), return every finding, worst
    first."""
    findings = [finding for rule in MODEL_RULES for finding in rule(env)]
    if measured is not None:
        findings += [finding for rule in MEASURED_RULES for finding in rule(env, measured)]
    return sorted(findings, key=lambda finding: finding.order)
