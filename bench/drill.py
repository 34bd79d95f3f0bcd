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
import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.backup import SEAWALL, prepare, restic, show, timed
from seawall.backup.verify import remove_tree, sha256_file

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


def main() -> None:
    """Measure and print."""
    mebibytes = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    with tempfile.TemporaryDirectory(prefix="seawall-bench-drill-") as scratch:
        workdir = Path(scratch)
        _, environments = prepare(workdir, mebibytes)
        repo, password = workdir / "seawall-repo" / "data", workdir / "password"
        repo.parent.mkdir(parents=True)
        restic(repo, password, "init")
        timed([SEAWALL, "--environments", str(environments), "backup", "run", "bench"])

        def drill(index: int) -> None:
            argv = [SEAWALL, "--environments", str(environments), "drill", "bench"]
            subprocess.run([*argv, "--target", str(workdir / f"drill-{index}")], check=True, capture_output=True)

        def restore(folder: str) -> None:
            restic(repo, password, "restore", "latest", "--target", str(workdir / folder), "--verify")

        def by_hand(index: int) -> None:
            """The same work as a drill, done by hand: check a slice, restore with --verify, delete."""
            restic(repo, password, "check", f"--read-data-subset={(index % 12) + 1}/12")
            restore(f"hand-{index}")
            shutil.rmtree(workdir / f"hand-{index}")

        def floor(index: int) -> None:
            """What every drill must do at least: restore with --verify, then delete what it restored."""
            restore(f"floor-{index}")
            remove_tree(workdir / f"floor-{index}")

        variants: list[tuple[str, Callable[[int], object], list[float]]] = [
            ("seawall drill", drill, []),
            ("bare restic restore --verify", lambda i: restore(f"bare-{i}"), []),
            ("floor: restore --verify + delete the tree", floor, []),
            ("by hand: check slice + restore --verify + delete", by_hand, []),
        ]
        for index in range(RUNS):
            # Alternate which goes first, and let the disk settle before each, so neither pays for the other.
            for _, function, times in variants if index % 2 == 0 else reversed(variants):
                settle()
                times.append(timed(action=functools.partial(function, index)))
                shutil.rmtree(workdir / f"drill-{index}", ignore_errors=True)
                if index < RUNS - 1:
                    shutil.rmtree(workdir / f"bare-{index}", ignore_errors=True)
        print(f"dataset: {mebibytes} MiB")
        for label, _, times in variants:
            show(label, times)
        seawall, baseline, lowest, manual = (statistics.median(times) for _, _, times in variants)
        print(f"seawall / bare {seawall / baseline:.3f} (target <= 1.10)")
        print(f"floor / bare {lowest / baseline:.3f}: what any drill that cleans up costs before it checks anything")
        print(f"seawall / floor {seawall / lowest:.3f}; seawall / by hand {seawall / manual:.3f}")
        rate, reference = hashing_rates(workdir / f"bare-{RUNS - 1}")
        print(f"hashing: seawall {rate:7.1f} MiB/s, sha256sum {reference:7.1f} MiB/s", end=", ")
        print(f"ratio {rate / reference:.3f} (target >= 0.9)")


if __name__ == "__main__":
    main()
