"""Errors the API reports to its client, each with its HTTP status."""

from __future__ import annotations


class ApiError(Exception):
    """A request that cannot be served; ``status`` is the HTTP status to answer with."""

    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class BadRequest(ApiError):
    """The body is malformed or names something outside what the exporter may touch."""

    status = 400


class Unauthorized(ApiError):
    """The token is missing or wrong."""

    status = 401


class NotFound(ApiError):
    """The model, training directory or version does not exist."""

    status = 404


class Conflict(ApiError):
    """The request was meant for another model: a training run posted to a model of another detector."""

    status = 409


class Rejected(ApiError):
    """The training directory is incomplete or the model failed its checks: nothing was published."""

    status = 422


class Unavailable(ApiError):
    """The repository cannot be changed now (disk full, read-only, damaged); nothing was published."""

    status = 503
