"""A real HTTP server on a free localhost port, answering JSON from a thread.

Stand-ins for the exporter (docs/interfaces.md, "Exporter API") subclass
:class:`StubServer` and decide each answer in :meth:`StubServer.answer`; the
server records every request::

    class AlwaysBusy(StubServer):
        def answer(self, method, path, body, auth):
            return 503, {"error": "busy"}

    with AlwaysBusy() as stub:
        client = ExporterClient(stub.url, token)
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

Answer = tuple[int, dict[str, Any] | str]
"""An HTTP status and a JSON body (a ``str`` is sent as it is, e.g. to send something that is not JSON)."""


class StubServer:
    """Serves :meth:`answer` on ``url`` while used as a context manager; ``requests`` lists what came in.

    Each request is recorded as ``{"method", "path", "body", "auth"}``: the
    body parsed as JSON (``None`` without one) and the Authorization header.
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def answer(self, method: str, path: str, body: Any, auth: str | None) -> Answer:
        """The status and body answering one request."""
        raise NotImplementedError

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                auth = self.headers.get("Authorization")
                stub.requests.append({"method": self.command, "path": self.path, "body": body, "auth": auth})
                status, content = stub.answer(self.command, self.path, body, auth)
                payload = (content if isinstance(content, str) else json.dumps(content)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_PUT = do_DELETE = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
