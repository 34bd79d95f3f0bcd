"""Hook and check commands from the model, run without a shell.

A command is split into words like a shell would (``shlex``) but never interpreted by one: no pipes,
redirections or variables. ``{restore}`` in a drill check is replaced by the restored tree's folder.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from seawall.errors import BackupError
from seawall.model.types import split_command
from seawall.runner import Command, Result, run

logger = logging.getLogger(__name__)
# What a hook or check inherits from Seawall's environment: nothing that could be a secret (the
# repository password, the Spaces keys and every other variable the unit's credentials file sets stay
# out); a set's ``hooks.pass_env`` names any other variable to pass (``BackupContext.hook_env``).
HOOK_INHERITS = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")


class HookFailed(BackupError):
    """A hook or check command failed."""


def make_hook_command(
    text: str, cwd: Path, timeout: float, env: Mapping[str, str], placeholders: Mapping[str, str] | None = None
) -> Command:
    """Given a hook's text, return the command that runs it (placeholders filled in, no shell)."""
    try:
        words = split_command(text)
    except ValueError as exc:
        raise HookFailed(str(exc)) from None
    for key, value in (placeholders or {}).items():
        words = [word.replace("{" + key + "}", value) for word in words]
    return Command(tuple(words), dict(env), cwd=str(cwd), timeout=timeout, inherit=HOOK_INHERITS)


def run_hooks(
    commands: Sequence[str],
    what: str,
    cwd: Path,
    timeout: float,
    env: Mapping[str, str],
    placeholders: Mapping[str, str] | None = None,
) -> list[Result]:
    """Given commands, run them in order and return their results; the first failure raises HookFailed."""
    results = []
    for text in commands:
        logger.info("%s: %s", what, text)
        command = make_hook_command(text, cwd, timeout, env, placeholders)
        result = run(command)
        results.append(result)
        if not result.ok:
            reason = "timed out" if result.timed_out else f"exit {result.returncode}: {result.last_error_line()}"
            msg = f"{what} {text!r} failed ({reason})"
            raise HookFailed(msg)
    return results
