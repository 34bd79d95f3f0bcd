"""The rendered monitoring files pass Prometheus's and Alertmanager's own tools: promtool check config,
check rules and test rules (every Seawall alert fires after its ``for`` with the model's severity and
stays silent on healthy series), amtool check-config and routes test."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import zoneinfo
from pathlib import Path
from typing import Any

import pytest
import yaml

from seawall.model import load_environment
from seawall.model.calendar import longest_interval, parse_calendar
from seawall.model.schema import Environment
from seawall.monitoring.alerts import ALERTS
from seawall.monitoring.files import render_monitoring
from tests.conftest import SHIPPED, give_local_a_copy, patch_environment

PROMTOOL = shutil.which("promtool")
AMTOOL = shutil.which("amtool")
ENVIRONMENTS = ("devnet", "qanet", "testnet", "mainnet", "local")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(PROMTOOL is None or AMTOOL is None, reason="apt-get install prometheus prometheus-alertmanager"),
]


def write(env: Environment, folder: Path) -> Path:
    for relative, text in render_monitoring(env).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def tool(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(arg) for arg in argv], capture_output=True, text=True, check=False, timeout=60)


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_promtool_and_amtool_accept_every_environment(tmp_path: Path, env_name: str) -> None:
    folder = write(load_environment(SHIPPED, env_name), tmp_path)
    checked = tool(PROMTOOL or "promtool", "check", "config", folder / "prometheus/prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "3 rule files found" in checked.stdout
    rule_files = sorted((folder / "prometheus/rules").glob("*.yml"))
    rules = tool(PROMTOOL or "promtool", "check", "rules", "--lint-fatal", *rule_files)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    manager = tool(AMTOOL or "amtool", "check-config", folder / "alertmanager/alertmanager.yml")
    assert manager.returncode == 0, manager.stdout + manager.stderr


def test_promtool_accepts_the_rules_of_an_environment_with_an_offsite_copy(tmp_path: Path, environments: Path) -> None:
    folder = write(local_with_a_copy(environments), tmp_path / "rendered")
    rule_files = sorted((folder / "prometheus/rules").glob("*.yml"))
    rules = tool(PROMTOOL or "promtool", "check", "rules", "--lint-fatal", *rule_files)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SeawallCopySilent" in (folder / "prometheus/rules/seawall-backups.yml").read_text()


@pytest.mark.parametrize("severity", ["Critical", "Major", "Minor"])
def test_each_severity_routes_to_its_own_receiver(tmp_path: Path, severity: str) -> None:
    env = load_environment(SHIPPED, "mainnet")
    folder = write(env, tmp_path)
    config = folder / "alertmanager/alertmanager.yml"
    routed = tool(
        AMTOOL or "amtool",
        "config",
        "routes",
        "test",
        "--config.file",
        config,
        f"--verify.receivers={severity}",
        f"severity={severity}",
        "alertname=SeawallBackupFailed",
        "environment=mainnet",
    )
    assert routed.returncode == 0, routed.stdout + routed.stderr
    receiver = next(r for r in yaml.safe_load(config.read_text())["receivers"] if r["name"] == severity)
    channels = env.alerting.routes[severity].channels
    emails = [c["to"] for c in receiver.get("email_configs", [])]
    slacks = [c["channel"] for c in receiver.get("slack_configs", [])]
    assert sorted(emails + slacks) == sorted(
        str(env.alerting.channels[name].email or env.alerting.channels[name].slack) for name in channels
    )
    # The webhook is read from a file, never written into the configuration.
    assert all("api_url" not in c and c["api_url_file"].endswith(".url") for c in receiver.get("slack_configs", []))


def test_an_alert_of_an_unknown_severity_goes_to_the_default_receiver_in_business_hours_only(tmp_path: Path) -> None:
    env = load_environment(SHIPPED, "mainnet")
    config = write(env, tmp_path) / "alertmanager/alertmanager.yml"
    routed = tool(AMTOOL or "amtool", "config", "routes", "test", "--config.file", config,
                  "--verify.receivers=unrouted", "severity=critical", "alertname=TeamsOwnRule")  # fmt: skip
    assert routed.returncode == 0, routed.stdout + routed.stderr
    document = yaml.safe_load(config.read_text())
    fallback = document["route"]["routes"][-1]
    assert fallback == {"receiver": "unrouted", "active_time_intervals": ["business"]}
    tuesday_night = dt.datetime(2026, 12, 1, 23, 0, tzinfo=zoneinfo.ZoneInfo(env.release.timezone))
    assert not active(document, fallback, tuesday_night)


# Alertmanager's time-interval semantics (weekday names, [start, end) times in the interval's location),
# applied to the rendered file at the four moments the team's process names.
def active(config: dict[str, Any], route: dict[str, Any], when: dt.datetime) -> bool:
    names = route.get("active_time_intervals")
    if not names:
        return True
    for interval in config["time_intervals"]:
        if interval["name"] not in names:
            continue
        for spec in interval["time_intervals"]:
            local = when.astimezone(zoneinfo.ZoneInfo(spec.get("location", "UTC")))
            minute = local.hour * 60 + local.minute
            day = local.strftime("%A").lower()
            if day not in spec["weekdays"]:
                continue
            for span in spec["times"]:
                start = int(span["start_time"][:2]) * 60 + int(span["start_time"][3:])
                end = int(span["end_time"][:2]) * 60 + int(span["end_time"][3:])
                if start <= minute < end:
                    return True
    return False


MOMENTS = {
    "weekday business hour": ("Tuesday", 11),
    "weekday night": ("Tuesday", 23),
    "Saturday daytime": ("Saturday", 11),
    "Saturday night": ("Saturday", 23),
}


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_routes_are_active_as_the_teams_availability_says(moment: str) -> None:
    env = load_environment(SHIPPED, "mainnet")
    config = yaml.safe_load(render_monitoring(env)["alertmanager/alertmanager.yml"])
    zone = zoneinfo.ZoneInfo(env.release.timezone)
    weekday, hour = MOMENTS[moment]
    day = dt.date(2026, 12, 1)
    while day.strftime("%A") != weekday:
        day += dt.timedelta(days=1)
    when = dt.datetime(day.year, day.month, day.day, hour, tzinfo=zone)
    routes = {route["receiver"]: route for route in config["route"]["routes"]}
    availability = env.availability
    for severity in ("Critical", "Major", "Minor"):
        hours = env.alerting.routes[severity].hours
        in_business = weekday.lower() in availability.business.days and _within(availability.business, hour)
        in_on_call = weekday.lower() in availability.on_call.days and _within(availability.on_call, hour)
        expected = {"always": True, "business": in_business, "on-call": in_business or in_on_call}[hours]
        assert active(config, routes[severity], when) is expected, (severity, moment)
    # What the team's process says, for the shipped model.
    assert active(config, routes["Critical"], when) is (moment in ("weekday business hour", "Saturday daytime"))
    assert active(config, routes["Major"], when) is (moment == "weekday business hour")


def _within(window: Any, hour: int) -> bool:
    return window.start <= f"{hour:02d}:00" < window.end


# promtool test rules ------------------------------------------------------------------------------------

NODE = {"job": "node", "environment": "local", "service": "datacenter", "host": "localhost", "tier": "development"}


def series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    text = ",".join(f'{key}="{value}"' for key, value in labels.items())
    return {"series": f"{name}{{{text}}}", "values": values}


def node(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**NODE, "instance": "127.0.0.1:9100", "roles": "demo", **(extra or {})}


def seawall_labels(env: Environment, set_name: str, host: str) -> dict[str, str]:
    return {
        "environment": env.name,
        "host": host,
        "set": set_name,
        **{k: v for k, v in node().items() if k in ("job", "instance")},
    }


def _minutes(seconds: float) -> int:
    return int(seconds // 60) + 1


def case(
    alert: str,
    firing: list[dict[str, str]],
    healthy: list[dict[str, str]],
    minutes: int,
    expected: list[dict[str, str]],
    step: str = "1m",
) -> list[dict[str, Any]]:
    """Two promtool tests of one alert: it fires with ``expected`` labels on ``firing`` series at
    ``minutes``, and stays silent on ``healthy`` ones (a series value every ``step``)."""
    at = f"{minutes}m"
    return [
        {
            "interval": step,
            "input_series": firing,
            "alert_rule_test": [
                {"eval_time": at, "alertname": alert, "exp_alerts": [{"exp_labels": labels} for labels in expected]}
            ],
        },
        {
            "interval": step,
            "input_series": healthy,
            "alert_rule_test": [{"eval_time": at, "alertname": alert, "exp_alerts": []}],
        },
    ]


def severity(env: Environment, alert: str) -> str:
    return str(getattr(env.alerting, ALERTS[alert].severity_field))


def build_tests(env: Environment) -> dict[str, list[dict[str, Any]]]:
    """One firing and one healthy promtool test per Seawall alert, from the model's thresholds."""
    host_alerts = env.datacenter_hosts["localhost"].alerts or env.monitoring.host_alerts
    window = _minutes(dt.timedelta(minutes=int(host_alerts.window.removesuffix("m"))).total_seconds())
    tests: dict[str, list[dict[str, Any]]] = {}
    by = {key: NODE[key] for key in ("environment", "service", "host", "tier")}
    fs = {"device": "/dev/vda1", "fstype": "ext4", "mountpoint": "/"}
    net = {"device": "eth0"}
    size = 10_000_000_000
    full = size * (100 - host_alerts.disk - 5) // 100
    tests["HostDown"] = case(
        "HostDown",
        [series("up", node(), "0x10")],
        [series("up", node(), "1x10")],
        5,
        [node() | {"severity": severity(env, "HostDown")}],
    )
    tests["HostHighCpu"] = case(
        "HostHighCpu",
        [series("node_cpu_seconds_total", node({"cpu": "0", "mode": "idle"}), "0+3x60")],  # 5% idle
        [series("node_cpu_seconds_total", node({"cpu": "0", "mode": "idle"}), "0+60x60")],
        window + 10,
        [by | {"severity": severity(env, "HostHighCpu")}],
    )
    available = 4_000_000_000 * (100 - host_alerts.memory - 5) // 100
    tests["HostHighMemory"] = case(
        "HostHighMemory",
        [
            series("node_memory_MemAvailable_bytes", node(), f"{available}x60"),
            series("node_memory_MemTotal_bytes", node(), "4000000000x60"),
        ],
        [
            series("node_memory_MemAvailable_bytes", node(), "3000000000x60"),
            series("node_memory_MemTotal_bytes", node(), "4000000000x60"),
        ],
        window + 10,
        [node() | {"severity": severity(env, "HostHighMemory")}],
    )
    tests["HostDiskFull"] = case(
        "HostDiskFull",
        [
            series("node_filesystem_avail_bytes", node(fs), f"{full}x60"),
            series("node_filesystem_size_bytes", node(fs), f"{size}x60"),
        ],
        [
            series("node_filesystem_avail_bytes", node(fs), f"{size // 2}x60"),
            series("node_filesystem_size_bytes", node(fs), f"{size}x60"),
        ],
        window + 10,
        [node(fs) | {"severity": severity(env, "HostDiskFull")}],
    )
    # Losing a twentieth of the disk an hour: full within the model's horizon; steady is healthy.
    hours = env.monitoring.disk_filling_hours
    step = size // 20 // 60 if hours >= 20 else size // 60
    tests["HostDiskFillingUp"] = case(
        "HostDiskFillingUp",
        [series("node_filesystem_avail_bytes", node(fs), f"{size // 2}-{step}x200")],
        [series("node_filesystem_avail_bytes", node(fs), f"{size // 2}x200")],
        150,
        [node(fs) | {"severity": severity(env, "HostDiskFillingUp")}],
    )
    # A host clock ahead of Prometheus's by twice the tolerance; promtool scrapes at 0, 60, 120… seconds.
    ahead = int(env.backup.clock_skew_tolerance.total_seconds()) * 2
    tests["HostClockSkew"] = case(
        "HostClockSkew",
        [series("node_time_seconds", node(), f"{ahead}+60x60")],
        [series("node_time_seconds", node(), "0+60x60")],
        30,
        [node() | {"severity": severity(env, "HostClockSkew")}],
    )
    thresholds = env.monitoring.network
    for alert, metric, mbps in (
        ("HostNetworkReceiveHigh", "node_network_receive_bytes_total", thresholds.receive_mbps),
        ("HostNetworkTransmitHigh", "node_network_transmit_bytes_total", thresholds.transmit_mbps),
    ):
        per_minute = int(mbps * 1e6 / 8 * 60 * 1.5)
        tests[alert] = case(
            alert,
            [series(metric, node(net), f"0+{per_minute}x60")],
            [series(metric, node(net), f"0+{per_minute // 10}x60")],
            30,
            [node(net) | {"severity": severity(env, alert)}],
        )
    errors = int(thresholds.errors_per_second * 60)
    tests["HostNetworkErrors"] = case(
        "HostNetworkErrors",
        [
            series("node_network_receive_errs_total", node(net), f"0+{errors}x60"),
            series("node_network_transmit_errs_total", node(net), f"0+{errors}x60"),
        ],
        [
            series("node_network_receive_errs_total", node(net), "0x60"),
            series("node_network_transmit_errs_total", node(net), "0x60"),
        ],
        30,
        [node(net) | {"severity": severity(env, "HostNetworkErrors")}],
    )
    pairs = [(set_name, host) for set_name in sorted(env.backup_sets) for host in env.hosts_of_set(set_name)]
    for alert, metric in (
        ("SeawallBackupFailed", "seawall_backup_success"),
        ("SeawallDrillFailed", "seawall_drill_success"),
        ("SeawallCheckFailing", "seawall_drill_check_success"),
    ):
        tests[alert] = case(
            alert,
            [series(metric, seawall_labels(env, s, h), "0x5") for s, h in pairs],
            [series(metric, seawall_labels(env, s, h), "1x5") for s, h in pairs],
            2,
            [seawall_labels(env, s, h) | {"severity": severity(env, alert)} for s, h in pairs],
        )
    # Written by the status host about every host: the row's host is ``backup_host`` (``host`` is the target's).
    disagrees = [seawall_labels(env, s, h) | {"backup_host": h, "status": "disagrees"} for s, h in pairs]
    tests["SeawallRepositoryDisagrees"] = case(
        "SeawallRepositoryDisagrees",
        [series("seawall_status_alarm", labels, "1x5") for labels in disagrees]
        + [series("seawall_status_alarm", labels | {"status": "rpo-missed"}, "1x5") for labels in disagrees],
        [series("seawall_status_alarm", labels | {"status": "ok"}, "0x5") for labels in disagrees],
        2,
        [labels | {"severity": severity(env, "SeawallRepositoryDisagrees")} for labels in disagrees],
    )
    # Targets in seconds: the series hold a timestamp; promtool's clock starts at 0.
    longest = max(max(env.backup_sets[s].rpo.total_seconds(), env.backup_sets[s].rto.total_seconds()) for s, _ in pairs)
    late = (_minutes(longest) // 10 + 1) * 10 + 60 * 24 * 2  # minutes, a whole number of steps
    tests["SeawallBackupRpoMissed"] = case(
        "SeawallBackupRpoMissed",
        [
            series("seawall_backup_last_success_timestamp_seconds", seawall_labels(env, s, h), f"0x{late // 10}")
            for s, h in pairs
        ],
        [
            series("seawall_backup_last_success_timestamp_seconds", seawall_labels(env, s, h), f"0+600x{late // 10}")
            for s, h in pairs
        ],
        late,
        [seawall_labels(env, s, h) | {"severity": severity(env, "SeawallBackupRpoMissed")} for s, h in pairs],
        step="10m",
    )
    tests["SeawallDrillRtoAboveTarget"] = case(
        "SeawallDrillRtoAboveTarget",
        [
            series(
                "seawall_drill_rto_seconds",
                seawall_labels(env, s, h),
                f"{env.backup_sets[s].rto.total_seconds() + 60:.0f}x5",
            )
            for s, h in pairs
        ],
        [
            series(
                "seawall_drill_rto_seconds",
                seawall_labels(env, s, h),
                f"{env.backup_sets[s].rto.total_seconds() / 2:.0f}x5",
            )
            for s, h in pairs
        ],
        2,
        [seawall_labels(env, s, h) | {"severity": severity(env, "SeawallDrillRtoAboveTarget")} for s, h in pairs],
    )
    # The deep status reports once per environment (from its status host): stale, or never reported.
    status = {"environment": env.name, **{k: v for k, v in node().items() if k in ("job", "instance")}}
    allowed = _minutes(
        longest_interval(parse_calendar(env.backup.deep_status_schedule)).total_seconds()
        + env.backup.randomized_delay.total_seconds()
        + env.backup.command_timeout.total_seconds()
        + 3600
    )
    overdue = (allowed // 10 + 2) * 10
    tests["SeawallStatusOverdue"] = case(
        "SeawallStatusOverdue",
        [series("seawall_status_last_run_timestamp_seconds", status, f"0x{overdue // 10}")],
        [series("seawall_status_last_run_timestamp_seconds", status, f"0+600x{overdue // 10}")],
        overdue,
        [status | {"severity": severity(env, "SeawallStatusOverdue"), "reported": "stale"}],
        step="10m",
    )
    tests["SeawallStatusOverdue (never reported)"] = [
        {
            "interval": "10m",
            "input_series": [series("up", node(), f"1x{overdue // 10}")],
            "alert_rule_test": [
                {
                    "eval_time": f"{overdue}m",
                    "alertname": "SeawallStatusOverdue",
                    "exp_alerts": [
                        {
                            "exp_labels": {
                                "environment": env.name,
                                "severity": severity(env, "SeawallStatusOverdue"),
                                "reported": "never",
                            }
                        }
                    ],
                }
            ],
        }
    ]
    for alert, metric in (
        ("SeawallBackupSilent", "seawall_backup_last_run_timestamp_seconds"),
        ("SeawallDrillOverdue", "seawall_drill_last_run_timestamp_seconds"),
    ):
        # Stale: reported once at time 0, never again. Absent: never reported at all (one alert per host).
        tests[alert] = case(
            alert,
            [series(metric, seawall_labels(env, s, h), f"0x{late // 10}") for s, h in pairs],
            [series(metric, seawall_labels(env, s, h), f"0+600x{late // 10}") for s, h in pairs],
            late,
            [seawall_labels(env, s, h) | {"severity": severity(env, alert)} for s, h in pairs],
            step="10m",
        )
        tests[alert + " (never reported)"] = [
            {
                "interval": "10m",
                "input_series": [series("up", node(), f"1x{late // 10}")],
                "alert_rule_test": [
                    {
                        "eval_time": f"{late}m",
                        "alertname": alert,
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "environment": env.name,
                                    "set": s,
                                    "host": h,
                                    "severity": severity(env, alert),
                                }
                            }
                            for s, h in pairs
                        ],
                    }
                ],
            }
        ]
    tests.update(copy_tests(env, pairs))
    tests.update(drift_tests(env))
    return tests


