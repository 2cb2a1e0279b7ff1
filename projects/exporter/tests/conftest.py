"""Fixtures: a small training root with training directories made per docs/interfaces.md."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from deepclean.architecture import DeepClean
from deepclean_exporter.app import create_app
from deepclean_exporter.exporter import Exporter
from deepclean_exporter.settings import ExportSettings

CHANNELS = ("H1:PEM-CS_MAINSMON_EBAY_1_DQ", "H1:ASC-INP1_P_OUT_DQ", "H1:ASC-INP1_Y_OUT_DQ")
SAMPLE_RATE = 4096
TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

torch.set_num_threads(1)


def write_training_dir(
    root: Path,
    name: str,
    channels: tuple[str, ...] = CHANNELS,
    seed: int = 0,
    kernel_size: int = 3,
    mains_index: int | None = 0,
) -> Path:
    """A complete training directory with small random weights and metadata per the contract."""
    torch.manual_seed(seed)
    kwargs = {"num_witnesses": len(channels), "kernel_size": kernel_size, "mains_index": mains_index}
    network = DeepClean(**kwargs)
    directory = root / name
    directory.mkdir(parents=True)
    torch.save(network.state_dict(), directory / "weights.pt")
    metadata = {
        "ifo": "H1",
        "strain_channel": "H1:GDS-CALIB_STRAIN",
        "witness_channels": list(channels),
        "witness_sample_rates": {c: 512 for c in channels},
        "sample_rate": SAMPLE_RATE,
        "strain_sample_rate": 16384,
        "band": [58.0, 62.0],
        "filter": {"kind": "butter-sos-zero-phase", "order": 8, "band": [58.0, 62.0]},
        "scaler": {
            "witness_mean": [0.0] * len(channels),
            "witness_std": [1.0] * len(channels),
            "target_mean": 0.0,
            "target_std": 1e-21,
        },
        "architecture": {"name": "DeepClean", "kwargs": kwargs},
        "span": {"start": 1400000000, "end": 1400001024},
        "validation": {"loss": 0.05, "band_asd_ratio": 0.2},
        "library_version": "0.1.0",
        "training_seconds": 1.0,
        "created": "2026-11-29T10:00:00Z",
    }
    (directory / "metadata.json").write_text(json.dumps(metadata))
    return directory


@pytest.fixture
def training_root(tmp_path: Path) -> Path:
    """An empty training root."""
    root = tmp_path / "training"
    root.mkdir()
    return root


@pytest.fixture
def make_training_dir(training_root: Path) -> Callable[..., Path]:
    """Factory writing training directories under the training root."""
    return lambda name, **kwargs: write_training_dir(training_root, name, **kwargs)


@pytest.fixture
def settings(tmp_path: Path, training_root: Path) -> ExportSettings:
    """Exporter settings for the python platform with a short ONNX check."""
    return ExportSettings(
        model_repository=tmp_path / "model-repo",
        model_name="deepclean",
        training_root=training_root,
        witness_channels=CHANNELS,
        sample_rate=SAMPLE_RATE,
        keep_versions=3,
        keep_rollback=2,
        check_samples=1024,
        intra_op_threads=1,
    )


@pytest.fixture
def exporter(settings: ExportSettings) -> Exporter:
    """A started exporter."""
    exporter = Exporter(settings)
    exporter.start()
    return exporter


@pytest.fixture
def client(exporter: Exporter):
    """Flask test client of the API."""
    return create_app(exporter, TOKEN).test_client()
