"""Errors the API reports to its client, each with its HTTP status."""

from __future__ import annotations


class ApiError(Exception):
    """A request that cannot be served; ``status`` is the HTTP status to answer with.

    A subclass names its status in its definition: ``class NotFound(ApiError, status=404)``.
    """

    status = 400

    def __init_subclass__(cls, status: int | None = None, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class BadRequest(ApiError, status=400):
    """The body is malformed or names something outside what the exporter may touch."""


class Unauthorized(ApiError, status=401):
    """The token is missing or wrong."""


class NotFound(ApiError, status=404):
    """The model, training directory or version does not exist."""


class Conflict(ApiError, status=409):
    """The request was meant for another model: a training run posted to a model of another detector."""


class Rejected(ApiError, status=422):
    """The training directory is incomplete or the model failed its checks: nothing was published."""


class Unavailable(ApiError, status=503):
    """The repository cannot be changed now (disk full, read-only, damaged); nothing was published."""
