"""The auto backend: Triton while it answers and serves the version, onnxruntime otherwise, call by call."""

from __future__ import annotations

import logging
import time

import numpy as np

from deepclean_cleaner.backends import (
    AutoPredictor,
    BackendUnavailableError,
    TritonWatch,
    VersionUnavailableError,
)

WITNESS = np.zeros((1, 4, 64), np.float32)


class FakeConnection:
    """A Triton endpoint that answers liveness checks while ``live`` is set."""

    url = "triton.example:8001"

    def __init__(self, live: bool) -> None:
        self.live = live
        self._down_until = 0.0

    def is_live(self) -> bool:
        return self.live


class Constant:
    """A predictor giving ``value`` everywhere, or raising ``error`` when it is set."""

    def __init__(self, value: float) -> None:
        self.value, self.error, self.calls = value, None, 0

    def predict(self, witness: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return np.full((witness.shape[0], witness.shape[-1]), self.value, np.float32)


def predictor(live: bool) -> tuple[AutoPredictor, FakeConnection, Constant, Constant]:
    connection = FakeConnection(live)
    watch = TritonWatch(connection, probe_interval=60.0)
    watch.probe()
    triton, embedded = Constant(1.0), Constant(2.0)
    return AutoPredictor(watch, triton, embedded), connection, triton, embedded


def test_a_server_that_answers_serves_every_call():
    auto, _, triton, embedded = predictor(live=True)
    assert np.all(auto.predict(WITNESS) == 1.0)
    assert (triton.calls, embedded.calls) == (1, 0)


def test_a_server_that_starts_later_is_taken_up_at_the_next_probe(caplog):
    auto, connection, triton, embedded = predictor(live=False)
    assert np.all(auto.predict(WITNESS) == 2.0) and triton.calls == 0
    connection.live = True
    with caplog.at_level(logging.INFO, "deepclean_cleaner.backends"):
        auto.watch.probe()
        auto.watch.probe()
    assert np.all(auto.predict(WITNESS) == 1.0)
    switches = [r.getMessage() for r in caplog.records if "inference backend" in r.getMessage()]
    assert switches == ["inference backend: triton at triton.example:8001 (the server answers a liveness check)"]


def test_a_server_that_fails_leaves_the_call_and_the_next_ones_to_onnxruntime(caplog):
    """The failing call itself is answered by onnxruntime (the second stays cleaned); the switch is logged once."""
    auto, connection, triton, embedded = predictor(live=True)
    triton.error = BackendUnavailableError("Triton at triton.example:8001 failed: connection refused")
    connection.live = False
    with caplog.at_level(logging.INFO, "deepclean_cleaner.backends"):
        assert np.all(auto.predict(WITNESS) == 2.0)
        assert np.all(auto.predict(WITNESS) == 2.0)
        auto.watch.probe()
    assert (triton.calls, embedded.calls) == (1, 2) and not auto.watch.live
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "embedded (onnxruntime) while Triton at triton.example:8001 is away" in warnings[0]


def test_a_version_the_server_has_not_loaded_yet_runs_embedded_without_leaving_the_server():
    auto, _, triton, embedded = predictor(live=True)
    triton.error = VersionUnavailableError("does not serve version 3")
    assert np.all(auto.predict(WITNESS) == 2.0)
    assert auto.watch.live
    triton.error = None
    assert np.all(auto.predict(WITNESS) == 1.0)


def test_a_server_live_but_failing_every_call_is_tried_less_and_less_often(caplog):
    """A server that answers liveness checks but fails inference (hung) costs one failed call per back-off:
    the wait before the next probe doubles after each failure, and each switch is logged once."""
    connection = FakeConnection(live=True)
    connection.timeout = 0.1
    connection.close = lambda: None
    watch = TritonWatch(connection, probe_interval=0.05)
    triton, embedded = Constant(1.0), Constant(2.0)
    triton.error = BackendUnavailableError("Triton at triton.example:8001 failed: deadline exceeded")
    auto = AutoPredictor(watch, triton, embedded, version=1)
    with caplog.at_level(logging.INFO, "deepclean_cleaner.backends"):
        watch.start()
        try:
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                assert np.all(auto.predict(WITNESS) == 2.0)  # every call answered, by onnxruntime
                time.sleep(0.005)
        finally:
            watch.stop()
    # without the back-off a probe every 0.05 s would let ~30 calls reach the failing server
    assert 2 <= triton.calls <= 7, triton.calls
    away = [r for r in caplog.records if "is away" in r.getMessage()]
    assert len(away) == triton.calls  # one line per failed call, not per probe or per call answered