def drift_labels(env: Environment, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The labels of a host's drift metrics: the file's (environment, host, kind), the target's job and instance."""
    target = {k: v for k, v in node().items() if k in ("job", "instance")}
    return {"environment": env.name, "host": "localhost", **target, **(extra or {})}


def drift_tests(env: Environment) -> dict[str, list[dict[str, Any]]]:
    """The drift check's alerts, over the series `seawall host verify` writes (one per kind, 0 when clean)."""
    from seawall.manifest import KINDS

    major = {"severity": severity(env, "SeawallHostDrift")}
    tests: dict[str, list[dict[str, Any]]] = {}
    # Two files changed by hand: one alert, of that kind; the other kinds are 0 and stay silent.
    tests["SeawallHostDrift"] = case(
        "SeawallHostDrift",
        [
            series("seawall_host_drift", drift_labels(env, {"kind": k}), "2x5" if k == "content" else "0x5")
            for k in KINDS
        ],
        [series("seawall_host_drift", drift_labels(env, {"kind": k}), "0x5") for k in KINDS],
        2,
        [drift_labels(env, {"kind": "content"}) | major],
    )
    # Stale: checked once at time 0, never again, past drift.stale_after (whole 10-minute steps).
    allowed = _minutes(env.drift.stale_after.total_seconds())
    late = (allowed // 10 + 2) * 10
    metric = "seawall_host_drift_checked_timestamp_seconds"
    missing = {"severity": severity(env, "SeawallDriftCheckMissing")}
    tests["SeawallDriftCheckMissing"] = case(
        "SeawallDriftCheckMissing",
        [series(metric, drift_labels(env), f"0x{late // 10}")],
        [series(metric, drift_labels(env), f"0+600x{late // 10}")],
        late,
        [drift_labels(env) | missing | {"reported": "stale"}],
        step="10m",
    )
    # Never reported by a host whose node_exporter answers: one alert, with the target's labels; a host that
    # is down is HostDown's, and a host that reported within stale_after is neither stale nor absent.
    tests["SeawallDriftCheckMissing (never reported)"] = [
        {
            "interval": "10m",
            "input_series": [series("up", node(), f"1x{late // 10}")],
            "alert_rule_test": [
                {
                    "eval_time": f"{late}m",
                    "alertname": "SeawallDriftCheckMissing",
                    "exp_alerts": [{"exp_labels": node() | missing | {"reported": "never"}}],
                }
            ],
        },
        {
            "interval": "10m",
            "input_series": [series("up", node(), f"0x{late // 10}")],
            "alert_rule_test": [{"eval_time": f"{late}m", "alertname": "SeawallDriftCheckMissing", "exp_alerts": []}],
        },
        {
            "interval": "10m",
            "input_series": [
                series("up", node(), f"1x{late // 10}"),
                series(metric, drift_labels(env), f"{(late - allowed + 20) * 60}x{late // 10}"),
            ],
            "alert_rule_test": [{"eval_time": f"{late}m", "alertname": "SeawallDriftCheckMissing", "exp_alerts": []}],
        },
    ]
    return tests


def copy_labels(env: Environment, set_name: str) -> dict[str, str]:
    """The labels of the vault's copy metrics of a set: the file's (environment, set), the vault's target's."""
    assert env.backup.copy_ is not None
    return seawall_labels(env, set_name, env.backup.copy_.vault)


def copy_tests(env: Environment, pairs: list[tuple[str, str]]) -> dict[str, list[dict[str, Any]]]:
    """The off-site copy's alerts, over the series the vault's `seawall backup copy` writes."""
    copy = env.backup.copy_
    assert copy is not None
    sets = sorted({s for s, _ in pairs})
    tests: dict[str, list[dict[str, Any]]] = {}
    for alert, metric, bad, good in (
        ("SeawallCopyFailed", "seawall_copy_success", "0x5", "1x5"),
        ("SeawallSnapshotsVanished", "seawall_copy_vanished_snapshots", "2x5", "0x5"),
    ):
        tests[alert] = case(
            alert,
            [series(metric, copy_labels(env, s), bad) for s in sets],
            [series(metric, copy_labels(env, s), good) for s in sets],
            2,
            [copy_labels(env, s) | {"severity": severity(env, alert)} for s in sets],
        )
    targets = {s: int((env.backup_sets[s].rpo + copy.delay).total_seconds()) for s in sets}
    tests["SeawallCopyLate"] = case(
        "SeawallCopyLate",
        [series("seawall_copy_age_seconds", copy_labels(env, s), f"{targets[s] + 60}x5") for s in sets]
        + [series("seawall_copy_target_seconds", copy_labels(env, s), f"{targets[s]}x5") for s in sets],
        [series("seawall_copy_age_seconds", copy_labels(env, s), f"{targets[s] // 2}x5") for s in sets]
        + [series("seawall_copy_target_seconds", copy_labels(env, s), f"{targets[s]}x5") for s in sets],
        2,
        [copy_labels(env, s) | {"severity": severity(env, "SeawallCopyLate")} for s in sets],
    )
    # Silent: the copy schedule's longest gap + the randomized delay + the grace, in whole 10-minute steps.
    allowed = _minutes(
        longest_interval(parse_calendar(copy.schedule)).total_seconds()
        + env.backup.randomized_delay.total_seconds()
        + 3600
    )
    late = (allowed // 10 + 2) * 10
    metric = "seawall_copy_last_run_timestamp_seconds"
    tests["SeawallCopySilent"] = case(
        "SeawallCopySilent",
        [series(metric, copy_labels(env, s), f"0x{late // 10}") for s in sets],
        [series(metric, copy_labels(env, s), f"0+600x{late // 10}") for s in sets],
        late,
        [copy_labels(env, s) | {"severity": severity(env, "SeawallCopySilent")} for s in sets],
        step="10m",
    )
    # Never reported by the vault: one alert per set, naming the vault.
    never = [
        {"environment": env.name, "set": s, "host": copy.vault, "severity": severity(env, "SeawallCopySilent")}
        for s in sets
    ]
    tests["SeawallCopySilent (never reported)"] = [
        {
            "interval": "10m",
            "input_series": [series("up", node(), f"1x{late // 10}")],
            "alert_rule_test": [
                {
                    "eval_time": f"{late}m",
                    "alertname": "SeawallCopySilent",
                    "exp_alerts": [{"exp_labels": labels} for labels in never],
                }
            ],
        },
        # Reported once, less than the allowed time ago: neither stale nor absent.
        {
            "interval": "10m",
            "input_series": [
                series(metric, copy_labels(env, s), f"{(late - allowed + 20) * 60}x{late // 10}") for s in sets
            ],
            "alert_rule_test": [{"eval_time": f"{late}m", "alertname": "SeawallCopySilent", "exp_alerts": []}],
        },
    ]
    return tests


def local_with_a_copy(environments: Path) -> Environment:
    give_local_a_copy(environments)
    return load_environment(environments, "local")


def test_every_seawall_alert_fires_with_its_severity_and_stays_silent_when_healthy(
    tmp_path: Path, environments: Path
) -> None:
    env = local_with_a_copy(environments)
    folder = write(env, tmp_path / "rendered")
    tests = build_tests(env)
    assert set(ALERTS) <= set(tests), f"alerts without a promtool test: {set(ALERTS) - set(tests)}"
    # promtool compares annotations too; they are templates (checked by `promtool check rules` and seen
    # rendered in the end-to-end test), so the rules under test are the rendered ones without them.
    rule_files = []
    for path in sorted((folder / "prometheus/rules").glob("*.yml")):
        document = yaml.safe_load(path.read_text())
        for group in document["groups"]:
            for rule in group["rules"]:
                rule.pop("annotations", None)
        target = tmp_path / path.name
        target.write_text(yaml.safe_dump(document, sort_keys=False))
        rule_files.append(target.name)
    # Alerts over days are evaluated every 10 minutes, the others every minute: one file per step.
    every = [t for cases in tests.values() for t in cases]
    for step in ("1m", "10m"):
        chosen = [t for t in every if t["interval"] == step]
        spec = {"rule_files": rule_files, "evaluation_interval": step, "tests": chosen}
        test_file = tmp_path / f"seawall-alerts-{step}.test.yml"
        test_file.write_text(yaml.safe_dump(spec, sort_keys=False))
        result = tool(PROMTOOL or "promtool", "test", "rules", test_file)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS" in result.stdout + result.stderr


def test_a_severity_changed_in_the_model_changes_the_rule(environments: Path) -> None:
    patch_environment(environments, "local", {"alerting": {"backup": "Minor", "drill_rto": "Critical"}})
    env = load_environment(environments, "local")
    rules = yaml.safe_load(render_monitoring(env)["prometheus/rules/seawall-backups.yml"])["groups"][0]["rules"]
    severities = {rule["alert"]: rule["labels"]["severity"] for rule in rules}
    assert severities["SeawallBackupFailed"] == "Minor"
    assert severities["SeawallDrillRtoAboveTarget"] == "Critical"
