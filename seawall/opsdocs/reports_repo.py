"""The incident reports repository: a git working tree that holds one Markdown report per incident.

Every change to a report is one commit. Before writing, the repository must exist, be the top of a git
working tree and be clean, so that a commit holds exactly what Seawall wrote and nothing of someone
else's; otherwise nothing is written and the error says what to do.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

from seawall.errors import SeawallError, ToolMissing
from seawall.runner import Command, Result, run

logger = logging.getLogger(__name__)
GIT_TIMEOUT = 60
# Fetching the team's repository before giving out an id: short, and never a prompt, during an incident.
FETCH_TIMEOUT = 20
REPORT_NAME = re.compile(r"^\d{4}/[^/]*-(INC-\d{4}-\d{3,})-[^/]*\.md$")
# An escalation issue's body lies beside its report: <report>-escalation.md.
ESCALATION_SUFFIX = "-escalation.md"


class ReportsError(SeawallError):
    """The reports repository cannot be used, or an incident is not in it."""


class AmbiguousReport(ReportsError):
    """Two reports carry the same id (two clones gave it out before either was pushed)."""


def make_git_command(folder: Path, *args: str) -> Command:
    """Given the repository and git's arguments, return the command (git -C FOLDER ...)."""
    return Command(("git", "-C", str(folder), *args), timeout=GIT_TIMEOUT)


class ReportsRepository:
    """One reports repository on disk."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _git(self, *args: str, timeout: float = GIT_TIMEOUT, env: dict[str, str] | None = None) -> Result:
        try:
            return run(dataclasses.replace(make_git_command(self.folder, *args), timeout=timeout, env=env or {}))
        except ToolMissing:
            msg = "git is not installed: install it (apt-get install git) to keep incident reports"
            raise ReportsError(msg) from None

    def require_readable(self) -> None:
        """Raise ReportsError unless the folder exists and is a git working tree of its own."""
        if not self.folder.is_dir():
            msg = (
                f"the incident reports repository {self.folder} does not exist: clone the team's reports "
                f"repository there, or create it with `git init {self.folder}`"
            )
            raise ReportsError(msg)
        top = self._git("rev-parse", "--show-toplevel")
        if not top.ok or Path(top.stdout.strip()).resolve() != self.folder.resolve():
            msg = (
                f"{self.folder} is not a git repository of its own: clone the reports repository there, or "
                f"`git init {self.folder}` (incidents.repository in the model names it)"
            )
            raise ReportsError(msg)

    def require_clean(self) -> None:
        """Raise ReportsError unless the repository is usable and has no uncommitted change."""
        self.require_readable()
        status = self._git("status", "--porcelain", "--untracked-files=all")
        if not status.ok:
            msg = f"git status failed in {self.folder}: {status.last_error_line()}"
            raise ReportsError(msg)
        if status.stdout.strip():
            changed = ", ".join(line[3:] for line in status.stdout.splitlines()[:3])
            msg = (
                f"the incident reports repository {self.folder} has uncommitted changes ({changed}): commit or "
                "stash them first, so that Seawall's commit holds only its own change"
            )
            raise ReportsError(msg)

    def commit(self, paths: list[Path], message: str) -> str:
        """Given files written inside the repository and a message, commit them; return the commit id."""
        relative = [str(path.relative_to(self.folder)) for path in paths]
        added = self._git("add", "--", *relative)
        committed = self._git("commit", "--quiet", "--no-verify", "-m", message, "--", *relative) if added.ok else added
        if not committed.ok:
            msg = (
                f"git could not commit the report in {self.folder}: {committed.last_error_line()} "
                "(set git's user.name and user.email if it asks who you are)"
            )
            raise ReportsError(msg)
        return self._git("rev-parse", "--short", "HEAD").stdout.strip()

    def head(self) -> str:
        """Return the commit the repository is at (empty before its first commit)."""
        return self._git("rev-parse", "--verify", "--quiet", "HEAD").stdout.strip()

    def commit_undo(self, path: Path) -> None:
        """Given a file a failed commit had staged, take it out of the index again."""
        self._git("reset", "--quiet", "--", str(path.relative_to(self.folder)))

    def upstream_ids(self) -> list[str]:
        """Fetch the branch this working tree tracks and return the ids of the reports on it (none without
        one). A fetch that fails (offline during an incident) is a warning: the last fetched state counts."""
        upstream = self._git("rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}")
        if not upstream.ok:
            return []
        fetched = self._git("fetch", "--quiet", timeout=FETCH_TIMEOUT, env={"GIT_TERMINAL_PROMPT": "0"})
        if not fetched.ok:
            logger.warning(
                "could not fetch %s (%s): the id is given out from what was last fetched and may already be "
                "taken in another clone",
                upstream.stdout.strip(),
                "timed out" if fetched.timed_out else fetched.last_error_line(),
            )
        listed = self._git("ls-tree", "-r", "--name-only", upstream.stdout.strip())
        return [match.group(1) for name in listed.stdout.splitlines() if (match := REPORT_NAME.match(name))]

    def reports(self) -> list[Path]:
        """Return every report file (``<year>/<date>-<id>-<slug>.md``), oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted(
            path
            for path in self.folder.glob("[0-9][0-9][0-9][0-9]/*.md")
            if "-INC-" in path.name and not path.name.endswith(ESCALATION_SUFFIX)
        )
