"""Tests of the exporter client against a real HTTP server."""

from __future__ import annotations

import socket
import threading

import pytest
from deepclean_trainer.exporter_client import (
    ExporterClient,
    ExporterUnavailable,
    ExportRejected,
    read_token,
)
from exporter_stub import ExporterStub


@pytest.fixture
def token_file(tmp_path, monkeypatch):
    monkeypatch.delenv("DEEPCLEAN_EXPORTER_TOKEN", raising=False)
    path = tmp_path / "token"
    path.write_text("secret\n")
    return path


def test_export_posts_absolute_path_with_token(token_file, tmp_path):
    """POST /export carries the absolute training directory and the bearer token; the version comes back."""
    with ExporterStub() as stub:
        version = ExporterClient(stub.url, token_file).export(tmp_path / "run" / ".." / "dir")
    assert version == 1
    assert stub.requests[0]["path"] == "/export"
    assert stub.requests[0]["body"] == {"training_dir": str((tmp_path / "dir").resolve())}
    assert stub.requests[0]["auth"] == "Bearer secret"


def test_retries_with_backoff_while_unavailable(token_file, tmp_path):
    """503 answers are retried until the export succeeds."""
    with ExporterStub(failures=2) as stub:
        version = ExporterClient(stub.url, token_file).export_with_retry(tmp_path, threading.Event(), first_delay=0.01)
    assert version == 1
    assert len(stub.requests) == 3


def test_bad_token_is_rejected_not_retried(tmp_path, monkeypatch):
    """A 401 raises ExportRejected at once with the exporter's reason."""
    monkeypatch.setenv("DEEPCLEAN_EXPORTER_TOKEN", "wrong")
    with ExporterStub() as stub, pytest.raises(ExportRejected, match="401.*bad token"):
        ExporterClient(stub.url).export_with_retry(tmp_path, threading.Event(), first_delay=0.01)
    assert len(stub.requests) == 1


def test_exporter_down_gives_up_after_attempts(token_file, tmp_path):
    """With nothing listening, the client reports unavailability and gives up after max_attempts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = ExporterClient(f"http://127.0.0.1:{port}", token_file, timeout=1.0)
    with pytest.raises(ExporterUnavailable):
        client.export(tmp_path)
    assert client.export_with_retry(tmp_path, threading.Event(), first_delay=0.01, max_attempts=2) is None


def test_token_sources(tmp_path, monkeypatch):
    """The environment variable wins over the file; a missing or empty file is a clear error."""
    monkeypatch.delenv("DEEPCLEAN_EXPORTER_TOKEN", raising=False)
    with pytest.raises(ExportRejected, match="cannot read exporter_token_file"):
        read_token(tmp_path / "absent")
    (tmp_path / "empty").write_text("")
    with pytest.raises(ExportRejected, match="is empty"):
        read_token(tmp_path / "empty")
    monkeypatch.setenv("DEEPCLEAN_EXPORTER_TOKEN", "from-env")
    assert read_token(tmp_path / "absent") == "from-env"
