"""`seawall capacity`'s whole report against the bare range queries it issues, in the same run.

Fills a real Prometheus (Debian's, on 127.0.0.1) through `promtool tsdb create-blocks-from openmetrics`
with node_exporter's series of SERVICES services (one droplet each) over DAYS days at STEP-second
resolution (default: 200 services, 30 days, 1 minute), waits until Prometheus has compacted what it imported (two
equal timings of the bare queries in a row), then alternates, RUNS times each: the six range
queries alone (HTTP and JSON decoding), and Seawall's report (the same queries, then percentiles,
least-squares trends, crossing dates and sizing advice). Prints the medians and their ratio (target: at
most 1.5). Smaller: `bench/capacity.py 50 7 60`.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seawall.capacity.plan import build_report, measure, step_for  # noqa: E402
from seawall.capacity.prometheus import Deadline, queries  # noqa: E402
from seawall.model.schema import Environment  # noqa: E402
from seawall.sizes import size_table  # noqa: E402
from tests.integration.capacity.tsdb import GB, GIB, Host, noisy, openmetrics, prometheus_serving  # noqa: E402

RUNS = 5
SETTLE_RUNS = 12


def fleet_environment(services: int) -> Environment:
    """Given a number of services, return devnet with that many one-droplet services instead of its own."""
    from seawall.model import load_environment

    devnet = load_environment(ROOT / "environments", "devnet")
    template = devnet.services["api"].model_copy(update={"count": 1, "size": "s-2vcpu-4gb", "volume": None})
    fleet = {f"svc{index:03d}": template for index in range(services)}
    return devnet.model_copy(update={"services": fleet, "datacenter_hosts": {}})


def hosts(services: int) -> list[Host]:
    return [
        Host(f"svc{index:03d}-1", f"svc{index:03d}", cpu=lambda d, i=index: 20.0 + (i % 7) + 0.1 * d,
             memory=noisy(50.0, 3.0, seed=index), memory_total=4 * GIB,
             disks={"/": (80 * GB, lambda d: 20 * GB + 0.1 * GB * d)})
        for index in range(services)
    ]  # fmt: skip


def bare(url: str, env: Environment, now: dt.datetime, window: dt.timedelta) -> float:
    """The queries alone: each range query over HTTP, its body decoded."""
    start = time.perf_counter()
    end = now.timestamp()
    for query in queries(env.name).values():
        parameters = urllib.parse.urlencode(
            {
                "query": query,
                "start": end - window.total_seconds(),
                "end": end,
                "step": step_for(window.total_seconds()),
            }
        )
        with urllib.request.urlopen(f"{url}/api/v1/query_range?{parameters}", timeout=600) as response:
            json.loads(response.read())
    return time.perf_counter() - start


def seawall(url: str, env: Environment, now: dt.datetime, window: dt.timedelta) -> float:
    """Seawall's whole report: the same queries, then the forecasts and the advice."""
    start = time.perf_counter()
    report = build_report(
        env,
        measure(env, url, now, window, Deadline.after(3600, "the benchmark's hour")),
        size_table(),
        now,
        window,
        dt.timedelta(days=90),
        url,
    )
    assert not report.no_data, report.no_data
    return time.perf_counter() - start


def main() -> None:
    services, days, step = (int(arg) for arg in (sys.argv[1:] + ["200", "30", "60"][len(sys.argv) - 1 :])[:3])
    env = fleet_environment(services)
    window = dt.timedelta(days=days)
    with tempfile.TemporaryDirectory(prefix="seawall-bench-tsdb-") as folder:
        end = time.time() - 120
        began = time.perf_counter()
        with prometheus_serving(Path(folder), openmetrics("devnet", hosts(services), end, days, step)) as url:
            print(f"{services} services x {days} days every {step}s loaded in {time.perf_counter() - began:.0f}s")
            now = dt.datetime.now(dt.UTC)
            # Prometheus compacts the imported two-hour blocks after it starts: wait until the bare queries
            # take the same time twice in a row before measuring either.
            previous = bare(url, env, now, window)
            for _ in range(SETTLE_RUNS):
                current = bare(url, env, now, window)
                if abs(current - previous) <= 0.1 * previous:
                    break
                previous = current
            seawall(url, env, now, window)
            times: dict[str, list[float]] = {"bare": [], "seawall": []}
            for _ in range(RUNS):
                times["bare"].append(bare(url, env, now, window))
                times["seawall"].append(seawall(url, env, now, window))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"bare range queries: {medians['bare']:.2f}s (runs {', '.join(f'{t:.2f}' for t in times['bare'])})")
    print(f"seawall capacity:   {medians['seawall']:.2f}s (runs {', '.join(f'{t:.2f}' for t in times['seawall'])})")
    print(f"ratio: {medians['seawall'] / medians['bare']:.2f} (target: at most 1.5)")


if __name__ == "__main__":
    main()
