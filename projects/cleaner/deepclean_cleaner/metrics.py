"""Prometheus metrics of the cleaner: what the safety gate did, per stream, and input frames replaced.

Metrics live in their own registry and are served over HTTP on a localhost
port (``metrics_port``, 0 for none). ``stream`` is ``production`` or ``canary``,
except on the input counter, where it is ``strain`` or ``witness``.

- ``deepclean_cleaner_safety_fallback_seconds_total{stream}``: seconds written
  raw because of the gate.
- ``deepclean_cleaner_safety_tripped_bins_total{stream,bin_hz}``: per 1 Hz bin,
  fallback seconds in which that bin was judged to have had noise added
  (bounded by the bins of the gate's check range and band).
- ``deepclean_cleaner_safety_band_asd_ratio{stream}``,
  ``deepclean_cleaner_safety_worst_bin_asd_ratio{stream}`` and
  ``deepclean_cleaner_safety_worst_bin_hz{stream}``: the figures of the last
  judged window.
- ``deepclean_cleaner_input_frames_replaced_total{stream}``: GPS seconds of the
  ``strain`` or ``witness`` input whose frame was rewritten, or got a second
  file, after the cleaner had read it (the first read is kept; once per second).
- ``deepclean_cleaner_latency_seconds`` (histogram): from a second's input
  arrival (its strain frame seen) to its cleaned frame written;
  ``deepclean_cleaner_frames_written_total``, ``deepclean_cleaner_newest_gps``;
  ``deepclean_cleaner_seconds_total{stream,outcome}`` (``cleaned``, ``fallback``,
  ``no_model``, ``input_gap``, ``not_ready``: seconds with that DQ bit set in some
  sample) and ``deepclean_cleaner_version{stream}``.
- ``deepclean_cleaner_input_frames_after_passed_total{stream}``: strain frames
  that arrived for a second the cleaner had passed unread (declared dropped, or
  before its first second: the feed went back); not read, once per second.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from deepclean.metrics_http import serve_or_log, serve_registry

from . import dq
from .safety import SafetyDecision

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
"""Seconds from a second's input arrival to its cleaned frame on disk."""
OUTCOMES = (
    ("cleaned", dq.CLEANED),
    ("fallback", dq.SAFETY_FALLBACK),
    ("no_model", dq.NO_MODEL),
    ("input_gap", dq.INPUT_GAP),
    ("not_ready", dq.NOT_ANALYSIS_READY),
)


class CleanerMetrics:
    """The cleaner's metrics in one registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.fallback_seconds = Counter(
            "deepclean_cleaner_safety_fallback_seconds",
            "Seconds written raw by the safety gate",
            ["stream"],
            registry=r,
        )
        self.tripped_bins = Counter(
            "deepclean_cleaner_safety_tripped_bins",
            "Fallback seconds in which the 1 Hz bin had noise added",
            ["stream", "bin_hz"],
            registry=r,
        )
        self.band_ratio = Gauge(
            "deepclean_cleaner_safety_band_asd_ratio",
            "Mean ASD(cleaned)/ASD(raw) over the band's bins, last window",
            ["stream"],
            registry=r,
        )
        self.worst_bin = Gauge(
            "deepclean_cleaner_safety_worst_bin_asd_ratio",
            "Largest ASD(cleaned)/ASD(raw) of a checked bin outside the band, last window",
            ["stream"],
            registry=r,
        )
        self.worst_bin_frequency = Gauge(
            "deepclean_cleaner_safety_worst_bin_hz",
            "Centre of the worst bin outside the band, last window",
            ["stream"],
            registry=r,
        )
        self.input_frames_replaced = Counter(
            "deepclean_cleaner_input_frames_replaced",
            "Input seconds whose frame was rewritten or duplicated after it was read (first read kept)",
            ["stream"],
            registry=r,
        )
        self.latency = Histogram(
            "deepclean_cleaner_latency_seconds",
            "From a second's input arrival to its cleaned frame written",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.frames_written = Counter(
            "deepclean_cleaner_frames_written",
            "Cleaned frames written (one per GPS second)",
            registry=r,
        )
        self.seconds_by_outcome = Counter(
            "deepclean_cleaner_seconds",
            "Seconds written per stream with a DQ bit set somewhere in them",
            ["stream", "outcome"],
            registry=r,
        )
        self.version = Gauge(
            "deepclean_cleaner_version",
            "Model version of the newest second written (0: none)",
            ["stream"],
            registry=r,
        )
        self.newest_gps = Gauge(
            "deepclean_cleaner_newest_gps",
            "GPS second of the newest cleaned frame written",
            registry=r,
        )
        self.input_frames_passed = Counter(
            "deepclean_cleaner_input_frames_after_passed",
            "Input frames that arrived for a second the stream had passed unread (the feed went back)",
            ["stream"],
            registry=r,
        )

    def record_safety(self, stream: str, decision: SafetyDecision) -> None:
        """Count and show what the gate decided for one second of ``stream``."""
        if decision.fallback:
            self.fallback_seconds.labels(stream=stream).inc()
            for frequency, _ in decision.failing_bins:
                self.tripped_bins.labels(stream=stream, bin_hz=f"{frequency:g}").inc()
        if decision.judgement is not None:
            self.band_ratio.labels(stream=stream).set(decision.band_ratio)
            self.worst_bin.labels(stream=stream).set(decision.worst_bin)
            self.worst_bin_frequency.labels(stream=stream).set(decision.worst_bin_frequency)

    def record_written(self, gps: int, latency: float, outputs: dict) -> None:
        """Count one cleaned frame: its latency, and per stream its version and the DQ bits it carries."""
        self.frames_written.inc()
        self.latency.observe(latency)
        self.newest_gps.set(gps)
        for stream, output in outputs.items():
            self.version.labels(stream=stream).set(output.version)
            bits = int(np.bitwise_or.reduce(output.dq))
            for outcome, bit in OUTCOMES:
                if bits & bit:
                    self.seconds_by_outcome.labels(stream=stream, outcome=outcome).inc()

    def record_input_replaced(self, stream: str, passed: bool = False) -> None:
        """Count one second of the ``strain`` or ``witness`` input whose frame was replaced after it was read
        (``passed``: whose frame arrived after the stream had passed it unread)."""
        (self.input_frames_passed if passed else self.input_frames_replaced).labels(stream=stream).inc()

    def serve(self, port: int, address: str = "127.0.0.1") -> Callable[[], None]:
        """Serve ``/metrics`` on ``address:port`` from a daemon thread; returns the function that stops it."""
        return serve_registry(self.registry, port, address)


def serve_metrics(metrics: CleanerMetrics, port: int) -> Callable[[], None]:
    """Serve ``metrics`` on 127.0.0.1:``port`` (0: not at all); a busy port is logged, not fatal."""
    return serve_or_log(metrics.registry, port, "cleaner")
