"""The status page served over HTTP (Flask behind waitress), from the files the reports write.

One monitor's reports directory (each monitor serves its own on its ``status_port``)::

    GET /              index.html (reloads itself every report_interval)
    GET /index.html
    GET /status.json   the page's figures (deepclean_monitor.status_summary)
    GET /asd.png, /band_ratio.png

Every detector's (the suite's ``status`` service, ``python -m deepclean_monitor.status_server``,
table ``[tool.typeo.scripts.status]``)::

    GET /              every detector on one page (deepclean_monitor.status_page.overview_html)
    GET /status.json   {detector: its status.json, or None (not written yet, or unreadable)}
    GET /<detector>/   that detector's page, and /<detector>/<file> its files as above

The server reads only the files of the reports directory, which the reports replace
atomically: it shares no state with the monitor's loop and shows what a user opening
``index.html`` from disk sees. It binds 127.0.0.1 unless told otherwise and runs in a
daemon thread; a port already taken is logged, not fatal (the files are still written).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import waitress
from flask import Flask, Response, abort, jsonify, redirect, send_from_directory
from waitress import wasyncore

from deepclean.config import ConfigError, run_cli
from deepclean.entry_point import ServiceExit, configure_logging, stop_on_signals
from deepclean.metrics_http import Port

from .reports import IMAGES, PAGE, SUMMARY
from .status_page import Unreadable, overview_html, summary_problem

log = logging.getLogger(__name__)

SERVED_FILES = (PAGE, SUMMARY, *IMAGES)
RETRY_SECONDS = 5


def _served_file(directory: Path, name: str) -> Response:
    """``name`` from ``directory``: 404 if it is not a page file, 503 while it is not written yet."""
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


def _summary(directory: Path) -> dict | Unreadable | None:
    """The ``status.json`` in ``directory``: None while it is not written, :class:`Unreadable` (with the reason)
    when it cannot be read or parsed or does not hold what the overview shows (:func:`summary_problem`)."""
    try:
        text = (directory / SUMMARY).read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:  # its reason only: the page names no path of the server
        return Unreadable(f"cannot read {SUMMARY}: {exc.strerror or type(exc).__name__}")
    except ValueError:
        return Unreadable(f"{SUMMARY} is not UTF-8 text")
    try:
        summary = json.loads(text)
    except (RecursionError, ValueError) as exc:
        return Unreadable(f"{SUMMARY} is not JSON: {exc}")
    problem = summary_problem(summary)
    return summary if problem is None else Unreadable(problem)


def create_app(reports_dir: Path | Mapping[str, Path]) -> Flask:
    """The Flask application serving ``SERVED_FILES`` from ``reports_dir``, or for a mapping of detectors
    to reports directories, every detector's page and an overview of them all (module docstring)."""
    app = Flask("deepclean_monitor.status_server")
    if not isinstance(reports_dir, Mapping):
        directory = Path(reports_dir).resolve()
        app.add_url_rule("/", "index", lambda: _served_file(directory, PAGE))
        app.add_url_rule("/<name>", "served", lambda name: _served_file(directory, name))
        return app
    directories = {name: Path(path).resolve() for name, path in reports_dir.items()}

    @app.get("/")
    def overview() -> Response:
        page = overview_html([(name, _summary(path)) for name, path in directories.items()])
        return Response(page, mimetype="text/html", headers={"Cache-Control": "no-cache"})

    @app.get("/status.json")
    def summaries() -> Response:
        summaries = {name: _summary(path) for name, path in directories.items()}
        return jsonify({name: None if isinstance(s, Unreadable) else s for name, s in summaries.items()})

    @app.get("/<detector>")
    def detector_index(detector: str) -> Response:
        if detector not in directories:
            abort(404)
        return redirect(f"{detector}/")  # the detector's page links its files relative to itself

    @app.get("/<detector>/")
    @app.get("/<detector>/<name>")
    def detector_file(detector: str, name: str = PAGE) -> Response:
        if detector not in directories:
            abort(404)
        return _served_file(directories[detector], name)

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
        try:
            self.server.trigger.pull_trigger(lambda: wasyncore.close_all(self.server._map))
        except OSError:
            # the loop's wake-up pipe was already closed (seen once in CI, cause unknown): close the
            # sockets from here; the loop finds its map empty within its poll timeout (1 s) and ends
            wasyncore.close_all(self.server._map)
        self.thread.join(timeout=5)
        self.server.task_dispatcher.shutdown()


def start_status_server(reports_dir: Path | Mapping[str, Path], port: int, host: str = "127.0.0.1") -> StatusServer:
    """Serve ``reports_dir`` on ``host:port`` (0: any free port); raises OSError if the port is taken."""
    server = waitress.create_server(create_app(reports_dir), host=host, port=port, threads=2)
    thread = threading.Thread(target=server.run, name="status-server", daemon=True)
    thread.start()
    return StatusServer(server, thread)


def serve_status_page(reports_dir: Path | Mapping[str, Path], port: int, host: str = "127.0.0.1") -> Callable[[], None]:
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


def serve(
    detectors: list[str],
    reports_dirs: list[Path],
    status_port: Port = 9110,
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO",
) -> None:
    """Serve every detector's status page and an overview of them all on 127.0.0.1:``status_port``.

    Runs until SIGTERM or SIGINT.

    Parameters
    ----------
    detectors
        The detectors, in the order the overview shows them.
    reports_dirs
        Each detector's reports directory (its monitor's ``reports_dir``), in the same order.
    status_port
        The port of the page (0: any free port, logged).
    log_level
        Logging level.
    """
    configure_logging("status", log_level)
    directories = _by_detector(detectors, reports_dirs)
    try:
        server = start_status_server(directories, status_port)
    except OSError as exc:  # a taken port may be freed: the supervisor restarts the service
        raise ServiceExit(f"cannot serve the status page on 127.0.0.1:{status_port} ({exc})") from None
    log.info("status: every detector's page on %s (%s)", server.url, ", ".join(directories))
    try:
        with stop_on_signals("status") as stop:
            while not stop.wait(1.0):
                pass
    finally:
        server.stop()


def _by_detector(detectors: Sequence[str], reports_dirs: Sequence[Path]) -> dict[str, Path]:
    if len(detectors) != len(reports_dirs):
        shown = [str(path) for path in reports_dirs]
        raise ConfigError(f"detectors {list(detectors)} and reports_dirs {shown} differ in length")
    if len(set(detectors)) != len(detectors) or not detectors:
        raise ConfigError(f"detectors must name each detector once, got {list(detectors)}")
    unusable = [name for name in detectors if not name or "/" in name or name in SERVED_FILES]
    if unusable:
        raise ConfigError(f"detectors {unusable} cannot be page names")
    return dict(zip(detectors, map(Path, reports_dirs), strict=True))


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m deepclean_monitor.status_server``: :func:`serve` as ``[tool.typeo.scripts.status]`` says."""
    run_cli(serve, "status", argv)


if __name__ == "__main__":
    main()
