"""Tests of the training metadata schema (deepclean.model_repository.training_metadata)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from deepclean.model_repository import (
    FilterKind,
    FilterSpec,
    MetadataError,
    ModelRepository,
    ScalerParameters,
    TrainingMetadata,
    check_metadata,
    read_metadata,
    read_training_metadata,
    write_training_metadata,
)
from deepclean.model_repository.training_metadata import _KEY_ORDER, _KNOWN_KEYS
from deepclean.testing.model_versions import publish_version
from deepclean.testing.training_directory import training_metadata

INTERFACES = Path(__file__).resolve().parents[3] / "docs" / "interfaces.md"
CHANNELS = ("H1:PEM-CS_MAINSMON_EBAY_1_DQ", "H1:ASC-INP1_P_OUT_DQ")

# A metadata.json as the trainer wrote it before the schema existed (cycle.py's dict literal).
TRAINER_FILE = {
    "ifo": "H1",
    "strain_channel": "H1:GDS-CALIB_STRAIN",
    "witness_channels": list(CHANNELS),
    "witness_sample_rates": {CHANNELS[0]: 1024, CHANNELS[1]: 512},
    "sample_rate": 1024,
    "strain_sample_rate": 16384,
    "band": [58.0, 62.0],
    "filter": {"kind": "butter-sos-zero-phase", "order": 8, "band": [57.0, 63.0]},
    "scaler": {"witness_mean": [0.5, -2], "witness_std": [1.5, 3.0], "target_mean": 0.0, "target_std": 1e-21},
    "architecture": {"name": "DeepClean", "kwargs": {"num_witnesses": 2, "kernel_size": 7, "linear_kernel_size": 31}},
    "span": {"start": 1400000000, "end": 1400001024},
    "ready_seconds": 1024,
    "validation": {"loss": 0.05, "band_asd_ratio": 0.2},
    "library_version": "0.1.0",
    "training_seconds": 300.5,
    "created": "2026-11-29T10:00:00Z",
    "training": {"epochs": 3, "best_epoch": 2, "warm_start_from": None, "learning_rate": 0.003},
}


# The example docs/interfaces.md gave before the schema, its "..." filled in with 21 channels.
WITNESSES_21 = ["H1:PEM-CS_MAINSMON_EBAY_1_DQ", *(f"H1:PEM-WITNESS_{i}_DQ" for i in range(20))]
OLD_DOCS_EXAMPLE = {
    "ifo": "H1",
    "strain_channel": "H1:GDS-CALIB_STRAIN",
    "witness_channels": WITNESSES_21,
    "witness_sample_rates": {c: 1024 if i == 0 else 512 for i, c in enumerate(WITNESSES_21)},
    "sample_rate": 1024,
    "strain_sample_rate": 16384,
    "band": [58.0, 62.0],
    "filter": {"kind": "butter-sos-zero-phase", "order": 8, "band": [57.0, 63.0]},
    "scaler": {"witness_mean": [0.0] * 21, "witness_std": [1.0] * 21, "target_mean": 0.0, "target_std": 1e-21},
    "architecture": {
        "name": "DeepClean",
        "kwargs": {"num_witnesses": 21, "kernel_size": 7, "mains_index": 0, "linear_kernel_size": 31},
    },
    "span": {"start": 1400000000, "end": 1400001024},
    "validation": {"loss": 0.05, "band_asd_ratio": 0.2},
    "library_version": "0.1.0",
    "training_seconds": 300.0,
    "created": "2026-11-29T10:00:00Z",
}


def _docs_example() -> dict:
    """The metadata.json example of docs/interfaces.md ("Training directory")."""
    section = INTERFACES.read_text().split("## Training directory", 1)[1]
    return json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))


def test_round_trip_keeps_every_key_value_and_order() -> None:
    """A trainer's file read and written again holds the same keys, in the same order, with equal values."""
    metadata = TrainingMetadata.from_json(TRAINER_FILE, "m.json")
    assert metadata.to_json() == TRAINER_FILE
    assert list(metadata.to_json()) == list(TRAINER_FILE)
    assert json.dumps(metadata.to_json()) == json.dumps(TRAINER_FILE)  # an integer rate stays an integer
    assert TrainingMetadata.from_json(metadata.to_json()) == metadata


