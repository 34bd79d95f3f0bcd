"""What the offline engine runs, named without importing it.

``OFFLINE`` is the program (``seawall.stacks.program.build``) as ``seawall.render`` takes it. This module
imports neither the program nor the Pulumi SDK: a command whose renders run in render processes (parity
along the chain) never loads them itself, and each render process loads them once, before its first render.
"""

from __future__ import annotations

from typing import Any

from seawall.model.schema import Environment
from seawall.parity import Renderer
from seawall.render import Program

PROGRAM_MODULE = "seawall.stacks.program"
SECRET_CONFIG = ("resticPassword", "spacesAccessKeyId", "spacesSecretAccessKey", "sshPrivateKey")
# The off-site copy's password and the vault's key: read only where the model has a copy, given to the vault only.
VAULT_CONFIG = ("copyResticPassword", "vaultAccessKeyId", "vaultSecretAccessKey")


def _offline(env: Environment) -> dict[str, Any]:
    from seawall.stacks import program

    return program.build(env)  # looked up at call time, so a test can stand in for build


# What the offline engine runs (``seawall.render.render(env, OFFLINE)``); the core never imports this module.
OFFLINE = Program(_offline, SECRET_CONFIG + VAULT_CONFIG, (PROGRAM_MODULE,))


def offline_renderer() -> Renderer:
    """Return a renderer of this program for one command (its renders shared by parity and the audit)."""
    return Renderer(OFFLINE)
