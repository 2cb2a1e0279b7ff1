"""Tests of deepclean.model_repository: reading versions, metadata and pins; config text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepclean.model_repository import (
    ModelRepository,
    Platform,
    TritonModelConfig,
    VersionNotFoundError,
    policy_versions,
)
from deepclean.model_repository.metadata import MetadataError, check_matches_configuration, read_metadata
from deepclean.model_repository.pins import Pins, PinsError, read_pins, write_pins
from deepclean.model_repository.writing import update_pins
from deepclean.testing.model_versions import publish_version
from deepclean.testing.training_directory import training_metadata

CHANNELS = ["H1:PEM-CS_MAINSMON_EBAY_1_DQ", "H1:ASC-INP1_P_OUT_DQ"]


def metadata() -> dict:
    """Metadata per docs/interfaces.md for CHANNELS."""
    return training_metadata(dict.fromkeys(CHANNELS, 512))


def publish_by_hand(model_dir: Path, version: int) -> None:
    """A version directory as the exporter leaves it."""
    publish_version(model_dir, version, metadata(), lambda staged: (staged / "model.onnx").write_bytes(b"onnx"))


def test_versions_lists_only_published_integer_directories(tmp_path: Path) -> None:
    """Staging, pruned, hidden and non-integer entries are not versions; order is numeric."""
    model = ModelRepository(tmp_path).model("deepclean")
    for version in (10, 2, 1):
        publish_by_hand(model.directory, version)
    for name in (".staging-11", ".pruned-3", "latest", "007"):
        (model.directory / name).mkdir()
    (model.directory / "12").write_text("a file, not a version")
    assert model.versions() == [1, 2, 10]
    assert model.latest() == 10


def test_reading_an_absent_model_finds_nothing(tmp_path: Path) -> None:
    """A model directory that does not exist yet has no versions and no pins."""
    model = ModelRepository(tmp_path / "nowhere").model("deepclean")
    assert model.versions() == []
    assert model.latest() is None
    assert model.pins() == Pins()


def test_metadata_and_model_file_of_a_version(tmp_path: Path) -> None:
    """A version's metadata and the file each platform loads are found; a missing version is named."""
    model = ModelRepository(tmp_path).model("deepclean")
    publish_by_hand(model.directory, 4)
    assert model.metadata(4)["version"] == 4
    assert model.model_file(4) == model.directory / "4" / "model.onnx"
    assert model.model_file(4, "tensorrt_plan").name == "model.plan"
    assert model.model_file(4, Platform.PYTHON).name == "model.py"
    with pytest.raises(VersionNotFoundError, match="no version 5"):
        model.metadata(5)


def test_invalid_model_names_are_refused(tmp_path: Path) -> None:
    """A model name cannot climb out of the repository or hide."""
    for name in ("", "../x", ".hidden"):
        with pytest.raises(ValueError, match="invalid model name"):
            ModelRepository(tmp_path).model(name)


def test_pins_round_trip_and_history(tmp_path: Path) -> None:
    """Setting production appends to the history once; the file holds what was written."""
    path = tmp_path / "pins.json"
    pins = Pins().with_production(1).with_production(3).with_production(3).with_canary(4)
    write_pins(path, pins)
    assert json.loads(path.read_text()) == {"production": 3, "canary": 4, "history": [1, 3], "offered": 4}
    assert read_pins(path) == pins
    assert pins.pinned == {3, 4}


def test_pins_history_is_bounded() -> None:
    """The rollback history keeps the most recent production versions only."""
    pins = Pins()
    for version in range(1, 60):
        pins = pins.with_production(version)
    assert len(pins.history) == 20
    assert pins.history[-1] == 59


def test_unpinned_production_keeps_the_history(tmp_path: Path) -> None:
    """Without production the file says null, the history stays for a rollback, and a new production appends."""
    path = tmp_path / "pins.json"
    pins = Pins().with_production(1).with_production(3).with_canary(4).without_production()
    write_pins(path, pins)
    assert json.loads(path.read_text()) == {"production": None, "canary": 4, "history": [1, 3], "offered": 4}
    assert read_pins(path) == pins
    assert pins.pinned == {4}
    assert pins.with_production(4).history == (1, 3, 4)


