"""Fleet scale: `backup status`, `status --deep` and drills of many small sets, against bare restic.

Builds N local repositories (N = 20, or `--sets 200`) with a small set each, backs each up once, then
times in the same run, on this machine:

- the baseline: one bare `restic snapshots --json --no-lock` per repository, run serially;
- `seawall backup status` (the recorded state: no restic process), against ONE bare listing;
- `seawall backup status --deep --jobs 2`, against the whole bare serial listing;
- `seawall drill --jobs 1` and `--jobs 2`, against each other;
- the restic processes a drill starts per set (a stand-in on PATH counts them).

Targets (#20): status <= 2x one bare listing at any N; --deep --jobs 2 <= 0.7x the bare serial listing;
drill --jobs 2 <= 0.6x --jobs 1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

RESTIC = shutil.which("restic") or "restic"


def build(root: Path, sets: int) -> Path:
    """Given a folder and a number of sets, write the fleet environment and its data; return the folder."""
    environments = root / "environments"
    environments.mkdir(parents=True)
    (root / "password").write_text("fleet-bench-password\n")
    document = {
        "environment": {
            "name": "fleet",
            "tier": "development",
            "provider": "local",
            "region": "ams3",
            "domain": "fleet.test",
        },
        "network": {"vpc_cidr": "10.77.0.0/16", "admin_cidrs": ["192.0.2.0/24"]},
        "datacenter_hosts": {
            "fleet-host": {"address": "127.0.0.1", "ssh_user": "root", "roles": ["bench"], "backup_sets": []}
        },
        "backup": {
            "repository": {"kind": "local", "path": str(root / "repositories")},
            "password_file": str(root / "password"),
            "state_dir": str(root / "state"),
            "metrics_dir": str(root / "metrics"),
            "reports_dir": str(root / "reports"),
            "restic_binary": str(root / "restic-counting"),
        },
        "backup_sets": {},
        "alerting": {
            "channels": {"ops": {"email": "ops@example.net"}},
            "routes": {s: {"channels": ["ops"]} for s in ("Critical", "Major", "Minor")},
        },
    }
    for index in range(sets):
        name = f"set-{index:03d}"
        data = root / "data" / name
        data.mkdir(parents=True)
        for number in range(5):
            (data / f"file-{number}.txt").write_text(f"{name} {number}\n" * 200)
        document["datacenter_hosts"]["fleet-host"]["backup_sets"].append(name)
        document["backup_sets"][name] = {
            "paths": [str(data)],
            "schedule": "hourly",
            "retention": {"keep_last": 3},
            "rpo": "2h",
            "rto": "10m",
            "drill": {"schedule": "daily", "read_data_slices": 2, "min_files": 1},
        }
    (environments / "fleet.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    log = root / "restic-argv.log"
    wrapper = root / "restic-counting"
    wrapper.write_text(f'#!/bin/sh\n[ -z "$SEAWALL_BENCH_COUNT" ] || echo "$*" >> {log}\nexec {RESTIC} "$@"\n')
    wrapper.chmod(0o755)
    return environments


def seawall(environments: Path, *args: str, env: dict[str, str] | None = None) -> float:
    """Run one seawall command; return its wall time (its exit code is the benchmark's, not checked)."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "seawall", "--environments", str(environments), *args],
        capture_output=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return time.perf_counter() - start


def bare_listings(root: Path, sets: int) -> float:
    """Return the wall time of one bare `restic snapshots` per repository, serially."""
    env = {**os.environ, "RESTIC_PASSWORD_FILE": str(root / "password")}
    start = time.perf_counter()
    for index in range(sets):
        repository = root / "repositories" / f"set-{index:03d}"
        subprocess.run(
            [RESTIC, "--repo", str(repository), "snapshots", "--json", "--no-lock"],
            capture_output=True,
            env=env,
            check=True,
        )
    return time.perf_counter() - start


def main() -> None:
    """Build, measure and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=20)
    sets = parser.parse_args().sets
    root = Path(tempfile.mkdtemp(prefix="seawall-bench-fleet-"))
    try:
        environments = build(root, sets)
        seawall(environments, "backup", "init", "fleet")
        seawall(environments, "backup", "run", "fleet")
        bare = bare_listings(root, sets)
        one_bare = bare / sets
        status = min(seawall(environments, "backup", "status", "fleet") for _ in range(3))
        deep = seawall(environments, "backup", "status", "fleet", "--deep", "--jobs", "2")
        drill_1 = seawall(environments, "drill", "fleet", "--jobs", "1")
        drill_2 = seawall(environments, "drill", "fleet", "--jobs", "2", env={"SEAWALL_BENCH_COUNT": "1"})
        processes = len((root / "restic-argv.log").read_text().splitlines())
        rows = [
            ("bare restic snapshots, serial", bare, f"(one: {one_bare:.3f} s)"),
            ("backup status (recorded state)", status, f"/ one bare listing {status / one_bare:5.2f} (<= 2)"),
            ("backup status --deep --jobs 2", deep, f"/ the bare serial {deep / bare:5.2f} (<= 0.7)"),
            ("drill --jobs 1", drill_1, ""),
            ("drill --jobs 2", drill_2, f"/ --jobs 1 {drill_2 / drill_1:5.2f} (<= 0.6)"),
        ]
        print(f"sets: {sets}; cores: {os.cpu_count()}")
        for label, seconds, ratio in rows:
            print(f"{label:<32} {seconds:8.3f} s  {ratio}")
        print(f"restic processes per set per drill: {processes / sets:.2f} (one `version` per process for all sets)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
