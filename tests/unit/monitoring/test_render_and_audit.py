"""The monitoring files come from the model alone, the same bytes each time, cover every host and
backup set, and the audit rules catch a host left unscraped, a set without alerts, a silent severity."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from seawall.audit import graph_resources
from seawall.model import load_environment
from seawall.monitoring.alerts import ALERTS, COPY_ALERTS
from seawall.monitoring.files import render_monitoring
from seawall.policies import (
    Resource,
    backup_sets_have_alerts,
    every_host_is_scraped,
    monitoring_files,
    severity_routes_reach_a_channel,
)
from seawall.stacks.program import offline_renderer
from tests.conftest import SHIPPED, patch_environment

ENVIRONMENTS = ("devnet", "qanet", "testnet", "mainnet", "local")


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_every_host_is_a_target_with_its_labels_and_every_set_has_its_alerts(env_name: str) -> None:
    env = load_environment(SHIPPED, env_name)
    files = render_monitoring(env)
    assert files == render_monitoring(load_environment(SHIPPED, env_name))
    config = yaml.safe_load(files["prometheus/prometheus.yml"])
    (node,) = [job for job in config["scrape_configs"] if job["job_name"] == "node"]
    labels = {group["labels"]["host"]: group["labels"] for group in node["static_configs"]}
    hosts = [f"{name}-{i}" for name, service in env.services.items() for i in range(1, service.count + 1)]
    assert sorted(labels) == sorted([*hosts, *env.datacenter_hosts])
    for host, found in labels.items():
        assert found["environment"] == env.name
        assert found["tier"] == env.environment.tier
        assert found["service"] == (host.rsplit("-", 1)[0] if host not in env.datacenter_hosts else "datacenter")
    rules = [
        rule
        for text in (files["prometheus/rules/seawall-backups.yml"],)
        for rule in yaml.safe_load(text)["groups"][0]["rules"]
    ]
    for set_name in env.backup_sets:
        if env.hosts_of_set(set_name):
            for alert in (
                "SeawallBackupRpoMissed",
                "SeawallBackupSilent",
                "SeawallDrillOverdue",
                "SeawallDrillRtoAboveTarget",
            ):
                assert any(r["alert"] == alert and r["labels"].get("set") == set_name for r in rules), (alert, set_name)
    every = [
        rule for path, text in files.items() if "/rules/" in path for rule in yaml.safe_load(text)["groups"][0]["rules"]
    ]
    # The off-site copy's alerts exist only where the environment has one.
    assert {rule["alert"] for rule in every} == set(ALERTS) - (set(COPY_ALERTS) if env.backup.copy_ is None else set())
    for rule in every:
        assert rule["labels"]["severity"] == getattr(env.alerting, ALERTS[rule["alert"]].severity_field)
        assert rule["annotations"]["runbook_url"].endswith("/" + ALERTS[rule["alert"]].runbook)


def backup_rules(environments: Path, name: str) -> list[dict]:
    files = render_monitoring(load_environment(environments, name))
    return yaml.safe_load(files["prometheus/rules/seawall-backups.yml"])["groups"][0]["rules"]


def test_an_environment_without_an_offsite_copy_has_no_copy_alert(environments: Path) -> None:
    patch_environment(environments, "mainnet", {"backup": {"copy": None}})
    assert not [rule for rule in backup_rules(environments, "mainnet") if rule["alert"] in COPY_ALERTS]


def test_the_offsite_copy_has_its_alerts_with_the_models_severities_and_the_vault_in_the_silence_rule(
    environments: Path,
) -> None:
    copy = {
        "repository": {"kind": "s3", "endpoint": "https://objects.dc.example.net", "region": "dc1"},
        "vault": "api-1",
        "password_file": "/etc/seawall/restic-copy-password",
        "schedule": "*-*-* 00/6:10:00",
        "retention": {"keep_daily": 30},
    }
    patch_environment(
        environments,
        "mainnet",
        {"backup": {"copy": copy}, "alerting": {"copy_late": "Minor", "copy_failed": "Critical"}},
    )
    env = load_environment(environments, "mainnet")
    rules = [rule for rule in backup_rules(environments, "mainnet") if rule["alert"] in COPY_ALERTS]
    severities = {rule["alert"]: rule["labels"]["severity"] for rule in rules}
    assert severities == {
        "SeawallCopyFailed": "Critical",
        "SeawallCopyLate": "Minor",
        "SeawallCopySilent": "Major",
        "SeawallSnapshotsVanished": "Critical",
    }
    sets = sorted(name for name in env.backup_sets if env.hosts_of_set(name))
    silent = [rule for rule in rules if rule["alert"] == "SeawallCopySilent"]
    # Per set: stale (6 hours between copies + the randomized delay + an hour of grace), never reported by the vault.
    allowed = 6 * 3600 + int(env.backup.randomized_delay.total_seconds()) + 3600
    assert [rule["labels"] for rule in silent] == [
        labels
        for name in sets
        for labels in ({"severity": "Major", "set": name}, {"severity": "Major", "set": name, "host": "api-1"})
    ]
    assert silent[0]["expr"] == (
        f'time() - seawall_copy_last_run_timestamp_seconds{{environment="mainnet",set="{sets[0]}"}} > {allowed}'
    )
    assert silent[1]["expr"] == (
        f'absent(seawall_copy_last_run_timestamp_seconds{{environment="mainnet",set="{sets[0]}",host="api-1"}})'
    )
    for rule in rules:
        assert "{{ $labels.set }}" in rule["annotations"]["summary"]
        assert "{{ $labels.environment }}" in rule["annotations"]["summary"]


def test_the_drift_check_has_its_alerts_with_the_models_severities_and_stale_after(environments: Path) -> None:
    patch_environment(environments, "mainnet", {"alerting": {"host_drift": "Critical"}, "drift": {"stale_after": "5h"}})
    files = render_monitoring(load_environment(environments, "mainnet"))
    rules = yaml.safe_load(files["prometheus/rules/seawall-drift.yml"])["groups"][0]["rules"]
    assert [(rule["alert"], rule["labels"], rule.get("for")) for rule in rules] == [
        ("SeawallHostDrift", {"severity": "Critical"}, None),
        ("SeawallDriftCheckMissing", {"severity": "Major", "reported": "stale"}, None),
        ("SeawallDriftCheckMissing", {"severity": "Major", "reported": "never"}, "5h"),
    ]
    checked = 'seawall_host_drift_checked_timestamp_seconds{environment="mainnet"}'
    assert [rule["expr"] for rule in rules] == [
        'seawall_host_drift{environment="mainnet"} > 0',
        f"time() - {checked} > {5 * 3600}",
        # Never reported, on a host whose node_exporter answers (a host that is down is HostDown's).
        f'up{{job="node",environment="mainnet"}} == 1 unless on (environment, host) {checked}',
    ]
    for rule in rules:
        assert "{{ $labels.host }}" in rule["annotations"]["summary"]
        assert "seawall drift {{ $labels.environment }}" in rules[0]["annotations"]["description"]


def test_the_cli_writes_the_same_bytes_twice(cli, environments: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = cli("--environments", environments, "monitoring", "render", "mainnet", "--out", out)
    assert first.code == 0, first.err
    before = {path: path.read_bytes() for path in sorted(out.rglob("*.yml"))}
    assert len(before) == 5
    second = cli("--environments", environments, "monitoring", "render", "mainnet", "--out", out)
    assert second.code == 0
    assert {path: path.read_bytes() for path in sorted(out.rglob("*.yml"))} == before


def test_an_unknown_monitoring_host_is_a_configuration_error(cli, environments: Path) -> None:
    patch_environment(environments, "mainnet", {"monitoring": {"host": "grafana"}})
    result = cli("--environments", environments, "monitoring", "render", "mainnet")
    assert result.code == 2
    assert "monitoring host 'grafana' is neither a service nor a data-center host" in result.err
    assert "Traceback" not in result.err


def resources(environments: Path, name: str = "mainnet") -> list[Resource]:
    return graph_resources(offline_renderer().graph(load_environment(environments, name)))


@pytest.mark.render
def test_the_shipped_mainnet_passes_the_three_monitoring_rules() -> None:
    found = resources(SHIPPED)
    assert monitoring_files(found), "the monitoring host's step installs the files"
    assert list(every_host_is_scraped(found)) == []
    assert list(backup_sets_have_alerts(found)) == []
    assert list(severity_routes_reach_a_channel(found)) == []


@pytest.mark.render
def test_without_a_monitoring_step_every_host_is_unscraped_and_no_set_alerted() -> None:
    found = [r for r in resources(SHIPPED) if not r.name.endswith("-monitoring")]
    unscraped = list(every_host_is_scraped(found))
    hosts = {r.name.removesuffix("-install") for r in found if r.name.endswith("-install")}
    assert {name.removesuffix("-install") for name, _ in unscraped} == hosts
    assert all("no host installs Prometheus" in message for _, message in unscraped)
    assert [name for name, _ in backup_sets_have_alerts(found)] == ["monitoring"]


@pytest.mark.render
def test_a_set_whose_rules_were_removed_is_found() -> None:
    found = []
    for resource in resources(SHIPPED):
        if resource.name.endswith("-monitoring"):
            script = str(resource.props["create"])
            kept = [line for line in script.split("\n  - alert:") if 'set="postgres"' not in line]
            resource = dataclasses.replace(resource, props={**resource.props, "create": "\n  - alert:".join(kept)})
        found.append(resource)
    assert [message for _, message in backup_sets_have_alerts(found)] == [
        "backup set postgres has no SeawallBackupRpoMissed, SeawallDrillOverdue alert"
    ]


@pytest.mark.render
def test_critical_only_in_business_hours_reaches_nobody_on_call(environments: Path) -> None:
    patch_environment(environments, "mainnet", {"alerting": {"routes": {"Critical": {"hours": "business"}}}})
    messages = [message for _, message in severity_routes_reach_a_channel(resources(environments))]
    assert messages == ["severity Critical reaches nobody in the on-call window"]
