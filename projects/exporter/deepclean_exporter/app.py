"""The Flask app: the HTTP API of docs/interfaces.md in front of the exporters of the served models.

Every model route is served twice: as ``/models/<model>/<route>`` for each served model, and as
``/<route>`` for the default (first) model, the single model of a one-detector deployment. When
several models are served, the un-prefixed routes only read: a write there (``POST /export``,
``PUT``/``DELETE /production``, ``PUT /canary``) is refused with 409 naming ``/models/<name>/...``,
since it would change the first model whichever detector the client serves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.exceptions import HTTPException

from deepclean.model_repository import MetadataError, PinsError

from .auth import bearer_matches
from .errors import ApiError, BadRequest, Unauthorized
from .exporter import Exporter
from .metrics import NO_MODEL, ExporterMetrics
from .served_models import ServedModels

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


def _served(exporters: Exporter | ServedModels | Mapping[str, Exporter]) -> ServedModels:
    if isinstance(exporters, ServedModels):
        return exporters
    if isinstance(exporters, Exporter):
        return ServedModels([exporters])
    return ServedModels(exporters.values())


def create_app(
    exporters: Exporter | ServedModels | Mapping[str, Exporter], token: str, max_body_bytes: int = 4096
) -> Flask:
    """The API of the served models; mutating calls need ``Authorization: Bearer <token>``.

    Parameters
    ----------
    exporters
        The exporter of each served model (a single :class:`Exporter`: that model alone);
        the first is the default model of the un-prefixed routes (reads only, when several are served).
    token
        The bearer token of mutating calls.
    max_body_bytes
        Larger request bodies are refused (413).
    """
    models = _served(exporters)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    metrics = ExporterMetrics.create()
    app.extensions["deepclean_metrics"] = metrics
    app.extensions["deepclean_models"] = models

    def require_token() -> None:
        if not bearer_matches(request.headers.get("Authorization"), token):
            raise Unauthorized("missing or wrong bearer token")

    def model_label() -> str:
        """The served model a request concerned (never a name the client made up: labels stay few)."""
        if request.url_rule is None or request.view_args is None or "model" not in request.view_args:
            return NO_MODEL
        name = request.view_args["model"]
        return models.default if name is None else name if name in models else NO_MODEL

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
        metrics.requests.labels(request.method, endpoint, str(response.status_code), model_label()).inc()
        return response

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        problems = models.problems()
        if problems:
            return jsonify(status="damaged", problems=problems), 503
        return jsonify(status="ok"), 200

    @app.get("/models")
    def served() -> Response:
        return jsonify(models=list(models), default=models.default)

    def model_route(rule: str, view: Callable[..., Any], methods: list[str]) -> None:
        """Serve ``view(model)`` on ``/models/<model><rule>`` and, for the default model, on ``<rule>``."""
        name = view.__name__
        app.add_url_rule(rule, endpoint=name, view_func=view, methods=methods, defaults={"model": None})
        app.add_url_rule(f"/models/<model>{rule}", endpoint=f"model_{name}", view_func=view, methods=methods)

    def versions(model: str | None) -> Response:
        exporter = models.named(model)
        pins = exporter.pins()
        return jsonify(versions=exporter.versions(), production=pins.production, canary=pins.canary)

    def export(model: str | None) -> tuple[Response, int]:
        exporter = models.writable(model, "POST /export")
        label = exporter.model.name
        require_token()
        body = _json_body({"training_dir"})
        if not isinstance(body["training_dir"], str) or not body["training_dir"]:
            raise BadRequest("'training_dir' must be a non-empty string")
        started = time.monotonic()
        try:
            export = models.export(label, body["training_dir"])
        except ApiError:
            metrics.exports.labels("rejected", label).inc()
            raise
        except Exception:
            metrics.exports.labels("error", label).inc()
            raise
        if not export.created:
            metrics.exports.labels("existing", label).inc()
            return jsonify(version=export.version, created=False), 200
        metrics.exports.labels("ok", label).inc()
        metrics.export_seconds.labels(label).observe(time.monotonic() - started)
        return jsonify(version=export.version, created=True), 201

    def pin_view(pin: str) -> Callable[[str | None], Response]:
        def view(model: str | None) -> Response:
            if request.method in ("PUT", "DELETE"):
                exporter = models.writable(model, f"{request.method} /{pin}")
            else:  # GET (and HEAD)
                exporter = models.named(model)
            if request.method == "PUT":
                require_token()
                version = _version_from(_json_body({"version"}), nullable=pin == "canary")
                if pin == "production":
                    exporter.set_production(version)  # type: ignore[arg-type]
                else:
                    exporter.set_canary(version)
                metrics.pin_changes.labels(pin, exporter.model.name).inc()
            elif request.method == "DELETE":  # production only: no model on purpose
                require_token()
                exporter.unset_production()
                metrics.pin_changes.labels(pin, exporter.model.name).inc()
            return jsonify(version=getattr(exporter.pins(), pin))

        view.__name__ = f"{pin}_pin"
        return view

    model_route("/versions", versions, ["GET"])
    model_route("/export", export, ["POST"])
    for pin in PINS:
        methods = ["GET", "PUT", "DELETE"] if pin == "production" else ["GET", "PUT"]
        model_route(f"/{pin}", pin_view(pin), methods)

    @app.get("/metrics")
    def prometheus() -> Response:
        metrics.read_models({name: exporter.model for name, exporter in models.items()})
        return Response(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST)

    return app
