"""The bearer token of mutating calls: where it comes from and how it is checked."""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from pathlib import Path

TOKEN_ENV = "DEEPCLEAN_EXPORTER_TOKEN"
log = logging.getLogger(__name__)


class TokenError(RuntimeError):
    """No usable token could be found or created."""


def load_token(token_file: Path | None, create: bool = True) -> str:
    """The token: ``$DEEPCLEAN_EXPORTER_TOKEN`` if set, else the content of ``token_file``.

    When neither exists and ``create`` is true, a random token is written to
    ``token_file`` (mode 0600) for the other services to read. The token itself
    is never logged.
    """
    from_env = os.environ.get(TOKEN_ENV, "").strip()
    if from_env:
        return from_env
    if token_file is None:
        raise TokenError(f"no token: set ${TOKEN_ENV} or configure exporter_token_file")
    if not token_file.exists() and create:
        token_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: read theirs
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32) + "\n")
            log.info("generated a new exporter token in %s", token_file)
    try:
        token = token_file.read_text().strip()
    except OSError as exc:
        raise TokenError(f"cannot read exporter_token_file {token_file}: {exc.strerror or exc}") from exc
    if not token:
        raise TokenError(f"exporter_token_file {token_file} is empty")
    return token


def bearer_matches(header: str | None, token: str) -> bool:
    """True when the Authorization header is ``Bearer <token>`` (compared in constant time)."""
    if not header:
        return False
    scheme, _, offered = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(offered.strip().encode(), token.encode())
