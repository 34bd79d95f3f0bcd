"""The host scripts as pure text (``seawall.components._scripts``): read and run without Pulumi, apart from the
steps that carry them (the lab fleet runs the same scripts on booted hosts)."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

from seawall.components._scripts import (
    Delivery,
    FirewallRule,
    MonitoringServer,
    firewall_script,
    install_script,
    monitoring_script,
    write_files_script,
    write_stdin_script,
)
from seawall.hostfiles import CREDENTIALS_FILE, DIST, NFT_FILE, SEAWALL_HOME, STAGED, STAGING, RenderedFile
from tests.conftest import PROJECT

DELIVERY = Delivery("sha256:abc", "seawall-0.1.0-py3-none-any.whl", None, "a" * 64, "requirements.lock", "b" * 64)


def _index(lines: list[str], fragment: str) -> int:
    """The index of the first line holding the fragment."""
    return next(index for index, line in enumerate(lines) if fragment in line)


def test_the_scripts_load_without_pulumi() -> None:
    probe = (
        "import json, sys, seawall.components._scripts; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0].startswith('pulumi'))))"
    )
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=PROJECT)
    assert json.loads(shown.stdout.strip().splitlines()[-1]) == []


def test_the_install_checks_both_hashes_before_pip_installs_anything() -> None:
    lines = install_script(DELIVERY, user="deploy").splitlines()
    checked = _index(lines, "sha256sum --quiet --strict -c")
    assert f"{'a' * 64}  {DIST}/{DELIVERY.wheel_name}" in lines[checked]
    assert f"{'b' * 64}  {DIST}/requirements.lock" in lines[checked]
    assert _index(lines, f"/{STAGING}/") < checked < _index(lines, "--require-hashes")
    assert lines[-1] == f"{SEAWALL_HOME}/bin/seawall --version"


def test_roots_install_copies_nothing_from_a_home_folder() -> None:
    assert STAGING not in install_script(DELIVERY, user="root")


def test_the_units_are_written_before_the_timers_start_and_the_commands_read_the_timers_credentials() -> None:
    script = write_files_script(
        [RenderedFile("/etc/systemd/system/seawall-backup-db.timer", "[Timer]\n")],
        ["seawall-backup-db.timer"],
        [["/opt/seawall/bin/seawall", "backup", "init", "mainnet", "--set", "db"]],
    )
    lines = script.splitlines()
    assert lines[0] == "set -eu"
    assert _index(lines, "mv /etc/systemd/system/seawall-backup-db.timer.new") < _index(lines, "systemctl enable")
    assert lines[-1].startswith(f"systemd-run --wait --pipe --quiet --property=EnvironmentFile=-{CREDENTIALS_FILE} --")


def test_the_firewall_is_checked_and_the_deployer_admitted_before_it_replaces_the_old_one() -> None:
    rules = [FirewallRule("tcp", 22, ["203.0.113.0/24"]), FirewallRule("tcp", 9100, ["10.0.0.0/8"])]
    lines = firewall_script(rules, 22).splitlines()
    checked, admitted = _index(lines, f"nft -c -f {NFT_FILE}{STAGED}"), _index(lines, "python3")
    assert "203.0.113.0/24" in lines[admitted]
    assert "10.0.0.0/8" not in lines[admitted], "only what reaches SSH admits the deployer"
    assert checked < admitted < _index(lines, f"mv {NFT_FILE}{STAGED} {NFT_FILE}")


def test_the_monitoring_configuration_moves_in_only_after_promtool_and_amtool_passed() -> None:
    server = MonitoringServer(
        [RenderedFile("/etc/prometheus/prometheus.yml", "{}"), RenderedFile("/etc/prometheus/rules.yml", "{}")],
        [RenderedFile("/etc/alertmanager/alertmanager.yml", "{}")],
    )
    lines = monitoring_script(server).splitlines()
    last_check = _index(lines, "amtool check-config")
    assert _index(lines, "promtool check config") < _index(lines, "promtool check rules") < last_check
    assert all(index > last_check for index, line in enumerate(lines) if line.startswith("mv "))


def test_a_secret_from_standard_input_is_written_for_its_owner_alone(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "seawall" / "restic-password"
    script = write_stdin_script(str(path))
    done = subprocess.run(["sh", "-c", script], input="s3cr3t", capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert path.read_text() == "s3cr3t"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert "s3cr3t" not in script, "a secret travels on standard input, never in the step's command"
