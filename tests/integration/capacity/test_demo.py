"""README's capacity command, end to end: ``bash .ci/capacity-demo`` generates 30 days of series with a
trend, serves them from a real Prometheus on 127.0.0.1, prints the report (units, crossing dates, the
columns' legend, a new host's "not enough data (N of M samples, K needed)") and stops Prometheus."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from seawall.cli.capacity import RESOURCE_LEGEND

ROOT = Path(__file__).resolve().parents[3]
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("prometheus") is None or shutil.which("promtool") is None,
        reason="apt-get install prometheus",
    ),
]


def test_the_demo_reports_trends_with_units_and_crossing_dates_then_stops_prometheus() -> None:
    environment = os.environ | {"SEAWALL_PYTHON": sys.executable}
    argv = ["bash", ".ci/capacity-demo", "devnet", "--format", "markdown"]
    result = subprocess.run(argv, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    rows = {
        tuple(cells[:2]): cells
        for line in result.stdout.splitlines()
        if line.startswith("| ") and len(cells := [cell.strip() for cell in line.strip("|").split("|")]) == 10
    }
    volume = rows[("indexer-1", "disk_volume")]
    assert volume[6] == "+0.300 GB/day"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT.*", volume[7]), "a date the volume crosses its threshold"
    assert volume[9].startswith("r² ")
    assert rows[("api-1", "cpu")][2].endswith(" %")
    assert rows[("api-1", "network_receive")][2].endswith(" Mbit/s")
    short = r"not enough data \(\d+ of \d+ samples, \d+ needed\)"
    new = [host for (host, kind), cells in rows.items() if kind == "cpu" and re.fullmatch(short, cells[9])]
    assert len(new) == 1, rows  # the demo's one new host (the last of the environment's hosts)
    assert RESOURCE_LEGEND in result.stdout
    url = re.search(r"--prometheus (http://127\.0\.0\.1:\d+)", result.stdout)
    assert url is not None
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url.group(1)}/-/ready", timeout=2)


def test_without_promtool_the_demo_says_setup_installs_it(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname"):  # the script's own tools, and no promtool or prometheus
        (bin_dir / tool).symlink_to(shutil.which(tool) or f"/bin/{tool}")
    environment = os.environ | {"PATH": str(bin_dir)}
    result = subprocess.run(
        [str(bin_dir / "bash"), ".ci/capacity-demo"], cwd=ROOT, env=environment, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert result.returncode == 2
    missing = "capacity demo: promtool is missing; `bash .ci/setup` installs it (Debian's prometheus package)\n"
    assert result.stderr == missing
