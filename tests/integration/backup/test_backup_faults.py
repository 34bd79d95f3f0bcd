"""Faults: each asserts the exact error, and that no snapshot was removed. Real restic throughout."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import hint
from tests.integration.backup.conftest import (
    ACCESS_KEY,
    OTHER_HOST,
    RESTIC,
    SECRET_KEY,
    Lab,
    another_host,
    as_another_host,
    lock_records,
    make_lab,
    restic_children,
    seawall_as_another_host,
    seawall_process,
)

pytestmark = [pytest.mark.integration, pytest.mark.skipif(RESTIC is None, reason="restic is not installed")]
SETPRIV = shutil.which("setpriv")


def _backed_up_once(lab: Lab, seawall) -> list[str]:
    assert seawall(lab, "backup", "init", "lab").code == 0
    assert seawall(lab, "backup", "run", "lab").code == 0
    return [snapshot["id"] for snapshot in lab.snapshots("files")]


def test_a_wrong_password_fails_clearly_and_removes_nothing(lab: Lab, seawall) -> None:
    before = _backed_up_once(lab, seawall)
    (lab.root / "password").write_text("not-the-password\n")
    result = seawall(lab, "backup", "run", "lab")
    assert result.code == 1
    assert "the password does not open" in result.out + result.err
    assert [s["id"] for s in lab.snapshots("files")] == before


def test_a_missing_repository_says_to_run_init(lab: Lab, seawall) -> None:
    result = seawall(lab, "backup", "run", "lab")
    assert result.code == 1
    assert "no repository at" in result.out + result.err
    assert "seawall backup init" in result.out + result.err


def _lock_ids(lab: Lab) -> list[str]:
    return lab.restic("files", "list", "locks", "--no-lock").stdout.split()


def _hold_lock(lab: Lab, other_host: bool = False) -> subprocess.Popen[str]:
    """Start a restic backup from stdin that holds its (shared) lock until killed or fed (on another host:
    in a UTS namespace of its own host name, see ``as_another_host``)."""
    from seawall.backup.backends import set_backend
    from seawall.model import load_environment

    location = set_backend(load_environment(lab.environments, "lab"), "files", lab.root).location()
    env = {
        "RESTIC_PASSWORD": lab.password,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "PATH": "/usr/bin:/bin",
        "HOME": str(lab.root),
    }
    before = set(_lock_ids(lab))
    argv = [RESTIC or "restic", "--repo", location, "backup", "--stdin", "--host", "holder"]
    holder = subprocess.Popen(
        as_another_host(argv) if other_host else argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    for _ in range(100):
        if set(_lock_ids(lab)) - before:
            return holder
        time.sleep(0.1)
    holder.kill()
    raise AssertionError("the holder never took its lock")


def test_a_run_backs_up_beside_a_live_shared_lock(local_lab: Lab, seawall) -> None:
    before = _backed_up_once(local_lab, seawall)
    holder = _hold_lock(local_lab)
    try:
        result = seawall(local_lab, "backup", "run", "lab")
    finally:
        holder.kill()
        holder.wait()
    assert result.code == 0, result.out + result.err
    assert len(local_lab.snapshots("files")) == len(before) + 1


def test_a_live_lock_is_waited_for_by_prune_then_reported_and_nothing_is_forgotten(local_lab: Lab, seawall) -> None:
    local_lab.set("files")["retention"] = {"keep_last": 1}
    local_lab.write()
    _backed_up_once(local_lab, seawall)
    before = _backed_up_once(local_lab, seawall)
    holder = _hold_lock(local_lab)
    try:
        result = seawall(local_lab, "backup", "prune", "lab", "--issue", "ops#1")
    finally:
        holder.kill()
        holder.wait()
    assert result.code == 1
    assert "is locked by another process" in result.out + result.err
    assert "nothing was forgotten or pruned" in result.out
    assert [s["id"] for s in local_lab.snapshots("files")] == before


def test_a_stale_lock_left_by_kill_9_is_cleared_and_the_next_prune_succeeds(local_lab: Lab, seawall, caplog) -> None:
    local_lab.set("files")["retention"] = {"keep_last": 1}
    local_lab.write()
    _backed_up_once(local_lab, seawall)
    _backed_up_once(local_lab, seawall)
    holder = _hold_lock(local_lab)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert local_lab.restic("files", "list", "locks", "--no-lock").stdout.strip()
    with caplog.at_level(logging.WARNING):
        result = seawall(local_lab, "backup", "prune", "lab", "--issue", "ops#1")
    assert result.code == 0, result.out + result.err
    assert any("clearing stale lock" in record.getMessage() for record in caplog.records)
    assert local_lab.restic("files", "list", "locks", "--no-lock").stdout.strip() == ""
    assert len(local_lab.snapshots("files")) == 1


def test_the_unlock_hint_of_a_dead_lock_the_storage_kept_removes_it_when_followed(s3_lab: Lab, seawall) -> None:
    import socket

    _backed_up_once(s3_lab, seawall)
    holder = _hold_lock(s3_lab)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    dead = lock_records(s3_lab)
    assert [record["pid"] for record in dead.values()] == [holder.pid]
    endpoint = s3_lab.document["backup"]["repository"]["endpoint"]
    with socket.socket() as probe:  # the storage stops answering: a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        s3_lab.document["backup"]["repository"]["endpoint"] = f"http://127.0.0.1:{probe.getsockname()[1]}"
    s3_lab.document["backup"]["command_timeout"] = "2s"  # restic retries a refused connection: not for long
    s3_lab.write()
    cut_off = seawall(s3_lab, "backup", "run", "lab")
    assert cut_off.code == 1
    assert "could not remove the locks dead processes of this host left" in cut_off.err, cut_off.err
    s3_lab.document["backup"]["repository"]["endpoint"] = endpoint  # it answers again
    s3_lab.document["backup"]["command_timeout"] = "2m"
    s3_lab.write()
    assert lock_records(s3_lab) == dead
    followed = seawall(s3_lab, *hint(cut_off.err))
    assert followed.code == 0, followed.out + followed.err
    assert "files: " in followed.out
    assert "removed 1 stale lock(s)" in followed.out
    assert lock_records(s3_lab) == {}
    assert seawall(s3_lab, "backup", "run", "lab").code == 0


BIG = 32 * 1024 * 1024  # random, uploaded at UPLOAD_KIB a second: restic is caught mid-upload
UPLOAD_KIB = 2048


def _big_and_slow(lab: Lab) -> None:
    """Give the lab 32 MiB of random data and a restic that uploads it at 2 MiB/s (restic's own
    ``--limit-upload``), so that a backup takes seconds to catch it in."""
    (lab.data / "big.bin").write_bytes(os.urandom(BIG))
    wrapper = lab.root / "restic-throttled"
    wrapper.write_text(f'#!/bin/sh\nexec {RESTIC} --limit-upload {UPLOAD_KIB} "$@"\n')
    wrapper.chmod(0o755)
    lab.document["backup"]["restic_binary"] = str(wrapper)
    lab.write()


def _data_packs(lab: Lab) -> int:
    """Return how many pack files the set's repository holds in its bucket (what restic uploaded so far)."""
    import boto3

    from seawall.backup.backends import set_backend
    from seawall.model import load_environment

    storage = set_backend(load_environment(lab.environments, "lab"), "files", lab.root)
    client = boto3.client("s3", endpoint_url=lab.document["backup"]["repository"]["endpoint"], region_name="us-east-1",
                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)  # fmt: skip
    listed = client.list_objects_v2(Bucket=storage.container)
    return sum("/data/" in item["Key"] for item in listed.get("Contents", []))


