"""Prometheus metrics of the monitor: figures per version, decisions, lag, missing frames.

Metrics live in their own registry; they are served over HTTP on a localhost
port (``metrics_port``, 0 for none) and/or written as a node-exporter textfile
(``monitor.prom`` in the reports directory) at every report.
"""

from __future__ import annotations

from deepclean.metrics_http import ServiceMetrics

from .version_windows import VersionQuality

WINDOW_FIGURES = {
    "band_asd_ratio": "ASD(cleaned)/ASD(raw) in the target band over the window",
    "out_of_band_worst_asd_ratio": "Largest ASD(cleaned)/ASD(raw) outside the target band over the window",
    "window_seconds": "Seconds of data in the version's window",
}
"""Gauges of each version's window: band ratio, worst ratio outside the band, seconds."""
WINDOW_JUDGEMENT = {
    "failing_bins": "1 Hz bins where the cleaning added noise over the window",
    "better_than_raw": (
        "1 when no bin has noise added, the band ratio is at most 1 and the range is not below raw's "
        "(the figures of what was written: the policy also refuses a version mostly in safety fallback)"
    ),
}
"""Gauges of the judgement of each version's window: failing bins, better than raw."""
DECISIONS = {
    "promotions": "Canary promotions applied",
    "rollbacks": "Production rollbacks applied",
    "unpins": "Production unpinned (raw strain written) for want of a good version",
    "canary_rejections": "Canaries rejected (never to be promoted) as never served",
}
"""Counters of the decisions applied: promotions, rollbacks, unpins, rejections."""


class MonitorMetrics(ServiceMetrics):
    """The monitor's metrics in one registry."""

    service = "monitor"

    def __init__(self) -> None:
        super().__init__()
        version, stream = ("version",), ("stream",)
        self.band_ratio, self.out_of_band_ratio, self.window_seconds = (
            self.gauge(name, documentation, version) for name, documentation in WINDOW_FIGURES.items()
        )
        self.live_version = self.gauge("live_version", "Model version in the latest cleaned frame (0: none)", stream)
        self.bns_range = self.gauge(
            "bns_range_mpc", "BNS (1.4+1.4 Msun) sensemon range over the window", ("version", "strain")
        )
        self.failing_bins, self.better_than_raw = (
            self.gauge(name, documentation, version) for name, documentation in WINDOW_JUDGEMENT.items()
        )
        self.promotions, self.rollbacks, self.unpins, self.rejections = (
            self.counter(name, documentation) for name, documentation in DECISIONS.items()
        )
        self.no_model_seconds = self.gauge(
            "no_model_seconds",
            "Seconds the stream has been written without the version pinned for it (no model, or another version)",
            stream,
        )
        self.pending_decisions = self.gauge("pending_decisions", "Decisions waiting for the exporter")
        self.exporter_failures = self.counter("exporter_failures", "Failed calls to the exporter")
        self.frame_lag = self.gauge("frame_lag_seconds", "GPS now minus the end of the last cleaned frame read")
        self.frames_read = self.counter("frames_read", "Cleaned frames read")
        self.frames_missing = self.counter("frames_missing", "Frames given up as missing or unreadable", stream)
        self.last_gps = self.gauge("last_gps", "GPS of the last cleaned frame read")

    def record_quality(self, quality: VersionQuality) -> None:
        version = str(quality.version)
        self.band_ratio.labels(version).set(quality.band_ratio)
        self.out_of_band_ratio.labels(version).set(quality.worst_bin)
        self.window_seconds.labels(version).set(quality.seconds)
        self.failing_bins.labels(version).set(len(quality.judgement.failing_bins))
        self.better_than_raw.labels(version).set(int(quality.better_than_raw))
        self.bns_range.labels(version=version, strain="raw").set(quality.range_raw)
        self.bns_range.labels(version=version, strain="cleaned").set(quality.range_cleaned)

    def count_decision(self, action: str) -> None:
        """Count an applied decision (``promote``, ``rollback``, ``unpin`` or ``reject``)."""
        counters = {
            "promote": self.promotions,
            "rollback": self.rollbacks,
            "unpin": self.unpins,
            "reject": self.rejections,
        }
        counters[action].inc()

    def forget_version(self, version: int) -> None:
        """Drop the figures of ``version`` (its window is gone)."""
        gauges = (self.band_ratio, self.out_of_band_ratio, self.window_seconds, self.failing_bins, self.better_than_raw)
        labelled = [(gauge, (str(version),)) for gauge in gauges]
        labelled += [(self.bns_range, (str(version), strain)) for strain in ("raw", "cleaned")]
        for gauge, labels in labelled:
            try:
                gauge.remove(*labels)
            except KeyError:
                pass
