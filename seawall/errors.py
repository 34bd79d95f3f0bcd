"""One exception family. Only the CLI turns these into a message and an exit code."""

from __future__ import annotations


class SeawallError(Exception):
    """Base of every error Seawall raises on purpose. ``exit_code`` is what the CLI exits with."""

    exit_code = 2


class ConfigError(SeawallError):
    """The environment files are invalid. ``problems`` holds every finding, already formatted."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        heading = f"{count} configuration error{'s' if count != 1 else ''}"
        super().__init__(heading + ":\n" + "\n".join(self.problems))


class RenderError(SeawallError):
    """The Pulumi program failed while rendering an environment offline."""


class CheckFailed(SeawallError):
    """A check ran and found a problem (parity violation, audit failure, refused guard)."""

    exit_code = 1


class BackupError(SeawallError):
    """A backup, prune or drill step failed."""

    exit_code = 1


class ToolMissing(SeawallError):
    """An external tool (restic, the Pulumi CLI) is not installed."""
