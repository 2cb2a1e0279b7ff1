"""Prometheus metrics of the exporter, in a registry of its own (one per app)."""

from __future__ import annotations

import dataclasses

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from deepclean.model_repository import Model


@dataclasses.dataclass
class ExporterMetrics:
    """The exporter's counters and gauges."""

    registry: CollectorRegistry
    requests: Counter
    exports: Counter
    export_seconds: Histogram
    pin_changes: Counter

    @classmethod
    def create(cls, model: Model) -> ExporterMetrics:
        """Metrics registered in a new registry; version gauges read the repository when scraped."""
        registry = CollectorRegistry()
        metrics = cls(
            registry=registry,
            requests=Counter(
                "deepclean_exporter_http_requests",
                "HTTP requests served",
                ["method", "endpoint", "status"],
                registry=registry,
            ),
            exports=Counter("deepclean_exporter_exports", "Export requests by result", ["result"], registry=registry),
            export_seconds=Histogram(
                "deepclean_exporter_export_seconds",
                "Wall time of successful exports",
                buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300),
                registry=registry,
            ),
            pin_changes=Counter("deepclean_exporter_pin_changes", "Pin updates", ["pin"], registry=registry),
        )
        for pin in ("production", "canary"):
            gauge = Gauge(f"deepclean_exporter_{pin}_version", f"The {pin} version (0: none)", registry=registry)
            gauge.set_function(lambda pin=pin: getattr(model.pins(), pin) or 0)
        latest = Gauge("deepclean_exporter_latest_version", "The newest version (0: none)", registry=registry)
        latest.set_function(lambda: model.latest() or 0)
        count = Gauge("deepclean_exporter_versions", "Published versions on disk", registry=registry)
        count.set_function(lambda: len(model.versions()))
        return metrics
