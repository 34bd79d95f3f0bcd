"""Real restic against local repositories and a real S3-protocol server (moto) on 127.0.0.1.

The S3 server is started by these fixtures, never by hand; every test gets its own bucket and its own
environments folder with a ``lab`` environment whose host backs up folders under the test's tmp_path.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.seaweedfs import ADMIN_KEY, ADMIN_SECRET, SeaweedFS

RESTIC = shutil.which("restic")
pytestmark = pytest.mark.skipif(RESTIC is None, reason="restic is not installed (apt-get install restic)")
ACCESS_KEY, SECRET_KEY = ADMIN_KEY, ADMIN_SECRET
_buckets = itertools.count()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on loopback for the whole session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def seaweedfs_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SeaweedFS server with its S3 gateway on loopback, for the whole session: a second, real S3
    implementation beside moto. Its one identity is the lab's keys."""
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"), volume_max=300)
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield server.endpoint
    server.stop()


@dataclass
class Lab:
    """One test's world: its folders, its environment document, and helpers to act on it."""

    root: Path
    environments: Path
    data: Path
    document: dict[str, Any]
    password: str

    def write(self) -> None:
        (self.environments / "lab.yaml").write_text(yaml.safe_dump(self.document))

    def set(self, name: str) -> dict[str, Any]:
        return self.document["backup_sets"][name]

    def restic(self, set_name: str, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run restic directly (as an operator would) against a set's repository."""
        from seawall.backup.backends import set_backend
        from seawall.model import load_environment

        env = load_environment(self.environments, "lab")
        location = set_backend(env, set_name, self.root).location()
        return self.restic_command("--repo", location, *args, password=password)

    def restic_command(self, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run restic with these arguments as an operator would, with the set's password and keys set."""
        variables = {
            "RESTIC_PASSWORD": password or self.password,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.root),
        }
        return subprocess.run([RESTIC or "restic", *args], capture_output=True, text=True, env=variables, check=False)

    def snapshots(self, set_name: str) -> list[dict[str, Any]]:
        import json

        result = self.restic(set_name, "snapshots", "--json", "--no-lock")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


def _document(root: Path, data: Path, repository: dict[str, Any]) -> dict[str, Any]:
    return {
        "environment": {
            "name": "lab",
            "tier": "development",
            "provider": "local",
            "region": "ams3",
            "domain": "lab.test",
        },
        "network": {"vpc_cidr": "10.99.0.0/16", "admin_cidrs": ["192.0.2.0/24"]},
        "datacenter_hosts": {
            "lab-host": {"address": "127.0.0.1", "ssh_user": "root", "roles": ["lab"], "backup_sets": ["files"]},
            "lab-empty": {"address": "127.0.0.2", "ssh_user": "root", "roles": ["lab"], "backup_sets": []},
        },
        "backup": {
            "repository": repository,
            "password_file": str(root / "password"),
            "access_key_id_env": "LAB_ACCESS_KEY_ID",
            "secret_access_key_env": "LAB_SECRET_ACCESS_KEY",
            "state_dir": str(root / "state"),
            "metrics_dir": str(root / "metrics"),
            "reports_dir": str(root / "reports" / "drills"),
            "lock_wait": "1s",
            "lock_attempts": 2,
            "command_timeout": "2m",
        },
        "backup_sets": {
            "files": {
                "paths": [str(data)],
                "schedule": "hourly",
                "retention": {"keep_last": 3},
                "rpo": "2h",
                "rto": "10m",
                "drill": {"schedule": "daily", "read_data_slices": 3, "min_files": 1},
            }
        },
        "alerting": {
            "channels": {"ops": {"email": "ops@example.net"}},
            "routes": {severity: {"channels": ["ops"]} for severity in ("Critical", "Major", "Minor")},
        },
    }


@pytest.fixture(params=["local", "s3"])
def lab(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lab:
    """A lab environment whose repository is a local folder or a bucket on the loopback S3 server."""
    return make_lab(request.param, tmp_path, monkeypatch, request)


@pytest.fixture
def local_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Lab:
    """A lab environment with a local repository."""
    return make_lab("local", tmp_path, monkeypatch, request)


@pytest.fixture
def s3_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Lab:
    """A lab environment with its repository in a fresh bucket."""
    return make_lab("s3", tmp_path, monkeypatch, request)


def make_lab(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Lab:
    data = tmp_path / "data"
    (data / "docs").mkdir(parents=True)
    for index in range(20):
        (data / "docs" / f"file-{index}.txt").write_text(f"content {index}\n" * (index + 1))
    (data / "big.bin").write_bytes(os.urandom(1024 * 1024))
    if kind == "local":
        repository: dict[str, Any] = {"kind": "local", "path": str(tmp_path / "repositories")}
    else:
        endpoint = request.getfixturevalue("seaweedfs_endpoint" if kind == "seaweedfs" else "s3_endpoint")
        repository = {"kind": "s3", "endpoint": endpoint, "bucket": f"lab-bucket-{next(_buckets)}", "prefix": "restic"}
    monkeypatch.setenv("LAB_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("LAB_SECRET_ACCESS_KEY", SECRET_KEY)
    environments = tmp_path / "environments"
    environments.mkdir()
    password = "lab-password-" + tmp_path.name
    (tmp_path / "password").write_text(password + "\n")
    lab = Lab(tmp_path, environments, data, _document(tmp_path, data, repository), password)
    lab.write()
    return lab


@pytest.fixture
def seawall(cli: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``seawall --environments <lab> ARGS`` in-process."""

    def run(lab: Lab, *args: str) -> Any:
        return cli("--environments", lab.environments, *args)

    return run


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A healthchecks-style server on loopback; ``LAB_PING`` points at it. Yields the paths it was sent."""
    import http.server
    import threading

    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("LAB_PING", f"http://127.0.0.1:{server.server_address[1]}/ping/abc")
    try:
        yield seen
    finally:
        server.shutdown()


def seawall_process(lab: Lab, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``seawall --environments <lab> ARGS`` as its own process (for signals and concurrency)."""
    import sys

    return subprocess.Popen(
        [sys.executable, "-m", "seawall", "--environments", str(lab.environments), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def restic_children(pid: int) -> list[int]:
    """Given a process, return the pids of the restic processes it started."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and command.endswith(b"restic"):
            found.append(int(entry.name))
    return found


def lock_records(lab: Lab, set_name: str = "files") -> dict[str, dict[str, Any]]:
    """Return the locks of a set's repository as restic wrote them (time, hostname, pid…), by lock id."""
    import json

    records = {}
    for lock_id in lab.restic(set_name, "list", "locks", "--no-lock").stdout.split():
        shown = lab.restic(set_name, "cat", "lock", lock_id, "--no-lock")
        if shown.returncode == 0:
            records[lock_id] = json.loads(shown.stdout)
    return records


OTHER_HOST = "other-host"


def _can_be_another_host() -> bool:
    """Whether this machine lets a process have a host name of its own (a UTS namespace: root)."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--uts", "hostname", OTHER_HOST], capture_output=True, check=False)
    return probe.returncode == 0


CAN_BE_ANOTHER_HOST = _can_be_another_host()
another_host = pytest.mark.skipif(
    not CAN_BE_ANOTHER_HOST, reason="standing in for another host needs a UTS namespace (unshare --uts, as root)"
)


def as_another_host(argv: list[str]) -> list[str]:
    """Given a command line, return it run as another machine of the fleet: in a UTS namespace whose host
    name is ``OTHER_HOST``, so that restic records that host name in its locks and compares it with theirs
    (the pid space stays this machine's; restic looks at pids only of locks of its own host name)."""
    return ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', OTHER_HOST, *argv]


def seawall_as_another_host(lab: Lab, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``seawall --environments <lab> ARGS`` to the end as another host of the fleet would."""
    import sys

    argv = [sys.executable, "-m", "seawall", "--environments", str(lab.environments), *args]
    return subprocess.run(as_another_host(argv), capture_output=True, text=True, timeout=timeout, check=False)
