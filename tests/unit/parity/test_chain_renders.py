"""``parity --chain`` renders each environment once, in render processes when more than one core is free:
the counts (with and without ``--all``), the same bytes from render processes as from one process, a render
process's error as the same one line, and Ctrl-C or SIGTERM stopping the render processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import seawall.render
import seawall.stacks.offline
from seawall.parity import Renderer
from seawall.stacks.offline import OFFLINE
from tests.conftest import PROJECT, SHIPPED
from tests.unit.parity import programs

pytestmark = pytest.mark.render  # renders under the mock engine

CHAIN = ["devnet", "mainnet", "qanet", "testnet"]


def _renderers(monkeypatch: pytest.MonkeyPatch, program: seawall.render.Program = OFFLINE, **options: int) -> list:
    """Have the CLI's renderers recorded (each counts what it renders, ``Renderer.rendered``)."""
    made: list[Renderer] = []

    def make() -> Renderer:
        made.append(Renderer(program, **options))
        return made[-1]

    monkeypatch.setattr(seawall.stacks.offline, "offline_renderer", make)
    return made


@pytest.mark.parametrize("options", [[], ["--all"], ["--format", "json"], ["--format", "markdown", "--all"]])
def test_the_chain_renders_each_of_the_four_environments_once(cli, monkeypatch, options) -> None:
    made = _renderers(monkeypatch)
    result = cli("--environments", SHIPPED, "parity", "--chain", *options)
    assert result.code == 0
    assert sorted(made[0].rendered) == CHAIN


def test_the_renderer_counts_every_render_the_engine_makes(cli, monkeypatch) -> None:
    made = _renderers(monkeypatch, jobs=1)  # in this process, where render itself can be counted
    calls: list[str] = []
    real = seawall.render.render

    def counting(env, program, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(env.name)
        return real(env, program, *args, **kwargs)

    monkeypatch.setattr(seawall.render, "render", counting)
    assert cli("--environments", SHIPPED, "parity", "--chain", "--all").code == 0
    assert sorted(calls) == sorted(made[0].rendered) == CHAIN


def test_the_chain_is_the_same_bytes_from_render_processes_as_from_this_process(cli, monkeypatch) -> None:
    _renderers(monkeypatch, jobs=2)
    parallel = cli("--environments", SHIPPED, "parity", "--chain", "--format", "json")
    _renderers(monkeypatch, jobs=1)
    serial = cli("--environments", SHIPPED, "parity", "--chain", "--format", "json")
    assert parallel.code == serial.code == 0
    assert parallel.out == serial.out


def test_a_program_error_in_a_render_process_is_one_line_and_exit_2(cli, monkeypatch) -> None:
    _renderers(monkeypatch, programs.FAILS_ON_TESTNET, jobs=2)
    result = cli("--environments", SHIPPED, "parity", "--chain")
    assert result.code == 2
    assert result.err.strip().splitlines() == [
        "seawall: error: rendering testnet failed: ValueError: boom in the program"
    ]


# The CLI with a program whose every render takes a minute, in two render processes.
SLOW_CLI = (
    "import sys\n"
    "import seawall.parity, seawall.stacks.offline\n"
    "from tests.unit.parity import programs\n"
    "seawall.stacks.offline.offline_renderer = lambda: seawall.parity.Renderer(programs.SLEEPS, jobs=2)\n"
    "from seawall.cli.app import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


@pytest.mark.parametrize(
    ("signum", "whole_group"),
    [(signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["ctrl-c to the terminal's process group", "sigterm to the command alone"],
)
def test_an_interruption_stops_the_render_processes(signum: int, whole_group: bool) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_CLI, "--environments", str(SHIPPED), "parity", "--chain"],
        cwd=PROJECT,
        env={**os.environ, "PYTHONPATH": str(PROJECT), "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives a command
    )
    try:
        started = _wait_for(lambda: len(_group(process.pid)) >= 4, 60)  # the command, the server, two workers
        assert started, f"the render processes did not start: {_group(process.pid)}"
        helpers = _group(process.pid) - {process.pid}
        if whole_group:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 128 + signum
    name = signal.Signals(signum).name
    assert err.strip().splitlines() == [
        f"seawall: error: interrupted by {name}: stopped, cleaned up and recorded as interrupted"
    ]
    assert _wait_for(lambda: not (helpers & _alive()), 10), f"still running: {helpers & _alive()}"


def _group(pgid: int) -> set[int]:
    """Return the processes of a process group."""
    found = set()
    for pid in _alive():
        try:
            if os.getpgid(pid) == pgid:
                found.add(pid)
        except ProcessLookupError:
            continue
    return found


def _alive() -> set[int]:
    alive = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z":
                alive.add(int(entry.name))
    return alive


def _wait_for(condition, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_seawall_render_jobs_caps_the_render_processes(monkeypatch) -> None:
    from seawall.runner import JOBS_VARIABLE, available_cores

    monkeypatch.delenv(JOBS_VARIABLE, raising=False)
    cores = available_cores()
    assert cores == len(os.sched_getaffinity(0))
    monkeypatch.setenv(JOBS_VARIABLE, "1")
    assert available_cores() == 1
    monkeypatch.setenv(JOBS_VARIABLE, "nonsense")
    assert available_cores() == cores


def _variable(name: str) -> str | None:
    """A render process's view of one environment variable (picklable: the workers import this module)."""
    return os.environ.get(name)


def test_render_processes_see_the_environment_as_it_is_now_not_as_it_was_when_their_server_started(
    monkeypatch,
) -> None:
    from seawall.runner import map_in_processes, start_process_server

    monkeypatch.setenv("SEAWALL_TEST_MARK", "when the server started")
    start_process_server()
    assert map_in_processes(_variable, ["SEAWALL_TEST_MARK"], 2) == ["when the server started"]
    monkeypatch.setenv("SEAWALL_TEST_MARK", "now")
    monkeypatch.delenv("SEAWALL_RENDER_JOBS", raising=False)
    assert map_in_processes(_variable, ["SEAWALL_TEST_MARK", "SEAWALL_RENDER_JOBS"], 2) == ["now", None]
