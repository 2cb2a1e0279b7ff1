"""A real HTTP server that answers POST /export like the exporter (docs/interfaces.md)."""

from __future__ import annotations

from typing import Any

from deepclean.testing.stub_server import Answer, StubServer

TOKEN = "stub-token-0123456789"


class ExporterStub(StubServer):
    """Answers POST /export; ``failures`` first answers are 503; checks the bearer token."""

    def __init__(self, token: str = TOKEN, failures: int = 0) -> None:
        super().__init__()
        self.token, self.failures = token, failures
        self.version = 0

    def answer(self, method: str, path: str, body: Any, auth: str | None) -> Answer:
        if method != "POST":
            return 501, {"error": f"unsupported method ({method!r})"}
        if auth != f"Bearer {self.token}":
            return 401, {"error": "bad token"}
        if self.failures > 0:
            self.failures -= 1
            return 503, {"error": "busy"}
        self.version += 1
        return 201, {"version": self.version, "created": True}
