"""Tests of the exporter token's rule and of the exporter client, against a real HTTP server."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from deepclean.exporter_api import (
    MIN_TOKEN_LENGTH,
    TOKEN_ENV,
    Exported,
    ExporterClient,
    ExporterError,
    ExporterRejected,
    ExporterUnavailable,
    TokenError,
    create_token_file,
    read_token,
)
from deepclean.testing.stub_server import Answer, StubServer

TOKEN = "stub-token-0123456789"


class Stub(StubServer):
    """The exporter's API in memory: exports (200 for a directory seen before), pins, the bearer check.

    ``scripted`` answers (status, body or raw text) are given first, whatever the request.
    """

    def __init__(self, scripted: list[Answer] | None = None) -> None:
        super().__init__()
        self.scripted = list(scripted or [])
        self.exported: dict[str, int] = {}
        self.pins: dict[str, int | None] = {"production": None, "canary": None}

    def answer(self, method: str, path: str, body: dict | None, auth: str | None) -> Answer:
        if self.scripted:
            return self.scripted.pop(0)
        slot = path.strip("/")
        if method == "GET":
            return (200, {"version": self.pins[slot]}) if slot in self.pins else (200, {"versions": [], **self.pins})
        if auth != f"Bearer {TOKEN}":
            return 401, {"error": "missing or wrong bearer token"}
        if method == "POST":
            directory = body["training_dir"]
            if directory in self.exported:
                return 200, {"version": self.exported[directory], "created": False}
            self.exported[directory] = len(self.exported) + 1
            return 201, {"version": self.exported[directory], "created": True}
        if method == "DELETE" and slot != "production":
            return 405, {"error": "method not allowed"}
        self.pins[slot] = body["version"] if method == "PUT" else None
        return 200, {"version": self.pins[slot]}


@pytest.fixture
def token_file(tmp_path: Path, monkeypatch) -> Path:
    """A token file holding the stub's token, and no token in the environment."""
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    path = tmp_path / "exporter.token"
    path.write_text(TOKEN + "\n")
    return path


def test_environment_wins_over_the_file(token_file: Path, monkeypatch) -> None:
    """$DEEPCLEAN_EXPORTER_TOKEN is used when set; the file is then neither read nor created."""
    monkeypatch.setenv(TOKEN_ENV, "from-the-environment")
    assert read_token(token_file) == "from-the-environment"
    assert read_token(token_file.parent / "absent", create=True) == "from-the-environment"
    assert not (token_file.parent / "absent").exists()


def test_token_file_first_line_is_read_at_each_call(token_file: Path) -> None:
    """The file's first line (stripped) is the token; a file changed later is read again."""
    assert read_token(token_file) == TOKEN
    token_file.write_text("  a-fixed-token-0123456789 \nsecond line\n")
    assert read_token(token_file) == "a-fixed-token-0123456789"


def test_token_file_is_created_random_and_private(tmp_path: Path, monkeypatch) -> None:
    """A missing file is created with a random token, mode 0600; an existing one is kept."""
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    created = tmp_path / "run" / "exporter.token"
    assert create_token_file(created)
    token = read_token(created)
    assert len(token) >= 32 and created.stat().st_mode & 0o777 == 0o600
    assert not create_token_file(created) and read_token(created, create=True) == token
    assert read_token(tmp_path / "other", create=True) != token
    assert [p.name for p in created.parent.iterdir()] == ["exporter.token"]  # no temporary file left


def test_short_token_is_refused_naming_its_source(token_file: Path, monkeypatch) -> None:
    """A token shorter than the minimum is an error naming the file or variable, never the token."""
    token_file.write_text("abcdefgh\n")
    with pytest.raises(TokenError, match=f"exporter_token_file {token_file} has 8 characters") as refused:
        read_token(token_file)
    assert "abcdefgh" not in str(refused.value)
    monkeypatch.setenv(TOKEN_ENV, "x" * (MIN_TOKEN_LENGTH - 1))
    with pytest.raises(TokenError, match=f"\\${TOKEN_ENV} has {MIN_TOKEN_LENGTH - 1} characters"):
        read_token(token_file)


def test_unusable_token_sources_are_errors(tmp_path: Path, monkeypatch) -> None:
    """No variable and no file, a missing file or an empty one is a TokenError saying which."""
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(TokenError, match="no exporter token: set"):
        read_token(None)
    with pytest.raises(TokenError, match="no exporter token: .*absent does not exist"):
        read_token(tmp_path / "absent")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(TokenError, match="is empty"):
        read_token(tmp_path / "empty")
    with pytest.raises(TokenError, match="cannot read exporter_token_file"):
        read_token(tmp_path)  # a directory


def test_export_posts_the_absolute_path_with_the_token(token_file: Path, tmp_path: Path) -> None:
    """POST /export carries the resolved training directory and the bearer token; 201 is a new version."""
    with Stub() as stub:
        exported = ExporterClient(stub.url, token_file).export(tmp_path / "run" / ".." / "dir")
    assert exported == Exported(1, created=True)
    assert stub.requests[0]["path"] == "/export"
    assert stub.requests[0]["body"] == {"training_dir": str((tmp_path / "dir").resolve())}
    assert stub.requests[0]["auth"] == f"Bearer {TOKEN}"


