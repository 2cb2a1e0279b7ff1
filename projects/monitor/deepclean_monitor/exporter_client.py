"""The exporter's HTTP API as the monitor uses it (docs/interfaces.md).

GET /versions, GET/PUT /production, /canary and DELETE /production (no
production model: the cleaner writes raw strain); mutating calls carry the
bearer token (read again for every call, so a token file fixed by an operator
is picked up). Every failure is raised as :class:`ExporterError`; the decision
runner retries it with back-off unless the exporter refused the request
itself (:attr:`ExporterError.permanent`: 400, 404, 405, 409, 422; 405 is an
exporter without ``DELETE /production``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import requests

TOKEN_ENV = "DEEPCLEAN_EXPORTER_TOKEN"
Pin = Literal["production", "canary"]


PERMANENT_STATUSES = frozenset({400, 404, 405, 409, 422})


class ExporterError(RuntimeError):
    """A call to the exporter failed (``status``: the HTTP status, None if there was no answer)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def permanent(self) -> bool:
        """True when asking again cannot help (the request itself was refused)."""
        return self.status in PERMANENT_STATUSES


def read_token(token_file: Path | None) -> str | None:
    """The exporter token: ``$DEEPCLEAN_EXPORTER_TOKEN`` or the first line of ``token_file``."""
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV].strip()
    if token_file is None:
        return None
    try:
        return token_file.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


class ExporterClient:
    """Talks to the exporter at ``url``.

    Changing a pin needs a token: ``token`` if given, else the one
    :func:`read_token` finds (environment, then ``token_file``) at each call.
    """

    def __init__(
        self, url: str, token: str | None = None, token_file: Path | None = None, timeout: float = 5.0
    ) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self.token_file = token_file
        self.timeout = timeout
        self.session = requests.Session()

    @property
    def token(self) -> str | None:
        return self._token or read_token(self.token_file)

    def versions(self) -> dict[str, Any]:
        """``{"versions": [...], "production": n, "canary": m}``."""
        return self._call("GET", "/versions")

    def pin(self, which: Pin) -> int | None:
        """The version pinned as ``which`` (None when unset)."""
        return self._call("GET", f"/{which}").get("version")

    def set_pin(self, which: Pin, version: int) -> int:
        """Pin ``version`` as ``which``; the version the exporter now reports."""
        if not self.token:
            raise ExporterError(f"no exporter token (set {TOKEN_ENV} or exporter_token_file) to change {which}")
        answer = self._call("PUT", f"/{which}", json={"version": int(version)})
        if answer.get("version") != version:
            raise ExporterError(f"PUT /{which} {version}: exporter answered {answer}")
        return version

    def unpin_production(self) -> None:
        """Leave no model in production (``DELETE /production``)."""
        if not self.token:
            raise ExporterError(f"no exporter token (set {TOKEN_ENV} or exporter_token_file) to unpin production")
        answer = self._call("DELETE", "/production")
        if answer.get("version") is not None:
            raise ExporterError(f"DELETE /production: exporter answered {answer}")

    def _call(self, method: str, path: str, json: dict | None = None) -> dict[str, Any]:
        token = self.token if method != "GET" else None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            response = self.session.request(
                method, self.url + path, json=json, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise ExporterError(f"{method} {self.url}{path}: {exc.__class__.__name__}: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = {"error": response.text[:200]}
        if response.status_code >= 400:
            raise ExporterError(
                f"{method} {self.url}{path}: HTTP {response.status_code}: {body.get('error', body)}",
                status=response.status_code,
            )
        if not isinstance(body, dict):
            raise ExporterError(f"{method} {self.url}{path}: unexpected answer {body!r}")
        return body
