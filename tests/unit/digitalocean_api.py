"""A declared stand-in for DigitalOcean's API: api.digitalocean.com cannot be reached from here (and no test may
touch a real account), so the tests point the real client, pydo, at this small server on 127.0.0.1 instead.

It serves recorded answers from ``tests/fixtures/clouddrift/<case>/`` (a file there overrides the same file of
``matching/``): ``GET /v2/droplets`` is ``droplets.json``, ``GET /v2/domains/D/records`` is
``domains_D_records.json``, page N > 1 of a list is ``NAME.pageN.json``. Like the API it checks the
``Authorization: Bearer TOKEN`` header (401 with DigitalOcean's body otherwise) and answers 404 with its body
for what it does not hold; it records every request (path and query) for the tests to assert.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.conftest import PROJECT

FIXTURES = PROJECT / "tests" / "fixtures" / "clouddrift"
BASE = FIXTURES / "matching"
TOKEN = "dop_v1_standin0123456789abcdef"  # the stand-in's own token, not a real one
UNAUTHORIZED = {"id": "Unauthorized", "message": "Unable to authenticate you"}
NOT_FOUND = {"id": "not_found", "message": "The resource you were accessing could not be found."}


class StandIn:
    """The running stand-in: its endpoint, and the requests it got as (path, query) pairs."""

    def __init__(self, case: str, token: str = TOKEN) -> None:
        self.folders = [FIXTURES / case, BASE]
        self.token = token
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))

    @property
    def endpoint(self) -> str:
        """Return the address to give pydo (``SEAWALL_DIGITALOCEAN_ENDPOINT``)."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, path: str, query: dict[str, list[str]], authorization: str | None) -> tuple[int, dict]:
        """Given a request, return the status and the JSON body DigitalOcean would send."""
        self.requests.append((path, query))
        if authorization != f"Bearer {self.token}":
            return 401, UNAUTHORIZED
        if not path.startswith("/v2/"):
            return 404, NOT_FOUND
        page = int(query.get("page", ["1"])[0])
        name = path.removeprefix("/v2/").strip("/").replace("/", "_") + (f".page{page}" if page > 1 else "")
        for folder in self.folders:
            recorded = folder / f"{name}.json"
            if recorded.is_file():
                return 200, json.loads(recorded.read_text())
        return 404, NOT_FOUND

    def paths(self) -> list[str]:
        """Return every requested path with its page, in order (``/v2/droplets?page=2``)."""
        return [f"{path}?page={query.get('page', ['1'])[0]}" for path, query in self.requests]


def _handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            status, body = standin.answer(parts.path, parse_qs(parts.query), self.headers.get("Authorization"))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for header, value in (("ratelimit-limit", "5000"), ("ratelimit-remaining", "4999")):
                self.send_header(header, value)
            self.send_header("ratelimit-reset", "1767225600")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            """Keep the test output quiet."""

    return Handler


@contextmanager
def running(case: str, token: str = TOKEN) -> Iterator[StandIn]:
    """Serve a case on a free port of 127.0.0.1 while the block runs."""
    standin = StandIn(case, token)
    thread = threading.Thread(target=standin.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield standin
    finally:
        standin.server.shutdown()
        standin.server.server_close()
        thread.join(timeout=5)


def answers_of(case: str) -> dict[str, dict]:
    """Given a case, return every recorded answer by file name, the pages of a list joined (for the pure
    comparison's tests, which need no server)."""
    files: dict[str, dict] = {}
    for folder in reversed([FIXTURES / case, BASE]):
        for path in sorted(folder.glob("*.json")):
            if path.name != "expected.json" and ".page" not in path.name:
                files[path.name] = json.loads(path.read_text())
                for extra in sorted(folder.glob(f"{path.stem}.page*.json")):
                    data = json.loads(extra.read_text())
                    key = next(k for k in data if k not in ("links", "meta"))
                    files[path.name][key] = files[path.name][key] + data[key]
    return files
