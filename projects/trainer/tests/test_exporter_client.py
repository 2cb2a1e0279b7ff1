"""The trainer's exporter client: its model's routes, and every request counted."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepclean.exporter_api import ExporterRejected
from deepclean.testing.stub_server import Answer, StubServer
from deepclean_trainer.metrics import CountingExporterClient, TrainerMetrics

TOKEN = "stub-token-0123456789"


class OneModel(StubServer):
    """Serves exports of the model ``deepclean-l1`` only, as the exporter's routes name it."""

    def answer(self, method: str, path: str, body: dict | None, auth: str | None) -> Answer:
        if path == "/models/deepclean-l1/export":
            return 201, {"version": 1, "created": True}
        return 404, {"error": "unknown model; this exporter serves ['deepclean-l1']"}


def test_exports_go_to_the_configured_model_and_are_counted(tmp_path: Path, monkeypatch) -> None:
    """With model_name the export is posted to /models/<model>/export; the answer and a refusal are counted."""
    monkeypatch.setenv("DEEPCLEAN_EXPORTER_TOKEN", TOKEN)
    metrics = TrainerMetrics()
    with OneModel() as stub:
        assert CountingExporterClient(stub.url, None, metrics, model_name="deepclean-l1").export(tmp_path).version == 1
        with pytest.raises(ExporterRejected, match="HTTP 404"):
            CountingExporterClient(stub.url, None, metrics, model_name="deepclean-h1").export(tmp_path)
    assert [r["path"] for r in stub.requests] == ["/models/deepclean-l1/export", "/models/deepclean-h1/export"]
    counted = [metrics.registry.get_sample_value(f"deepclean_trainer_exports_{k}_total") for k in ("sent", "failed")]
    assert counted == [1.0, 1.0]
