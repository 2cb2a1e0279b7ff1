"""Asking the exporter to export a training directory (docs/interfaces.md, "Exporter HTTP API").

``POST /export`` with ``{"training_dir": "/abs/path"}`` and the bearer token;
201 ``{"version": n}`` on success. A connection failure, a timeout or a 5xx
answer means the exporter is down or busy: retry with exponential back-off. A
4xx answer means the request itself is wrong: retrying cannot help.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import requests

log = logging.getLogger(__name__)

TOKEN_ENV = "DEEPCLEAN_EXPORTER_TOKEN"


class ExporterUnavailable(RuntimeError):
    """The exporter could not be reached or failed on its side (worth retrying)."""


class ExportRejected(RuntimeError):
    """The exporter refused the request (4xx); the message holds its reason."""


def read_token(token_file: Path | None) -> str:
    """The exporter token: ``$DEEPCLEAN_EXPORTER_TOKEN`` or the content of ``token_file``."""
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV].strip()
    if token_file is None:
        raise ExportRejected(f"no exporter token: set {TOKEN_ENV} or exporter_token_file")
    try:
        token = token_file.read_text().strip()
    except OSError as exc:
        raise ExportRejected(f"cannot read exporter_token_file {token_file}: {exc}") from exc
    if not token:
        raise ExportRejected(f"exporter_token_file {token_file} is empty")
    return token


@dataclass
class ExporterClient:
    url: str
    token_file: Path | None = None
    timeout: float = 120.0  # an export on a GPU node builds a TensorRT plan

    def export(self, training_dir: Path) -> int:
        """Export ``training_dir`` once; return the new version."""
        token = read_token(self.token_file)
        endpoint = self.url.rstrip("/") + "/export"
        try:
            response = requests.post(
                endpoint,
                json={"training_dir": str(Path(training_dir).resolve())},
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise ExporterUnavailable(f"POST {endpoint} failed: {exc}") from exc
        reason = _error_text(response)
        if response.status_code >= 500:
            raise ExporterUnavailable(f"POST {endpoint}: HTTP {response.status_code}: {reason}")
        if response.status_code >= 400:
            raise ExportRejected(f"POST {endpoint}: HTTP {response.status_code}: {reason}")
        try:
            return int(response.json()["version"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ExporterUnavailable(f"POST {endpoint}: unexpected answer {response.text[:200]!r}") from exc

    def export_with_retry(
        self,
        training_dir: Path,
        stop: threading.Event,
        first_delay: float = 2.0,
        max_delay: float = 300.0,
        max_attempts: int | None = None,
    ) -> int | None:
        """Export, retrying with exponential back-off while the exporter is unavailable.

        Returns the version, or None when ``stop`` is set or ``max_attempts``
        ran out first. :class:`ExportRejected` is raised at once.
        """
        delay, attempt = first_delay, 0
        while not stop.is_set():
            attempt += 1
            try:
                return self.export(training_dir)
            except ExporterUnavailable as exc:
                if max_attempts is not None and attempt >= max_attempts:
                    log.warning("export of %s: %s; giving up after %d attempts", training_dir, exc, attempt)
                    return None
                log.warning("export of %s: %s; retrying in %.0f s", training_dir, exc, delay)
                stop.wait(delay)
                delay = min(delay * 2, max_delay)
        return None


def _error_text(response: requests.Response) -> str:
    try:
        return str(response.json().get("error", response.text[:200]))
    except ValueError:
        return response.text[:200]
