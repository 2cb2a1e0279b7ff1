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
- ``deepclean_cleaner_input_frames_after_passed_total{stream}``: strain frames
  that arrived for a second the cleaner had passed unread (declared dropped, or
  before its first second: the feed went back); not read, once per second.
"""

from __future__ import annotations

from collections.abc import Callable

from deepclean.metrics_http import serve_or_log, serve_registry
from prometheus_client import CollectorRegistry, Counter, Gauge

from .safety import SafetyDecision


class CleanerMetrics:
    """The cleaner's metrics in one registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.fallback_seconds = Counter(
            "deepclean_cleaner_safety_fallback_seconds", "Seconds written raw by the safety gate",
            ["stream"], registry=r,
        )
        self.tripped_bins = Counter(
            "deepclean_cleaner_safety_tripped_bins", "Fallback seconds in which the 1 Hz bin had noise added",
            ["stream", "bin_hz"], registry=r,
        )
        self.band_ratio = Gauge(
            "deepclean_cleaner_safety_band_asd_ratio", "Mean ASD(cleaned)/ASD(raw) over the band's bins, last window",
            ["stream"], registry=r,
        )
        self.worst_bin = Gauge(
            "deepclean_cleaner_safety_worst_bin_asd_ratio",
            "Largest ASD(cleaned)/ASD(raw) of a checked bin outside the band, last window", ["stream"], registry=r,
        )
        self.worst_bin_frequency = Gauge(
            "deepclean_cleaner_safety_worst_bin_hz", "Centre of the worst bin outside the band, last window",
            ["stream"], registry=r,
        )
        self.input_frames_replaced = Counter(
            "deepclean_cleaner_input_frames_replaced",
            "Input seconds whose frame was rewritten or duplicated after it was read (first read kept)",
            ["stream"], registry=r,
        )
        self.input_frames_passed = Counter(
            "deepclean_cleaner_input_frames_after_passed",
            "Input frames that arrived for a second the stream had passed unread (the feed went back)",
            ["stream"], registry=r,
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
