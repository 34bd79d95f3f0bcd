"""Each command's time per resource at 10, 200 and 1000 services, measured in the same run (#36).

For each size, a synthetic project: the shipped environments with that many one-droplet services added to
defaults.yaml (so every environment has them, as a real fleet's services are declared once), each with its
firewall ports, alerts and the api-config backup set. Then `preview testnet`, `audit testnet`, `parity
testnet mainnet`, `report testnet mainnet`, `docs testnet mainnet` and `monitoring render testnet` each run
in a fresh process that loads the CLI first and times the command alone, in-process (`seawall.cli.app.main`),
so that start-up is not shared out among the resources. The time is the process's CPU time (all its
threads; ``SEAWALL_RENDER_JOBS=1`` keeps every render in it): what other work on the machine takes is not
counted.

Milliseconds per resource divide a command's time by the resources of the environments it names (their
rendered graphs: testnet's, or testnet's and mainnet's). Prints one line per command with its ms per
resource at each size and its 200 → 1000 ratio (target: at most 1.2 for every command, docs and report
included; 1.0 is linear), then the renders each command made per environment (report: each one once).

It takes minutes at 1000 services (about 45 s per render); `--sizes 10 200` picks smaller ones.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = (10, 200, 1000)
SERVICE = """\
  svc{index:04d}:
    description: Synthetic service {index} (bench/scaling.py)
    owner: example-org/ops
    circle_owner: example-org/svc-circle
    units: [svc.service]
    image: ubuntu-24-04-x64
    version: 1.0.0
    size: s-1vcpu-2gb
    count: 1
    ports:
      - {{port: 22, from: admin}}
      - {{port: 9100, from: monitoring}}
    alerts: {{cpu: 85, memory: 90, disk: 85}}
    backup_sets: [api-config]
"""
# Each command, the arguments it runs with (OUT: a folder of this size's project) and the environments it
# names, whose resources its time is divided by.
COMMANDS: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "preview": (["preview", "testnet", "--format", "json"], ("testnet",)),
    "audit": (["audit", "testnet", "--format", "json"], ("testnet",)),
    "parity": (["parity", "testnet", "mainnet"], ("testnet", "mainnet")),
    "report": (["report", "testnet", "mainnet", "--out", "OUT/fleet.html"], ("testnet", "mainnet")),
    "docs": (["docs", "testnet", "mainnet", "--out", "OUT/docs"], ("testnet", "mainnet")),
    "monitoring render": (["monitoring", "render", "testnet", "--out", "OUT/monitoring"], ("testnet",)),
}
RATIO_TARGET = 1.2
# The child process: the CLI and every command's module loaded, each render counted, the command timed.
CHILD = """
import json, sys, time
import seawall.render
renders = []
original = seawall.render.render
def counted(env, *args, **kwargs):
    graph = original(env, *args, **kwargs)
    renders.append([env.name, len(graph.resources)])
    return graph
seawall.render.render = counted
import seawall.parity, seawall.cli.preview, seawall.cli.audit, seawall.cli.parity, seawall.cli.report
import seawall.cli.docs, seawall.cli.monitoring, seawall.opsdocs.generate, seawall.opsdocs.fleet_page
import seawall.monitoring.files, seawall.stacks.program
from seawall.cli.app import main
start = time.process_time()
code = main(sys.argv[1:])
seconds = time.process_time() - start
print(json.dumps({"exit": code, "seconds": seconds, "renders": renders}), file=sys.stderr)
"""


def write_project(folder: Path, services: int) -> Path:
    """Given a folder and a number of services, write a project there whose environments have that many
    services more than the shipped ones; return its environments folder."""
    environments = folder / "environments"
    shutil.copytree(ROOT / "environments", environments)
    defaults = environments / "defaults.yaml"
    text = defaults.read_text(encoding="utf-8")
    added = "".join(SERVICE.format(index=index) for index in range(services))
    defaults.write_text(text.replace("\nservices:\n", "\nservices:\n" + added, 1), encoding="utf-8")
    return environments


def run_command(environments: Path, argv: list[str]) -> dict:
    """Given an environments folder and a command, run it in a fresh process; return its exit code, CPU
    seconds and renders (environment, resources)."""
    out = str(environments.parent)
    command = [sys.executable, "-c", CHILD, "--environments", str(environments)]
    command += [arg.replace("OUT", out) for arg in argv]
    # Every render in the command's own process, where they are counted and their CPU time is the process's.
    env = {**os.environ, "SEAWALL_RENDER_JOBS": "1"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in done.stderr.splitlines() if line.startswith('{"exit"')]
    if not lines:
        msg = f"{' '.join(argv)} failed:\n{done.stderr[-2000:]}"
        raise SystemExit(msg)
    return json.loads(lines[-1])


def measure(services: int) -> dict[str, dict]:
    """Given a number of services, run every command on such a project; return each one's result with the
    resources of the environments it names."""
    with tempfile.TemporaryDirectory(prefix="seawall-bench-scaling-") as folder:
        environments = write_project(Path(folder), services)
        results = {name: run_command(environments, argv) for name, (argv, _) in COMMANDS.items()}
    resources = {name: count for result in results.values() for name, count in result["renders"]}
    for name, (_, named) in COMMANDS.items():
        results[name]["resources"] = sum(resources[env] for env in named)
    return results


def renders_text(renders: list[list]) -> str:
    """Given a command's renders, return how many of each environment (``qanet 1, testnet 1``)."""
    counts: dict[str, int] = {}
    for name, _ in renders:
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{name} {count}" for name, count in counts.items()) or "none"


def main() -> None:
    """Measure every size and print the table, the ratios and the renders."""
    parser = argparse.ArgumentParser(description="ms per resource of each command at several fleet sizes.")
    parser.add_argument("--sizes", type=int, nargs="+", default=SIZES, help="the numbers of services (10 200 1000)")
    sizes = list(parser.parse_args().sizes)
    measured = {size: measure(size) for size in sizes}
    header = "".join(f" {f'{size} svc ms/res':>16}" for size in sizes)
    ratio = (200, 1000) if {200, 1000} <= set(sizes) else (sizes[-2], sizes[-1]) if len(sizes) > 1 else None
    print(f"{'command':<18}{header}" + (f" {f'{ratio[0]}->{ratio[1]}':>10}" if ratio else ""))
    for name in COMMANDS:
        cells = "".join(
            f" {measured[size][name]['seconds'] * 1000 / measured[size][name]['resources']:>16.3f}" for size in sizes
        )
        line = f"{name:<18}{cells}"
        if ratio:
            small, large = (measured[size][name] for size in ratio)
            per = (large["seconds"] / large["resources"]) / (small["seconds"] / small["resources"])
            line += f" {per:>10.2f}"
        print(line)
    for size in sizes:
        resources = ", ".join(f"{env} {count}" for env, count in measured[size]["parity"]["renders"])
        print(f"{size} services: resources {resources}; exit codes " + ", ".join(
            f"{name} {result['exit']}" for name, result in measured[size].items()
        ))  # fmt: skip
        print("  renders: " + "; ".join(f"{name}: {renders_text(r['renders'])}" for name, r in measured[size].items()))
    if ratio:
        print(f"target: each ratio at most {RATIO_TARGET} ({ratio[0]} -> {ratio[1]} services); report renders each "
              "environment once")  # fmt: skip


if __name__ == "__main__":
    main()
