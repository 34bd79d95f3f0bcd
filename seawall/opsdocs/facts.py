"""Facts for the ops documents, from validated environments alone: hosts with what their sizes mean,
software versions side by side, dependencies from the firewall rules, the restore order, alert routing.

Everything is plain data (dicts, lists, strings) in a stable order, so templates stay simple and the
same model always gives the same documents.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from seawall.backup.backends import copy_backend, offsite_backend, set_backend
from seawall.drift import FAILING, FleetDrift, describe
from seawall.hostfiles import VAULT_CREDENTIALS_FILE, database_env_file
from seawall.model.calendar import longest_interval, parse_calendar
from seawall.model.schema import Alerts, Environment, Port, Retention, droplet_names
from seawall.model.types import SEVERITIES
from seawall.monitoring.alerts import ALERTS
from seawall.sizes import SizeTable
from seawall.templating import duration

NODE_EXPORTER_UNIT = "prometheus-node-exporter.service"
DRIFT_LINES = 8  # what one host's row lists of its differences (`seawall drift ENV` lists every one)
# Who may reach a port, in words, for each source that is not a service.
SOURCE_WORDS = {"public": "anyone (internet)", "admin": "the admin ranges", "vpc": "hosts on the VPC"}


def bounded(text: str, limit: int = 300) -> str:
    """Given text from recorded state, return it no longer than ``limit`` characters, one line."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def drift_view(env: Environment, fleet: FleetDrift | None, now: dt.datetime) -> dict[str, Any]:
    """Given an environment, what this machine knows of its drift (None: not read) and the time, return the
    drift section: whether it was read, the deployed graph and why it cannot be compared with, and one row per
    deployed host (its status, whether that is an alarm, its last check in UTC, what differs, bounded)."""
    if fleet is None:
        return {"read": False, "graph": None, "problem": None, "hosts": []}
    rows = []
    for entry in fleet.judge(now, env.drift.stale_after):
        lines = [bounded(line) for line in describe(entry)]
        if len(lines) > DRIFT_LINES:
            lines = [*lines[:DRIFT_LINES], f"and {len(lines) - DRIFT_LINES} more (seawall drift {env.name})"]
        checked = dt.datetime.fromisoformat(entry.checked).astimezone(dt.UTC) if entry.checked else None
        rows.append(
            {
                "host": entry.host,
                "status": entry.status,
                "alarm": entry.status in FAILING,
                "checked": checked.strftime("%Y-%m-%d %H:%M") if checked else None,
                "differs": lines,
            }
        )
    return {"read": True, "graph": fleet.graph, "problem": fleet.problem, "hosts": rows}


def port_text(port: Port) -> str:
    """Given a port rule, return ``443/tcp``."""
    return f"{port.port}/{port.protocol}"


def source_text(env: Environment, source: str) -> str:
    """Given a port's ``from``, return who that is."""
    if source == "admin":
        return f"the admin ranges ({', '.join(env.network.admin_cidrs)})"
    if source == "vpc":
        return f"hosts on the VPC ({env.network.vpc_cidr})"
    return SOURCE_WORDS.get(source, f"the {source} service")


def droplet_rows(env: Environment, sizes: SizeTable) -> list[dict[str, Any]]:
    """Given an environment, return one row per droplet: size and what it means, volume, names, roles."""
    rows = []
    for service_name, service in sorted(env.services.items()):
        size = sizes.size(service.size)
        for droplet in droplet_names(service_name, service):
            volume = service.volume
            price = None if size is None else size.price_monthly + (sizes.volume_price(volume.size_gb) if volume else 0)
            rows.append(
                {
                    "host": droplet,
                    "service": service_name,
                    "size": service.size,
                    "known_size": size is not None,
                    "vcpus": size.vcpus if size else None,
                    "memory_gib": size.memory_gib if size else None,
                    "disk_gb": size.disk_gb if size else None,
                    "volume": f"{volume.size_gb} GB at {volume.mount}" if volume else "-",
                    "volume_gb": volume.size_gb if volume else 0,
                    "price": price,
                    "region": env.environment.region,
                    "image": service.image,
                    "dns": env.dns_names(service_name, droplet),
                    "roles": [service.role or service_name],
                }
            )
    return rows


def datacenter_rows(env: Environment) -> list[dict[str, Any]]:
    """Given an environment, return one row per data-center host."""
    return [
        {
            "host": name,
            "address": host.address,
            "ssh": f"{host.ssh_user}@{host.address}:{host.ssh_port}",
            "roles": host.roles,
            "description": host.description,
            "sets": host.backup_sets,
        }
        for name, host in sorted(env.datacenter_hosts.items())
    ]


