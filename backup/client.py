"""A restic repository to talk to: runs commands, raises typed errors, and clears stale locks.

A lock is stale when it is older than ``stale_after`` or was taken on this host by a process that no
longer exists. Stale locks are cleared and logged; a live lock is waited for a bounded number of times,
then reported.
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, TypeVar

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
    storage_endpoint,
)
from seawall.runner import Command, Result, children, run, stream

logger = logging.getLogger(__name__)
T = TypeVar("T")
ENDPOINT_PROBE_SECONDS = 5.0


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


class Restic:
    """One repository, with the version of the restic binary that serves it.

    ``slots``, when given, bounds the restic processes that run at once across every client sharing it
    (``--jobs``); the time a thread waited for a slot is kept, so that what a drill measures is restic's
    work, not its place in the queue.
    """

    def __init__(
        self,
        target: Target,
        locks: LockPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        slots: threading.Semaphore | None = None,
    ):
        self.target = target
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
            children.on_interrupt(f"unlock {self.target.repository}", self._remove_dead_locks)
        with self._slot():
            result = run(command, on_line)
        error = classify(result, self.version, self.target.repository)
        if error is not None and result.timed_out and not isinstance(error, StorageUnreachable):
            error = self._unreachable(result) or error
        if error is not None:
            error.result = result
            raise error
        return result

    def _unreachable(self, result: Result) -> StorageUnreachable | None:
        """After a timeout, ask the S3 endpoint itself (one TCP connection): restic says nothing while it
        retries, so a refused or silent endpoint is named instead of a bare timeout."""
        endpoint = storage_endpoint(self.target.repository)
        if not self.target.repository.startswith("s3:"):
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

    def _remove_dead_locks(self) -> None:
        """Remove the locks of processes of this host that no longer exist (what an interruption leaves)."""
        dead = [
            lock
            for lock in self.list_locks()
            if lock.hostname == socket.gethostname() and not _process_exists(lock.pid)
        ]
        if dead:
            self.execute(make_unlock_command(self.target))
            logger.warning(
                "removed %d lock(s) of interrupted restic processes from %s", len(dead), self.target.repository
            )

    def list_locks(self) -> list[LockInfo]:
        """Return every lock of the repository; a lock removed while it is read is simply not listed."""
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
        return lock.hostname == socket.gethostname() and not _process_exists(lock.pid)

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


def _process_exists(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
