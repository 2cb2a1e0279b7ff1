"""Prometheus metrics of the cleaner: what the safety gate did, per stream, and input frames replaced.

Metrics live in their own registry and are served over HTTP on a localhost
port (``metrics_port``, 0 for none). ``stream`` is ``production`` or ``canary``,
except on the input counter, where it is ``strain`` or ``witness``.

- ``deepclean_cleaner_safety_fallback_seconds_total{stream}``: seconds written
  raw because of the gate.
- ``deepclean_cleaner_safety_tripped_bins_total{stream,bin_hz}``: per 1 Hz bin,
  seconds written raw or narrowed (:mod:`deepclean_cleaner.safety`) in which that
  bin was judged to have had noise added by the whole estimate (bounded by the bins of the gate's check range and band).
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
  ``no_model``, ``input_gap``, ``not_ready``, ``narrowed``: seconds with that DQ bit set in some
  sample) and ``deepclean_cleaner_version{stream}``.
- ``deepclean_cleaner_input_frames_after_passed_total{stream}``: strain frames
  that arrived for a second the cleaner had passed unread (declared dropped, or
  before its first second: the feed went back); not read, once per second.
"""

from __future__ import annotations

import numpy as np

from deepclean.metrics_http import ServiceMetrics

from . import dq
from .safety import SafetyDecision

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
"""Seconds from a second's input arrival to its cleaned frame on disk."""
JUDGED_FIGURES = {
    "safety_band_asd_ratio": "Mean ASD(cleaned)/ASD(raw) over the band's bins, last window",
    "safety_worst_bin_asd_ratio": "Largest ASD(cleaned)/ASD(raw) of a checked bin outside the band, last window",
    "safety_worst_bin_hz": "Centre of the worst bin outside the band, last window",
}
"""The gauges of the gate's last judged window, per stream: band ratio, worst bin and its frequency."""
OUTCOMES = (
    ("cleaned", dq.CLEANED),
    ("fallback", dq.SAFETY_FALLBACK),
    ("no_model", dq.NO_MODEL),
    ("input_gap", dq.INPUT_GAP),
    ("not_ready", dq.NOT_ANALYSIS_READY),
    ("narrowed", dq.NARROWED),
)


class CleanerMetrics(ServiceMetrics):
    """The cleaner's metrics in one registry."""

    service = "cleaner"

    def __init__(self) -> None:
        super().__init__()
        stream = ("stream",)
        self.fallback_seconds = self.counter(
            "safety_fallback_seconds", "Seconds written raw by the safety gate", stream
        )
        self.tripped_bins = self.counter(
            "safety_tripped_bins",
            "Seconds written raw or narrowed by the safety gate in which the 1 Hz bin had noise added",
            ("stream", "bin_hz"),
        )
        self.band_ratio, self.worst_bin, self.worst_bin_frequency = (
            self.gauge(name, documentation, stream) for name, documentation in JUDGED_FIGURES.items()
        )
        self.input_frames_replaced = self.counter(
            "input_frames_replaced",
            "Input seconds whose frame was rewritten or duplicated after it was read (first read kept)",
            stream,
        )
        self.latency = self.histogram(
            "latency_seconds", "From a second's input arrival to its cleaned frame written", LATENCY_BUCKETS
        )
        self.frames_written = self.counter("frames_written", "Cleaned frames written (one per GPS second)")
        self.seconds_by_outcome = self.counter(
            "seconds", "Seconds written per stream with a DQ bit set somewhere in them", ("stream", "outcome")
        )
        self.version = self.gauge("version", "Model version of the newest second written (0: none)", stream)
        self.newest_gps = self.gauge("newest_gps", "GPS second of the newest cleaned frame written")
        self.input_frames_passed = self.counter(
            "input_frames_after_passed",
            "Input frames that arrived for a second the stream had passed unread (the feed went back)",
            stream,
        )

    def record_safety(self, stream: str, decision: SafetyDecision) -> None:
        """Count and show what the gate decided for one second of ``stream``."""
        if decision.fallback:
            self.fallback_seconds.labels(stream=stream).inc()
        if decision.fallback or decision.narrowed:
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
