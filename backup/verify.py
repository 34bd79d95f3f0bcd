"""Verification of a restored tree: a sampled hash comparison against the repository, and size floors.

The sample is one folder of the snapshot, drawn (seeded) among folders that hold files, no larger than
a cap. restic streams that folder straight from the repository (``restic dump``, a tar); each file's
SHA-256 from that stream is compared with the SHA-256 of the same file as restored on disk. The two
reads go through different code paths (restore to disk, dump to a pipe), so a restore that wrote the
wrong bytes is caught even where both agree with the index.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import shutil
import sys
import tarfile
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from seawall.backup.restic import json_objects

CHUNK = 1024 * 1024
SAMPLE_CAP_BYTES = 16 * 1024 * 1024
UNLINK_THREADS = 32
UNLINK_BATCH = 512


@dataclass
class SampleResult:
    """What the sampled comparison found."""

    directory: str = ""
    files: int = 0
    bytes: int = 0
    mismatches: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return whether every sampled file matched."""
        return not self.mismatches and not self.missing


def sha256_file(path: Path) -> str:
    """Given a file, return its SHA-256, read in large chunks (the rate bench/drill.py measures)."""
    with path.open("rb", buffering=0) as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def folders_of(listing: Iterable[str]) -> dict[str, tuple[int, int]]:
    """Given ``restic ls --json`` lines, return each folder's count and total size of the files below it."""
    folders: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for node in json_objects(listing):
        if node.get("struct_type") == "node" and node.get("type") == "file":
            folder = os.path.dirname(node["path"])
            while folder not in ("", "/"):
                folders[folder][0] += 1
                folders[folder][1] += int(node.get("size", 0))
                folder = os.path.dirname(folder)
    return {name: (count, size) for name, (count, size) in folders.items()}


def choose_folder(
    folders: dict[str, tuple[int, int]], seed: int, most_files: int, cap: int = SAMPLE_CAP_BYTES
) -> str | None:
    """Given folders, a seed and a file limit, draw one holding at least one and at most ``most_files``
    files, and no more than ``cap`` bytes (else the smallest folder); None when there is no folder or
    the limit is 0 (no sample)."""
    if not folders or most_files <= 0:
        return None
    candidates = sorted(name for name, (count, size) in folders.items() if 0 < count <= most_files and size <= cap)
    if not candidates:
        return min(folders, key=lambda name: folders[name][1])
    return random.Random(seed).choice(candidates)


def draw_files(digests: dict[str, str], seed: int, most_files: int) -> dict[str, str]:
    """Given a folder's hashes by name, return at most ``most_files`` of them, drawn with the seed."""
    if len(digests) <= most_files:
        return digests
    kept = random.Random(seed).sample(sorted(digests), most_files)
    return {name: digests[name] for name in sorted(kept)}


def hash_tar_stream(stream: IO[bytes]) -> dict[str, str]:
    """Given a tar stream (``restic dump`` of a folder), return the SHA-256 of each regular file by name."""
    digests: dict[str, str] = {}
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in archive:
            if not member.isfile():
                continue
            handle = archive.extractfile(member)
            if handle is None:
                continue
            digest = hashlib.sha256()
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
            digests[member.name.lstrip("/")] = digest.hexdigest()
    return digests


def compare_sample(folder: str, expected: dict[str, str], restored_root: Path) -> SampleResult:
    """Given a sampled folder, its hashes from the repository (tar names: full paths without the leading
    slash) and the restore folder, compare file by file."""
    result = SampleResult(directory=folder)
    for name, digest in sorted(expected.items()):
        path = restored_root / name
        if not path.is_file():
            result.missing.append("/" + name)
            continue
        result.files += 1
        result.bytes += path.stat().st_size
        if sha256_file(path) != digest:
            result.mismatches.append("/" + name)
    return result


def measure_tree(root: Path) -> tuple[int, int]:
    """Given a restored folder, return how many regular files it holds and their total size.

    One ``lstat`` per file (``os.scandir``); links are neither followed nor counted.
    """
    files = total = 0
    pending = [str(root)]
    while pending:
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        files += 1
                        total += entry.stat(follow_symlinks=False).st_size
        except OSError:  # an unreadable folder counts as empty: the floor then says so
            continue
    return files, total


def describe_mismatches(result: SampleResult) -> list[str]:
    """Given a sample result, return one line per problem (for reports)."""
    return [f"hash mismatch: {name}" for name in result.mismatches] + [
        f"missing after restore: {n}" for n in result.missing
    ]


def remove_tree(root: Path) -> None:
    """Given a folder, delete it and everything below it, unlinking files on many threads.

    Deleting a restored tree of tens of thousands of files is a visible part of a drill's time. Each
    unlink mostly waits for the file system, and unlinks in one folder wait for that folder's lock, so
    the files go in batches of one folder each, many folders at once. Anything the fast path cannot
    remove falls back to ``shutil.rmtree``, which makes folders writable first.
    """
    if not root.exists():
        return
    folders: list[str] = []
    batches: list[list[str]] = []
    pending = [str(root)]
    while pending:
        folder = pending.pop()
        folders.append(folder)
        files: list[str] = []
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    (pending if entry.is_dir(follow_symlinks=False) else files).append(entry.path)
        except OSError:
            continue
        batches += [files[start : start + UNLINK_BATCH] for start in range(0, len(files), UNLINK_BATCH)]
    if batches:
        with ThreadPoolExecutor(max_workers=min(UNLINK_THREADS, len(batches))) as pool:
            list(pool.map(_unlink_quietly, batches))
    for folder in reversed(folders):
        try:
            os.rmdir(folder)
        except OSError:
            break
    if root.exists():
        if sys.version_info >= (3, 12):
            shutil.rmtree(root, onexc=_make_writable_and_retry)
        else:  # pragma: no cover - Python 3.11
            shutil.rmtree(root, onerror=_make_writable_and_retry)


def _unlink_quietly(paths: list[str]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _make_writable_and_retry(function: Any, path: str, _exc: Any) -> None:
    os.chmod(os.path.dirname(path), 0o700)
    function(path)
