"""Offline render time against the bare Pulumi SDK, measured in the same run.

For synthetic environments of 10, 50, 200 and 1000 services (``--sizes`` picks others), time
`seawall.render.render(env)` and the time the Pulumi SDK takes to register the same resources bare: the
same SDK classes (`digitalocean.Droplet`, `command.remote.Command`, … and plain ComponentResources), names
and parents, with the recorded inputs as literals and each recorded reference (``{"ref": "api-1.id"}``) as
that resource's output, and no Seawall code, under the SDK's own mock engine. Prints the ratio (target: at
most 1.3 at 200 services). A second column registers as many `digitalocean.Tag`s, the cheapest typed
resource. Each size is measured three times (medians): all four take about 20 minutes on two cores, most
of it at 1000 services.
"""

from __future__ import annotations

import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pulumi  # noqa: E402
import pulumi_command  # noqa: E402
import pulumi_digitalocean as do  # noqa: E402
from pulumi.runtime import mocks, settings  # noqa: E402
from pulumi.runtime.stack import run_pulumi_func  # noqa: E402
from pulumi.runtime.sync_await import _sync_await  # noqa: E402

from seawall.model import load_environment  # noqa: E402
from seawall.model.schema import Environment  # noqa: E402
from seawall.render import Graph, referenced, render  # noqa: E402
from seawall.stacks.program import OFFLINE  # noqa: E402

RUNS = 3
SIZES = (10, 50, 200, 1000)


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


def _timed_program(program: Callable[[], object]) -> float:
    settings.ROOT.set(None)
    pulumi.runtime.set_mocks(BareMocks(), project="bench", stack="bench", preview=False)
    start = time.perf_counter()
    _sync_await(run_pulumi_func(program))
    elapsed = time.perf_counter() - start
    settings.ROOT.set(None)
    return elapsed


def bare_same_resources(graph: Graph) -> float:
    """Given a rendered graph, return the seconds the SDK takes to register its resources bare."""

    def program() -> None:
        created: dict[str, pulumi.Resource] = {}
        for name in _creation_order(graph):
            record = graph.resources[name]
            opts = pulumi.ResourceOptions(parent=created.get(record.parent or ""))
            if record.custom:
                inputs = {_snake(k): _resolved(v, created) for k, v in record.inputs.items()}
                created[name] = sdk_class(record.type)(name, opts=opts, **inputs)
            else:
                created[name] = pulumi.ComponentResource(record.type, name, None, opts)

    return _timed_program(program)


def _resolved(value: object, created: dict[str, pulumi.Resource]) -> object:
    """Given a recorded input, return it with each reference as the output of the resource created for it."""
    target = referenced(value)
    if target is not None:
        name, output = target
        return getattr(created[name], _snake(output))
    if isinstance(value, dict):
        return {key: _resolved(item, created) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolved(item, created) for item in value]
    return value


def sdk_class(token: str) -> type:
    """Given a type token, return the SDK class that registers it."""
    package, module, cls = token.split(":")
    if package == "command":
        return getattr(getattr(pulumi_command, module), cls)
    return getattr(do, cls)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def bare_tags(count: int) -> float:
    """Given a count, return the seconds the SDK takes to register that many ``digitalocean.Tag``."""
    return _timed_program(lambda: [do.Tag(f"tag-{index}", name=f"tag-{index}") for index in range(count)])


def _creation_order(graph: Graph) -> list[str]:
    """Given a graph, return its resources in an order where each comes after its parent and after every
    resource its inputs refer to (breadth first by parent, a resource waiting until what it refers to is)."""
    order: list[str] = []
    done: set[str] = set()
    children: dict[str | None, list[str]] = {}
    for record in sorted(graph.resources.values(), key=lambda r: r.name):
        children.setdefault(record.parent, []).append(record.name)
    waiting = list(children.get(None, []))
    while waiting:
        ready = [name for name in waiting if _references(graph.resources[name].inputs) <= done]
        if not ready:
            msg = f"references that no resource satisfies: {sorted(waiting)[:5]}"
            raise ValueError(msg)
        for name in ready:
            order.append(name)
            done.add(name)
        waiting = [name for name in waiting if name not in done] + [c for n in ready for c in children.get(n, [])]
    return order


def _references(value: object) -> set[str]:
    target = referenced(value)
    if target is not None:
        return {target[0]}
    if isinstance(value, dict):
        return set().union(*(_references(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(_references(item) for item in value))
    return set()


def ours(env: Environment) -> tuple[float, Graph]:
    """Given an environment, return the seconds our render takes and the graph it recorded."""
    start = time.perf_counter()
    graph = render(env, OFFLINE)
    return time.perf_counter() - start, graph


def tree_seconds(graph: Graph) -> float:
    """Given a graph, return the seconds `seawall preview` takes to build and print its tree."""
    import io

    from rich.console import Console

    from seawall.cli.preview import graph_tree

    start = time.perf_counter()
    Console(file=io.StringIO(), width=160).print(graph_tree(graph))
    return time.perf_counter() - start


def main() -> None:
    """Measure and print one line per size (or, with --services N, the render and the preview tree)."""
    import argparse

    parser = argparse.ArgumentParser(description="Offline render against the bare Pulumi SDK, same run.")
    parser.add_argument("--services", type=int, help="one size: print render and tree time (tree <= 0.1x render)")
    parser.add_argument("--sizes", type=int, nargs="+", default=SIZES, help="the sizes of the ratio table")
    arguments = parser.parse_args()
    services_arg = arguments.services
    if services_arg is not None:
        env = synthetic_environment(services_arg)
        elapsed, graph = ours(env)
        tree = statistics.median(tree_seconds(graph) for _ in range(3))
        print(f"{services_arg} services, {len(graph.resources)} resources: render {elapsed:.2f} s, tree {tree:.2f} s")
        print(f"tree / render {tree / elapsed:.3f} (target <= 0.1)")
        return
    print(f"{'services':>8} {'resources':>9} {'seawall s':>10} {'bare same s':>11} {'ratio':>6} {'tags s':>8}")
    for services in arguments.sizes:
        env = synthetic_environment(services)
        runs = [ours(env) for _ in range(RUNS)]
        graph = runs[0][1]
        seawall = statistics.median(elapsed for elapsed, _ in runs)
        bare = statistics.median(bare_same_resources(graph) for _ in range(RUNS))
        tags = statistics.median(bare_tags(len(graph.resources)) for _ in range(RUNS))
        count = len(graph.resources)
        print(f"{services:>8} {count:>9} {seawall:>10.3f} {bare:>11.3f} {seawall / bare:>6.2f} {tags:>8.3f}")


if __name__ == "__main__":
    main()
