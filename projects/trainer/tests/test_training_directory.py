"""Tests of training directories: complete or absent, and the export marker."""

from __future__ import annotations

import json

import pytest
import torch

from deepclean.testing.training_directory import training_metadata
from deepclean_trainer import training_directory as td


def history() -> list[dict]:
    return [{"steps": 10 * i, "train_loss": 1 / i, "validation_loss": 1.2 / i, "learning_rate": 1e-3} for i in (1, 2)]


def metadata(end: int = 100, ratio: float = 0.2) -> dict:
    content = training_metadata({"H1:PEM-CS_MAINSMON_EBAY_1_DQ": 1024})
    content.update(span={"start": 0, "end": end}, validation={"loss": 0.1, "band_asd_ratio": ratio})
    return content


def write(root, name, end=100, ratio=0.2):
    log = root / "some.log"
    log.write_text("log line\n")
    return td.write_training_directory(root, name, {"w": torch.ones(3)}, metadata(end, ratio), history(), log)


def test_complete_directory_has_every_file(tmp_path):
    """A written directory holds weights, metadata, plot and log, and no temporary is left."""
    directory = write(tmp_path, "0-100")
    assert sorted(p.name for p in directory.path.iterdir()) == sorted(td.REQUIRED)
    assert torch.load(directory.weights, weights_only=True)["w"].sum() == 3
    assert (directory.path / td.LOSS_PLOT).read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.glob(".*.tmp"))
    assert td.complete_directories(tmp_path) == [directory]


def test_crash_while_writing_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    """If writing fails half way, neither the final nor the temporary directory remains."""

    def broken_plot(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(td, "plot_loss_curve", broken_plot)
    with pytest.raises(OSError, match="disk full"):
        write(tmp_path, "0-100")
    assert not (tmp_path / "0-100").exists()
    assert not (tmp_path / ".0-100.tmp").exists()
    assert td.complete_directories(tmp_path) == []


def test_temporaries_and_incomplete_directories_are_ignored_and_cleaned(tmp_path):
    """A crashed run's .tmp directory is not listed and is removed at start-up; listing is by span end."""
    write(tmp_path, "b", end=200)
    write(tmp_path, "a", end=300)
    (tmp_path / ".c.tmp").mkdir()
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / td.METADATA).write_text(json.dumps(metadata()))
    assert [d.path.name for d in td.complete_directories(tmp_path)] == ["b", "a"]
    assert [p.name for p in td.remove_stale_temporaries(tmp_path)] == [".c.tmp"]
    assert not (tmp_path / ".c.tmp").exists()


def test_export_marker_and_unique_names(tmp_path):
    """mark_exported records the version; a taken name gets a suffix."""
    directory = write(tmp_path, td.directory_name(0, 100, tmp_path))
    assert directory.path.name == "0-100"
    assert directory.exported_version is None
    directory.mark_exported(7)
    assert directory.exported_version == 7
    assert td.directory_name(0, 100, tmp_path) == "0-100-2"
