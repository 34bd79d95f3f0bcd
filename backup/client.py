"""A restic repository to talk to: runs commands, raises typed errors, and clears stale locks.

restic records the host name and pid of the process that took each lock. Only on that host can the pid
be looked at, and there a lock whose pid runs no process (or a process started after the lock was
written: the pid was reused) was provably left by a dead process. Such locks are removed one by one
before and after a backup run (``dead_locks_removed``) and when a command is interrupted; another
host's lock and a live one are never touched.

A lock is stale when it is older than ``stale_after`` or was left by a dead process of this host. Stale
locks are cleared and logged when they hold a command up; a live lock is waited for a bounded number of
times, then reported.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import random
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol, TypeVar

from seawall.backup.restic import (
    RepositoryLocked,
    ResticError,
    StorageUnreachable,
    Target,
    classify,
    detect_version,
    make_cat_lock_command,
    make_list_locks_command,
    make_unlock_command,
)
from seawall.errors import BackupError
from seawall.runner import Command, Result, children, run, stream

logger = logging.getLogger(__name__)
T = TypeVar("T")
ENDPOINT_PROBE_SECONDS = 5.0
# A live process that started this long after a lock was written cannot have written it (its pid was
# reused). The margin covers /proc's start times (boot time in whole seconds) and a clock stepped forward
# while the owner runs (restic writes its lock again every 5 minutes, with a fresh time).
PID_REUSE_MARGIN = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class LockPolicy:
    """How to treat locks: when one is stale, how often to try again, and how long to wait first."""

    stale_after: dt.timedelta = dt.timedelta(hours=2)
    attempts: int = 6
    wait: float = 5.0


@dataclass(frozen=True)
class LockInfo:
    """One lock of the repository."""

    lock_id: str
    hostname: str
    pid: int
    created: dt.datetime
    exclusive: bool


class LockFiles(Protocol):
    """Where a repository's lock files are, read and removed without the repository's password (a
    ``seawall.backup.backends.Backend``)."""

    def lock_ids(self) -> list[str]:
        """Return the ids of the repository's lock files."""
        ...

    def remove_lock(self, lock_id: str) -> None:
        """Remove one lock file (one already gone is no error)."""
        ...