def test_export_of_an_existing_run_is_200_not_created(token_file: Path, tmp_path: Path) -> None:
    """The same training run exported again answers 200 with its existing version, which the retry loop returns."""
    with Stub() as stub:
        client = ExporterClient(stub.url, token_file)
        assert client.export(tmp_path) == Exported(1, created=True)
        assert client.export(tmp_path) == Exported(1, created=False)
        assert client.export_with_retry(tmp_path, threading.Event()) == 1


def test_unavailable_exporter_is_retried_with_backoff(token_file: Path, tmp_path: Path) -> None:
    """5xx answers are retried until the export succeeds."""
    with Stub(scripted=[(503, {"error": "busy"}), (500, "Internal Server Error")]) as stub:
        version = ExporterClient(stub.url, token_file).export_with_retry(tmp_path, threading.Event(), first_delay=0.01)
    assert version == 1 and len(stub.requests) == 3


def test_bad_token_is_rejected_not_retried(tmp_path: Path, monkeypatch) -> None:
    """A 401 raises ExporterRejected at once with the exporter's reason; an operator may fix it (not permanent)."""
    monkeypatch.setenv(TOKEN_ENV, "wrong-token-0123456789")
    with Stub() as stub, pytest.raises(ExporterRejected, match="POST .*/export: HTTP 401: missing or wrong") as refused:
        ExporterClient(stub.url).export_with_retry(tmp_path, threading.Event(), first_delay=0.01)
    assert len(stub.requests) == 1 and refused.value.status == 401 and not refused.value.permanent


def test_exporter_down_gives_up_after_attempts(token_file: Path, tmp_path: Path) -> None:
    """With nothing listening the client reports unavailability and gives up after max_attempts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = ExporterClient(f"http://127.0.0.1:{port}", token_file, export_timeout=1.0)
    with pytest.raises(ExporterUnavailable) as down:
        client.export(tmp_path)
    assert down.value.status is None and not down.value.permanent
    assert client.export_with_retry(tmp_path, threading.Event(), first_delay=0.01, max_attempts=2) is None


@pytest.mark.parametrize(
    "status, body, kind, permanent",
    [
        (400, {"error": "bad body"}, ExporterRejected, True),
        (401, {"error": "wrong token"}, ExporterRejected, False),
        (404, {"error": "unknown version 9"}, ExporterRejected, True),
        (405, {"error": "no such method"}, ExporterRejected, True),
        (409, {"error": "conflict"}, ExporterRejected, True),
        (413, {"error": "too large"}, ExporterRejected, False),
        (422, {"error": "incomplete"}, ExporterRejected, True),
        (500, "<html>oops</html>", ExporterUnavailable, False),
        (503, {"error": "disk full"}, ExporterUnavailable, False),
        (200, "not json", ExporterUnavailable, False),
        (200, {"version": "three"}, ExporterUnavailable, False),
    ],
)
def test_answers_are_classified(token_file: Path, status: int, body, kind: type, permanent: bool) -> None:
    """4xx is a rejection (permanent for 400/404/405/409/422), 5xx or an answer outside the API is unavailability."""
    with Stub(scripted=[(status, body)]) as stub, pytest.raises(kind) as failed:
        ExporterClient(stub.url, token_file).set_production(3)
    assert failed.value.permanent is permanent
    if status >= 400:
        assert f"PUT {stub.url}/production: HTTP {status}" in str(failed.value)


def test_pins_are_read_without_and_changed_with_the_token(token_file: Path) -> None:
    """GETs carry no token; set_production, set_canary and unset_production carry it and check the answer."""
    with Stub() as stub:
        client = ExporterClient(stub.url, token_file)
        assert client.pins() == {"production": None, "canary": None}
        assert client.set_production(2) == 2 and client.set_canary(3) == 3
        assert client.pins() == {"production": 2, "canary": 3} and client.pin("canary") == 3
        assert client.set_canary(None) is None
        client.unset_production()
        assert client.versions() == {"versions": [], "production": None, "canary": None}
    assert [r["auth"] is None for r in stub.requests] == [r["method"] == "GET" for r in stub.requests]
    with pytest.raises(ValueError, match="no pin slot 'shadow'"):
        client.pin("shadow")


def test_pin_answer_that_does_not_match_is_an_error(token_file: Path) -> None:
    """A PUT answered with another version than asked is retried like an outage, not trusted."""
    with Stub(scripted=[(200, {"version": 1})]) as stub, pytest.raises(ExporterUnavailable, match="answered"):
        ExporterClient(stub.url, token_file).set_production(2)


def test_missing_token_sends_nothing_and_a_fixed_file_is_picked_up(tmp_path: Path, monkeypatch) -> None:
    """Without a usable token a mutating call fails before sending (not permanently): the next reads the file again."""
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    token_file = tmp_path / "exporter.token"
    with Stub() as stub:
        client = ExporterClient(stub.url, token_file)
        with pytest.raises(TokenError, match="PUT .*/production: no exporter token") as refused:
            client.set_production(1)
        assert isinstance(refused.value, ExporterError) and not refused.value.permanent and stub.requests == []
        token_file.write_text("wrong-token-0123456789\n")
        with pytest.raises(ExporterRejected, match="HTTP 401"):
            client.set_production(1)
        token_file.write_text(TOKEN + "\n")
        assert client.set_production(1) == 1
        assert ExporterClient(stub.url, token=TOKEN).pin("production") == 1
