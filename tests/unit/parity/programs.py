"""Stand-in programs for the render processes' tests, importable by name as a render process needs them."""

from __future__ import annotations

import time
from typing import Any

from seawall.model.schema import Environment
from seawall.render import Program
from seawall.stacks.offline import OFFLINE


def fails_on_testnet(env: Environment) -> dict[str, Any]:
    """The program, with a bug that only testnet's model reaches."""
    from seawall.stacks import program

    if env.name == "testnet":
        raise ValueError("boom in the program")
    return program.build(env)


def sleeps(env: Environment) -> dict[str, Any]:
    """A program that takes a minute (long enough to be interrupted)."""
    time.sleep(60)
    return {}


FAILS_ON_TESTNET = Program(fails_on_testnet, OFFLINE.secret_config, OFFLINE.modules)
SLEEPS = Program(sleeps, ())
