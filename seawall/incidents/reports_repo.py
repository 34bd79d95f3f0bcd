"""The incident reports repository: a git working tree that holds one Markdown report per incident.

Every change to a report is one commit. Before writing, the repository must exist, be the top of a git
working tree and be clean, so that a commit holds exactly what Seawall wrote and nothing of someone
else's; otherwise nothing is written and the error says what to do. It must be on a branch (a commit on a
detached HEAD belongs to no branch) and have no unmerged file (a merge or rebase stopped on a conflict).

Incident commands on one repository take turns: each holds a lock in the repository's git dir from
reading a report to committing it, so that two updates at once never write over each other.
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import os
import re
import shlex
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from seawall.errors import Interrupted, SeawallError, ToolMissing
from seawall.files import os_reason
from seawall.runner import Command, Result, children, run

logger = logging.getLogger(__name__)
GIT_TIMEOUT = 60
# Fetching the team's repository before giving out an id: short, and never a prompt, during an incident.
FETCH_TIMEOUT = 20
REPORT_NAME = re.compile(r"^\d{4}/[^/]*-(INC-\d{4}-\d{3,})-[^/]*\.md$")
# An escalation issue's body lies beside its report: <report>-escalation.md.
ESCALATION_SUFFIX = "-escalation.md"
# The lock incident commands take turns with, in the repository's git dir (shared by its worktrees), and
# how long a command waits for the one before it (an update holds it for well under a second).
LOCK_NAME = "seawall-incidents.lock"
LOCK_WAIT_SECONDS = 30.0
LOCK_POLL_SECONDS = 0.05


class ReportsError(SeawallError):
    """The reports repository cannot be used, or an incident is not in it."""


class AmbiguousReport(ReportsError):
    """Two reports carry the same id (two clones gave it out before either was pushed)."""


class UnmergedReports(ReportsError):
    """A merge, rebase or pull stopped on a conflict in the repository: its reports cannot be trusted."""


def make_git_command(folder: Path, *args: str) -> Command:
    """Given the repository and git's arguments, return the command (git -C FOLDER ...)."""
    return Command(("git", "-C", str(folder), *args), timeout=GIT_TIMEOUT)


class ReportsRepository:
    """One reports repository on disk."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock: IO[str] | None = None

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
                f"repository there, or create it with `git init {shlex.quote(str(self.folder))}`"
            )
            raise ReportsError(msg)
        top = self._git("rev-parse", "--show-toplevel")
        if not top.ok or Path(top.stdout.strip()).resolve() != self.folder.resolve():
            msg = (
                f"{self.folder} is not a git repository of its own: clone the reports repository there, or "
                f"`git init {shlex.quote(str(self.folder))}` (incidents.repository in the model names it)"
            )
            raise ReportsError(msg)
        self._require_merged()

    def _require_merged(self) -> None:
        unmerged = self._git("diff", "--name-only", "--diff-filter=U", "-z").stdout.split("\0")
        names = sorted({name for name in unmerged if name})
        if names:
            msg = (
                f"the incident reports repository {self.folder} has unmerged files ({', '.join(names[:3])}): a "
                "merge, rebase or pull stopped on a conflict. Resolve the conflict and commit it, or abort it "
                f"(`git -C {shlex.quote(str(self.folder))} merge --abort` or `git -C {shlex.quote(str(self.folder))} "
                "rebase --abort`), then run this command again"
            )
            raise UnmergedReports(msg)

    def require_on_branch(self) -> None:
        """Raise ReportsError when HEAD is detached: a commit there would belong to no branch."""
        if self._git("symbolic-ref", "--quiet", "HEAD").ok:
            return
        at = self._git("rev-parse", "--short", "HEAD").stdout.strip() or "no commit"
        branches = self._git("for-each-ref", "--format=%(refname:short)", "refs/heads").stdout.split()
        branch = branches[0] if len(branches) == 1 else "BRANCH"
        which = "" if len(branches) == 1 else f" (one of: {', '.join(branches) or 'none yet'})"
        msg = (
            f"the incident reports repository {self.folder} is on a detached HEAD (at {at}): a commit there "
            f"would be on no branch. Switch to its branch first (`git -C {shlex.quote(str(self.folder))} switch "
            f"{branch}`{which}), or finish the rebase or bisect that left it there, then run this command again"
        )
        raise ReportsError(msg)

    def require_clean(self) -> None:
        """Raise ReportsError unless the repository is usable, on a branch and has no uncommitted change."""
        self.require_readable()
        self.require_on_branch()
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

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the incident commands' lock on this repository while the block runs: wait for the command
        that holds it (``LOCK_WAIT_SECONDS`` at most), then raise ReportsError saying so. Entered again
        while held, it is already held.

        The lock is a ``flock`` on ``seawall-incidents.lock`` in the repository's git dir, so the kernel
        lets go of it when its process ends, however it ends: it is never left behind. After a signal it is
        held until the cleanup that puts an unfinished report back has run.
        """
        if self._lock is not None:
            yield
            return
        self.require_readable()
        lock = self._take_lock()
        self._lock, interrupted = lock, False
        try:
            yield
        except Interrupted:
            interrupted = True
            children.on_interrupt(f"reports lock {self.folder}", lock.close)
            raise
        finally:
            self._lock = None
            if not interrupted:
                lock.close()

    def _take_lock(self) -> IO[str]:
        common = self._git("rev-parse", "--git-common-dir")
        if not common.ok:
            msg = f"git cannot find the git dir of {self.folder}: {common.last_error_line()}"
            raise ReportsError(msg)
        path = (self.folder / common.stdout.strip() / LOCK_NAME).resolve()
        try:
            lock = path.open("a+", encoding="utf-8")
        except OSError as exc:
            msg = f"cannot lock the incident reports repository {self.folder}: {os_reason(exc)}; make it writable"
            raise ReportsError(msg) from None
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        try:
            while not _locked_now(lock):
                if time.monotonic() >= deadline:
                    raise ReportsError(self._busy(lock, path))
                time.sleep(LOCK_POLL_SECONDS)
        except BaseException:
            lock.close()
            raise
        lock.truncate(0)  # who holds it, for a command that waits in vain
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        return lock

    def _busy(self, lock: IO[str], path: Path) -> str:
        lock.seek(0)
        holder = lock.read().strip()
        who = f"process {holder}, " if holder.isdigit() else ""
        return (
            f"another incident command holds the lock on the incident reports repository {self.folder} and has "
            f"not finished in {LOCK_WAIT_SECONDS:g} s ({who}{path}): nothing was written; run this command "
            "again once it has ended"
        )

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


def _locked_now(lock: IO[str]) -> bool:
    """Given the open lock file, take the lock if it is free; return whether it is held now."""
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
