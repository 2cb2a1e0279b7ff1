"""Tests of the exporter token: its sources and the bearer check."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepclean_exporter.auth import TOKEN_ENV, TokenError, bearer_matches, load_token
from deepclean_exporter.main import listen_address


def test_environment_wins_over_the_file(tmp_path: Path, monkeypatch) -> None:
    """$DEEPCLEAN_EXPORTER_TOKEN is used when set, and the file is then not created."""
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    assert load_token(tmp_path / "token") == "from-env"
    assert not (tmp_path / "token").exists()


def test_token_file_is_read_or_created_private(tmp_path: Path, monkeypatch) -> None:
    """An existing file is read (stripped); a missing one is created with a random token, mode 0600."""
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    existing = tmp_path / "existing"
    existing.write_text("  secret\n")
    assert load_token(existing) == "secret"
    created = tmp_path / "sub" / "token"
    token = load_token(created)
    assert len(token) >= 32 and created.read_text().strip() == token
    assert created.stat().st_mode & 0o777 == 0o600
    assert load_token(created) == token  # stable across restarts


def test_unusable_token_sources_are_errors(tmp_path: Path, monkeypatch) -> None:
    """An empty file, or no file and no variable, is a TokenError."""
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(TokenError, match="is empty"):
        load_token(empty)
    with pytest.raises(TokenError, match="no token"):
        load_token(None)
    with pytest.raises(TokenError, match="cannot read"):
        load_token(tmp_path / "missing", create=False)


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