def _wait_until_gone(pid: int) -> None:
    """Wait until a process that is not this one's child is gone (its new parent, init, reaps it)."""
    for _ in range(600):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} outlived SIGKILL")


def _backup_mid_upload(lab: Lab) -> tuple[subprocess.Popen[str], int]:
    """Start ``seawall backup run`` and wait until its restic has uploaded a pack; return both."""
    packs = _data_packs(lab)
    run = seawall_process(lab, "backup", "run", "lab")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        backups = [pid for pid in restic_children(run.pid) if b"backup" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        if backups and _data_packs(lab) > packs:
            return run, backups[0]
        time.sleep(0.05)
    run.kill()
    raise AssertionError(f"restic never got to upload: {run.communicate()}")


@another_host
def test_a_run_whose_restic_is_killed_mid_upload_removes_its_lock_so_another_host_checks_at_once(
    s3_lab: Lab, seawall
) -> None:
    lab = s3_lab
    assert seawall(lab, "backup", "init", "lab").code == 0
    _big_and_slow(lab)
    run, restic = _backup_mid_upload(lab)
    taken = _lock_ids(lab)
    os.kill(restic, signal.SIGKILL)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 1, err
    assert [f"removed lock {lock_id[:8]}" in err for lock_id in taken] == [True]
    assert lock_records(lab) == {}
    checked = seawall_as_another_host(lab, "check", "lab")
    assert checked.returncode == 0, checked.stdout + checked.stderr


@another_host
def test_a_lock_left_when_the_run_and_its_restic_are_killed_goes_with_the_next_run_and_another_host_checks(
    s3_lab: Lab, seawall
) -> None:
    lab = s3_lab
    assert seawall(lab, "backup", "init", "lab").code == 0
    _big_and_slow(lab)
    run, restic = _backup_mid_upload(lab)
    os.kill(run.pid, signal.SIGKILL)  # the OOM killer, `systemctl kill -s KILL`: nothing of Seawall's runs on
    with contextlib.suppress(ProcessLookupError):  # restic may have died already, of its broken output pipe
        os.kill(restic, signal.SIGKILL)
    run.communicate(timeout=60)
    _wait_until_gone(restic)
    left = lock_records(lab)
    assert [record["pid"] for record in left.values()] == [restic], "the killed restic left its lock in the bucket"
    refused = seawall_as_another_host(lab, "check", "lab")
    assert refused.returncode == 1, "another host takes a dead process's lock for a live one"
    assert "is locked by another process" in refused.stdout + refused.stderr
    (lab.data / "big.bin").write_bytes(b"small now")
    rerun = seawall(lab, "backup", "run", "lab")
    assert rerun.code == 0, rerun.out + rerun.err
    assert f"removed lock {next(iter(left))[:8]}" in rerun.err
    assert lock_records(lab) == {}
    checked = seawall_as_another_host(lab, "check", "lab")
    assert checked.returncode == 0, checked.stdout + checked.stderr


@another_host
def test_a_lock_left_by_a_backup_cut_off_by_a_storage_outage_is_removed_by_the_next_run(
    tmp_path: Path, monkeypatch, request, seawall
) -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    lab = make_lab("s3", tmp_path, monkeypatch, request)
    lab.document["backup"]["repository"]["endpoint"] = f"http://{host}:{port}"
    lab.write()
    assert seawall(lab, "backup", "init", "lab").code == 0
    _big_and_slow(lab)
    lab.document["backup"]["command_timeout"] = "20s"
    lab.write()
    run, _ = _backup_mid_upload(lab)
    server.stop()
    _, err = run.communicate(timeout=300)
    assert run.returncode == 1, err
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        assert len(lock_records(lab)) == 1, "the cut-off restic could not remove its lock"
        (lab.data / "big.bin").write_bytes(b"small now")
        lab.document["backup"]["command_timeout"] = "2m"
        lab.write()
        rerun = seawall(lab, "backup", "run", "lab")
        assert rerun.code == 0, rerun.out + rerun.err
        assert lock_records(lab) == {}
        checked = seawall_as_another_host(lab, "check", "lab")
        assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        server.stop()


@another_host
def test_a_run_keeps_another_hosts_lock_and_a_live_processs_lock_and_removes_its_hosts_dead_one(
    lab: Lab, seawall
) -> None:
    import socket

    assert seawall(lab, "backup", "init", "lab").code == 0
    elsewhere = _hold_lock(lab, other_host=True)
    os.kill(elsewhere.pid, signal.SIGKILL)  # its pid is dead here too: only its host could tell
    elsewhere.wait()
    dead = _hold_lock(lab)
    os.kill(dead.pid, signal.SIGKILL)
    dead.wait()
    live = _hold_lock(lab)
    try:
        before = lock_records(lab)
        assert sorted((r["hostname"], r["pid"]) for r in before.values()) == sorted(
            [(OTHER_HOST, elsewhere.pid), (socket.gethostname(), dead.pid), (socket.gethostname(), live.pid)]
        )
        result = seawall(lab, "backup", "run", "lab")
        assert result.code == 0, result.out + result.err
        after = lock_records(lab)
    finally:
        live.kill()
        live.wait()
    kept = {lock_id: before[lock_id] for lock_id in before if before[lock_id]["pid"] != dead.pid}
    assert after == kept, "another host's lock and the live process's lock stay; this host's dead one goes"


def test_a_missing_source_path_is_an_error_even_though_restic_would_skip_it(lab: Lab, seawall) -> None:
    before = _backed_up_once(lab, seawall)
    lab.set("files")["paths"] = [str(lab.data), str(lab.root / "gone")]
    lab.write()
    result = seawall(lab, "backup", "run", "lab")
    assert result.code == 1
    assert f"{lab.root / 'gone'} of set files does not exist on lab-host" in result.out + result.err
    assert [s["id"] for s in lab.snapshots("files")] == before


@pytest.mark.skipif(SETPRIV is None or os.geteuid() != 0, reason="needs root and setpriv to make a file unreadable")
def test_an_unreadable_file_is_a_partial_backup_and_retention_is_skipped(
    local_lab: Lab, seawall, tmp_path: Path
) -> None:
    wrapper = tmp_path / "restic-without-root-reads"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"exec {SETPRIV} --inh-caps=-dac_override,-dac_read_search --bounding-set=-dac_override,-dac_read_search "
        f'{RESTIC} "$@"\n'
    )
    wrapper.chmod(0o755)
    local_lab.document["backup"]["restic_binary"] = str(wrapper)
    local_lab.set("files")["retention"] = {"keep_last": 1}
    local_lab.write()
    before = _backed_up_once(local_lab, seawall)
    secret = local_lab.data / "docs" / "file-3.txt"
    secret.chmod(0)
    try:
        result = seawall(local_lab, "backup", "run", "lab")
    finally:
        secret.chmod(0o644)
    assert result.code == 1
    assert "partial" in result.out
    assert "some files could not be read" in result.out + result.err
    ids = [s["id"] for s in local_lab.snapshots("files")]
    assert before[0] in ids
    assert len(ids) == 2
    state = json.loads((local_lab.root / "state" / "lab" / "files" / "lab-host.json").read_text())
    assert state["last_run"]["result"] == "partial"


