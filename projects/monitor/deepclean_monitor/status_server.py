"""The status page served over HTTP (Flask behind waitress), from the files the reports write.

::

    GET /              index.html (reloads itself every report_interval)
    GET /index.html
    GET /status.json   the page's figures (deepclean_monitor.status_summary)
    GET /asd.png, /band_ratio.png

The server reads only the files of the reports directory, which the reports replace
atomically: it shares no state with the monitor's loop and shows what a user opening
``index.html`` from disk sees. It binds 127.0.0.1 unless told otherwise and runs in a
daemon thread; a port already taken is logged, not fatal (the files are still written).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import waitress
from flask import Flask, Response, abort, send_from_directory
from waitress import wasyncore

from .reports import IMAGES, PAGE, SUMMARY

log = logging.getLogger(__name__)

SERVED_FILES = (PAGE, SUMMARY, *IMAGES)
RETRY_SECONDS = 5


def create_app(reports_dir: Path) -> Flask:
    """The Flask application serving ``SERVED_FILES`` from ``reports_dir``."""
    app = Flask("deepclean_monitor.status_server")
    directory = Path(reports_dir).resolve()

    @app.get("/")
    def index() -> Response:
        return served(PAGE)

    @app.get("/<name>")
    def served(name: str) -> Response:
        if name not in SERVED_FILES:
            abort(404)
        if not (directory / name).is_file():
            return Response(
                f"{name} is not written yet: the monitor writes its reports every report_interval\n",
                status=503,
                headers={"Retry-After": str(RETRY_SECONDS)},
                mimetype="text/plain",
            )
        return send_from_directory(directory, name, max_age=0)

    return app


@dataclass
class StatusServer:
    """A waitress server running :func:`create_app` in a daemon thread."""

    server: waitress.server.BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        host, port = self.server.effective_host, self.server.effective_port
        return f"http://{host}:{port}/"

    def stop(self) -> None:
        """Close every connection and the listening socket, and wait for the thread (5 s at most)."""
        if not self.thread.is_alive():
            return
        # closed from the server's own loop: its socket map is not safe to touch from this thread
        self.server.trigger.pull_trigger(lambda: wasyncore.close_all(self.server._map))
        self.thread.join(timeout=5)
        self.server.task_dispatcher.shutdown()


def start_status_server(reports_dir: Path, port: int, host: str = "127.0.0.1") -> StatusServer:
    """Serve ``reports_dir`` on ``host:port`` (0: any free port); raises OSError if the port is taken."""
    server = waitress.create_server(create_app(reports_dir), host=host, port=port, threads=2)
    thread = threading.Thread(target=server.run, name="status-server", daemon=True)
    thread.start()
    return StatusServer(server, thread)


def serve_status_page(reports_dir: Path, port: int, host: str = "127.0.0.1") -> Callable[[], None]:
    """:func:`start_status_server`, or nothing for port 0 or a taken port (logged); the function that stops it."""
    if not port:
        return lambda: None
    try:
        server = start_status_server(reports_dir, port, host)
    except OSError as exc:
        log.error("monitor: cannot serve the status page on %s:%d (%s); going on without it", host, port, exc)
        return lambda: None
    log.info("monitor: status page on %s", server.url)
    return server.stop
