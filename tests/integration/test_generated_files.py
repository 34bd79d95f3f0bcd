"""What Seawall generates for hosts passes the real validators: cloud-init schema, systemd-analyze."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seawall.backup.schedules import render_bootstrap, render_units
from seawall.model import load_environment
from tests.conftest import SHIPPED, patch_environment

CLOUD_INIT = shutil.which("cloud-init")
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
SEAWALL = str(Path(sys.executable).with_name("seawall"))
pytestmark = pytest.mark.integration


@pytest.mark.skipif(CLOUD_INIT is None, reason="cloud-init is not installed (apt-get install cloud-init)")
@pytest.mark.parametrize(("env_name", "host"), [("mainnet", "db-1"), ("mainnet", "api-3"), ("devnet", "faucet-1")])
def test_droplet_user_data_passes_the_cloud_init_schema(tmp_path: Path, env_name: str, host: str) -> None:
    env = load_environment(SHIPPED, env_name)
    service = env.services[host.rsplit("-", 1)[0]]
    volume = (f"{env_name}-{host}", service.volume.mount, service.volume.filesystem) if service.volume else None
    path = tmp_path / "user-data"
    path.write_text(render_bootstrap(volume))
    result = subprocess.run(
        [CLOUD_INIT or "cloud-init", "schema", "--config-file", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid cloud-config" in result.stdout


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed (apt-get install systemd)")
def test_backup_and_drill_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    env = load_environment(SHIPPED, "mainnet")
    files = render_units(env, "db-1", "postgres", seawall_bin=SEAWALL)
    for rendered in files:
        (tmp_path / Path(rendered.path).name).write_text(rendered.content)
    paths = [str(tmp_path / Path(f.path).name) for f in files]
    result = subprocess.run(
        [SYSTEMD_ANALYZE or "systemd-analyze", "verify", "--man=no", *paths],
        capture_output=True,
        text=True,
        check=False,
    )
    problems = [line for line in result.stderr.splitlines() if tmp_path.name in line or "seawall-" in line]
    assert result.returncode == 0, result.stderr
    assert problems == []
    timer = (tmp_path / "seawall-backup-postgres.timer").read_text()
    assert "OnCalendar=*-*-* 00/6:00:00" in timer
    assert "Persistent=true" in timer
    assert "RandomizedDelaySec=900" in timer
    drill = (tmp_path / "seawall-drill-postgres.timer").read_text()
    assert "OnCalendar=Sun *-*-* 06:00:00" in drill
    prune = (tmp_path / "seawall-prune-postgres.timer").read_text()
    assert "OnCalendar=Sun *-*-* 03:00:00" in prune
    assert "backup prune mainnet --set postgres" in (tmp_path / "seawall-prune-postgres.service").read_text()


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed (apt-get install systemd)")
def test_a_broken_unit_is_caught_by_the_same_check(tmp_path: Path) -> None:
    env = load_environment(SHIPPED, "mainnet")
    service = render_units(env, "db-1", "postgres", seawall_bin=SEAWALL)[0]
    broken = tmp_path / "seawall-backup-postgres.service"
    broken.write_text(service.content.replace("Type=oneshot", "Type=sometimes"))
    result = subprocess.run(
        [SYSTEMD_ANALYZE or "systemd-analyze", "verify", "--man=no", str(broken)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Failed to parse service type" in result.stderr


@pytest.mark.skipif(CLOUD_INIT is None, reason="cloud-init is not installed (apt-get install cloud-init)")
def test_the_schema_check_rejects_a_broken_document(tmp_path: Path) -> None:
    path = tmp_path / "user-data"
    path.write_text("#cloud-config\npackages: 5\nruncmd: {a: 1}\n")
    result = subprocess.run(
        [CLOUD_INIT or "cloud-init", "schema", "--config-file", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0


def test_the_environment_file_a_host_keeps_is_a_valid_environment(tmp_path: Path) -> None:
    import yaml

    from seawall.backup.schedules import host_environment

    env = load_environment(SHIPPED, "mainnet")
    (tmp_path / "mainnet.yaml").write_text(yaml.safe_dump(host_environment(env, "db-1")))
    on_host = load_environment(tmp_path, "mainnet")
    assert list(on_host.backup_sets) == ["postgres"]
    assert on_host.backup_sets["postgres"] == env.backup_sets["postgres"].model_copy(update={"prune_host": "db-1"})
    assert on_host.repository_for("postgres") == env.repository_for("postgres")
    assert on_host.hosts_of_set("postgres") == ["db-1"]


def test_a_host_file_is_judged_by_its_environments_protected_tiers(tmp_path: Path) -> None:
    import yaml

    from seawall.backup.schedules import host_environment

    folder = tmp_path / "environments"
    shutil.copytree(SHIPPED, folder)
    patch_environment(
        folder, "mainnet", {"incidents": {"github_repository": None}, "release": {"protected_tiers": ["staging"]}}
    )
    env = load_environment(folder, "mainnet")  # production is not protected here: no escalation repository needed
    (tmp_path / "mainnet.yaml").write_text(yaml.safe_dump(host_environment(env, "db-1")))
    assert load_environment(tmp_path, "mainnet").release.protected_tiers == ["staging"]


NFT = shutil.which("nft")


@pytest.mark.skipif(NFT is None, reason="nft is not installed (apt-get install nftables)")
def test_the_data_center_firewall_passes_nft_check_and_is_loaded_at_boot_by_its_unit(tmp_path: Path) -> None:
    from seawall.components._scripts import FirewallRule, firewall_files

    ruleset, unit = firewall_files(
        [FirewallRule("tcp", 22, ["203.0.113.0/24", "2001:db8::/32"]), FirewallRule("tcp", 9100, ["10.20.0.0/16"])]
    )
    path = tmp_path / "seawall.nft"
    path.write_text(ruleset.content)
    checked = subprocess.run([NFT or "nft", "-c", "-f", str(path)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    broken = tmp_path / "broken.nft"
    broken.write_text(ruleset.content.replace("dport 22", "dport twenty-two"))
    assert subprocess.run([NFT or "nft", "-c", "-f", str(broken)], capture_output=True, check=False).returncode != 0
    assert ruleset.path == "/etc/nftables.d/seawall.nft"
    assert "ExecStart=/usr/sbin/nft -f /etc/nftables.d/seawall.nft" in unit.content
    assert "WantedBy=sysinit.target" in unit.content
    if SYSTEMD_ANALYZE is not None:
        (tmp_path / "seawall-firewall.service").write_text(unit.content)
        verify = subprocess.run(
            [SYSTEMD_ANALYZE, "verify", "--man=no", str(tmp_path / "seawall-firewall.service")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert [line for line in verify.stderr.splitlines() if "seawall-firewall" in line] == []


def test_the_cron_alternative_runs_what_the_timers_run_with_credentials_and_host() -> None:
    from seawall.backup.schedules import render_cron

    env = load_environment(SHIPPED, "mainnet")
    lines = [line for line in render_cron(env, "db-1").splitlines() if line and not line.startswith("#")]
    jobs = [line for line in lines if " root " in line]
    times = ["0 0,6,12,18 * * *", "0 6 * * 0", "0 3 * * 0", "0 * * * *"]
    assert [job.split(" root ", 1)[0] for job in jobs] == times
    commands = [job.split(" root ", 1)[1] for job in jobs]
    assert all(". /etc/seawall/credentials.env" in command for command in commands)
    assert "backup run mainnet --set postgres --host db-1" in commands[0]
    assert "drill mainnet --set postgres --host db-1" in commands[1]
    assert "backup prune mainnet --set postgres" in commands[2]
    assert "host verify mainnet --host db-1" in commands[3]  # the hourly drift check (drift.schedule)
    for command in commands:
        assert subprocess.run(["sh", "-n", "-c", command], check=False).returncode == 0
    api = render_cron(env, "api-2")
    assert "backup prune" not in api  # the set's prune job runs on one host only (api-1)
    assert "backup prune mainnet --set api-config" in render_cron(env, "api-1")


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed (apt-get install systemd)")
@pytest.mark.parametrize("env_name", ["devnet", "mainnet"])
def test_one_host_per_environment_runs_the_scheduled_deep_status(tmp_path: Path, env_name: str) -> None:
    from seawall.backup.schedules import render_cron, render_host_files, timer_names

    env = load_environment(SHIPPED, env_name)
    hosts = sorted({host for name in env.backup_sets for host in env.hosts_of_set(name)})
    running = [host for host in hosts if "seawall-status.timer" in timer_names(env, host)]
    assert running == [env.status_host()]
    (chosen,) = running
    files = [f for f in render_host_files(env, chosen, seawall_bin=SEAWALL) if "seawall-status." in f.path]
    for rendered in files:
        (tmp_path / Path(rendered.path).name).write_text(rendered.content)
    paths = [str(tmp_path / Path(f.path).name) for f in files]
    assert len(paths) == 2
    verify = [SYSTEMD_ANALYZE or "systemd-analyze", "verify", "--man=no", *paths]
    result = subprocess.run(verify, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    service = (tmp_path / "seawall-status.service").read_text()
    assert f"backup status {env_name} --deep --metrics" in service
    assert "EnvironmentFile=-/etc/seawall/credentials.env" in service
    assert "OnCalendar=*-*-* 05:30:00" in (tmp_path / "seawall-status.timer").read_text()
    assert f"backup status {env_name} --deep --metrics" in render_cron(env, chosen)
    assert all("backup status" not in render_cron(env, host) for host in hosts if host != chosen)


def test_the_status_hosts_file_holds_the_whole_fleet_and_the_others_stay_their_own(tmp_path: Path) -> None:
    import yaml

    from seawall.backup.schedules import host_environment

    env = load_environment(SHIPPED, "mainnet")
    watcher = env.status_host()
    assert watcher is not None
    (tmp_path / "mainnet.yaml").write_text(yaml.safe_dump(host_environment(env, watcher)))
    on_status_host = load_environment(tmp_path, "mainnet")
    assert sorted(on_status_host.backup_sets) == sorted(env.backup_sets)
    for name in env.backup_sets:
        assert sorted(on_status_host.hosts_of_set(name)) == sorted(env.hosts_of_set(name))
        assert on_status_host.repository_for(name) == env.repository_for(name)
    # Another host's file names only that host, even when the model names the status host explicitly.
    named = env.model_copy(update={"backup": env.backup.model_copy(update={"status_host": watcher})})
    (tmp_path / "mainnet.yaml").write_text(yaml.safe_dump(host_environment(named, "db-1")))
    assert load_environment(tmp_path, "mainnet").hosts_of_set("postgres") == ["db-1"]


@pytest.mark.parametrize("env_name", ["devnet", "mainnet", "local"])
def test_every_hosts_file_validates_and_names_the_models_prune_host_wherever_it_names_that_host(
    tmp_path: Path, env_name: str
) -> None:
    import yaml

    from seawall.backup.schedules import host_environment

    env = load_environment(SHIPPED, env_name)
    hosts = sorted({host for name in env.backup_sets for host in env.hosts_of_set(name)} | {env.vault_host() or ""})
    for host in filter(None, hosts):
        (tmp_path / f"{env_name}.yaml").write_text(yaml.safe_dump(host_environment(env, host)))
        on_host = load_environment(tmp_path, env_name)  # validates, rules included
        assert on_host.backup.copy_ == env.backup.copy_, host  # every host's prune keeps back what the copy lacks
        for name in on_host.backup_sets:
            if env.prune_host(name) in on_host.hosts_of_set(name):
                # The file lists hosts sorted: its "first host of the set" is not the model's, the prune host is.
                assert on_host.prune_host(name) == env.prune_host(name), (host, name)
    vault = env.vault_host()
    assert vault is not None
    (tmp_path / f"{env_name}.yaml").write_text(yaml.safe_dump(host_environment(env, vault)))
    on_vault = load_environment(tmp_path, env_name)
    assert {name: on_vault.prune_host(name) for name in env.backup_sets} == {
        name: env.prune_host(name) for name in env.backup_sets
    }
