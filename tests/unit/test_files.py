"""Files replaced in one step: a reader sees the old file or the new one, a failed write leaves the old
file whole, links and modes are kept, and a pipe is written through."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from seawall.files import os_reason, write_atomically


def test_a_reader_sees_the_old_file_or_the_new_one_never_half(tmp_path: Path) -> None:
    target = tmp_path / "rules.yml"
    texts = ("a" * 1_000_000, "b" * 1_500_000)
    write_atomically(target, texts[0])
    seen: set[str] = set()
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            seen.add(target.read_text())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for index in range(60):
            write_atomically(target, texts[index % 2])
    finally:
        done.set()
        reader.join()
    assert seen <= set(texts)
    assert seen


def test_a_failed_write_leaves_the_old_file_whole_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "index.md"
    write_atomically(target, "the old document\n")
    with pytest.raises(UnicodeEncodeError):
        write_atomically(target, "half written \udc80 then it fails")
    assert target.read_text() == "the old document\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["index.md"]


def test_the_replaced_file_keeps_its_mode_unless_one_is_given(tmp_path: Path) -> None:
    target = tmp_path / "alertmanager.yml"
    write_atomically(target, "one\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    target.chmod(0o640)
    write_atomically(target, "two\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    write_atomically(target, "three\n", mode=0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text() == "three\n"


def test_a_link_stays_a_link_and_the_file_it_names_is_replaced(tmp_path: Path) -> None:
    real = tmp_path / "shared" / "fleet.html"
    real.parent.mkdir()
    real.write_text("old page")
    link = tmp_path / "fleet.html"
    link.symlink_to(real)
    write_atomically(link, "new page")
    assert link.is_symlink()
    assert real.read_text() == "new page"


@pytest.mark.parametrize("through_a_link", [False, True], ids=["pipe", "link to a pipe (like /dev/stdout)"])
def test_a_pipe_is_written_through_not_replaced(tmp_path: Path, through_a_link: bool) -> None:
    pipe = tmp_path / "out"
    os.mkfifo(pipe)
    named = tmp_path / "stdout" if through_a_link else pipe
    if through_a_link:
        named.symlink_to(pipe)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_text()))
    reader.start()
    write_atomically(named, "through the pipe\n")
    reader.join(timeout=10)
    assert received == ["through the pipe\n"]
    assert stat.S_ISFIFO(pipe.stat().st_mode)
    assert named.is_symlink() == through_a_link


def test_a_refusal_of_the_operating_system_says_why_and_where(tmp_path: Path) -> None:
    with pytest.raises(OSError) as raised:
        (tmp_path / "missing" / "file").read_text()
    assert os_reason(raised.value) == f"No such file or directory ({tmp_path / 'missing' / 'file'})"
    assert os_reason(OSError(28, "No space left on device")) == "No space left on device"
