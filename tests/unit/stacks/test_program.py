"""The Pulumi program under Pulumi's own mock engine: real properties of what it declares."""

from __future__ import annotations

import json
from functools import cache

import pytest

from seawall.model import Environment, load_environment
from seawall.render import Graph, Program, render
from seawall.stacks.program import OFFLINE
from tests.conftest import SHIPPED

pytestmark = pytest.mark.render  # renders under the mock engine

DROPLET = "digitalocean:index/droplet:Droplet"
FIREWALL = "digitalocean:index/firewall:Firewall"
ALERT = "digitalocean:index/monitorAlert:MonitorAlert"


@cache
def environment(name: str) -> Environment:
    return load_environment(SHIPPED, name)


@cache
def graph(name: str) -> Graph:
    return render(environment(name), OFFLINE)


def of_type(rendered: Graph, token: str) -> list:
    return [record for record in rendered.resources.values() if record.type == token]


@pytest.mark.parametrize("name", ["devnet", "qanet", "testnet", "mainnet"])
def test_no_firewall_opens_ssh_to_the_world(name: str) -> None:
    firewalls = of_type(graph(name), FIREWALL)
    assert firewalls
    for firewall in firewalls:
        for rule in firewall.inputs["inboundRules"]:
            if rule["portRange"] in ("22", "5432"):
                assert "0.0.0.0/0" not in rule.get("sourceAddresses", [])
                assert "::/0" not in rule.get("sourceAddresses", [])


@pytest.mark.parametrize("name", ["devnet", "mainnet"])
def test_every_droplet_carries_environment_and_service_tags(name: str) -> None:
    droplets = of_type(graph(name), DROPLET)
    assert len(droplets) == sum(service.count for service in environment(name).services.values())
    for droplet in droplets:
        service = droplet.parent
        assert f"env:{name}" in droplet.inputs["tags"]
        assert f"service:{service}" in droplet.inputs["tags"]
        assert droplet.inputs["monitoring"] is True


def test_mainnet_droplets_have_backups_with_a_policy() -> None:
    for droplet in of_type(graph("mainnet"), DROPLET):
        assert droplet.inputs["backups"] is True
        policy = environment("mainnet").services[droplet.parent].droplet_backups
        assert policy is not None
        assert droplet.inputs["backupPolicy"] == {"hour": policy.hour, "plan": policy.plan, "weekday": policy.weekday}


def test_firewalls_allow_exactly_the_declared_ports() -> None:
    env = environment("mainnet")
    for firewall in of_type(graph("mainnet"), FIREWALL):
        declared = {(p.protocol, p.port) for p in env.services[firewall.parent].ports}
        rendered = {(rule["protocol"], int(rule["portRange"])) for rule in firewall.inputs["inboundRules"]}
        assert rendered == declared
        assert firewall.inputs["tags"] == [f"mainnet-{firewall.parent}"]
    db = graph("mainnet").resources["db-firewall"].inputs["inboundRules"]
    (postgres,) = [rule for rule in db if rule["portRange"] == "5432"]
    assert postgres["sourceTags"] == ["mainnet-api", "mainnet-indexer"]


def test_alert_thresholds_and_channels_follow_the_model() -> None:
    env = environment("mainnet")
    # The droplet alerts (a load balancer's own alert is its component's: tests/unit/components/test_load_balancer.py).
    alerts = [alert for alert in of_type(graph("mainnet"), ALERT) if alert.parent.endswith("-monitoring")]
    assert len(alerts) == 3 * sum(1 for s in env.services.values() if s.alerts)
    for alert in alerts:
        service_name = alert.parent.removesuffix("-monitoring")
        metric = alert.name.rsplit("-", 1)[-1]
        thresholds = env.services[service_name].alerts
        assert thresholds is not None
        assert alert.inputs["value"] == getattr(thresholds, metric)
        severity = getattr(env.alerting, metric)
        channels = [env.alerting.channels[c] for c in env.alerting.routes[severity].channels]
        assert alert.inputs["alerts"]["emails"] == [c.email for c in channels if c.email]
        assert [s["channel"] for s in alert.inputs["alerts"].get("slacks", [])] == [
            c.slack for c in channels if c.slack
        ]
        assert alert.inputs["description"].startswith(f"[{severity}]")


