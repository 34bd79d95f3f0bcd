"""The risk assessment: every rule fires on a fleet built to trigger it, and stays silent where it should
(the shipped environments among them)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from seawall.errors import ConfigError
from seawall.model import load_environment, load_environments
from seawall.model.schema import Environment
from seawall.opsdocs.measured import Measured
from seawall.opsdocs.risks import assess
from tests.conftest import SHIPPED, patch_environment
from tests.unit.docs.fleet import ENVIRONMENTS, recorded


def fixture_env(tmp_path: Path, name: str = "devnet", patch: dict | None = None) -> Environment:
    target = tmp_path / f"environments-{len(list(tmp_path.iterdir()))}"
    shutil.copytree(ENVIRONMENTS, target)
    if patch:
        patch_environment(target, name, patch)
    return load_environment(target, name)


def fired(env: Environment, rule: str, measured: Measured | None = None) -> list[tuple[str, str]]:
    return [(f.subject, f.severity) for f in assess(env, measured) if f.rule == rule]


@pytest.fixture(scope="module")
def shipped() -> dict[str, Environment]:
    return load_environments(SHIPPED)


def test_a_stateful_service_on_one_droplet_is_major_and_critical_in_production(tmp_path: Path) -> None:
    assert fired(fixture_env(tmp_path), "single-stateful-droplet") == [("store", "Major")]
    assert fired(fixture_env(tmp_path, "mainnet"), "single-stateful-droplet") == [("store", "Critical")]
    two = fixture_env(tmp_path, "devnet", {"services": {"store": {"count": 2}}})
    assert fired(two, "single-stateful-droplet") == []


def test_single_stateful_droplets_of_the_shipped_fleet_are_exactly_its_one_droplet_stateful_services(
    shipped: dict[str, Environment],
) -> None:
    for env in shipped.values():
        expected = sorted(name for name, s in env.services.items() if s.is_stateful and s.count == 1)
        assert sorted(subject for subject, _ in fired(env, "single-stateful-droplet")) == expected


def test_backups_in_the_workloads_region_are_a_risk_and_in_another_region_are_not(tmp_path: Path) -> None:
    elsewhere = fixture_env(tmp_path)
    assert elsewhere.environment.region == "fra1"
    assert fired(elsewhere, "backups-beside-workload") == []
    beside = fixture_env(tmp_path, "devnet", {"environment": {"region": "ams3"}})
    assert fired(beside, "backups-beside-workload") == [("archive-etc, store-data", "Major")]


def test_the_shipped_fleet_keeps_its_primaries_in_its_own_region_and_a_copy_in_the_data_center(
    shipped: dict[str, Environment], tmp_path: Path
) -> None:
    mainnet = shipped["mainnet"]
    assert mainnet.repository_for("postgres").region == mainnet.environment.region
    assert mainnet.backup.copy_ is not None
    assert mainnet.backup.copy_.repository.region != mainnet.environment.region
    assert fired(mainnet, "backups-beside-workload") == []
    # Without the copy, the same primaries are a Critical risk in production.
    shutil.copytree(SHIPPED, tmp_path / "shipped")
    patch_environment(tmp_path / "shipped", "mainnet", {"backup": {"copy": None}})
    uncopied = load_environment(tmp_path / "shipped", "mainnet")
    assert [severity for _, severity in fired(uncopied, "backups-beside-workload")] == ["Critical"]
    # local's copy is another folder of the same machine: no copy elsewhere.
    assert fired(shipped["local"], "backups-beside-workload") == [("project-config, project-docs", "Major")]


OFFSITE = {
    "repository": {"kind": "s3", "endpoint": "https://objects.dc.example.net", "region": "dc1"},
    "vault": "dc-archive-1",
    "password_file": "/etc/seawall/restic-copy-password",
    "retention": {"keep_daily": 30},
}


def test_sets_without_an_offsite_copy_are_a_risk_and_critical_in_production(
    tmp_path: Path, shipped: dict[str, Environment]
) -> None:
    assert fired(fixture_env(tmp_path), "no-offsite-copy") == [("archive-etc, store-data", "Major")]
    assert fired(fixture_env(tmp_path, "mainnet"), "no-offsite-copy") == [], "the fixture's mainnet has a copy"
    without = fixture_env(tmp_path, "mainnet", {"backup": {"copy": None}})
    assert fired(without, "no-offsite-copy") == [("archive-etc, store-data", "Critical")]
    for env in shipped.values():
        expected = (
            []
            if env.backup.copy_ is not None
            else [", ".join(s for s in sorted(env.backup_sets) if env.hosts_of_set(s))]
        )
        assert [subject for subject, _ in fired(env, "no-offsite-copy")] == expected


def test_backups_in_the_workloads_region_are_no_risk_with_a_copy_in_another_region(tmp_path: Path) -> None:
    copied = fixture_env(tmp_path, "devnet", {"environment": {"region": "ams3"}, "backup": {"copy": OFFSITE}})
    assert fired(copied, "backups-beside-workload") == []
    # A copy in the workload's (and the primary's) own region is no copy elsewhere: validate refuses it.
    with pytest.raises(ConfigError, match="a lost region would lose both"):
        fixture_env(
            tmp_path,
            "devnet",
            {
                "environment": {"region": "ams3"},
                "backup": {"copy": {**OFFSITE, "repository": {**OFFSITE["repository"], "region": "ams3"}}},
            },
        )


def test_a_volume_no_set_holds_is_unprotected(tmp_path: Path, shipped: dict[str, Environment]) -> None:
    assert fired(fixture_env(tmp_path), "unprotected-volume") == []  # /var/lib/store/data is inside the mount
    outside = fixture_env(tmp_path, "devnet", {"backup_sets": {"store-data": {"paths": ["/srv/store-dump"]}}})
    assert fired(outside, "unprotected-volume") == [("store", "Major")]
    named = fixture_env(tmp_path, "devnet", {"services": {"store": {"volume": {"protected_by": ["store-data"]}}}})
    assert fired(named, "unprotected-volume") == []
    # Shipped: db is protected by its dump set, indexer by a path inside; Prometheus' TSDB is not.
    assert fired(shipped["devnet"], "unprotected-volume") == [("monitoring", "Major")]


def test_ssh_beyond_the_admin_ranges_is_critical(tmp_path: Path, shipped: dict[str, Environment]) -> None:
    assert fired(fixture_env(tmp_path), "ssh-beyond-admin") == []
    ports = [{"port": 443, "from": "public"}, {"port": 22, "from": "public"}, {"port": 9100, "from": "monitoring"}]
    public = fixture_env(tmp_path, "devnet", {"services": {"web": {"ports": ports}}})
    assert fired(public, "ssh-beyond-admin") == [("web", "Critical")]
    firewall = [{"port": 2222, "from": "vpc"}, {"port": 9100, "from": "vpc"}]
    dc = fixture_env(tmp_path, "devnet", {"datacenter_hosts": {"dc-archive-1": {"firewall": firewall}}})
    assert fired(dc, "ssh-beyond-admin") == [("dc-archive-1", "Critical")]
    for env in shipped.values():
        assert fired(env, "ssh-beyond-admin") == []


def test_a_service_without_an_owner_is_minor_and_critical_in_production(
    tmp_path: Path, shipped: dict[str, Environment]
) -> None:
    dev = fixture_env(tmp_path, "devnet", {"services": {"web": {"owner": None, "circle_owner": None}}})
    assert fired(dev, "service-without-owner") == [("web", "Minor")]
    # Validation refuses this in a protected tier; the rule still says so of a model built around it.
    production = fixture_env(tmp_path, "mainnet")
    web = production.services["web"].model_copy(update={"circle_owner": None})
    bypassed = production.model_copy(update={"services": {**production.services, "web": web}})
    assert fired(bypassed, "service-without-owner") == [("web", "Critical")]
    for env in shipped.values():
        assert fired(env, "service-without-owner") == []


def test_a_service_without_alerts_or_uptime_check_is_flagged_by_what_it_lacks(tmp_path: Path) -> None:
    env = fixture_env(tmp_path, "devnet", {"services": {"monitoring": {"alerts": None}}})
    found = dict(fired(env, "service-without-alerts-or-uptime-check"))
    assert found == {"monitoring": "Major", "store": "Minor"}  # web has both


@pytest.mark.render
def test_drills_never_run_failed_or_overdue_are_found_from_the_recorded_state(tmp_path: Path) -> None:
    state = recorded()
    devnet, mainnet = fixture_env(tmp_path), fixture_env(tmp_path, "mainnet")
    assert fired(devnet, "drill-failed", state["devnet"]) == [("archive-etc on dc-archive-1", "Critical")]
    assert fired(devnet, "drill-overdue", state["devnet"]) == [("store-data on store-1", "Major")]
    assert fired(mainnet, "set-never-drilled", state["mainnet"]) == [("store-data on store-1", "Critical")]
    assert fired(mainnet, "drill-failed", state["mainnet"]) == []
    assert fired(mainnet, "drill-overdue", state["mainnet"]) == []
    assert fired(devnet, "drill-failed") == [], "no recorded state read: no measured finding"


@pytest.mark.render
def test_an_rto_target_below_the_measured_drill_is_found(tmp_path: Path) -> None:
    state = recorded()
    devnet = fixture_env(tmp_path)
    assert fired(devnet, "rto-below-measured", state["devnet"]) == [("store-data on store-1", "Major")]
    relaxed = fixture_env(tmp_path, "devnet", {"backup_sets": {"store-data": {"rto": "2h"}}})
    assert fired(relaxed, "rto-below-measured", state["devnet"]) == []


def test_findings_are_listed_worst_first() -> None:
    env = load_environments(SHIPPED)["mainnet"]
    severities = [finding.severity for finding in assess(env, None)]
    order = {"Critical": 0, "Major": 1, "Minor": 2}
    assert severities == sorted(severities, key=order.__getitem__)
    assert "Critical" in severities
