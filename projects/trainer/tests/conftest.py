"""Shared fixtures: small synthetic frame directories and trainer settings."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from deepclean.frames import read_frame, write_frame
from deepclean.synthetic import (
    H1_WITNESSES,
    DetectorConfig,
    FrameLayout,
    SyntheticDetector,
    write_span,
)
from deepclean.testing.frame_sources import synthetic_frame_source
from deepclean_trainer.cycle import CycleSettings
from deepclean_trainer.dataset import FrameSource
from deepclean_trainer.fitting import FitSettings

START = 1_400_000_000
DURATION = 96
STRAIN = "H1:GDS-CALIB_STRAIN"
STATE = "H1:GDS-CALIB_STATE_VECTOR"
MAINS = "H1:PEM-CS_MAINSMON_EBAY_1_DQ"

QUICK_SPAN = {
    "sample_rate": 1024,
    "band": (58.0, 62.0),
    "edge_seconds": 2.0,
    "min_ready_seconds": 48,
    "min_stretch_seconds": 16,
    "validation_fraction": 0.25,
}
"""What a training run on the synthetic frames reads and how it splits it, as cycle settings and service keys."""

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def pristine_frames(tmp_path_factory) -> Path:
    """DURATION seconds of always-ready synthetic frames (written once per session)."""
    root = tmp_path_factory.mktemp("pristine")
    detector = SyntheticDetector(DetectorConfig(seed=3, not_ready_interval=None))
    write_span(detector.generate(START, DURATION), FrameLayout(root / "llhoft", root / "lldetchar"))
    return root


@pytest.fixture
def frames(pristine_frames: Path, tmp_path: Path) -> Path:
    """A private copy of the synthetic frames that a test may damage."""
    root = tmp_path / "data"
    shutil.copytree(pristine_frames, root)
    return root


def source_for(root: Path, channels: tuple[str, ...] = H1_WITNESSES) -> FrameSource:
    """The synthetic detector's frames under ``root``, read for ``channels``."""
    return FrameSource(**synthetic_frame_source(root), witness_channels=channels, strain_sample_rate=16384)


def rewrite_frame(path: Path, change: Callable[[dict[str, np.ndarray]], None]) -> None:
    """Read a frame, let ``change`` edit its channels in place, write it back."""
    frame = read_frame(path)
    data = {name: samples.copy() for name, samples in frame.data.items()}
    change(data)
    write_frame(path, data, frame.t0, frame.duration)


def strain_path(root: Path, gps: int) -> Path:
    return root / "llhoft" / f"H-H1_llhoft-{gps}-1.gwf"


def witness_path(root: Path, gps: int) -> Path:
    return root / "lldetchar" / f"H-H1_lldetchar-{gps}-1.gwf"


def quick_settings(root: Path, **overrides) -> CycleSettings:
    """Cycle settings sized for a test: short windows, few steps, two threads."""
    fit = FitSettings(
        batch_size=overrides.pop("batch_size", 8),
        max_epochs=overrides.pop("max_epochs", 2),
        steps_per_epoch=overrides.pop("steps_per_epoch", 2),
        learning_rate=overrides.pop("learning_rate", 3e-3),
        weight_decay=1e-4,
        lr_patience=2,
        lr_factor=0.3,
        early_stop_patience=4,
    )
    values = {
        "source": source_for(root),
        "training_root": root / "training",
        **QUICK_SPAN,
        "filter_band": (57.0, 63.0),
        "filter_order": 8,
        "max_saturated_fraction": 0.01,
        "window_seconds": 1.0,
        "fftlength": 0.5,
        "architecture": {
            "num_witnesses": len(H1_WITNESSES),
            "kernel_size": 7,
            "mains_index": 0,
            "linear_kernel_size": 31,
        },
        "fit": fit,
        "warm_start": True,
        "warm_start_lr_factor": 0.3,
        "seed": 0,
        "device": torch.device("cpu"),
    }
    values.update(overrides)
    return CycleSettings(**values)
