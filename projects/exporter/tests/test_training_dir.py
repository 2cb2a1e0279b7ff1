"""Tests of locating and checking training directories."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from conftest import CHANNELS, SAMPLE_RATE

from deepclean_exporter.errors import BadRequest, NotFound, Rejected
from deepclean_exporter.training_dir import load_training, locate


def test_locate_accepts_absolute_and_relative_paths(training_root: Path, make_training_dir) -> None:
    """A directory under the root is found by its absolute path or by its name."""
    directory = make_training_dir("run-1")
    assert locate(training_root, str(directory)) == directory.resolve()
    assert locate(training_root, "run-1") == directory.resolve()


@pytest.mark.parametrize("requested", ["../outside", "run-1/../../outside", "/etc", "", "."])
def test_locate_refuses_paths_outside_the_root(training_root: Path, make_training_dir, requested: str) -> None:
    """Traversal with '..', absolute paths elsewhere and the root itself are refused."""
    make_training_dir("run-1")
    (training_root.parent / "outside").mkdir()
    with pytest.raises(BadRequest, match="not inside the training root"):
        locate(training_root, requested)


def test_locate_refuses_a_symlink_escaping_the_root(training_root: Path, tmp_path: Path) -> None:
    """A link inside the root pointing outside it is resolved and refused."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, training_root / "sneaky")
    with pytest.raises(BadRequest, match="not inside the training root"):
        locate(training_root, "sneaky")


def test_locate_follows_a_symlink_that_stays_inside(training_root: Path, make_training_dir) -> None:
    """A link to another directory under the root is fine and resolves to its target."""
    target = make_training_dir("run-1")
    os.symlink(target, training_root / "latest")
    assert locate(training_root, "latest") == target.resolve()


def test_locate_reports_missing_and_unfinished_directories(training_root: Path) -> None:
    """A missing directory is NotFound; a dot-directory (still being written) is Rejected."""
    with pytest.raises(NotFound, match="does not exist"):
        locate(training_root, "nothing-here")
    (training_root / ".run-2.tmp").mkdir()
    with pytest.raises(Rejected, match="still being written"):
        locate(training_root, ".run-2.tmp")
    with pytest.raises(BadRequest, match="not a usable path"):
        locate(training_root, "bad\x00name")


def test_load_training_reads_a_complete_directory(make_training_dir) -> None:
    """Metadata and weights of a complete directory are returned."""
    run = load_training(make_training_dir("run-1"), CHANNELS, SAMPLE_RATE)
    assert run.metadata["witness_channels"] == list(CHANNELS)
    assert "input_conv.0.weight" in run.state_dict


@pytest.mark.parametrize(
    "missing, message", [("weights.pt", "weights.pt is missing"), ("metadata.json", "cannot read")]
)
def test_load_training_names_a_missing_file(make_training_dir, missing: str, message: str) -> None:
    """A directory without its weights or metadata is rejected naming the file."""
    directory = make_training_dir("run-1")
    (directory / missing).unlink()
    with pytest.raises(Rejected, match=message):
        load_training(directory, CHANNELS, SAMPLE_RATE)


def test_load_training_refuses_a_wrong_channel_count(make_training_dir) -> None:
    """Weights trained on two channels cannot be exported for a three-channel configuration."""
    directory = make_training_dir("run-1", channels=CHANNELS[:2])
    with pytest.raises(Rejected, match="trained on 2 witness channels, the configuration has 3"):
        load_training(directory, CHANNELS, SAMPLE_RATE)


def test_load_training_refuses_nan_weights(make_training_dir) -> None:
    """A NaN anywhere in the weights is rejected naming the tensor."""
    directory = make_training_dir("run-1")
    state = torch.load(directory / "weights.pt", weights_only=True)
    state["output_conv.bias"][0] = float("nan")
    torch.save(state, directory / "weights.pt")
    with pytest.raises(Rejected, match="'output_conv.bias' holds NaN"):
        load_training(directory, CHANNELS, SAMPLE_RATE)


def test_load_training_refuses_garbage_weights_and_unknown_architectures(make_training_dir) -> None:
    """A weights file that is not a state_dict, or an unknown architecture, is rejected."""
    directory = make_training_dir("run-1")
    (directory / "weights.pt").write_bytes(b"not a torch file")
    with pytest.raises(Rejected, match="not a readable torch state_dict"):
        load_training(directory, CHANNELS, SAMPLE_RATE)
    metadata = json.loads((directory / "metadata.json").read_text())
    metadata["architecture"]["name"] = "Transformer"
    (directory / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(Rejected, match="unknown architecture 'Transformer'"):
        load_training(directory, CHANNELS, SAMPLE_RATE)
