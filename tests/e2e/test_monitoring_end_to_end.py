"""Monitoring end to end on loopback: real node_exporter (textfile collector on the metrics folder),
Prometheus and Alertmanager with the rendered configuration, and a small HTTP receiver standing in for
Slack's webhook. A failing `seawall backup run local` leads to exactly one SeawallBackupFailed
notification (Critical); a passing run resolves it. Intervals are shortened by a model override."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROJECT, patch_environment

TOOLS = ("prometheus", "prometheus-alertmanager", "prometheus-node-exporter", "restic")
SEAWALL = str(Path(sys.executable).with_name("seawall"))
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        any(shutil.which(tool) is None for tool in TOOLS),
        reason="apt-get install prometheus prometheus-alertmanager prometheus-node-exporter restic",
    ),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Receiver:
    """Slack's webhook, on loopback: keeps every message posted to it."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        received = self.messages

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/slack"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def titles(self) -> list[str]:
        return [
            attachment.get("title", "") for message in self.messages for attachment in message.get("attachments", [])
        ]


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"waited {seconds:.0f}s for {what}")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The local environment with short intervals, its monitoring files rendered, and the three
    servers started on loopback ports (stopped after the test)."""
    environments = tmp_path / "environments"
    shutil.copytree(PROJECT / "environments", environments)
    ports = {name: free_port() for name in ("node", "prometheus", "alertmanager")}
    receiver = Receiver()
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "ops-slack.url").write_text(receiver.url)
    patch_environment(
        environments,
        "local",
        {
            "backup_sets": {"project-config": {"paths": ["data"]}},
            "backup": {"metrics_dir": str(tmp_path / "metrics")},
            "alerting": {
                "channels": {"ops-slack": {"slack": "#ops-alerts", "slack_url_config": "slackWebhookUrl"}},
                "routes": {
                    severity: {"channels": ["ops-slack"], "hours": "always"}
                    for severity in ("Critical", "Major", "Minor")
                },
            },
            "monitoring": {
                "node_exporter_port": ports["node"],
                "prometheus_port": ports["prometheus"],
                "alertmanager_port": ports["alertmanager"],
                "scrape_interval": "1s",
                "evaluation_interval": "1s",
                "group_wait": "1s",
                "group_interval": "1s",
                "webhook_dir": str(secrets),
            },
        },
    )
    (tmp_path / "metrics").mkdir()
    rendered = tmp_path / "monitoring"
    run = subprocess.run(
        [SEAWALL, "--environments", str(environments), "monitoring", "render", "local", "--out", str(rendered)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    commands = [
        [
            "prometheus-node-exporter",
            f"--web.listen-address=127.0.0.1:{ports['node']}",
            "--collector.disable-defaults",
            "--collector.textfile",
            f"--collector.textfile.directory={tmp_path / 'metrics'}",
        ],
        [
            "prometheus-alertmanager",
            f"--config.file={rendered / 'alertmanager/alertmanager.yml'}",
            f"--storage.path={tmp_path / 'alertmanager-data'}",
            f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
            "--cluster.listen-address=",  # no gossip port: nothing listens beyond loopback
        ],
        [
            "prometheus",
            f"--config.file={rendered / 'prometheus/prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
        ],
    ]
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = []
    for argv in commands:
        with (logs / f"{argv[0]}.log").open("w") as log:
            processes.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))
    try:
        yield {"environments": environments, "root": tmp_path, "receiver": receiver, "ports": ports, "logs": logs}
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        receiver.server.shutdown()


def seawall(environments: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SEAWALL, "--environments", str(environments), *args], capture_output=True, text=True, check=False, timeout=300
    )


def firing(receiver: Receiver, alert: str) -> list[str]:
    return [title for title in receiver.titles() if title.startswith("[FIRING") and f"] {alert} " in title]


def test_a_failed_backup_notifies_once_as_critical_and_a_passing_run_resolves_it(stack: dict[str, Any]) -> None:
    environments, root, receiver = stack["environments"], stack["root"], stack["receiver"]
    assert seawall(environments, "backup", "init", "local", "--set", "project-config").returncode == 0
    failed = seawall(environments, "backup", "run", "local", "--set", "project-config")
    assert failed.returncode == 1, failed.stderr
    assert "does not exist" in failed.stderr

    def logs() -> str:
        return "\n".join(path.read_text() for path in sorted(stack["logs"].glob("*.log")))

    try:
        wait_for(lambda: firing(receiver, "SeawallBackupFailed"), "the SeawallBackupFailed notification")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; received {receiver.titles()}\n{logs()}") from None
    (title,) = firing(receiver, "SeawallBackupFailed")
    assert title == "[FIRING] SeawallBackupFailed (Critical)"
    (message,) = [m for m in receiver.messages if m["attachments"][0]["title"] == title]
    assert message["channel"] == "#ops-alerts"
    assert "Backup of project-config on localhost failed" in message["attachments"][0]["text"]

    (root / "data").mkdir()
    (root / "data" / "file.txt").write_text("now it exists\n")
    passed = seawall(environments, "backup", "run", "local", "--set", "project-config")
    assert passed.returncode == 0, passed.stderr
    wait_for(lambda: "[RESOLVED] SeawallBackupFailed (Critical)" in receiver.titles(), "the resolved notification")
    # Exactly one firing notification for the failure, however many evaluations saw it.
    assert len(firing(receiver, "SeawallBackupFailed")) == 1
    # The scraped series carry the target's host and environment once: the textfile's own copies (which
    # Prometheus renames exported_host and exported_environment) are dropped at the scrape.
    (series,) = query(stack["ports"]["prometheus"], 'seawall_backup_success{set="project-config"}')
    assert series["metric"]["host"] == "localhost"
    assert series["metric"]["environment"] == "local"
    assert series["value"][1] == "1"
    assert [label for label in series["metric"] if label.startswith("exported_")] == []
    # Nothing the test started listens beyond loopback (the kernel's table of listening TCP sockets).
    for port in stack["ports"].values():
        bound = listening_addresses(port)
        assert bound == {"127.0.0.1"}, bound


def query(port: int, expression: str) -> list[dict[str, Any]]:
    """Given Prometheus's port and a PromQL expression, return the instant vector it evaluates to."""
    import urllib.parse
    import urllib.request

    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())["data"]["result"]


