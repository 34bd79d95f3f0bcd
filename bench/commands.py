"""Whole commands against the renders they cannot avoid, measured in the same run.

- `seawall guard mainnet` against `seawall preview mainnet` (target: at most 2): the guard renders
  mainnet and testnet (at once, in render processes, when two cores are free).
- `seawall parity --chain` against a process that loads the four environments and renders each once
  (target: at most 1.5).

Each is run RUNS times, alternating, as a fresh process (start-up included on both sides); the medians
and ratios are printed, with the number of renders each command makes (counted in-process).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEAWALL = str(Path(sys.executable).with_name("seawall"))
RUNS = 3
ENVIRONMENTS = str(ROOT / "environments")
RENDER_FOUR = (
    "from seawall.model import load_environments\n"
    "from seawall.render import render\n"
    "from seawall.stacks.program import OFFLINE\n"
    "from pathlib import Path\n"
    f"envs = load_environments(Path({ENVIRONMENTS!r}), ['devnet', 'qanet', 'testnet', 'mainnet'])\n"
    "for env in envs.values():\n"
    "    render(env, OFFLINE)\n"
)


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=False)
    return time.perf_counter() - start


def renders_of(action: str) -> int:
    """Count the renders one command's work makes (``Renderer.rendered``, in this process or its render
    processes)."""
    from seawall import parity
    from seawall.deploy import verdicts_for
    from seawall.guard import DeployRequest
    from seawall.model import load_environments, load_parity_rules
    from seawall.stacks.offline import offline_renderer

    folder = Path(ENVIRONMENTS)
    envs = load_environments(folder, ["devnet", "qanet", "testnet", "mainnet"])
    rules, renderer = load_parity_rules(folder), offline_renderer()
    if action == "guard":
        import datetime as dt

        request = DeployRequest("mainnet", dt.datetime.now(dt.UTC))
        verdicts_for(envs["mainnet"], envs["testnet"], request, ROOT / "ledger", None, rules, renderer)
    else:
        # As `seawall parity --chain` runs by default (allowed resource rows hidden), and with --all.
        parity.compare_chain(list(envs.values()), rules, renderer, attribute=action == "chain --all")
    return len(renderer.rendered)


def main() -> None:
    pairs = {
        "guard mainnet / preview mainnet": (
            [SEAWALL, "--environments", ENVIRONMENTS, "guard", "mainnet", "--format", "json"],
            [SEAWALL, "--environments", ENVIRONMENTS, "preview", "mainnet", "--format", "json"],
        ),
        "parity --chain / four renders": (
            [SEAWALL, "--environments", ENVIRONMENTS, "parity", "--chain"],
            [sys.executable, "-c", RENDER_FOUR],
        ),
    }
    for name, (command, baseline) in pairs.items():
        times: dict[str, list[float]] = {"command": [], "baseline": []}
        for _ in range(RUNS):
            times["command"].append(timed(command))
            times["baseline"].append(timed(baseline))
        command_s, baseline_s = (statistics.median(times[k]) for k in ("command", "baseline"))
        print(f"{name}: {command_s:.2f}s / {baseline_s:.2f}s = {command_s / baseline_s:.2f}")
    guard, chain, every = renders_of("guard"), renders_of("chain"), renders_of("chain --all")
    print(f"renders: guard mainnet {guard} (preview: 1), parity --chain {chain} (--all: {every}; 4 environments)")
    print("targets: guard at most 2x preview; parity --chain at most 1.5x four renders")


if __name__ == "__main__":
    main()
