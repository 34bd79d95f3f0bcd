"""The sampled verification: folder choice, tar hashing and comparison catch what they should."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from seawall.backup.verify import (
    choose_folder,
    compare_sample,
    draw_files,
    folders_of,
    hash_tar_stream,
    measure_tree,
    sha256_file,
)


def _node(path: str, size: int, kind: str = "file") -> str:
    return json.dumps({"struct_type": "node", "type": kind, "path": path, "size": size})


def test_folders_count_every_file_below_them() -> None:
    listing = [
        _node("/srv/a/x", 10),
        _node("/srv/a/b/y", 5),
        _node("/srv/a/b", 0, "dir"),
        "not json",
        '{"struct_type":"snapshot"}',
    ]
    assert folders_of(listing) == {"/srv": (2, 15), "/srv/a": (2, 15), "/srv/a/b": (1, 5)}


def test_the_folder_draw_is_seeded_and_respects_the_cap_and_the_file_limit() -> None:
    folders = {"/big": (3, 10_000), "/small": (2, 10), "/tiny": (1, 1), "/many": (50, 50)}
    assert choose_folder(folders, seed=1, most_files=10, cap=100) in {"/small", "/tiny"}
    assert choose_folder(folders, seed=1, most_files=10, cap=100) == choose_folder(folders, 1, 10, cap=100)
    assert choose_folder(folders, seed=1, most_files=1, cap=100) == "/tiny"
    assert choose_folder({"/big": (3, 10_000)}, seed=1, most_files=10, cap=100) == "/big"
    assert choose_folder(folders, seed=1, most_files=0) is None  # sample_files: 0 turns the sample off
    assert choose_folder({}, seed=1, most_files=10) is None


def test_a_sample_compares_at_most_the_file_limit_drawn_with_the_seed() -> None:
    digests = {f"srv/f{index}": f"h{index}" for index in range(30)}
    kept = draw_files(digests, seed=4, most_files=5)
    assert len(kept) == 5
    assert all(digests[name] == digest for name, digest in kept.items())
    assert kept == draw_files(digests, seed=4, most_files=5)
    assert draw_files(digests, seed=4, most_files=30) == digests


def _tar(files: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def test_restored_files_are_compared_with_the_streamed_hashes(tmp_path: Path) -> None:
    files = {"srv/a/x": b"one", "srv/a/y": b"two", "srv/a/z": b"three"}
    digests = hash_tar_stream(_tar(files))
    assert digests["srv/a/x"] == hashlib.sha256(b"one").hexdigest()
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    assert compare_sample("/srv/a", digests, tmp_path).ok
    (tmp_path / "srv/a/y").write_bytes(b"TWO")
    (tmp_path / "srv/a/z").unlink()
    result = compare_sample("/srv/a", digests, tmp_path)
    assert result.mismatches == ["/srv/a/y"]
    assert result.missing == ["/srv/a/z"]
    assert not result.ok


def test_hashing_and_measuring_a_tree(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"x" * 3_000_000)
    (tmp_path / "g").write_bytes(b"")
    (tmp_path / "link").symlink_to(tmp_path / "g")
    assert sha256_file(tmp_path / "d" / "f") == hashlib.sha256(b"x" * 3_000_000).hexdigest()
    assert measure_tree(tmp_path) == (2, 3_000_000)


def test_remove_tree_deletes_everything_including_locked_folders_and_links(tmp_path: Path) -> None:
    from seawall.backup.verify import remove_tree

    root = tmp_path / "scratch"
    (root / "a" / "b").mkdir(parents=True)
    for index in range(300):
        (root / "a" / f"f{index}").write_text("x")
    (root / "a" / "b" / "deep").write_text("y")
    (root / "link").symlink_to(tmp_path)
    (root / "a" / "b").chmod(0o500)
    remove_tree(root)
    assert not root.exists()
    assert tmp_path.exists()


def test_remove_tree_deletes_many_folders_of_many_files_and_nothing_beside_them(tmp_path: Path) -> None:
    from seawall.backup.verify import UNLINK_BATCH, remove_tree

    root = tmp_path / "scratch"
    for folder in range(5):
        (root / f"d{folder}" / "sub").mkdir(parents=True)
        for index in range(UNLINK_BATCH + 3):  # more than one batch per folder
            (root / f"d{folder}" / f"f{index}").write_bytes(b"x")
        (root / f"d{folder}" / "sub" / "last").write_bytes(b"y")
    beside = tmp_path / "scratch-kept"
    beside.mkdir()
    (beside / "keep").write_text("k")
    assert measure_tree(root) == (5 * (UNLINK_BATCH + 4), 5 * (UNLINK_BATCH + 4))
    remove_tree(root)
    assert not root.exists()
    assert (beside / "keep").read_text() == "k"
