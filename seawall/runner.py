"""The one place that runs processes.

A command is data (``Command``): its argv tuple, extra environment, working directory, timeout and
standard input. It runs without a shell. Secrets travel in the environment or in files, never in argv,
and every logged command line and environment is masked. Standard output can be streamed line by line
(restic's ``--json`` progress); standard error is collected for classification. CPU-bound Python work
(the offline renders) runs in worker processes through ``map_in_processes``, which stops them on an
interruption as the runner stops its commands.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, TypeVar

from seawall.errors import Interrupted, SeawallError, ToolMissing
from seawall.logs import mask

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Never inherited from the caller: the variable families the storage backends read (restic's own among them),
# each command naming its repository and credentials itself. The runner knows no backend: the storage seam
# (``seawall.backup.backends``) tells it with ``scrub_inherited`` when it loads. Until then, and in a process
# that never loads it (a CLI command that runs git, pip or systemctl, the Pulumi program's guard), it scrubs what
# restic and the S3 backend read: a secret is never handed on because the seam was not imported.
_scrubbed: tuple[str, ...] = ("RESTIC_", "AWS_")
# After SIGINT/SIGTERM, how long a child may take to clean up (restic removes its lock) before SIGKILL.
STOP_GRACE_SECONDS = 10.0
# Terminal control sequences (colours, cursor moves, OSC titles) never reach a message.
_ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])|[\x00-\x08\x0b-\x1f\x7f]")


class _Children:
    """Every process the runner has started and not yet reaped, and whether we were interrupted.

    After ``stop_all`` no new process starts: a thread that tries gets ``Interrupted`` at once, so a
    signal stops the whole command, not only the processes alive at that moment.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.live: set[subprocess.Popen[Any]] = set()
        self.interrupted: int | None = None
        self.cleanups: dict[str, Callable[[], None]] = {}

    def on_interrupt(self, key: str, cleanup: Callable[[], None]) -> None:
        """Given a key and a function, run the function once after an interruption, when every child has
        ended (e.g. remove the lock an interrupted restic left in a bucket)."""
        with self.lock:
            self.cleanups.setdefault(key, cleanup)

    def clean_up(self) -> None:
        """After an interruption and ``wait_all``: run the registered cleanups, new processes allowed."""
        with self.lock:
            cleanups = list(self.cleanups.values())
            self.cleanups.clear()
            signum, self.interrupted = self.interrupted, None
        try:
            for cleanup in cleanups:
                try:
                    cleanup()
                except Exception:
                    logger.warning("a cleanup after the interruption failed", exc_info=True)
        finally:
            with self.lock:
                self.interrupted = signum

    def add(self, process: subprocess.Popen[Any]) -> None:
        with self.lock:
            self.live.add(process)
            signum = self.interrupted
        if signum is not None:
            _stop(process, STOP_GRACE_SECONDS)
            raise Interrupted(signum)

    def discard(self, process: subprocess.Popen[Any]) -> None:
        with self.lock:
            self.live.discard(process)

    def stop_all(self, signum: int, grace: float = STOP_GRACE_SECONDS) -> None:
        """Given the signal that arrived, refuse new processes and stop the live ones: SIGINT first (so
        restic removes its lock), SIGKILL after ``grace`` seconds."""
        with self.lock:
            self.interrupted = signum
            processes = list(self.live)
        for process in processes:
            _stop(process, grace)

    def wait_all(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Wait up to ``grace`` seconds for every live process to end, then kill what is left."""
        deadline = time.monotonic() + grace
        with self.lock:
            processes = list(self.live)
        for process in processes:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            self.discard(process)

    def reset(self) -> None:
        """Forget an earlier interruption and its cleanups (a new command in the same process)."""
        with self.lock:
            self.interrupted = None
            self.cleanups.clear()


def _stop(process: subprocess.Popen[Any], grace: float) -> None:
    with contextlib.suppress(ProcessLookupError, OSError):
        process.send_signal(signal.SIGINT)

    def kill_if_alive() -> None:
        if process.poll() is None:
            process.kill()

    killer = threading.Timer(grace, kill_if_alive)
    killer.daemon = True
    killer.start()


children = _Children()


def scrub_inherited(prefixes: tuple[str, ...]) -> None:
    """Given variable-name prefixes, pass no variable of the caller's with one of them on to any process from
    now on (a command's own ``env`` and ``inherit`` still give it what it names)."""
    global _scrubbed
    _scrubbed = tuple(dict.fromkeys((*_scrubbed, *prefixes)))


def scrubbed_prefixes() -> tuple[str, ...]:
    """Return the prefixes of the caller's variables that no process inherits."""
    return _scrubbed


def clean_text(text: str) -> str:
    """Given text a program printed, return it without terminal escape sequences or control characters."""
    return _ESCAPES.sub("", text)


@dataclass(frozen=True)
class Command:
    """A process to run: argv (no shell), extra environment, folder, timeout in seconds, stdin text, and
    how much lower than ours its CPU priority is (``nice``: work that runs beside a more urgent process)."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    timeout: float | None = None
    stdin: str | None = None
    nice: int = 0
    # Which of our variables the process inherits: all but the scrubbed ones (None), or only these names
    # (a user's hook gets no secret Seawall holds unless its set passes it by name).
    inherit: tuple[str, ...] | None = None


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
        lines = [clean_text(line).strip() for line in self.stderr.splitlines()]
        lines = [line for line in lines if line]
        return mask(lines[-1]) if lines else f"exit code {self.returncode}"


def describe(command: Command) -> str:
    """Given a command, return it as one masked line for logs: argv, then the names of added variables."""
    names = ", ".join(sorted(command.env))
    return mask(" ".join(command.argv)) + (f"  [env: {names}]" if names else "")


class _Process:
    """A started process: its deadline, and a thread collecting standard error."""

    def __init__(self, command: Command, binary: bool) -> None:
        if command.inherit is None:
            env = {k: v for k, v in os.environ.items() if not k.startswith(_scrubbed)}
        else:
            env = {k: os.environ[k] for k in command.inherit if k in os.environ}
        env.update(command.env)
        logger.debug("running: %s", describe(command))
        self.command = command
        self.start = time.monotonic()
        if children.interrupted is not None:
            raise Interrupted(children.interrupted)
        try:
            self.popen: subprocess.Popen[Any] = subprocess.Popen(
                _with_priority(command, env),
                stdin=subprocess.PIPE if command.stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=command.cwd,
                env=env,
                text=not binary,
                errors=None if binary else "replace",
            )
        except FileNotFoundError:
            msg = f"{command.argv[0]!r} is not installed or not on PATH"
            raise ToolMissing(msg) from None
        except PermissionError as exc:
            msg = f"cannot run {command.argv[0]!r}: {exc.strerror}"
            raise SeawallError(msg) from None
        children.add(self.popen)
        self.stopped = threading.Event()
        self.timer = _start_deadline(self.popen, command.timeout, self.stopped)
        self.errors: list[Any] = []
        self.reader = threading.Thread(target=_collect, args=(self.popen.stderr, self.errors), daemon=True)
        self.reader.start()
        assert self.popen.stdout is not None  # stdout=PIPE always gives a stream
        self.stdout: IO[Any] = self.popen.stdout
        if command.stdin is not None and self.popen.stdin is not None:
            _feed(self.popen.stdin, command.stdin)

    def finish(self, stdout: str) -> Result:
        """Wait for the end and return the result."""
        returncode = self.popen.wait()
        children.discard(self.popen)
        self.reader.join()
        if self.timer is not None:
            self.timer.cancel()
        seconds = time.monotonic() - self.start
        stderr = "".join(e if isinstance(e, str) else e.decode(errors="replace") for e in self.errors)
        logger.debug("exit %s after %.2fs: %s", returncode, seconds, mask(self.command.argv[0]))
        return Result(self.command.argv, returncode, stdout, stderr, seconds, self.stopped.is_set())


def _with_priority(command: Command, env: Mapping[str, str]) -> tuple[str, ...]:
    """Given a command and the environment it runs with, return its argv, behind ``nice`` when it asks
    for a lower priority (and nice exists).

    ``nice`` sets the priority, then replaces itself with the program (same process, so a deadline's
    kill reaches it); every thread the program starts inherits the priority. Both are looked up on the
    child's PATH, as Popen would.
    """
    path = env.get("PATH")
    nice = shutil.which("nice", path=path) if command.nice > 0 else None
    program = shutil.which(command.argv[0], path=path) if nice is not None else None
    if nice is None or program is None:  # a missing program: Popen's own error names it
        return command.argv
    return (nice, "-n", str(command.nice), program, *command.argv[1:])


def run(command: Command, on_line: Callable[[str], None] | None = None) -> Result:
    """Given a command, run it to the end (or its timeout) and return its result.

    ``on_line`` receives each line of standard output as it arrives. A missing program raises
    ToolMissing; every other failure is in the returned result for the caller to classify.
    """
    process = _Process(command, binary=False)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if on_line is not None:
            on_line(line.rstrip("\n"))
    return process.finish("".join(lines))


def stream(command: Command, consume: Callable[[IO[bytes]], T]) -> tuple[Result, T | None]:
    """Given a command and a reader of its binary standard output, run both; return the result and what
    ``consume`` returned (None when the program failed before ``consume`` finished)."""
    process = _Process(command, binary=True)
    value: T | None = None
    try:
        value = consume(process.stdout)
    except Exception:
        logger.debug("reading the output of %s failed", mask(command.argv[0]), exc_info=True)
    process.stdout.read()
    return process.finish(""), value


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


# How many processes a CPU-bound map may use (the offline renders): unset, every core this process may run on.
JOBS_VARIABLE = "SEAWALL_RENDER_JOBS"


def available_cores() -> int:
    """Return how many cores this process may run on (its CPU affinity), at least 1; ``SEAWALL_RENDER_JOBS``
    caps it (1: everything in this process)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    wanted = os.environ.get(JOBS_VARIABLE, "").strip()
    if wanted.isdigit() and int(wanted) > 0:
        cores = min(cores, int(wanted))
    return max(cores, 1)


R = TypeVar("R")


def map_in_processes(function: Callable[[T], R], items: list[T], jobs: int, preload: tuple[str, ...] = ()) -> list[R]:
    """Given a picklable function and its arguments, return its results in the arguments' order, computed
    in up to ``jobs`` worker processes.

    Workers are forked from a server process that imported ``preload`` once (multiprocessing's
    ``forkserver``: none of this process's threads or state is copied into them), each given this process's
    environment variables as they are now (the server's are those of when it started). They ignore SIGINT: on
    Ctrl-C, or SIGTERM, the CLI's handler raises ``Interrupted`` here, and this stops them before it goes
    on. A worker's exception is raised here as it was raised there; a worker that died raises
    ``BrokenProcessPool``.
    """
    from concurrent.futures import ProcessPoolExecutor

    context = start_process_server(preload)
    executor = ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_start_worker, initargs=(dict(os.environ),)
    )
    try:
        futures = [executor.submit(function, item) for item in items]
        return [future.result() for future in futures]
    except BaseException:
        _stop_workers(executor)
        raise
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def start_process_server(preload: tuple[str, ...] = ()) -> Any:
    """Given the modules its workers need, start the server ``map_in_processes`` forks them from (once per
    process: later calls return at once) and return its multiprocessing context. The server imports
    ``preload`` in the background, so a caller that starts it early has that import overlap its own work."""
    import multiprocessing
    from multiprocessing import forkserver

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(preload))
    forkserver.ensure_running()
    return context


def _start_worker(environ: dict[str, str]) -> None:
    """A worker's first step: the parent's environment now (a render reads it as the parent would), and
    SIGINT ignored (Ctrl-C reaches the whole process group, and only the parent decides)."""
    os.environ.clear()
    os.environ.update(environ)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop_workers(executor: Any, grace: float = 5.0) -> None:
    """Terminate the executor's workers (a render holds nothing to clean up) and wait for them to end."""
    processes = list(getattr(executor, "_processes", {}).values())
    for process in processes:
        with contextlib.suppress(OSError, ValueError):
            process.terminate()
    deadline = time.monotonic() + grace
    for process in processes:
        with contextlib.suppress(OSError, ValueError):
            process.join(max(0.0, deadline - time.monotonic()))
