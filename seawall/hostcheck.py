"""The live host, as ``seawall host record`` and ``seawall host verify`` see it: reads only, changes nothing.

Each manifest file is looked at without following links (a link where a file was is drift, never read
through), hashed in one pass, its mode and owner taken from the same ``lstat``; the owned folders are walked
the same way; units are asked of ``systemctl is-enabled`` in one call; the ruleset is ``nft list table inet
seawall`` hashed; the wheel is the installed distribution's recorded hash, trusted only when every file its
``RECORD`` lists still has the hash pip wrote there.
"""

from __future__ import annotations

import base64
import glob
import grp
import hashlib
import json
import os
import pwd
import stat
from collections.abc import Callable
from pathlib import Path

from seawall.manifest import Manifest, Observation, Seen
from seawall.runner import Command, Result, run

Runner = Callable[[Command], Result]
NFT_TABLE = ("inet", "seawall")
MAX_FILE_BYTES = 64 * 1024 * 1024  # a placed file is a few KiB; anything far larger is not read in full


def seen(path: str) -> Seen:
    """Given a path, return the file as the host holds it (None facts: not a regular file)."""
    try:
        info = os.lstat(path)
    except OSError:
        return Seen(path, None, None, None)
    if not stat.S_ISREG(info.st_mode):
        return Seen(path, None, None, None)
    digest = hashlib.sha256()
    try:
        with open(path, "rb", opener=lambda p, flags: os.open(p, flags | os.O_NOFOLLOW)) as stream:
            digest.update(stream.read(MAX_FILE_BYTES))
    except OSError:
        return Seen(path, None, None, None)
    return Seen(
        path, digest.hexdigest(), f"{stat.S_IMODE(info.st_mode):04o}", f"{_user(info.st_uid)}:{_group(info.st_gid)}"
    )


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def owned_files(patterns: tuple[str, ...], root: str = "") -> list[str]:
    """Given the owned patterns, return every file (not folder) found under them, without following links."""
    found: set[str] = set()
    for pattern in patterns:
        base = pattern.removesuffix("/**")
        for match in glob.glob(root + base):
            if os.path.isdir(match) and not os.path.islink(match):
                for folder, _, names in os.walk(match):
                    found.update(os.path.join(folder, name)[len(root) :] for name in names)
            elif os.path.lexists(match):
                found.add(match[len(root) :])
    return sorted(found)


def unit_states(units: tuple[str, ...], runner: Runner = run) -> tuple[dict[str, str], list[str]]:
    """Given unit names, return each one's ``systemctl is-enabled`` answer (one call; one per unit when a unit
    it does not know leaves its line out), and what could not be asked."""
    if not units:
        return {}, []
    answers = _is_enabled(units, runner)
    if len(answers) == len(units):
        return dict(zip(units, answers, strict=True)), []
    states: dict[str, str] = {}
    problems: list[str] = []
    for unit in units:
        answer = _is_enabled((unit,), runner)
        states[unit] = answer[0] if answer else "not-found"
    return states, problems


def _is_enabled(units: tuple[str, ...], runner: Runner) -> list[str]:
    result = runner(Command(("systemctl", "is-enabled", *units), timeout=60))
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def ruleset_hash(runner: Runner = run) -> str | None:
    """Return the hash of the loaded ``table inet seawall`` as nft lists it, or None when there is none."""
    result = runner(Command(("nft", "list", "table", *NFT_TABLE), timeout=60))
    return hashlib.sha256(result.stdout.encode()).hexdigest() if result.ok else None


def installed_wheel(distribution: str = "seawall") -> str | None:
    """Return the sha256 pip recorded for the installed wheel, or ``modified: PATH`` when a file it installed
    no longer has its recorded hash, or None when it is not installed from a wheel."""
    from importlib import metadata

    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return None
    try:
        direct = json.loads(dist.read_text("direct_url.json") or "{}")
    except json.JSONDecodeError:
        return None
    archive = direct.get("archive_info", {}) if isinstance(direct, dict) else {}
    hashes = archive.get("hashes") or {}
    recorded = hashes.get("sha256") or str(archive.get("hash", "")).removeprefix("sha256=") or None
    for entry in dist.files or ():
        if entry.hash is None or entry.hash.mode != "sha256":
            continue
        path = Path(str(dist.locate_file(entry)))
        try:
            actual = base64.urlsafe_b64encode(hashlib.sha256(path.read_bytes()).digest()).rstrip(b"=").decode()
        except OSError:
            return f"modified: {entry} is gone"
        if actual != entry.hash.value:
            return f"modified: {entry}"
    return recorded


def observe(manifest: Manifest, runner: Runner = run) -> Observation:
    """Given a host's manifest, return what the host holds now."""
    units, problems = unit_states(manifest.units, runner)
    return Observation(
        files={f.path: seen(f.path) for f in manifest.files},
        found=owned_files(manifest.owned),
        units=units,
        ruleset=ruleset_hash(runner) if manifest.firewall else None,
        wheel=installed_wheel(),
        problems=problems,
    )
