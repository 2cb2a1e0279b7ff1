"""Prometheus metrics of the exporter, in a registry of its own (one per app), labelled by model."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from deepclean.model_repository import Model, PinsError

UNKNOWN = float("nan")
"""The pin gauges of a model whose pins file cannot be read: no version, not 0 (none pinned) nor the last
value read. Grafana draws it as a gap; PromQL finds it with ``x != x``, and no comparison with a
number holds for it (an alert on ``== 0``, no pinned model, stays quiet)."""

NO_MODEL = ""
"""The ``model`` label of requests that concern no served model (``/healthz``, an unknown model's name)."""


@dataclasses.dataclass
class ExporterMetrics:
    """The exporter's counters and gauges; the version gauges are read from the repository at each scrape."""

    registry: CollectorRegistry
    requests: Counter
    exports: Counter
    export_seconds: Histogram
    pin_changes: Counter
    pinned: dict[str, Gauge]
    latest: Gauge
    count: Gauge

    @classmethod
    def create(cls) -> ExporterMetrics:
        """Metrics registered in a new registry."""
        registry = CollectorRegistry()
        return cls(
            registry=registry,
            requests=Counter(
                "deepclean_exporter_http_requests",
                "HTTP requests served",
                ["method", "endpoint", "status", "model"],
                registry=registry,
            ),
            exports=Counter(
                "deepclean_exporter_exports", "Export requests by result", ["result", "model"], registry=registry
            ),
            export_seconds=Histogram(
                "deepclean_exporter_export_seconds",
                "Wall time of successful exports",
                ["model"],
                buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300),
                registry=registry,
            ),
            pin_changes=Counter("deepclean_exporter_pin_changes", "Pin updates", ["pin", "model"], registry=registry),
            pinned={
                pin: Gauge(
                    f"deepclean_exporter_{pin}_version",
                    f"The {pin} version (0: none; NaN: the pins file is unreadable)",
                    ["model"],
                    registry=registry,
                )
                for pin in ("production", "canary")
            },
            latest=Gauge(
                "deepclean_exporter_latest_version", "The newest version (0: none)", ["model"], registry=registry
            ),
            count=Gauge("deepclean_exporter_versions", "Published versions on disk", ["model"], registry=registry),
        )

    def read_models(self, models: Mapping[str, Model]) -> None:
        """Set the version gauges of each model from the repository (call before each scrape)."""
        for name, model in models.items():
            try:
                pins = model.pins()
            except PinsError:  # /healthz reports it; the other figures are still worth scraping
                for gauge in self.pinned.values():
                    gauge.labels(name).set(UNKNOWN)  # not the last value read: the pins are unknown now
            else:
                for pin, gauge in self.pinned.items():
                    gauge.labels(name).set(getattr(pins, pin) or 0)
            self.latest.labels(name).set(model.latest() or 0)
            self.count.labels(name).set(len(model.versions()))
