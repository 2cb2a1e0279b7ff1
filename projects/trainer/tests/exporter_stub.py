"""A real HTTP server that answers POST /export like the exporter (docs/interfaces.md)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "stub-token-0123456789"


class ExporterStub:
    """Answers POST /export; ``failures`` first answers are 503; checks the bearer token."""

    def __init__(self, token: str = TOKEN, failures: int = 0) -> None:
        self.token, self.failures = token, failures
        self.requests: list[dict] = []
        self.version = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                if self.headers.get("Authorization") != f"Bearer {stub.token}":
                    return self._answer(401, {"error": "bad token"})
                if stub.failures > 0:
                    stub.failures -= 1
                    return self._answer(503, {"error": "busy"})
                stub.version += 1
                return self._answer(201, {"version": stub.version, "created": True})

            def _answer(self, status: int, content: dict) -> None:
                payload = json.dumps(content).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ExporterStub:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
