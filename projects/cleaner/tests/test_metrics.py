"""The cleaner's Prometheus metrics: what the safety gate did, per stream."""

import socket
import urllib.request

import numpy as np

from deepclean.metrics_http import serve_metrics
from deepclean_cleaner.metrics import CleanerMetrics
from deepclean_cleaner.safety import SafetyGate

RATE = 16384


def test_fallback_seconds_tripped_bins_and_last_figures_are_recorded():
    """Two fallback seconds with a line added at 75 Hz: counted per stream and per bin; gauges show the window."""
    rng = np.random.default_rng(0)
    t = np.arange(RATE) / RATE
    carrier, added = 20.0 * np.sin(2 * np.pi * 60.0 * t), 0.5 * np.sin(2 * np.pi * 75.0 * t)
    gate, metrics = SafetyGate(RATE, (58.0, 62.0)), CleanerMetrics()
    for _ in range(2):
        metrics.record_safety("canary", gate.process(rng.normal(size=RATE) + carrier, carrier + added))
    metrics.record_safety("production", SafetyGate(RATE, (58.0, 62.0)).process(rng.normal(size=RATE), None))

    def value(name, **labels):
        return metrics.registry.get_sample_value(name, labels)

    assert value("deepclean_cleaner_safety_fallback_seconds_total", stream="canary") == 2.0
    assert value("deepclean_cleaner_safety_tripped_bins_total", stream="canary", bin_hz="75") == 2.0
    assert value("deepclean_cleaner_safety_tripped_bins_total", stream="canary", bin_hz="60") is None
    assert value("deepclean_cleaner_safety_worst_bin_hz", stream="canary") == 75.0
    assert value("deepclean_cleaner_safety_worst_bin_asd_ratio", stream="canary") > 10
    assert value("deepclean_cleaner_safety_band_asd_ratio", stream="canary") < 0.5
    assert value("deepclean_cleaner_safety_fallback_seconds_total", stream="production") is None
    assert value("deepclean_cleaner_safety_band_asd_ratio", stream="production") is None  # not judged


def test_metrics_are_served_on_localhost_and_port_zero_serves_nothing():
    """serve() answers /metrics on 127.0.0.1 until stopped; serve_metrics with port 0 starts nothing."""
    metrics = CleanerMetrics()
    metrics.fallback_seconds.labels(stream="production").inc()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    stop = metrics.serve(port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            body = response.read().decode()
        assert 'deepclean_cleaner_safety_fallback_seconds_total{stream="production"} 1.0' in body
    finally:
        stop()
    assert serve_metrics(metrics, 0)() is None


def test_written_frames_count_latency_versions_and_outcomes_per_stream(tmp_path):
    """Each frame written through the background writer: one latency observation, the versions, and per
    stream the seconds that carry each DQ bit."""
    import time

    from deepclean.cleaned_frames import default_channels
    from deepclean_cleaner import dq
    from deepclean_cleaner.pipeline import CleanedSecond, SlotOutput
    from deepclean_cleaner.writer import BackgroundWriter, CleanedFrameWriter

    metrics = CleanerMetrics()
    output = BackgroundWriter(CleanedFrameWriter(tmp_path, "H", "H1", default_channels("H1")), metrics=metrics)
    raw = np.zeros(RATE)
    for gps, production_bits, canary_bits in (
        (1400000000, dq.CLEANED, dq.NO_MODEL),
        (1400000001, dq.SAFETY_FALLBACK, dq.INPUT_GAP | dq.NOT_ANALYSIS_READY),
    ):
        outputs = {
            "production": SlotOutput(raw, 3, np.full(16, production_bits, dtype=np.int32)),
            "canary": SlotOutput(raw, 0, np.full(16, canary_bits, dtype=np.int32)),
        }
        output.submit(CleanedSecond(gps, raw, time.time() - 0.4, outputs))
    output.close()

    def value(name, **labels):
        return metrics.registry.get_sample_value(name, labels)

    assert value("deepclean_cleaner_frames_written_total") == 2.0
    assert value("deepclean_cleaner_latency_seconds_count") == 2.0
    assert value("deepclean_cleaner_latency_seconds_bucket", le="0.25") == 0.0
    assert value("deepclean_cleaner_latency_seconds_bucket", le="1.0") == 2.0
    assert value("deepclean_cleaner_newest_gps") == 1400000001
    assert (
        value("deepclean_cleaner_version", stream="production"),
        value("deepclean_cleaner_version", stream="canary"),
    ) == (3, 0)
    counts = {
        (s, o): value("deepclean_cleaner_seconds_total", stream=s, outcome=o)
        for s in ("production", "canary")
        for o in ("cleaned", "fallback", "no_model", "input_gap", "not_ready")
    }
    assert counts == {
        ("production", "cleaned"): 1.0,
        ("production", "fallback"): 1.0,
        ("production", "no_model"): None,
        ("production", "input_gap"): None,
        ("production", "not_ready"): None,
        ("canary", "cleaned"): None,
        ("canary", "fallback"): None,
        ("canary", "no_model"): 1.0,
        ("canary", "input_gap"): 1.0,
        ("canary", "not_ready"): 1.0,
    }
