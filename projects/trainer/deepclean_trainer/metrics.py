"""Prometheus metrics of the trainer: its training cycles, the newest version's validation, its exports.

Metrics live in their own registry and are served over HTTP on a localhost
port (``metrics_port``, 0 for none) while the trainer runs.

- ``deepclean_trainer_cycles_started_total``,
  ``deepclean_trainer_cycles_completed_total`` (a training directory written) and
  ``deepclean_trainer_cycles_failed_total{reason}``: ``data`` (a data check
  failed, :mod:`deepclean_trainer.checks`), ``interrupted`` (stopped by a
  signal) or ``error`` (anything else).
- ``deepclean_trainer_last_training_seconds``: wall time of the last completed cycle.
- ``deepclean_trainer_last_validation_loss`` and
  ``deepclean_trainer_last_validation_band_asd_ratio``: the validation figures in
  the metadata of the version the last completed cycle wrote.
- ``deepclean_trainer_last_success_timestamp_seconds``: Unix time at which the
  last cycle completed.
- ``deepclean_trainer_exports_sent_total`` and ``deepclean_trainer_exports_failed_total``:
  export requests the exporter answered with a version, and those that failed
  (exporter unavailable or refusing; every attempt counts).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from deepclean.exporter_api import Exported, ExporterClient, ExporterError
from deepclean.metrics_http import ServiceMetrics

from .checks import DataCheckError
from .cycle import CycleResult
from .fitting import TrainingInterrupted


class TrainerMetrics(ServiceMetrics):
    """The trainer's metrics in one registry."""

    service = "trainer"

    def __init__(self) -> None:
        super().__init__()
        self.cycles_started = self.counter("cycles_started", "Training cycles started")
        self.cycles_completed = self.counter("cycles_completed", "Training cycles that wrote a training directory")
        self.cycles_failed = self.counter(
            "cycles_failed", "Training cycles that wrote nothing (reason: data, interrupted, error)", ("reason",)
        )
        self.training_seconds = self.gauge("last_training_seconds", "Wall time of the last completed cycle")
        self.validation_loss = self.gauge("last_validation_loss", "Validation loss of the last version trained")
        self.band_asd_ratio = self.gauge(
            "last_validation_band_asd_ratio", "Validation in-band ASD(cleaned)/ASD(raw) of the last version trained"
        )
        self.last_success = self.gauge(
            "last_success_timestamp_seconds", "Unix time at which the last training cycle completed"
        )
        self.exports_sent = self.counter("exports_sent", "Export requests the exporter answered with a version")
        self.exports_failed = self.counter("exports_failed", "Export requests that failed (unavailable or refused)")

    def count_cycle(self, train: Callable[[], CycleResult]) -> CycleResult:
        """Run one training cycle (``train``) and count it: its outcome, duration and validation figures."""
        self.cycles_started.inc()
        try:
            result = train()
        except DataCheckError:
            self.cycles_failed.labels(reason="data").inc()
            raise
        except TrainingInterrupted:
            self.cycles_failed.labels(reason="interrupted").inc()
            raise
        except Exception:
            self.cycles_failed.labels(reason="error").inc()
            raise
        validation = result.directory.schema.validation
        self.cycles_completed.inc()
        self.training_seconds.set(result.training_seconds)
        self.validation_loss.set(validation.loss)
        self.band_asd_ratio.set(validation.band_asd_ratio)
        self.last_success.set_to_current_time()
        return result


class CountingExporterClient(ExporterClient):
    """The exporter client, counting each export request in the trainer's metrics."""

    def __init__(
        self, url: str, token_file: Path | None, metrics: TrainerMetrics, model_name: str | None = None
    ) -> None:
        super().__init__(url, token_file, model_name=model_name)
        self.metrics = metrics

    def export(self, training_dir: Path) -> Exported:
        try:
            exported = super().export(training_dir)
        except ExporterError:
            self.metrics.exports_failed.inc()
            raise
        self.metrics.exports_sent.inc()
        return exported
