"""``bash .ci/capacity-demo [ENV] [OPTIONS]``: try ``seawall capacity`` on generated data. Thirty days of
node_exporter series with a real trend for every host of a shipped environment (devnet by default) are
written as OpenMetrics, turned into TSDB blocks by promtool, and served by a Prometheus on 127.0.0.1 (a free
port, a temporary folder); ``seawall capacity ENV --prometheus URL`` reports on them, and Prometheus is
stopped afterwards, also on Ctrl-C or SIGTERM. With three hosts or more, the last was added a day ago: its
series say "not enough data". Also run end to end by tests/integration/capacity/test_demo.py."""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from seawall.capacity.plan import hosts
from seawall.model import load_environment
from seawall.model.schema import Environment
from tests.integration.capacity.tsdb import GB, Host, openmetrics, prometheus_serving

ROOT = Path(__file__).resolve().parents[3]
DAYS = 30
STEP = 120  # seconds between generated samples: CPU is a rate over 5 minutes, which needs two


def daily(level: float, per_day: float, swing: float) -> Callable[[float], float]:
    """Given a level now, a change per day and a daily swing, return a series of days before now."""
    return lambda days: level + per_day * days + swing * math.sin(days * 2 * math.pi)


def demo_hosts(env: Environment) -> list[Host]:
    """Given an environment, return a truth for each of its hosts: CPU, memory and disks that grow."""
    pairs = hosts(env)
    truth = []
    for index, (service, host) in enumerate(pairs):
        disks = {"/": (50 * GB, daily(12 * GB + index * GB, 0.3 * GB, 0.05 * GB))}
        own = env.services.get(service)
        if own is not None and own.volume is not None:
            size = own.volume.size_gb * GB
            disks[own.volume.mount] = (size, daily(0.5 * size, 0.006 * size, 0.002 * size))
        new = len(pairs) >= 3 and index == len(pairs) - 1  # among several hosts, one is new
        truth.append(
            Host(
                host, service, cpu=daily(40.0 + 3 * index, 0.4, 3.0), memory=daily(45.0, 0.2, 2.0), disks=disks,
                gap=(-DAYS - 1.0, -1.0) if new else None,
            )
        )  # fmt: skip
    return truth


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    """Given ``[ENV] [capacity options]``, serve generated series, run the report on them, return its code."""
    env_name, options = (argv[0], argv[1:]) if argv and not argv[0].startswith("-") else ("devnet", argv)
    env = load_environment(ROOT / "environments", env_name)
    truth = demo_hosts(env)
    signal.signal(signal.SIGTERM, _stop)
    print(
        f"capacity demo: {DAYS} days of generated node_exporter series for {env_name}'s {len(truth)} hosts, "
        "imported by promtool into a Prometheus on 127.0.0.1 (a minute or two)",
        file=sys.stderr,
        flush=True,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="seawall-capacity-demo-") as folder:
            end = time.time() - 120
            with prometheus_serving(Path(folder), openmetrics(env_name, truth, end, DAYS, STEP)) as url:
                command = ["seawall", "capacity", env_name, "--prometheus", url, *options]
                print(f"== {' '.join(command)}", flush=True)
                code = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, check=False).returncode
            print(f"capacity demo: Prometheus at {url} stopped, its data removed", file=sys.stderr)
            return code
    except KeyboardInterrupt:
        print("capacity demo: interrupted; Prometheus stopped, its data removed", file=sys.stderr)
        return 130
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"capacity demo: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
