"""Monitoring: CPU, memory and disk alerts for a service's droplets, and uptime checks for public HTTP(S)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_digitalocean as do

from seawall.policies import METRICS

LABELS = {"cpu": "CPU", "memory": "memory", "disk": "disk"}


@dataclass(frozen=True)
class Notify:
    """Where one severity's alerts go: its name, email addresses and Slack (channel, webhook URL) pairs."""

    severity: str
    emails: Sequence[str]
    slacks: Sequence[tuple[str, pulumi.Input[str]]] = ()


@dataclass(frozen=True)
class ServiceMonitoringArgs:
    env_name: str
    service_name: str
    tag_name: pulumi.Input[str]
    thresholds: dict[str, int]
    window: str
    notify: dict[str, Notify]
    uptime_target: str | None = None
    uptime_regions: Sequence[str] = field(default=("eu_west", "us_east"))


class ServiceMonitoring(pulumi.ComponentResource):
    """Alerts on every droplet of one service (by tag), routed by severity; uptime checks when public."""

    def __init__(self, name: str, args: ServiceMonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("seawall:monitoring:ServiceMonitoring", name, None, opts)
        # Alerts target the service's tag by name: they wait for whatever the component waits for (the Tag).
        child = pulumi.ResourceOptions(parent=self, depends_on=opts.depends_on if opts else None)
        label = f"{args.env_name} {args.service_name}"
        self.alerts = [
            do.MonitorAlert(
                f"{name}-{metric}",
                type=METRICS[metric],
                compare="GreaterThan",
                value=threshold,
                window=args.window,
                tags=[args.tag_name],
                enabled=True,
                description=f"[{args.notify[metric].severity}] {label} {LABELS[metric]} above {threshold}%",
                alerts=do.MonitorAlertAlertsArgs(
                    emails=list(args.notify[metric].emails),
                    slacks=[do.MonitorAlertAlertsSlackArgs(channel=c, url=u) for c, u in args.notify[metric].slacks],
                ),
                opts=child,
            )
            for metric, threshold in sorted(args.thresholds.items())
        ]
        self.uptime_check: do.UptimeCheck | None = None
        if args.uptime_target is not None:
            self._add_uptime(name, args, label, child)
        self.register_outputs({"alerts": [alert.id for alert in self.alerts]})

    def _add_uptime(self, name: str, args: ServiceMonitoringArgs, label: str, child: pulumi.ResourceOptions) -> None:
        check = do.UptimeCheck(
            f"{name}-uptime",
            name=f"{args.env_name}-{args.service_name}",
            target=args.uptime_target,
            type="https" if (args.uptime_target or "").startswith("https") else "http",
            regions=list(args.uptime_regions),
            enabled=True,
            opts=child,
        )
        notify = args.notify["uptime"]
        notification = do.UptimeAlertNotificationArgs(
            emails=list(notify.emails),
            slacks=[do.UptimeAlertNotificationSlackArgs(channel=c, url=u) for c, u in notify.slacks],
        )
        kinds: list[tuple[str, str | None, int | None]] = [("down", None, None), ("latency", "greater_than", 2000)]
        if (args.uptime_target or "").startswith("https"):
            kinds.append(("ssl_expiry", "less_than", 14))
        self.uptime_check = check
        self.uptime_alerts = [
            do.UptimeAlert(
                f"{name}-uptime-{kind}",
                check_id=check.id,
                name=f"[{notify.severity}] {label} {kind.replace('_', ' ')}",
                type=kind,
                period="2m",
                notifications=[notification],
                comparison=comparison,
                threshold=threshold,
                opts=child,
            )
            for kind, comparison, threshold in kinds
        ]
