"""The host-file format: what ``file_lines`` writes, real bash places byte for byte, and
``installed_files`` (what the policies read) reads back exactly."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from seawall.hostfiles import (
    EXPORTER_STEP,
    INSTALL_STEP,
    RenderedFile,
    file_lines,
    host_of_step,
    installed_files,
    step_name,
)

AWKWARD = [
    RenderedFile("/etc/a.conf", "plain\n"),
    RenderedFile("/etc/empty", ""),
    RenderedFile("/etc/shell.sh", "echo \"$HOME\" `id` $(date) \\ 'quoted'\n", "0755"),
    RenderedFile("/etc/marker.txt", "before\nSEAWALL_EOF_3\nSEAWALL_EOF_0\nafter\n"),
    RenderedFile("/etc/nested/deeper/x.yml", "a: 1\n\n\nb: 2\n", "0600"),
    RenderedFile("/etc/no-newline", "last line without one"),
]


def script_of(files: list[RenderedFile], root: Path) -> str:
    moved = [RenderedFile(f"{root}{f.path}", f.content, f.mode) for f in files]
    return "\n".join(["set -eu", *file_lines(moved)]) + "\n"


def test_bash_writes_every_file_byte_for_byte_with_its_mode(tmp_path: Path) -> None:
    result = subprocess.run(["bash", "-c", script_of(AWKWARD, tmp_path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    for rendered in AWKWARD:
        placed = Path(f"{tmp_path}{rendered.path}")
        assert placed.read_text() == rendered.content.rstrip("\n") + "\n", rendered.path
        assert oct(stat.S_IMODE(os.stat(placed).st_mode)) == oct(int(rendered.mode, 8)), rendered.path
    assert not list(tmp_path.rglob("*.new")), "no staging file is left behind"


def test_the_parser_reads_back_exactly_what_the_writer_wrote(tmp_path: Path) -> None:
    script = script_of(AWKWARD, tmp_path)
    read = installed_files(script)
    assert read == {f"{tmp_path}{f.path}": f.content.rstrip("\n") for f in AWKWARD}


def test_a_staged_file_counts_as_the_file_it_becomes() -> None:
    script = "\n".join(file_lines([RenderedFile("/etc/prometheus/prometheus.yml.staged", "global: {}\n")]))
    assert installed_files(script) == {"/etc/prometheus/prometheus.yml": "global: {}"}


def test_a_path_with_a_space_is_refused() -> None:
    with pytest.raises(ValueError, match="space"):
        file_lines([RenderedFile("/etc/two words", "x")])


def test_a_step_name_gives_back_its_host() -> None:
    for host in ("db-1", "dc-build-1", "node-exporter"):
        assert host_of_step(step_name(host, INSTALL_STEP), INSTALL_STEP) == host
        assert host_of_step(step_name(host, EXPORTER_STEP), INSTALL_STEP) is None
    assert host_of_step("install", INSTALL_STEP) is None
    assert host_of_step("-install", INSTALL_STEP) is None
