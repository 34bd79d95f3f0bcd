"""Prometheus's configuration from the model: ``prometheus.yml`` (node exporter on every droplet and
data-center host, the monitoring host's own Prometheus and Alertmanager) and the rule groups (host health,
network activity, Seawall's backup, drill and off-site copy metrics, each host's drift check), as data.

Every rule is one of ``ALERTS`` (``seawall.monitoring.alerts``). Paths inside the configuration are relative
to its file, so it works wherever it is installed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from seawall.model.calendar import longest_interval, parse_calendar
from seawall.model.schema import Alerts, Environment, droplet_names
from seawall.model.types import format_duration
from seawall.monitoring.alerts import ALERTS

NODE_JOB = "node"
# File systems that are not disks: their fullness means nothing.
PSEUDO_FILESYSTEMS = "tmpfs|devtmpfs|overlay|squashfs|ramfs|nsfs|autofs|fuse.lxcfs"
VIRTUAL_DEVICES = "lo|veth.*|docker.*|br-.*|virbr.*|cni.*|flannel.*"
TARGET_LABELS = ("environment", "service", "host", "tier")
# Allowed beyond a schedule's longest gap before silence is an alarm: the run itself and its delay.
SILENCE_GRACE_SECONDS = 3600


@dataclass(frozen=True)
class ScrapeTarget:
    """One node_exporter to scrape: its address and its labels."""

    address: str
    labels: dict[str, str]


def scrape_targets(env: Environment) -> list[ScrapeTarget]:
    """Given an environment, return node_exporter on every droplet (by its private DNS name) and
    data-center host, with their labels."""
    port = env.monitoring.node_exporter_port
    targets = []
    for service_name, service in sorted(env.services.items()):
        for droplet in droplet_names(service_name, service):
            labels = _labels(env, service_name, droplet)
            targets.append(ScrapeTarget(f"{env.private_dns_name(droplet)}:{port}", labels))
    for host_name, host in sorted(env.datacenter_hosts.items()):
        labels = _labels(env, "datacenter", host_name) | {"roles": ",".join(host.roles)}
        targets.append(ScrapeTarget(f"{host.address}:{port}", labels))
    return targets


def _labels(env: Environment, service: str, host: str) -> dict[str, str]:
    return {"environment": env.name, "service": service, "host": host, "tier": env.environment.tier}


def prometheus_config(env: Environment) -> dict[str, Any]:
    """Given an environment, return prometheus.yml as data."""
    monitoring = env.monitoring
    node_targets = [{"targets": [target.address], "labels": target.labels} for target in scrape_targets(env)]
    own = {"environment": env.name, "service": "monitoring", "tier": env.environment.tier}
    return {
        "global": {
            "scrape_interval": format_duration(monitoring.scrape_interval),
            "evaluation_interval": format_duration(monitoring.evaluation_interval),
            "external_labels": {"environment": env.name},
        },
        "rule_files": ["rules/*.yml"],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{monitoring.alertmanager_port}"]}]}]
        },
        "scrape_configs": [
            {
                "job_name": NODE_JOB,
                "static_configs": node_targets,
                # Seawall's textfile metrics name their environment and host, for a Prometheus of the team's
                # own; here the target says so, and Prometheus keeps the textfile's copies as exported_*.
                "metric_relabel_configs": [{"action": "labeldrop", "regex": "exported_(environment|host)"}],
            },
            {
                "job_name": "prometheus",
                "static_configs": [{"targets": [f"127.0.0.1:{monitoring.prometheus_port}"], "labels": dict(own)}],
            },
            {
                "job_name": "alertmanager",
                "static_configs": [{"targets": [f"127.0.0.1:{monitoring.alertmanager_port}"], "labels": dict(own)}],
            },
        ],
    }


def _rule(env: Environment, name: str, expr: str, wait: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
    kind = ALERTS[name]
    rule: dict[str, Any] = {"alert": name, "expr": expr}
    if wait != "0s":
        rule["for"] = wait
    rule["labels"] = {"severity": getattr(env.alerting, kind.severity_field), **(extra or {})}
    rule["annotations"] = {
        "summary": kind.summary,
        "description": kind.description,
        "runbook_url": f"{env.monitoring.runbook_url.rstrip('/')}/{kind.runbook}",
    }
    return rule


def _selector(*parts: str) -> str:
    return "{" + ",".join(parts) + "}"


def threshold_groups(env: Environment) -> list[tuple[str, str, Alerts]]:
    """Given an environment, return the host-health thresholds: per service (its own ``alerts`` or the
    monitoring defaults) and per data-center host, the label and value that select its hosts."""
    defaults = env.monitoring.host_alerts
    groups = [("service", name, service.alerts or defaults) for name, service in sorted(env.services.items())]
    groups += [("host", name, host.alerts or defaults) for name, host in sorted(env.datacenter_hosts.items())]
    return groups


def host_rules(env: Environment) -> dict[str, Any]:
    """Given an environment, return the rule group for host health and network activity."""
    scope = f'job="{NODE_JOB}",environment="{env.name}"'
    disks = f'{scope},fstype!~"{PSEUDO_FILESYSTEMS}",mountpoint!~"/run.*|/snap.*|/boot/efi"'
    network = f'{scope},device!~"{VIRTUAL_DEVICES}"'
    thresholds = env.monitoring.network
    rules = [_rule(env, "HostDown", f"up{_selector(scope)} == 0", "2m")]
    for label, value, alerts in threshold_groups(env):
        # The selecting label is also a rule label: each rule of one alert has its own label set.
        matcher, extra = f'{label}="{value}"', {label: value}
        idle = _selector(scope, matcher, 'mode="idle"')
        cpu = f"100 * (1 - avg by ({', '.join(TARGET_LABELS)}) (rate(node_cpu_seconds_total{idle}[5m]))) > {alerts.cpu}"
        memory = (
            f"100 * (1 - node_memory_MemAvailable_bytes{_selector(scope, matcher)} "
            f"/ node_memory_MemTotal_bytes{_selector(scope, matcher)}) > {alerts.memory}"
        )
        disk = (
            f"100 * (1 - node_filesystem_avail_bytes{_selector(disks, matcher)} "
            f"/ node_filesystem_size_bytes{_selector(disks, matcher)}) > {alerts.disk}"
        )
        rules += [
            _rule(env, "HostHighCpu", cpu, alerts.window, extra),
            _rule(env, "HostHighMemory", memory, alerts.window, extra),
            _rule(env, "HostDiskFull", disk, alerts.window, extra),
        ]
    hours = env.monitoring.disk_filling_hours
    skew = int(env.backup.clock_skew_tolerance.total_seconds())
    rules += [
        # node_exporter's clock against the moment Prometheus scraped it.
        _rule(
            env,
            "HostClockSkew",
            f"abs(node_time_seconds{_selector(scope)} - timestamp(node_time_seconds{_selector(scope)})) > {skew}",
            "10m",
        ),
        _rule(
            env,
            "HostDiskFillingUp",
            f"predict_linear(node_filesystem_avail_bytes{_selector(disks)}[6h], {hours * 3600}) < 0",
            "1h",
        ),
        _rule(
            env,
            "HostNetworkReceiveHigh",
            f"rate(node_network_receive_bytes_total{_selector(network)}[5m]) * 8 / 1e6 > {thresholds.receive_mbps}",
            "15m",
        ),
        _rule(
            env,
            "HostNetworkTransmitHigh",
            f"rate(node_network_transmit_bytes_total{_selector(network)}[5m]) * 8 / 1e6 > {thresholds.transmit_mbps}",
            "15m",
        ),
        _rule(
            env,
            "HostNetworkErrors",
            f"rate(node_network_receive_errs_total{_selector(network)}[5m]) "
            f"+ rate(node_network_transmit_errs_total{_selector(network)}[5m]) > {thresholds.errors_per_second:g}",
            "15m",
        ),
    ]
    return {"name": f"seawall-hosts-{env.name}", "rules": rules}


def backup_rules(env: Environment) -> dict[str, Any]:
    """Given an environment, return the rule group over Seawall's own backup, drill and off-site copy metrics."""
    scope = f'environment="{env.name}"'
    delay = int(env.backup.randomized_delay.total_seconds())
    rules = [
        _rule(env, "SeawallBackupFailed", f"seawall_backup_success{_selector(scope)} == 0", "0s"),
        _rule(env, "SeawallDrillFailed", f"seawall_drill_success{_selector(scope)} == 0", "0s"),
        _rule(env, "SeawallCheckFailing", f"seawall_drill_check_success{_selector(scope)} == 0", "0s"),
        _rule(
            env,
            "SeawallRepositoryDisagrees",
            "seawall_status_alarm" + _selector(scope, 'status=~"disagrees|unreachable"') + " == 1",
            "0s",
        ),
    ]
    if env.backup_sets:
        rules += _status_overdue_rules(env)
    rules += _copy_rules(env)
    for set_name, backup_set in sorted(env.backup_sets.items()):
        hosts = env.hosts_of_set(set_name)
        if not hosts:
            continue
        one = _selector(scope, f'set="{set_name}"')
        labels = {"set": set_name}
        rpo = int(backup_set.rpo.total_seconds())
        stale_success = f"time() - seawall_backup_last_success_timestamp_seconds{one} > {rpo}"
        rules.append(_rule(env, "SeawallBackupRpoMissed", stale_success, "0s", labels))
        silent = _longest_gap(backup_set.schedule) + delay + SILENCE_GRACE_SECONDS
        rules += _silence_rules(
            env, "SeawallBackupSilent", "seawall_backup_last_run_timestamp_seconds", set_name, hosts, silent
        )
        overdue = _longest_gap(backup_set.drill.schedule) + delay + int(backup_set.rto.total_seconds())
        overdue += SILENCE_GRACE_SECONDS
        rules += _silence_rules(
            env, "SeawallDrillOverdue", "seawall_drill_last_run_timestamp_seconds", set_name, hosts, overdue
        )
        rto = int(backup_set.rto.total_seconds())
        rules.append(_rule(env, "SeawallDrillRtoAboveTarget", f"seawall_drill_rto_seconds{one} > {rto}", "0s", labels))
    return {"name": f"seawall-backups-{env.name}", "rules": rules}


