"""The trainer's Prometheus metrics: its cycles, the new version's validation figures, its exports."""

from __future__ import annotations

import socket
import time

import pytest
import requests
from exporter_stub import TOKEN, ExporterStub
from prometheus_client.parser import text_string_to_metric_families
from test_main import continuous_arguments, run_until_exported

from deepclean_trainer.checks import DataCheckError
from deepclean_trainer.fitting import TrainingInterrupted
from deepclean_trainer.metrics import TrainerMetrics
from deepclean_trainer.training_directory import complete_directories


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    """``{(sample name, sorted labels): value}`` of a /metrics page."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_after_a_cycle_are_served_on_the_metrics_port(frames, monkeypatch):
    """After a continuous cycle whose export fails once (503) then succeeds, /metrics on 127.0.0.1:metrics_port
    counts one cycle started and completed, shows the version's validation figures and training time from
    its metadata and the time it completed, and counts one export sent and one failed; it stops with the
    trainer."""
    monkeypatch.setenv("DEEPCLEAN_EXPORTER_TOKEN", TOKEN)
    port, pages = _free_port(), []
    started = time.time()

    def scrape() -> None:
        pages.append(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)

    with ExporterStub(failures=1) as stub:
        status = run_until_exported(continuous_arguments(frames, stub.url, metrics_port=port), on_exported=scrape)
    assert status == 0 and pages, "the trainer stopped before the metrics were scraped"
    (directory,) = complete_directories(frames / "training")
    metadata = directory.metadata
    samples = _samples(pages[0])

    def value(name: str, **labels: str) -> float | None:
        return samples.get((f"deepclean_trainer_{name}", tuple(sorted(labels.items()))))

    assert value("cycles_started_total") == 1.0 and value("cycles_completed_total") == 1.0
    assert not any(name == "deepclean_trainer_cycles_failed_total" for name, _ in samples)
    assert value("last_validation_loss") == pytest.approx(metadata["validation"]["loss"])
    assert value("last_validation_band_asd_ratio") == pytest.approx(metadata["validation"]["band_asd_ratio"])
    assert value("last_training_seconds") == pytest.approx(metadata["training_seconds"])
    assert started <= value("last_success_timestamp_seconds") <= time.time()
    assert (value("exports_sent_total"), value("exports_failed_total")) == (1.0, 1.0)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


@pytest.mark.parametrize(
    ("failure", "reason"),
    [(DataCheckError("no data"), "data"), (TrainingInterrupted("stopped"), "interrupted"), (OSError(), "error")],
)
def test_a_failed_cycle_is_counted_by_reason_and_changes_no_figure(failure, reason):
    """A cycle that raises is counted as started and failed for its reason; the last figures stay unset."""
    metrics = TrainerMetrics()

    def fail():
        raise failure

    with pytest.raises(type(failure)):
        metrics.count_cycle(fail)

    def value(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(f"deepclean_trainer_{name}", labels)

    assert value("cycles_started_total") == 1.0 and value("cycles_failed_total", reason=reason) == 1.0
    assert value("cycles_completed_total") == 0.0 and value("last_success_timestamp_seconds") == 0.0
