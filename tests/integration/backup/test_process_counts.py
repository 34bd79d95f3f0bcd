"""How often Seawall starts restic: every restic process derives the repository key (scrypt, about 0.4
CPU-seconds here), so the counts are kept in tests. A stand-in on PATH records each argv and runs the
real restic (the counting is the stand-in's only job)."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest

from tests.integration.backup.conftest import RESTIC, Lab, seawall_process

pytestmark = [pytest.mark.integration, pytest.mark.skipif(RESTIC is None, reason="restic is not installed")]


def _counting_restic(tmp_path: Path) -> tuple[Path, Path]:
    log = tmp_path / "restic-argv.log"
    wrapper = tmp_path / "restic-counting"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {RESTIC} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper, log


def _commands(log: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in log.read_text().splitlines() if log.exists() else []:
        words = line.split()
        counts[words[0] if words[0] == "version" else words[2]] += 1
    return counts


def test_a_drill_starts_five_restic_processes_for_a_set_of_one_host(local_lab: Lab, seawall, tmp_path: Path) -> None:
    wrapper, log = _counting_restic(tmp_path)
    assert seawall(local_lab, "backup", "init", "lab").code == 0
    assert seawall(local_lab, "backup", "run", "lab").code == 0
    local_lab.document["backup"]["restic_binary"] = str(wrapper)
    local_lab.write()
    drill = seawall_process(local_lab, "drill", "lab")
    assert drill.wait(timeout=300) == 0, drill.stderr.read() if drill.stderr else ""
    # docs/drills.md states these numbers: per process one `version`; per set one check slice; per host
    # one listing (snapshot, size and sample), one restore and one dump of the sampled folder.
    assert _commands(log) == Counter({"version": 1, "check": 1, "ls": 1, "restore": 1, "dump": 1})


def test_a_run_reads_locks_only_when_the_repository_has_some(lab: Lab, seawall, tmp_path: Path) -> None:
    wrapper, log = _counting_restic(tmp_path)
    assert seawall(lab, "backup", "init", "lab").code == 0
    lab.document["backup"]["restic_binary"] = str(wrapper)
    lab.write()
    run = seawall_process(lab, "backup", "run", "lab")
    assert run.wait(timeout=300) == 0, run.stderr.read() if run.stderr else ""
    # The lock files are listed through the storage before and after the backup: with none, no restic.
    assert _commands(log) == Counter({"version": 1, "backup": 1, "snapshots": 1})


def test_status_starts_no_restic_and_deep_one_listing_per_repository(local_lab: Lab, seawall, tmp_path: Path) -> None:
    wrapper, log = _counting_restic(tmp_path)
    local_lab.document["datacenter_hosts"]["lab-empty"]["backup_sets"] = ["files"]
    local_lab.write()
    assert seawall(local_lab, "backup", "init", "lab").code == 0
    assert seawall(local_lab, "backup", "run", "lab", "--host", "lab-host").code == 0
    local_lab.document["backup"]["restic_binary"] = str(wrapper)
    local_lab.write()
    status = seawall_process(local_lab, "backup", "status", "lab", "--host", "lab-host")
    assert status.wait(timeout=120) == 0
    assert _commands(log) == Counter()
    deep = seawall_process(local_lab, "backup", "status", "lab", "--deep")
    assert deep.wait(timeout=120) == 1  # lab-empty has no snapshot: one listing answers for both hosts
    assert _commands(log) == Counter({"version": 1, "snapshots": 1})


def test_threads_that_ask_for_the_version_at_once_start_restic_once(tmp_path: Path) -> None:
    from seawall.backup import restic

    wrapper, log = _counting_restic(tmp_path)
    barrier = threading.Barrier(8)
    answers: list[tuple[int, int, int]] = []

    def ask() -> None:
        barrier.wait()
        answers.append(restic.detect_version(str(wrapper)))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(answers)) == 1
    assert _commands(log) == Counter({"version": 1})


def _timing_restic(tmp_path: Path) -> tuple[Path, Path]:
    """A stand-in that logs when each repository command starts and ends (``version`` is not one: it
    opens no repository) and holds each open a little, so that overlapping processes would show."""
    log = tmp_path / "restic-times.log"
    wrapper = tmp_path / "restic-timing"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = version ] && exec {RESTIC} "$@"\n'
        f'echo "$(date +%s.%N) 1" >> {log}\n'
        "sleep 0.2\n"
        f'{RESTIC} "$@"; code=$?\n'
        f'echo "$(date +%s.%N) -1" >> {log}\n'
        'exit "$code"\n'
    )
    wrapper.chmod(0o755)
    return wrapper, log


def _most_at_once(log: Path) -> int:
    running = most = 0
    for _, change in sorted((float(t), int(c)) for t, c in (line.split() for line in log.read_text().splitlines())):
        running += change
        most = max(most, running)
    return most


@pytest.mark.parametrize("jobs", [1, 2])
def test_jobs_is_the_number_of_restic_processes_at_once(local_lab: Lab, seawall, tmp_path: Path, jobs: int) -> None:
    local_lab.document["backup_sets"]["more"] = dict(local_lab.set("files"))
    local_lab.document["datacenter_hosts"]["lab-host"]["backup_sets"] = ["files", "more"]
    local_lab.write()
    assert seawall(local_lab, "backup", "init", "lab").code == 0
    assert seawall(local_lab, "backup", "run", "lab").code == 0
    wrapper, log = _timing_restic(tmp_path)
    local_lab.document["backup"]["restic_binary"] = str(wrapper)
    local_lab.write()
    drill = seawall_process(local_lab, "drill", "lab", "--jobs", str(jobs))
    assert drill.wait(timeout=300) == 0, drill.stderr.read() if drill.stderr else ""
    # Two sets: two check slices, and per set a listing, a restore and a dump, eight in all.
    assert len(log.read_text().splitlines()) == 2 * 8
    assert _most_at_once(log) == jobs