class Restic:
    """One repository, with the version of the restic binary that serves it.

    ``slots``, when given, bounds the restic processes that run at once across every client sharing it
    (``--jobs``); the time a thread waited for a slot is kept, so that what a drill measures is restic's
    work, not its place in the queue.
    """

    def __init__(
        self,
        target: Target,
        lock_files: LockFiles,
        locks: LockPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        slots: threading.Semaphore | None = None,
    ):
        self.target = target
        self.lock_files = lock_files
        self.locks = locks or LockPolicy()
        self.version = detect_version(target.binary)
        self._sleep = sleep
        self._slots = slots
        self._waits = threading.local()

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        if self._slots is None:
            yield
            return
        asked = time.monotonic()
        with self._slots:
            self._waits.seconds = self.waited() + time.monotonic() - asked
            yield

    def waited(self) -> float:
        """Return the seconds this thread has waited for a slot so far."""
        return float(getattr(self._waits, "seconds", 0.0))

    def stream(self, command: Command, consume: Callable[[IO[bytes]], T]) -> tuple[Result, T | None]:
        """Given a command and a reader of its standard output, run both in a slot (``runner.stream``)."""
        with self._slot():
            return stream(command, consume)

    def execute(self, command: Command, on_line: Callable[[str], None] | None = None) -> Result:
        """Given a command, run it and return its result, or raise the typed error it amounts to.

        A command that takes a lock registers, once per repository, the removal of locks left by dead
        processes of this host should the command be interrupted: restic removes its own lock on SIGINT
        in a local repository, but not always in a bucket.
        """
        if "--no-lock" not in command.argv:
            children.on_interrupt(f"unlock {self.target.repository}", self.remove_dead_locks)
        with self._slot():
            result = run(command, on_line)
        error = classify(result, self.version, self.target)
        if error is not None and result.timed_out and not isinstance(error, StorageUnreachable):
            error = self._unreachable(result) or error
        if error is not None:
            error.result = result
            raise error
        return result

    def _unreachable(self, result: Result) -> StorageUnreachable | None:
        """After a timeout, ask the S3 endpoint itself (one TCP connection): restic says nothing while it
        retries, so a refused or silent endpoint is named instead of a bare timeout."""
        endpoint = self.target.endpoint
        if endpoint is None:
            return None
        url = urllib.parse.urlsplit(endpoint)
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            with socket.create_connection((url.hostname or "", port), timeout=ENDPOINT_PROBE_SECONDS):
                return None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
        return StorageUnreachable(
            f"the storage at {endpoint} cannot be reached ({reason}; restic timed out after {result.seconds:.0f}s): "
            "check the endpoint, the network and that the service is up; nothing was changed"
        )

    def execute_waiting_for_locks(
        self, make: Callable[[], Command], on_line: Callable[[str], None] | None = None
    ) -> Result:
        """Given a command factory, run it; when locked, clear stale locks or wait, a bounded number of times."""
        for attempt in range(1, self.locks.attempts + 1):
            try:
                return self.execute(make(), on_line)
            except RepositoryLocked:
                if self.clear_stale_locks():
                    continue
                if attempt == self.locks.attempts:
                    raise
                # Growing waits with jitter, so hosts that met the same lock do not all come back at once.
                delay = self.locks.wait * attempt * random.uniform(0.75, 1.25)
                logger.warning("%s is locked by a live process; trying again in %.0fs", self.target.repository, delay)
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def remove_dead_locks(self) -> None:
        """Remove the locks this host's dead processes left in the repository, one by one.

        The lock files are listed without restic (no restic process when there are none); each is read
        with ``restic cat lock``. Another host's lock, a live process's lock and one that cannot be
        read are left where they are.
        """
        ids = self.lock_files.lock_ids()
        if not ids:
            return
        dead = [lock for lock in self.list_locks(ids) if left_by_dead_process(lock)]
        for lock in dead:
            self.lock_files.remove_lock(lock.lock_id)
            logger.warning(
                "removed lock %s of %s: pid %s on %s, which took it at %s, no longer runs",
                lock.lock_id[:8],
                self.target.repository,
                lock.pid,
                lock.hostname,
                lock.created.isoformat(timespec="seconds"),
            )

    @contextlib.contextmanager
    def dead_locks_removed(self) -> Iterator[None]:
        """Around a block: remove the locks this host's dead processes left, before it and after it (also
        when it failed, which is when its own restic may have died holding one). Not being able to is a
        warning, never the block's failure; an interruption removes them on its way out."""
        self._try_to_remove_dead_locks()
        try:
            yield
        except Exception:
            self._try_to_remove_dead_locks()
            raise
        self._try_to_remove_dead_locks()

    def _try_to_remove_dead_locks(self) -> None:
        try:
            self.remove_dead_locks()
        except BackupError as exc:
            logger.warning(
                "could not remove the locks dead processes of this host left in %s: %s; the next run or "
                "`%s` removes them once the storage answers",
                self.target.repository,
                exc,
                self.target.seawall("unlock"),
            )

    def list_locks(self, ids: Sequence[str] | None = None) -> list[LockInfo]:
        """Return every lock of the repository (or those of ``ids``); a lock removed while it is read is
        simply not listed."""
        if ids is None:
            ids = self.execute(make_list_locks_command(self.target)).stdout.split()
        locks = []
        for lock_id in ids:
            try:
                data = json.loads(self.execute(make_cat_lock_command(self.target, lock_id)).stdout)
            except (ResticError, json.JSONDecodeError):
                logger.debug("lock %s went away while it was read", lock_id[:8])
                continue
            created = dt.datetime.fromisoformat(_trim_nanoseconds(data["time"]))
            locks.append(
                LockInfo(
                    lock_id, data.get("hostname", ""), int(data.get("pid", 0)), created, bool(data.get("exclusive"))
                )
            )
        return locks

    def is_stale(self, lock: LockInfo, now: dt.datetime | None = None) -> bool:
        """Given a lock, return whether it is stale: too old, or its process on this host is gone."""
        now = now or dt.datetime.now(dt.UTC)
        if now - lock.created > self.locks.stale_after:
            return True
        return left_by_dead_process(lock)

    def clear_stale_locks(self) -> bool:
        """Remove the locks when every one is stale; return whether any was removed."""
        locks = self.list_locks()
        if not locks or not all(self.is_stale(lock) for lock in locks):
            return False
        for lock in locks:
            logger.warning(
                "clearing stale lock %s of %s (pid %s on %s, taken %s)",
                lock.lock_id[:8],
                self.target.repository,
                lock.pid,
                lock.hostname,
                lock.created.isoformat(timespec="seconds"),
            )
        self.execute(make_unlock_command(self.target, remove_all=True))
        return True


def left_by_dead_process(lock: LockInfo) -> bool:
    """Given a lock, return whether this host can prove that the process that took it is gone: the lock
    names this host (restic records the machine's host name), and its pid runs no process, or a zombie,
    or a process that started more than ``PID_REUSE_MARGIN`` after the lock was written."""
    if lock.hostname != socket.gethostname() or lock.pid <= 0:
        return False
    try:
        os.kill(lock.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # a process of another user runs: alive
    if _process_state(lock.pid) == "Z":
        return True
    started = process_started(lock.pid)
    return started is not None and started > lock.created + PID_REUSE_MARGIN


def _proc_stat(pid: int) -> list[str] | None:
    """Return the fields of ``/proc/PID/stat`` from the state on (the third field), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[-1].split()


def _process_state(pid: int) -> str | None:
    fields = _proc_stat(pid)
    return fields[0] if fields else None


def process_started(pid: int) -> dt.datetime | None:
    """Given a pid, return when its process started (to within a second: the kernel gives the boot time
    in whole seconds), or None when /proc does not say."""
    fields = _proc_stat(pid)
    try:
        stat = Path("/proc/stat").read_text().splitlines()
        boot = int(next(line.split()[1] for line in stat if line.startswith("btime ")))
        ticks = int(fields[19]) if fields else -1  # the 22nd field: start time, in clock ticks after boot
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    if ticks < 0:
        return None
    return dt.datetime.fromtimestamp(boot + ticks / os.sysconf("SC_CLK_TCK"), dt.UTC)


def _trim_nanoseconds(stamp: str) -> str:
    """Given restic's RFC 3339 time with nanoseconds, return one Python can read."""
    head, dot, rest = stamp.partition(".")
    if not dot:
        return stamp.replace("Z", "+00:00")
    digits = "".join(c for c in rest if c.isdigit())
    zone = rest[len(digits) :].replace("Z", "+00:00")
    return f"{head}.{digits[:6]}{zone}"


def parse_time(stamp: str) -> dt.datetime:
    """Given a restic timestamp, return it as an aware datetime."""
    return dt.datetime.fromisoformat(_trim_nanoseconds(stamp))
