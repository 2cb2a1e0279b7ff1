"""Tests of the exporter's token: created on first start, the library's rule, the bearer check."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepclean_exporter.auth import TOKEN_ENV, TokenError, bearer_matches, load_token
from deepclean_exporter.main import listen_address


def test_token_file_is_created_on_first_start(tmp_path: Path, monkeypatch) -> None:
    """The exporter creates a missing token file (random, mode 0600) and reads the same token after a restart."""
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    created = tmp_path / "sub" / "token"
    token = load_token(created)
    assert len(token) >= 32 and created.read_text().strip() == token
    assert created.stat().st_mode & 0o777 == 0o600
    assert load_token(created) == token


def test_environment_wins_and_short_tokens_are_refused(tmp_path: Path, monkeypatch) -> None:
    """The library's rule applies: the variable wins (no file created); a short token is a TokenError."""
    monkeypatch.setenv(TOKEN_ENV, "from-the-environment")
    assert load_token(tmp_path / "token") == "from-the-environment"
    assert not (tmp_path / "token").exists()
    monkeypatch.delenv(TOKEN_ENV)
    (tmp_path / "token").write_text("secret\n")
    with pytest.raises(TokenError, match="has 6 characters"):
        load_token(tmp_path / "token")
    with pytest.raises(TokenError, match="no exporter token"):
        load_token(None)


@pytest.mark.parametrize(
    "header, expected",
    [
        ("Bearer abc", True),
        ("bearer abc", True),
        ("Bearer abd", False),
        ("Bearer ", False),
        ("abc", False),
        (None, False),
    ],
)
def test_bearer_matches(header, expected: bool) -> None:
    """Only 'Bearer <the token>' is accepted."""
    assert bearer_matches(header, "abc") is expected


def test_listen_address_from_the_exporter_url() -> None:
    """Host and port come from exporter_url; anything but http://host:port is refused."""
    assert listen_address("http://127.0.0.1:5005") == ("127.0.0.1", 5005)
    for bad in ("127.0.0.1:5005", "https://127.0.0.1:5005", "http://127.0.0.1"):
        with pytest.raises(ValueError, match="exporter_url"):
            listen_address(bad)
