"""bench/render.py runs as shipped: its smallest size, as a script, prints its ratio line (never timed here)."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import PROJECT


def test_the_render_benchmark_prints_its_ratio_line_at_its_smallest_size() -> None:
    ran = subprocess.run(
        [sys.executable, str(PROJECT / "bench" / "render.py"), "--sizes", "10"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=PROJECT,
    )
    assert ran.returncode == 0, ran.stderr[-4000:]
    header, *rows = ran.stdout.splitlines()
    assert header.split() == ["services", "resources", "seawall", "s", "bare", "same", "s", "ratio", "tags", "s"]
    assert len(rows) == 1
    assert re.fullmatch(r"\s*10\s+\d+\s+\d+\.\d{3}\s+\d+\.\d{3}\s+\d+\.\d{2}\s+\d+\.\d{3}", rows[0]), rows[0]
