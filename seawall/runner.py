"""The one place that runs processes.

A command is data (``Command``): its argv tuple, extra environment, working directory, timeout and
standard input. It runs without a shell. Secrets travel in the environment or in files, never in argv,
and every logged command line and environment is masked. Standard output can be streamed line by line
(restic's ``--json`` progress); standard error is collected for classification.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, TypeVar

from seawall.errors import SeawallError, ToolMissing
from seawall.logs import mask

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Never inherited from the caller: each command names its repository and credentials itself.
SCRUBBED_PREFIXES = ("RESTIC_", "AWS_")


@dataclass(frozen=True)
class Command:
    """A process to run: argv (no shell), extra environment, folder, timeout in seconds, stdin text."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    timeout: float | None = None
    stdin: str | None = None


@dataclass(frozen=True)
class Result:
    """What a finished process left: exit code, output, time taken, and whether it was stopped."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        """Return whether the process exited 0 in time."""
        return self.returncode == 0 and not self.timed_out

    def last_error_line(self) -> str:
        """Return the most telling line of stderr (the last non-empty one), masked."""
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        return mask(lines[-1]) if lines else f"exit code {self.returncode}"


def describe(command: Command) -> str:
    """Given a command, return it as one masked line for logs: argv, then the names of added variables."""
    names = ", ".join(sorted(command.env))
    return mask(" ".join(command.argv)) + (f"  [env: {names}]" if names else "")


def run(command: Command, on_line: Callable[[str], None] | None = None) -> Result:
    """Given a command, run it to the end (or its timeout) and return its result.

    ``on_line`` receives each line of standard output as it arrives. A missing program raises
    ToolMissing; every other failure is in the returned result for the caller to classify.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
    env.update(command.env)
    logger.debug("running: %s", describe(command))
    start = time.monotonic()
    try:
        process = subprocess.Popen(
            command.argv,
            stdin=subprocess.PIPE if command.stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=command.cwd,
            env=env,
            text=True,
            errors="replace",
        )
    except FileNotFoundError:
        msg = f"{command.argv[0]!r} is not installed or not on PATH"
        raise ToolMissing(msg) from None
    except PermissionError as exc:
        msg = f"cannot run {command.argv[0]!r}: {exc.strerror}"
        raise SeawallError(msg) from None
    stopped = threading.Event()
    timer = _start_deadline(process, command.timeout, stopped)
    stderr_lines: list[str] = []
    reader = threading.Thread(target=_collect, args=(process.stderr, stderr_lines), daemon=True)
    reader.start()
    if command.stdin is not None and process.stdin is not None:
        _feed(process.stdin, command.stdin)
    stdout_lines = []
    assert process.stdout is not None
    for line in process.stdout:
        stdout_lines.append(line)
        if on_line is not None:
            on_line(line.rstrip("\n"))
    returncode = process.wait()
    reader.join()
    if timer is not None:
        timer.cancel()
    seconds = time.monotonic() - start
    result = Result(command.argv, returncode, "".join(stdout_lines), "".join(stderr_lines), seconds, stopped.is_set())
    logger.debug("exit %s after %.2fs: %s", returncode, seconds, mask(command.argv[0]))
    return result


def stream(command: Command, consume: Callable[[IO[bytes]], T]) -> tuple[Result, T | None]:
    """Given a command and a reader of its binary standard output, run both; return the result and what
    ``consume`` returned (None when the program failed before ``consume`` finished)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
    env.update(command.env)
    logger.debug("streaming: %s", describe(command))
    start = time.monotonic()
    try:
        process = subprocess.Popen(
            command.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=command.cwd,
            env=env,
        )
    except FileNotFoundError:
        msg = f"{command.argv[0]!r} is not installed or not on PATH"
        raise ToolMissing(msg) from None
    stopped = threading.Event()
    timer = _start_deadline(process, command.timeout, stopped)
    errors: list[bytes] = []
    reader = threading.Thread(target=_collect, args=(process.stderr, errors), daemon=True)
    reader.start()
    assert process.stdout is not None
    value: T | None = None
    try:
        value = consume(process.stdout)
    except Exception:
        logger.debug("reading the output of %s failed", mask(command.argv[0]), exc_info=True)
    process.stdout.read()
    returncode = process.wait()
    reader.join()
    if timer is not None:
        timer.cancel()
    stderr = b"".join(errors).decode(errors="replace")
    return Result(command.argv, returncode, "", stderr, time.monotonic() - start, stopped.is_set()), value


def _start_deadline(
    process: subprocess.Popen[Any], timeout: float | None, stopped: threading.Event
) -> threading.Timer | None:
    if timeout is None:
        return None

    def stop() -> None:
        stopped.set()
        process.kill()

    timer = threading.Timer(timeout, stop)
    timer.daemon = True
    timer.start()
    return timer


def _collect(stream: object, lines: list[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        lines.append(line)


def _feed(pipe: object, text: str) -> None:
    try:
        pipe.write(text)  # type: ignore[attr-defined]
        pipe.close()  # type: ignore[attr-defined]
    except BrokenPipeError:
        pass