def _longest_gap(schedule: str) -> int:
    return int(longest_interval(parse_calendar(schedule)).total_seconds())


def _copy_rules(env: Environment) -> list[dict[str, Any]]:
    """The vault's off-site copy of each set: failed, late (older than the set's RPO plus the copy's delay),
    vanished snapshots, and silent (not reported for longer than the copy schedule's longest gap, its
    randomized delay and the grace allow, or never by the vault); none without a copy."""
    copy = env.backup.copy_
    sets = [name for name in sorted(env.backup_sets) if env.hosts_of_set(name)]
    if copy is None or not sets:
        return []
    scope = _selector(f'environment="{env.name}"')
    rules = [
        _rule(env, "SeawallCopyFailed", f"seawall_copy_success{scope} == 0", "0s"),
        _rule(env, "SeawallCopyLate", f"seawall_copy_age_seconds{scope} > seawall_copy_target_seconds{scope}", "0s"),
        _rule(env, "SeawallSnapshotsVanished", f"seawall_copy_vanished_snapshots{scope} > 0", "0s"),
    ]
    silent = _longest_gap(copy.schedule) + int(env.backup.randomized_delay.total_seconds()) + SILENCE_GRACE_SECONDS
    for set_name in sets:
        rules += _silence_rules(
            env, "SeawallCopySilent", "seawall_copy_last_run_timestamp_seconds", set_name, [copy.vault], silent
        )
    return rules


