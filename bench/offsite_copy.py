"""`seawall backup copy` against the bare `restic copy` of the same snapshots, in the same run.

Builds a 1 GiB mixed dataset from a fixed seed (the same bytes every run): 40% in about 18,000 small files
of 512 B to 128 KiB, 60% in 8 large ones; every other file is random bytes, the others text that restic
compresses to about a third. Backs it up with `seawall backup run` into a local primary repository, then:

- full: RUNS times, copies it into fresh repositories made with `--copy-chunker-params`, alternating which
  goes first: bare `restic --no-lock copy --from-repo PRIMARY --tag set:data` (the argv Seawall runs) and
  `seawall backup copy bench` (the CLI in a fresh process: start-up, validation, listing the primary and
  the copy, the copy, listing the copy again, state and metrics);
- incremental: RUNS times, changes 1 MiB (256 KiB in each of four large files), backs up again and copies
  the new snapshot both ways, alternating, into the last full run's two copies.

Every copy starts after `sync`, with a fresh, empty restic cache (XDG_CACHE_HOME, which Seawall passes on
to restic), so that none profits from what another cached or left to write. Prints the medians, every
run, the ratios (target: at most 1.05) and the seconds, and where Seawall's time goes: each restic
process it ran (from its -vv log) and the rest. Local repositories, as in bench/backup.py: what is
measured is Seawall's cost, not a storage server's. Smaller: `bench/offsite_copy.py --size-mib 64`.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.backup import PASSWORD, SEAWALL, show, write_environment

RUNS = 5
SEED = 29
CHANGED_FILES, CHANGED_BYTES = 4, 256 * 1024


def make_dataset(folder: Path, mebibytes: int) -> None:
    """Given a folder and a size, fill it from SEED: 40% in small files of 512 B to 128 KiB, the rest in 8
    large files; every other file is random bytes (as media and archives are), the others text."""
    rng = random.Random(SEED)
    vocabulary = [bytes(rng.choices(b"abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 10))) for _ in range(4000)]
    vocabulary += [b"\n"] * 400

    def content(size: int, index: int) -> bytes:
        if index % 2:
            return rng.randbytes(size)
        return b" ".join(rng.choices(vocabulary, k=size // 6 + 1))[:size]

    total = mebibytes * 1024 * 1024
    small, index = 0, 0
    while small < total * 2 // 5:
        size = int(2 ** rng.uniform(9, 17))
        sub = folder / "small" / f"{index // 1000:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{index}.{'bin' if index % 2 else 'txt'}").write_bytes(content(size, index))
        small, index = small + size, index + 1
    (folder / "large").mkdir()
    for number in range(8):
        with (folder / "large" / f"big{number}.{'bin' if number % 2 else 'txt'}").open("wb") as stream:
            for _ in range(max(1, (total - small) // 8 // (1024 * 1024))):
                stream.write(content(1024 * 1024, number))


def change_dataset(folder: Path, round_: int) -> None:
    """Given the dataset and a round, overwrite CHANGED_BYTES of random bytes in each of CHANGED_FILES large
    files, at an offset of its own per round (1 MiB in all)."""
    rng = random.Random(SEED + 1 + round_)
    for number in range(CHANGED_FILES):
        path = folder / "large" / f"big{number}.{'bin' if number % 2 else 'txt'}"
        with path.open("r+b") as stream:
            stream.seek(rng.randrange(path.stat().st_size - CHANGED_BYTES))
            stream.write(rng.randbytes(CHANGED_BYTES))


def add_copy(environments: Path, workdir: Path) -> None:
    """Given the ``bench`` environment, give it an off-site copy in a folder of its own, made on a vault."""
    path = environments / "bench.yaml"
    document = yaml.safe_load(path.read_text())
    document["datacenter_hosts"]["vault-1"] = {"address": "127.0.0.3", "ssh_user": "root", "roles": ["vault"]}
    document["backup_sets"]["data"]["retention"] = {"keep_last": 10}  # no prune between the runs
    document["backup"]["copy"] = {
        "repository": {"kind": "local", "path": str(workdir / "seawall-copy")},
        "vault": "vault-1",
        "password_file": str(workdir / "copy-password"),
        "retention": {"keep_last": 10},
    }
    path.write_text(yaml.safe_dump(document))


def restic(repo: Path, workdir: Path, *args: str, cache: Path | None = None) -> None:
    """Run restic bare against a repository (the copy's password), reading from the primary (its own)."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "RESTIC_PASSWORD_FILE": str(workdir / "copy-password"),
        "RESTIC_FROM_PASSWORD_FILE": str(workdir / "password"),
        **({"XDG_CACHE_HOME": str(cache)} if cache else {}),
    }
    subprocess.run(["restic", "--repo", str(repo), *args], check=True, env=env, capture_output=True)


def fresh_cache(workdir: Path) -> Path:
    """Return an empty restic cache folder, after flushing what the last run wrote."""
    cache = workdir / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir()
    subprocess.run(["sync"], check=True)
    return cache


