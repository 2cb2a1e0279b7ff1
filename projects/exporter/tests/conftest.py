"""Fixtures: a small training root with training directories made per docs/interfaces.md."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
import torch
import waitress
from flask import Flask
from waitress import wasyncore

from deepclean.testing import training_directory
from deepclean_exporter.app import create_app
from deepclean_exporter.exporter import Exporter
from deepclean_exporter.settings import ExportSettings

CHANNELS = ("H1:PEM-CS_MAINSMON_EBAY_1_DQ", "H1:ASC-INP1_P_OUT_DQ", "H1:ASC-INP1_Y_OUT_DQ")
SAMPLE_RATE = 4096
TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

torch.set_num_threads(1)


def write_training_dir(
    root: Path,
    name: str,
    channels: tuple[str, ...] = CHANNELS,
    seed: int = 0,
    kernel_size: int = 3,
    mains_index: int | None = 0,
) -> Path:
    """A complete training directory with small random weights and metadata per the contract."""
    architecture = {"kernel_size": kernel_size, "mains_index": mains_index}
    return training_directory.write_training_dir(
        root / name, training_directory.training_metadata(dict.fromkeys(channels, 512), architecture), seed
    )


@pytest.fixture
def training_root(tmp_path: Path) -> Path:
    """An empty training root."""
    root = tmp_path / "training"
    root.mkdir()
    return root


@pytest.fixture
def make_training_dir(training_root: Path) -> Callable[..., Path]:
    """Factory writing training directories under the training root."""
    return lambda name, **kwargs: write_training_dir(training_root, name, **kwargs)


@pytest.fixture
def settings(tmp_path: Path, training_root: Path) -> ExportSettings:
    """Exporter settings for the python platform with a short ONNX check."""
    return ExportSettings(
        model_repository=tmp_path / "model-repo",
        model_name="deepclean",
        training_root=training_root,
        witness_channels=CHANNELS,
        sample_rate=SAMPLE_RATE,
        keep_versions=3,
        keep_rollback=2,
        check_samples=1024,
        intra_op_threads=1,
    )


@pytest.fixture
def exporter(settings: ExportSettings) -> Exporter:
    """A started exporter."""
    exporter = Exporter(settings)
    exporter.start()
    return exporter


class HttpResponse:
    """The parts of a Flask test response the tests read, from a real HTTP response."""

    def __init__(self, response: requests.Response) -> None:
        self.status_code = response.status_code
        self.headers = response.headers
        self.data = response.content
        self.content_type = response.headers.get("Content-Type", "")
        try:
            self.json = response.json()
        except ValueError:
            self.json = None


class HttpClient:
    """Flask's test-client interface (get/post/put/delete) over a real socket."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def open(self, path: str, method: str, **kwargs) -> HttpResponse:
        return HttpResponse(requests.request(method, self.base_url + path, timeout=120, **kwargs))

    def get(self, path: str, **kwargs) -> HttpResponse:
        return self.open(path, "GET", **kwargs)

    def post(self, path: str, **kwargs) -> HttpResponse:
        return self.open(path, "POST", **kwargs)

    def put(self, path: str, **kwargs) -> HttpResponse:
        return self.open(path, "PUT", **kwargs)

    def delete(self, path: str, **kwargs) -> HttpResponse:
        return self.open(path, "DELETE", **kwargs)


@contextlib.contextmanager
def serving(app: Flask) -> Iterator[str]:
    """``app`` served by waitress on a free localhost port, in a thread; yields its base URL."""
    wsgi = waitress.create_server(app, host="127.0.0.1", port=0, threads=4, asyncore_loop_timeout=0.05)
    thread = threading.Thread(target=wsgi.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{wsgi.effective_port}"
    finally:

        def stop() -> None:  # runs in the server's loop thread: closing from outside it races the loop
            wsgi.task_dispatcher.shutdown()
            wasyncore.close_all(wsgi._map)

        wsgi.trigger.pull_trigger(stop)
        thread.join(timeout=10)


@pytest.fixture
def server(exporter: Exporter) -> Iterator[str]:
    """The API served by waitress on a free localhost port, in a thread; yields its base URL."""
    with serving(create_app(exporter, TOKEN)) as url:
        yield url


@pytest.fixture(params=["flask-test-client", "waitress"])
def client(request, exporter: Exporter):
    """The API through Flask's test client, and through the real WSGI server on a localhost port."""
    if request.param == "flask-test-client":
        return create_app(exporter, TOKEN).test_client()
    return HttpClient(request.getfixturevalue("server"))
