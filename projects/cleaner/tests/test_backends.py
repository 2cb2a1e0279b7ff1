"""Backends: selection, a Triton server that is away, and the stream going on without it."""

import socket
import time

import numpy as np
import pytest
from conftest import BAND, settings, synthetic_input
from test_pipeline import START, load, seconds

from deepclean_cleaner import dq
from deepclean_cleaner.backends import (
    AutoBackend,
    BackendUnavailableError,
    EmbeddedBackend,
    TritonConnection,
    TritonPredictor,
    select_backend,
)
from deepclean_cleaner.model_chain import LoadedModel
from deepclean_cleaner.pipeline import CleaningPipeline


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_auto_runs_embedded_while_no_server_answers():
    """auto with an endpoint nobody listens on runs the embedded backend, and keeps probing the endpoint."""
    backend = select_backend("auto", f"127.0.0.1:{unused_port()}", threads=1, timeout=0.5, probe_interval=0.2)
    try:
        assert isinstance(backend, AutoBackend) and not backend.watch.live
        assert backend.name == "auto (embedded now)"
    finally:
        backend.watch.stop()


def test_auto_without_an_endpoint_is_embedded():
    """auto without triton_url is embedded."""
    assert isinstance(select_backend("auto", None, threads=1, timeout=0.5), EmbeddedBackend)


def test_triton_backend_names_the_endpoint_when_the_server_is_away():
    """An explicit triton backend with no server gives up after its start-up timeout, naming the URL."""
    url = f"127.0.0.1:{unused_port()}"
    began = time.monotonic()
    with pytest.raises(BackendUnavailableError, match=url):
        select_backend("triton", url, threads=1, timeout=0.5, startup_timeout=1.0)
    assert time.monotonic() - began < 10
    with pytest.raises(BackendUnavailableError, match="triton_url"):
        select_backend("triton", None, threads=1, timeout=0.5)


def test_a_failed_call_fails_fast_until_the_retry_interval_has_passed():
    """After a failure calls raise at once (no per-second timeouts stalling the stream), then retry."""
    connection = TritonConnection(f"127.0.0.1:{unused_port()}", timeout=0.5, retry_interval=0.5)
    predictor = TritonPredictor(connection, "deepclean", 1)
    witness = np.zeros((1, 4, 4320), np.float32)
    with pytest.raises(BackendUnavailableError, match="failed"):
        predictor.predict(witness)
    began = time.monotonic()
    with pytest.raises(BackendUnavailableError, match="unavailable"):
        predictor.predict(witness)
    assert time.monotonic() - began < 0.05
    time.sleep(0.6)
    with pytest.raises(BackendUnavailableError, match="failed"):
        predictor.predict(witness)


class FlakyPredictor:
    """Wraps a predictor and fails while ``down`` is set."""

    def __init__(self, predictor):
        self.predictor = predictor
        self.down = False

    def predict(self, witness):
        if self.down:
            raise BackendUnavailableError("server away")
        return self.predictor.predict(witness)


def test_the_stream_goes_on_with_raw_strain_while_the_backend_is_away(repository):
    """Seconds the backend could not predict are raw with the no-model bit; cleaning comes back after."""
    duration = 36
    data = synthetic_input(START, duration)
    model = load(repository, 1)
    flaky = FlakyPredictor(model.predictor)
    pipeline = CleaningPipeline(settings(), BAND, safety={"enabled": False})
    pipeline.swap("production", LoadedModel(1, model.metadata, flaky))
    out = {}
    for item in seconds(data, START, duration):
        flaky.down = START + 12 <= item.gps < START + 16
        for second in pipeline.process(item):
            out[second.gps] = second
    assert sorted(out) == list(range(START, START + duration - 1))
    outage = out[START + 13].outputs["production"]
    assert np.all(outage.dq & dq.NO_MODEL) and outage.version == 1
    np.testing.assert_array_equal(outage.strain, out[START + 13].raw)
    assert np.all(out[START + 10].outputs["production"].dq & dq.CLEANED)
    assert np.all(out[START + duration - 3].outputs["production"].dq & dq.CLEANED)