# DigitalOcean's managed PostgreSQL and MySQL keep daily backups and point-in-time recovery for this long; a
# restore makes a new cluster from them (docs/databases.md).
PITR_WINDOW = "7 days"
ENGINES = {"pg": "PostgreSQL", "mysql": "MySQL"}


def database_rows(env: Environment) -> list[dict[str, Any]]:
    """Given an environment, return a row per managed database cluster: what it runs, its nodes, who reaches
    it and where its connection details are on their hosts."""
    rows = []
    for name, cluster in sorted(env.databases.items()):
        maintenance = cluster.maintenance
        rows.append(
            {
                "name": name,
                "label": f"{env.name}-{name}",
                "description": cluster.description,
                "engine": f"{ENGINES[cluster.engine]} {cluster.version}",
                "size": cluster.size,
                "nodes": cluster.node_count,
                "standby": cluster.node_count - 1,
                "replicas": cluster.read_replicas,
                "maintenance": f"{maintenance.day} {maintenance.hour} UTC" if maintenance else "DigitalOcean's choice",
                "trusted": list(cluster.trusted_sources),
                "databases": env.database_names(name),
                "pools": [
                    f"{pool.name} ({pool.database} as {pool.user}, {pool.mode}, {pool.size})" for pool in cluster.pools
                ],
                "env_file": database_env_file(name),
                "pitr": PITR_WINDOW,
            }
        )
    return rows


def totals(env: Environment, sizes: SizeTable) -> dict[str, Any]:
    """Given an environment, return its totals: hosts, vCPU, memory, storage and monthly cost (droplets
    and volumes; data-center hosts have no price here). ``complete`` is false when a size is unknown."""
    rows = droplet_rows(env, sizes)
    known = [row for row in rows if row["known_size"]]
    return {
        "droplets": len(rows),
        "datacenter_hosts": len(env.datacenter_hosts),
        "vcpus": sum(row["vcpus"] for row in known),
        "memory_gib": sum(row["memory_gib"] for row in known),
        "storage_gb": sum(row["disk_gb"] for row in known) + sum(row["volume_gb"] for row in rows),
        "cost": sum(row["price"] for row in known),
        "complete": len(known) == len(rows),
        "unknown_sizes": sorted({row["size"] for row in rows if not row["known_size"]}),
    }


def software_matrix(envs: dict[str, Environment]) -> list[dict[str, Any]]:
    """Given environments, return each service's version per environment (``-`` where it does not run)."""
    names = sorted({name for env in envs.values() for name in env.services})
    return [
        {
            "service": name,
            "versions": [env.services[name].version if name in env.services else "-" for env in envs.values()],
            "image": sorted({env.services[name].image for env in envs.values() if name in env.services}),
        }
        for name in names
    ]


def dependencies(env: Environment) -> dict[str, list[str]]:
    """Given an environment, return the services each service depends on: service B depends on A when A
    lets B in (a port of A with ``from: B``)."""
    needs: dict[str, set[str]] = {name: set() for name in env.services}
    for name, service in env.services.items():
        for port in service.ports:
            if port.source in env.services and port.source != name:
                needs[port.source].add(name)
    return {name: sorted(found) for name, found in sorted(needs.items())}


def used_by(env: Environment, service_name: str) -> list[str]:
    """Given a service, return the services that reach it (its ports open to them)."""
    return sorted({p.source for p in env.services[service_name].ports if p.source in env.services} - {service_name})