def listening_addresses(port: int) -> set[str]:
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.rpartition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                addresses.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]) if len(address) == 8 else address)
    return addresses


def test_alertmanager_holds_major_outside_business_hours_and_sends_critical_on_call(tmp_path: Path) -> None:
    """The real Alertmanager applies the rendered time intervals: a model whose on-call window holds
    now and whose business window does not gets a Critical alert delivered and a Major one held."""
    import datetime as dt

    environments = tmp_path / "environments"
    shutil.copytree(PROJECT / "environments", environments)
    receiver = Receiver()
    (tmp_path / "webhooks").mkdir()
    (tmp_path / "webhooks" / "ops-slack.url").write_text(receiver.url)
    days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    today = dt.datetime.now(dt.UTC).weekday()
    port = free_port()
    patch_environment(
        environments,
        "local",
        {
            "availability": {
                "timezone": "UTC",
                # Today and tomorrow all day (no test run can leave it); business on another day only.
                "on_call": {"days": [days[today], days[(today + 1) % 7]], "start": "00:00", "end": "24:00"},
                "business": {"days": [days[(today + 3) % 7]], "start": "09:00", "end": "17:00"},
            },
            "alerting": {
                "channels": {"ops-slack": {"slack": "#ops-alerts", "slack_url_config": "slackWebhookUrl"}},
                "routes": {
                    "Critical": {"channels": ["ops-slack"], "hours": "on-call"},
                    "Major": {"channels": ["ops-slack"], "hours": "business"},
                    "Minor": {"channels": ["ops-slack"], "hours": "business"},
                },
            },
            "monitoring": {
                "alertmanager_port": port,
                "group_wait": "1s",
                "group_interval": "1s",
                "webhook_dir": str(tmp_path / "webhooks"),
            },
        },
    )
    rendered = tmp_path / "monitoring"
    assert seawall(environments, "monitoring", "render", "local", "--out", str(rendered)).returncode == 0
    argv = [
        "prometheus-alertmanager",
        f"--config.file={rendered / 'alertmanager/alertmanager.yml'}",
        f"--storage.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    with (tmp_path / "alertmanager.log").open("w") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        alerts = [
            {"labels": {"alertname": name, "severity": severity, "environment": "local", "host": host}}
            for name, severity, host in (("SeawallBackupFailed", "Critical", "a"), ("HostHighCpu", "Major", "b"))
        ]

        def post() -> bool:
            import urllib.error
            import urllib.request

            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v2/alerts",
                data=json.dumps(alerts).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    return response.status == 200
            except (urllib.error.URLError, OSError):
                return False

        wait_for(post, "Alertmanager to accept alerts", 30)
        wait_for(lambda: firing(receiver, "SeawallBackupFailed"), "the Critical notification", 30)
        time.sleep(5)  # several group intervals: a Major notification would have been sent by now
        assert firing(receiver, "HostHighCpu") == []
        assert receiver.titles() == ["[FIRING] SeawallBackupFailed (Critical)"]
    finally:
        process.terminate()
        process.wait(timeout=10)
        receiver.server.shutdown()
