"""The lab's stand-in for Slack's incoming webhooks: records every POST (path and JSON body) as one line
of a file, and answers 200 as Slack does. Usage: webhooks.py ADDRESS PORT LOG."""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def main() -> None:
    address, port, log = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = min(int(self.headers.get("Content-Length") or 0), 1 << 20)
            body = self.rfile.read(length).decode("utf-8", "replace")
            try:
                payload = json.loads(body)
            except ValueError:
                payload = body
            with log.open("a") as stream:
                stream.write(json.dumps({"path": self.path, "body": payload}) + "\n")
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            return

    log.touch()
    ThreadingHTTPServer((address, port), Receiver).serve_forever()


if __name__ == "__main__":
    main()
