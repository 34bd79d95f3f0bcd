"""Whose lock is provably dead: restic records the host name and pid of each lock, and only on that host
can a pid be looked at. Real processes of this machine and its /proc, no stand-in."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from seawall.backup.client import PID_REUSE_MARGIN, LockInfo, left_by_dead_process, process_started

HERE = socket.gethostname()


def lock(pid: int, created: dt.datetime, hostname: str = HERE) -> LockInfo:
    return LockInfo("a" * 64, hostname, pid, created, exclusive=False)


def a_finished_pid() -> int:
    finished = subprocess.Popen(["true"])
    finished.wait()
    return finished.pid


def test_a_lock_of_this_host_whose_process_is_gone_is_dead() -> None:
    assert left_by_dead_process(lock(a_finished_pid(), dt.datetime.now(dt.UTC)))


def test_a_lock_of_another_host_is_never_dead_here_whatever_its_pid() -> None:
    assert not left_by_dead_process(lock(a_finished_pid(), dt.datetime.now(dt.UTC), hostname="other-host"))
    assert not left_by_dead_process(lock(os.getpid(), dt.datetime(2000, 1, 1, tzinfo=dt.UTC), hostname="other-host"))


def test_a_lock_of_a_live_process_started_before_it_is_live() -> None:
    started = process_started(os.getpid())
    assert started is not None
    assert started <= dt.datetime.now(dt.UTC)
    assert not left_by_dead_process(lock(os.getpid(), dt.datetime.now(dt.UTC)))
    assert not left_by_dead_process(lock(os.getpid(), started))
    assert not left_by_dead_process(lock(os.getpid(), started - PID_REUSE_MARGIN + dt.timedelta(seconds=1)))


def test_a_live_process_started_after_the_lock_was_written_is_not_its_owner() -> None:
    started = process_started(os.getpid())
    assert started is not None
    assert left_by_dead_process(lock(os.getpid(), started - PID_REUSE_MARGIN - dt.timedelta(seconds=1)))


def test_a_zombie_holds_no_lock() -> None:
    child = subprocess.Popen(["true"])
    try:
        for _ in range(200):
            if Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                break
            time.sleep(0.01)
        assert left_by_dead_process(lock(child.pid, dt.datetime.now(dt.UTC)))
    finally:
        child.wait()


@pytest.mark.parametrize("pid", [0, -1])
def test_a_lock_without_a_real_pid_is_not_provably_dead(pid: int) -> None:
    assert not left_by_dead_process(lock(pid, dt.datetime(2000, 1, 1, tzinfo=dt.UTC)))