def _status_overdue_rules(env: Environment) -> list[dict[str, Any]]:
    """The scheduled deep status not reported for longer than its schedule's longest gap, its randomized
    delay, its run (``command_timeout``) and the grace allow, or never."""
    backup = env.backup
    allowed = _longest_gap(backup.deep_status_schedule) + int(backup.randomized_delay.total_seconds())
    allowed += int(backup.command_timeout.total_seconds()) + SILENCE_GRACE_SECONDS
    metric = "seawall_status_last_run_timestamp_seconds" + _selector(f'environment="{env.name}"')
    return [
        # Two rules of one alert: a label tells them apart (promtool calls two same-labelled rules duplicates).
        _rule(env, "SeawallStatusOverdue", f"time() - {metric} > {allowed}", "0s", {"reported": "stale"}),
        _rule(
            env,
            "SeawallStatusOverdue",
            f"absent({metric})",
            format_duration(dt.timedelta(seconds=allowed)),
            {"reported": "never"},
        ),
    ]


def _silence_rules(
    env: Environment, name: str, metric: str, set_name: str, hosts: list[str], allowed: int
) -> list[dict[str, Any]]:
    """A set's metric not reported for longer than allowed: stale on some host, or absent for a host
    that runs the set (never reported, or its file gone)."""
    one = _selector(f'environment="{env.name}"', f'set="{set_name}"')
    stale = _rule(env, name, f"time() - {metric}{one} > {allowed}", "0s", {"set": set_name})
    never = [
        _rule(
            env,
            name,
            f'absent({metric}{one[:-1]},host="{host}"}})',
            format_duration(dt.timedelta(seconds=allowed)),
            {"set": set_name, "host": host},
        )
        for host in sorted(hosts)
    ]
    return [stale, *never]


def drift_rules(env: Environment) -> dict[str, Any]:
    """Given an environment, return the rule group over every host's drift check (``seawall host verify``):
    a difference of any kind, and a check not reported for longer than ``drift.stale_after``, or never on a
    host whose node_exporter answers (a host that is down is HostDown's)."""
    scope = f'environment="{env.name}"'
    checked = "seawall_host_drift_checked_timestamp_seconds" + _selector(scope)
    allowed = int(env.drift.stale_after.total_seconds())
    answering = "up" + _selector(f'job="{NODE_JOB}"', scope) + " == 1"
    rules = [
        _rule(env, "SeawallHostDrift", f"seawall_host_drift{_selector(scope)} > 0", "0s"),
        # Two rules of one alert: a label tells them apart (promtool calls two same-labelled rules duplicates).
        _rule(env, "SeawallDriftCheckMissing", f"time() - {checked} > {allowed}", "0s", {"reported": "stale"}),
        _rule(
            env,
            "SeawallDriftCheckMissing",
            f"{answering} unless on (environment, host) {checked}",
            format_duration(env.drift.stale_after),
            {"reported": "never"},
        ),
    ]
    return {"name": f"seawall-drift-{env.name}", "rules": rules}
