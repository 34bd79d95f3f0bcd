"""Parity diff speed against DeepDiff on the same data, in the same run, with identical findings.

Builds two synthetic resource graphs of 10,000 resources that differ in a few hundred places (changed
values, resources missing and extra, keys added), then times Seawall's comparison (flattening included)
and DeepDiff's, checks that both found the same set of (resource, path) differences, and prints the
ratio (target: Seawall at least 10x faster).
"""

from __future__ import annotations

import random
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deepdiff import DeepDiff

from seawall.parity import _flatten as flatten
from seawall.parity import compare_graphs

RESOURCES = 10_000
RUNS = 3
_PART = re.compile(r"\[('(?:[^']*)'|\d+)\]")


def synthetic_graphs(seed: int = 7) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return graphs A and B (name -> type, parent, nested inputs) that differ in a few hundred places."""
    rng = random.Random(seed)
    a = {}
    for index in range(RESOURCES):
        a[f"res-{index}"] = {
            "type": rng.choice(["digitalocean:index/droplet:Droplet", "digitalocean:index/volume:Volume"]),
            "parent": f"group-{index % 50}",
            "inputs": {
                "name": f"env-res-{index}",
                "size": rng.choice(["s-1vcpu-1gb", "s-2vcpu-4gb"]),
                "region": "ams3",
                "tags": ["env:x", f"service:{index % 50}", "role:app"],
                "policy": {"plan": "daily", "hour": index % 24, "weekday": "SUN"},
            },
        }
    b = {
        name: {**value, "inputs": {**value["inputs"], "policy": dict(value["inputs"]["policy"])}}
        for name, value in a.items()
    }
    names = sorted(b)
    rng.shuffle(names)
    for name in names[:200]:
        b[name]["inputs"]["size"] = "s-8vcpu-16gb"
    for name in names[200:250]:
        b[name]["inputs"]["policy"]["hour"] = 99
    for name in names[250:300]:
        b[name]["inputs"]["monitoring"] = True
    for name in names[300:350]:
        del b[name]
    for index in range(50):
        b[f"new-{index}"] = {"type": "digitalocean:index/tag:Tag", "parent": None, "inputs": {"name": f"t{index}"}}
    return a, b


def ours(a: dict[str, Any], b: dict[str, Any]) -> set[tuple[str, str]]:
    """Given two graphs, return Seawall's differences as (resource, path)."""
    flat_a = {name: (v["type"], v["parent"], _flat(v["inputs"])) for name, v in a.items()}
    flat_b = {name: (v["type"], v["parent"], _flat(v["inputs"])) for name, v in b.items()}
    return {(d.resource, d.path) for d in compare_graphs(flat_a, flat_b)}


def _flat(inputs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    flatten(inputs, "", out, [])
    return out


def theirs(a: dict[str, Any], b: dict[str, Any]) -> set[tuple[str, str]]:
    """Given two graphs, return DeepDiff's differences as (resource, path)."""
    found = set()
    for paths in DeepDiff(a, b).values():
        for path in paths:
            parts = [p.strip("'") for p in _PART.findall(path)]
            resource, rest = parts[0], [p for p in parts[2:]] if parts[1:2] == ["inputs"] else parts[1:]
            found.add((resource, ".".join(rest)))
    return found


def median_seconds(function: Any, *args: Any) -> tuple[float, Any]:
    """Given a function, return its median time over RUNS runs and its last result."""
    times, result = [], None
    for _ in range(RUNS):
        start = time.perf_counter()
        result = function(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    """Measure and print."""
    a, b = synthetic_graphs()
    seawall, found = median_seconds(ours, a, b)
    deepdiff, expected = median_seconds(theirs, a, b)
    print(f"resources: {RESOURCES}, differences: {len(found)}")
    print(f"seawall  {seawall * 1000:9.1f} ms")
    print(f"deepdiff {deepdiff * 1000:9.1f} ms")
    print(f"speed-up {deepdiff / seawall:9.1f}x (target >= 10x)")
    print(f"same differences found: {found == expected}")
    if found != expected:
        print(f"only seawall: {sorted(found - expected)[:5]}  only deepdiff: {sorted(expected - found)[:5]}")
        sys.exit(1)


if __name__ == "__main__":
    main()
