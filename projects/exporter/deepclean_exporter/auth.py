"""The bearer token of mutating calls: the exporter's copy of it, and the check of each request.

Where the token comes from (and its minimum length) is :mod:`deepclean.exporter_api`'s rule, shared with
the services that call the exporter; the exporter only adds that it creates the file on first start.
"""

from __future__ import annotations

import hmac
from pathlib import Path

from deepclean.exporter_api import TOKEN_ENV, TokenError, read_token

__all__ = ["TOKEN_ENV", "TokenError", "bearer_matches", "load_token"]


def load_token(token_file: Path | None, create: bool = True) -> str:
    """The token by :func:`deepclean.exporter_api.read_token`; a missing ``token_file`` is created (mode 0600).

    Raises
    ------
    TokenError
        When no usable token can be found or created. The token itself is never logged.
    """
    return read_token(token_file, create=create)


def bearer_matches(header: str | None, token: str) -> bool:
    """True when the Authorization header is ``Bearer <token>`` (compared in constant time)."""
    if not header:
        return False
    scheme, _, offered = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(offered.strip().encode(), token.encode())