def test_public_https_services_have_an_uptime_check() -> None:
    rendered = graph("mainnet")
    check = rendered.resources["api-monitoring-uptime"]
    assert check.inputs["target"] == "https://api.mainnet.example.net/healthz"
    assert {
        r.inputs["type"]
        for r in sorted(rendered.resources.values(), key=lambda r: r.name)
        if r.parent == "api-monitoring" and r.name.startswith("api-monitoring-uptime-")
    } == {
        "down",
        "latency",
        "ssl_expiry",
    }
    assert "db-monitoring-uptime" not in rendered.resources


def test_the_bucket_is_private_versioned_with_lifecycle_rules() -> None:
    bucket = graph("mainnet").resources["backup-storage-bucket"].inputs
    assert bucket["acl"] == "private"
    assert bucket["versioning"] == {"enabled": True}
    rules = {rule["id"]: rule for rule in bucket["lifecycleRules"]}
    assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"]["days"] == 30
    assert rules["abort-incomplete-uploads"]["abortIncompleteMultipartUploadDays"] == 7
    assert bucket["name"] == "seawall-mainnet-backups"


def test_the_project_maps_the_tier_and_holds_every_droplet_and_volume() -> None:
    for name, expected in [("devnet", "Development"), ("qanet", "Staging"), ("mainnet", "Production")]:
        rendered = graph(name)
        project = rendered.resources["project-project"].inputs
        assert project["environment"] == expected
        droplets = [{"ref": f"{d.name}.dropletUrn"} for d in of_type(rendered, DROPLET)]
        volumes = [{"ref": f"{v.name}.volumeUrn"} for v in of_type(rendered, "digitalocean:index/volume:Volume")]
        held = [item for item in project["resources"] if item in droplets + volumes]
        assert sorted(held, key=str) == sorted(droplets + volumes, key=str)


def test_datacenter_hosts_get_commands_that_rerun_when_content_changes() -> None:
    rendered = graph("mainnet")
    units = rendered.resources["dc-build-1-backup-units"].inputs
    assert "seawall-backup-flists.timer" in units["create"]
    assert units["connection"]["host"] == "192.0.2.11"
    assert units["connection"]["privateKey"] == "[secret]"
    firewall = rendered.resources["dc-build-1-firewall"].inputs["create"]
    assert "tcp dport 22 accept" in firewall
    assert "policy drop" in firewall
    assert rendered.resources["dc-build-1-restic-password"].inputs["stdin"] == "[secret]"
    env = environment("mainnet")
    changed = env.model_copy(
        update={
            "backup_sets": {
                **env.backup_sets,
                "flists": env.backup_sets["flists"].model_copy(update={"schedule": "*-*-* 05:00:00"}),
            }
        }
    )
    again = render(changed, OFFLINE).resources
    assert again["dc-build-1-backup-units"].inputs["triggers"] != units["triggers"]
    assert (
        again["dc-build-1-firewall"].inputs["triggers"] == rendered.resources["dc-build-1-firewall"].inputs["triggers"]
    )


def test_rendering_is_deterministic_and_repeatable_in_one_process() -> None:
    first = render(environment("testnet"), OFFLINE).to_json()
    render(environment("devnet"), OFFLINE)
    second = render(environment("testnet"), OFFLINE).to_json()
    assert first == second
    data = json.loads(first)
    assert all("testnet" not in resource["name"] for resource in data["resources"])


