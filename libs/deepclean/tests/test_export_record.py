"""Tests of what the exporter adds to a version's metadata (deepclean.model_repository.export_record)."""

from __future__ import annotations

import json

from deepclean.model_repository import (
    ExportRecord,
    TrainingMetadata,
    recorded_files,
    recorded_training_digest,
    version_metadata,
)
from deepclean.testing.training_directory import training_metadata


def test_a_version_is_its_training_metadata_plus_version_source_and_export():
    """The training keys are kept as they were; the record round-trips through JSON and reads back."""
    training = training_metadata({"H1:PEM-CS_MAINSMON_EBAY_1_DQ": 1024})
    record = ExportRecord(
        "2026-11-30T00:00:00Z", "python", False, 16, 111, {"max_abs": 1e-7}, {"model.onnx": "ab"}, "cd"
    )
    metadata = json.loads(json.dumps(version_metadata(training, 3, "/runs/a", record)))
    assert {k: v for k, v in metadata.items() if k in training} == training
    assert (metadata["version"], metadata["source"]) == (3, "/runs/a")
    assert recorded_files(metadata) == {"model.onnx": "ab"}
    assert recorded_training_digest(metadata) == "cd"
    assert TrainingMetadata.from_json(metadata).extra["export"]["stride"] == 16


def test_a_version_exported_before_checksums_records_none():
    training = training_metadata({"H1:PEM-CS_MAINSMON_EBAY_1_DQ": 1024})
    assert recorded_files(training) is None and recorded_training_digest(training) is None
    assert recorded_files({**training, "export": "damaged"}) is None
    assert recorded_files({**training, "export": {"files": {"model.onnx": 3}}}) is None
