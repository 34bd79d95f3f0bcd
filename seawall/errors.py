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


class UsageError(ConfigError):
    """The command line names what is not there (an environment, a backup set, a host) or combines options
    that cannot go together: one line that lists what exists or says what to add, exit 2. A ConfigError, so
    code that catches those catches this too; never blamed on a file (no ``FILE:0``)."""

    def __init__(self, message: str) -> None:
        self.problems = [message]
        SeawallError.__init__(self, message)


class RenderError(SeawallError):
    """The Pulumi program failed while rendering an environment offline."""


class CheckFailed(SeawallError):
    """A check ran and found a problem (parity violation, audit failure, refused guard)."""

    exit_code = 1


class BackupError(SeawallError):
    """A backup, prune or drill step failed."""

    exit_code = 1


class CloudError(SeawallError):
    """DigitalOcean's API refused a request, could not be reached, or answered what is not its answer."""


class ToolMissing(SeawallError):
    """An external tool (restic, the Pulumi CLI) is not installed."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived: every command stops its children, cleans up and exits 128 + the signal.

    A ``BaseException``, like ``KeyboardInterrupt``, so that no ``except Exception`` on the way up
    mistakes it for a failure to carry on from.
    """

    def __init__(self, signum: int) -> None:
        import signal

        self.signum = signum
        self.exit_code = 128 + signum
        name = signal.Signals(signum).name
        super().__init__(f"interrupted by {name}: stopped, cleaned up and recorded as interrupted")
