"""Prometheus metrics of the monitor: figures per version, decisions, lag, missing frames.

Metrics live in their own registry; they are served over HTTP on a localhost
port (``metrics_port``, 0 for none) and/or written as a node-exporter textfile
(``monitor.prom`` in the reports directory) at every report.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    write_to_textfile,
)

from deepclean.metrics_http import serve_registry

from .version_windows import VersionQuality


class MonitorMetrics:
    """The monitor's metrics in one registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.band_ratio = Gauge(
            "deepclean_monitor_band_asd_ratio",
            "ASD(cleaned)/ASD(raw) in the target band over the window",
            ["version"],
            registry=r,
        )
        self.out_of_band_ratio = Gauge(
            "deepclean_monitor_out_of_band_worst_asd_ratio",
            "Largest ASD(cleaned)/ASD(raw) outside the target band over the window",
            ["version"],
            registry=r,
        )
        self.window_seconds = Gauge(
            "deepclean_monitor_window_seconds",
            "Seconds of data in the version's window",
            ["version"],
            registry=r,
        )
        self.live_version = Gauge(
            "deepclean_monitor_live_version",
            "Model version in the latest cleaned frame (0: none)",
            ["stream"],
            registry=r,
        )
        self.bns_range = Gauge(
            "deepclean_monitor_bns_range_mpc",
            "BNS (1.4+1.4 Msun) sensemon range over the window",
            ["version", "strain"],
            registry=r,
        )
        self.failing_bins = Gauge(
            "deepclean_monitor_failing_bins",
            "1 Hz bins where the cleaning added noise over the window",
            ["version"],
            registry=r,
        )
        self.better_than_raw = Gauge(
            "deepclean_monitor_better_than_raw",
            "1 when no bin has noise added, the band ratio is at most 1 and the range is not below raw's "
            "(the figures of what was written: the policy also refuses a version mostly in safety fallback)",
            ["version"],
            registry=r,
        )
        self.promotions = Counter("deepclean_monitor_promotions", "Canary promotions applied", registry=r)
        self.rollbacks = Counter("deepclean_monitor_rollbacks", "Production rollbacks applied", registry=r)
        self.unpins = Counter(
            "deepclean_monitor_unpins",
            "Production unpinned (raw strain written) for want of a good version",
            registry=r,
        )
        self.rejections = Counter(
            "deepclean_monitor_canary_rejections",
            "Canaries rejected (never to be promoted) as never served",
            registry=r,
        )
        self.no_model_seconds = Gauge(
            "deepclean_monitor_no_model_seconds",
            "Seconds the stream has been written with the no-model bit while a version was pinned for it",
            ["stream"],
            registry=r,
        )
        self.pending_decisions = Gauge(
            "deepclean_monitor_pending_decisions",
            "Decisions waiting for the exporter",
            registry=r,
        )
        self.exporter_failures = Counter(
            "deepclean_monitor_exporter_failures",
            "Failed calls to the exporter",
            registry=r,
        )
        self.frame_lag = Gauge(
            "deepclean_monitor_frame_lag_seconds",
            "GPS now minus the end of the last cleaned frame read",
            registry=r,
        )
        self.frames_read = Counter("deepclean_monitor_frames_read", "Cleaned frames read", registry=r)
        self.frames_missing = Counter(
            "deepclean_monitor_frames_missing",
            "Frames given up as missing or unreadable",
            ["stream"],
            registry=r,
        )
        self.last_gps = Gauge("deepclean_monitor_last_gps", "GPS of the last cleaned frame read", registry=r)

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
        per_version = (
            self.band_ratio,
            self.out_of_band_ratio,
            self.window_seconds,
            self.failing_bins,
            self.better_than_raw,
        )
        labelled = [(g, (str(version),)) for g in per_version]
        labelled += [(self.bns_range, (str(version), strain)) for strain in ("raw", "cleaned")]
        for gauge, labels in labelled:
            try:
                gauge.remove(*labels)
            except KeyError:
                pass

    def serve(self, port: int, address: str = "127.0.0.1") -> Callable[[], None]:
        """Serve ``/metrics`` on ``address:port`` from a daemon thread; returns the function that stops it."""
        return serve_registry(self.registry, port, address)

    def write_textfile(self, path: Path) -> None:
        """Write the metrics in the text format (atomically) to ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        write_to_textfile(str(path), self.registry)
