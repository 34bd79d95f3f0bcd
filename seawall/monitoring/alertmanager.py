"""Alertmanager's configuration from the model: one route per severity, muted outside the team's hours as
the model says, Major and Minor inhibited by a Critical of the same host, and each channel's receiver.
"""

from __future__ import annotations

from typing import Any

from seawall.model.schema import Environment, Window
from seawall.model.types import SEVERITIES, WEEKDAYS, Severity, format_duration

BUSINESS = "business"
ON_CALL = "on-call"
ACTIVE = {"always": [], "business": [BUSINESS], "on-call": [BUSINESS, ON_CALL]}


DEFAULT_RECEIVER = "unrouted"


def alertmanager_config(env: Environment) -> dict[str, Any]:
    """Given an environment, return alertmanager.yml as data."""
    alerting = env.alerting
    monitoring = env.monitoring
    zone = env.availability.timezone or env.release.timezone
    routes = []
    for severity in SEVERITIES:
        route: dict[str, Any] = {"receiver": severity, "matchers": [f'severity="{severity}"']}
        active = ACTIVE[alerting.routes[severity].hours]
        if active:
            route["active_time_intervals"] = list(active)
        routes.append(route)
    # An alert whose severity is none of the three (a rule of the team's own, a typo): the Minor channels,
    # in business hours only, never the on-call receiver at night.
    routes.append({"receiver": DEFAULT_RECEIVER, "active_time_intervals": [BUSINESS]})
    return {
        "global": {
            "smtp_smarthost": alerting.smtp.smarthost,
            "smtp_from": alerting.smtp.sender or f"alertmanager@{env.environment.domain}",
            "smtp_require_tls": alerting.smtp.require_tls,
        },
        "time_intervals": [
            {"name": BUSINESS, "time_intervals": [_interval(env.availability.business, zone)]},
            {"name": ON_CALL, "time_intervals": [_interval(env.availability.on_call, zone)]},
        ],
        "route": {
            # Never used: the last route above takes every alert the severity routes do not.
            "receiver": DEFAULT_RECEIVER,
            "group_by": ["environment", "alertname"],
            "group_wait": format_duration(monitoring.group_wait),
            "group_interval": format_duration(monitoring.group_interval),
            "repeat_interval": format_duration(monitoring.repeat_interval),
            "routes": routes,
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity="Critical"'],
                "target_matchers": ['severity=~"Major|Minor"'],
                "equal": ["environment", "host"],
            },
            {
                "source_matchers": ['severity="Major"'],
                "target_matchers": ['severity="Minor"'],
                "equal": ["environment", "host"],
            },
        ],
        "receivers": [
            *(_receiver(env, severity) for severity in SEVERITIES),
            {**_receiver(env, "Minor"), "name": DEFAULT_RECEIVER},
        ],
    }


def _interval(window: Window, zone: str) -> dict[str, Any]:
    days = [day for day in WEEKDAYS if day in window.days]
    return {"weekdays": days, "times": [{"start_time": window.start, "end_time": window.end}], "location": zone}


def slack_url_file(env: Environment, channel: str) -> str:
    """Given a Slack channel's name in the model, return the file Alertmanager reads its webhook from."""
    return f"{env.monitoring.webhook_dir}/{channel}.url"


def _receiver(env: Environment, severity: Severity) -> dict[str, Any]:
    receiver: dict[str, Any] = {"name": severity}
    emails, slacks = [], []
    for name in env.alerting.routes[severity].channels:
        channel = env.alerting.channels[name]
        if channel.email:
            emails.append({"to": channel.email, "send_resolved": True})
        if channel.slack:
            slacks.append(
                {
                    "api_url_file": slack_url_file(env, name),
                    "channel": channel.slack,
                    "send_resolved": True,
                    "title": "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} ({{ .CommonLabels.severity }})",
                    "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}",
                }
            )
    if emails:
        receiver["email_configs"] = emails
    if slacks:
        receiver["slack_configs"] = slacks
    return receiver
