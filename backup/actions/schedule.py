"""``seawall backup schedule``: the units, cron lines and host environment file for one host."""

from __future__ import annotations

import logging
from pathlib import Path

from seawall.backup.schedules import render_cron, render_host_files
from seawall.files import write_atomically
from seawall.hostfiles import CRON_DIR, RenderedFile
from seawall.model.schema import Environment

logger = logging.getLogger(__name__)


def schedule_files(env: Environment, host: str, seawall_bin: str | None = None) -> list[RenderedFile]:
    """Given a host, return every file its schedule consists of, the cron alternative last."""
    files = render_host_files(env, host, **({"seawall_bin": seawall_bin} if seawall_bin else {}))
    cron = render_cron(env, host, **({"seawall_bin": seawall_bin} if seawall_bin else {}))
    return [*files, RenderedFile(f"{CRON_DIR}/seawall-{env.name}", cron)]


def write_schedule(files: list[RenderedFile], out: Path, dry_run: bool = False) -> list[Path]:
    """Given rendered files and a folder, write each under its own name there; return the paths."""
    written = []
    for rendered in files:
        path = out / Path(rendered.path).name
        logger.info("%swrite %s", "dry run: would " if dry_run else "", path)
        if not dry_run:
            write_atomically(path, rendered.content, int(rendered.mode, 8))
        written.append(path)
    return written
