"""bench/scaling.py runs as shipped: its smallest size, as a script, prints a line per command with its
milliseconds per resource, and each command's renders (never timed here)."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import PROJECT

COMMANDS = ("preview", "audit", "parity", "report", "docs", "monitoring render")


def test_the_scaling_benchmark_prints_a_line_per_command_at_its_smallest_size() -> None:
    ran = subprocess.run(
        [sys.executable, str(PROJECT / "bench" / "scaling.py"), "--sizes", "10"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=PROJECT,
    )
    assert ran.returncode == 0, ran.stderr[-4000:]
    header, *rows = ran.stdout.splitlines()
    assert header.split() == ["command", "10", "svc", "ms/res"]
    for command, row in zip(COMMANDS, rows[: len(COMMANDS)], strict=True):
        assert re.fullmatch(rf"{command}\s+\d+\.\d{{3}}", row), row
    assert "exit codes preview 0, audit 0, parity 0, report 0, docs 0, monitoring render 0" in ran.stdout
    report = re.search(r"report: ([^;]*);", ran.stdout)
    assert report is not None, ran.stdout
    renders = sorted(report.group(1).split(", "))
    assert renders == ["mainnet 1", "qanet 1", "testnet 1"], "the fleet page renders each environment once"
