"""`seawall drill` against bare `restic restore --verify` of the same snapshot, in the same run.

Backs up a 1 GiB mixed dataset once, then alternates a full Seawall drill (check slice, restore with
--verify, sampled hash comparison, floors, report, deleting the restored tree) and a bare restore with
--verify into empty folders, and prints the medians and their ratio (target: at most 1.10). Two more
runs put that ratio in context: the floor (restore --verify, then delete the restored tree: the least
any drill that cleans up must do) and the drill's work by hand (check slice, restore --verify, delete).
Before each run it flushes writes and, as root, drops the page cache, so that every run reads the
repository alike. Then hashes the restored files with Seawall's verifier and with `sha256sum` and
prints the throughput ratio (target: at least 0.9).
Pass a size in MiB to try a smaller dataset: `bench/drill.py 256`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backup.verify import remove_tree, sha256_file
from bench.backup import make_dataset, restic, write_environment

SEAWALL = str(Path(sys.executable).with_name("seawall"))
RUNS = 5


def settle() -> None:
    """Flush writes and, when allowed (root), drop the page cache, so every run starts alike."""
    subprocess.run(["sync"], check=True)
    with contextlib.suppress(OSError):
        Path("/proc/sys/vm/drop_caches").write_text("3\n")


def hashing_rates(root: Path) -> tuple[float, float]:
    """Given a folder, return MiB/s for Seawall's hashing and for sha256sum over the same files."""
    files = sorted(str(path) for path in root.rglob("*") if path.is_file())
    size = sum(os.path.getsize(path) for path in files) / (1024 * 1024)
    for path in files:  # read once so both hash from the page cache: this measures hashing, not the disk
        Path(path).read_bytes()
    start = time.perf_counter()
    for path in files:
        sha256_file(Path(path))
    ours = time.perf_counter() - start
    start = time.perf_counter()
    for offset in range(0, len(files), 2000):
        subprocess.run(["sha256sum", *files[offset : offset + 2000]], check=True, capture_output=True)
    theirs = time.perf_counter() - start
    return size / ours, size / theirs


def show(label: str, times: list[float]) -> None:
    """Print a median and its runs."""
    print(f"{label:<50} median {statistics.median(times):6.2f} s  runs {', '.join(f'{t:.2f}' for t in times)}")


def main() -> None:
    """Measure and print."""
    mebibytes = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    with tempfile.TemporaryDirectory(prefix="seawall-bench-drill-") as scratch:
        workdir = Path(scratch)
        data = workdir / "data"
        make_dataset(data, mebibytes)
        (workdir / "password").write_text("bench-password")
        environments = write_environment(workdir, data)
        repo = workdir / "seawall-repo" / "data"
        repo.parent.mkdir(parents=True)
        restic(repo, workdir / "password", "init")
        subprocess.run(
            [SEAWALL, "--environments", str(environments), "backup", "run", "bench"], check=True, capture_output=True
        )
        ours: list[float] = []
        bare: list[float] = []
        hand: list[float] = []
        least: list[float] = []

        def drill(index: int) -> float:
            start = time.perf_counter()
            subprocess.run(
                [
                    SEAWALL,
                    "--environments",
                    str(environments),
                    "drill",
                    "bench",
                    "--target",
                    str(workdir / f"drill-{index}"),
                ],
                check=True,
                capture_output=True,
            )
            return time.perf_counter() - start

        def by_hand(index: int) -> float:
            """The same work as a drill, done by hand: check a slice, restore with --verify, delete."""
            start = time.perf_counter()
            restic(repo, workdir / "password", "check", f"--read-data-subset={(index % 12) + 1}/12")
            restic(
                repo, workdir / "password", "restore", "latest", "--target", str(workdir / f"hand-{index}"), "--verify"
            )
            shutil.rmtree(workdir / f"hand-{index}")
            return time.perf_counter() - start

        def bare_restore(index: int) -> float:
            start = time.perf_counter()
            restic(
                repo, workdir / "password", "restore", "latest", "--target", str(workdir / f"bare-{index}"), "--verify"
            )
            return time.perf_counter() - start

        def floor(index: int) -> float:
            """What every drill must do at least: restore with --verify, then delete what it restored."""
            start = time.perf_counter()
            restic(
                repo, workdir / "password", "restore", "latest", "--target", str(workdir / f"floor-{index}"), "--verify"
            )
            remove_tree(workdir / f"floor-{index}")
            return time.perf_counter() - start

        for index in range(RUNS):
            # Alternate which goes first, and let the disk settle before each, so neither pays for the other.
            order = [(ours, drill), (bare, bare_restore), (hand, by_hand), (least, floor)]
            for times, function in order if index % 2 == 0 else list(reversed(order)):
                settle()
                times.append(function(index))
                shutil.rmtree(workdir / f"drill-{index}", ignore_errors=True)
                if index < RUNS - 1:
                    shutil.rmtree(workdir / f"bare-{index}", ignore_errors=True)
        seawall, baseline = statistics.median(ours), statistics.median(bare)
        lowest, manual = statistics.median(least), statistics.median(hand)
        print(f"dataset: {mebibytes} MiB")
        show("bare restic restore --verify", bare)
        show("seawall drill", ours)
        print(f"ratio {seawall / baseline:.3f} (target <= 1.10)")
        show("floor: restore --verify + delete the tree", least)
        print(f"floor / bare {lowest / baseline:.3f}: what any drill that cleans up costs before it checks anything")
        show("by hand: check slice + restore --verify + delete", hand)
        print(f"seawall / floor {seawall / lowest:.3f}; seawall / by hand {seawall / manual:.3f}")
        rate, reference = hashing_rates(workdir / f"bare-{RUNS - 1}")
        print(f"hashing: seawall {rate:7.1f} MiB/s, sha256sum {reference:7.1f} MiB/s", end=", ")
        print(f"ratio {rate / reference:.3f} (target >= 0.9)")


if __name__ == "__main__":
    main()
