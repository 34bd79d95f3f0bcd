"""`seawall host verify`'s comparison against the bare reads of the same files, in the same run.

Takes a real host manifest (mainnet's monitoring-1 by default: its units, environment file, Prometheus and
Alertmanager configuration, the most files a host gets), places each file under a temporary root exactly as
the host steps' shell does (``file_lines`` run by sh; the secret files with made-up content), and alternates,
RUNS times each: the bare floor (``sha256sum`` and ``stat`` of every file, one process each, and a walk of the
owned folders), and Seawall's check (the same files hashed and stat'ed, the owned folders walked, the installed
wheel's RECORD verified (this checkout's wheel, built and installed into the temporary folder), every
difference computed). Units and the firewall are not timed: this machine has no
systemd as PID 1 and no nft table (the lab's hosts run them for real). Prints the medians and their ratio.
`bench/drift.py mainnet dc-storage-1` picks another host.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seawall.drift import deployed_manifests  # noqa: E402
from seawall.hostcheck import installed_wheel, owned_files, seen  # noqa: E402
from seawall.hostfiles import RenderedFile, file_lines, installed_files  # noqa: E402
from seawall.manifest import Manifest, Observation, compare, recorded_facts  # noqa: E402
from seawall.model import load_environment  # noqa: E402
from seawall.render import render  # noqa: E402
from seawall.stacks.program import OFFLINE  # noqa: E402

RUNS = 15


def placed(env_name: str, host: str, root: Path) -> Manifest:
    """Render the host, place its files under ``root`` with the steps' shell, return its manifest there."""
    graph = json.loads(render(load_environment(ROOT / "environments", env_name), OFFLINE).to_json())
    manifest = deployed_manifests(graph)[host]
    contents: dict[str, str] = {}
    for item in graph["resources"]:
        if item["name"].startswith(f"{host}-") and item["type"].startswith("command:remote:"):
            contents.update(installed_files(str(item["inputs"].get("create", ""))))
    files = []
    for entry in manifest.files:
        text = contents.get(entry.path, "secret=made-up\n")
        files.append(RenderedFile(f"{root}{entry.path}", text, entry.mode))
    subprocess.run(["sh", "-c", "set -eu\n" + "\n".join(file_lines(files))], check=True, timeout=120)
    me = seen(str(files[0].path)).owner or "root:root"
    moved = tuple(dataclasses.replace(f, path=f"{root}{f.path}", owner=me) for f in manifest.files)
    owned = tuple(f"{root}{pattern}" for pattern in manifest.owned)
    return dataclasses.replace(manifest, files=moved, owned=owned, units=(), firewall=False)


def installed(folder: Path) -> tuple[list[str], list[str]]:
    """Install this checkout's wheel into a virtual environment as the install step does (by its file URL and
    hash): where to find it, and every file its RECORD hashes (what the check re-hashes on a host)."""
    from seawall.build import build_wheel, sha256_of

    shipped = build_wheel(ROOT, folder / "dist")
    assert shipped.wheel is not None
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=600)
    requirement = f"seawall @ file://{shipped.wheel}#sha256={sha256_of(shipped.wheel)}"
    pip = [str(venv / "bin/pip"), "install", "-q", "--disable-pip-version-check", "--no-deps", requirement]
    subprocess.run(pip, check=True, timeout=600)
    site = next(venv.glob("lib/python3*/site-packages"))
    record = next(site.glob("seawall-*.dist-info")) / "RECORD"
    files = [(site / line.split(",")[0]).resolve() for line in record.read_text().splitlines() if ",sha256=" in line]
    return [str(site)], [str(f) for f in files]


def bare(manifest: Manifest, wheel_files: list[str]) -> float:
    """The floor: one sha256sum and one stat of every file, the wheel's files hashed, the owned folders walked."""
    paths = [f.path for f in manifest.files] + wheel_files
    start = time.perf_counter()
    subprocess.run(["sha256sum", *paths], check=True, capture_output=True)
    subprocess.run(["stat", "-c", "%a %U %G", *paths], check=True, capture_output=True)
    owned_files(manifest.owned)
    return time.perf_counter() - start


def seawall(manifest: Manifest, recorded: dict, site: list[str]) -> float:
    """Seawall's check: every file seen, the owned folders walked, the wheel verified, the comparison."""
    start = time.perf_counter()
    observation = Observation(
        files={f.path: seen(f.path) for f in manifest.files},
        found=owned_files(manifest.owned),
        units={},
        ruleset=None,
        wheel=installed_wheel(path=site),
    )
    drift = compare(manifest, recorded, observation)
    elapsed = time.perf_counter() - start
    assert drift == [], drift
    return elapsed


def main(argv: list[str]) -> int:
    env_name, host = (argv + ["mainnet", "monitoring-1"][len(argv) :])[:2]
    with tempfile.TemporaryDirectory() as folder:
        manifest = placed(env_name, host, Path(folder) / "root")
        site, wheel_files = installed(Path(folder))
        wheel = installed_wheel(path=site)
        assert wheel is not None
        assert not wheel.startswith("modified"), wheel
        observation = Observation({f.path: seen(f.path) for f in manifest.files}, [], {}, None, wheel)
        recorded = recorded_facts(manifest, observation)
        floors, ours = [], []
        for _ in range(RUNS):
            floors.append(bare(manifest, wheel_files))
            ours.append(seawall(manifest, recorded, site))
    floor, mine = statistics.median(floors), statistics.median(ours)
    print(f"host {host} of {env_name}: {len(manifest.files)} placed files, {len(wheel_files)} files of the wheel")
    print(f"bare sha256sum + stat + walk   {floor * 1000:8.2f} ms")
    print(f"seawall host verify (compare)  {mine * 1000:8.2f} ms")
    print(f"ratio                          {mine / floor:8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