def test_typed_parts_of_a_read_file() -> None:
    """The parts a reader needs come back typed: filter kind as a constant, scaler and channels as tuples."""
    metadata = TrainingMetadata.from_json(TRAINER_FILE)
    assert metadata.filter == FilterSpec(FilterKind.BUTTER_SOS_ZERO_PHASE, 8, (57.0, 63.0))
    assert metadata.filter.kind is FilterKind.BUTTER_SOS_ZERO_PHASE
    assert metadata.scaler == ScalerParameters((0.5, -2), (1.5, 3.0), 0.0, 1e-21)
    assert metadata.witness_channels == CHANNELS
    assert metadata.span.end == 1400001024 and metadata.validation.band_asd_ratio == 0.2
    assert metadata.extra == {"training": TRAINER_FILE["training"]}


def test_the_json_does_not_share_state_with_the_metadata() -> None:
    """Spoiling the JSON a metadata gave (as tests do) leaves the metadata as it was."""
    metadata = TrainingMetadata.from_json(TRAINER_FILE)
    content = metadata.to_json()
    content["architecture"]["kwargs"]["kernel_size"] = 3
    content["training"]["epochs"] = 99
    assert metadata.architecture.kwargs["kernel_size"] == 7
    assert metadata.extra["training"]["epochs"] == 3


def test_unknown_keys_of_a_version_are_kept(tmp_path: Path) -> None:
    """A version's "version", "source", "export" and any future key survive reading and writing."""
    content = {
        **TRAINER_FILE,
        "version": 3,
        "source": "/training/1400000000-1400001024",
        "export": {"platform": "onnxruntime_onnx", "files": {"model.onnx": "ab" * 32}},
        "future_key": [1, 2],
    }
    path = tmp_path / "metadata.json"
    write_training_metadata(path, TrainingMetadata.from_json(content))
    assert json.loads(path.read_text()) == content
    assert read_training_metadata(path).extra["export"]["platform"] == "onnxruntime_onnx"
    assert [p.name for p in tmp_path.iterdir()] == ["metadata.json"]  # no temporary file left


def test_old_and_current_docs_examples_and_files_without_optional_keys_are_read() -> None:
    """The examples of docs/interfaces.md (before and since the schema) are valid and written back as read;
    so is a file with only the required keys."""
    for example in (OLD_DOCS_EXAMPLE, _docs_example()):
        assert TrainingMetadata.from_json(example, "docs/interfaces.md").to_json() == example
    required = {
        k: TRAINER_FILE[k]
        for k in ("witness_channels", "sample_rate", "strain_sample_rate", "band", "filter", "scaler", "architecture")
    }
    metadata = TrainingMetadata.from_json(required)
    assert metadata.span is None and metadata.ifo is None and metadata.extra == {}
    assert metadata.to_json() == required


