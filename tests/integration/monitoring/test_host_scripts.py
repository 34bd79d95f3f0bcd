"""The monitoring host's step, run for real against folders of a test: its configuration is checked by
promtool and amtool before anything replaces the files Prometheus and Alertmanager use, and a broken
file replaces nothing. systemd cannot run here, so `systemctl` is a stand-in that records its calls."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from seawall.components._scripts import Exporter, MonitoringServer, exporter_script, monitoring_script
from seawall.hostfiles import RenderedFile
from seawall.model import load_environment
from seawall.monitoring.files import exporter_settings, install_path, render_monitoring
from tests.conftest import patch_environment

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        any(
            shutil.which(tool) is None
            for tool in ("promtool", "amtool", "prometheus", "prometheus-alertmanager", "prometheus-node-exporter")
        ),
        reason="apt-get install prometheus prometheus-alertmanager prometheus-node-exporter",
    ),
]


def server(environments: Path, root: Path) -> MonitoringServer:
    patch_environment(
        environments,
        "mainnet",
        {"monitoring": {"prometheus_dir": str(root / "prometheus"), "alertmanager_dir": str(root / "alertmanager")}},
    )
    env = load_environment(environments, "mainnet")
    files = {
        relative: RenderedFile(install_path(env, relative), text) for relative, text in render_monitoring(env).items()
    }
    return MonitoringServer(
        prometheus=[f for relative, f in files.items() if relative.startswith("prometheus/")],
        alertmanager=[f for relative, f in files.items() if relative.startswith("alertmanager/")],
    )


def run(script: str, root: Path) -> subprocess.CompletedProcess[str]:
    shim = root / "bin"
    shim.mkdir(exist_ok=True)
    (shim / "systemctl").write_text(f'#!/bin/sh\necho "$@" >> {root / "systemctl.log"}\n')
    (shim / "systemctl").chmod(0o755)
    env = {**os.environ, "PATH": f"{shim}:{os.environ['PATH']}"}
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env, check=False, timeout=120)


def test_the_monitoring_step_installs_checked_files_and_reloads(environments: Path, tmp_path: Path) -> None:
    monitoring = server(environments, tmp_path)
    result = run(monitoring_script(monitoring), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    for rendered in (*monitoring.prometheus, *monitoring.alertmanager):
        assert Path(rendered.path).read_text() == rendered.content.rstrip("\n") + "\n"
    assert not list(tmp_path.rglob("*.staged"))
    assert (tmp_path / "systemctl.log").read_text().splitlines() == [
        "enable --quiet prometheus prometheus-alertmanager",
        "reload-or-restart prometheus prometheus-alertmanager",
    ]


def test_changed_settings_restart_the_servers_and_unchanged_ones_only_reload(
    environments: Path, tmp_path: Path
) -> None:
    monitoring = server(environments, tmp_path)
    settings = [RenderedFile(str(tmp_path / "default" / "prometheus"), 'ARGS="--web.listen-address=:9090"\n')]
    with_settings = MonitoringServer(monitoring.prometheus, monitoring.alertmanager, settings=settings)
    for _ in range(2):
        assert run(monitoring_script(with_settings), tmp_path).returncode == 0
    assert (tmp_path / "default" / "prometheus").read_text() == settings[0].content
    calls = (tmp_path / "systemctl.log").read_text().splitlines()
    assert [c for c in calls if not c.startswith("enable")] == [
        "restart prometheus prometheus-alertmanager",
        "reload-or-restart prometheus prometheus-alertmanager",
    ]


def test_a_broken_rule_replaces_nothing_and_reloads_nothing(environments: Path, tmp_path: Path) -> None:
    good = server(environments, tmp_path)
    assert run(monitoring_script(good), tmp_path).returncode == 0
    before = {path: path.read_text() for path in tmp_path.rglob("*.yml")}
    (tmp_path / "systemctl.log").unlink()
    broken = MonitoringServer(
        prometheus=[
            RenderedFile(f.path, f.content.replace("== 0", "== == 0", 1)) if "rules/" in f.path else f
            for f in good.prometheus
        ],
        alertmanager=good.alertmanager,
    )
    result = run(monitoring_script(broken), tmp_path)
    assert result.returncode != 0
    assert {path: path.read_text() for path in tmp_path.rglob("*.yml")} == before
    assert not (tmp_path / "systemctl.log").exists()


def test_node_exporter_gets_its_settings_and_textfile_folder(environments: Path, tmp_path: Path) -> None:
    env = load_environment(environments, "local")
    settings = tmp_path / "default" / "prometheus-node-exporter"
    textfiles = tmp_path / "metrics"
    exporter = Exporter(RenderedFile(str(settings), exporter_settings(env)), str(textfiles))
    result = run(exporter_script(exporter), tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"--collector.textfile.directory={env.backup.metrics_dir}" in settings.read_text()
    assert textfiles.is_dir()
    assert (tmp_path / "systemctl.log").read_text().splitlines() == [
        "enable --quiet prometheus-node-exporter",
        "restart prometheus-node-exporter",
    ]
    # Run again with the same settings and the exporter running: nothing is restarted.
    assert run(exporter_script(exporter), tmp_path).returncode == 0
    assert (tmp_path / "systemctl.log").read_text().splitlines()[2:] == [
        "enable --quiet prometheus-node-exporter",
        "is-active --quiet prometheus-node-exporter",
    ]
