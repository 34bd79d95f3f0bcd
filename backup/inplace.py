"""Putting a restored tree in place over a live path without ever following a link.

restic restores a snapshot into an empty staging folder on the live path's own file system (restic 0.14
refuses to restore over an existing link, and any restic would write through a link it finds on the way);
then each entry is moved into place with ``rename`` relative to open directory descriptors, never through
a path: a link on or under the live path is replaced as a link (its target is never touched), a folder
that is a real folder is merged into (its mode, owner and times set to the snapshot's), anything else is
replaced. Files the snapshot does not have are kept, or removed with ``delete`` (``restore --delete``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

STAGING_PREFIX = ".seawall-restore-"
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def staging_folder(live: Path) -> Path:
    """Given a live path, return the staging folder for it: inside it when it is a real folder (the same
    file system, even when it is a mount point), else beside it."""
    root = live if live.is_dir() and not live.is_symlink() else live.parent
    return root / f"{STAGING_PREFIX}{os.getpid()}"


def remove_stale_staging(live: Path) -> None:
    """Remove staging folders an interrupted restore left in or beside a live path."""
    for root in (live, live.parent):
        if root.is_dir() and not root.is_symlink():
            for entry in root.iterdir():
                if entry.name.startswith(STAGING_PREFIX) and entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)


@contextlib.contextmanager
def _opened(path: Path | str, dir_fd: int | None = None) -> Iterator[int]:
    descriptor = os.open(path, _DIRECTORY, dir_fd=dir_fd)
    try:
        yield descriptor
    finally:
        os.close(descriptor)


def put_in_place(staged: Path, live: Path, delete: bool = False) -> None:
    """Given the restored copy of a live path (in its staging folder) and the live path, move the copy
    into place: never through a link, merging into a real folder, keeping (or with ``delete`` removing)
    what the copy does not have; a staging folder inside the live path is never removed here."""
    with _opened(staged.parent) as source, _opened(live.parent) as target:
        _place(source, target, live.name, delete)


def _lstat(name: str, directory: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=directory, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _remove(name: str, directory: int) -> None:
    found = _lstat(name, directory)
    if found is None:
        return
    if stat.S_ISDIR(found.st_mode):
        shutil.rmtree(name, dir_fd=directory)
    else:
        os.unlink(name, dir_fd=directory)


def _place(source: int, target: int, name: str, delete: bool) -> None:
    wanted = os.stat(name, dir_fd=source, follow_symlinks=False)
    present = _lstat(name, target)
    if stat.S_ISDIR(wanted.st_mode) and present is not None and stat.S_ISDIR(present.st_mode):
        with _opened(name, source) as inner_source, _opened(name, target) as inner_target:
            children = set(os.listdir(inner_source))
            for child in sorted(children):
                _place(inner_source, inner_target, child, delete)
            if delete:
                for child in sorted(set(os.listdir(inner_target)) - children):
                    if not child.startswith(STAGING_PREFIX):
                        _remove(child, inner_target)
            os.chown(inner_target, wanted.st_uid, wanted.st_gid)
            os.chmod(inner_target, stat.S_IMODE(wanted.st_mode))
            os.utime(inner_target, ns=(wanted.st_atime_ns, wanted.st_mtime_ns))
        return
    if present is not None and (stat.S_ISDIR(present.st_mode) or stat.S_ISDIR(wanted.st_mode)):
        _remove(name, target)  # a folder where a file or link goes, or a file or link where a folder goes
    os.rename(name, name, src_dir_fd=source, dst_dir_fd=target)


def restored_entries(staged: Path) -> int:
    """Given a restored copy, return how many entries it holds (itself included; 0 when it is absent)."""
    if not os.path.lexists(staged):
        return 0
    if not staged.is_dir() or staged.is_symlink():
        return 1
    return 1 + sum(len(dirs) + len(files) for _, dirs, files in os.walk(staged))
