"""The Flask app: the HTTP API of docs/interfaces.md in front of an :class:`Exporter`."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.exceptions import HTTPException

from deepclean.model_repository import MetadataError, PinsError

from .auth import bearer_matches
from .errors import ApiError, BadRequest, Unauthorized
from .exporter import Exporter
from .metrics import ExporterMetrics

log = logging.getLogger(__name__)
PINS = ("production", "canary")
MAX_VERSION = 2**31 - 1
"""Versions are directory names Triton reads as integers; larger numbers are refused, not looked up."""


def _json_body(allowed: set[str]) -> dict[str, Any]:
    try:
        body = request.get_json(force=True, silent=True)
    except (RecursionError, ValueError):  # nesting deeper than the parser's stack, numbers too long
        raise BadRequest(
            "the body is not a JSON object this API accepts (too deeply nested or too large a number)"
        ) from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(f"unknown key(s) {unknown}; expected {sorted(allowed)}")
    missing = sorted(allowed - set(body))
    if missing:
        raise BadRequest(f"missing key(s) {missing}")
    return body


def _version_from(body: dict[str, Any], nullable: bool) -> int | None:
    version = body["version"]
    if version is None and nullable:
        return None
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
        shown = repr(version) if len(repr(version)) <= 40 else repr(version)[:40] + "…"
        raise BadRequest(
            f"'version' must be an integer from 1 to {MAX_VERSION}{' or null' if nullable else ''}, got {shown}"
        )
    return version


def create_app(exporter: Exporter, token: str, max_body_bytes: int = 4096) -> Flask:
    """The API of ``exporter``; mutating calls need ``Authorization: Bearer <token>``."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    metrics = ExporterMetrics.create(exporter.model)
    app.extensions["deepclean_metrics"] = metrics

    def require_token() -> None:
        if not bearer_matches(request.headers.get("Authorization"), token):
            raise Unauthorized("missing or wrong bearer token")

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> tuple[Response, int]:
        log.warning("%s %s -> %d: %s", request.method, request.path, exc.status, exc.message)
        response = jsonify(error=exc.message)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response, exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        return jsonify(error=exc.description or exc.name), exc.code or 500

    @app.errorhandler(Exception)
    def internal_error(exc: Exception) -> tuple[Response, int]:
        if isinstance(exc, (MetadataError, PinsError)):  # the repository itself is damaged
            log.error("repository error on %s %s: %s", request.method, request.path, exc)
        else:
            log.exception("unexpected error on %s %s", request.method, request.path)
        # The exception text may name files of the server: it goes to the log, not to the client.
        return jsonify(error=f"internal error ({type(exc).__name__}); the exporter's log has the details"), 500

    @app.after_request
    def count(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.requests.labels(request.method, endpoint, str(response.status_code)).inc()
        return response

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        problems = exporter.problems()
        if problems:
            return jsonify(status="damaged", problems=problems), 503
        return jsonify(status="ok"), 200

    @app.get("/versions")
    def versions() -> Response:
        pins = exporter.pins()
        return jsonify(versions=exporter.versions(), production=pins.production, canary=pins.canary)

    @app.post("/export")
    def export() -> tuple[Response, int]:
        require_token()
        body = _json_body({"training_dir"})
        if not isinstance(body["training_dir"], str) or not body["training_dir"]:
            raise BadRequest("'training_dir' must be a non-empty string")
        started = time.monotonic()
        try:
            export = exporter.export(body["training_dir"])
        except ApiError:
            metrics.exports.labels("rejected").inc()
            raise
        except Exception:
            metrics.exports.labels("error").inc()
            raise
        if not export.created:
            metrics.exports.labels("existing").inc()
            return jsonify(version=export.version, created=False), 200
        metrics.exports.labels("ok").inc()
        metrics.export_seconds.observe(time.monotonic() - started)
        return jsonify(version=export.version, created=True), 201

    def pin_view(pin: str):
        def view() -> Response:
            if request.method == "PUT":
                require_token()
                version = _version_from(_json_body({"version"}), nullable=pin == "canary")
                if pin == "production":
                    exporter.set_production(version)  # type: ignore[arg-type]
                else:
                    exporter.set_canary(version)
                metrics.pin_changes.labels(pin).inc()
            elif request.method == "DELETE":  # production only: no model on purpose
                require_token()
                exporter.unset_production()
                metrics.pin_changes.labels(pin).inc()
            return jsonify(version=getattr(exporter.pins(), pin))

        view.__name__ = f"{pin}_pin"
        return view

    for pin in PINS:
        methods = ["GET", "PUT", "DELETE"] if pin == "production" else ["GET", "PUT"]
        app.add_url_rule(f"/{pin}", view_func=pin_view(pin), methods=methods)

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST)

    return app
