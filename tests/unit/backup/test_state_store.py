"""What a host remembers between runs: a backup, a drill, a prune and a restore of one set on one host
update one document, and timers overlap (an hourly backup starts while a long drill runs). Updates made at
once from several processes are all kept."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from seawall.backup.state import StateStore

WRITERS = 6
UPDATES = 40


def _update_many(root: str, writer: int) -> None:
    store = StateStore(Path(root), "lab")
    for index in range(UPDATES):
        store.update({f"writer-{writer}-{index}": index}, "files", "lab-host")


def test_updates_from_processes_at_once_are_all_kept(tmp_path: Path) -> None:
    with ProcessPoolExecutor(WRITERS) as pool:
        list(pool.map(_update_many, [str(tmp_path)] * WRITERS, range(WRITERS)))
    document = StateStore(tmp_path, "lab").read("files", "lab-host")
    missing = [
        f"writer-{writer}-{index}"
        for writer in range(WRITERS)
        for index in range(UPDATES)
        if f"writer-{writer}-{index}" not in document
    ]
    assert missing == []
    assert sorted(path.name for path in (tmp_path / "lab" / "files").iterdir() if path.suffix == ".json") == [
        "lab-host.json"
    ]
