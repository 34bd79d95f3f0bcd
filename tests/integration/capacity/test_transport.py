"""Transport faults between ``seawall capacity`` and Prometheus (#28): an answer that trickles in a byte at a
time ends at the query's or the command's deadline, and an answer cut off mid-way is one line, never a
traceback.

A real Prometheus cannot be made to trickle or to hang up mid-answer, so these tests use a STAND-IN: a tiny
HTTP server on 127.0.0.1 (below) that stands for a slow or broken network path, not for Prometheus. Only
transport faults are tested against it; everything Prometheus itself answers is tested against a real
Prometheus (test_capacity.py, test_odd_answers.py).
"""

from __future__ import annotations

import shutil
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from seawall.capacity.prometheus import Deadline, PrometheusError, queries, range_query
from tests.integration.capacity.test_capacity import capacity
from tests.unit.docs.fleet import ENVIRONMENTS

pytestmark = pytest.mark.integration

# What the stand-in sends, by fault: the bytes, and whether they trickle (one every TRICKLE_SECONDS) or are
# sent at once before the connection is closed.
BODY_START = b'{"status":"success","data":{"resultType":"matrix","result":['
FAULTS = {
    # The status line and a header that never ends, a byte at a time.
    "trickling headers": (b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000, True),
    # Headers at once, then a body that never ends, a byte at a time.
    "trickling body": (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + BODY_START + b" " * 100_000,
        True,
    ),
    # A body that promises 10,000 bytes and stops after a few.
    "cut-off body": (b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n" + BODY_START, False),
}
TRICKLE_SECONDS = 0.05
STAND_IN_GIVES_UP_SECONDS = 60.0  # so that a client without a deadline fails its test instead of hanging it


class TransportFault(socketserver.ThreadingTCPServer):
    """STAND-IN for a slow or broken network path (not for Prometheus): answers every request with one of
    FAULTS."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fault: str) -> None:
        super().__init__(("127.0.0.1", 0), FaultHandler)
        self.fault = fault
        self.stopping = threading.Event()


class FaultHandler(socketserver.BaseRequestHandler):
    server: TransportFault

    def handle(self) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            request += chunk
        data, trickle = FAULTS[self.server.fault]
        if not trickle:
            self.request.sendall(data)
            return
        given_up = time.monotonic() + STAND_IN_GIVES_UP_SECONDS
        for index in range(len(data)):
            if self.server.stopping.is_set() or time.monotonic() > given_up:
                return
            try:
                self.request.sendall(data[index : index + 1])
            except OSError:  # the client gave up: what the deadline is for
                return
            time.sleep(TRICKLE_SECONDS)


@pytest.fixture(params=sorted(FAULTS))
def fault(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    server = TransportFault(request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield request.param, f"http://{host!s}:{port}"
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()


def test_a_query_ends_at_its_deadline_or_when_its_answer_breaks_off(fault: tuple[str, str]) -> None:
    name, url = fault
    query = queries("devnet")["cpu"]
    started = time.monotonic()
    with pytest.raises(PrometheusError) as raised:
        range_query(url, query, 0.0, 3600.0, 60.0, Deadline.after(1.0, "the test's 1 s"))
    message = str(raised.value)
    assert time.monotonic() - started < STAND_IN_GIVES_UP_SECONDS / 2
    if name == "cut-off body":
        assert f"Prometheus at {url} broke off its answer" in message
    else:
        assert f"Prometheus at {url} sent no complete answer within the test's 1 s" in message
    assert message.endswith(f"; query: {query}")
    assert "\n" not in message


def test_a_trickling_answer_ends_the_command_at_its_timeout(tmp_path: Path) -> None:
    server = TransportFault("trickling body")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    environments = tmp_path / "environments"
    shutil.copytree(ENVIRONMENTS, environments)
    try:
        result = capacity(environments, f"http://{host!s}:{port}", "--timeout", "3s")
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "sent no complete answer within the command's --timeout 3s" in line
    assert "give a longer --timeout" in line
