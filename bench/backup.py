"""`seawall backup run` against the bare `restic backup` of the same data, in the same run.

Builds a 1 GiB mixed dataset (many small files and a few large ones, incompressible), then alternates
runs of both into fresh local repositories and prints the medians and their ratio (target: at most
1.05). Seawall's run includes what it adds around restic: start-up, validation, source checks,
retention, state and metrics. Pass a size in MiB to try a smaller dataset: `bench/backup.py 256`.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SEAWALL = str(Path(sys.executable).with_name("seawall"))
RUNS = 3
PASSWORD = "bench-password"


def make_dataset(folder: Path, mebibytes: int) -> None:
    """Given a folder and a size, fill it: a fifth in 8 KiB files, the rest in 8 large files."""
    small_total = mebibytes * 1024 * 1024 // 5
    for index in range(small_total // 8192):
        sub = folder / "small" / f"{index // 1000:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{index}.bin").write_bytes(os.urandom(8192))
    large = (mebibytes * 1024 * 1024 - small_total) // 8
    (folder / "large").mkdir()
    for index in range(8):
        with (folder / "large" / f"big{index}.bin").open("wb") as stream:
            for _ in range(large // (1024 * 1024)):
                stream.write(os.urandom(1024 * 1024))


def write_environment(workdir: Path, data: Path) -> Path:
    """Given the work folder and the data, write a standalone ``bench`` environment and return its folder."""
    environments = workdir / "environments"
    environments.mkdir()
    document = {
        "environment": {
            "name": "bench",
            "tier": "development",
            "provider": "local",
            "region": "ams3",
            "domain": "bench.test",
        },
        "network": {"vpc_cidr": "10.98.0.0/16", "admin_cidrs": ["192.0.2.0/24"]},
        "datacenter_hosts": {
            "bench-host": {"address": "127.0.0.1", "ssh_user": "root", "roles": ["bench"], "backup_sets": ["data"]}
        },
        "backup": {
            "repository": {"kind": "local", "path": str(workdir / "seawall-repo")},
            "password_file": str(workdir / "password"),
            "state_dir": str(workdir / "state"),
            "metrics_dir": str(workdir / "metrics"),
            "reports_dir": str(workdir / "reports"),
        },
        "backup_sets": {
            "data": {
                "paths": [str(data)],
                "schedule": "daily",
                "retention": {"keep_last": 3},
                "rpo": "26h",
                "rto": "1h",
                "drill": {"schedule": "daily"},
            },
        },
        "alerting": {
            "channels": {"ops": {"email": "ops@example.net"}},
            "routes": {s: {"channels": ["ops"]} for s in ("Critical", "Major", "Minor")},
        },
    }
    (environments / "bench.yaml").write_text(yaml.safe_dump(document))
    return environments


def restic(repo: Path, password_file: Path, *args: str) -> None:
    """Run restic bare against a repository."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "RESTIC_PASSWORD_FILE": str(password_file),
    }
    subprocess.run(["restic", "--repo", str(repo), *args], check=True, env=env, capture_output=True)


def timed(argv: list[str] | None = None, action=None) -> float:  # type: ignore[no-untyped-def]
    """Given a command (or a callable), return the seconds it took."""
    start = time.perf_counter()
    if argv is not None:
        subprocess.run(argv, check=True, capture_output=True)
    else:
        action()
    return time.perf_counter() - start


def prepare(workdir: Path, mebibytes: int) -> tuple[Path, Path]:
    """Given a work folder and a size, write the dataset, the password and the ``bench`` environment;
    return the dataset's folder and the environments folder."""
    data = workdir / "data"
    make_dataset(data, mebibytes)
    (workdir / "password").write_text(PASSWORD)
    return data, write_environment(workdir, data)


def show(label: str, times: list[float]) -> None:
    """Given a label and the times of its runs, print their median and the runs."""
    print(f"{label:<50} median {statistics.median(times):6.2f} s  runs {', '.join(f'{t:.2f}' for t in times)}")


def main() -> None:
    """Measure and print."""
    mebibytes = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    with tempfile.TemporaryDirectory(prefix="seawall-bench-") as scratch:
        workdir = Path(scratch)
        data, environments = prepare(workdir, mebibytes)
        ours: list[float] = []
        bare: list[float] = []
        for _ in range(RUNS):
            for repo in (workdir / "seawall-repo" / "data", workdir / "bare-repo"):
                shutil.rmtree(repo, ignore_errors=True)
                repo.parent.mkdir(parents=True, exist_ok=True)
                restic(repo, workdir / "password", "init")
            ours.append(timed([SEAWALL, "--environments", str(environments), "backup", "run", "bench"]))
            bare.append(
                timed(
                    action=lambda: restic(
                        workdir / "bare-repo", workdir / "password", "backup", "--host", "bench-host", str(data)
                    )
                )
            )
        seawall, baseline = statistics.median(ours), statistics.median(bare)
        print(f"dataset: {mebibytes} MiB ({sum(1 for _ in data.rglob('*.bin'))} files)")
        show("bare restic backup", bare)
        show("seawall backup run", ours)
        print(f"ratio {seawall / baseline:.3f} (target <= 1.05)")


if __name__ == "__main__":
    main()