def test_the_s3_server_stopping_mid_run_fails_the_run_and_loses_nothing(
    tmp_path: Path, monkeypatch, request, seawall
) -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    lab = make_lab("s3", tmp_path, monkeypatch, request)
    lab.document["backup"]["repository"]["endpoint"] = f"http://{host}:{port}"
    lab.write()
    before = _backed_up_once(lab, seawall)  # with the lab's timeout: a loaded machine needs more than 8 s
    lab.document["backup"]["command_timeout"] = "8s"
    lab.set("files")["hooks"] = {"before": ["sleep 1"]}
    lab.write()
    stopper = threading.Timer(0.3, server.stop)
    stopper.start()
    try:
        result = seawall(lab, "backup", "run", "lab")
    finally:
        stopper.join()
    assert result.code == 1
    assert "restic timed out" in result.out + result.err
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        assert [s["id"] for s in lab.snapshots("files")] == before
    finally:
        server.stop()


def test_the_password_never_appears_in_output_logs_state_or_metrics(lab: Lab, seawall, caplog) -> None:
    lab.document["backup"].pop("password_file")
    lab.document["backup"]["password_env"] = "LAB_RESTIC_PASSWORD"
    lab.write()
    os.environ["LAB_RESTIC_PASSWORD"] = lab.password
    try:
        with caplog.at_level(logging.DEBUG):
            outputs = [
                seawall(lab, "-vv", "backup", "init", "lab"),
                seawall(lab, "-vv", "backup", "run", "lab"),
                seawall(lab, "-vv", "backup", "status", "lab", "--format", "json"),
                seawall(lab, "-vv", "backup", "prune", "lab", "--issue", "ops#1"),
            ]
    finally:
        del os.environ["LAB_RESTIC_PASSWORD"]
    assert [result.code for result in outputs] == [0, 0, 0, 0]
    text = "".join(result.out + result.err for result in outputs) + caplog.text
    files = "".join(
        path.read_text() for path in lab.root.rglob("*") if path.is_file() and path.suffix in (".json", ".prom")
    )
    for secret in (lab.password, SECRET_KEY):
        assert secret not in text
        assert secret not in files
    assert "running: restic --repo" in caplog.text
