"""`seawall parity --chain` (and `--chain --all`) against the same command in one process, in the same run.

The chain renders each of the four shipped environments once; with more than one core free it renders
them in render processes (``seawall.render.render_all``). The baseline is the same command with
``SEAWALL_RENDER_JOBS=1``: every render in the command's own process, one after another, as before. Each
side runs RUNS times, alternating, as a fresh process (start-up included); the medians and their ratio are
printed (target: at most 0.7 on two cores), with the renders each command makes (counted by the renderer)
and the load average before and after, since the ratio says little on a machine that is busy elsewhere.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEAWALL = str(Path(sys.executable).with_name("seawall"))
RUNS = 5
ENVIRONMENTS = str(ROOT / "environments")


def timed(argv: list[str], jobs: str | None) -> float:
    """Run a command as a fresh process and return its wall time in seconds."""
    env = {k: v for k, v in os.environ.items() if k != "SEAWALL_RENDER_JOBS"}
    if jobs is not None:
        env["SEAWALL_RENDER_JOBS"] = jobs
    start = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=True, env=env)
    return time.perf_counter() - start


def renders(everything: bool) -> list[str]:
    """Return the environments the chain's comparison renders (``--all``: with attribution)."""
    from seawall.model import load_environments, load_parity_rules
    from seawall.parity import compare_chain
    from seawall.stacks.offline import offline_renderer

    folder = Path(ENVIRONMENTS)
    envs = load_environments(folder, ["devnet", "qanet", "testnet", "mainnet"])
    renderer = offline_renderer()
    compare_chain(list(envs.values()), load_parity_rules(folder), renderer, attribute=everything)
    return renderer.rendered


def main() -> None:
    """Measure and print."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"cores: {cores}, load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for options in ([], ["--all"]):
        argv = [SEAWALL, "--environments", ENVIRONMENTS, "parity", "--chain", *options]
        times: dict[str, list[float]] = {"processes": [], "one process": []}
        for _ in range(RUNS):
            times["processes"].append(timed(argv, None))
            times["one process"].append(timed(argv, "1"))
        parallel, serial = (statistics.median(times[k]) for k in ("processes", "one process"))
        best = min(times["processes"]) / min(times["one process"])
        name = " ".join(["parity --chain", *options])
        ratio = parallel / serial
        print(f"{name}: {parallel:.2f}s / {serial:.2f}s in one process = {ratio:.2f} (best of {RUNS}: {best:.2f})")
    print(f"renders: parity --chain {len(renders(False))}, --chain --all {len(renders(True))} (4 environments)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; target: at most 0.7 on two cores")


if __name__ == "__main__":
    main()
