"""A small stand-in for the exporter's HTTP API (docs/interfaces.md), served for real.

Flask app behind Werkzeug's threaded WSGI server on a free localhost port.
It keeps the pins in memory, checks the bearer token, records every call, and
can be put "down" (every request answered 503) to test retries. It serves one
model, under any name: ``/models/<model>/production`` is ``/production``, and
the names asked for are recorded in ``models``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from flask import Flask, jsonify, request
from werkzeug.serving import make_server

TOKEN = "test-token-0123456789"


@dataclass
class FakeExporter:
    """The exporter's pins and the calls made to it."""

    versions: list[int]
    production: int | None = None
    canary: int | None = None
    down: bool = False
    calls: list[tuple[str, str]] = field(default_factory=list)
    accepted: list[tuple[str, int | None]] = field(default_factory=list)
    models: list[str] = field(default_factory=list)

    def puts(self, which: str = "production") -> list[int | None]:
        """The versions successfully set as ``which``, in order (None: production unpinned by DELETE)."""
        return [version for pin, version in self.accepted if pin == which]

    def app(self) -> Flask:
        app = Flask("fake_exporter")

        @app.before_request
        def record_and_maybe_fail():
            self.calls.append((request.method, request.path))
            if self.down:
                return jsonify(error="exporter unavailable"), 503
            return None

        @app.get("/healthz")
        def healthz():
            return jsonify(status="ok")

        @app.get("/versions")
        def versions():
            return jsonify(
                versions=[{"version": v, "metadata": {}} for v in self.versions],
                production=self.production,
                canary=self.canary,
            )

        @app.get("/<any(production, canary):which>")
        def get_pin(which):
            return jsonify(version=getattr(self, which))

        @app.put("/<any(production, canary):which>")
        def put_pin(which):
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return jsonify(error="missing or wrong token"), 401
            body = request.get_json(silent=True) or {}
            version = body.get("version")
            if not isinstance(version, int) or version not in self.versions:
                return jsonify(error=f"unknown version {version!r}"), 404
            setattr(self, which, version)
            self.accepted.append((which, version))
            return jsonify(version=version)

        @app.delete("/production")
        def unpin_production():
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return jsonify(error="missing or wrong token"), 401
            self.production = None
            self.accepted.append(("production", None))
            return jsonify(version=None)

        routes = app.wsgi_app

        def model_routes(environ, start_response):
            path = environ.get("PATH_INFO", "")
            if path.startswith("/models/") and path.count("/") >= 3:
                _, _, model, rest = path.split("/", 3)
                self.models.append(model)
                environ["PATH_INFO"] = "/" + rest
            return routes(environ, start_response)

        app.wsgi_app = model_routes
        return app


class ServedExporter:
    """``exporter`` served on 127.0.0.1 (``url``) until :meth:`close`."""

    def __init__(self, exporter: FakeExporter, port: int = 0) -> None:
        self.exporter = exporter
        self.server = make_server("127.0.0.1", port, exporter.app(), threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
