"""The exporter's HTTP API as the monitor uses it (docs/interfaces.md).

GET /versions and GET/PUT /production, /canary; mutating calls carry the
bearer token. Every failure (connection refused, timeout, a 5xx or an
unexpected answer) is raised as :class:`ExporterError`, which the decision
runner retries with back-off.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import requests

TOKEN_ENV = "DEEPCLEAN_EXPORTER_TOKEN"
Pin = Literal["production", "canary"]


class ExporterError(RuntimeError):
    """A call to the exporter failed."""


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
    """Talks to the exporter at ``url``; ``token`` is needed to change a pin."""

    def __init__(self, url: str, token: str | None, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.session = requests.Session()

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

    def _call(self, method: str, path: str, json: dict | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
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
            raise ExporterError(f"{method} {self.url}{path}: HTTP {response.status_code}: {body.get('error', body)}")
        if not isinstance(body, dict):
            raise ExporterError(f"{method} {self.url}{path}: unexpected answer {body!r}")
        return body
