"""Tests of a whole training cycle on synthetic frames."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import DURATION, MAINS, START, quick_settings, rewrite_frame, witness_path

from deepclean_trainer.checks import DataCheckError
from deepclean_trainer.cycle import run_cycle
from deepclean_trainer.training_directory import (
    REQUIRED,
    complete_directories,
    load_network,
)


def test_training_reduces_the_in_band_residual(frames):
    """A short training leaves a validation in-band ASD ratio well below 1 and a complete directory."""
    settings = quick_settings(frames, max_epochs=6, steps_per_epoch=5, learning_rate=5e-3)
    result = run_cycle(settings, START, START + DURATION)
    assert result.band_asd_ratio < 0.6
    metadata = result.directory.metadata
    assert metadata["validation"]["band_asd_ratio"] == result.band_asd_ratio
    assert metadata["validation"]["loss"] < 0.5
    # judged bin by bin outside the band as the safety gate would (deepclean.figures.judge_bins)
    assert isinstance(metadata["validation"]["noise_added_bins"], list)
    assert "worst bin outside the band" in (result.directory.path / "train.log").read_text()
    assert metadata["span"] == {"start": START, "end": START + DURATION}
    assert metadata["witness_sample_rates"][MAINS] == 1024
    assert metadata["architecture"] == {"name": "DeepClean", "kwargs": settings.architecture}
    assert len(metadata["scaler"]["witness_std"]) == len(metadata["witness_channels"])
    assert metadata["band"] == [58.0, 62.0]
    assert metadata["filter"] == {"kind": "butter-sos-zero-phase", "order": 8, "band": [57.0, 63.0]}
    assert all((result.directory.path / name).is_file() for name in REQUIRED)
    log = (result.directory.path / "train.log").read_text()
    assert "linear path: spectral least-squares fit" in log and "before training" in log and "epoch 1/6" in log
    network, scaler = load_network(result.directory)
    assert scaler.target_std == metadata["scaler"]["target_std"]
    assert not network.training and network.stride == 16


def test_same_seed_same_weights_and_warm_start(frames):
    """Two cycles with one seed give identical weights when cold; a third warm-starts from the newest."""
    cold = quick_settings(frames, warm_start=False, max_epochs=1, steps_per_epoch=2)
    first = run_cycle(cold, START, START + DURATION)
    second = run_cycle(cold, START, START + DURATION)
    a = torch.load(first.directory.weights, weights_only=True)
    b = torch.load(second.directory.weights, weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert second.directory.path.name == f"{START}-{START + DURATION}-2"

    warm = run_cycle(quick_settings(frames, max_epochs=1, steps_per_epoch=2), START, START + DURATION)
    training = warm.directory.metadata["training"]
    assert training["warm_start_from"] == second.directory.path.name
    assert training["learning_rate"] == pytest.approx(3e-3 * 0.3)


def _assert_nothing_written(root):
    training_root = root / "training"
    assert complete_directories(training_root) == []
    assert not list(training_root.glob(".*")) if training_root.exists() else True


def test_flat_channel_skips_the_cycle_and_writes_nothing(frames):
    """A witness that is constant over the stretch fails the check, naming it; nothing is written."""
    for gps in range(START, START + DURATION):
        rewrite_frame(witness_path(frames, gps), lambda data: data["H1:ASC-DSOFT_Y_OUT_DQ"].fill(0.5))
    with pytest.raises(DataCheckError, match="H1:ASC-DSOFT_Y_OUT_DQ is flat"):
        run_cycle(quick_settings(frames), START, START + DURATION)
    _assert_nothing_written(frames)


def test_not_enough_ready_data_skips_the_cycle(frames):
    """Too few ready seconds fails the check before training; nothing is written."""
    with pytest.raises(DataCheckError, match="not enough analysis-ready data"):
        run_cycle(quick_settings(frames, min_ready_seconds=DURATION + 1), START, START + DURATION)
    _assert_nothing_written(frames)


def test_missing_channel_and_nan_skip_the_cycle(frames):
    """A missing channel or a NaN sample fails the cycle; nothing is written."""
    rewrite_frame(witness_path(frames, START + 50), lambda data: data.pop(MAINS))
    with pytest.raises(DataCheckError, match=MAINS):
        run_cycle(quick_settings(frames), START, START + DURATION)
    _assert_nothing_written(frames)

    def poison(data):
        data[MAINS] = np.full(1024, np.nan)

    rewrite_frame(witness_path(frames, START + 50), poison)
    with pytest.raises(DataCheckError, match="NaN"):
        run_cycle(quick_settings(frames), START, START + DURATION)
    _assert_nothing_written(frames)


def test_metadata_is_json_with_span_and_versions(frames):
    """metadata.json parses as plain JSON and names the library version and training time."""
    result = run_cycle(quick_settings(frames, max_epochs=1, steps_per_epoch=1), START, START + DURATION)
    content = json.loads((result.directory.path / "metadata.json").read_text())
    assert content["library_version"]
    assert content["training_seconds"] > 0
    assert content["created"].endswith("Z")


@pytest.mark.parametrize("latency_mode", ["zero-phase", "causal"])
def test_the_next_linear_start_fits_since_the_step_a_previous_version_saw(frames, latency_mode):
    """A previous version whose start kept the data since a coupling step passes that GPS on: the next start
    (spectral, or the causal mode's time-domain one) judges the recent spans against the fit since then and
    keeps it, and records it again."""
    settings = quick_settings(
        frames, linear_recency=(16.0,), max_epochs=1, steps_per_epoch=1, latency_mode=latency_mode
    )
    first = run_cycle(settings, START, START + DURATION)
    assert first.directory.metadata["training"]["linear_kept_since"] is None  # no step in these frames
    metadata_path = first.directory.path / "metadata.json"
    metadata = json.loads(metadata_path.read_text())
    metadata["training"]["linear_kept_since"] = START + 32.0
    metadata_path.write_text(json.dumps(metadata))

    second = run_cycle(settings, START, START + DURATION)
    log = (second.directory.path / "train.log").read_text()
    assert f"the data since GPS {START + 32} (a step seen before)" in log
    assert START + 32 <= second.directory.metadata["training"]["linear_kept_since"] < START + 64

    metadata["training"]["linear_kept_since"] = START - 100.0  # older than the data: nothing to remember
    (second.directory.path / "metadata.json").write_text(json.dumps({**second.directory.metadata, **metadata}))
    third = run_cycle(settings, START, START + DURATION)
    assert "a step seen before" not in (third.directory.path / "train.log").read_text()
