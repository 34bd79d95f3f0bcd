"""How long `seawall --help` takes, against bare Python start-up and an `import pulumi` in the same run.

Prints medians and ratios; the point is that the CLI does not pay for Pulumi or boto3 until a command
needs them.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 7


def median_seconds(argv: list[str]) -> float:
    """Given a command, return the median wall time of RUNS runs."""
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Measure and print."""
    bare = median_seconds([sys.executable, "-c", "pass"])
    pulumi = median_seconds([sys.executable, "-c", "import pulumi, pulumi_digitalocean, boto3"])
    seawall = median_seconds([sys.executable, "-m", "seawall", "--help"])
    print(f"python -c pass                     {bare * 1000:8.1f} ms")
    print(f"import pulumi + digitalocean+boto3 {pulumi * 1000:8.1f} ms")
    print(f"seawall --help                     {seawall * 1000:8.1f} ms")
    print(f"ratio seawall --help / bare python  {seawall / bare:6.2f}x")
    print(f"ratio seawall --help / heavy import {seawall / pulumi:6.2f}x")


if __name__ == "__main__":
    main()