@pytest.mark.parametrize(
    "content, message",
    [
        ("{", "cannot read"),
        ("[]", "JSON object"),
        ('{"production": "3"}', "'production' must be a positive integer"),
        ('{"canary": 0}', "'canary' must be a positive integer"),
        ('{"history": 3}', "'history' must be a list"),
    ],
)
def test_damaged_pins_are_reported_with_the_file(tmp_path: Path, content: str, message: str) -> None:
    """A pins.json that is not a pin set raises PinsError naming the problem."""
    path = tmp_path / "pins.json"
    path.write_text(content)
    with pytest.raises(PinsError, match=message):
        read_pins(path)


def test_update_pins_leaves_no_temporary_file(tmp_path: Path) -> None:
    """Pins are replaced through a renamed temporary file that does not linger."""
    model = ModelRepository(tmp_path).model("deepclean")
    update_pins(model, lambda pins: pins.with_canary(2))
    update_pins(model, lambda pins: pins.with_production(2))
    assert model.pins() == Pins(production=2, canary=2, history=(2,), offered=2)
    assert sorted(p.name for p in model.directory.iterdir()) == [".lock", "pins.json", "pins.json.last-good"]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: m.pop("scaler"), "missing key 'scaler'"),
        (lambda m: m.update(witness_channels=[]), "non-empty list"),
        (lambda m: m["scaler"].update(witness_std=[1.0]), "one value per witness channel"),
        (lambda m: m["scaler"].update(witness_std=[1.0, 0.0]), "must be positive"),
        (lambda m: m["scaler"].update(target_std=float("nan")), "target_std"),
        (lambda m: m.update(sample_rate=True), "wrong type"),
        (lambda m: m.update(architecture={"kwargs": {}}), "'architecture' needs a 'name'"),
    ],
)
def test_bad_metadata_is_refused_naming_the_key(tmp_path: Path, change, message: str) -> None:
    """Each kind of incomplete or unusable metadata raises MetadataError naming the key."""
    content = metadata()
    change(content)
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps(content))
    with pytest.raises(MetadataError, match=message):
        read_metadata(path)


def test_metadata_must_match_the_configured_channels() -> None:
    """Channel count, channel order and sample rate are checked against the configuration."""
    content = metadata()
    check_matches_configuration(content, CHANNELS, 4096, "m.json")
    with pytest.raises(MetadataError, match="trained on 2 witness channels, the configuration has 3"):
        check_matches_configuration(content, [*CHANNELS, "H1:X"], 4096, "m.json")
    with pytest.raises(MetadataError, match="witness channel 0 is"):
        check_matches_configuration(content, CHANNELS[::-1], 4096, "m.json")
    with pytest.raises(MetadataError, match="'sample_rate' is 4096"):
        check_matches_configuration(content, CHANNELS, 2048, "m.json")


def test_policy_keeps_production_canary_and_newest() -> None:
    """The version policy lists the pinned versions that exist plus the newest one."""
    pins = Pins(production=2, canary=5, history=(1, 2))
    assert policy_versions([1, 2, 3, 4, 5, 6], pins) == [2, 5, 6]
    assert policy_versions([2, 3], Pins(production=2, canary=9)) == [2, 3]
    assert policy_versions([], Pins()) == []


@pytest.mark.parametrize("platform", list(Platform))
def test_config_text_names_platform_shapes_and_versions(platform: Platform) -> None:
    """config.pbtxt carries the platform, the witness dimension and the specific versions."""
    text = TritonModelConfig("deepclean", platform, 21, (3, 7)).render()
    engine = 'backend: "python"' if platform is Platform.PYTHON else f'platform: "{platform.value}"'
    assert engine in text
    assert "dims: [ -1, 21, -1 ]" in text
    assert "version_policy: { specific: { versions: [ 3, 7 ] } }" in text
    kind = "KIND_GPU" if platform is Platform.TENSORRT else "KIND_CPU"
    assert f"kind: {kind}" in text
