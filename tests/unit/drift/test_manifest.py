"""The manifest and the comparison, over real files in a folder: written by the host steps' own shell
(``file_lines`` run by sh), read back by the host check (``seawall.hostcheck``)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from seawall.hostcheck import owned_files, seen
from seawall.hostfiles import RenderedFile, file_lines
from seawall.manifest import (
    KINDS,
    Manifest,
    ManifestError,
    Observation,
    build_manifest,
    compare,
    counts,
    parse_manifest,
    parse_recorded,
    recorded_facts,
)


def place(files: list[RenderedFile]) -> None:
    """Write files exactly as a host step does: its shell, run by sh."""
    script = "set -eu\n" + "\n".join(file_lines(files)) + "\n"
    subprocess.run(["sh", "-c", script], check=True, timeout=60)


def me() -> str:
    import grp
    import pwd

    return f"{pwd.getpwuid(os.getuid()).pw_name}:{grp.getgrgid(os.getgid()).gr_name}"


@pytest.fixture
def host(tmp_path: Path) -> tuple[Manifest, Path]:
    """A host folder with an environment file, a unit and a secret, placed by the steps' shell, and its
    manifest (owned: the folder's etc/seawall and its seawall-* units)."""
    etc = tmp_path / "etc"
    files = [
        RenderedFile(f"{etc}/seawall/environments/lab.yaml", "environment: {name: lab}\n", "0640"),
        RenderedFile(f"{etc}/systemd/system/seawall-backup-x.service", "[Service]\nExecStart=/bin/true\n"),
    ]
    place(files)
    secret = etc / "seawall" / "restic-password"
    secret.write_text("correct horse\n")
    secret.chmod(0o600)
    manifest = build_manifest("lab", "app-1", files, [(str(secret), "0600", me())], [], False, "/opt/w.whl")
    manifest = dataclasses.replace(
        manifest,
        files=tuple(dataclasses.replace(f, owner=me()) for f in manifest.files),
        owned=(f"{etc}/seawall/**", f"{etc}/systemd/system/seawall-*"),
    )
    return manifest, etc


def look(manifest: Manifest, units: dict[str, str] | None = None, ruleset: str | None = None) -> Observation:
    return Observation(
        files={f.path: seen(f.path) for f in manifest.files},
        found=owned_files(manifest.owned),
        units=units or {},
        ruleset=ruleset,
        wheel="a" * 64,
    )


def test_the_manifest_hashes_what_the_steps_shell_writes_and_a_fresh_host_has_no_drift(host) -> None:
    manifest, _ = host
    observation = look(manifest)
    recorded = recorded_facts(manifest, observation)
    assert compare(manifest, recorded, observation) == []
    for placed in manifest.files:
        if not placed.secret:
            assert placed.sha256 == hashlib.sha256(Path(placed.path).read_bytes()).hexdigest()
    assert recorded["secrets"] == {f.path: observation.files[f.path].sha256 for f in manifest.files if f.secret}


def test_a_manifest_round_trips_byte_for_byte_and_its_digest_names_its_content(host) -> None:
    manifest, _ = host
    again = parse_manifest(manifest.to_text())
    assert again == manifest
    assert again.to_text() == manifest.to_text()
    assert again.digest == hashlib.sha256(manifest.to_text().encode()).hexdigest()
    assert "correct horse" not in manifest.to_text()


def test_every_kind_of_hand_edit_is_named_with_what_the_deploy_left(host, tmp_path: Path) -> None:
    manifest, etc = host
    recorded = recorded_facts(manifest, look(manifest))
    unit = etc / "systemd/system/seawall-backup-x.service"
    unit.write_text("[Service]\nExecStart=/bin/false\n")  # content
    (etc / "seawall/environments/lab.yaml").chmod(0o666)  # mode
    (etc / "seawall/restic-password").write_text("another\n")  # a secret's content
    (etc / "seawall/notes.txt").write_text("left by hand\n")  # extra
    dropin = etc / "systemd/system/seawall-backup-x.service.d"
    dropin.mkdir()
    (dropin / "override.conf").write_text("[Service]\nExecStart=\n")  # extra: a `systemctl edit`
    found = compare(manifest, recorded, look(manifest))
    kinds = {(d.kind, d.subject) for d in found}
    assert kinds == {
        ("content", str(unit)),
        ("mode", str(etc / "seawall/environments/lab.yaml")),
        ("content", str(etc / "seawall/restic-password")),
        ("extra", str(etc / "seawall/notes.txt")),
        ("extra", str(dropin / "override.conf")),
    }
    secret = next(d for d in found if d.subject.endswith("restic-password"))
    assert "another" not in repr(secret)
    assert secret.found == "other content"
    assert counts(found) == {kind: {"content": 2, "mode": 1, "extra": 2}.get(kind, 0) for kind in KINDS}


def test_a_file_replaced_by_a_link_is_missing_and_never_read_through(host, tmp_path: Path) -> None:
    manifest, etc = host
    recorded = recorded_facts(manifest, look(manifest))
    target = tmp_path / "elsewhere"
    target.write_text("environment: {name: lab}\n")
    env_file = etc / "seawall/environments/lab.yaml"
    env_file.unlink()
    env_file.symlink_to(target)
    found = compare(manifest, recorded, look(manifest))
    assert [(d.kind, d.subject) for d in found] == [("missing", str(env_file))]
    assert seen(str(env_file)).sha256 is None


def test_units_not_enabled_the_firewall_and_the_wheel_are_drift(host) -> None:
    manifest, _ = host
    manifest = dataclasses.replace(manifest, units=("a.timer", "b.timer", "c.service"), firewall=True)
    enabled = {"a.timer": "enabled", "b.timer": "enabled", "c.service": "enabled"}
    recorded = recorded_facts(manifest, look(manifest, enabled, ruleset="r1"))
    assert compare(manifest, recorded, look(manifest, enabled, ruleset="r1")) == []
    later = look(manifest, {"a.timer": "disabled", "b.timer": "masked"}, ruleset=None)
    later.wheel = "b" * 64
    found = {(d.kind, d.subject, d.found) for d in compare(manifest, recorded, later)}
    assert found == {
        ("unit", "a.timer", "disabled"),
        ("unit", "b.timer", "masked"),
        ("unit", "c.service", "unknown"),
        ("firewall", "table inet seawall", "no table inet seawall"),
        ("wheel", "/opt/w.whl", "b" * 16),
    }


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{", "not JSON"),
        ('{"format": 2}', "not a manifest of format 1"),
        (
            '{"format": 1, "environment": "lab", "host": "h", "files": [{"path": "etc/x", "mode": "0644", '
            '"owner": "root:root"}], "units": [], "owned": [], "firewall": false, "wheel": "w"}',
            "not a plain absolute path",
        ),
        (
            '{"format": 1, "environment": "lab", "host": "h", "files": [{"path": "/etc/../x", "mode": "0644", '
            '"owner": "root:root"}], "units": [], "owned": [], "firewall": false, "wheel": "w"}',
            "not a plain absolute path",
        ),
    ],
)
def test_a_manifest_that_is_not_one_is_refused_by_name(text: str, why: str) -> None:
    with pytest.raises(ManifestError, match=why):
        parse_manifest(text)


def test_a_record_of_another_manifest_is_refused(host) -> None:
    manifest, _ = host
    recorded = recorded_facts(manifest, look(manifest))
    other = dataclasses.replace(manifest, units=("x.timer",))
    with pytest.raises(ManifestError, match="another manifest"):
        parse_recorded(__import__("json").dumps(recorded), other)
