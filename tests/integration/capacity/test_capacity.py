"""``seawall capacity`` against a real Prometheus on 127.0.0.1 whose TSDB holds series with known truth:
a volume growing 2 GB a day, flat CPUs, a CPU rising half a point a day, a noisy memory series, and a host
with a five-day gap. The forecast dates are within 5% of the truth, the noisy series is flagged, and the
recommended sizes are the expected slugs."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import hint, patch_environment
from tests.integration.capacity.tsdb import DAY, GB, GIB, Host, noisy, openmetrics, prometheus_serving
from tests.unit.docs.fleet import ENVIRONMENTS

SEAWALL = Path(sys.executable).parent / "seawall"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("prometheus") is None or shutil.which("promtool") is None,
        reason="apt-get install prometheus",
    ),
]


def truth() -> list[Host]:
    # Days are negative in the past; 0 is now.
    return [
        Host("web-1", "web", cpu=lambda d: 30.0, memory=noisy(50.0, 25.0), disks={"/": (50 * GB, lambda d: 10 * GB)}),
        Host(
            "store-1", "store", cpu=lambda d: 20.0, memory=lambda d: 50.0, memory_total=4 * GIB,
            disks={"/": (80 * GB, lambda d: 10 * GB), "/var/lib/store": (200 * GB, lambda d: 96 * GB + 2 * GB * d)},
        ),
        Host(
            "monitoring-1", "monitoring", cpu=lambda d: 65.0 + 0.5 * d, memory=lambda d: 40.0,
            disks={"/": (50 * GB, lambda d: 20 * GB)}, gap=(-20.0, -15.0),
        ),
        Host("dc-archive-1", "datacenter", cpu=lambda d: 5.0, memory=lambda d: 20.0,
             disks={"/": (500 * GB, lambda d: 50 * GB)}),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, float]]:
    folder = tmp_path_factory.mktemp("capacity")
    environments = folder / "project" / "environments"
    shutil.copytree(ENVIRONMENTS, environments)
    patch_environment(environments, "devnet", {"services": {"store": {"volume": {"size_gb": 200}}}})
    end = time.time() - 120
    with prometheus_serving(folder, openmetrics("devnet", truth(), end, days=30, step=120)) as url:
        yield url, environments, end


def seawall(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [str(SEAWALL), *args]
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)


def capacity(environments: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return seawall("--environments", str(environments), "capacity", "devnet", "--prometheus", url, *extra)


def days_from(end: float, stamp: str | None) -> float:
    assert stamp is not None
    return (dt.datetime.fromisoformat(stamp).timestamp() - end) / DAY


def test_forecasts_match_the_truth_and_noise_is_flagged(served: tuple[str, Path, float]) -> None:
    url, environments, end = served
    result = capacity(environments, url, "--format", "json", "--window", "30d", "--horizon", "90d")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    found = {(r["host"], r["kind"]): r for r in report["resources"]}
    volume = found[("store-1", "disk_volume")]
    assert volume["slope_per_day"] == pytest.approx(2.0, rel=0.05)  # GB a day
    assert days_from(end, volume["crosses_threshold"]) == pytest.approx(32, rel=0.05)  # 160 of 200 GB (80%)
    assert days_from(end, volume["crosses_full"]) == pytest.approx(52, rel=0.05)
    cpu = found[("monitoring-1", "cpu")]
    assert days_from(end, cpu["crosses_threshold"]) == pytest.approx(50, rel=0.05)  # 90% at 0.5 a day from 65%
    assert days_from(end, cpu["crosses_full"]) == pytest.approx(70, rel=0.05)
    assert cpu["points"] < found[("store-1", "cpu")]["points"], "the gap is in the data"
    assert found[("web-1", "memory")]["noisy"] is True
    assert found[("web-1", "memory")]["crosses_threshold"] is None, "no forecast from a noisy series"
    assert found[("store-1", "cpu")]["noisy"] is False
    assert found[("store-1", "cpu")]["crosses_threshold"] is None  # flat at 20%
    assert found[("store-1", "cpu")]["p95"] == pytest.approx(20.0, abs=1.0)
    advice = {a["service"]: a for a in report["advice"]}
    assert advice["monitoring"]["recommended_size"] == "s-2vcpu-2gb"  # 110% of one vCPU by the horizon
    assert advice["monitoring"]["cost_change"] == pytest.approx(6.0)
    assert advice["store"]["recommended_size"] == "s-2vcpu-4gb"
    assert advice["store"]["recommended_volume_gb"] == 350  # 276 GB used at the horizon, under 80%: 345
    assert advice["web"]["recommended_size"] == "s-1vcpu-2gb"
    assert any("too noisy" in warning for warning in advice["web"]["warnings"])
    assert report["no_data"] == []


def test_propose_writes_a_patch_that_applies_and_validates(served: tuple[str, Path, float], tmp_path: Path) -> None:
    url, environments, _ = served
    project = tmp_path / "project"
    shutil.copytree(environments, project / "environments")
    result = capacity(project / "environments", url, "--propose")
    assert result.returncode == 0, result.stderr
    patch = project / "reports" / "capacity-devnet.patch"
    assert f"proposal: {patch}" in result.stdout
    text = patch.read_text()
    assert "+  monitoring: {size: s-2vcpu-2gb}" in text
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    subprocess.run(["git", "-C", str(project), "apply", str(patch)], check=True)
    validated = seawall("--environments", str(project / "environments"), "validate", "devnet")
    assert validated.returncode == 0, validated.stderr
    applied = (project / "environments" / "devnet.yaml").read_text()
    assert "s-2vcpu-2gb" in applied
    assert "size_gb: 350" in applied


def test_a_host_without_data_is_named_and_exit_1_and_an_unreachable_prometheus_is_exit_2(
    served: tuple[str, Path, float], tmp_path: Path
) -> None:
    url, environments, _ = served
    project = tmp_path / "environments"
    shutil.copytree(environments, project)
    patch_environment(project, "devnet", {"datacenter_hosts": {"dc-archive-2": {
        "address": "192.0.2.41", "ssh_user": "seawall", "roles": ["archive"],
        "firewall": [{"port": 22, "from": "admin"}, {"port": 9100, "from": "vpc"}]}}})  # fmt: skip
    result = capacity(project, url, "--format", "json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["no_data"] == ["dc-archive-2"]
    assert "no data: dc-archive-2 has no series" in result.stderr
    followed = seawall("--environments", str(project), *hint(result.stderr))  # is it scraped?
    assert followed.returncode == 0, followed.stderr
    written = tmp_path / "monitoring" / "devnet" / "prometheus" / "prometheus.yml"
    scraped = [c for job in yaml.safe_load(written.read_text())["scrape_configs"] for c in job["static_configs"]]
    assert [c["targets"] for c in scraped if c["labels"].get("host") == "dc-archive-2"] == [["192.0.2.41:9100"]]
    assert "(192.0.2.41:9100)" in result.stderr
    checked = subprocess.run(["promtool", "check", "config", str(written)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    unreachable = capacity(environments, "http://127.0.0.1:9")
    assert unreachable.returncode == 2
    assert "cannot reach Prometheus at http://127.0.0.1:9" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr
    wrong = capacity(environments, "ftp://127.0.0.1:9")
    assert wrong.returncode == 2
    assert "is not an http:// or https:// address" in wrong.stderr