def seawall(environments: Path, workdir: Path, *args: str) -> tuple[float, str]:
    """Run one seawall command (with -vv) and a fresh restic cache; return its wall time and its log."""
    env = {**os.environ, "XDG_CACHE_HOME": str(fresh_cache(workdir))}
    argv = [SEAWALL, "-vv", "--environments", str(environments), *args]
    start = time.perf_counter()
    result = subprocess.run(argv, check=True, capture_output=True, text=True, env=env)
    return time.perf_counter() - start, result.stderr


def bare_copy(repo: Path, workdir: Path) -> float:
    """Run the bare `restic copy` of the set into a repository with a fresh cache; return its wall time."""
    cache = fresh_cache(workdir)
    primary = str(workdir / "seawall-repo" / "data")
    start = time.perf_counter()
    restic(repo, workdir, "--no-lock", "copy", "--from-repo", primary, "--tag", "set:data", cache=cache)
    return time.perf_counter() - start


def restic_steps(log: str, workdir: Path) -> list[tuple[str, float]]:
    """Given a seawall -vv log, return each restic process it ran (subcommand and repository) and its seconds."""
    where = {str(workdir / "seawall-repo" / "data"): " primary", str(workdir / "seawall-copy" / "data"): " copy"}
    steps, label = [], ""
    for line in log.splitlines():
        if match := re.search(r"DEBUG: running: restic (?:--repo (\S+) )?(?:--no-lock )?(\w+)", line):
            name = match.group(2)
            label = name if name == "copy" else name + where.get(match.group(1) or "", "")
        elif match := re.search(r"DEBUG: exit \S+ after ([0-9.]+)s: restic", line):
            steps.append((label, float(match.group(1))))
    return steps


def fresh_copies(environments: Path, workdir: Path) -> Path:
    """Remove both copies and the vault's record, then make them again empty (untimed): the bare one with
    `restic init --copy-chunker-params`, Seawall's with `seawall backup init bench --from copy`."""
    bare = workdir / "bare-copy"
    for folder in (bare, workdir / "seawall-copy", workdir / "state" / "bench" / "copy"):
        shutil.rmtree(folder, ignore_errors=True)
    restic(bare, workdir, "init", "--copy-chunker-params", "--from-repo", str(workdir / "seawall-repo" / "data"))
    seawall(environments, workdir, "backup", "init", "bench", "--from", "copy")
    return bare


class Measure:
    """The times of both copies, and the restic processes of each Seawall run."""

    def __init__(self, environments: Path, workdir: Path) -> None:
        self.environments, self.workdir = environments, workdir
        self.bare: list[float] = []
        self.seawall: list[float] = []
        self.steps: list[list[tuple[str, float]]] = []

    def both(self, index: int, bare: Path) -> None:
        """Time the bare copy into ``bare`` and Seawall's copy, the bare one first on even runs."""
        for side in ("bare", "seawall") if index % 2 == 0 else ("seawall", "bare"):
            if side == "bare":
                self.bare.append(bare_copy(bare, self.workdir))
                continue
            seconds, log = seawall(self.environments, self.workdir, "backup", "copy", "bench")
            self.seawall.append(seconds)
            self.steps.append(restic_steps(log, self.workdir))

    def report(self, label: str) -> None:
        """Print both sides, the ratio and where Seawall's time goes: the median of each restic process it
        ran, and of what is left (start-up, validation, state and metrics)."""
        show(f"{label}: bare restic copy", self.bare)
        show(f"{label}: seawall backup copy", self.seawall)
        seconds, baseline = statistics.median(self.seawall), statistics.median(self.bare)
        print(f"{label}: ratio {seconds / baseline:.3f}, {seconds - baseline:+.2f} s (target <= 1.05)")
        columns = list(zip(*self.steps, strict=True))
        shown = ", ".join(f"{run[0][0]} {statistics.median(s for _, s in run):.2f}" for run in columns)
        runs = zip(self.seawall, self.steps, strict=True)
        rest = statistics.median(total - sum(s for _, s in steps) for total, steps in runs)
        print(f"{label}: seawall's restic processes: {shown}; the rest {rest:.2f} s")


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="the dataset's size (default: 1024)")
    mebibytes = parser.parse_args().size_mib
    began = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="seawall-bench-copy-") as scratch:
        workdir = Path(scratch)
        data = workdir / "data"
        make_dataset(data, mebibytes)
        (workdir / "password").write_text(PASSWORD)
        (workdir / "copy-password").write_text(PASSWORD + "-copy")
        environments = write_environment(workdir, data)
        add_copy(environments, workdir)
        seawall(environments, workdir, "backup", "init", "bench")
        seawall(environments, workdir, "backup", "run", "bench")
        full, incremental = Measure(environments, workdir), Measure(environments, workdir)
        for index in range(RUNS):
            bare = fresh_copies(environments, workdir)
            full.both(index, bare)
        for index in range(RUNS):
            change_dataset(data, index)
            seawall(environments, workdir, "backup", "run", "bench")
            incremental.both(index, bare)
        files = sum(1 for path in data.rglob("*") if path.is_file())
    print(f"cores: {os.cpu_count()}; load average at the start {began:.2f}, at the end {os.getloadavg()[0]:.2f}")
    print(f"dataset: {mebibytes} MiB ({files} files); change: {CHANGED_FILES} x {CHANGED_BYTES // 1024} KiB")
    full.report("full")
    incremental.report("incremental")


if __name__ == "__main__":
    main()
