"""Tests of several models in one repository (one per detector): nothing of one is shared with another."""

from __future__ import annotations

from pathlib import Path

from deepclean.model_repository import (
    ModelRepository,
    Platform,
    TritonModelConfig,
    prune,
    remove_abandoned,
    repair_pins,
    reserve_version,
    update_pins,
    write_config,
)


def _publish(model) -> int:
    staged = reserve_version(model)
    (staged.directory / "model.onnx").write_text(model.name)
    staged.publish()
    return staged.version


def test_versions_pins_pruning_and_config_are_per_model(tmp_path: Path) -> None:
    """Each model numbers its versions from 1, keeps its own pins, prunes and repairs only its own directory."""
    repository = ModelRepository(tmp_path / "repo")
    h1, l1 = repository.model("deepclean-h1"), repository.model("deepclean-l1")
    assert [_publish(h1) for _ in range(3)] == [1, 2, 3]
    assert [_publish(l1) for _ in range(2)] == [1, 2]
    update_pins(h1, lambda pins: pins.with_production(1))
    update_pins(l1, lambda pins: pins.with_canary(2))
    assert (h1.pins().production, h1.pins().canary, l1.pins().production, l1.pins().canary) == (1, None, None, 2)

    assert prune(h1, keep_last=1, keep_rollback=0) == [2]
    assert (h1.versions(), l1.versions()) == ([1, 3], [1, 2])

    l1.pins_path.write_text("{damaged")
    assert repair_pins(h1) is None and repair_pins(l1) is not None
    assert h1.pins().production == 1 and l1.pins().canary == 2

    (h1.directory / ".staging-9").mkdir()  # a crashed export of H1's: nobody holds its lock
    assert remove_abandoned(l1) == [] and remove_abandoned(h1) == [h1.directory / ".staging-9"]

    for model, witnesses in ((h1, 21), (l1, 4)):
        config = TritonModelConfig(model.name, Platform.PYTHON, witnesses, tuple(model.versions()))
        write_config(model, config.render())
    assert repository.models() == ["deepclean-h1", "deepclean-l1"]
    assert 'name: "deepclean-l1"' in l1.config_path.read_text() and "dims: [ -1, 4, -1 ]" in l1.config_path.read_text()
