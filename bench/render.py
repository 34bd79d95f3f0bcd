"""Offline render time against the bare Pulumi SDK, measured in the same run.

For synthetic environments of 10, 50 and 200 services, time `seawall.render.render(env)` and the time
the Pulumi SDK takes to register the same number of bare resources under its own mock engine, and print
the ratio (target: at most 1.3 at 200 services).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pulumi  # noqa: E402
import pulumi_digitalocean as do  # noqa: E402
from pulumi.runtime import mocks, settings  # noqa: E402
from pulumi.runtime.stack import run_pulumi_func  # noqa: E402
from pulumi.runtime.sync_await import _sync_await  # noqa: E402

from seawall.model import load_environment  # noqa: E402
from seawall.model.schema import Environment  # noqa: E402
from seawall.render import render  # noqa: E402

RUNS = 3


def synthetic_environment(services: int) -> Environment:
    """Given a number of services, return mainnet with that many copies of its api service."""
    mainnet = load_environment(ROOT / "environments", "mainnet")
    api = mainnet.services["api"].model_copy(update={"count": 1, "ports": []})
    fleet = {f"svc{index:03d}": api for index in range(services)}
    return mainnet.model_copy(update={"services": fleet, "datacenter_hosts": {}})


class BareMocks(mocks.Mocks):
    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict]:
        return f"{args.name}-id", args.inputs

    def call(self, args: mocks.MockCallArgs) -> tuple[dict, None]:
        return {}, None


def bare_sdk(count: int) -> float:
    """Given a count, return the seconds the SDK takes to register that many bare resources."""
    settings.ROOT.set(None)
    pulumi.runtime.set_mocks(BareMocks(), project="bench", stack="bench", preview=False)
    start = time.perf_counter()
    _sync_await(run_pulumi_func(lambda: [do.Tag(f"tag-{index}", name=f"tag-{index}") for index in range(count)]))
    elapsed = time.perf_counter() - start
    settings.ROOT.set(None)
    return elapsed


def ours(env: Environment) -> tuple[float, int]:
    """Given an environment, return the seconds our render takes and how many resources it recorded."""
    start = time.perf_counter()
    graph = render(env)
    return time.perf_counter() - start, len(graph.resources)


def main() -> None:
    """Measure and print one line per size."""
    print(f"{'services':>8} {'resources':>9} {'seawall s':>10} {'bare SDK s':>10} {'ratio':>6}")
    for services in (10, 50, 200):
        env = synthetic_environment(services)
        ours_times, count = zip(*(ours(env) for _ in range(RUNS)), strict=True)
        bare_times = [bare_sdk(count[0]) for _ in range(RUNS)]
        seawall, bare = statistics.median(ours_times), statistics.median(bare_times)
        print(f"{services:>8} {count[0]:>9} {seawall:>10.3f} {bare:>10.3f} {seawall / bare:>6.2f}")


if __name__ == "__main__":
    main()
