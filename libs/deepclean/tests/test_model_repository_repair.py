"""Repairing damaged pins, the newest-offered mark, and the checksums of a version's files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepclean.model_repository import (
    IntegrityError,
    ModelRepository,
    Pins,
    file_digests,
    read_pins,
    repair_pins,
    training_digest,
    update_pins,
    verify_files,
)


def _model_with_versions(root: Path, *versions: int):
    model = ModelRepository(root).model("deepclean")
    for version in versions:
        (model.directory / str(version)).mkdir(parents=True)
    return model


def test_intact_pins_are_left_alone(tmp_path: Path) -> None:
    model = _model_with_versions(tmp_path, 1, 2)
    update_pins(model, lambda pins: pins.with_production(1).with_canary(2))
    assert repair_pins(model) is None
    assert model.pins() == Pins(production=1, canary=2, history=(1,), offered=2)


def test_damaged_pins_are_restored_from_the_last_pins_written(tmp_path: Path) -> None:
    """A truncated pins.json comes back as the last pins written; the damaged file is kept beside it."""
    model = _model_with_versions(tmp_path, 1, 2, 3)
    update_pins(model, lambda pins: pins.with_production(2).with_canary(3))
    model.pins_path.write_text('{"production": 2, "can')
    done = repair_pins(model)
    assert done is not None and "restored from the last pins written" in done
    assert model.pins() == Pins(production=2, canary=3, history=(2,), offered=3)
    assert (model.directory / "pins.json.damaged").read_text() == '{"production": 2, "can'


def test_damaged_pins_without_a_copy_are_rebuilt_with_no_production(tmp_path: Path) -> None:
    """Which version was production cannot be known: none is, and the newest version is the canary."""
    model = _model_with_versions(tmp_path, 1, 4)
    model.pins_path.write_text("[]")
    done = repair_pins(model)
    assert done is not None and "no production model, canary 4" in done
    assert read_pins(model.pins_path) == Pins(canary=4, offered=4)


def test_newest_offered_counts_pins_written_before_the_mark_existed(tmp_path: Path) -> None:
    path = tmp_path / "pins.json"
    path.write_text(json.dumps({"production": 3, "canary": None, "history": [1, 3, 5]}))
    assert read_pins(path).newest_offered == 5
    assert Pins(canary=2).with_canary(None).newest_offered == 2
    assert Pins().newest_offered == 0


def test_files_are_verified_against_their_recorded_checksums(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07onnx")
    (tmp_path / "model.py").write_text("print('serve')\n")
    metadata = {"version": 3, "export": {"files": file_digests(tmp_path, ["model.onnx", "model.py"])}}
    verify_files(tmp_path, metadata)
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07onnX")
    with pytest.raises(IntegrityError, match="model.onnx of version 3 is damaged"):
        verify_files(tmp_path, metadata)
    (tmp_path / "model.onnx").unlink()
    with pytest.raises(IntegrityError, match="model.onnx of version 3 cannot be read"):
        verify_files(tmp_path, metadata)
    verify_files(tmp_path, {"version": 1})  # nothing recorded: nothing to compare


def test_training_digest_changes_with_any_byte_of_either_file(tmp_path: Path) -> None:
    weights, metadata = tmp_path / "weights.pt", tmp_path / "metadata.json"
    weights.write_bytes(b"abc")
    metadata.write_text("{}")
    first = training_digest([metadata, weights])
    assert training_digest([metadata, weights]) == first
    weights.write_bytes(b"abd")
    assert training_digest([metadata, weights]) != first
