"""The lab's stand-in for the Pulumi engine and the pulumi-command provider, which cannot run here.

It executes the ``command:remote`` steps of a rendered graph the way pulumi-command 1.2 does (its Go source,
``provider/pkg/provider/remote``, read for this):

- ``Command``: one SSH exec of ``create`` with ``stdin`` on standard input (no PTY; sshd runs the text with
  the user's shell); a non-zero exit fails the step, and a failed create is not recorded, so the next
  apply runs it again. ``triggers`` are replace-on-change (a new create); a change of ``create``,
  ``stdin`` or ``connection`` is an update, which runs ``create`` again (Seawall's steps give no ``update``).
- ``CopyToRemote``: SFTP; the destination's parent folders are made (``MkdirAll``), the file is written
  whole (mode from the server's umask, none kept from the source); copied again when the asset's
  content, the remote path or the triggers change.
- The engine: steps in the order of the graph's dependencies, every step whose dependencies are done at
  the same time (the engine's default is unbounded), no new step after the first failure (running ones
  finish). Dependencies on cloud resources (droplets, volumes) count as done: in the lab they are the
  booted containers.

The state of what ran is kept in a JSON file, as a stack's state would be.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seawall.render import Graph
from tests.lab.fleet import DEPLOYER, in_lab

COMMAND = "command:remote:Command"
COPY = "command:remote:CopyToRemote"
SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=15")  # fmt: skip


@dataclass
class StepRun:
    """What one step did: its name, whether it passed, its output, and how long it took."""

    name: str
    ok: bool
    output: str
    seconds: float


@dataclass
class Applied:
    """The result of one apply: every step that ran, in the order they finished, and the first failure."""

    runs: list[StepRun] = field(default_factory=list)

    @property
    def ran(self) -> list[str]:
        return [run.name for run in self.runs]

    @property
    def failed(self) -> list[StepRun]:
        return [run for run in self.runs if not run.ok]

    def raise_on_failure(self) -> None:
        if self.failed:
            first = self.failed[0]
            msg = f"step {first.name} failed:\n{first.output[-4000:]}"
            raise AssertionError(msg)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


class Executor:
    """Runs a graph's host steps against the lab, remembering what ran in ``state_file``."""

    def __init__(
        self,
        state_file: Path,
        log_folder: Path,
        on_step: Callable[[str], None] | None = None,
        source: str = DEPLOYER,
    ) -> None:
        self.source = source  # the deploying machine's address on the lab bridge
        self.state_file = state_file
        self.log_folder = log_folder
        self.on_step = on_step
        self.state: dict[str, Any] = json.loads(state_file.read_text()) if state_file.exists() else {}
        self._lock = threading.Lock()

    def pending(self, graph: Graph) -> dict[str, dict[str, Any]]:
        """Given a graph, return the steps an apply would run, with what decides it (the provider's diff)."""
        steps = {n: r for n, r in graph.resources.items() if r.type in (COMMAND, COPY)}
        return {
            name: record.inputs for name, record in steps.items() if self._changed(name, record.type, record.inputs)
        }

    def _identity(self, kind: str, inputs: dict[str, Any]) -> dict[str, str]:
        if kind == COPY:
            source = inputs.get("source") or {}
            content = Path(source["path"]).read_bytes() if source.get("asset") == "file" else str(source).encode()
            return {
                "triggers": _digest(inputs.get("triggers")),
                "update": _digest([hashlib.sha256(content).hexdigest(), inputs.get("remotePath")]),
            }
        return {
            "triggers": _digest(inputs.get("triggers")),
            "update": _digest([inputs.get("create"), inputs.get("stdin"), inputs.get("connection")]),
        }

    def _changed(self, name: str, kind: str, inputs: dict[str, Any]) -> bool:
        return self.state.get(name) != self._identity(kind, inputs)

    def apply(self, graph: Graph) -> Applied:
        """Given a rendered graph, run every step that changed, in dependency order, concurrently where
        the engine would; stop starting steps at the first failure."""
        steps = {n: r for n, r in graph.resources.items() if r.type in (COMMAND, COPY)}
        todo = {name for name, record in steps.items() if self._changed(name, record.type, record.inputs)}
        deps = {name: {d for d in graph.dependencies.get(name, []) if d in steps} for name in steps}
        done = set(steps) - todo
        applied = Applied()
        running: dict[Future[StepRun], str] = {}
        failed = False
        with ThreadPoolExecutor(max_workers=max(1, len(todo))) as pool:
            while todo or running:
                if not failed:
                    for name in sorted(n for n in todo if deps[n] <= done):
                        todo.discard(name)
                        running[pool.submit(self._run, name, steps[name].type, steps[name].inputs)] = name
                if not running:
                    break  # what is left waits on a failed step
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    name = running.pop(future)
                    result = future.result()
                    applied.runs.append(result)
                    if result.ok:
                        done.add(name)
                        with self._lock:
                            self.state[name] = self._identity(steps[name].type, steps[name].inputs)
                            self.state_file.write_text(json.dumps(self.state, indent=1, sort_keys=True))
                    else:
                        failed = True
        return applied

    def _run(self, name: str, kind: str, inputs: dict[str, Any]) -> StepRun:
        if self.on_step is not None:
            self.on_step(name)
        started = time.monotonic()
        connection = inputs["connection"]
        with tempfile.NamedTemporaryFile("w", suffix=".key", delete=True) as key:
            key.write(str(connection["privateKey"]).rstrip("\n") + "\n")
            key.flush()
            target = f"{connection.get('user', 'root')}@{connection['host']}"
            port = str(int(connection.get("port", 22)))
            if kind == COMMAND:
                options = (*SSH_OPTIONS, "-o", f"BindAddress={self.source}", "-i", key.name)
                argv = in_lab("ssh", *options, "-p", port, target, "--", str(inputs["create"]))
                result = self._dial(argv, inputs.get("stdin"))
            else:
                options = (*SSH_OPTIONS, "-o", f"BindAddress={self.source}", "-i", key.name)
                result = self._dial(in_lab("sftp", *options, "-P", port, "-b", "-", target), _sftp_batch(inputs))
        output = result.stdout + result.stderr
        (self.log_folder / f"{name}.log").write_text(output)
        return StepRun(name, result.returncode == 0, output, time.monotonic() - started)

    def _dial(self, argv: list[str], stdin: str | None) -> subprocess.CompletedProcess[str]:
        """Run one SSH or SFTP session; a connection that fails (ssh's 255 before the command ran) is
        dialled again, 10 times at most, as the provider does."""
        for attempt in range(11):
            result = subprocess.run(argv, input=stdin or "", capture_output=True, text=True, timeout=1200, check=False)
            unreachable = result.returncode == 255 and "Connection" in result.stderr
            if not unreachable or attempt == 10:
                return result
            time.sleep(min(5.0, 0.1 * 1.5**attempt))
        return result


def _sftp_batch(inputs: dict[str, Any]) -> str:
    """The SFTP batch of one copy: the destination's parents made (errors ignored, as MkdirAll), the file put."""
    source = inputs["source"]
    remote = str(inputs["remotePath"])
    parts = remote.split("/")[:-1]
    lines = []
    for index in range(1, len(parts) + 1):
        parent = "/".join(parts[:index])
        if parent:
            lines.append(f"-mkdir {shlex.quote(parent)}")
    lines.append(f"put {shlex.quote(source['path'])} {shlex.quote(remote)}")
    return "\n".join(lines) + "\n"