def test_testing_helper_builds_valid_metadata() -> None:
    """deepclean.testing's metadata is what the schema writes, and every schema key has its place in the JSON."""
    content = training_metadata(dict.fromkeys(CHANNELS, 512), {"kernel_size": 3}, filter_band=(57.0, 63.0))
    assert TrainingMetadata.from_json(content).to_json() == content
    assert content["filter"]["kind"] == FilterKind.BUTTER_SOS_ZERO_PHASE.value == "butter-sos-zero-phase"
    assert set(_KEY_ORDER) == _KNOWN_KEYS


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: m.pop("filter"), "missing key 'filter'"),
        (lambda m: m["filter"].pop("order"), "missing key 'filter.order'"),
        (lambda m: m["filter"].update(kind="chebyshev"), "'filter.kind' 'chebyshev' is not supported"),
        (lambda m: m["filter"].update(order=0), "'filter.order' must be a positive integer"),
        (lambda m: m["filter"].update(band=[63.0, 57.0]), "'filter.band' must be \\[low, high\\]"),
        (lambda m: m.update(band=[58.0]), "'band' must be \\[low, high\\]"),
        (lambda m: m.update(strain_sample_rate=-1), "'strain_sample_rate' must be a positive number"),
        (lambda m: m.update(witness_channels="H1:X"), "key 'witness_channels' has the wrong type"),
        (lambda m: m["scaler"].update(witness_mean=[0.0, "x"]), "'scaler.witness_mean' holds a non-finite"),
        (lambda m: m["scaler"].pop("target_mean"), "missing key 'scaler.target_mean'"),
        (lambda m: m["architecture"]["kwargs"].update(num_witnesses=3), "'architecture.kwargs.num_witnesses' is 3"),
        (lambda m: m.update(span={"start": 5, "end": 5}), "'span' must end after it starts"),
        (lambda m: m["span"].pop("end"), "missing key 'span.end'"),
        (lambda m: m.update(validation={"loss": "low", "band_asd_ratio": 0.2}), "key 'validation.loss'"),
        (lambda m: m.update(witness_sample_rates={CHANNELS[0]: 0}), f"'witness_sample_rates.{CHANNELS[0]}'"),
        (lambda m: m.update(ifo=1), "key 'ifo' has the wrong type"),
    ],
)
def test_bad_metadata_names_the_file_and_the_key(change, message: str) -> None:
    """Each unusable value raises MetadataError naming where it came from and the key at fault."""
    content = json.loads(json.dumps(TRAINER_FILE))
    change(content)
    with pytest.raises(MetadataError, match=message) as raised:
        TrainingMetadata.from_json(content, "m.json")
    assert str(raised.value).startswith("m.json: ")
    with pytest.raises(MetadataError):
        check_metadata(content, "m.json")  # one validation: the file check is the schema's


def test_metadata_built_in_code_is_checked_too() -> None:
    """A writer cannot build metadata a reader would refuse, nor hide a schema key in ``extra``."""
    metadata = TrainingMetadata.from_json(TRAINER_FILE)
    with pytest.raises(MetadataError, match="'scaler.witness_mean' must list one value per witness channel"):
        dataclasses.replace(metadata, witness_channels=CHANNELS[:1])
    with pytest.raises(MetadataError, match="'scaler.target_std' must be positive"):
        ScalerParameters((0.0,), (1.0,), 0.0, 0.0)
    with pytest.raises(MetadataError, match=r"'extra' holds the schema's own key\(s\) \['band'\]"):
        dataclasses.replace(metadata, extra={"band": [1.0, 2.0]})


def test_a_published_version_reads_through_the_schema(tmp_path: Path) -> None:
    """A version's metadata from the repository (with "version" and "source") is valid training metadata."""
    model = ModelRepository(tmp_path).model("deepclean")
    publish_version(model.directory, 2, TRAINER_FILE, lambda staged: (staged / "model.onnx").write_bytes(b"onnx"))
    content = model.metadata(2)
    assert content == read_metadata(model.version_dir(2) / "metadata.json")
    metadata = TrainingMetadata.from_json(content, "model version 2")
    assert metadata.extra["version"] == 2 and metadata.to_json() == content


def test_validation_ranges_round_trip_and_come_together():
    """The held-out BNS ranges read back as written; one without the other, or a string, is refused;
    a file without them has no range lost."""
    from deepclean.model_repository.training_metadata import ValidationFigures

    figures = {"loss": 0.1, "band_asd_ratio": 0.3, "range_raw_mpc": 123.0, "range_cleaned_mpc": 122.9}
    read = ValidationFigures.from_json(figures)
    assert read.to_json() == figures and read.range_lost
    assert not ValidationFigures.from_json({"loss": 0.1, "band_asd_ratio": 0.3}).range_lost
    with pytest.raises(MetadataError, match="come together"):
        ValidationFigures.from_json({"loss": 0.1, "band_asd_ratio": 0.3, "range_raw_mpc": 123.0})
    with pytest.raises(MetadataError, match="range_cleaned_mpc"):
        ValidationFigures.from_json({**figures, "range_cleaned_mpc": "123"})