def restore_order(env: Environment) -> tuple[list[str], list[str]]:
    """Given an environment, return its services in restore order (what others depend on first; ties by
    name) and the services in a dependency cycle (restored last, by name, with the cycle named)."""
    needs = dependencies(env)
    waiting = {name: len(found) for name, found in needs.items()}
    needed_by: dict[str, list[str]] = {name: [] for name in needs}
    for name, found in needs.items():
        for other in found:
            needed_by[other].append(name)
    # The first service by name of those whose dependencies are all restored, each time (a heap of them).
    ready = [name for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = heapq.heappop(ready)
        order.append(name)
        for other in needed_by[name]:
            waiting[other] -= 1
            if waiting[other] == 0:
                heapq.heappush(ready, other)
    cycle = sorted(set(needs) - set(order))
    return order, cycle


def alert_thresholds(env: Environment, alerts: Alerts | None) -> dict[str, Any]:
    """Given a service's or host's alert thresholds (None: the monitoring defaults), return them with
    where they came from."""
    chosen = alerts or env.monitoring.host_alerts
    return {
        "cpu": chosen.cpu,
        "memory": chosen.memory,
        "disk": chosen.disk,
        "window": chosen.window,
        "own": bool(alerts),
    }


def routing(env: Environment) -> list[dict[str, Any]]:
    """Given an environment, return each severity's channels (as addresses) and hours."""
    rows = []
    for severity in SEVERITIES:
        route = env.alerting.routes[severity]
        channels = []
        for name in route.channels:
            channel = env.alerting.channels[name]
            channels.append(f"{name} ({channel.email or channel.slack})")
        rows.append({"severity": severity, "channels": channels, "hours": route.hours})
    return rows


def alert_rows(env: Environment) -> list[dict[str, Any]]:
    """Given an environment, return every Seawall alert with its severity, route and runbook file."""
    routes = {row["severity"]: row for row in routing(env)}
    rows = []
    for kind in ALERTS.values():
        severity = getattr(env.alerting, kind.severity_field)
        rows.append(
            {
                "name": kind.name,
                "severity": severity,
                "channels": routes[severity]["channels"],
                "hours": routes[severity]["hours"],
                "runbook": kind.runbook,
                "field": kind.severity_field,
            }
        )
    return rows


def availability(env: Environment) -> dict[str, str]:
    """Given an environment, return the team's hours in words."""
    zone = env.availability.timezone or env.release.timezone

    def words(window: Any) -> str:
        days = ", ".join(day.capitalize() for day in window.days)
        return f"{days} {window.start}–{window.end} ({zone})"

    return {"business": words(env.availability.business), "on_call": words(env.availability.on_call)}


def backup_set_rows(env: Environment, names: Iterable[str]) -> list[dict[str, Any]]:
    """Given set names, return each set's schedule, retention, targets and drill schedule."""
    rows = []
    for name in sorted(names):
        backup_set = env.backup_sets[name]
        rows.append(
            {
                "name": name,
                "description": backup_set.description,
                "paths": backup_set.paths,
                "schedule": backup_set.schedule,
                "retention": retention_text(backup_set.retention),
                "rpo": duration(backup_set.rpo),
                "rto": duration(backup_set.rto),
                "rto_seconds": backup_set.rto.total_seconds(),
                "drill": backup_set.drill.schedule,
                "drill_gap_seconds": longest_interval(parse_calendar(backup_set.drill.schedule)).total_seconds(),
                "hosts": env.hosts_of_set(name),
                "repository": set_backend(env, name, Path(".")).shown,  # as the model writes it
            }
        )
    return rows


def retention_text(retention: Retention) -> str:
    """Given keep-rules, return them in words (``last 6, daily 7``)."""
    keeps = retention.model_dump(exclude_none=True)
    return ", ".join(
        f"{key.removeprefix('keep_')} {duration(v) if key == 'keep_within' else v}" for key, v in keeps.items()
    )


def offsite_copy(env: Environment) -> dict[str, Any] | None:
    """Given an environment, return its off-site copy as the model declares it (None without one): where it
    is, the vault that makes it, each set's copy repository, its schedules and retention, and the protection
    its bucket is given (what is in force is what the vault reads: ``backup status``)."""
    copy, storage = env.backup.copy_, offsite_backend(env, Path("."))
    if copy is None or storage is None:
        return None
    where = copy.repository
    spec = storage.spec
    sets = [name for name in sorted(env.backup_sets) if env.hosts_of_set(name)]
    return {
        "vault": copy.vault,
        # The sets the vault backs up itself: there a stolen host key comes with the copy's.
        "vault_sets": sorted(name for name in env.backup_sets if copy.vault in env.hosts_of_set(name)),
        "kind": storage.kind,
        "bucket": env.copy_bucket_name,
        "endpoint": where.endpoint,
        "region": where.region,
        "path": where.path,
        "sets": [
            {"name": name, "repository": copy_backend(env, name, Path(".")).shown, "hosts": env.hosts_of_set(name)}
            for name in sets
        ],
        "schedule": copy.schedule,
        "delay": duration(copy.delay),
        "retention": retention_text(copy.retention),
        "prune_schedule": copy.prune_schedule,
        "drill_schedule": copy.drill_schedule,
        "object_lock": copy.object_lock,
        "versions_kept_days": spec.noncurrent_version_days if spec else None,
        "lock_days": spec.object_lock_days if spec else 0,
        "password_source": copy.password_file or f"${copy.password_env}",
        "key_variables": list(storage.key_variables().values()),
        "credentials": VAULT_CREDENTIALS_FILE,
    }