def test_outputs_hold_ips_dns_names_bucket_and_versions() -> None:
    outputs = graph("mainnet").outputs
    assert len(outputs["droplet_ips"]["api"]) == 3
    assert outputs["dns_names"]["api"][0] == "api.mainnet.example.net"
    assert outputs["bucket_name"] == "seawall-mainnet-backups"
    assert outputs["versions"]["api"] == "1.8.1"
    assert len(outputs["model_hash"]) == 16


def test_no_secret_value_reaches_the_graph() -> None:
    text = graph("mainnet").to_json()
    assert "offline-placeholder" not in text


def test_everything_that_targets_a_service_tag_waits_for_the_tag() -> None:
    rendered = graph("mainnet")
    for name in ("api-1", "api-firewall", "api-monitoring-cpu", "api-monitoring-disk", "api-monitoring-memory"):
        assert "api-tag" in rendered.dependencies[name], name


def test_only_the_vault_gets_the_copys_password_and_key() -> None:
    from seawall.stacks.program import SECRET_CONFIG, VAULT_CONFIG, build

    secrets = {key: f"value-of-{key}-0123456789" for key in (*SECRET_CONFIG, *VAULT_CONFIG)}
    env = environment("mainnet")
    assert env.backup.copy_ is not None
    rendered = render(env, Program(build, SECRET_CONFIG + VAULT_CONFIG), secrets)
    vault = env.backup.copy_.vault
    held = {
        name: json.dumps(record.inputs)
        for name, record in rendered.resources.items()
        if record.type.startswith("command:remote")
    }
    for key in VAULT_CONFIG:
        holders = sorted(name for name, text in held.items() if secrets[key] in text)
        assert holders, key
        assert all(name.startswith(f"{vault}-") for name in holders), (key, holders)
    copy_password = rendered.resources[f"{vault}-copy-password"].inputs
    assert copy_password["stdin"] == secrets["copyResticPassword"]
    assert env.backup.copy_.password_file in copy_password["create"]
    credentials = rendered.resources[f"{vault}-vault-credentials"].inputs["stdin"]
    assert f"VAULT_ACCESS_KEY_ID={secrets['vaultAccessKeyId']}" in credentials
    # Every backup host gets the primary's key; none of them the vault's, in any file, unit or command.
    backup_hosts = {host for name in env.backup_sets for host in env.hosts_of_set(name)}
    assert vault not in backup_hosts  # the vault backs up nothing: no backup host's key is the vault's
    assert backup_hosts
    for name, text in held.items():
        if any(name.startswith(f"{host}-") for host in backup_hosts):
            assert secrets["resticPassword"] in text or "restic-password" not in name, name
            assert secrets["vaultSecretAccessKey"] not in text, name
            assert secrets["copyResticPassword"] not in text, name
    units = rendered.resources[f"{vault}-backup-units"].inputs["create"]
    assert "seawall-copy.timer" in units
    assert "EnvironmentFile=-/etc/seawall/vault.env" in units


def test_the_copys_bucket_is_made_by_the_program_only_where_it_is_spaces(tmp_path) -> None:
    import shutil

    from tests.conftest import patch_environment

    assert not [name for name in graph("mainnet").resources if name.startswith("copy-storage")]  # the DC's storage
    shutil.copytree(SHIPPED, tmp_path / "environments")
    spaces = {"endpoint": "https://fra1.digitaloceanspaces.com", "region": "fra1"}
    patch_environment(tmp_path / "environments", "mainnet", {"backup": {"copy": {"repository": spaces}}})
    env = load_environment(tmp_path / "environments", "mainnet")
    bucket = render(env, OFFLINE).resources["copy-storage-bucket"].inputs
    assert (bucket["name"], bucket["region"]) == ("seawall-mainnet-copy", "fra1")
    assert bucket["versioning"]["enabled"] is True
    (kept,) = [rule for rule in bucket["lifecycleRules"] if "noncurrentVersionExpiration" in rule]
    assert kept["noncurrentVersionExpiration"]["days"] >= 24 * 31  # the copy's keep_monthly: 24
